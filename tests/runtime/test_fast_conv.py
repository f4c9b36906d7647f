"""Winograd F(4x4, 3x3) layers (runtime/nn/fast_conv.py) compute the same maths as
F.conv2d / ConvTranspose2d, and the torch backend using them still matches the
golden fixture. No timing here (benchmarks/network_bench.py measures speed)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conrt.runtime.backends import create_backend
from conrt.runtime.nn.conr_v1 import DecoderBlock
from conrt.runtime.nn.fast_conv import WinogradConv2d, winograd_matrices, with_winograd

# fp32 Winograd rounds a little more than a direct conv: on N(0, 1) inputs with
# PyTorch's default init, |error| <= 1e-5 observed (224 channels); allow 4x that
WTOL = 5e-5

SHAPES = [  # (batch, cin, cout, h, w): odd sides, partial tiles, batch > 1, 1x1 and 224 channels
    (1, 3, 5, 4, 4),
    (2, 5, 7, 9, 11),
    (3, 16, 8, 13, 6),
    (2, 8, 6, 1, 1),
    (1, 6, 5, 3, 17),
    (2, 224, 224, 16, 12),
]


def test_one_dimensional_transform_is_a_correlation():
    at, g, bt = winograd_matrices(4, 3)
    rng = np.random.default_rng(0)
    d, k = rng.standard_normal(6), rng.standard_normal(3)
    y = at.numpy() @ ((g.numpy() @ k) * (bt.numpy() @ d))
    np.testing.assert_allclose(y, np.correlate(d, k, "valid"), atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_winograd_conv_equals_conv2d(shape, channels_last):
    n, cin, cout, h, w = shape
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, 3, 1, 1)
    x = torch.randn(n, cin, h, w)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    want = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1).detach()
    with torch.inference_mode():
        got = WinogradConv2d.from_conv(conv)(x)
    assert got.shape == want.shape and got.dtype == torch.float32
    np.testing.assert_allclose(got.double().numpy(), want.numpy(), atol=WTOL, rtol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_winograd_deconv_equals_conv_transpose(shape):
    n, cin, cout, h, w = shape
    torch.manual_seed(1)
    deconv = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
    x = torch.randn(n, cin, h, w)
    want = F.conv_transpose2d(x.double(), deconv.weight.double(), deconv.bias.double(), stride=2,
                              padding=1).detach()
    with torch.inference_mode():
        got = WinogradConv2d.from_deconv(deconv)(x)
        direct = WinogradConv2d.from_deconv(deconv, min_side=10 ** 6)(x)  # the phase-conv fallback
    assert got.shape == want.shape == (n, cout, 2 * h, 2 * w)
    np.testing.assert_allclose(got.double().numpy(), want.numpy(), atol=WTOL, rtol=0)
    np.testing.assert_allclose(direct.double().numpy(), want.numpy(), atol=WTOL, rtol=0)


def test_small_inputs_run_direct_and_make_no_transformed_weights():
    conv = nn.Conv2d(8, 8, 3, 1, 1)
    layer = WinogradConv2d.from_conv(conv, min_side=4)
    x = torch.randn(2, 8, 3, 9)
    with torch.inference_mode():
        np.testing.assert_array_equal(layer(x).numpy(), conv(x).numpy())
        assert layer.u is None  # lazily made, only when a big enough input comes
        np.testing.assert_allclose(layer(torch.randn(1, 8, 4, 4)).shape, (1, 8, 4, 4))
    assert layer.u is not None and tuple(layer.u.shape) == (36, 8, 8)


def test_with_winograd_swaps_big_layers_only_and_keeps_the_maths():
    torch.manual_seed(0)
    block = DecoderBlock(20, 30, 16, 2, 2).eval()
    fast = with_winograd(copy.deepcopy(block), min_channels=16 * 16, conv_min_side=1,
                         deconv_min_channels=16 * 16, deconv_min_side=1)
    kinds = [type(m).__name__ for m in fast.modules()]
    # the two stride-2 convs of conv0 stay; the 4 stack convs and both deconvs are swapped
    assert kinds.count("WinogradConv2d") == 6
    assert sum(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in fast.modules()) == 2
    x = torch.randn(3, 20, 24, 20)
    with torch.inference_mode():
        np.testing.assert_allclose(fast(x).numpy(), block(x).numpy(), atol=WTOL, rtol=0)
    small = with_winograd(copy.deepcopy(block))  # default thresholds: 224x224 channels
    assert not any(isinstance(m, WinogradConv2d) for m in small.modules())


def test_bad_layers_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="3x3/1/1 Conv2d"):
        WinogradConv2d(nn.Conv2d(4, 4, 3, 2, 1))
    layer = WinogradConv2d.from_conv(nn.Conv2d(4, 4, 3, 1, 1))
    with pytest.raises(ValueError, match=r"expects \(N, 4, H, W\)"):
        layer(torch.randn(1, 5, 8, 8))


# channels_last=True is the torch backend's default: test_backends.test_golden_through_backends
# runs that one against the golden fixture (and checks it leaves the model); this is the other layout
def test_torch_backend_winograd_matches_golden_and_leaves_the_model(paper_model, golden):
    TOL = 1e-4  # the golden fixture's tolerance
    before = {k: v.clone() for k, v in paper_model.shader.state_dict().items()}
    backend = create_backend("torch", paper_model, channels_last=False, winograd=True)
    assert any(isinstance(m, WinogradConv2d) for m in backend.model.shader.modules())
    assert not any(isinstance(m, WinogradConv2d) for m in paper_model.modules())
    backend.encode_sheet(list(golden["sheet_rgba_straight_u8"]), official=True)
    out = backend.shade(golden["udp_hwc_f32"])
    np.testing.assert_allclose(out.transpose(2, 0, 1)[None], golden["rgba"], atol=TOL, rtol=0)
    after = paper_model.shader.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
