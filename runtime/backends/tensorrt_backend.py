"""The TensorRT backend (NVIDIA GPUs): the per-frame graph as a TensorRT 10 engine.

    backend = create_backend("tensorrt", model, precision="fp16")   # or "auto"
    backend.encode_sheet(images)      # sheet tensors go to the GPU once
    rgba = backend.shade(udp_frame)   # host path: UDP in, RGBA out
    # zero-copy path, with the UdpPass texture and a display texture:
    interop = backend.texture_interop(udp_pass, display_texture)
    interop.run()                     # per frame, no host copy

On ``set_sheet`` the graph is exported at the sheet's size (or taken from
``onnx_path``), built into an engine — or fetched from the engine cache
(``~/.cache/conrt/trt``) — with texture I/O, and the sheet tensors are
uploaded. The engine takes the UDP and gives RGBA in texture layout
([1, S, S, 4], rows in the UdpPass's ``rows`` order, top-first by default);
the host path reorders on the host, the interop path not at all.

Without the NVIDIA driver, TensorRT or pycuda, ``is_available()`` is False
(and logs why once per process: that is the line users see when ``auto``
falls back to ONNX Runtime), and asking for ``tensorrt`` explicitly raises
``BackendUnavailable`` naming what is missing and ``pip install conrt[gpu]``.
Nothing here imports TensorRT or pycuda at module import time.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from conrt.errors import ConfigError, InputError
from conrt.runtime.backends.gpu.build import RGBA_OUTPUT, UDP_INPUT, build_engine
from conrt.runtime.backends.gpu.engine import TrtEngine
from conrt.runtime.backends.gpu.engine_cache import PRECISIONS, EngineCache
from conrt.runtime.backends.gpu.interop import TextureInterop
from conrt.runtime.backends.gpu.profiles import MAX_VIEWS, make_profile
from conrt.runtime.backends.gpu.status import require_tensorrt, tensorrt_status
from conrt.runtime.backends.gpu.texture_io import GL_SUFFIX, ROW_ORDERS

from ..nn.conr_v1 import CoNR
from ..nn.lookup_net import LookupNet
from ..nn.model import ShaderNet
from ..nn.sheet import SheetCache
from .base import Backend, preference, register_backend, registered_backend
from .onnx_backend import export_onnx

__all__ = ["TensorRTBackend", "tensorrt_status"]

log = logging.getLogger(__name__)

_announced = False  # the "falling back" line is logged once per process


_DISPLAY_NAMES = {"torch": "the torch backend", "onnxruntime": "ONNX Runtime"}


def _auto_fallback(lookup: bool = False) -> str | None:
    """The backend 'auto' picks when TensorRT cannot run: the next available one
    by priority for CoNR (or, with ``lookup``, lookup) models (TensorRT left
    out, not probed again)."""
    for name in preference(LookupNet if lookup else CoNR, exclude=("tensorrt",)):
        if registered_backend(name).is_available():
            return name
    return None


def _announce_unavailable(reason: str) -> None:
    global _announced
    if _announced:
        return
    _announced = True
    fallback = _DISPLAY_NAMES.get(_auto_fallback(), "no other backend")
    lookup_fallback = _auto_fallback(lookup=True)
    if lookup_fallback != _auto_fallback():
        fallback += f" ({_DISPLAY_NAMES.get(lookup_fallback, lookup_fallback)} for lookup models such as conr-rt)"
    # Logged from is_available(), the only hook the registry gives; worded so
    # it is also true when 'tensorrt' was asked for explicitly (an error follows).
    log.debug("TensorRT backend unavailable (%s); backend 'auto' will use %s", reason, fallback)


@register_backend
class TensorRTBackend(Backend):
    """Per-frame CoNR as a TensorRT engine on one CUDA device."""

    name = "tensorrt"
    priority = 100  # keeps the whole frame on the GPU wherever it runs
    max_views = MAX_VIEWS  # the optimisation profile's default upper bound

    def __init__(self, onnx_path=None, precision: str = "fp16", views=(1, MAX_VIEWS), cache_dir=None,
                 cuda_device: int = 0, workspace_gb: float = 4.0, rows: str = "top-first"):
        super().__init__()
        if precision not in PRECISIONS:
            raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if rows not in ROW_ORDERS:
            raise ConfigError(f"unknown row order {rows!r}; choose one of {', '.join(ROW_ORDERS)}")
        self.rows = rows  # must match the UdpPass feeding the interop path
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self.precision = precision
        self.views = views
        if isinstance(views, (int, tuple, list)) and views:  # a wider profile takes more views
            self.max_views = int(views if isinstance(views, int) else max(views))
        self.engine_cache = EngineCache(cache_dir)
        self.cuda_device = int(cuda_device)
        self.workspace_gb = workspace_gb
        self.engine = None
        self.engine_path: Path | None = None
        self._size: int | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # -- capability -------------------------------------------------------------
    @classmethod
    def is_available(cls) -> bool:
        ok, reason = tensorrt_status()
        if not ok:
            _announce_unavailable(reason)
        return ok

    @classmethod
    def unavailable_reason(cls) -> str:
        return tensorrt_status()[1]

    @classmethod
    def reset_probe(cls) -> None:
        """Probe the machine again (after installing the driver/TensorRT; tests)."""
        global _announced
        _announced = False
        tensorrt_status(refresh=True)

    @property
    def device(self) -> str:
        return f"cuda:{self.cuda_device}"

    # -- lifecycle ----------------------------------------------------------------
    def load(self, model: ShaderNet) -> None:
        require_tensorrt(self.cuda_device)  # BackendUnavailable with the reason, before any work
        self.model = model.eval()

    def set_sheet(self, cache: SheetCache) -> None:
        super().set_sheet(cache)
        if self.engine is None or self._size != cache.size:
            self._open_engine(cache.size)
        feeds = cache.numpy_inputs()
        shapes = {UDP_INPUT + GL_SUFFIX: (1, cache.size, cache.size, 4)}
        shapes.update({k: v.shape for k, v in feeds.items()})
        self.engine.set_shapes(shapes)
        for name, array in feeds.items():  # once per character; they stay on the device
            self.engine.upload(name, array)
        self.engine.synchronize()

    def _open_engine(self, size: int) -> None:
        path = self.onnx_path
        if path is None or not path.exists():
            self._tmp = tempfile.TemporaryDirectory(prefix="conrt-trt-")
            path = export_onnx(self.model, Path(self._tmp.name) / f"{self.model.cfg.name}-{size}.onnx", size)
        profile = make_profile(views=self.views, sizes=[size], size_multiple=self.model.cfg.size_multiple)
        self.engine_path = build_engine(path, precision=self.precision, profile=profile, cache=self.engine_cache,
                                        rows=self.rows, device=self.cuda_device, workspace_gb=self.workspace_gb)
        if self.engine is not None:
            self.engine.release()
        self.engine = TrtEngine(self.engine_path.read_bytes(), self.cuda_device)
        self._size = size

    def infer(self, udp: np.ndarray) -> np.ndarray:
        if self.engine is None:
            raise InputError(f"{self.name}: no character sheet; call encode_sheet/set_sheet first")
        if udp.shape != (1, 4, self._size, self._size):
            raise InputError(f"udp must be (1, 4, {self._size}, {self._size}), got {udp.shape}")
        # Host path: reorder to the engine's texture layout (HWC, rows as
        # self.rows) and back; the prepared UDP has row 0 = top.
        step = -1 if self.rows == "gl" else 1
        self.engine.upload(UDP_INPUT + GL_SUFFIX, udp[0].transpose(1, 2, 0)[::step][None])
        self.engine.execute()
        out = self.engine.download(RGBA_OUTPUT + GL_SUFFIX)  # (1, S, S, 4)
        return np.ascontiguousarray(out[:, ::step].transpose(0, 3, 1, 2))

    def texture_interop(self, udp, rgba_texture):
        """A ``TextureInterop`` running this engine from the UDP texture into
        ``rgba_texture`` (both RGBA32F, sheet size) with no host copy.

        ``udp``: a ``UdpPass`` (its row order is checked against the
        engine's) or its texture."""
        if self.engine is None:
            raise InputError(f"{self.name}: set a character sheet before creating the interop")
        rows = getattr(udp, "rows", None)
        if rows is not None and rows != self.rows:
            raise ConfigError(f"the UdpPass writes rows={rows!r} but this engine was built for rows={self.rows!r}; "
                              f"create the backend with rows={rows!r}")
        texture = getattr(udp, "texture", udp)
        return TextureInterop(self.engine, texture, rgba_texture)

    def release(self) -> None:
        if self.engine is not None:
            self.engine.release()
            self.engine = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def close(self) -> None:
        self.release()
        super().close()
