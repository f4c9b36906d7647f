"""`conrt bridge --source runtime`: real shaded frames for the engine's pose requests."""
from __future__ import annotations

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
    from conrt.runtime.bridge_source import RuntimeFrameSource
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
    assert "shading the rest pose" in caplog.text  # the bad joint count was reported, not fatal
    assert src.last_stats.shade_ms > 0


def test_bridge_serves_runtime_frames_to_a_reader(source_args):
    from conrt.engine_bridge import BridgeReader, run_bridge
    from conrt.runtime.bridge_source import RuntimeFrameSource

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
    from conrt.runtime.bridge_source import RuntimeFrameSource

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
