"""The fit's search and warp helpers on plain arrays (no GL): the pattern
search's minimum gain and the residual warp's bilinear sampling."""
from __future__ import annotations

import numpy as np
import pytest


def _valley(counter):
    """A narrow diagonal valley: coordinate steps creep along it, each sweep
    gaining less than the one before (the pose search's last sweeps)."""
    def cost(v):
        counter[0] += 1
        x, y = v
        return ((x - y) ** 2 + 0.05 * (x + y - 20.0) ** 2,)
    return cost


def test_a_minimum_gain_ends_a_level_when_a_sweep_gains_less():
    from conrt.runtime.app.sheet_fit import coordinate_sweep, pattern_search

    x0, steps, free = np.zeros(2), np.array([1.0, 1.0]), np.ones(2, bool)
    bounds = (np.full(2, -50.0), np.full(2, 50.0))
    plain_n, gain_n = [0], [0]
    x_plain, c_plain = pattern_search(x0, _valley(plain_n), steps, free, bounds, levels=2)
    x_gain, c_gain = pattern_search(x0, _valley(gain_n), steps, free, bounds, levels=2, min_gain=5.0)
    start = _valley([0])(x0)[0]
    # fewer trials, still downhill, and not as far as the plain search
    assert gain_n[0] < plain_n[0] and c_plain[0] < c_gain[0] < start, (plain_n, gain_n, c_plain, c_gain)
    # without a minimum gain a level ends only where a sweep finds nothing
    _, _, moved = coordinate_sweep(x_plain, c_plain, _valley([0]), steps / 2, free, *bounds, 1e-6)
    assert not moved


def test_the_warp_samples_as_map_coordinates_does():
    """``_bilinear`` against scipy's ``map_coordinates(order=1, mode="nearest")``,
    coordinates inside, on the last row and column, and outside the image;
    tolerance: a few float32 roundings of the values' size."""
    from scipy.ndimage import map_coordinates

    from conrt.runtime.app.sheet_fit import _bilinear

    rng = np.random.default_rng(3)
    h, w = 40, 56
    channels = (rng.normal(size=(4, h, w)) * 30).astype(np.float32)
    coords = (np.mgrid[0:h, 0:w] + rng.normal(size=(2, h, w)) * 6).astype(np.float32)
    coords[0, :3] = -7.5  # above the image
    coords[1, :, -3:] = w + 4.0  # right of it
    coords[:, -1, :5] = np.array([h - 1, w - 1], np.float32)[:, None]  # exactly the last pixel
    want = np.stack([map_coordinates(c, coords, order=1, mode="nearest") for c in channels])
    got = _bilinear(channels, coords)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=8 * np.finfo(np.float32).eps * np.abs(channels).max())


def test_the_separate_search_settings_are_checked(gl_ctx, character):
    from conrt.errors import ConfigError
    from conrt.runtime.app.sheet_fit import SheetFitter

    with pytest.raises(ConfigError, match=r"limb starts \['strides'\]: unknown or repeated names; choose each at "
                                          r"most once from stride, stride_mirrored"):
        SheetFitter(gl_ctx, character, 128, 64, limb_starts=("strides",))
    with pytest.raises(ConfigError, match="unknown or repeated"):
        SheetFitter(gl_ctx, character, 128, 64, limb_starts=("stride", "stride"))
    with pytest.raises(ConfigError, match=r"front views' pose candidates: choose 1, 2 or 3 \(of the coarse "
                                          r"stage's 3\), got 4"):
        SheetFitter(gl_ctx, character, 128, 64, front_pose_candidates=4)


def test_a_limb_start_turns_the_rigs_legs_on_the_given_camera(gl_ctx, character):
    from conrt.runtime.app.sheet_fit import LIMB_STARTS, FitParams, SheetFitter

    with SheetFitter(gl_ctx, character, 128, 64, limb_starts=("stride",)) as fitter:
        assert fitter.limb_starts == ("stride",)
        p = FitParams(10.0, 1.0, (0.0, 0.0), (20.0, 30.0), {"neck": 4.0})
        target = fitter.render_toon(p)  # the rig itself: moment matching keeps its camera
        q = fitter._limb_start(p, "stride", target)
    assert q.turns == {"neck": 4.0, **{b: a for b, a in LIMB_STARTS["stride"].items() if b in fitter.bones}}
    assert len(q.turns) > 1 and (q.yaw, q.arms_lowered) == (10.0, (20.0, 30.0))


def test_the_front_views_are_the_ones_with_limb_starts():
    """From the side the two strides are one silhouette with the legs exchanged; from behind a start won at a
    wrong yaw (docs/fit_sheet.md, session 13): the separate fit's limb starts only on front views."""
    from conrt.runtime.app.sheet_fit import front_view

    yaws = (0.0, 30.0, 31.0, 45.0, 90.0, 180.0, -30.0, 330.0, 329.0, -150.0)
    assert [yaw for yaw in yaws if front_view(yaw)] == [0.0, 30.0, -30.0, 330.0]


def test_a_fit_with_the_limb_starts_ends_at_the_drawn_stride(gl_ctx, character):
    """A front view of the rig in the "stride" start's leg pose: with the limb
    starts on, the fit runs its whole path and ends with the legs turned as
    drawn (within two of the fine search's 4-degree steps). The plain search
    finds this front view too: this checks the path, the benchmark the gain."""
    from conrt.runtime.app.sheet_fit import LIMB_STARTS, FitParams, SheetFitter

    with SheetFitter(gl_ctx, character, 128, 64, limb_starts=tuple(LIMB_STARTS)) as fitter:
        truth = FitParams(0.0, arms_lowered=(40.0, 40.0), turns=dict(LIMB_STARTS["stride"]))
        mask, rgb = fitter.render_toon(truth, 128)
        rgba = np.concatenate([rgb * 255, mask[..., None] * 255.0], -1).astype(np.uint8)
        fit = fitter.fit(rgba, "stride", label_yaw=0.0)
    for leg in ("leftUpperLeg", "rightUpperLeg"):
        assert abs(fit.params.turns[leg] - truth.turns[leg]) <= 8.0, fit.params.turns
    assert fit.iou_pose >= 0.9, fit.iou_pose


def test_the_yaw_line_search_steps_on_and_takes_the_parabolas_vertex():
    """``yaw_line_search`` (the joint fit's yaw line): both ways from the start, on while an end is the
    lowest, then the vertex of the parabola through the lowest three; a quadratic cost's minimum is the
    vertex exactly (to float rounding), one further than the steps reach stops at the last step."""
    from conrt.runtime.app.sheet_fit import yaw_line_search

    calls = []

    def at(centre):
        def cost(t):
            calls.append(t)
            return t, (t - centre) ** 2
        return cost

    t, c = yaw_line_search(at(1.3), (0.0, 1.3 ** 2), 2.0)
    assert t == pytest.approx(1.3, abs=1e-12) and c == pytest.approx(0.0, abs=1e-20)
    assert calls == [-2.0, 2.0, 4.0, 1.3]  # 2 is the lowest end: one step on, then the vertex
    calls.clear()
    t, _ = yaw_line_search(at(-5.1), (0.0, 5.1 ** 2), 2.0)  # three steps on, then the vertex
    assert calls == [-2.0, 2.0, -4.0, -6.0, -8.0, t] and t == pytest.approx(-5.1, abs=1e-12)
    calls.clear()
    t, _ = yaw_line_search(at(-30.0), (0.0, 900.0), 2.0, max_steps=3)  # beyond reach: the last step
    assert t == -8.0 and calls == [-2.0, 2.0, -4.0, -6.0, -8.0]


def test_the_fine_restart_settings_are_checked(gl_ctx, character):
    from conrt.errors import ConfigError
    from conrt.runtime.app.sheet_fit import SheetFitter

    with pytest.raises(ConfigError, match=r"fine restart 'turn': choose one of off, held"):  # removed in session 17
        SheetFitter(gl_ctx, character, 128, 64, fine_restart="turn")
    with pytest.raises(ConfigError, match=r"fine restarts' work resolution must be at least 32 \(at most the fine "
                                          r"size, 128, is used\), got 16"):
        SheetFitter(gl_ctx, character, 128, 64, fine_restart="held", fine_restart_work=16)
    with SheetFitter(gl_ctx, character, 128, 64, fine_restart="held", fine_restart_work=192) as fitter:
        assert fitter.fine_restart_work == fitter.fine == 128


def _drawn_rig(fitter, truth, n: int):
    """The rig itself under ``truth`` as a framed RGBA drawing (n x n u8)."""
    mask, rgb = fitter.render_toon(truth, n)
    return np.concatenate([rgb * 255, mask[..., None] * 255.0], -1).astype(np.uint8)


def test_a_fine_restart_takes_the_fit_back_to_the_drawn_yaw(gl_ctx, character):
    """The rig itself drawn at 10 degrees (labelled 0), the fit's end at 18 (its limbs right): the restart turned
    by -8 starts at the drawn yaw and ends lower at the fine size, so it replaces the fit (its yaw within two of
    the fine search's 1-degree yaw steps of the drawn one). Towards the label only that turn is searched;
    unlabelled, both turns, and the lower is the same; with a margin above any gain the fit is kept as is."""
    from conrt.runtime.app.sheet_fit import FitParams, SheetFitter, _Coarse, downsample_drawing, rough_steps

    with SheetFitter(gl_ctx, character, 128, 128, fine_restart="held") as fitter:  # at 64² the truth is no minimum
        nb = len(fitter.bones)
        truth = FitParams(10.0, arms_lowered=(40.0, 40.0), turns={"leftUpperLeg": 12.0, "rightLowerArm": -20.0})
        drawing = _drawn_rig(fitter, truth, 128)
        coarse = _Coarse(downsample_drawing(drawing, 128), [], 0.0, 0.0, 0.0, nb)
        fine = downsample_drawing(drawing, fitter.fine)
        end = FitParams(18.0, truth.scale, truth.offset, truth.arms_lowered, dict(truth.turns))
        end_cost = fitter._cost(end, *fine)[0]
        steps, free = rough_steps(nb), np.ones(6 + nb, bool)
        p, cost, tried = fitter._fine_restarts(end, end_cost, coarse, drawing, fine, steps, free)
        assert len(tried) == 1 and cost < end_cost and abs(p.yaw - truth.yaw) <= 2.0, (p.yaw, cost, end_cost)
        assert cost == pytest.approx(fitter._cost(p, *fine)[0], abs=1e-9)  # the cost returned is p's at 128
        unlabelled = _Coarse(coarse.target, [], 0.0, 0.0, None, nb)
        q, _, ways = fitter._fine_restarts(end, end_cost, unlabelled, drawing, fine, steps, free)
        assert len(ways) == 2 and abs(q.yaw - truth.yaw) <= 2.0, (q.yaw, [w[1] for w in ways])
        fitter.fine_restart_margin = end_cost  # no restart can gain that much
        kept, kept_cost, _ = fitter._fine_restarts(end, end_cost, coarse, drawing, fine, steps, free)
        assert kept is end and kept_cost == end_cost

