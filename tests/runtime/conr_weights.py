"""The deterministic CoNR weight rule of the shared reference (weights.py),
so tests build the official state dicts without 721 MB of .pth files."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch

LAYOUT = Path(__file__).parents[1] / "fixtures" / "conr" / "conr_checkpoint_layout.json"
GOLDEN = Path(__file__).parents[1] / "fixtures" / "conr" / "golden_seed0_views2_128.npz"


def fill(key: str, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    shape = tuple(shape)
    if len(shape) >= 2:
        w = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
    elif key.endswith(".norm.weight"):
        w = 1.0 + 0.1 * rng.standard_normal(shape)
    elif key.endswith(".weight"):
        w = 0.25 + 0.05 * rng.standard_normal(shape)
    elif key.endswith(".bias"):
        w = 0.05 * rng.standard_normal(shape)
    else:
        raise ValueError(f"no rule for {key}")
    return w.astype(np.float32)


def layout() -> dict:
    return json.loads(LAYOUT.read_text())


def official_state_dicts(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """{file name (e.g. 'shader.pth'): {key: tensor}} for the four official files."""
    return {fname: {e["key"]: torch.from_numpy(fill(e["key"], e["shape"], seed)) for e in spec["keys"]}
            for fname, spec in layout()["files"].items()}
