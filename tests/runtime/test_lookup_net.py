"""The lookup architecture (conr-rt): table, lookup, fusion, export, training path."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conrt.errors import ConfigError
from conrt.runtime.backends import create_backend
from conrt.runtime.nn.config import get_config
from conrt.runtime.nn.lookup_net import build_table, look_up
from conrt.runtime.nn.model import create_model

S = 64


def _smooth_sheet(views: int = 2, seed: int = 0):
    """A sheet whose true UDP is a smooth, injective field over the image: each
    pixel shows a distinct surface point, so a lookup can find it again."""
    g = torch.Generator().manual_seed(seed)
    v, u = torch.meshgrid(torch.linspace(0.1, 0.9, S), torch.linspace(0.1, 0.9, S), indexing="ij")
    xyz = torch.stack([u, v, 0.5 + 0.3 * (u - 0.5) * (v - 0.5)], 0)  # [3, S, S]
    xyz = xyz.expand(1, views, 3, S, S).clone()
    mask = torch.zeros(1, views, 1, S, S)
    mask[..., 4:-4, 4:-4] = 1.0
    # the same surface point has the same colour in every view
    rgb = torch.rand(1, 3, S // 8, S // 8, generator=g)
    rgb = torch.nn.functional.interpolate(rgb, size=(S, S), mode="bilinear").expand(views, 3, S, S)[None]
    return rgb * mask, mask, torch.cat([xyz, mask], 2)


def test_lookup_finds_each_sheet_pixel_again():
    _, mask, sheet_udp = _smooth_sheet(1)
    table = build_table(sheet_udp[:, :, :3], mask, grid=32, fill_rounds=2)
    assert table.shape == (1, 1, 3, 32 ** 3)
    look = look_up(table, sheet_udp[:, 0], grid=32)  # the sheet's own UDP as the target
    inside = mask[0, 0, 0, 8:-8, 8:-8] > 0
    v, u = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
    err_u = (look[0, 0, 0, 8:-8, 8:-8] - u[8:-8, 8:-8])[inside].abs()
    err_v = (look[0, 0, 1, 8:-8, 8:-8] - v[8:-8, 8:-8])[inside].abs()
    pixel = 2.0 / (S - 1)
    assert float(err_u.mean()) < pixel and float(err_v.mean()) < pixel
    assert float(look[0, 0, 2, 8:-8, 8:-8].min()) > 0.5  # covered


@pytest.mark.parametrize("config", ["conr-rt", "conr-rt-fast"])
def test_untrained_model_reproduces_the_sheet_through_its_true_udp(config):
    """Zero-initialised refinement: the output is the fused lookup, so a
    target posed exactly like a sheet view comes out as that view."""
    torch.manual_seed(0)
    model = create_model(get_config(config)).eval()
    rgb, mask, sheet_udp = _smooth_sheet(2)
    with torch.no_grad():
        out = model(rgb, mask, sheet_udp[:, 0], sheet_udp=sheet_udp)
    want = torch.cat([rgb[0, 0], mask[0, 0]], 0)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert float((out[0][inner] - want[inner]).abs().mean()) < 0.02
    assert float(out[0, 3, :2].abs().max()) == 0.0  # no lookup outside the target's occupancy


@pytest.mark.parametrize("config", ["conr-rt", "conr-rt-fast"])
def test_result_does_not_depend_on_view_order(config):
    torch.manual_seed(1)
    model = create_model(config).eval()
    with torch.no_grad():  # give the scores something to say
        for p in model.fusion.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    rgb, mask, sheet_udp = _smooth_sheet(3, seed=2)
    rgb = torch.cat([rgb[:, :1], rgb[:, 1:].flip(-1)], 1)  # views differ
    udp = torch.rand(1, 4, S, S)
    perm = [2, 0, 1]
    with torch.no_grad():
        a = model(rgb, mask, udp, sheet_udp=sheet_udp)
        b = model(rgb[:, perm], mask[:, perm], udp, sheet_udp=sheet_udp[:, perm])
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("config", ["conr-rt", "conr-rt-fast"])
def test_onnx_export_equals_torch(tmp_path, config):
    torch.manual_seed(0)
    model = create_model(config).eval()
    with torch.no_grad():  # past the zero-initialised output conv, so the U-Net counts
        for p in model.fusion.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    rgb, mask, sheet_udp = _smooth_sheet(3)
    images = [np.concatenate([rgb[0, k].permute(1, 2, 0).numpy() / np.maximum(mask[0, k].permute(1, 2, 0).numpy(),
                                                                                 1e-6), mask[0, k].permute(1, 2, 0).numpy()],
                             -1).clip(0, 1) for k in range(3)]
    udp = np.concatenate([sheet_udp[0, 1, :3].permute(1, 2, 0).numpy(), mask[0, 1].permute(1, 2, 0).numpy()], -1)
    outs = {}
    for name in ("torch", "onnxruntime"):
        backend = create_backend(name, model)
        backend.encode_sheet(images)
        outs[name] = backend.shade(udp)
    assert outs["torch"].shape == (S, S, 4)
    assert np.abs(outs["torch"] - outs["onnxruntime"]).max() < 1e-4


def test_training_path_uses_true_or_predicted_sheet_udp():
    from conrt.training.losses import training_loss
    from conrt.training.trainer import _TrainNet

    torch.manual_seed(0)
    model = create_model("conr-rt").train()
    rgb, mask, sheet_udp = _smooth_sheet(2)
    rgb, mask, sheet_udp = (t.expand(2, *t.shape[1:]).clone() for t in (rgb, mask, sheet_udp))
    net = _TrainNet(model, sheet_head=True)
    target = torch.cat([rgb[:, 0], mask[:, 0]], 1)
    pred, udp_pred = net(rgb, mask, sheet_udp[:, 0], sheet_udp, torch.tensor([True, False]))
    # the sample with the true table reproduces the sheet view it is posed as
    assert float((pred[0] - target[0]).abs().mean()) < 0.02
    loss, parts = training_loss(pred, target, udp_pred=udp_pred, udp_target=sheet_udp.flatten(0, 1))
    loss.backward()
    head = model.udpparsernet.final_conv.weight.grad
    assert head is not None and float(head.abs().sum()) > 0  # the UDP loss trains the sheet head
    assert all(p.grad is not None for p in model.fusion.parameters())


def test_view_scores_share_the_target_udp_half_of_the_first_conv():
    """view_scores runs the first score conv as conv(own channels) per view +
    conv(target UDP) once: the same as the conv over the concatenation."""
    torch.manual_seed(3)
    fusion = create_model("conr-rt").fusion.eval()
    small, udp = torch.rand(2, 3, 5, 16, 16), torch.rand(2, 4, 16, 16)
    colour, seen = small[:, :, :4], small[:, :, 4:]
    consensus = (colour * seen).sum(1, keepdim=True) / seen.sum(1, keepdim=True).clamp_min(1e-6)
    full = torch.cat([small, (colour - consensus).abs(), udp.unsqueeze(1).expand(2, 3, 4, 16, 16)], 2)
    with torch.no_grad():
        want = fusion.score(full.reshape(6, 13, 16, 16))
        got = fusion.view_scores(small, udp)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("score_scale, refine_scale", [(4, 2), (4, 4), (2, 4)])
def test_scores_and_refinement_run_at_their_scales(score_scale, refine_scale):
    """conr-rt-fast: scores at a quarter, refinement at half, ReLU; other scales from the config."""
    fast = get_config("conr-rt-fast")
    assert (fast.lookup.score_scale, fast.lookup.refine_scale, fast.lookup.activation) == (4, 2, "relu")
    d = fast.to_dict()
    d["lookup"].update(score_scale=score_scale, refine_scale=refine_scale)
    cfg = get_config(d)
    assert cfg.size_multiple == max(32, refine_scale * 2 ** (len(cfg.lookup.widths) - 1))
    model = create_model(cfg).eval()
    assert not any(isinstance(m, torch.nn.PReLU) for m in model.fusion.modules())
    seen = {}

    def record(key):  # a forward hook that returns nothing (a returned value would replace the output)
        def hook(mod, inp, out):
            seen[key] = out.shape[-1]
        return hook

    hooks = [model.fusion.inp.register_forward_hook(record("refine")),
             model.fusion.score[1].register_forward_hook(record("score"))]
    with torch.no_grad():
        out = model.fusion(torch.rand(1, 2, 4, 64, 64), torch.rand(1, 2, 1, 64, 64), torch.rand(1, 4, 64, 64))
    for h in hooks:
        h.remove()
    assert seen == {"refine": 64 // refine_scale, "score": 64 // score_scale}
    assert out.shape == (1, 4, 64, 64)


def test_bad_lookup_configs_are_named():
    for key, value in (("score_scale", 3), ("refine_scale", 0), ("activation", "gelu")):
        cfg = get_config("conr-rt").to_dict()
        cfg["lookup"][key] = value
        with pytest.raises(ConfigError, match=f"lookup.{key}"):
            get_config(cfg)
    cfg = get_config("conr-rt").to_dict()
    cfg["lookup"]["grid"] = 2
    with pytest.raises(ConfigError, match="lookup.grid"):
        get_config(cfg)
    cfg = get_config("conr-rt").to_dict()
    cfg["sheet_encoder"]["decoder_filters"] = []
    with pytest.raises(ConfigError, match="U-Net head"):
        get_config(cfg)
