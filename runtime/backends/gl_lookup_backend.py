"""``gl-lookup``: conr-rt per frame with its non-learned half on the GL rasterizer.

For lookup-architecture models (conr-rt) only. Per frame:

1. the prepared UDP is uploaded to a texture and ``shaders.LookupPass``
   does ``LookupNet.sample_views`` on the texture units (trilinear 3D table
   lookup, bilinear reference sampling; llvmpipe on CPU machines, the GPU's
   texture units elsewhere) and reads back ``sampled`` and ``cover``;
2. only the learned ``FusionNet`` runs on the CPU: exported to ONNX as its own
   small graph (inputs ``sampled``, ``cover``, ``udp``; for exact
   correspondences one graph per sheet look, the look judged once per sheet;
   the same maths arranged for ONNX Runtime's kernels, ``fusion_graph.FastFusionGraph``)
   and run in ONNX Runtime, or the torch module itself (``fusion="torch"``).
   Exact correspondences (``infer_views``) skip step 1: the raster stage's
   correspondence pass found the samples; for inked looks the graph runs in
   two halves, the views' (scores, softmax over views) on the band of columns
   the character covers, then the finish (refinement, keep-seen rule, fill) on
   that band too, its refinement's lower levels on the whole frame: the same
   numbers on the band, 0 off it (``_infer_band``, docs/runtime.md "Session 8"
   and "Session 13").

The GL context is the backend's own (headless EGL, else a hidden window, as
``shaders.create_context``) and lives on one private thread: an EGL context
can be current in one thread at a time, and the frame loop encodes sheets
and shades frames on threads of its own. Every GL call is handed to that
thread (~0.1 ms per frame).
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from conrt.errors import BackendUnavailable, ConfigError, ContextError, InputError
from conrt.shaders.context import create_context, release_context
from conrt.shaders.lookup_pass import FILTERS, MAX_VIEWS as PASS_MAX_VIEWS, LookupPass
from conrt.shaders.sheet_ink import TOON_INK, SheetInk

from ..nn.lookup_net import LookupNet
from ..nn.sheet import SheetCache
from .base import Backend, register_backend
from .cache import GraphCache
from .fusion_graph import (BAND_HANDOVER, FINISH_GBUF, FastFusionGraph, FusionFinishGraph, FusionViewsGraph,
                           band_of_columns)
from .onnx_backend import EXPORT_LOCK, OPSET, open_session, weights_fingerprint

log = logging.getLogger(__name__)

FUSIONS = ("onnxruntime", "torch")
FUSION_FORMAT = 30  # bump when the exported fusion graph changes (part of the cached file name)
# the views' band is a multiple of 1/BAND_STEPS of the frame wide (a graph per width, exported on first
# need): 32 (8 px at 256²) keeps it close to the covered columns. The views' graph costs ~0.03-0.055 ms
# of CPU a column at 256² (benchmarks/band_width_bench.py); a walk frame needs ~130 columns, 8 steps
# made that 160, 32 make it 136: the views' graph 0.84x, the shading threads' ONNX Runtime 0.86x
# (docs/runtime.md, "Session 12"). A clip takes a few widths.
BAND_STEPS = 32
# band widths whose graphs (views and finish) are kept open at once, the least recently used closed
# beyond: each session holds its own ONNX Runtime arena (at 256² ~30-45 MB a views graph, ~25 MB a
# finish; ~4x at 512²) and a clip may reach many widths; opening a closed one again from the graph
# cache costs ~0.03 s of CPU. 4 pairs hold about what 8 views graphs and the whole frame's finish
# held before session 13 (a 256² walk reaches 3 widths)
BAND_SESSIONS = 4


def band_grid(model, size: int) -> tuple[int, int]:
    """(grid, step) of the banded fusion's bands at frame side ``size``: a band starts on ``grid``
    (the scores' pooling grid, the refinement's and the fill's half size) and is a multiple of
    ``step`` wide (1/``BAND_STEPS`` of the frame, on the grid): ``fusion_graph.band_of_columns``'s."""
    grid = math.lcm(model.fusion.score_scale, model.fusion.refine_scale, 2)
    return grid, max(grid, size // BAND_STEPS // grid * grid)


def default_threads() -> int:
    """Intra-op threads for the fusion graph when none are given: half the
    cores, at least one. The frame loop's physics and rasterizer (llvmpipe's
    threads) run beside the shading, so ONNX Runtime's own default (a thread
    per core) oversubscribes the machine: on the 2-core CPU it cost 10-20 ms
    more CPU per 256² frame (exact correspondences) and delivered 0.6-0.8x the
    frames of one thread in the same run (benchmarks/e2e_bench.py, docs/runtime.md)."""
    return max(1, (os.cpu_count() or 1) // 2)


def export_fusion_onnx(model, path, size: int, views: int, keep_seen: bool = False, inked: bool = True,
                       shaded: bool = False, table: bool = False, sheet_ink: SheetInk = TOON_INK) -> Path:
    """Write conr-rt's FusionNet at side ``size`` and ``views`` views (static shapes) to ``path``
    (``keep_seen``: the variant for exact correspondences, see ``FusionNet.forward``, for the
    sheet's look ``inked``, ``sheet.SheetCache.ink``: a graph per look, each with only its
    look's rule; ``table``: the table mode's fusion net, ``LookupNet.fusion_for``), as ``FastFusionGraph``
    arranges it for ONNX Runtime (runtime/backends/fusion_graph.py)."""
    shapes = {"sampled": (1, views, 4, size, size), "cover": (1, views, 1, size, size), "udp": (1, 4, size, size),
              "gbuf": (1, 2, size, size)}  # the target's G-buffer: an inked look's lines, the fill's part labels
    return _export(FastFusionGraph(model.eval(), keep_seen, inked, shaded, table, sheet_ink), shapes, ["rgba"], path,
                   f"{model.cfg.name} fusion graph ({views} views, {size}x{size})")


def export_views_onnx(model, path, size: int, width: int, views: int) -> Path:
    """The views' half of the fusion graph (``FusionViewsGraph``) on a band of ``width``
    columns of a ``size`` frame: (sampled, cover, udp) -> ``BAND_HANDOVER``."""
    shapes = {"sampled": (1, views, 4, size, width), "cover": (1, views, 1, size, width), "udp": (1, 4, size, width)}
    return _export(FusionViewsGraph(model.eval()), shapes, [name for name, _ in BAND_HANDOVER], path,
                   f"{model.cfg.name} fusion views ({views} views, {width}x{size})")


def export_finish_onnx(model, path, size: int, keep_seen: bool = True, width: int | None = None,
                       sheet_ink: SheetInk = TOON_INK) -> Path:
    """The other half (``FusionFinishGraph``, an inked look): with ``width``, on a band of columns
    that wide, what the runtime runs (the views' graph's outputs as they are, and ``first``, the
    band's first column) -> rgba on the band; without, on the whole frame: ``BAND_HANDOVER`` and the
    target's G-buffer (``FINISH_GBUF``, on the band too) -> rgba."""
    shapes = {name: (1, channels, size, width or size) for name, channels in (*BAND_HANDOVER, FINISH_GBUF)}
    if width is not None:  # an example band's first column (on every grid), for the trace
        shapes["first"] = torch.tensor([(size - width) // 2 // 16 * 16])
    return _export(FusionFinishGraph(model.eval(), keep_seen, None if width is None else size, sheet_ink), shapes,
                   ["rgba"],
                   path, f"{model.cfg.name} fusion finish ({width or size}x{size}{'' if width is None else ' band'})")


def takes_input(session, name: str) -> bool:
    """Whether an ONNX Runtime session's graph has the input ``name`` (the exporter drops the inputs a
    graph does not use: the G-buffer where neither the lines nor the fill read it)."""
    return any(i.name == name for i in session.get_inputs())


def ink_tag(sheet_ink: SheetInk, sep: str = "") -> str:
    """The part of a fusion graph's file name that says the sheet's ink it draws the lines in ("" for our
    toon pass's: the same graphs as before session 14), ``sep`` around it: before, else after."""
    key = sheet_ink.key()
    return "" if not key else f"{key}{sep}" if sep else f"-{key}"


def _export(module, shapes: dict, outputs: list[str], path, what: str) -> Path:
    path = Path(path)
    g = torch.Generator().manual_seed(0)
    example = tuple(shape if isinstance(shape, torch.Tensor) else torch.rand(*shape, generator=g)
                    for shape in shapes.values())  # a tensor: that input's example as it is
    with EXPORT_LOCK, torch.no_grad(), warnings.catch_warnings():  # one export at a time (onnx_backend)
        warnings.simplefilter("ignore")  # static sides become constants (TracerWarning): intended
        torch.onnx.export(module, example, str(path), input_names=list(shapes), output_names=outputs,
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    log.info("exported %s to %s", what, path)
    return path


# ---------------------------------------------------------------------------
# can a GL context be created here? (probed once per process)
# ---------------------------------------------------------------------------
_probe_lock = threading.Lock()
_probe: str | None = None  # "" = fine, else the reason it is not


def _gl_problem() -> str:
    """Why no GL context can be created here ("" when one can). The probe
    runs on a throwaway thread: creating a context makes it current, which
    would disturb a context the caller's thread has current."""
    global _probe
    with _probe_lock:
        if _probe is None:
            if importlib.util.find_spec("moderngl") is None:
                _probe = "the `moderngl` package is not installed"
            else:
                def attempt() -> str:
                    try:
                        ctx = create_context()
                    except ContextError as exc:
                        return str(exc)
                    release_context(ctx)
                    return ""

                with ThreadPoolExecutor(1, thread_name_prefix="conrt-gl-probe") as pool:
                    _probe = pool.submit(attempt).result()
        return _probe


@register_backend
class GlLookupBackend(Backend):
    """conr-rt: table lookup + reference sampling in GL, FusionNet in ONNX Runtime (or torch)."""

    name = "gl-lookup"
    priority = 80  # conr-rt: measured fastest on CPU (benchmarks/lookup_bench.py, docs/network.md)
    max_views = PASS_MAX_VIEWS  # the lookup pass's

    def __init__(self, threads: int | None = None, fusion: str = "onnxruntime", context: str = "auto",
                 filtering: str = "hardware", providers=None):
        super().__init__()

        if fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion runner {fusion!r}; valid: {', '.join(FUSIONS)}")
        if filtering not in FILTERS:
            raise ConfigError(f"unknown filtering {filtering!r}; valid: {', '.join(FILTERS)}")
        self.filtering = filtering  # LookupPass: texture-unit blends or exact float32 ones
        if fusion == "onnxruntime" and importlib.util.find_spec("onnxruntime") is None:
            raise BackendUnavailable("gl-lookup with fusion='onnxruntime' needs the `onnxruntime` package "
                                     "(pip install onnxruntime), or use fusion='torch'")
        self.fusion = fusion
        # ONNX Runtime providers for the fusion graph, e.g. ["CUDAExecutionProvider",
        # "CPUExecutionProvider"] on a GPU machine (default: CPU)
        self.providers = list(providers or ["CPUExecutionProvider"])
        # None: default_threads(); the fusion graph's ONNX Runtime threads (or torch's, fusion="torch")
        self.threads = threads or default_threads()
        self.context = context
        self._gl = ThreadPoolExecutor(1, thread_name_prefix="conrt-gl-lookup")
        self.ctx = None
        self._renderer = ""  # GL_RENDERER, read on the GL thread (GL calls need the context current)
        self.lookup = None  # shaders.LookupPass, on the GL thread
        self.session = None
        self._fusion_key = None
        self._seen_session = None  # the fusion graph for exact correspondences (keep_seen)
        self._seen_key = None
        # the banded fusion (inked looks): the views' half and the finish on the covered columns
        # (fusion_graph.FusionViewsGraph / FusionFinishGraph with a band), the same numbers there
        self.banded = True
        self._bands_on = False  # this sheet's look takes the banded fusion (set by prepare_views)
        # band width -> (views session, finish session) (None: they failed; the whole graph then)
        self._bands: dict = {}
        self._band_jobs: dict = {}  # band width -> Future of (key, sessions), exported in the background
        # shade_views may run on two threads at once (``concurrent_views``): the graphs' bookkeeping
        # under a lock (ONNX Runtime sessions run concurrently)
        self._views_lock = threading.RLock()
        self._exports = None  # ThreadPoolExecutor for the band graphs, made on first need
        self._out = None
        self.graphs = GraphCache("onnx")
        if threads and fusion == "torch":  # torch's thread count is process-wide: only when asked for
            torch.set_num_threads(threads)

    # -- capability ---------------------------------------------------------
    @classmethod
    def is_available(cls) -> bool:
        return _gl_problem() == ""

    @classmethod
    def unavailable_reason(cls) -> str:
        return f"no OpenGL context for the lookup pass: {_gl_problem()}"

    @classmethod
    def supports(cls, model) -> bool:
        return isinstance(model, LookupNet) or (isinstance(model, type) and issubclass(model, LookupNet))

    @property
    def device(self) -> str:
        return f"gl:{self._renderer} + cpu" if self._renderer else "gl"

    # -- lifecycle ----------------------------------------------------------
    def _on_gl(self, fn, *args, **kwargs):
        return self._gl.submit(fn, *args, **kwargs).result()

    def load(self, model) -> None:
        if not self.supports(model):
            raise ConfigError(f"backend 'gl-lookup' runs lookup-architecture models (conr-rt) only; "
                              f"{model.cfg.name} is {model.cfg.architecture!r} (use 'torch' or 'onnxruntime')")
        self.model = model.eval()
        if self.ctx is None:
            self.ctx = self._on_gl(create_context, self.context)
            self._renderer = self._on_gl(lambda: self.ctx.info.get("GL_RENDERER", "?"))

    def set_sheet(self, cache: SheetCache) -> None:
        previous = self.cache
        super().set_sheet(cache)
        try:
            self._set_sheet(cache)
        except Exception:
            self.cache = previous  # a rejected sheet leaves the current one in place
            raise

    def _set_sheet(self, cache: SheetCache) -> None:
        views, size = cache.views, cache.size
        table, reference = cache.features[0].detach().cpu(), cache.reference.detach().cpu()

        def upload():
            if self.lookup is not None and self.lookup.views == views and self.lookup.size == (size, size):
                self.lookup.set_sheet(table, reference)  # checks everything before uploading
                return
            new = LookupPass(self.ctx, size, size, views, filtering=self.filtering)
            try:
                new.set_sheet(table, reference)
            except Exception:
                new.release()
                raise
            if self.lookup is not None:  # swapped only once the new sheet is in
                self.lookup.release()
            self.lookup = new

        try:
            self._on_gl(upload)
        except ConfigError as exc:  # e.g. more views than the pass takes
            raise InputError(f"gl-lookup: {exc}") from exc
        self._out = (np.empty((1, views, 4, size, size), np.float32), np.empty((1, views, 1, size, size), np.float32))
        # the table's fusion graph is opened by the first ``infer`` (``_table_session``), not here: a sheet
        # shaded from exact correspondences never runs it (its export cost ~2 s of CPU per size and view count)

    def _graph(self, size: int, views: int, keep_seen: bool = False, inked: bool = True,
               shaded: bool = False, table: bool = False, sheet_ink: SheetInk = TOON_INK) -> Path:
        """The fusion graph for this model, size and view count (and with ``keep_seen`` the
        sheet's look; ``table``: the table mode's, ``LookupNet.fusion_for``), exported once into
        the graph cache (runtime/backends/cache.py, as the onnxruntime backend's graphs)."""
        variant = ("seen-" + ("" if inked else "shaded-" if shaded else "unlit-")) if keep_seen else ""
        variant = ("table-" if table else "") + variant + ink_tag(sheet_ink if keep_seen and inked else TOON_INK, "-")
        return self._cached_graph(f"{variant}{size}-v{views}",
                                  lambda part: export_fusion_onnx(self.model, part, size, views, keep_seen, inked,
                                                                  shaded, table, sheet_ink))

    def _cached_graph(self, tag: str, export) -> Path:
        """A fusion graph of this model (``tag``: which part, look, size and views) from the
        graph cache, ``export(path)`` writing it on first need: the one naming rule for
        every graph this backend opens (format, model, weights)."""
        name = f"{self.model.cfg.name}-fusion{FUSION_FORMAT}-{tag}-{weights_fingerprint(self.model)}.onnx"
        return self.graphs.get(name, export)

    def _table_session(self):
        """The fusion graph for the table lookup (``infer``) at this sheet's size and views,
        exported / opened on first use."""
        size, views = self.cache.size, self.cache.views
        with self._views_lock:
            if self._fusion_key != (size, views):
                # no spinning between runs matters here too: the GL thread (llvmpipe) needs the cores then
                self.session = open_session(self._graph(size, views, table=True), self.threads, self.providers)
                self._fusion_key = (size, views)
            return self.session

    # -- per frame ------------------------------------------------------------
    def sample(self, udp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1,4,S,S) prepared UDP -> (sampled [1,M,4,S,S], cover [1,M,1,S,S]) from the GL pass."""
        hwc = np.ascontiguousarray(udp[0].transpose(1, 2, 0), dtype=np.float32)
        sampled, cover = self._out
        self._on_gl(self.lookup.run, hwc, True, (sampled[0], cover[0]))
        return sampled, cover

    takes_views = True  # exact correspondences: the sampling is done, only the fusion runs

    @property
    def concurrent_views(self) -> bool:
        """``shade_views`` may run on two threads at once: ONNX Runtime sessions run
        concurrently, and the band's buffers are per thread (torch's fusion: not claimed)."""
        return self.fusion == "onnxruntime"

    def prepare_views(self) -> None:
        """Export/open the fusion graph for exact correspondences (keep_seen) now, not in the first frame."""
        with self._views_lock:  # two shading threads (concurrent_views) must not open it twice
            self._prepare_views()

    def _prepare_views(self) -> None:
        if self.fusion == "onnxruntime" and self.cache is not None:
            size, views = self.cache.size, self.cache.views
            look = self.cache.look  # a sheet whose look was not judged: FusionNet's ink=None, i.e. inked
            inked = look is None or look.inked
            shaded = look is not None and look.shaded
            sheet_ink = self.cache.sheet_ink()
            if self._seen_key != (size, views, inked, shaded, sheet_ink):
                keep_seen = self.model.cfg.lookup.keep_seen
                self._seen_session = open_session(self._graph(size, views, keep_seen=keep_seen, inked=inked,
                                                              shaded=shaded, sheet_ink=sheet_ink),
                                                  self.threads, self.providers)
                self._seen_key = (size, views, inked, shaded, sheet_ink)
                self._bands, self._band_jobs = {}, {}
                # the unlit rule takes the views at full size: the whole graph
                self._bands_on = self.banded and inked

    def _band_session(self, width: int, step: int):
        """The (views, finish) graphs for a band ``width`` wide, or None while they are exported
        (on a thread of its own: the whole graph shades meanwhile). The first band of a sheet waits
        for its graphs and starts the next narrower and wider ones (a walking character's band moves
        between two widths): graphs opened later cost a few frames on the whole graph."""
        with self._views_lock:  # two shading threads (concurrent_views): one takes a finished job
            return self._band_session_locked(width, step)

    def _band_session_locked(self, width: int, step: int):
        if width in self._bands:
            self._bands[width] = session = self._bands.pop(width)  # the most recently used last
            return session
        first = not self._bands and not self._band_jobs
        job = self._band_jobs.get(width) or self._submit_band(width)
        if first:
            for other in (width - step, width + step):
                if 0 < other < self.cache.size:
                    self._submit_band(other)
        elif not job.done():
            return None
        del self._band_jobs[width]
        key = self._seen_key
        try:
            got, session = job.result()
        except Exception as exc:  # the whole graph serves this width from now on
            log.warning("gl-lookup: the fusion graphs for a %d-column band failed (%s); the whole frame's "
                        "graph runs instead", width, exc)
            got, session = key, None
        if got != key:  # a graph for a sheet set before this one
            return None
        self._bands[width] = session
        opened = [w for w, held in self._bands.items() if held is not None]
        if len(opened) > BAND_SESSIONS:  # the least recently used goes (a frame that needs it opens it again)
            del self._bands[opened[0]]
        return session

    def _submit_band(self, width: int):
        """Export and open the views' and the finish graph for a band ``width`` wide on the export thread."""
        key, (size, views) = self._seen_key, (self.cache.size, self.cache.views)
        keep_seen = self.model.cfg.lookup.keep_seen
        sheet_ink = key[-1]  # the sheet's ink the whole graph was opened for (_prepare_views)

        def make():
            path = self._cached_graph(f"views-{size}x{width}-v{views}",
                                      lambda part: export_views_onnx(self.model, part, size, width, views))
            finish = self._cached_graph(f"finish{'-seen' if keep_seen else ''}{ink_tag(sheet_ink)}-{size}x{width}",
                                        lambda part: export_finish_onnx(self.model, part, size, keep_seen, width,
                                                                        sheet_ink))
            return key, (open_session(path, self.threads, self.providers),
                         open_session(finish, self.threads, self.providers))

        if self._exports is None:
            self._exports = ThreadPoolExecutor(1, thread_name_prefix="conrt-fusion-export")
        job = self._band_jobs[width] = self._exports.submit(make)
        return job

    def wait_for_exports(self) -> None:
        """Wait for the band graphs being exported (``_submit_band``); the frames after take them."""
        with self._views_lock:
            jobs = list(self._band_jobs.values())
        for job in jobs:
            try:
                job.result()
            except Exception:  # _band_session_locked logs it and runs the whole graph for that width
                pass

    def _infer_band(self, udp: np.ndarray, covered: np.ndarray, band_views) -> np.ndarray | None:
        """The banded fusion of one frame, or None (no band narrower than the frame, or its graphs not
        ready): the views' half and the finish on the columns the character covers (the finish's
        refinement below its top level on the whole frame), the frame 0 off them (the refinement's
        stray paint off the target there, which the runtime clips, is not drawn).
        ``covered``: [W] bool, the columns any view covers (or more: ``ViewsRead.covered_columns``
        gives the covered box's); ``band_views(first, end)``: the views' (sampled [1, M, 4, H, w],
        cover [1, M, 1, H, w]) and the target's G-buffer (gbuf [1, 2, H, w], the finish's lines) on
        those columns, C-contiguous."""
        size = self.cache.size
        grid, step = band_grid(self.model, size)
        band = band_of_columns((udp[0, 3] > 0).any(0) | covered, size, grid, step)
        sessions = None if band is None else self._band_session(band[1], step)
        if sessions is None:
            return None
        views, finish = sessions
        first, end = band[0], band[0] + band[1]
        cols = slice(first, end)
        sampled, cover, gbuf = band_views(first, end)
        part = {"sampled": sampled, "cover": cover, "udp": np.ascontiguousarray(udp[..., cols])}
        names = [name for name, _ in BAND_HANDOVER]
        handover = dict(zip(names, views.run(names, part)))
        if takes_input(finish, FINISH_GBUF[0]):  # the lines and the fill's part labels
            handover[FINISH_GBUF[0]] = gbuf
        handover["first"] = np.array([first], np.int64)
        # the frame laid out as ``finish_frame`` hands it on ([H, W, 4]), the band pasted through its
        # [1, 4, H, W] view: a transpose of the band's columns only, where a zeroed [1, 4, H, W] frame
        # cost finish_frame a transpose of the whole frame (256²: 0.45 -> 0.30 ms with the clip's
        # multiply, 512²: 3.8 -> 1.6 ms; docs/runtime.md "Session 14")
        frame = np.zeros((size, size, 4), np.float32)
        rgba = frame.transpose(2, 0, 1)[None]
        rgba[..., cols] = finish.run(["rgba"], handover)[0]
        return rgba

    def _fusion_input(self, udp: np.ndarray) -> np.ndarray:
        """The sheet checked and its graphs ready (ONNX Runtime; a no-op once open for this
        sheet's size, views and look) -> the prepared UDP, C-contiguous f32."""
        if self.lookup is None:
            raise InputError("gl-lookup: no character sheet; call encode_sheet/set_sheet first")
        if self.fusion == "onnxruntime":
            self.prepare_views()
        return np.ascontiguousarray(udp, dtype=np.float32)

    def _bands_run(self) -> bool:
        """Whether a frame may take the banded fusion (``_infer_band`` still returns None
        while its band's graph is exported, or when no band is narrower than the frame)."""
        return self.fusion == "onnxruntime" and self.banded and self._bands_on

    def _infer_whole(self, udp: np.ndarray, sampled: np.ndarray, cover: np.ndarray,
                     gbuf: np.ndarray | None) -> np.ndarray:
        """The fusion on the whole frame: the exported graph, or the torch module (also a frame
        without the target's G-buffer where the graph takes it: its lines, the fill's part labels)."""
        takes_gbuf = self.fusion == "onnxruntime" and takes_input(self._seen_session, FINISH_GBUF[0])
        if self.fusion == "onnxruntime" and (gbuf is not None or not takes_gbuf):
            feeds = {"sampled": sampled, "cover": cover, "udp": udp}  # the look is in the graph
            if takes_gbuf:  # its lines and the fill's part labels (a table graph has none)
                feeds[FINISH_GBUF[0]] = gbuf
            return self._seen_session.run(["rgba"], feeds)[0]
        with torch.inference_mode():  # the torch backend's call (LookupNet.render_views: its net, keep_seen, look)
            return self.model.render_views(torch.from_numpy(udp), torch.from_numpy(sampled), torch.from_numpy(cover),
                                           ink=self.cache.ink(), shaded=self.cache.shaded(),
                                           gbuf=None if gbuf is None else torch.from_numpy(gbuf),
                                           sheet_ink=self.cache.sheet_ink()).numpy()

    def infer_views(self, udp: np.ndarray, sampled: np.ndarray, cover: np.ndarray,
                    gbuf: np.ndarray | None = None) -> np.ndarray:
        udp = self._fusion_input(udp)
        if self._bands_run() and gbuf is not None:
            rgba = self._infer_band(udp, (cover[0, :, 0] > 0).any(1).any(0), lambda first, end: tuple(
                np.ascontiguousarray(a[..., first:end]) for a in (sampled, cover, gbuf)))
            if rgba is not None:
                return rgba
        return self._infer_whole(udp, sampled, cover, gbuf)

    def infer_read(self, udp: np.ndarray, read) -> np.ndarray:
        """``infer_views`` from the pass's read-back (``ViewsRead``): the banded fusion lays out only
        its band's columns (no full-frame arrays); the whole frame's arrays otherwise."""
        udp = self._fusion_input(udp)
        if self._bands_run() and read.gbuf is not None:
            rgba = self._infer_band(udp, read.covered_columns(), lambda first, end: tuple(
                a[None] for a in (*read.columns(first, end), read.gbuf_columns(first, end))))
            if rgba is not None:
                return rgba
        gbuf = None if read.gbuf is None else read.gbuf_columns(0, read.width)[None]
        sampled, cover = read.arrays()
        return self._infer_whole(udp, sampled[None], cover[None], gbuf)

    def infer(self, udp: np.ndarray) -> np.ndarray:
        if self.lookup is None:
            raise InputError("gl-lookup: no character sheet; call encode_sheet/set_sheet first")
        udp = np.ascontiguousarray(udp, dtype=np.float32)
        sampled, cover = self.sample(udp)
        if self.fusion == "onnxruntime":
            return self._table_session().run(["rgba"], {"sampled": sampled, "cover": cover, "udp": udp})[0]
        with torch.inference_mode():
            x = torch.from_numpy(udp)
            return self.model.fusion_for("table")(torch.from_numpy(sampled), torch.from_numpy(cover),
                                                  self.model.encode_pose(x)[0]).numpy()

    def close(self, wait: bool = True) -> None:
        """Release the GL objects and the context on the GL thread. ``wait=False``
        (garbage collection) only asks for it: when the backend dies in a
        reference cycle, the executor's worker may already have been told to
        exit (its weakref callback runs before our finalizer), and waiting for
        a job nobody runs would hang the collecting thread forever."""
        gl = getattr(self, "_gl", None)
        if gl is None:
            return
        self._gl = None

        def release():
            if self.lookup is not None:
                self.lookup.release()
                self.lookup = None
            if self.ctx is not None:
                release_context(self.ctx)
                self.ctx = None

        try:
            job = gl.submit(release)
            if wait:
                job.result()
        except Exception as exc:  # closing must not raise (it also runs from __del__)
            log.debug("gl-lookup: release failed: %s", exc)
        gl.shutdown(wait=False)
        if self._exports is not None:
            self._exports.shutdown(wait=False, cancel_futures=True)
        self.session = self._seen_session = None
        self._bands, self._band_jobs, self._bands_on = {}, {}, False
        self._fusion_key = self._seen_key = None
        self.graphs.close()
        super().close()

    def __del__(self):
        try:
            self.close(wait=False)
        except Exception:
            pass
