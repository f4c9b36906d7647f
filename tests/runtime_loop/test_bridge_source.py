"""`conrt bridge --source runtime`: real shaded frames for the engine's pose requests."""
from __future__ import annotations

import logging
import threading
import uuid

import numpy as np
import pytest

from .conftest import SIZE


@pytest.fixture(scope="module")
def source_args(user_character, user_sheet, xs_weights):
    return dict(character=user_character, sheet=user_sheet, weights=xs_weights, backend="torch", context="egl")


def test_source_shades_clip_requests_and_follows_the_camera(source_args, caplog):
    from conrt.engine_bridge.protocol import PoseKind, PoseRequest
    from conrt.runtime.app.bridge_source import RuntimeFrameSource
    from conrt.shaders.camera import orbit_view

    src = RuntimeFrameSource(SIZE, np.uint8, **source_args)
    try:
        front = src(PoseRequest(request_id=1, kind=PoseKind.CLIP, clip_name="walk", clip_time=0.5))
        later = src(PoseRequest(request_id=2, kind=PoseKind.CLIP, clip_name="walk", clip_time=0.9))
        side_view = orbit_view((0, 0, 0), 3.0, 90.0, 0.0).astype(np.float32)
        side = src(PoseRequest(request_id=3, kind=PoseKind.CLIP, clip_name="walk", clip_time=0.5,
                               camera_view=side_view))
        bad = src(PoseRequest(request_id=4, kind=PoseKind.JOINTS, joints=np.eye(4, dtype=np.float32)[None]))
    finally:
        src.close()
    for img in (front, later, side, bad):
        assert img.shape == (SIZE, SIZE, 4) and img.dtype == np.uint8
        assert 0.03 < (img[..., 3] > 0).mean() < 0.7
        assert (img[..., :3].astype(int) <= img[..., 3:].astype(int) + 1).all()  # premultiplied
    assert not np.array_equal(front[..., 3], later[..., 3])  # the clip time matters
    # from the side the silhouette is narrower than from the front
    width = lambda im: np.ptp(np.nonzero(im[..., 3].any(0))[0])
    assert width(side) < width(front)
    assert "keeping the last good pose" in caplog.text  # the bad joint count was reported, not fatal
    assert src.last_stats.shade_ms > 0


def test_bridge_serves_runtime_frames_to_a_reader(source_args):
    from conrt.engine_bridge import BridgeReader, run_bridge
    from conrt.runtime.app.bridge_source import RuntimeFrameSource

    name = f"rt-test-{uuid.uuid4().hex[:8]}"
    stop, ready, errors = threading.Event(), threading.Event(), []

    def server():
        try:
            # the GL context lives on the server's thread, as in `conrt bridge`
            src = RuntimeFrameSource(SIZE, np.uint8, **source_args)
            try:
                run_bridge(src, name, SIZE, SIZE, "rgba8", 3, on_ready=lambda w: ready.set(), fps=0, stop=stop)
            finally:
                src.close()
        except BaseException as exc:
            errors.append(exc)
            ready.set()

    th = threading.Thread(target=server)
    th.start()
    try:
        assert ready.wait(120) and not errors, errors
        with BridgeReader.connect(name, timeout=10) as reader:
            rid = reader.send_pose(clip="wave", clip_time=1.0)
            got = None
            for _ in range(50):
                r = reader.wait(timeout=10)
                if r is not None and r[1].request_id == rid:
                    got = r
                    break
            assert got is not None, "no frame for the request"
            pixels, info = got
            assert pixels.shape == (SIZE, SIZE, 4)
            assert 0.03 < (pixels[..., 3] > 0).mean() < 0.7
    finally:
        stop.set()
        th.join(60)
    assert not errors, errors


def test_sequential_clip_requests_step_the_physics(xs_weights, user_sheet):
    """Requests moving forward on one clip simulate (the sample character's skirt
    is physics-driven); a jump re-seeks."""
    from conrt.engine_bridge.protocol import PoseKind, PoseRequest
    from conrt.runtime.app.bridge_source import RuntimeFrameSource

    src = RuntimeFrameSource(SIZE, np.uint8, character=None, sheet=user_sheet, weights=xs_weights, backend="torch",
                             context="egl", fps=30)
    try:
        def req(t, clip="walk"):
            return PoseRequest(request_id=0, kind=PoseKind.CLIP, clip_name=clip, clip_time=t)

        first = src.pose_for(req(0.5))
        assert src.physics.time == pytest.approx(0.5)
        poses = [src.pose_for(req(0.5 + k / 30)) for k in (1, 2, 3)]
        assert src.physics.time == pytest.approx(0.6, abs=1e-6)  # stepped, not re-seeked
        assert poses[-1].sim_positions is not None  # the skirt came from the cloth simulation
        assert np.abs(poses[-1].joint_world - first.joint_world).max() > 1e-3
        src.pose_for(req(3.0))  # a jump far ahead: re-seek
        assert src.physics.time == pytest.approx(3.0)
        src.pose_for(req(0.2, "wave"))  # another clip
        assert src.physics.clip == "wave" and src.physics.time == pytest.approx(0.2)
        img = src(req(0.2 + 1 / 30, "wave"))
        assert (img[..., 3] > 0).mean() > 0.03
    finally:
        src.close()


def test_bad_requests_never_stop_the_runtime_bridge_and_keep_the_last_good_pose(source_args, caplog):
    """joints 1e30 / clip_time 1e300 used to end `conrt bridge --source runtime` ("camera matrices contain
    NaN/inf"); a wrong joint count was warned about every frame and shaded the rest pose under its own id."""
    from conrt.engine_bridge import BridgeReader, run_bridge
    from conrt.engine_bridge.protocol import PoseKind
    from conrt.runtime.app.bridge_source import RuntimeFrameSource

    name = f"rt-bad-{uuid.uuid4().hex[:8]}"
    stop, ready, errors, stats = threading.Event(), threading.Event(), [], []

    def server():
        try:
            src = RuntimeFrameSource(SIZE, np.uint8, **source_args)
            try:
                stats.append(run_bridge(src, name, SIZE, SIZE, "rgba8", 3, on_ready=lambda w: ready.set(), fps=0,
                                        stop=stop))
                stats.append(src.joint_count)
            finally:
                src.close()
        except BaseException as exc:
            errors.append(exc)
            ready.set()

    def poke(reader, rid, kind, joints=None, clip=b"", clip_time=0.0):  # a hostile engine: no checks
        pose = reader._seg.pose
        seq = pose.seq + (pose.seq & 1)
        pose.seq = seq + 1
        pose.request_id, pose.kind, pose.clip_name, pose.clip_time = rid, int(kind), clip, clip_time
        pose.joint_count = 0 if joints is None else len(joints)
        if joints is not None:
            reader._seg.joints[:len(joints)] = joints
        pose.seq = seq + 2

    def frames_after(reader, n=3):
        got = []
        while len(got) < n:
            r = reader.wait(timeout=30)
            assert r is not None and not errors, errors
            got.append((r[0].copy(), r[1].request_id))
        return got

    th = threading.Thread(target=server)
    th.start()
    try:
        assert ready.wait(120) and not errors, errors
        with caplog.at_level(logging.WARNING), BridgeReader.connect(name, timeout=10) as reader:
            joints = reader.geometry.skeleton_joints
            assert joints > 0  # the character's joint count is in the header
            good = reader.send_pose(clip="wave", clip_time=1.0)
            for _ in range(50):
                if frames_after(reader, 1)[0][1] == good:
                    break
            good_alpha = frames_after(reader, 1)[0][0][..., 3]
            eye = np.tile(np.eye(4, dtype=np.float32), (joints, 1, 1))
            hostile = [(201, PoseKind.JOINTS, eye * np.float32(1e30)), (202, PoseKind.JOINTS, eye[:3]),
                       (203, PoseKind.CLIP, None, b"walk", 1e300), (204, PoseKind.CLIP, None, b"no-such-clip", 1.0)]
            for args in hostile:
                poke(reader, *args)
                later = frames_after(reader, 4)[1:]  # the first may have been shaded before the poke was seen
                assert {rid for _, rid in later} == {good}  # never the rejected id
                for pixels, _ in later:  # the last good pose (same clip time: the same frame)
                    np.testing.assert_array_equal(pixels[..., 3], good_alpha)
    finally:
        stop.set()
        th.join(120)
    assert not errors, errors
    assert stats[0].bad_requests == 4 and stats[1] == joints
    for rid in (201, 202, 203, 204):
        assert sum(f"request {rid}" in ln for ln in caplog.text.splitlines()) == 1, caplog.text  # warned once
