"""The runtime side: creates the segment, publishes frames, reads pose requests."""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time

import numpy as np

from conrt.errors import BridgeProtocolError, InputError

from . import protocol as P
from . import shm
from .segment import MappedSegment

log = logging.getLogger(__name__)


class BridgeWriter:
    """Owns one bridge segment: frames out, pose requests in.

    The segment is created owner-only (0600) and exclusively; a segment left
    by a crashed writer (dead pid) is removed first. It is unlinked by
    ``close()``, on interpreter exit (atexit) and, in ``conrt bridge``, on
    SIGTERM/SIGINT/SIGHUP. A daemon thread beats the heartbeat every
    ``heartbeat_period`` seconds so a slow frame source is not mistaken for a
    dead writer.
    """

    def __init__(self, name: str | None = None, width: int = 256, height: int = 256,
                 pixel_format: P.PixelFormat | str = P.PixelFormat.RGBA8, slot_count: int = 3,
                 max_joints: int = 256, heartbeat_period: float = 0.1, skeleton_joints: int = 0):
        if isinstance(pixel_format, str):
            try:
                pixel_format = P.PixelFormat[pixel_format.upper()]
            except KeyError:
                raise BridgeProtocolError(
                    f"unknown pixel format {pixel_format!r}; choose from "
                    + ", ".join(f.name.lower() for f in P.PixelFormat)) from None
        self.name = shm.check_name(name) if name is not None else shm.unique_name()
        self.geometry = geo = P.Geometry.build(width, height, pixel_format, slot_count, max_joints, skeleton_joints)
        if slot_count == 1:
            log.warning("bridge with 1 slot: while a frame is being written no reader can copy one, so a writer "
                        "at full speed starves readers; use 2 or more slots")
        fd, mm, path = shm.create_segment(self.name, geo.segment_size)
        self.path = path
        self.frame_index = 0
        self._pose_seq = 0
        self._request = P.PoseRequest()
        self._bad_pose_seq = None
        self._closed = False
        self._stop = threading.Event()
        self._beat = None
        self._seg = None
        # From here on a signal (SystemExit/KeyboardInterrupt from a handler)
        # may interrupt us: the segment must be unlinked whatever happens.
        atexit.register(self.close)
        try:
            self._seg = seg = MappedSegment(fd, mm, path, geo)
        except BaseException:
            mm.close()
            os.close(fd)
            self.close()
            raise
        try:
            self._init_header(seg.header, geo, heartbeat_period)
            self._beat = threading.Thread(target=self._beat_loop, args=(heartbeat_period,),
                                          name=f"bridge-heartbeat-{self.name}", daemon=True)
            self._beat.start()
        except BaseException:
            self.close()
            raise
        log.info("bridge %s: %dx%d %s, %d slots, segment %s (%d bytes)", self.name, geo.width, geo.height,
                 geo.pixel_format.name, geo.slot_count, path, geo.segment_size)

    @staticmethod
    def _init_header(h: P.Header, geo: P.Geometry, heartbeat_period: float) -> None:
        # pid first (so a crash mid-init leaves a segment we can recognise as
        # stale), magic last (readers treat a missing magic as "not ready").
        h.writer_pid = os.getpid()
        h.writer_start_ticks = shm.proc_start_ticks(os.getpid())
        h.pid_ns_inode = shm.pid_ns_inode()
        h.version, h.header_size, h.segment_size = P.VERSION, P.HEADER_SIZE, geo.segment_size
        h.width, h.height, h.stride = geo.width, geo.height, geo.stride
        h.pixel_format, h.flags = int(geo.pixel_format), geo.flags
        h.slot_count, h.slot_size, h.frames_offset = geo.slot_count, geo.slot_size, geo.frames_offset
        h.pose_offset, h.pose_size, h.max_joints = geo.pose_offset, geo.pose_size, geo.max_joints
        h.skeleton_joints = geo.skeleton_joints
        h.heartbeat_period_ms = max(1, int(round(heartbeat_period * 1000)))
        h.heartbeat_ns = time.monotonic_ns()
        h.frames_published = 0
        h.magic = P.MAGIC

    # -- liveness -----------------------------------------------------------

    def _beat_loop(self, period: float) -> None:
        while not self._stop.wait(period):
            seg = self._seg
            if seg is None or seg.header is None:
                return
            try:
                seg.check_size()
            except (BridgeProtocolError, OSError) as exc:  # truncated by someone: beating would be SIGBUS
                if not self._stop.is_set():  # (not just closed under us)
                    log.error("bridge %s: %s; heartbeat stopped", self.name, exc)
                return
            seg.header.heartbeat_ns = time.monotonic_ns()

    # -- frames out ---------------------------------------------------------

    @contextlib.contextmanager
    def frame(self, request: P.PoseRequest | None = None, render_start_ns: int | None = None):
        """Zero-copy publishing: yields the next slot's pixel array ([H, W, 4]
        of the segment's dtype) to fill in place; publishes on exit."""
        self._check_open()
        seg, n = self._seg, self.frame_index
        seg.check_size()
        slot = seg.slots[n % self.geometry.slot_count]
        req = request or self._request
        start = time.monotonic_ns() if render_start_ns is None else render_start_ns
        seq = slot.seq
        slot.seq = seq + 1  # odd: readers back off or retry
        try:
            yield seg.pixels[n % self.geometry.slot_count]
        except BaseException:
            # A failed render left half a frame: make the slot unreadable
            # (no reader asks for this index) and consistent again, publish nothing.
            slot.frame_index = 2**64 - 1
            slot.seq = seq + 2
            raise
        else:
            slot.frame_index = n
            slot.request_id = req.request_id
            slot.request_time_ns = req.time_ns
            slot.render_start_ns = start
            now = time.monotonic_ns()
            slot.publish_ns = now
            slot.seq = seq + 2  # even again: the slot is consistent
            seg.header.frames_published = n + 1
            seg.header.heartbeat_ns = now
            self.frame_index = n + 1

    def publish(self, pixels: np.ndarray, request: P.PoseRequest | None = None,
                render_start_ns: int | None = None) -> int:
        """Copy one [H, W, 4] premultiplied frame into the ring; returns its frame index.

        uint8 or float (0..1) input; converted to the segment's format if needed.
        """
        geo = self.geometry
        if not isinstance(pixels, np.ndarray) or pixels.shape != geo.frame_shape():
            shape = getattr(pixels, "shape", type(pixels).__name__)
            raise InputError(f"frame has shape {shape}, the bridge expects {geo.frame_shape()} (H, W, RGBA)")
        if pixels.dtype != np.uint8 and pixels.dtype.kind != "f":
            raise InputError(f"frame dtype {pixels.dtype}; expected uint8 or float16/float32 premultiplied RGBA")
        index = self.frame_index
        with self.frame(request, render_start_ns) as dst:
            if pixels.dtype == dst.dtype:
                np.copyto(dst, pixels)
            elif dst.dtype == np.uint8:  # float 0..1 -> 8 bit
                np.copyto(dst, np.clip(pixels * 255.0 + 0.5, 0, 255), casting="unsafe")
            elif pixels.dtype == np.uint8:
                np.multiply(pixels, np.float32(1 / 255), out=dst, casting="unsafe")
            else:
                np.copyto(dst, pixels, casting="unsafe")
        return index

    # -- poses in -----------------------------------------------------------

    def poll_request(self) -> P.PoseRequest:
        """The engine's latest pose request (the last good one if none is new).

        Raises BridgeProtocolError once per bad request (unknown kind, wrong
        joint count, NaN or huge values: ``protocol.pose_problem``); later
        calls return the last good one.
        """
        self._check_open()
        seg = self._seg
        seg.check_size()
        pose, geo = seg.pose, self.geometry
        for attempt in range(200):
            s1 = pose.seq
            if s1 == self._pose_seq or s1 == self._bad_pose_seq:
                return self._request
            if s1 & 1:  # the engine is writing it right now
                time.sleep(0) if attempt < 100 else time.sleep(0.0001)
                continue
            head = P.PoseHeader.from_buffer_copy(pose)
            count = min(head.joint_count, geo.max_joints)
            joints = np.array(seg.joints[:count]) if head.kind == P.PoseKind.JOINTS else None
            if pose.seq != s1:
                continue  # torn: the engine wrote while we copied
            try:
                req = self._decode(head, joints)
            except BridgeProtocolError:
                self._bad_pose_seq = s1
                raise
            self._pose_seq, self._request = s1, req
            return req
        log.debug("pose region busy for 200 attempts; keeping request %d", self._request.request_id)
        return self._request

    def _decode(self, head: P.PoseHeader, joints: np.ndarray | None) -> P.PoseRequest:
        rid = head.request_id
        view = np.array(head.camera_view, np.float32).reshape(4, 4)
        proj = np.array(head.camera_proj, np.float32).reshape(4, 4)
        problem = P.pose_problem(head.kind, head.joint_count, self.geometry, joints, head.clip_time, view, proj)
        if problem:
            raise BridgeProtocolError(f"pose request {rid}: {problem}")
        kind = P.PoseKind(head.kind)
        try:
            clip = bytes(head.clip_name).split(b"\0", 1)[0].decode("utf-8")
        except UnicodeDecodeError:
            raise BridgeProtocolError(f"pose request {rid}: clip name is not UTF-8") from None
        return P.PoseRequest(request_id=rid, time_ns=head.request_time_ns, kind=kind, joints=joints,
                             clip_name=clip if kind == P.PoseKind.CLIP else "",
                             clip_time=float(head.clip_time) if kind == P.PoseKind.CLIP else 0.0,
                             camera_view=view, camera_proj=proj)

    # -- lifetime -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BridgeProtocolError(f"bridge {self.name} is closed")

    def close(self) -> None:
        """Stop the heartbeat, mark the writer gone (pid 0) and unlink the segment."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._stop.set()
        if self._beat is not None and self._beat.is_alive() and self._beat is not threading.current_thread():
            self._beat.join(timeout=2.0)
        seg, self._seg = self._seg, None
        if seg is not None and seg.header is not None and os.fstat(seg.fd).st_size >= P.HEADER_SIZE:
            seg.header.writer_pid = 0  # readers see "writer closed" at once (unless someone truncated the file)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if seg is not None:
            seg.close()
        log.info("bridge %s closed after %d frames", self.name, self.frame_index)

    def __enter__(self) -> "BridgeWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
