"""The shared-memory layout (version 2), mirrored by ``include/conrt_bridge.h``.

Everything is little-endian and naturally aligned (no padding). One segment
holds three regions::

    [0, 128)                       Header
    [pose_offset, +pose_size)      PoseRegion: the engine's latest pose request
    [frames_offset, +slots*size)   ring of frame slots: SlotHeader + pixels

See ``PROTOCOL.md`` for the rules (seqlocks, liveness, validation). The ctypes
structures here are the Python mirror of the C structs; a test compiles a C
program printing ``offsetof`` values and compares them with these.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from enum import IntEnum, IntFlag

import numpy as np

from conrt.errors import BridgeProtocolError
# Pose requests are the runtime's type (any transport carries them); the bounds of
# PROTOCOL.md "Pose region" are defined with them.
from conrt.types import MAX_ABS_CLIP_TIME, MAX_ABS_JOINT_VALUE, PoseKind, PoseRequest  # noqa: F401 (re-exported)

VERSION = 2  # 2: header field skeleton_joints (the joint count a JOINTS request must send)
MAGIC = int.from_bytes(b"CONRTBRG", "little")

HEADER_SIZE = 128
SLOT_HEADER_SIZE = 64
POSE_FIXED_SIZE = 256  # pose region bytes before the joint matrices
JOINT_SIZE = 64  # one 4x4 f32 matrix
CLIP_NAME_BYTES = 64

# Limits a reader enforces on a header it did not write (hostile or corrupt).
MAX_DIM = 16384
MAX_SLOTS = 64
MAX_JOINTS = 1024
MAX_SEGMENT = 1 << 34  # 16 GiB
PAGE = 4096
OWNER_ONLY_MODE = 0o600  # the exact permission bits (no setuid/setgid/sticky, no group/other)


class PixelFormat(IntEnum):
    RGBA8 = 1  # 4 x uint8
    RGBA16F = 2  # 4 x IEEE half

    @property
    def bytes_per_pixel(self) -> int:
        return 4 if self is PixelFormat.RGBA8 else 8

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if self is PixelFormat.RGBA8 else np.dtype("<f2")


class Flags(IntFlag):
    PREMULTIPLIED = 1  # rgb already multiplied by alpha (always set by conrt)
    ROW0_TOP = 2  # row 0 is the top of the image (GL engines flip on upload)


class Header(ctypes.LittleEndianStructure):
    _fields_ = [
        ("magic", ctypes.c_uint64),
        ("version", ctypes.c_uint32),
        ("header_size", ctypes.c_uint32),
        ("segment_size", ctypes.c_uint64),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("stride", ctypes.c_uint32),
        ("pixel_format", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("slot_count", ctypes.c_uint32),
        ("slot_size", ctypes.c_uint64),
        ("frames_offset", ctypes.c_uint64),
        ("pose_offset", ctypes.c_uint64),
        ("pose_size", ctypes.c_uint32),
        ("max_joints", ctypes.c_uint32),
        ("writer_pid", ctypes.c_uint32),
        ("heartbeat_period_ms", ctypes.c_uint32),
        ("heartbeat_ns", ctypes.c_uint64),  # CLOCK_MONOTONIC of the writer's last sign of life
        ("frames_published", ctypes.c_uint64),  # latest complete frame index + 1; 0 = none yet
        ("writer_start_ticks", ctypes.c_uint64),  # /proc/<pid>/stat starttime, guards pid reuse; 0 = unknown
        ("pid_ns_inode", ctypes.c_uint64),  # writer's pid namespace; pid checks only within it; 0 = unknown
        ("skeleton_joints", ctypes.c_uint32),  # joints a JOINTS request must send; 0 = any count up to max_joints
        ("reserved", ctypes.c_uint32),
    ]


class SlotHeader(ctypes.LittleEndianStructure):
    _fields_ = [
        ("seq", ctypes.c_uint64),  # seqlock: odd while the writer fills this slot
        ("frame_index", ctypes.c_uint64),
        ("request_id", ctypes.c_uint64),  # the pose request this frame shades
        ("request_time_ns", ctypes.c_uint64),  # echoed from the request (engine clock)
        ("render_start_ns", ctypes.c_uint64),  # writer clock when it took the request
        ("publish_ns", ctypes.c_uint64),  # writer clock when the frame became readable
        ("reserved0", ctypes.c_uint64),
        ("reserved1", ctypes.c_uint64),
    ]


class PoseHeader(ctypes.LittleEndianStructure):
    _fields_ = [
        ("seq", ctypes.c_uint64),  # seqlock owned by the engine
        ("request_id", ctypes.c_uint64),  # 0 = no request yet
        ("request_time_ns", ctypes.c_uint64),
        ("kind", ctypes.c_uint32),
        ("joint_count", ctypes.c_uint32),
        ("engine_pid", ctypes.c_uint32),
        ("reserved0", ctypes.c_uint32),
        ("clip_time", ctypes.c_double),
        ("clip_name", ctypes.c_char * CLIP_NAME_BYTES),
        ("reserved1", ctypes.c_uint64 * 2),
        ("camera_view", ctypes.c_float * 16),  # row-major, world -> eye
        ("camera_proj", ctypes.c_float * 16),  # row-major, eye -> clip (OpenGL)
    ]


assert ctypes.sizeof(Header) == HEADER_SIZE
assert ctypes.sizeof(SlotHeader) == SLOT_HEADER_SIZE
assert ctypes.sizeof(PoseHeader) == POSE_FIXED_SIZE


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class Geometry:
    """The validated, immutable part of a header: where everything is."""

    width: int
    height: int
    stride: int
    pixel_format: PixelFormat
    flags: int
    slot_count: int
    slot_size: int
    frames_offset: int
    pose_offset: int
    pose_size: int
    max_joints: int
    segment_size: int
    skeleton_joints: int = 0

    @classmethod
    def build(cls, width: int, height: int, pixel_format: PixelFormat = PixelFormat.RGBA8,
              slot_count: int = 3, max_joints: int = 256, skeleton_joints: int = 0) -> "Geometry":
        """The layout a writer creates: pose region after the header, page-aligned slots."""
        fmt = PixelFormat(pixel_format)
        stride = _align(width * fmt.bytes_per_pixel, 64)
        pose_size = POSE_FIXED_SIZE + JOINT_SIZE * max_joints
        frames_offset = _align(HEADER_SIZE + pose_size, PAGE)
        slot_size = _align(SLOT_HEADER_SIZE + stride * height, 64)
        geo = cls(width, height, stride, fmt, int(Flags.PREMULTIPLIED | Flags.ROW0_TOP), slot_count,
                  slot_size, frames_offset, HEADER_SIZE, pose_size, max_joints,
                  frames_offset + slot_count * slot_size, skeleton_joints)
        geo.check()
        return geo

    def check(self) -> None:
        """Reject values a well-behaved writer never produces (every message names the value)."""
        if not (1 <= self.width <= MAX_DIM and 1 <= self.height <= MAX_DIM):
            raise BridgeProtocolError(f"frame size {self.width}x{self.height} outside 1..{MAX_DIM}")
        if not (1 <= self.slot_count <= MAX_SLOTS):
            raise BridgeProtocolError(f"slot count {self.slot_count} outside 1..{MAX_SLOTS}")
        if self.max_joints > MAX_JOINTS:
            raise BridgeProtocolError(f"max joints {self.max_joints} above {MAX_JOINTS}")
        if self.skeleton_joints > self.max_joints:
            raise BridgeProtocolError(
                f"skeleton joints {self.skeleton_joints} above the pose region's max joints {self.max_joints}")
        row = self.width * self.pixel_format.bytes_per_pixel
        if not (row <= self.stride <= row + 4096) or self.stride % 4:
            raise BridgeProtocolError(f"stride {self.stride} does not fit rows of {row} bytes")
        if max(self.slot_size, self.frames_offset, self.pose_offset, self.segment_size) > MAX_SEGMENT:
            raise BridgeProtocolError(f"offsets/sizes beyond {MAX_SEGMENT} bytes (slot size {self.slot_size}, "
                                      f"frames offset {self.frames_offset}, pose offset {self.pose_offset})")
        if self.slot_size < SLOT_HEADER_SIZE + self.stride * self.height or self.slot_size % 64:
            raise BridgeProtocolError(
                f"slot size {self.slot_size} too small for {self.height} rows of {self.stride} bytes"
                " (or not a multiple of 64)")
        if self.pose_size != POSE_FIXED_SIZE + JOINT_SIZE * self.max_joints:
            raise BridgeProtocolError(f"pose region size {self.pose_size} does not match {self.max_joints} joints")
        if self.pose_offset < HEADER_SIZE or self.pose_offset % 64:
            raise BridgeProtocolError(f"pose region offset {self.pose_offset} overlaps the header or is unaligned")
        if self.frames_offset % 64 or self.frames_offset < self.pose_offset + self.pose_size:
            raise BridgeProtocolError(
                f"frames offset {self.frames_offset} overlaps the pose region or is unaligned")
        end = self.frames_offset + self.slot_count * self.slot_size  # Python ints: no overflow
        if end > self.segment_size:
            raise BridgeProtocolError(
                f"frame slots end at byte {end}, past the segment size {self.segment_size}")

    def frame_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, 4)


def parse_header(buf, actual_size: int, *, name: str = "segment") -> Geometry:
    """Validate a header read from shared memory against the segment's real size.

    ``buf``: at least ``HEADER_SIZE`` bytes (anything supporting the buffer
    protocol). Raises BridgeProtocolError naming the bad value; never anything else.
    """
    if actual_size < HEADER_SIZE or len(memoryview(buf).cast("B")) < HEADER_SIZE:
        raise BridgeProtocolError(f"{name}: {actual_size} bytes is smaller than the {HEADER_SIZE}-byte header")
    h = Header.from_buffer_copy(bytes(memoryview(buf).cast("B")[:HEADER_SIZE]))
    if h.magic != MAGIC:
        raise BridgeProtocolError(
            f"{name}: bad magic {h.magic:#018x}, expected {MAGIC:#018x} (not a conrt bridge, or not initialised yet)")
    if h.version != VERSION:
        raise BridgeProtocolError(f"{name}: protocol version {h.version} in the segment, this reader speaks {VERSION}")
    if h.header_size != HEADER_SIZE:
        raise BridgeProtocolError(f"{name}: header size {h.header_size} in the segment, expected {HEADER_SIZE}")
    if h.segment_size != actual_size:
        raise BridgeProtocolError(f"{name}: header says {h.segment_size} bytes, the segment has {actual_size}")
    try:
        fmt = PixelFormat(h.pixel_format)
    except ValueError:
        raise BridgeProtocolError(
            f"{name}: unknown pixel format {h.pixel_format}; known: "
            + ", ".join(f"{f.value} ({f.name})" for f in PixelFormat)) from None
    geo = Geometry(h.width, h.height, h.stride, fmt, h.flags, h.slot_count, h.slot_size, h.frames_offset,
                   h.pose_offset, h.pose_size, h.max_joints, h.segment_size, h.skeleton_joints)
    geo.check()
    return geo


# ---------------------------------------------------------------------------
# Pose requests (engine -> runtime)


def pose_problem(kind: int, joint_count: int, geo: Geometry, joints: np.ndarray | None, clip_time: float,
                 camera_view: np.ndarray, camera_proj: np.ndarray) -> str | None:
    """What is wrong with a pose request (None if nothing): the one rule the
    runtime applies to requests and the Python engine side applies before sending."""
    try:
        kind = PoseKind(kind)
    except ValueError:
        return f"unknown kind {kind}; known: " + ", ".join(f"{k.value} ({k.name})" for k in PoseKind)
    if joint_count > geo.max_joints:
        return f"{joint_count} joints, the segment holds at most {geo.max_joints}"
    if kind == PoseKind.JOINTS and geo.skeleton_joints and joint_count != geo.skeleton_joints:
        return (f"{joint_count} joints, the character has {geo.skeleton_joints} "
                "(header skeleton_joints; send all of them, in skeleton order)")
    if not (np.isfinite(camera_view).all() and np.isfinite(camera_proj).all()):
        return "NaN/inf camera matrices"
    if kind == PoseKind.JOINTS and joints is not None:
        if not np.isfinite(joints).all():
            return "NaN/inf joint matrices"
        biggest = float(np.abs(joints).max()) if joints.size else 0.0
        if biggest > MAX_ABS_JOINT_VALUE:
            return f"joint matrix entry {biggest:.3g} beyond +-{MAX_ABS_JOINT_VALUE:g}"
    if kind == PoseKind.CLIP and not (np.isfinite(clip_time) and abs(clip_time) <= MAX_ABS_CLIP_TIME):
        return f"clip time {clip_time} outside +-{MAX_ABS_CLIP_TIME:g} s"
    return None
