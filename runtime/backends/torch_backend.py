"""The reference backend: the torch model itself, views batched into one
call per level, under ``inference_mode``, weights in channels_last (measured
faster on CPU: fewer layout reorders in oneDNN; see docs/network.md), and the
collaborative decoder's big 3x3 convs and transposed convs computed with
Winograd F(4x4, 3x3) (``runtime/nn/fast_conv.py``: same maths, ~4x fewer multiplies)."""
from __future__ import annotations

import copy

import numpy as np
import torch

from ..nn.conr_v1 import CoNR
from ..nn.model import ShaderNet
from ..nn.fast_cinn import FastCINN
from ..nn.fast_conv import with_winograd
from ..nn.sheet import render_prepared
from .base import Backend, register_backend


def _per_frame_channels_last(model: CoNR) -> CoNR:
    """A CoNR sharing the caller's sheet encoder, with channels_last copies of
    the per-frame parts. The caller's model is left as it is (its layout
    changes float rounding, ~1e-4 deep in the ResNet-50 sheet encoder)."""
    out = copy.copy(model)
    out._modules = dict(model._modules)
    for part in model.FRAME_PARTS:
        out._modules[part] = copy.deepcopy(getattr(model, part)).to(memory_format=torch.channels_last)
    return out


def _fast_shader(model: CoNR, copied: bool, winograd: bool, split: bool) -> CoNR:
    """``model`` with a faster collaborative decoder, same maths: Winograd
    layers (``fast_conv``) and/or the view-shared inputs computed once per
    frame (``fast_cinn.FastCINN``). ``copied``: ``model`` is already this
    backend's private copy, so its shader may be changed in place; otherwise it
    is copied (the caller's model and its official state-dict layout are never
    touched)."""
    out = copy.copy(model)
    out._modules = dict(model._modules)
    shader = model.shader if copied else copy.deepcopy(model.shader)
    if winograd:
        shader = with_winograd(shader)
    out._modules["shader"] = FastCINN(shader) if split else shader
    return out


@register_backend
class TorchBackend(Backend):
    name = "torch"
    priority = 50  # on CPU as fast as or faster than ONNX Runtime for CoNR configs, no export (docs/network.md)

    def __init__(self, threads: int | None = None, channels_last: bool = True, winograd: bool = True,
                 split_shared: bool = True):
        super().__init__()
        self.channels_last = channels_last
        self.winograd = winograd
        self.split_shared = split_shared
        if threads:
            torch.set_num_threads(threads)

    @classmethod
    def is_available(cls) -> bool:
        return True

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device) if self.model is not None else "cpu"

    def load(self, model: ShaderNet) -> None:
        original = model
        self.source_model = original  # as given (self.model may be a faster copy with swapped modules)
        if self.channels_last:
            model = _per_frame_channels_last(model)
        if (self.winograd or self.split_shared) and isinstance(model, CoNR):  # CoNR's collaborative decoder
            model = _fast_shader(model, model.shader is not original.shader, self.winograd, self.split_shared)
        self.model = model.eval()

    @property
    def takes_views(self) -> bool:
        return self.model is not None and self.model.takes_views

    def infer_views(self, udp: np.ndarray, sampled: np.ndarray, cover: np.ndarray,
                    gbuf: np.ndarray | None = None) -> np.ndarray:
        with torch.inference_mode():
            dev = self.device
            ink = self.cache.ink() if self.cache is not None else None
            shaded = self.cache.shaded() if self.cache is not None else None
            return self.model.render_views(torch.from_numpy(udp).to(dev), torch.from_numpy(sampled).to(dev),
                                           torch.from_numpy(cover).to(dev), None if ink is None else ink.to(dev),
                                           None if shaded is None else shaded.to(dev),
                                           None if gbuf is None else torch.from_numpy(gbuf).to(dev),
                                           None if self.cache is None else self.cache.sheet_ink()).cpu().numpy()

    def infer(self, udp: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(udp, dtype=np.float32)).to(self.device)
        return render_prepared(self.model, x, self.cache).cpu().numpy()
