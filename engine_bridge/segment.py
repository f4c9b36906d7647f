"""Zero-copy views (ctypes structs + NumPy arrays) over one mapped segment.

Memory ordering: CPython has no fences. The Python side relies on (1) every
seqlock/counter field being an aligned 8-byte word that CPython/ctypes
loads and stores with one instruction, and (2) the CPU not reordering stores
with stores or loads with loads (x86-64's TSO guarantees this; on weakly
ordered CPUs such as aarch64 the Python writer is best-effort, the C
implementation uses ``__atomic`` acquire/release and is correct everywhere).
Readers never trust a copy unless the slot's sequence number was even and
unchanged before and after copying the pixels, and the slot still holds the
frame index they asked for.
"""
from __future__ import annotations

import logging
import mmap
import os

import numpy as np

from conrt.errors import BridgeProtocolError

from . import protocol as P

log = logging.getLogger(__name__)


class MappedSegment:
    def __init__(self, fd: int, mm: mmap.mmap, path: str, geo: P.Geometry):
        self.fd, self.mm, self.path, self.geo = fd, mm, path, geo
        self.header = P.Header.from_buffer(mm, 0)
        self.pose = P.PoseHeader.from_buffer(mm, geo.pose_offset)
        self.joints = np.ndarray((geo.max_joints, 4, 4), "<f4", buffer=mm,
                                 offset=geo.pose_offset + P.POSE_FIXED_SIZE)
        self.slots = []
        self.pixels = []
        fmt = geo.pixel_format
        for i in range(geo.slot_count):
            base = geo.frames_offset + i * geo.slot_size
            self.slots.append(P.SlotHeader.from_buffer(mm, base))
            self.pixels.append(np.ndarray(
                geo.frame_shape(), fmt.dtype, buffer=mm, offset=base + P.SLOT_HEADER_SIZE,
                strides=(geo.stride, fmt.bytes_per_pixel, fmt.dtype.itemsize)))

    def check_size(self) -> None:
        """Raise BridgeProtocolError if the file shrank below the validated size.

        Touching a mapped page past the end of the file is SIGBUS (the process
        dies, Python cannot catch it), so every access through the mapping
        is preceded by this fstat (~3 us from Python). PROTOCOL.md "Shrinking segments".
        """
        if self.fd is None:
            raise BridgeProtocolError(f"{self.path}: the segment is closed")
        size = os.fstat(self.fd).st_size
        if size < self.geo.segment_size:
            raise BridgeProtocolError(
                f"{self.path} shrank to {size} bytes, the bridge needs {self.geo.segment_size}: "
                "another process truncated it; detach")

    def close(self) -> None:
        # Views export the mmap's buffer; drop ours before closing it.
        self.header = self.pose = self.joints = None
        self.slots, self.pixels = [], []
        if self.mm is not None:
            try:
                self.mm.close()
            except BufferError:
                log.debug("a caller still holds a view of %s; the mapping goes away with it", self.path)
            self.mm = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
