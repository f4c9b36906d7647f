"""Python writer and reader on real shared memory (same process; the
cross-process behaviour is in test_processes.py)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from conrt.engine_bridge import (BridgeReader, BridgeWriter, PixelFormat, PoseKind, PoseRequest, TestPattern,
                                 WriterGone, WriterState, check_stamp, shm)
from conrt.engine_bridge import protocol as P
from conrt.errors import BridgeProtocolError, InputError


def test_segment_is_owner_only_even_with_a_permissive_umask(name):
    old = os.umask(0)
    try:
        with BridgeWriter(name, 32, 32) as w:
            st = os.stat(w.path)
            assert stat.S_IMODE(st.st_mode) == 0o600
            assert st.st_uid == os.getuid()
            assert w.path == f"/dev/shm/conrt-bridge.{name}"
    finally:
        os.umask(old)
    assert not os.path.exists(shm.segment_path(name)), "close() must unlink"


def test_unique_default_names_and_name_validation():
    with BridgeWriter(None, 8, 8) as a, BridgeWriter(None, 8, 8) as b:
        assert a.name != b.name
    for bad in ("", "../etc", "a/b", ".hidden", "x" * 201, "sp ace"):
        with pytest.raises(BridgeProtocolError, match="bad bridge name"):
            BridgeWriter(bad, 8, 8)


def test_second_writer_with_the_same_name_is_refused(name):
    with BridgeWriter(name, 8, 8):
        with pytest.raises(BridgeProtocolError, match=f"live writer pid {os.getpid()}"):
            BridgeWriter(name, 8, 8)


@pytest.mark.parametrize("fmt", [PixelFormat.RGBA8, PixelFormat.RGBA16F])
def test_frames_round_trip_with_metadata(name, fmt):
    with BridgeWriter(name, 48, 40, fmt) as w, BridgeReader(name) as r:
        assert r.read() is None  # nothing published yet
        rng = np.random.default_rng(1)
        frames = [rng.integers(0, 256, (40, 48, 4), dtype=np.uint8) for _ in range(5)]
        for i, f in enumerate(frames):
            src = f if fmt == PixelFormat.RGBA8 else (f / 255).astype(np.float16)
            w.publish(src, PoseRequest(request_id=100 + i, time_ns=7 + i))
        pixels, info = r.read()
        expect = frames[-1] if fmt == PixelFormat.RGBA8 else (frames[-1] / 255).astype(np.float16)
        np.testing.assert_array_equal(pixels, expect)
        assert (info.frame_index, info.request_id, info.request_time_ns) == (4, 104, 11)
        assert info.dropped == 0 and info.publish_ns >= info.render_start_ns
        assert r.read() is None  # already seen
        w.publish(frames[0])
        _, info = r.read()
        assert info.frame_index == 5


def test_float_frames_are_converted_and_bad_frames_rejected(name):
    with BridgeWriter(name, 4, 4) as w, BridgeReader(name) as r:
        w.publish(np.full((4, 4, 4), 0.5, np.float32))
        assert (r.read()[0] == 128).all()
        with pytest.raises(InputError, match=r"shape \(4, 5, 4\).*\(4, 4, 4\)"):
            w.publish(np.zeros((4, 5, 4), np.uint8))
        with pytest.raises(InputError, match="dtype"):
            w.publish(np.zeros((4, 4, 4), np.int64))
        with pytest.raises(InputError, match="out has"):
            r.read(out=np.zeros((4, 4, 3), np.uint8))


def test_reader_never_returns_a_frame_being_written(name):
    with BridgeWriter(name, 16, 16, slot_count=1) as w, BridgeReader(name) as r:
        w.publish(np.full((16, 16, 4), 1, np.uint8))
        with w.frame() as px:  # seq is odd while we are in here
            px[:8] = 2  # half written
            assert r.read(max_retries=50) is None
        pixels, info = r.read()
        assert info.frame_index == 1 and (pixels[:8] == 2).all()


def test_a_failed_render_publishes_nothing(name):
    with BridgeWriter(name, 8, 8, slot_count=1) as w, BridgeReader(name) as r:
        w.publish(np.full((8, 8, 4), 1, np.uint8))
        with pytest.raises(RuntimeError):
            with w.frame() as px:
                px[:4] = 9
                raise RuntimeError("the frame source failed")
        assert r.read(max_retries=20) is None  # the half-drawn slot is never handed out
        assert w._seg.slots[0].seq % 2 == 0 and w.frame_index == 1
        w.publish(np.full((8, 8, 4), 3, np.uint8))
        pixels, info = r.read()
        assert info.frame_index == 1 and (pixels == 3).all()


def test_zero_copy_frame_writes_into_the_slot(name):
    with BridgeWriter(name, 8, 8) as w, BridgeReader(name) as r:
        with w.frame(PoseRequest(request_id=9)) as px:
            assert px.base is not None and not px.flags.owndata  # a view into the segment
            px[...] = 77
        out = r.empty_frame()
        pixels, info = r.read(out=out)
        assert pixels is out and (out == 77).all() and info.request_id == 9


def test_pose_requests_round_trip(name):
    with BridgeWriter(name, 8, 8, max_joints=4) as w, BridgeReader(name) as r:
        assert w.poll_request().kind == PoseKind.NONE
        joints = np.tile(np.eye(4, dtype=np.float32), (3, 1, 1))
        joints[:, 0, 3] = [1, 2, 3]
        view = np.diag([1, 2, 3, 1]).astype(np.float32)
        rid = r.send_pose(joints, camera_view=view, time_ns=55)
        req = w.poll_request()
        assert req.request_id == rid and req.time_ns == 55 and req.kind == PoseKind.JOINTS
        np.testing.assert_array_equal(req.joints, joints)
        np.testing.assert_array_equal(req.camera_view, view)
        assert w.poll_request() is req  # unchanged: cached
        rid2 = r.send_pose(clip="walk", clip_time=1.25)
        req = w.poll_request()
        assert (req.request_id, req.kind, req.clip_name, req.clip_time) == (rid2, PoseKind.CLIP, "walk", 1.25)
        with pytest.raises(InputError, match="at most 4"):
            r.send_pose(np.zeros((5, 4, 4), np.float32))
        with pytest.raises(InputError, match="NaN"):
            r.send_pose(np.full((1, 4, 4), np.nan, np.float32))


def _poke_pose(w: BridgeWriter, **fields):
    pose = w._seg.pose  # what a hostile engine could write
    pose.seq += 1
    for k, v in fields.items():
        setattr(pose, k, v)
    pose.seq += 1


@pytest.mark.parametrize("fields, words", [
    ({"kind": 9}, "unknown kind 9"),
    ({"kind": 1, "joint_count": 5000}, "5000 joints"),
    ({"kind": 2, "clip_time": float("nan")}, "clip time nan"),
])
def test_hostile_pose_requests_are_rejected_once(name, fields, words):
    with BridgeWriter(name, 8, 8, max_joints=4) as w:
        good = w.poll_request()
        _poke_pose(w, request_id=3, **fields)
        with pytest.raises(BridgeProtocolError, match=words):
            w.poll_request()
        assert w.poll_request() is good  # keeps shading the last good request


def test_reader_validates_mode_and_owner(name):
    path = shm.segment_path(name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.fchmod(fd, 0o644)
        os.ftruncate(fd, 4096)
        with pytest.raises(BridgeProtocolError, match="mode 0644, expected owner-only 0600"):
            BridgeReader(name)
    finally:
        os.close(fd)
        os.unlink(path)
    with pytest.raises(BridgeProtocolError, match="does not exist"):
        BridgeReader(name)


def test_fuzzed_segments_through_the_real_open_path(name):
    """Hostile bytes in a real /dev/shm segment: BridgeReader raises BridgeProtocolError, nothing else."""
    rng = np.random.default_rng(3)
    geo = P.Geometry.build(16, 16, slot_count=2, max_joints=2)
    path = shm.segment_path(name)
    with BridgeWriter(name, 16, 16, slot_count=2, max_joints=2) as w:
        good = bytes(w._seg.mm[:P.HEADER_SIZE])
    opened = 0
    for i in range(300):
        buf = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, P.HEADER_SIZE))
            buf[pos] = int(rng.integers(0, 256))
        size = geo.segment_size if i % 3 else int(rng.integers(0, 2 * geo.segment_size))
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size)
            os.pwrite(fd, bytes(buf[:size]), 0)
        finally:
            os.close(fd)
        try:
            with BridgeReader(name) as r:
                r.read()  # a header that passed must be safe to read through
                opened += 1
        except BridgeProtocolError:
            pass
        finally:
            os.unlink(path)
    assert opened > 0  # mutations in unused bytes (pid, reserved, heartbeat) still open


def test_stale_segment_of_a_dead_writer_is_replaced(name):
    # A writer in a child process that dies without cleaning up (os._exit skips atexit).
    code = ("import os; from conrt.engine_bridge import BridgeWriter; "
            f"w = BridgeWriter({name!r}, 8, 8); print(os.getpid(), flush=True); os._exit(0)")
    dead_pid = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert os.path.exists(shm.segment_path(name))  # left behind
    with BridgeWriter(name, 8, 8) as w, BridgeReader(name) as r:
        assert r.writer_pid == os.getpid() != dead_pid


def test_atexit_removes_the_segment(name):
    code = f"from conrt.engine_bridge import BridgeWriter; w = BridgeWriter({name!r}, 8, 8)"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not os.path.exists(shm.segment_path(name))


def test_closed_writer_is_reported_dead(name):
    w = BridgeWriter(name, 8, 8)
    r = BridgeReader(name)
    try:
        w.publish(np.zeros((8, 8, 4), np.uint8))
        assert r.writer_state() == WriterState.ALIVE
        w.close()
        assert r.read() is not None  # the last frame is still readable
        assert r.writer_state() == WriterState.DEAD
        with pytest.raises(WriterGone):
            r.wait(timeout=1.0)
    finally:
        r.close()
        w.close()


def test_test_pattern_reacts_to_requests_and_stamps():
    tp = TestPattern(64, 64, checksum=True)
    base = tp(PoseRequest())
    assert check_stamp(base) == 0
    joints = np.tile(np.eye(4, dtype=np.float32), (2, 1, 1))
    joints[:, 0, 3] = [-0.5, 0.5]
    tp.count = 0
    posed = tp(PoseRequest(request_id=1, kind=PoseKind.JOINTS, joints=joints))
    red = (posed[..., 0] == 255) & (posed[..., 1] == 0) & (posed[..., 3] == 255)
    ys, xs = np.nonzero(red)
    assert len(xs) and xs.min() < 20 and xs.max() > 44  # dots at x = 16 and 48
    tp.count = 0
    c, s = np.cos(np.pi / 2), np.sin(np.pi / 2)
    turned = tp(PoseRequest(camera_view=np.array([[c, 0, -s, 0], [0, 1, 0, 0], [s, 0, c, 0], [0, 0, 0, 1]],
                                                 np.float32)))
    assert not np.array_equal(turned, base)  # the yaw needle moved
    assert (base[0, 0, 3] == 255) and (base[40, 2, 3] == 0)  # id blocks; transparent outside the disc
    corrupt = posed.copy()
    corrupt[10, 10, 0] ^= 1
    with pytest.raises(ValueError, match="checksum"):
        check_stamp(corrupt)


def test_heartbeat_thread_keeps_an_idle_writer_alive(name):
    with BridgeWriter(name, 8, 8, heartbeat_period=0.05) as w, BridgeReader(name, stale_after=1.0) as r:
        first = w._seg.header.heartbeat_ns
        deadline = time.monotonic() + 5
        while w._seg.header.heartbeat_ns == first and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w._seg.header.heartbeat_ns != first  # no frames published, still beating
        assert r.writer_state() == WriterState.ALIVE
