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
