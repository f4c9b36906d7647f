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

    with pytest.raises(ConfigError, match="separate search's minimum gain must be a finite number >= 0, got nan"):
        SheetFitter(gl_ctx, character, 128, 64, separate_min_gain=float("nan"))
    with pytest.raises(ConfigError, match="separate fine levels: choose 1 or 2"):
        SheetFitter(gl_ctx, character, 128, 64, separate_fine_levels=3)
    with pytest.raises(ConfigError, match="joint free yaws 'sides': choose one of none, side, all"):
        SheetFitter(gl_ctx, character, 128, 64, joint_free_yaws="sides")
    with pytest.raises(ConfigError, match=r"yaw restarts: degrees within \+-30 \(not 0\), got \(0.0, 4.0\)"):
        SheetFitter(gl_ctx, character, 128, 64, separate_yaw_restarts=(0.0, 4.0))
    with pytest.raises(ConfigError, match=r"limb starts \['strides'\]: unknown or repeated names; choose each at "
                                          r"most once from stride, stride_mirrored"):
        SheetFitter(gl_ctx, character, 128, 64, limb_starts=("strides",))
    with pytest.raises(ConfigError, match="unknown or repeated"):
        SheetFitter(gl_ctx, character, 128, 64, limb_starts=("stride", "stride"))


def test_a_limb_start_turns_the_rigs_legs_on_the_given_camera(gl_ctx, character):
    from conrt.runtime.app.sheet_fit import LIMB_STARTS, FitParams, SheetFitter

    with SheetFitter(gl_ctx, character, 128, 64, limb_starts=("stride",)) as fitter:
        assert fitter.limb_starts == ("stride",)
        p = FitParams(10.0, 1.0, (0.0, 0.0), (20.0, 30.0), {"neck": 4.0})
        target = fitter.render_toon(p)  # the rig itself: moment matching keeps its camera
        q = fitter._limb_start(p, "stride", target)
    assert q.turns == {"neck": 4.0, **{b: a for b, a in LIMB_STARTS["stride"].items() if b in fitter.bones}}
    assert len(q.turns) > 1 and (q.yaw, q.arms_lowered) == (10.0, (20.0, 30.0))


def test_the_side_views_are_the_ones_whose_yaw_the_first_joint_level_frees():
    from conrt.runtime.app.sheet_fit import first_level_yaw_free

    side = [label for label in (0.0, 45.0, 80.0, 90.0, -90.0, 270.0, 120.0, 135.0, 180.0, None)
            if first_level_yaw_free("side", label)]
    assert side == [80.0, 90.0, -90.0, 270.0, 120.0]
    assert not any(first_level_yaw_free("none", label) for label in (0.0, 90.0, None))
    assert all(first_level_yaw_free("all", label) for label in (0.0, 90.0, None))


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
