"""Configs as data: every shipped config builds, trains (autograd) and validates."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from conrt.errors import ConfigError
from conrt.runtime.nn.config import CoNRConfig, get_config, list_configs
from conrt.runtime.nn.model import create_model

SMALL = [n for n in list_configs() if n != "conr-paper"]


def test_shipped_configs():
    assert {"conr-paper", "conr-s", "conr-xs"} <= set(list_configs())
    paper = get_config("conr-paper")
    # the dataclass defaults are the published layout
    assert dataclasses.replace(paper, description="") == CoNRConfig()
    assert paper.size_multiple == 128 and paper.levels == 5


@pytest.mark.parametrize("name", SMALL)
def test_small_config_trains_with_autograd(name):
    """(N, M, ...) batches through the full forward, gradients reach every part."""
    torch.manual_seed(0)
    model = create_model(name).train()
    cfg = model.cfg
    s = max(cfg.size_multiple, 64)  # instance norm needs more than 1x1 at the coarsest level
    rgb = torch.rand(2, 2, 3, s, s)
    mask = (torch.rand(2, 2, 1, s, s) > 0.5).float()
    udp = torch.rand(2, 4, s, s)
    out = model(rgb, mask, udp)
    assert out.shape == (2, 4, s, s)
    out.mean().backward()
    # the lookup variant's sheet encoder learns from its UDP head only (the table is binned, no gradient)
    for part in model.FRAME_PARTS if cfg.architecture == "lookup" else model.PARTS:
        grads = [p.grad for n, p in getattr(model, part).named_parameters()
                 if not n.startswith(("upsample_blocks", "final_conv"))]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), part
    # the U-Net heads exist for training (UDP loss on the parser)
    assert model.udpparsernet.decode(model.udpparsernet(rgb[:, 0])).shape == (2, 4, s, s)


@pytest.mark.parametrize("name", SMALL)
def test_small_configs_are_much_smaller(name):
    n = sum(p.numel() for p in create_model(name).parameters())
    assert n < 180_403_745 / 20


def test_config_json_roundtrip_and_errors(tmp_path):
    cfg = get_config("conr-s")
    path = tmp_path / "c.json"
    path.write_text(cfg.to_json())
    assert get_config(str(path)) == cfg
    with pytest.raises(ConfigError, match="valid: conr-paper"):
        get_config("conr-huge")
    bad = json.loads(cfg.to_json())
    bad["cinn"]["messages"] = bad["cinn"]["messages"][:-1]
    with pytest.raises(ConfigError, match="messages needs"):
        get_config(bad)
    bad = json.loads(cfg.to_json())
    bad["cinn"]["flow_groups"] = 5
    with pytest.raises(ConfigError, match="multiple of flow_groups"):
        get_config(bad)
    with pytest.raises(ConfigError, match="unknown CinnConfig keys"):
        get_config({"cinn": {"width": 3}})
