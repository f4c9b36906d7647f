"""The engine side: reads frames, sends pose requests, watches the writer."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from enum import Enum

import numpy as np

from conrt.errors import BridgeProtocolError, InputError

from . import protocol as P
from . import shm
from .segment import MappedSegment

log = logging.getLogger(__name__)


class WriterGone(BridgeProtocolError):
    """The writer process is dead (pid gone) or closed the bridge."""


class WriterState(str, Enum):
    ALIVE = "alive"  # heartbeat fresh (frames may still be slow)
    STALLED = "stalled"  # process exists (or cannot be checked) but the heartbeat is stale: hung or stopped
    DEAD = "dead"  # process gone, or the writer closed the bridge


@dataclass(frozen=True)
class FrameInfo:
    frame_index: int
    request_id: int  # the pose request this frame was shaded from
    request_time_ns: int  # the engine's timestamp of that request (echoed)
    render_start_ns: int  # writer CLOCK_MONOTONIC
    publish_ns: int  # writer CLOCK_MONOTONIC when the frame became readable
    dropped: int  # frames published since the previous read that this reader never saw
    retries: int  # torn or overwritten copies thrown away for this read


class BridgeReader:
    """Attach to a running bridge by name.

    ``read()`` copies the newest complete frame (never a torn one) and never
    blocks the writer: a copy that overlapped a write is thrown away and
    retried. ``send_pose()`` writes the next pose request.
    """

    def __init__(self, name: str, stale_after: float = 1.0):
        fd, mm, path = shm.open_segment(name)
        try:
            geo = P.parse_header(mm, len(mm), name=path)
            self._seg = MappedSegment(fd, mm, path, geo)
        except BaseException:
            mm.close()
            os.close(fd)
            raise
        self.name, self.path, self.geometry = name, path, geo
        h = self._seg.header
        # Identity of the writer, read once: a later change means a new writer.
        self.writer_pid = h.writer_pid
        self._writer_ticks, self._writer_ns = h.writer_start_ticks, h.pid_ns_inode
        self.stale_after_ns = int(stale_after * 1e9)
        self._last_index = -1
        self._next_request = 1
        self._last_check = 0
        self._state = WriterState.ALIVE

    @classmethod
    def connect(cls, name: str, timeout: float = 10.0, **kw) -> "BridgeReader":
        """Retry opening until a live writer has created and initialised the segment.

        A segment left behind by a dead writer is skipped (a restarting
        writer replaces it), so this never attaches to a stale bridge.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                reader = cls(name, **kw)
                if reader.writer_state() != WriterState.DEAD:
                    return reader
                reader.close()
                raise WriterGone(f"only a stale segment of the dead writer pid {reader.writer_pid}")
            except BridgeProtocolError as exc:
                if time.monotonic() > deadline:
                    raise type(exc)(f"bridge {name!r} not ready after {timeout:.1f} s: {exc}") from None
                time.sleep(0.02)

    # -- frames -------------------------------------------------------------

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return self.geometry.frame_shape()

    @property
    def dtype(self) -> np.dtype:
        return self.geometry.pixel_format.dtype

    @property
    def frames_published(self) -> int:
        self._checked().check_size()
        return int(self._seg.header.frames_published)

    def _checked(self):
        if self._seg is None:
            raise BridgeProtocolError(f"reader of {self.name} is closed")
        return self._seg

    def empty_frame(self) -> np.ndarray:
        return np.empty(self.frame_shape, self.dtype)

    def read(self, out: np.ndarray | None = None, max_retries: int = 1000):
        """Copy the newest frame if it is newer than the last one read.

        Returns ``(pixels, FrameInfo)`` or ``None`` when nothing new is there.
        ``out``: optional preallocated [H, W, 4] array (no allocation then).
        Raises WriterGone when nothing is new and the writer is dead.
        """
        seg = self._seg
        if seg is None:
            raise BridgeProtocolError(f"reader of {self.name} is closed")
        if out is None:
            out = self.empty_frame()
        elif out.shape != self.frame_shape or out.dtype != self.dtype:
            raise InputError(f"out has {out.shape} {out.dtype}, expected {self.frame_shape} {self.dtype}")
        seg.check_size()
        hdr, n = seg.header, self.geometry.slot_count
        for retry in range(max_retries):
            published = hdr.frames_published
            index = published - 1
            if published == 0 or index <= self._last_index:
                self._check_alive_rate_limited()
                return None
            slot = seg.slots[index % n]
            s1 = slot.seq
            if s1 & 1:
                continue  # being rewritten: frames_published will have moved on
            np.copyto(out, seg.pixels[index % n])
            info = P.SlotHeader.from_buffer_copy(slot)
            if slot.seq != s1 or info.frame_index != index:
                continue  # torn or overwritten while we copied: try the newer one
            dropped = index - self._last_index - 1 if self._last_index >= 0 else 0
            self._last_index = index
            return out, FrameInfo(index, info.request_id, info.request_time_ns, info.render_start_ns,
                                  info.publish_ns, dropped, retry)
        # Every copy torn or the slot odd throughout: a writer killed mid-frame
        # leaves its slot odd forever (with one slot, no other frame exists).
        log.debug("bridge %s: %d torn copies in a row", self.name, max_retries)
        self._last_check = 0
        self._check_alive_rate_limited()
        return None

    def wait(self, timeout: float = 5.0, out: np.ndarray | None = None, poll: float = 0.0005):
        """Block (polling) up to ``timeout`` seconds for a new frame; None on timeout.

        Raises WriterGone as soon as the writer is known to be dead.
        """
        deadline = time.monotonic() + timeout
        while True:
            got = self.read(out)
            if got is not None:
                return got
            if time.monotonic() > deadline:
                return None
            time.sleep(poll)

    # -- liveness -----------------------------------------------------------

    def heartbeat_age(self) -> float:
        """Seconds since the writer's last heartbeat (CLOCK_MONOTONIC is system-wide); one in the future counts as 0."""
        self._checked().check_size()
        return max(0, time.monotonic_ns() - int(self._seg.header.heartbeat_ns)) / 1e9

    def writer_state(self) -> WriterState:
        self._checked().check_size()
        h = self._seg.header
        if h.writer_pid == 0 or h.writer_pid != self.writer_pid:
            state = WriterState.DEAD  # closed cleanly, or a different writer now
        else:
            alive = shm.process_alive(self.writer_pid, self._writer_ticks, self._writer_ns)
            if alive is False:
                state = WriterState.DEAD
            elif time.monotonic_ns() - int(h.heartbeat_ns) > self.stale_after_ns:
                state = WriterState.STALLED
            else:
                state = WriterState.ALIVE
        if state != self._state:
            log.info("bridge %s: writer pid %d is %s", self.name, self.writer_pid, state.value)
            self._state = state
        return state

    def _check_alive_rate_limited(self) -> None:
        now = time.monotonic_ns()
        if now - self._last_check < 20_000_000:  # /proc reads at most every 20 ms
            return
        self._last_check = now
        if self.writer_state() == WriterState.DEAD:
            raise WriterGone(f"bridge {self.name}: writer pid {self.writer_pid} is gone "
                             f"(last heartbeat {self.heartbeat_age():.2f} s ago)")

    # -- poses --------------------------------------------------------------

    def send_pose(self, joints: np.ndarray | None = None, *, clip: str | None = None, clip_time: float = 0.0,
                  camera_view: np.ndarray | None = None, camera_proj: np.ndarray | None = None,
                  request_id: int | None = None, time_ns: int | None = None) -> int:
        """Write the next pose request; returns its id (frames shaded from it carry it).

        ``joints``: [J, 4, 4] f32 world matrices (row-major, column vectors), or
        ``clip`` + ``clip_time``. One engine writes poses per bridge.
        """
        seg = self._checked()
        seg.check_size()
        geo = self.geometry
        if joints is not None and clip is not None:
            raise InputError("send either joints or a clip, not both")
        if joints is not None:
            joints = np.asarray(joints, np.float32)
            if joints.ndim != 3 or joints.shape[1:] != (4, 4) or joints.shape[0] > geo.max_joints:
                raise InputError(
                    f"joints have shape {joints.shape}, expected (J, 4, 4) with J at most {geo.max_joints}")
        name = b""
        if clip is not None:
            name = clip.encode("utf-8")
            if len(name) >= P.CLIP_NAME_BYTES:
                raise InputError(f"clip name is {len(name)} bytes, at most {P.CLIP_NAME_BYTES - 1} fit")
        mats = []
        for label, m in (("camera_view", camera_view), ("camera_proj", camera_proj)):
            m = np.eye(4, dtype=np.float32) if m is None else np.asarray(m, np.float32)
            if m.shape != (4, 4) or not np.isfinite(m).all():
                raise InputError(f"{label} must be a finite 4x4 matrix, got shape {m.shape}")
            mats.append(m)
        kind = P.PoseKind.JOINTS if joints is not None else P.PoseKind.CLIP if clip is not None else P.PoseKind.NONE
        problem = P.pose_problem(kind, 0 if joints is None else len(joints), geo, joints, float(clip_time), *mats)
        if problem:
            raise InputError(f"pose request not sent: {problem}")
        rid = self._next_request if request_id is None else int(request_id)
        self._next_request = rid + 1
        pose = seg.pose
        seq = int(pose.seq)
        seq += seq & 1  # an engine that died mid-write left it odd
        pose.seq = seq + 1  # odd: the runtime ignores the region until we are done
        pose.request_id = rid
        pose.request_time_ns = time.monotonic_ns() if time_ns is None else int(time_ns)
        pose.engine_pid = os.getpid()
        pose.camera_view[:] = mats[0].ravel().tolist()
        pose.camera_proj[:] = mats[1].ravel().tolist()
        if joints is not None:
            pose.kind, pose.joint_count = P.PoseKind.JOINTS, len(joints)
            seg.joints[:len(joints)] = joints
        elif clip is not None:
            pose.kind, pose.joint_count = P.PoseKind.CLIP, 0
            pose.clip_name, pose.clip_time = name, float(clip_time)
        else:
            pose.kind, pose.joint_count = P.PoseKind.NONE, 0
        pose.seq = seq + 2
        return rid

    def close(self) -> None:
        if self._seg is not None:
            self._seg.close()
            self._seg = None

    def __enter__(self) -> "BridgeReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
