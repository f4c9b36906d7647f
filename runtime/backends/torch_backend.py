"""The reference backend: the torch model itself, views batched into one
call per level, under ``inference_mode``, weights in channels_last (measured
faster on CPU: fewer layout reorders in oneDNN; see docs/network.md)."""
from __future__ import annotations

import numpy as np
import torch

from ..conr_v1 import CoNR
from ..sheet import SheetCache, render_prepared
from .base import Backend, register_backend


@register_backend
class TorchBackend(Backend):
    name = "torch"

    def __init__(self, threads: int | None = None, channels_last: bool = True):
        super().__init__()
        self.channels_last = channels_last
        if threads:
            torch.set_num_threads(threads)

    @classmethod
    def is_available(cls) -> bool:
        return True

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device) if self.model is not None else "cpu"

    def load(self, model: CoNR) -> None:
        if self.channels_last:
            # in place (no 720 MB copy of the paper model): the maths are unchanged
            model = model.to(memory_format=torch.channels_last)
        self.model = model.eval()

    def set_sheet(self, cache: SheetCache) -> None:
        super().set_sheet(cache)

    def infer(self, udp: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(udp, dtype=np.float32)).to(self.device)
        return render_prepared(self.model, x, self.cache).cpu().numpy()
