"""``to_straight_u8``: premultiplied float frames -> straight-alpha u8 (PNG
frames, atlases, the bench's output stage), worked on the pixels with alpha
only for speed: the same bytes as the plain per-pixel formula."""
from __future__ import annotations

import numpy as np

from conrt.runtime.app.frame_loop import to_straight_u8


def _plain(rgba):
    """The formula as written before (and as a reader expects it)."""
    rgba = np.clip(np.asarray(rgba, np.float32), 0.0, 1.0)
    a = rgba[..., 3:]
    rgb = np.where(a > 1e-6, rgba[..., :3] / np.maximum(a, 1e-6), 0.0)
    return (np.clip(np.concatenate([rgb, a], -1), 0, 1) * 255 + 0.5).astype(np.uint8)


def test_the_same_bytes_as_the_plain_formula():
    rng = np.random.default_rng(5)
    x = rng.random((37, 53, 4), np.float32) * 1.4 - 0.2  # out of range both ways
    x[..., :3] *= np.clip(x[..., 3:], 0, 1)
    x[:5, :, 3] = 0.0  # background
    x[5:9, :, 3] = 1e-7  # below the alpha floor: no colour
    x[9, :4] = [0.25, 0.5, 0.75, 0.5]  # a known pixel
    out = to_straight_u8(x)
    assert out.dtype == np.uint8 and out.shape == (37, 53, 4) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, _plain(x))
    np.testing.assert_array_equal(out[9, 0], [128, 255, 255, 128])
    assert not out[:9, :, :3].any()


def test_nan_alpha_is_transparent_black():
    x = np.full((4, 4, 4), 0.5, np.float32)
    x[1, 2, 3] = np.nan
    out = to_straight_u8(x)
    assert not out[1, 2].any() and (out[0, 0] == [255, 255, 255, 128]).all()


def test_a_non_contiguous_float64_frame():
    rng = np.random.default_rng(6)
    x = rng.random((20, 30, 4))[:, ::2]  # float64, strided
    np.testing.assert_array_equal(to_straight_u8(x), _plain(x))


def test_straight_over_background_is_the_pictures_compositing():
    """``straight_over_background`` (the docs' picture scripts, the demo's toon column): straight u8
    RGBA over a grey, the bytes of the formula the scripts wrote by hand before session 14
    (``colour * alpha + grey * (1 - alpha)`` in float32, rounded); f32 input in [0, 1] the same."""
    from conrt.runtime.app.frame_loop import straight_over_background

    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (23, 31, 4), dtype=np.uint8)
    rgba[:3, :, 3] = 0  # background: the grey
    rgba[3:6, :, 3] = 255  # opaque: the colour
    grey = 236
    x = rgba.astype(np.float32) / 255
    by_hand = ((x[..., :3] * x[..., 3:] + grey / 255 * (1 - x[..., 3:])) * 255 + 0.5).astype(np.uint8)
    got = straight_over_background(rgba, (grey / 255,) * 3)
    assert got.dtype == np.uint8 and got.shape == (23, 31, 3)
    np.testing.assert_array_equal(got, by_hand)
    assert (got[:3] == grey).all() and np.array_equal(got[3:6], rgba[3:6, :, :3])
    np.testing.assert_array_equal(straight_over_background(x, (grey / 255,) * 3), by_hand)
