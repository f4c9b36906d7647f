"""The shader-network interface and the architecture registry: a toy
architecture registered here with one line runs through create_model, the
torch path (encode_sheet / shade), every backend that takes it, and our
weights file; callers ask the network, never its architecture's name."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conrt.errors import ConfigError
from conrt.runtime import CoNR, CoNRConfig, ShaderNet, architecture_names, create_model, register_model
from conrt.runtime.nn import sheet as sh
from conrt.runtime.backends import available_backends, create_backend
from conrt.runtime.nn.checkpoint import load_weights, save_weights
from conrt.runtime.nn.lookup_net import LookupNet

REPO = Path(__file__).resolve().parents[2]


class ToyNet(ShaderNet):
    """The views' mean colours, tinted per pixel by a 1x1 conv of the UDP."""

    architecture = "toy-test"
    PARTS = FRAME_PARTS = ("tint",)

    def __init__(self, cfg: CoNRConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.tint = nn.Conv2d(4, 3, 1)

    def encode_sheet(self, rgb, mask, sheet_udp=None):
        mean = torch.cat([rgb, mask], 2).mean((-1, -2), keepdim=True)  # [N, M, 4, 1, 1]
        return [mean], torch.cat([rgb * mask, mask], 2)

    def encode_pose(self, udp):
        return [udp]

    def render(self, pose_feats, reference, sheet_feats, return_features=False):
        udp = pose_feats[0]
        colour = sheet_feats[0].mean(1)[:, :3]  # [N, 3, 1, 1]
        colour = (colour + reference.mean((1, 3, 4))[:, :3, None, None]) / 2
        a = udp[:, 3:4]
        rgba = torch.cat([torch.sigmoid(self.tint(udp)) * colour * a, a], 1)
        return (rgba, None) if return_features else rgba


register_model(ToyNet)  # the one registration line

TOY = {"name": "toy-1", "architecture": "toy-test", "image_size": 64}


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    return create_model(TOY).eval()


def _sheet(side=64, views=2):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(views):
        img = np.zeros((side, side, 4), np.uint8)
        img[8:56, 16:48, :3] = rng.integers(0, 255, 3)
        img[8:56, 16:48, 3] = 255
        out.append(img)
    return out


def _udp(side=64):
    udp = np.zeros((side, side, 4), np.float32)
    yy, xx = np.mgrid[0:side, 0:side] / side
    udp[10:50, 20:44, 0], udp[10:50, 20:44, 1] = xx[10:50, 20:44], yy[10:50, 20:44]
    udp[10:50, 20:44, 2], udp[10:50, 20:44, 3] = 0.5, 1.0
    return udp


def test_registry_lists_and_builds_the_architectures(toy):
    assert {"conr", "lookup", "toy-test"} <= set(architecture_names())
    assert isinstance(toy, ToyNet) and toy.cfg.architecture == "toy-test"
    assert isinstance(create_model("conr-xs"), CoNR) and isinstance(create_model("conr-rt"), LookupNet)
    assert toy.cfg.levels == 1 and toy.cfg.size_multiple == 1  # the interface's defaults
    with pytest.raises(ConfigError, match=r"unknown architecture 'nope'; valid: .*conr.*lookup"):
        create_model({"name": "x", "architecture": "nope"})
    with pytest.raises(ConfigError, match="already registered"):
        register_model(type("Other", (ToyNet,), {}))


def test_networks_say_what_they_take():
    xs, rt = create_model("conr-xs"), create_model("conr-rt")
    assert not xs.takes_sheet_udp and not xs.takes_views and xs.has_official_baseline
    assert rt.takes_sheet_udp and rt.takes_views and not rt.has_official_baseline
    for model in (xs, rt):  # what the sheet cache holds, at 128 px with 3 views
        inputs = model.example_inputs(128, 3)
        assert [tuple(t.shape) for t in inputs[2:]] == model.sheet_tensor_shapes(128, 3)
        assert len(inputs) == 2 + model.cfg.levels


def test_toy_shades_through_the_torch_path_and_every_backend(toy):
    images, udp = _sheet(), _udp()
    cache = sh.encode_sheet(toy, images)
    want = sh.shade(toy, udp, cache)
    assert want.shape == (64, 64, 4) and want[..., 3].max() == 1.0 and np.abs(want[..., :3]).max() > 0.05
    names = available_backends(toy)
    assert "torch" in names and "onnxruntime" in names and "gl-lookup" not in names
    for name in names:
        with create_backend(name, toy) as backend:
            backend.encode_sheet(images)
            got = backend.shade(udp)
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=name)


def test_toy_weights_round_trip(toy, tmp_path):
    path = save_weights(toy, tmp_path / "toy.safetensors")
    back = load_weights(path)
    assert isinstance(back, ToyNet) and back.cfg == toy.cfg
    torch.testing.assert_close(back.tint.weight, toy.tint.weight)


def test_no_architecture_string_branching_outside_the_registry():
    """Callers ask the network (takes_sheet_udp, takes_views, ...), not its name."""
    pattern = re.compile(r"architecture\s*(==|!=|in\b)")
    hits = []
    for folder in ("runtime", "training", "conrt", "shaders", "engine_bridge", "physics", "characters"):
        for path in (REPO / folder).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) and "self.architecture" not in line:
                    hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)
