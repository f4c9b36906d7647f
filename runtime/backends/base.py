"""The backend ABC and registry.

A backend runs the per-frame part of a shader network against a cached
sheet. The sheet itself is always encoded by the torch model (once per
character), so every backend is built from a loaded ``ShaderNet``.

Registry by short name (``@register_backend``); ``auto`` picks the available
backend of highest ``priority`` among those that run the model
(``Backend.supports``: ``gl-lookup`` takes lookup-architecture models only).
Options reach a backend as keyword arguments (``create_backend(name, model,
threads=2)``, ``--backend-opt threads=2``); unknown ones are refused with the
valid ones named. A backend holds threads, contexts or sessions: ``close()``
it, or use it as a context manager.
"""
from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from typing import ClassVar, Sequence

import numpy as np

from conrt.errors import BackendUnavailable, ConfigError, InputError

from ..limits import check_sheet_views
from ..nn.model import ShaderNet
from ..nn.sheet import Matting, SheetCache, encode_sheet, finish_frame, prepare_udp

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type["Backend"]] = {}


def register_backend(cls: type["Backend"]) -> type["Backend"]:
    """Class decorator: register a backend under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def registered_backend(name: str) -> type["Backend"]:
    """The registered class of that name, availability not probed (``ConfigError`` if none)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown backend {name!r}; valid: auto, {', '.join(backend_names())}")
    return _REGISTRY[name]


def preference(model=None, exclude: Sequence[str] = (), views: int | None = None) -> list[str]:
    """Registered backends that run ``model`` (and take ``views`` sheet views),
    highest ``priority`` first, availability not probed. ``model`` may be a
    network or its class; without one, every backend, those that run only some
    models last."""
    classes = [c for n, c in _REGISTRY.items() if n not in exclude]
    if model is not None:
        classes = [c for c in classes if c.supports(model)]
    if views is not None:
        classes = [c for c in classes if c.max_views is None or views <= c.max_views]
    return [c.name for c in sorted(classes, key=lambda c: (model is None and not c.supports(None), -c.priority,
                                                           c.name))]


def available_backends(model=None, views: int | None = None) -> list[str]:
    """Available backends, preferred first; with ``model``, only those that run it
    (with ``views``, only those that take that many sheet views)."""
    return [n for n in preference(model, views=views) if _REGISTRY[n].is_available()]


def get_backend_class(name: str, model=None, views: int | None = None) -> type["Backend"]:
    """The backend class by name; ``auto`` = the first of ``available_backends(model, views)``.
    A named backend that cannot take ``views`` sheet views is an ``InputError`` naming its limit."""
    if name == "auto":
        avail = available_backends(model, views)
        if not avail:
            raise BackendUnavailable("no inference backend is available"
                                     + (f" for {views} sheet views" if views is not None else ""))
        name = avail[0]
    cls = registered_backend(name)
    if not cls.is_available():
        raise BackendUnavailable(f"backend {name!r} cannot run here: {cls.unavailable_reason()}")
    if views is not None:
        check_sheet_views(views, cls.name, cls.max_views, model)
    return cls


def create_backend(name: str, model: ShaderNet, *, sheet_views: int | None = None, **options) -> "Backend":
    """A ready backend by name ('auto', 'torch', 'onnxruntime', ...) for a loaded
    model; ``sheet_views``: the views of the sheet it will get, if known (``auto``
    then skips backends that cannot take them); ``options``: the backend's own
    (``Backend.option_names()``)."""
    cls = get_backend_class(name, model, sheet_views)
    cls.check_options(options)
    backend = cls(**options)
    try:
        backend.load(model)
    except BaseException:
        backend.close()
        raise
    backend.source_model = model
    log.info("backend %s on %s", backend.name, backend.device)
    return backend


class Backend(ABC):
    """Per-frame inference of a shader network with a cached character sheet."""

    name: ClassVar[str]
    # ``auto`` takes the available backend of highest priority that runs the
    # model (as measured: docs/network.md, benchmarks/network_bench.py,
    # benchmarks/lookup_bench.py)
    priority: ClassVar[int] = 0
    # most sheet views it takes (None: as many as a sheet has; runtime/limits.py)
    max_views: ClassVar[int | None] = None

    def __init__(self):
        self.model: ShaderNet | None = None  # what runs (may be a faster copy of the given model)
        self.source_model: ShaderNet | None = None  # the model as given to create_backend
        self.cache: SheetCache | None = None

    # -- options --------------------------------------------------------------
    @classmethod
    def option_names(cls) -> list[str]:
        """The options this backend takes (its constructor's keyword arguments)."""
        params = inspect.signature(cls.__init__).parameters.values()
        return [p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @classmethod
    def check_options(cls, options: dict) -> None:
        unknown = sorted(set(options) - set(cls.option_names()))
        if unknown:
            raise ConfigError(f"backend {cls.name!r} has no option {', '.join(map(repr, unknown))}; "
                              f"valid: {', '.join(cls.option_names()) or 'none'}")

    # -- release --------------------------------------------------------------
    def close(self) -> None:
        """Free what the backend holds (threads, contexts, sessions, temporary
        files). Idempotent; the backend cannot shade afterwards."""
        self.cache = None

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
        """Whether this backend can run ``model`` (a network or its class; None:
        whether it runs every model). Default: every model."""
        return True

    @property
    @abstractmethod
    def device(self) -> str:
        """Where it runs, e.g. 'cpu'."""

    # -- lifecycle ----------------------------------------------------------
    @abstractmethod
    def load(self, model: ShaderNet) -> None:
        """Build the runtime for this model (export, compile, ...)."""

    def encode_sheet(self, images: Sequence, official: bool = False,
                     matting: Matting | None = None, size: int | None = None,
                     sheet_udp: Sequence | None = None, look_from: Sequence | None = None,
                     look_udps: Sequence | None = None) -> SheetCache:
        """Encode a character sheet with the torch model and make it current
        (``sheet_udp``: the views' own UDPs if known; ``look_from``, ``look_udps``: the views
        as drawn and their UDPs, for the look, when ``images`` are re-framed; see
        ``sheet.encode_sheet``)."""
        if self.model is None:
            raise ConfigError(f"{self.name}: load(model) first")
        views = 1 if isinstance(images, np.ndarray) and images.ndim == 3 else len(images)
        check_sheet_views(views, self.name, self.max_views, self.model)  # before the encoder runs
        cache = encode_sheet(self.model, images, official=official, matting=matting, size=size,
                             sheet_udp=sheet_udp, look_from=look_from, look_udps=look_udps)
        self.set_sheet(cache)
        return cache

    def set_sheet(self, cache: SheetCache) -> None:
        if self.model is not None and cache.config_name != self.model.cfg.name:
            raise InputError(f"sheet cache of config {cache.config_name!r} does not fit model "
                             f"{self.model.cfg.name!r}")
        check_sheet_views(cache.views, self.name, self.max_views, self.model)
        self.cache = cache

    @abstractmethod
    def infer(self, udp: np.ndarray) -> np.ndarray:
        """(1,4,S,S) f32 prepared UDP -> (1,4,S,S) f32 premultiplied RGBA."""

    # whether infer_views is implemented: shading from exact sheet
    # correspondences (shaders.CorrespondencePass), lookup models only
    takes_views: ClassVar[bool] = False
    # whether shade_views may run on two threads at once (the frame loop's shade_workers=2)
    concurrent_views: ClassVar[bool] = False

    def infer_views(self, udp: np.ndarray, sampled: np.ndarray, cover: np.ndarray,
                    gbuf: np.ndarray | None = None) -> np.ndarray:
        """(1,4,S,S) prepared UDP and the frame's sheet samples (sampled
        [1,M,4,S,S], cover [1,M,1,S,S]; ``gbuf`` [1,2,S,S] the target's G-buffer,
        ``CorrespondencePass.read_gbuf``: where an inked look draws the target's lines;
        None: on its edges, the rule before session 13) -> (1,4,S,S) premultiplied RGBA:
        conr-rt's FusionNet alone, the correspondences already found."""
        raise ConfigError(f"backend {self.name!r} cannot shade from exact sheet correspondences; "
                          "use gl-lookup or torch")

    def prepare_views(self) -> None:
        """Get ready for ``infer_views`` with the current sheet (e.g. export a graph) before the first frame."""

    def wait_for_exports(self) -> None:
        """Block until the graphs this backend exports in the background are ready (``conrt bench``
        before its timed frames: a one-time export is not a frame's cost). Default: none."""

    def infer_read(self, udp: np.ndarray, read) -> np.ndarray:
        """``infer_views`` from the correspondence pass's read-back as it came
        (``shaders.correspondence_pass.ViewsRead``): laid out whole here; a backend
        that needs only part of it (the banded fusion) lays out that part."""
        sampled, cover = read.arrays()
        gbuf = None if read.gbuf is None else read.gbuf_columns(0, read.width)[None]
        return self.infer_views(udp, sampled[None], cover[None], gbuf)

    def _views_frame(self, udp, sampled_shape: tuple, cover_shape: tuple):
        """The UDP frame prepared for ``infer_views`` -> (x, crop), or an InputError when the
        sheet samples' shapes do not fit the sheet at this frame's size."""
        if self.cache is None:
            raise InputError(f"{self.name}: no character sheet; call encode_sheet/set_sheet first")
        x, crop = prepare_udp(udp, self.cache.size, self.cache.official)
        m, s = self.cache.views, self.cache.size
        if crop is not None or tuple(sampled_shape) != (m, 4, s, s) or tuple(cover_shape) != (m, 1, s, s):
            raise InputError(f"{self.name}: sheet samples {tuple(sampled_shape)} / {tuple(cover_shape)} for a "
                             f"{udp.shape[1]}x{udp.shape[0]} frame do not fit the sheet ({m} views at {s} px)")
        return x, crop

    def shade_views(self, udp, sampled: np.ndarray, cover: np.ndarray, gbuf: np.ndarray | None = None) -> np.ndarray:
        """``shade`` with the correspondences given: ``sampled`` [M, 4, H, W]
        and ``cover`` [M, 1, H, W] for this UDP frame (H, W, 4) at the sheet's side (``gbuf``
        [2, H, W]: the target's G-buffer, ``CorrespondencePass.read_gbuf``, as ``infer_views``)."""
        x, crop = self._views_frame(udp, sampled.shape, cover.shape)
        if gbuf is not None and tuple(np.shape(gbuf)) != (2, *sampled.shape[-2:]):
            raise InputError(f"{self.name}: the target's G-buffer is {tuple(np.shape(gbuf))}, expected "
                             f"(2, {sampled.shape[-2]}, {sampled.shape[-1]})")
        return finish_frame(self.infer_views(x, np.ascontiguousarray(sampled[None], np.float32),
                                             np.ascontiguousarray(cover[None], np.float32),
                                             None if gbuf is None else np.ascontiguousarray(gbuf[None], np.float32)),
                            crop)

    def shade_read(self, udp, read) -> np.ndarray:
        """``shade_views`` with the correspondence pass's read-back (``ViewsRead``), laid out by
        the backend's ``infer_read`` (as much as it needs)."""
        m, h, w = read.views, read.height, read.width
        x, crop = self._views_frame(udp, (m, 4, h, w), (m, 1, h, w))
        return finish_frame(self.infer_read(x, read), crop)

    def shade(self, udp) -> np.ndarray:
        """One UDP frame (H,W,4) -> (H,W,4) f32 premultiplied RGBA, with the current sheet."""
        if self.cache is None:
            raise InputError(f"{self.name}: no character sheet; call encode_sheet/set_sheet first")
        x, crop = prepare_udp(udp, self.cache.size, self.cache.official)
        return finish_frame(self.infer(x), crop)
