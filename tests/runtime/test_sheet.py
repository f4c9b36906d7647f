"""Preloaded sheet + per-frame shading on a small config (random weights)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from .conr_weights import fill
from conrt.errors import ConfigError, InputError
from conrt.runtime.nn import official as off
from conrt.runtime.nn import sheet as sh
from conrt.runtime.nn.model import create_model


@pytest.fixture(scope="module")
def xs():
    """conr-xs with the reference weight rule (stronger signals than torch's default init)."""
    model = create_model("conr-xs").eval()
    model.load_state_dict({k: torch.from_numpy(fill(k, v.shape, 1)) for k, v in model.state_dict().items()})
    return model


def _sheet(seed, size=64, h=None, w=None):
    """A character-like RGBA view: noise inside an ellipse, transparent outside."""
    rng = np.random.default_rng(seed)
    h, w = h or size, w or size
    yy, xx = np.mgrid[:h, :w]
    inside = ((yy - h / 2) / (0.4 * h)) ** 2 + ((xx - w / 2) / (0.25 * w)) ** 2 < 1
    img = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    img[..., 3] = np.where(inside, rng.integers(128, 256, (h, w)), 0)
    return img


def _udp(seed, size=64, h=None, w=None):
    rng = np.random.default_rng(seed)
    h, w = h or size, w or size
    udp = rng.random((h, w, 4), dtype=np.float32)
    udp[..., 3] = 0
    udp[h // 4:3 * h // 4, w // 3:2 * w // 3, 3] = 1
    return udp


def test_view_order_does_not_matter(xs):
    views = [_sheet(i) for i in range(3)]
    a = sh.shade(xs, _udp(0), sh.encode_sheet(xs, views))
    b = sh.shade(xs, _udp(0), sh.encode_sheet(xs, [views[2], views[0], views[1]]))
    np.testing.assert_allclose(a, b, atol=1e-5)
    c = sh.shade(xs, _udp(0), sh.encode_sheet(xs, views[:2]))
    assert np.abs(a - c).max() > 1e-4  # the third view does contribute


def test_one_view_and_premultiplied_output(xs):
    out = sh.shade(xs, _udp(1), sh.encode_sheet(xs, [_sheet(5)]))
    assert out.shape == (64, 64, 4) and out.dtype == np.float32
    assert (out[..., :3] <= out[..., 3:4] + 1e-6).all()  # premultiplied


def test_cached_sheet_equals_recomputed(xs):
    views = [_sheet(i) for i in range(2)]
    cache = sh.encode_sheet(xs, views)
    out = sh.shade(xs, _udp(2), cache)
    rgb, mask = sh.prepare_sheet(views, xs.cfg.size_multiple, xs.cfg.image_size, official=False)
    udp, _ = sh.prepare_udp(_udp(2), 64, official=False)
    with torch.inference_mode():
        full = xs(torch.from_numpy(rgb), torch.from_numpy(mask), torch.from_numpy(udp))
    np.testing.assert_allclose(out, full[0].permute(1, 2, 0).numpy(), atol=1e-6)


def test_opaque_sheet_is_refused_unless_matting(xs):
    opaque = _sheet(0)
    opaque[..., 3] = 255
    with pytest.raises(InputError, match="transparent background"):
        sh.encode_sheet(xs, [_sheet(1), opaque])
    with pytest.raises(InputError, match="transparent background"):
        sh.encode_sheet(xs, [opaque[..., :3]])
    # a character on a uniform background: matting keys it out
    img = np.zeros((64, 64, 3), np.uint8)
    img[:] = (0, 255, 0)
    img[16:48, 24:40] = (200, 30, 90)
    cache = sh.encode_sheet(xs, [img], matting="uniform")
    alpha = cache.reference[0, 0, 3].numpy()
    assert alpha[30, 30] == 1 and alpha[2, 2] == 0
    assert alpha.mean() == pytest.approx(32 * 16 / 64 ** 2)


@pytest.mark.parametrize("bad, match", [
    (np.full((64, 64, 4), np.nan, np.float32), "NaN"),
    (np.zeros((64, 64, 3), np.float32), r"\(H, W, 4\)"),
    (np.zeros((64, 64), np.float32), r"\(H, W, 4\)"),
])
def test_bad_udp_is_refused(xs, bad, match):
    cache = sh.encode_sheet(xs, [_sheet(0)])
    with pytest.raises(InputError, match=match):
        sh.shade(xs, bad, cache)


def test_bad_sheets_are_refused(xs):
    with pytest.raises(InputError, match="at least one view"):
        sh.encode_sheet(xs, [])
    with pytest.raises(InputError, match="fully transparent"):
        sh.encode_sheet(xs, [np.zeros((64, 64, 4), np.uint8)])
    with pytest.raises(InputError, match="0..1"):
        sh.encode_sheet(xs, [np.full((64, 64, 4), 2.0, np.float32)])


@pytest.mark.parametrize("official", [False, True])
def test_odd_sizes_are_cropped_and_pasted_back(xs, official):
    """Sides the model cannot take: auto-centred crop to image_size, result back in the frame."""
    views = [_sheet(0, h=150, w=100), _sheet(1, h=90, w=120)]
    cache = sh.encode_sheet(xs, views, official=official)
    assert cache.size == xs.cfg.image_size
    udp = _udp(3, h=220, w=300)
    out = sh.shade(xs, udp, cache)
    assert out.shape == (220, 300, 4)
    crop = off.find_crop(udp[..., 3])
    inside = np.zeros((220, 300), bool)
    inside[max(crop.top, 0):crop.top + crop.side, max(crop.left, 0):crop.left + crop.side] = True
    assert np.all(out[~inside] == 0) and out[inside][..., 3].max() > 0


def test_finish_frame_hands_on_an_array_of_its_own():
    """``finish_frame``: a [1, 4, S, S] output -> its [S, S, 4] transpose, an array of its own (the
    frame loop scales it in place); one that is a view of an [S, S, 4] frame (gl-lookup pastes its
    band into one, session 14) -> that frame itself, no copy; a view of anything else -> a copy."""
    rng = np.random.default_rng(0)
    plain = rng.random((1, 4, 6, 6), dtype=np.float32)
    got = sh.finish_frame(plain, None)
    assert got.flags.owndata and got.flags.c_contiguous and not np.shares_memory(got, plain)
    np.testing.assert_array_equal(got, plain[0].transpose(1, 2, 0))
    frame = rng.random((6, 6, 4), dtype=np.float32)
    assert sh.finish_frame(frame.transpose(2, 0, 1)[None], None) is frame
    bigger = rng.random((6, 7, 4), dtype=np.float32)  # a view of part of a frame: not that frame
    got = sh.finish_frame(bigger[:, :6].transpose(2, 0, 1)[None], None)
    assert got.flags.owndata and not np.shares_memory(got, bigger)
    np.testing.assert_array_equal(got, bigger[:, :6])


def test_crop_helpers_roundtrip():
    img = np.zeros((50, 80, 1), np.float32)
    img[10:30, 20:60] = 1  # bbox 20 x 40 -> square side 40, centred, sticks out above
    crop = off.find_crop(img[..., 0])
    assert (crop.side, crop.left, crop.top) == (40, 20, 0)
    small = off.apply_crop(img, crop, 40)
    np.testing.assert_array_equal(off.paste_back(small, crop), img)
    assert off.apply_crop(img, crop, 20).shape == (20, 20, 1)
    np.testing.assert_allclose(off.resize(np.ones((30, 30, 2), np.float32), 64), 1, atol=1e-6)
    np.testing.assert_allclose(off.resize(np.ones((64, 64, 2), np.float32), 30), 1, atol=1e-6)


def test_official_conventions_quantise():
    rgba = np.array([[[200, 100, 7, 128]]], np.uint8)
    rgb, mask = off.sheet_rgb_mask(rgba, official=True)
    np.testing.assert_array_equal(rgb * 255, [[[100, 50, 3]]])  # uint8 truncation
    rgbf, _ = off.sheet_rgb_mask(rgba, official=False)
    assert rgbf[0, 0, 2] == pytest.approx(7 / 255 * 128 / 255)
    udp = np.array([[[0.5, 0.5, 0.5, 0.999]]], np.float32)
    assert off.udp_input(udp, True)[0, 0, 3] == pytest.approx(254 / 255)
    assert off.udp_input(udp, False)[0, 0, 3] == pytest.approx(0.999)


def test_forced_working_size(xs):
    """A lower internal side: 128x128 frames shaded at 64 and pasted back at 128."""
    views = [_sheet(0, size=128)]
    cache = sh.encode_sheet(xs, views, size=64)
    assert cache.size == 64 and cache.reference.shape[-1] == 64
    assert sh.shade(xs, _udp(0, size=128), cache).shape == (128, 128, 4)
    with pytest.raises(ConfigError, match="multiple of 64"):
        sh.encode_sheet(xs, views, size=100)
    with pytest.raises(ConfigError, match="16..4096"):  # the runtime's sides (runtime/limits.py), not unbounded
        sh.encode_sheet(xs, views, size=8192)
