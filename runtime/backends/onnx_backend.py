"""ONNX export of the per-frame graph, and the ONNX Runtime backend (CPU default).

The exported graph takes the prepared UDP and the cached sheet tensors and
returns premultiplied RGBA:

    inputs   udp              [1, 4, S, S]           f32 xyz + visibility, 0..1
             reference        [1, views, 4, S, S]    f32 cat(a * rgb_premul, a)
             sheet_feature_i  [1, views, C_i, h_i, w_i] f32, i = 0..L-1 coarse to fine
    output   rgba             [1, 4, S, S]           f32 premultiplied

``views`` is a dynamic axis; the side S is fixed at export (the feature sizes
follow from it). Opset 17, warps are ``GridSample``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from conrt.errors import BackendUnavailable, InputError

from ..nn.model import ShaderNet
from ..nn.sheet import SheetCache
from .base import Backend, register_backend
from .cache import GraphCache

log = logging.getLogger(__name__)

OPSET = 17
FORMAT_VERSION = 3  # bump when the exported graph changes (invalidates cached graphs); 3: conr-rt's table_fusion


def input_names(model: ShaderNet) -> list[str]:
    return ["udp", "reference"] + [f"sheet_feature_{i}" for i in range(model.cfg.levels)]


def example_inputs(model: ShaderNet, size: int, views: int = 2) -> tuple[torch.Tensor, ...]:
    """Random inputs of the right shapes (for export and tests): ``ShaderNet.example_inputs``."""
    return model.example_inputs(size, views)


# torch.onnx.export is not thread-safe: a graph exported in the background (gl-lookup's band
# graphs, on a backend's export thread that outlives the backend) beside another export in
# the process failed inside the exporter (AssertionError in torchscript_exporter/utils.py;
# seen running tests/runtime/test_fusion_band.py then test_gl_lookup_backend.py). Every
# export of this package takes it: one at a time.
EXPORT_LOCK = threading.Lock()


def export_onnx(model: ShaderNet, path, size: int | None = None, views: int = 2, phase_deconvs: bool = True) -> Path:
    """Write the per-frame graph of ``model`` at side ``size`` to ``path`` (ONNX, opset 17)."""
    size = size or model.cfg.image_size
    if size % model.cfg.size_multiple:
        raise InputError(f"export size {size} is not a multiple of {model.cfg.size_multiple} "
                         f"(config {model.cfg.name})")
    path = Path(path)
    names = input_names(model)
    dynamic = {n: {1: "views"} for n in names[1:]}
    with EXPORT_LOCK, torch.no_grad(), warnings.catch_warnings():
        # the static sides become constants (TracerWarning); that is intended
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval().frame_graph(phase_deconvs), example_inputs(model, size, views), str(path),
                          input_names=names, output_names=["rgba"], dynamic_axes=dynamic,
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    log.info("exported %s (%s, %dx%d) to %s", model.cfg.name, "views dynamic", size, size, path)
    return path


def open_session(path, threads: int | None = None, providers=None):
    """An ONNX Runtime session for ``path`` as every conrt backend runs one: full
    graph optimisation, ``threads`` intra-op threads (None: ORT's default), and
    no busy-waiting between runs: a spinning pool steals the cores from
    everything else in the frame (torch, GL, the engine) - measured 10-30x
    slowdowns of torch in the same process on 2 cores."""
    import onnxruntime as ort  # lazy: only when this backend runs

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=providers)


def weights_fingerprint(model: ShaderNet) -> str:
    """A short hash of the config and every tensor's shape, sum and first/last values."""
    h = hashlib.sha1(model.cfg.to_json().encode())
    h.update(f"{OPSET}-{FORMAT_VERSION}".encode())
    with torch.no_grad():
        for k, v in model.state_dict().items():
            flat = v.detach().reshape(-1).float()
            h.update(k.encode())
            h.update(np.asarray(list(v.shape), np.int64).tobytes())
            h.update(np.float64(flat.double().sum().item()).tobytes())
            h.update(flat[:8].cpu().numpy().tobytes() + flat[-8:].cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@register_backend
class OnnxRuntimeBackend(Backend):
    """Runs the exported per-frame graph with ONNX Runtime (CPU by default)."""

    name = "onnxruntime"
    priority = 40

    def __init__(self, onnx_path=None, providers=None, threads: int | None = None):
        super().__init__()
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self.providers = providers or ["CPUExecutionProvider"]
        if isinstance(self.providers, str):
            self.providers = [self.providers]
        self.threads = threads
        self.session = None
        self._size = None
        self.graphs = GraphCache("onnx")

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec("onnxruntime") is not None

    @classmethod
    def unavailable_reason(cls) -> str:
        return "the `onnxruntime` package is not installed (pip install onnxruntime)"

    @property
    def device(self) -> str:
        return "cpu" if self.providers[0] == "CPUExecutionProvider" else self.providers[0]

    def load(self, model: ShaderNet) -> None:
        self.model = model.eval()
        if self.onnx_path is not None and self.onnx_path.exists():
            self._open(self.onnx_path)

    def _open(self, path: Path) -> None:
        try:
            self.session = open_session(path, self.threads, self.providers)
        except ImportError as exc:
            raise BackendUnavailable(self.unavailable_reason()) from exc
        shape = self.session.get_inputs()[0].shape
        self._size = shape[-1] if isinstance(shape[-1], int) else None

    def set_sheet(self, cache: SheetCache) -> None:
        super().set_sheet(cache)
        if self.session is None or self._size != cache.size:
            # export lazily at the sheet's size (the graph's side is fixed)
            path = self.onnx_path
            if path is None or path.exists():
                path = self._cached_graph(cache.size)
            else:  # the caller's path, not there yet: written once, there
                export_onnx(self.model, path.with_suffix(".part"), cache.size)
                path.with_suffix(".part").replace(path)  # never leave a half-written graph
            self._open(path)
        self._feeds = cache.numpy_inputs()

    def _cached_graph(self, size: int) -> Path:
        """The exported graph of this model at this size, keyed by the config,
        the size and a fingerprint of the weights, in the graph cache
        (runtime/backends/cache.py), so repeated runs (``conrt shade``) export only once."""
        name = f"{self.model.cfg.name}-{size}-{weights_fingerprint(self.model)}.onnx"
        return self.graphs.get(name, lambda part: export_onnx(self.model, part, size))

    def infer(self, udp: np.ndarray) -> np.ndarray:
        feeds = dict(self._feeds)
        feeds["udp"] = np.ascontiguousarray(udp, dtype=np.float32)
        return self.session.run(["rgba"], feeds)[0]

    def close(self) -> None:
        self.session = None
        self._size = None
        self.graphs.close()
        super().close()
