"""Build TensorRT 10 engines from conrt's exported per-frame ONNX graph.

    path = build_engine("conr-frame.onnx", precision="fp16",
                        profile=make_profile(views=(1, 8), sizes=[256, 512]))

Steps: check the graph (``onnx_checks``: fails in seconds instead of after a
minutes-long build), give it texture I/O (``texture_io``: the UDP input and
RGBA output in GL layout, so interop is two pitched copies), then parse it
with ``trt.OnnxParser``, set FP16/FP32, one optimisation profile over the
view count and sizes, the device's timing cache (makes rebuilds fast), and
write the plan into the engine cache keyed by (ONNX hash, TensorRT version,
GPU, precision, profile). A cached plan is returned without building.

TensorRT and pycuda are imported inside the functions only; on a machine
without them every entry point raises ``BackendUnavailable`` saying why.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

from conrt.errors import BackendUnavailable, ConfigError
from conrt.runtime.backends.gpu.engine_cache import PRECISIONS, EngineCache, EngineKey, onnx_digest
from conrt.runtime.backends.gpu.onnx_checks import require_tensorrt_ready
from conrt.runtime.backends.gpu.profiles import SIZE_MULTIPLE, ProfileSpec, ShapeRange, input_ranges, make_profile
from conrt.runtime.backends.gpu.status import cuda_device_info, require_tensorrt
from conrt.runtime.backends.gpu.texture_io import add_texture_io

__all__ = [
    "BuildProgress", "prepare_graph", "graph_input_dims", "check_profile_fits_graph", "engine_key", "build_engine", "build_engine_cli",
    "DEFAULT_WORKSPACE_GB",
]

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE_GB = 4.0
UDP_INPUT, RGBA_OUTPUT = "udp", "rgba"  # names in conrt's per-frame export


# ---------------------------------------------------------------------------
# progress (pure; TensorRT's IProgressMonitor forwards to it)


class BuildProgress:
    """Turns TensorRT's nested phase/step callbacks into a few readable lines.

    TensorRT calls these from several threads and may report hundreds of
    steps; only top-level phases and each 10% of their steps are reported.
    ``cancel()`` makes the next ``step_complete`` return False, which asks
    TensorRT to abort the build.
    """

    def __init__(self, report: Callable[[str], None] | None = None, every_percent: int = 10):
        self.report = report or (lambda msg: log.info("%s", msg))
        self.every = max(1, int(every_percent))
        self._lock = threading.Lock()
        self._phases: dict[str, tuple[str | None, int, int]] = {}  # name -> (parent, steps, last pct)
        self._cancelled = False
        self._t0 = time.monotonic()
        self.lines: list[str] = []

    def _emit(self, msg: str) -> None:
        line = f"[TensorRT {time.monotonic() - self._t0:6.1f}s] {msg}"
        self.lines.append(line)
        self.report(line)

    def depth(self, name: str) -> int:
        d, parent = 0, self._phases.get(name, (None,))[0]
        while parent is not None and d < 32:
            d += 1
            parent = self._phases.get(parent, (None,))[0]
        return d

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        with self._lock:
            self._phases[phase_name] = (parent_phase or None, max(int(num_steps), 1), 0)
            if parent_phase is None:
                self._emit(f"{phase_name} ({num_steps} steps)")

    def step_complete(self, phase_name: str, step: int) -> bool:
        with self._lock:
            if self._cancelled:
                return False
            entry = self._phases.get(phase_name)
            if entry is not None and entry[0] is None:
                parent, steps, last = entry
                pct = min(100, (int(step) + 1) * 100 // steps)
                if pct // self.every > last // self.every:  # crossed the next 10% mark
                    self._phases[phase_name] = (parent, steps, pct)
                    self._emit(f"{phase_name}: {pct}%")
            return True

    def phase_finish(self, phase_name: str) -> None:
        with self._lock:
            entry = self._phases.pop(phase_name, None)
            if entry is not None and entry[0] is None:
                self._emit(f"{phase_name} done")

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True


def _trt_monitor(trt, progress: BuildProgress):
    """A ``trt.IProgressMonitor`` forwarding to ``progress`` (class made lazily:
    the base class only exists once TensorRT is imported)."""

    class _Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)  # pybind11 trampolines need the explicit call

        def phase_start(self, phase_name, parent_phase, num_steps):
            progress.phase_start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name, step):
            return progress.step_complete(phase_name, step)

        def phase_finish(self, phase_name):
            progress.phase_finish(phase_name)

    return _Monitor()


# ---------------------------------------------------------------------------
# graph preparation (pure ONNX)


def prepare_graph(onnx_path, *, texture_io: bool = True, rows: str = "top-first", udp_input: str = UDP_INPUT,
                  rgba_output: str = RGBA_OUTPUT):
    """Load, check and (optionally) give texture I/O with ``rows`` order (as
    ``UdpPass(rows=...)``). Returns (model, tag); ``tag`` names the
    transformation for the cache key."""
    import onnx  # lazy: onnx only for export and checks

    require_tensorrt_ready(onnx_path)
    model = onnx.load(str(onnx_path), load_external_data=False)
    if not texture_io:
        return model, "plain"
    model = add_texture_io(model, udp_input, rgba_output, rows=rows)
    return model, f"texture_io:{udp_input},{rgba_output},{rows}"


def graph_input_dims(model) -> dict[str, list[int | str | None]]:
    """{input name: dims} with ints for static and dim_param names for dynamic axes."""
    inits = {t.name for t in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims = []
        for d in vi.type.tensor_type.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
        out[vi.name] = dims
    return out


def check_profile_fits_graph(dims: Mapping[str, list], profile: ProfileSpec, udp_input: str = UDP_INPUT) -> None:
    """A graph exported at a fixed side (conrt's export fixes S, only views is
    dynamic) accepts exactly that size: asking the profile for others would
    only fail deep inside TensorRT."""
    if udp_input + "_gl" in dims:
        h, w = dims[udp_input + "_gl"][1:3]
    elif udp_input in dims:
        h, w = dims[udp_input][2:4]
    else:
        return
    if isinstance(h, int) and isinstance(w, int):
        wrong = [f"{a}x{b}" for a, b in profile.sizes if (a, b) != (h, w)]
        if wrong:
            raise ConfigError(f"the ONNX graph is exported at {h}x{w}, but sizes {', '.join(wrong)} were asked for; "
                              f"export one graph per size (conrt export --size N) and build an engine for each")


def engine_key(onnx_path, tag: str, precision: str, profile: ProfileSpec, trt_version: str, device) -> EngineKey:
    # The transformation tag is folded into the graph hash: the same source
    # with and without texture I/O gives different engines.
    graph = hashlib.sha256(f"{onnx_digest(onnx_path)}|{tag}".encode()).hexdigest()
    return EngineKey(onnx_sha256=graph, trt_version=trt_version, gpu_name=device.name,
                     compute_capability=tuple(device.compute_capability), precision=precision,
                     profile=profile.key())


# ---------------------------------------------------------------------------
# the build


def build_engine(
    onnx_path,
    *,
    precision: str = "fp16",
    profile: ProfileSpec | None = None,
    cache: EngineCache | None = None,
    aliases: Mapping[str, str] | None = None,
    texture_io: bool = True,
    rows: str = "top-first",
    device: int = 0,
    workspace_gb: float = DEFAULT_WORKSPACE_GB,
    force: bool = False,
    report: Callable[[str], None] | None = None,
) -> Path:
    """Build (or fetch from the cache) the engine for ``onnx_path``; return its path."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    onnx_path = Path(onnx_path)
    profile = profile or make_profile()
    cache = cache or EngineCache()
    # Cheap, GPU-free validation first: a bad graph or profile fails in seconds.
    model, tag = prepare_graph(onnx_path, texture_io=texture_io, rows=rows)
    dims = graph_input_dims(model)
    check_profile_fits_graph(dims, profile)
    ranges = input_ranges(dims, profile, aliases)

    trt = require_tensorrt(device)
    dev = cuda_device_info(device)
    key = engine_key(onnx_path, tag, precision, profile, trt.__version__, dev)
    path = cache.engine_path(key)
    say = report or (lambda msg: log.info("%s", msg))
    if not force and cache.load(key) is not None:
        say(f"TensorRT engine cache hit: {path}")
        return path
    say(f"building TensorRT {trt.__version__} {precision} engine for {dev.name} from {onnx_path.name} "
        f"({profile.key()}); this takes a few minutes the first time")
    plan, timing = _build_plan(trt, model, onnx_path, precision, ranges, cache.load_timing_cache(key),
                               workspace_gb, BuildProgress(say))
    if timing:
        cache.store_timing_cache(key, timing)
    return cache.store(key, plan)


def _parser_error(err) -> str:
    desc = getattr(err, "desc", None)
    node = getattr(err, "node", None)
    text = desc() if callable(desc) else str(err)
    return f"node {node()}: {text}" if callable(node) else text


def _pin_normalization_fp32(trt, network, config) -> None:
    """Keep InstanceNormalization (TensorRT's NORMALIZATION layers) in FP32
    inside an FP16 engine: its mean/variance over a whole 256² or 512² plane
    overflows or loses precision in FP16, the rest of CoNR does not care."""
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type == trt.LayerType.NORMALIZATION:
            layer.precision = trt.float32
            for k in range(layer.num_outputs):
                layer.set_output_type(k, trt.float32)
            pinned += 1
    if pinned:
        # PREFER (not OBEY): fall back to FP16 rather than fail the build.
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        log.info("kept %d normalization layers in FP32", pinned)


def _build_plan(trt, model, onnx_path: Path, precision: str, ranges: Mapping[str, ShapeRange],
                timing_blob: bytes, workspace_gb: float, progress: BuildProgress) -> tuple[bytes, bytes]:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10: explicit batch is the only mode; flags=0.
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    # parse() with the original path so external weight files resolve.
    if not parser.parse(model.SerializeToString(), str(onnx_path)):
        errors = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ConfigError(f"TensorRT could not parse {onnx_path.name}:\n  " + "\n  ".join(errors))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
        _pin_normalization_fp32(trt, network, config)
    profile = builder.create_optimization_profile()
    for name, rng in ranges.items():
        profile.set_shape(name, rng.min, rng.opt, rng.max)
    config.add_optimization_profile(profile)

    timing_cache = config.create_timing_cache(timing_blob)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)
    monitor = _trt_monitor(trt, progress)  # must outlive the build
    if hasattr(config, "progress_monitor"):  # TensorRT >= 10.0 Python API
        config.progress_monitor = monitor
    else:
        progress.report("building (this TensorRT reports no progress)")

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendUnavailable(
            f"TensorRT failed to build an engine for {onnx_path.name} (see the TensorRT log above); "
            "try --precision fp32 or a smaller size range")
    return bytes(plan), bytes(config.get_timing_cache().serialize())


# ---------------------------------------------------------------------------


def build_engine_cli(
    onnx_path,
    precision: str | Iterable[str] = "fp16",
    views=(1, 8),
    sizes=(256,),
    cache_dir=None,
    *,
    size_multiple: int | None = None,
    rows: str = "top-first",
    force: bool = False,
) -> list[Path]:
    """What ``conrt export --tensorrt`` calls after writing the ONNX file.

    ``precision``: "fp16", "fp32", "both" or a list. ``views``: int or
    (min, max). ``sizes``: ints / "HxW" strings. ``cache_dir``: None for
    ``~/.cache/conrt/trt``. ``rows``: the UDP texture's row order, as
    ``UdpPass(rows=...)`` ("top-first" default, or "gl"). ``size_multiple``:
    the model's, for graphs with dynamic sides (default: read from the graph
    / conr-paper's). Prints one progress line per build phase and
    returns the engine paths. Validates everything GPU-free before asking
    for TensorRT, so bad arguments fail the same way on every machine.
    """
    if isinstance(precision, str):
        precisions = list(PRECISIONS) if precision == "both" else [precision]
    else:
        precisions = list(precision)
    for p in precisions:
        if p not in PRECISIONS:
            raise ConfigError(f"precision {p!r} is not one of {', '.join(PRECISIONS)} (or 'both')")
    if not Path(onnx_path).is_file():
        raise ConfigError(f"ONNX file not found: {onnx_path}")
    if size_multiple is None:
        # A graph exported at a fixed side is checked against exactly that
        # side later; only a size-dynamic graph needs the model's multiple.
        import onnx  # lazy: onnx only for export and checks

        dims = graph_input_dims(onnx.load(str(onnx_path), load_external_data=False))
        udp = dims.get(UDP_INPUT, [None] * 4)
        static = len(udp) == 4 and all(isinstance(d, int) for d in udp[2:])
        size_multiple = 1 if static else SIZE_MULTIPLE
    profile = make_profile(views=views, sizes=sizes, size_multiple=size_multiple)
    cache = EngineCache(cache_dir)

    def report(msg: str) -> None:
        print(msg, flush=True)  # CLI output: the user waits on this

    return [build_engine(onnx_path, precision=p, profile=profile, cache=cache, rows=rows, force=force,
                         report=report) for p in precisions]
