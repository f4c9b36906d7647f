"""The backend ABC and registry.

A backend runs the per-frame part of CoNR (pose encoder + collaborative
decoder + RGBA decoder) against a cached sheet. The sheet itself is always
encoded by the torch model (once per character), so every backend is built
from a loaded ``CoNR`` model.

Registry by short name; ``auto`` picks the first available of
``PREFERENCE`` (fastest first, as measured). TensorRT registers itself as ``tensorrt``
from ``tensorrt_backend.py`` when that lands; it is already first in line.
Some backends run only some models (``Backend.supports``: ``gl-lookup`` takes
lookup-architecture models); given the model, ``auto`` skips the others and
uses ``LOOKUP_PREFERENCE`` for lookup models.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import ClassVar, Sequence

import numpy as np

from conrt.errors import BackendUnavailable, ConfigError, InputError

from ..conr_v1 import CoNR
from ..sheet import Matting, SheetCache, encode_sheet, finish_frame, prepare_udp

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type["Backend"]] = {}
# fastest first. On CPU the torch backend (channels_last) measured as fast as or
# faster than ONNX Runtime for conr-paper and the small configs in most cases
# (benchmarks/network_bench.py, docs/network.md) and needs no export step.
PREFERENCE = ("tensorrt", "torch", "onnxruntime")
# lookup models (conr-rt): the GL lookup + ONNX Runtime fusion measured fastest
# on CPU (benchmarks/lookup_bench.py, docs/network.md "conr-rt speed");
# TensorRT, where it runs, keeps the whole frame on the GPU.
LOOKUP_PREFERENCE = ("tensorrt", "gl-lookup", "torch", "onnxruntime")


def register_backend(cls: type["Backend"]) -> type["Backend"]:
    _REGISTRY[cls.name] = cls
    return cls


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def available_backends(model=None) -> list[str]:
    """Available backends, preferred first; with ``model``, only those that run it."""
    lookup = getattr(getattr(model, "cfg", None), "architecture", None) == "lookup"
    order = LOOKUP_PREFERENCE if lookup else PREFERENCE
    names = [n for n in order if n in _REGISTRY] + [n for n in sorted(_REGISTRY) if n not in order]
    return [n for n in names if (model is None or _REGISTRY[n].supports(model)) and _REGISTRY[n].is_available()]


def get_backend_class(name: str, model=None) -> type["Backend"]:
    """The backend class by name; ``auto`` = the first of ``available_backends(model)``."""
    if name == "auto":
        avail = available_backends(model)
        if not avail:
            raise BackendUnavailable("no inference backend is available")
        name = avail[0]
    if name not in _REGISTRY:
        raise ConfigError(f"unknown backend {name!r}; valid: auto, {', '.join(backend_names())}")
    cls = _REGISTRY[name]
    if not cls.is_available():
        raise BackendUnavailable(f"backend {name!r} cannot run here: {cls.unavailable_reason()}")
    return cls


def create_backend(name: str, model: CoNR, **kwargs) -> "Backend":
    """A ready backend by name ('auto', 'torch', 'onnxruntime', ...) for a loaded model."""
    backend = get_backend_class(name, model)(**kwargs)
    backend.load(model)
    log.info("backend %s on %s", backend.name, backend.device)
    return backend


class Backend(ABC):
    """Per-frame CoNR inference with a cached character sheet."""

    name: ClassVar[str]

    def __init__(self):
        self.model: CoNR | None = None
        self.cache: SheetCache | None = None

    # -- capability ---------------------------------------------------------
    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """Whether this backend can run here (never raises)."""

    @classmethod
    def unavailable_reason(cls) -> str:
        return "not available"

    @classmethod
    def supports(cls, model) -> bool:
        """Whether this backend can run ``model`` (default: every model)."""
        return True

    @property
    @abstractmethod
    def device(self) -> str:
        """Where it runs, e.g. 'cpu'."""

    # -- lifecycle ----------------------------------------------------------
    @abstractmethod
    def load(self, model: CoNR) -> None:
        """Build the runtime for this model (export, compile, ...)."""

    def encode_sheet(self, images: Sequence, official: bool = False,
                     matting: Matting | None = None, size: int | None = None,
                     sheet_udp: Sequence | None = None) -> SheetCache:
        """Encode a character sheet with the torch model and make it current
        (``sheet_udp``: the views' own UDPs if known; see ``sheet.encode_sheet``)."""
        if self.model is None:
            raise ConfigError(f"{self.name}: load(model) first")
        cache = encode_sheet(self.model, images, official=official, matting=matting, size=size,
                             sheet_udp=sheet_udp)
        self.set_sheet(cache)
        return cache

    def set_sheet(self, cache: SheetCache) -> None:
        if self.model is not None and cache.config_name != self.model.cfg.name:
            raise InputError(f"sheet cache of config {cache.config_name!r} does not fit model "
                             f"{self.model.cfg.name!r}")
        self.cache = cache

    @abstractmethod
    def infer(self, udp: np.ndarray) -> np.ndarray:
        """(1,4,S,S) f32 prepared UDP -> (1,4,S,S) f32 premultiplied RGBA."""

    # whether infer_views is implemented: shading from exact sheet
    # correspondences (shaders.CorrespondencePass), lookup models only
    takes_views: ClassVar[bool] = False

    def infer_views(self, udp: np.ndarray, sampled: np.ndarray, cover: np.ndarray) -> np.ndarray:
        """(1,4,S,S) prepared UDP and the frame's sheet samples (sampled
        [1,M,4,S,S], cover [1,M,1,S,S]) -> (1,4,S,S) premultiplied RGBA:
        conr-rt's FusionNet alone, the correspondences already found."""
        raise ConfigError(f"backend {self.name!r} cannot shade from exact sheet correspondences; "
                          "use gl-lookup or torch")

    def prepare_views(self) -> None:
        """Get ready for ``infer_views`` with the current sheet (e.g. export a graph) before the first frame."""

    def shade_views(self, udp, sampled: np.ndarray, cover: np.ndarray) -> np.ndarray:
        """``shade`` with the correspondences given: ``sampled`` [M, 4, H, W]
        and ``cover`` [M, 1, H, W] for this UDP frame (H, W, 4) at the sheet's side."""
        if self.cache is None:
            raise InputError(f"{self.name}: no character sheet; call encode_sheet/set_sheet first")
        x, crop = prepare_udp(udp, self.cache.size, self.cache.official)
        m, s = self.cache.views, self.cache.size
        if crop is not None or sampled.shape != (m, 4, s, s) or cover.shape != (m, 1, s, s):
            raise InputError(f"{self.name}: sheet samples {tuple(sampled.shape)} / {tuple(cover.shape)} for a "
                             f"{udp.shape[1]}x{udp.shape[0]} frame do not fit the sheet ({m} views at {s} px)")
        return finish_frame(self.infer_views(x, np.ascontiguousarray(sampled[None], np.float32),
                                             np.ascontiguousarray(cover[None], np.float32)), crop)

    def shade(self, udp) -> np.ndarray:
        """One UDP frame (H,W,4) -> (H,W,4) f32 premultiplied RGBA, with the current sheet."""
        if self.cache is None:
            raise InputError(f"{self.name}: no character sheet; call encode_sheet/set_sheet first")
        x, crop = prepare_udp(udp, self.cache.size, self.cache.official)
        return finish_frame(self.infer(x), crop)
