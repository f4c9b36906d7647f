"""samples/engine_sample.py against a live `conrt bridge` it spawns."""
from __future__ import annotations

import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np

from conrt.samples.engine_sample import look_at, stick_figure


def test_sample_engine_drives_poses_and_saves_frames(tmp_path):
    res = subprocess.run([sys.executable, "-m", "conrt.samples.engine_sample", "--spawn", "--size", "64",
                          "--frames", "30", "--fps", "30", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["requests"] == 30 and stats["frames_received"] >= 30
    assert stats["latency_ms_p50"] is not None and stats["latency_ms_p50"] > 0
    frames = sorted(tmp_path.glob("frame_*.png"))
    assert len(frames) == 3
    first, last = iio.imread(frames[0]), iio.imread(frames[-1])
    assert first.shape == (64, 64, 4)
    assert not np.array_equal(first, last)  # the figure walked and the camera orbited
    assert (iio.imread(tmp_path / "sheet.png").shape == (64, 3 * 64, 4))


def test_sample_helpers():
    assert stick_figure(0.0).shape == (7, 4, 4)
    view = look_at((0, 0, 3), (0, 0, 0))
    np.testing.assert_allclose(view @ np.array([0, 0, 0, 1]), [0, 0, -3, 1], atol=1e-6)  # target ahead (-Z)


def test_sample_drives_a_bridge_with_a_real_skeleton_by_clip(name):
    """The header says the character has 20 joints; the 7-joint stick figure would be refused, so the
    sample sends the walk clip instead."""
    import threading

    from conrt.engine_bridge import BridgeWriter, PoseKind, TestPattern, serve
    from conrt.samples.engine_sample import run

    kinds = []
    pattern = TestPattern(32, 32)

    def source(request):
        kinds.append(request.kind)
        return pattern(request)

    stop = threading.Event()
    with BridgeWriter(name, 32, 32, max_joints=32, skeleton_joints=20) as w:
        server = threading.Thread(target=serve, args=(w, source), kwargs=dict(fps=100, stop=stop))
        server.start()
        try:
            stats = run(name, 5, None, fps=30, timeout=30)
        finally:
            stop.set()
            server.join(30)
    assert stats["requests"] == 5
    assert PoseKind.CLIP in kinds and PoseKind.JOINTS not in kinds
