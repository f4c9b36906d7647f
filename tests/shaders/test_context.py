"""GL contexts: headless EGL works; a window without a display is a clear
ContextError; a window under a real Xvfb renders the same UDP as EGL."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conrt.characters.posing import rest_pose
from conrt.errors import ConfigError, ContextError
from conrt.shaders.camera import frame_character
from conrt.shaders.context import create_context, describe, make_current
from conrt.shaders.udp_pass import UdpPass


def test_egl_context(gl_ctx):
    assert gl_ctx.version_code >= 330
    assert "egl" in describe(gl_ctx)


def test_window_without_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ContextError, match="DISPLAY"):
        create_context("window")


def test_auto_reports_every_failure(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("conrt.shaders.context.moderngl.create_standalone_context",
                        lambda **kw: (_ for _ in ()).throw(Exception("libEGL.so.1: cannot open shared object file")))
    with pytest.raises(ContextError) as err:
        create_context("auto")
    text = str(err.value)
    assert "libegl1" in text and "DISPLAY" in text


def test_unknown_kind():
    with pytest.raises(ConfigError, match="auto, egl, window"):
        create_context("vulkan")


_WINDOW_SCRIPT = """
import importlib.util, sys
import numpy as np
from conrt.characters.posing import rest_pose
from conrt.shaders.camera import frame_character
from conrt.shaders.context import create_context, describe, release_context
from conrt.shaders.udp_pass import UdpPass
spec = importlib.util.spec_from_file_location("m", sys.argv[1]); m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
ctx = create_context("window")
assert "window" in describe(ctx), describe(ctx)
cube = m.cube_character()
with UdpPass(ctx, 16, 16) as udp:
    udp.set_character(cube)
    out = udp.run(rest_pose(cube), frame_character(cube.mesh.positions, size=16, yaw=20, pitch=10)).data
release_context(ctx)
np.save(sys.argv[2], out)
"""


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb (scripts/setup.sh --test installs it)")
def test_window_context_under_xvfb(meshes, gl_ctx, tmp_path):
    """A real Xvfb server and a separate process (a second current GL context
    in this process would fight the session's EGL context)."""
    cube = meshes.cube_character()
    with UdpPass(gl_ctx, 16, 16) as udp:
        udp.set_character(cube)
        expected = udp.run(rest_pose(cube), frame_character(cube.mesh.positions, size=16, yaw=20, pitch=10)).data
    # -displayfd: Xvfb picks a free display number and writes it to the pipe.
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "320x240x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        assert number.isdigit(), f"Xvfb did not start (exit code {xvfb.poll()})"
        display = f":{number}"
        out = tmp_path / "window.npy"
        env = dict(os.environ, DISPLAY=display)
        proc = subprocess.run([sys.executable, "-c", _WINDOW_SCRIPT, meshes.__file__, str(out)],
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_array_equal(np.load(out), expected)
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


def test_passes_make_their_own_context_current(gl_ctx, meshes):
    """A second EGL context made current in the same thread (as GPU interop
    or another tool would) must not capture the passes' drawing."""
    cube = meshes.cube_character()
    cam = frame_character(cube.mesh.positions, size=16, yaw=20, pitch=10)
    udp = UdpPass(gl_ctx, 16, 16)
    udp.set_character(cube)
    expected = udp.run(rest_pose(cube), cam).data
    other = create_context("egl")  # now current
    try:
        # Raw calls follow the current context; the passes switch back themselves.
        with UdpPass(other, 16, 16) as mine:  # a pass on the other context works too
            mine.set_character(cube)
            np.testing.assert_array_equal(mine.run(rest_pose(cube), cam).data, expected)
        np.testing.assert_array_equal(udp.run(rest_pose(cube), cam).data, expected)
        udp.release()
    finally:
        other.release()
        make_current(gl_ctx)  # leave the session context current for raw calls in later tests
