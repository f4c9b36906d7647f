"""Untrained models whose fusion is visible: the zero-initialised refinement output layer
would otherwise hide the whole U-Net (and with it every rule that chooses between the
fused colour and the refinement's)."""
from __future__ import annotations

import torch

from conrt.runtime.nn.model import create_model


def nudged_model(config: str = "conr-rt", seed: int = 1):
    """``config`` with untrained weights (torch seed 0), every fusion parameter nudged by
    N(0, 0.05) drawn from ``seed``."""
    torch.manual_seed(0)
    model = create_model(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.fusion.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model
