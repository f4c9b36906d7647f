"""Anti-aliased silhouettes in the runtime's shaded frames (RuntimeSpec.antialias,
``--antialias``): fractional alpha at the edge, the interior and the network's
input exactly as without it, on real runtime frames (GL, torch, PyBullet)."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image

from conrt.errors import ConfigError

from .conftest import SIZE


def _frames(antialias, user_character, user_sheet, xs_model, yaws=(0.0, 35.0)):
    """The same posed frames from a runtime with ``antialias``, and the UDPs its backend was given."""
    from conrt.characters.posing import rest_pose
    from conrt.runtime.app.frame_loop import RuntimeSpec, build_runtime

    spec = RuntimeSpec(character=str(user_character), sheet=user_sheet, weights=xs_model, backend="torch",
                       size=SIZE, physics="off", context="egl", antialias=antialias)
    with build_runtime(spec) as rt:
        fed = []
        shade = rt.shader.backend.shade

        def recording(udp, *a, **kw):  # what the network is given, as given
            fed.append(np.array(udp, copy=True))
            return shade(udp, *a, **kw)

        rt.shader.backend.shade = recording
        frames = []
        for yaw in yaws:
            rt.set_camera(yaw=yaw)
            frames.append(rt.step(rest_pose(rt.character)))
        return frames, fed, rt.raster.antialias


def test_edges_get_coverage_alpha_and_the_interior_and_network_input_stay(user_character, user_sheet, xs_model):
    off, fed_off, k_off = _frames("off", user_character, user_sheet, xs_model)
    on, fed_on, k_on = _frames("on", user_character, user_sheet, xs_model)
    assert (k_off, k_on) == (1, 3)
    assert len(fed_on) == len(fed_off) == 2
    for a, b in zip(fed_off, fed_on):
        np.testing.assert_array_equal(a, b)  # the network's UDP is unchanged (binary occupancy)
    for f_off, f_on in zip(off, on):
        assert f_off.coverage is None and f_on.coverage.shape == (SIZE, SIZE)
        np.testing.assert_array_equal(f_on.udp, f_off.udp)
        occupancy, cov = f_on.udp[..., 3], f_on.coverage
        interior = cov == 1
        assert interior.sum() > 100
        np.testing.assert_array_equal(f_on.rgba[interior], f_off.rgba[interior])  # untouched inside the body
        assert (f_on.rgba[cov == 0] == 0).all()  # nothing painted where the body covers no sample
        alpha_on, alpha_off = f_on.rgba[..., 3], f_off.rgba[..., 3]
        # inner edge: the network's own alpha times the coverage
        inner = (occupancy > 0) & (cov < 1)
        assert inner.sum() > 20
        np.testing.assert_allclose(alpha_on[inner], alpha_off[inner] * cov[inner], rtol=1e-6, atol=1e-7)
        # outer edge: pixels whose centre the body misses (empty without AA) now fade in
        outer = (occupancy == 0) & (cov > 0)
        assert outer.sum() > 20 and (alpha_off[outer] == 0).all()
        filled = alpha_on[outer] > 0
        assert filled.mean() > 0.9
        assert ((alpha_on[outer][filled] > 0) & (alpha_on[outer][filled] < 1)).all()
        assert (f_on.rgba[..., :3] <= f_on.rgba[..., 3:] + 1e-5).all()  # still premultiplied


@pytest.mark.parametrize("bad", ["yes", "9", 0, 2.5])
def test_bad_antialias_values_are_named(bad):
    from conrt.runtime.app.frame_loop import RuntimeSpec

    with pytest.raises(ConfigError, match=r"antialias must be one of off, on \(= 3\), 1, 2, 3, 4, 5"):
        RuntimeSpec(antialias=bad).check()


def test_render_cli_switch(tmp_path, user_character, user_sheet, xs_weights, caplog):
    """``conrt render --antialias``: off gives the hard silhouette, the default a soft one; a bad value
    is one line naming the choices, rc 1, nothing written."""
    from conrt.cli import main

    caplog.set_level(logging.INFO, logger="conrt")
    common = ["render", "--character", str(user_character), "--sheet", str(user_sheet), "--clip", "idle",
              "--frames", "2", "--size", str(SIZE), "--backend", "torch", "--weights", str(xs_weights)]
    assert main(common + ["--antialias", "maybe", "-o", str(tmp_path / "bad") + "/"]) == 1
    assert "antialias must be one of off, on" in caplog.text and not (tmp_path / "bad").exists()
    alphas = {}
    for name, extra in (("off", ["--antialias", "off"]), ("default", [])):
        out = tmp_path / name
        assert main(common + extra + ["-o", str(out) + "/"]) == 0
        assert json.loads((out / "frames.json").read_text())["alpha"] == "straight"
        alphas[name] = np.asarray(Image.open(out / "frame_0001.png"))[..., 3]
    assert "anti-aliasing 3x3" in caplog.text
    # the soft silhouette has more partly transparent pixels, and pixels the hard one leaves empty
    partial = {n: int(((a > 0) & (a < 255)).sum()) for n, a in alphas.items()}
    assert partial["default"] > partial["off"] + 20
    assert ((alphas["default"] > 0) & (alphas["off"] == 0)).sum() > 20


def test_bridge_frames_carry_the_soft_silhouette(user_character, user_sheet, xs_weights):
    """The engine bridge's runtime source, off vs on, same NONE (rest pose) request:
    the same frame inside, a soft premultiplied edge outside the hard one."""
    from conrt.engine_bridge.protocol import PoseKind, PoseRequest
    from conrt.runtime.app.bridge_source import RuntimeFrameSource

    imgs = {}
    for aa in ("off", "on"):
        src = RuntimeFrameSource(SIZE, np.uint8, character=user_character, sheet=user_sheet, weights=xs_weights,
                                 backend="torch", context="egl", physics=False, antialias=aa)
        try:
            imgs[aa] = src(PoseRequest(request_id=1, kind=PoseKind.NONE))
            coverage = src.rt.last_produced.buffers.get("coverage")
        finally:
            src.close()
        assert (coverage is None) == (aa == "off")
    off, on = imgs["off"], imgs["on"]
    assert (on[..., :3].astype(int) <= on[..., 3:].astype(int) + 1).all()  # premultiplied
    new = (off[..., 3] == 0) & (on[..., 3] > 0)
    assert new.sum() > 10 and (on[..., 3][new] < 255).all()  # faded in where the hard edge left nothing
    assert ((on[..., 3] > 0) & (on[..., 3] < 255)).sum() > ((off[..., 3] > 0) & (off[..., 3] < 255)).sum() + 10
    assert (on[..., 3] <= np.maximum(off[..., 3], 255 * (off[..., 3] == 0))).all()  # never more opaque than before
