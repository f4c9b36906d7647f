"""conrt simulate / demo / bridge with --vmc and --vmc-send, the Python API
(open_runtime(vmc=...), the bridge's runtime source), through real processes
and loopback UDP."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys

import numpy as np
import pytest

from conrt.cli import main
from conrt.physics.clips import Animator, get_clip

from .conftest import ROOT, SENDER, spawn, wait_until

POS_TOL = 1e-5  # float32 OSC values, see test_receiver.py


def _conrt(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "conrt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={"CONRT_GL_CONTEXT": "egl", **__import__("os").environ})


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _humanoid(character, joint_world):
    return joint_world[..., sorted(character.humanoid.values()), :3, 3].astype(np.float64)


def test_simulate_records_live_vmc_poses(sample, tmp_path):
    port = _free_port()
    # the senders of these tests stream until killed: a fixed 40-60 s stream ended before the CLI,
    # started on a loaded host, began to listen (simulate got no packet at load 14)
    proc = spawn(SENDER, "--port", port, "--clip", "walk", "--fps", 60, "--until-killed")
    out = tmp_path / "poses.npz"
    try:
        r = _conrt("simulate", "--vmc", f"127.0.0.1:{port}", "--vmc-wait", 60, "--frames", 30, "--fps", 30,
                   "--out", out)
    finally:
        proc.kill()
        proc.wait()
    assert r.returncode == 0, r.stderr
    assert "30 frames of 'vmc'" in r.stdout and f"VMC 127.0.0.1:{port}:" in r.stdout
    assert "VMC: 30 of 30 frames followed live packets" in r.stdout
    d = np.load(out)
    assert d["joint_world"].shape[0] == 30 and d["vmc_live"].all()
    t = d["vmc_time"]
    assert (np.diff(t) >= 0).all() and len(np.unique(t)) >= 8  # paced in real time: the stream moved on
    anim = Animator(sample, get_clip("walk", sample))
    for k in range(30):
        ref = anim.pose(round(t[k] * 60) / 60).joint_world
        assert np.abs(_humanoid(sample, d["joint_world"][k]) - _humanoid(sample, ref)).max() < POS_TOL
    assert d["sim_positions"].shape == (30, len(d["sim_indices"]), 3)  # the skirt simulated on top


def test_simulate_without_packets_says_so(tmp_path):
    out = tmp_path / "poses.npz"
    r = _conrt("simulate", "--vmc", _free_port(), "--vmc-wait", 0.5, "--frames", 5, "--out", out)
    assert r.returncode == 1 and "no VMC packets arrived on 127.0.0.1:" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


@pytest.mark.parametrize("args, words", [(("--vmc", "nope"), "the port must be an integer"),
                                          (("--vmc", "99999"), "outside"),
                                          (("--vmc-send", "5000"), "give HOST:PORT"),
                                          (("--vmc", "1234", "--bvh", ROOT / "tests/fixtures/assets/bvh/cmu_npybvh_example.bvh"),
                                           "not both")])
def test_simulate_bad_vmc_options(args, words, caplog):
    # in this process (conrt.cli.main, the code `python -m conrt` runs) instead of a python process per
    # refusal (9 in this file; dropping them: 0.72x the file's wall, 0.90x its CPU on a loaded host);
    # the module entry's rc and one-line error stay covered by test_simulate_without_packets_says_so.
    # An uncaught exception would fail the test here.
    assert main(["simulate", "--frames", "2", *map(str, args)]) == 1
    assert words in caplog.text


def test_simulate_sends_its_poses_as_vmc(sample, receiver, tmp_path):
    out = tmp_path / "poses.npz"
    r = _conrt("simulate", "--clip", "wave", "--frames", 12, "--vmc-send", f"127.0.0.1:{receiver.port}",
               "--out", out)
    assert r.returncode == 0, r.stderr
    assert wait_until(lambda: receiver.stats.applied == 12), receiver.stats_line()
    got = Animator(sample, receiver.motion(sample)).pose(0.0)
    last = np.load(out)["joint_world"][-1]
    assert np.abs(_humanoid(sample, got.joint_world) - _humanoid(sample, last)).max() < POS_TOL


def test_bridge_vmc_needs_the_runtime_source(caplog):
    assert main(["bridge", "--source", "test", "--vmc", "1234", "--frames", "1"]) == 1
    assert "--vmc and --vmc-send need --source runtime" in caplog.text


def test_open_runtime_follows_vmc_and_sends_it_on(sample, receiver):
    """The Python API: a receiver drives the runtime; vmc_send passes the physics pose on."""
    from conrt.physics.vmc import VmcReceiver, VmcSender
    from conrt.runtime.app.frame_loop import open_runtime

    anim = Animator(sample, get_clip("dance", sample))
    with VmcReceiver("127.0.0.1:0") as echo, VmcSender(f"127.0.0.1:{receiver.port}", sample) as tx:
        tx.send(anim.pose(1.5), 1.5)
        assert wait_until(lambda: receiver.stats.applied == 1)
        with open_runtime(vmc=receiver, vmc_send=f"127.0.0.1:{echo.port}", size=64, context="egl") as rt:
            frames = list(rt.frames(3))
            assert [f.clip for f in frames] == ["vmc"] * 3
            pose = rt.last_produced.pose
            assert np.abs(_humanoid(sample, pose.joint_world) - _humanoid(sample, anim.pose(1.5).joint_world)).max() \
                < POS_TOL
            assert frames[-1].udp[..., 3].sum() > 0 and np.isfinite(frames[-1].rgba).all()
            assert wait_until(lambda: echo.stats.applied >= 3)  # one VMC frame out per physics step
            echoed = Animator(sample, echo.motion(sample)).pose(0.0)
            assert np.abs(_humanoid(sample, echoed.joint_world) - _humanoid(sample, pose.joint_world)).max() < POS_TOL


def test_bridge_source_shades_the_live_pose(sample, receiver):
    from types import SimpleNamespace

    from conrt.runtime.app.bridge_source import RuntimeFrameSource
    from conrt.physics.vmc import VmcSender

    anim = Animator(sample, get_clip("wave", sample))
    with VmcSender(f"127.0.0.1:{receiver.port}", sample) as tx:
        tx.send(anim.pose(0.7), 0.7)
        assert wait_until(lambda: receiver.stats.applied == 1)
    src = RuntimeFrameSource(64, context="egl", vmc=receiver)
    try:
        request = SimpleNamespace(kind=SimpleNamespace(name="CLIP"), clip_name="walk", clip_time=3.0, request_id=1,
                                  joints=None, camera_yaw=lambda: 0.0)
        pose = src.pose_for(request)  # the engine asked for a clip; VMC drives the body
        assert np.abs(_humanoid(sample, pose.joint_world) - _humanoid(sample, anim.pose(0.7).joint_world)).max() \
            < POS_TOL
        rgba = src(request)
        assert rgba.shape == (64, 64, 4) and rgba[..., 3].max() > 0
    finally:
        src.close()


def test_headless_demo_follows_vmc(sample, tmp_path):
    """conrt demo --vmc without a display: frames of the streamed clip, paced in real time."""
    port = _free_port()
    proc = spawn(SENDER, "--port", port, "--clip", "wave", "--fps", 60, "--until-killed")
    try:
        r = _conrt("demo", "--headless", "--vmc", port, "--frames", 4, "--fps", 10, "--size", 64, "-o", tmp_path)
    finally:
        proc.kill()
        proc.wait()
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "demo.mp4").stat().st_size > 0 and len(list((tmp_path / "frames").glob("*.png"))) == 4
    assert "kinematic body" in r.stderr  # the body follows VMC exactly
    assert "poked" not in r.stderr


def test_bridge_serves_frames_driven_by_vmc(sample):
    port = _free_port()
    proc = spawn(SENDER, "--port", port, "--clip", "wave", "--fps", 60, "--until-killed")
    try:
        r = _conrt("bridge", "--source", "runtime", "--size", 64, "--vmc", port, "--frames", 3, "--fps", 0,
                   "--name", f"vmc-test-{port}")
    finally:
        proc.kill()
        proc.wait()
    assert r.returncode == 0, r.stderr[-2000:]
    assert "conrt bridge: 3 frames" in r.stdout
    line = next(x for x in r.stdout.splitlines() if x.startswith(f"VMC 127.0.0.1:{port}:"))
    # a well-formed stream loses nothing but a backlog: a receiver starved on a loaded host
    # finds more than MAX_BATCH datagrams queued and keeps the newest ("flood", by design)
    dropped = line.split("dropped: ", 1)[1].rsplit(", ", 1)[0]
    kinds = set() if dropped == "none" else {d.rsplit(" ", 1)[0] for d in dropped.split(", ")}
    assert kinds <= {"flood"}, line


@pytest.mark.parametrize("command", [("demo", "--headless"), ("bridge", "--source", "runtime")])
def test_bad_addresses_fail_before_loading(command, caplog):
    # in this process, like test_simulate_bad_vmc_options; INFO captured so that a sheet encoded
    # before the refusal would show
    with caplog.at_level(logging.INFO):
        assert main([*command, "--vmc", "127.0.0.1:notaport", "--frames", "1"]) == 1
    assert "the port must be an integer" in caplog.text
    assert "sheet encoded" not in caplog.text  # nothing slow was loaded first
    caplog.clear()
    assert main([*command, "--vmc-send", "39540", "--frames", "1"]) == 1
    assert "give HOST:PORT" in caplog.text


def test_open_runtime_checks_addresses_first():
    from conrt.errors import ConfigError
    from conrt.runtime.app.frame_loop import open_runtime

    with pytest.raises(ConfigError, match="vmc_send"):
        open_runtime(vmc_send="nohost", size=64, context="egl")
