"""End-to-end measurements of the runtime (``conrt bench``, benchmarks/e2e_bench.py).

Per size: open the runtime (embedded model + sample character + sample sheet,
or the fallbacks), warm up, then time ``frames`` pipelined frames of the walk
clip. Reported: delivered fps (frames / wall time of the timed frames), the
CPU time of the whole process per frame (all threads; it depends far less
than the wall times on what else the machine runs), the
median ms of each stage (physics, raster, read-back, shading, output = the
premultiplied -> straight u8 conversion a consumer does), and how much the
pipelining buys (sum of the stage medians / the measured frame time).

Shading only, against the straightforward eager baseline, on the same UDP
frames in the same run (so load from other processes hits both alike):
- ``baseline``: the plain PyTorch model called the obvious way, as the
  official inference script does: the whole network per frame under
  ``torch.no_grad()``, sheet encoder included;
- ``shade``: the chosen backend with the sheet encoded once.
When ``benchmarks/network_bench.py`` is importable (a source checkout), its
``straightforward_frame`` is the baseline instead: the network engineer's
eager run written the way the official code runs it (sheet cached, a Python
loop over the views at every decoder level, ``no_grad``); the result names
which baseline was used.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from tqdm import tqdm

from conrt.errors import ConfigError

from ..nn.checkpoint import resolve_model
from ..nn.sheet import prepare_sheet, prepare_udp, render_prepared
from .frame_loop import STAGES, RuntimeSpec, build_runtime, to_straight_u8

log = logging.getLogger(__name__)

BENCH_CLIP = "walk"


def _median(xs) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _external_baseline():
    """``straightforward_frame(model, udp, reference, sheet_feats)`` from benchmarks/network_bench.py, or None."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "network_bench.py"
    if not path.is_file():
        return None
    try:
        spec = importlib.util.spec_from_file_location("_conrt_network_bench", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except Exception as exc:  # their script failing to import must not stop ours
        log.info("benchmarks/network_bench.py not importable (%s): using our eager baseline", exc)
        return None
    fn = getattr(mod, "straightforward_frame", None)
    return fn if callable(fn) else None


def background_cpu(prefix: str = "conrt-fusion-export") -> dict[int, float]:
    """CPU seconds of this process's threads named ``prefix``..., by thread id (Linux
    /proc/self/task/*/schedstat; {} elsewhere): the backend's one-time graph exports
    (gl-lookup's band graphs, exported on a thread of their own while the frames run)."""
    out = {}
    for t in threading.enumerate():
        if t.name.startswith(prefix) and t.native_id is not None:
            try:
                with open(f"/proc/self/task/{t.native_id}/schedstat") as f:
                    out[t.native_id] = int(f.read().split()[0]) * 1e-9
            except (OSError, ValueError, IndexError):
                pass
    return out


def eager_full_frame(model, sheet_rgb, sheet_mask, udp):
    """The straightforward baseline: the whole CoNR forward per frame (sheet re-encoded)."""
    with torch.no_grad():
        return model(sheet_rgb, sheet_mask, udp)


def measure_size(size: int, frames: int = 10, warmup: int = 2, backend: str = "auto", character=None, sheet=None,
                 weights=None, model=None, baseline_frames: int | None = None, correspondence: str = "auto",
                 backend_options: dict | None = None, antialias="off", shade_workers="auto") -> dict:
    """One row of the bench: {"fps", "<stage>_ms", ...} for frame size ``size``
    (``correspondence``, ``backend_options``, ``antialias``: as ``RuntimeSpec``'s; the
    raster and read-back stages include the correspondence pass when the sheet uses
    exact ones and the coverage draw when anti-aliased, the shade stage the edge step;
    ``shade_workers``: ``RuntimeSpec.shade_workers``)."""
    if frames < 1 or warmup < 0:
        raise ConfigError(f"need frames >= 1 and warmup >= 0, got {frames}, {warmup}")
    rt = build_runtime(RuntimeSpec(character=character, motion=BENCH_CLIP, sheet=sheet,
                                   weights=model if model is not None else weights, backend=backend,
                                   backend_options=dict(backend_options or {}), size=size, context="egl",
                                   correspondence=correspondence, lookahead=True, antialias=antialias,
                                   shade_workers=shade_workers))
    stats = []
    try:
        it = rt.frames(warmup + frames, sink=lambda f: to_straight_u8(f.rgba))
        for _ in range(warmup):
            next(it)
        # the band graphs the warm-up frames asked for (gl-lookup exports them on a thread of its own,
        # ~2 s of CPU each without a cached graph) are ready before the timed frames, not inside them
        rt.shader.backend.wait_for_exports()
        exports0 = background_cpu()
        t0, cpu0 = time.perf_counter(), time.process_time()
        for f in it:
            stats.append(f.stats)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0  # every thread of the process (GL, ONNX Runtime)
        # a band graph exported while the timed frames ran (once per band width; ~2 s of CPU):
        # in cpu_ms, and said apart, as it lands in one run and not the next
        exports = sum(v - exports0.get(k, 0.0) for k, v in background_cpu().items())
        shader, info = rt.shader, rt.info
        # -- shading only, chosen backend vs the eager baseline, same UDPs ------
        nb = baseline_frames or min(frames, 5)
        # frames of the same clip as the frame loop hands them to the shader: with exact
        # correspondences the views' read-back (the path the timed frames took), else None (the
        # table lookup); before session 13 the exact sheets' shade-only timed the table path
        samples = []
        for _ in range(nb):
            pose = rt.physics.step()
            rt.raster.render(pose, rt.raster.camera(pose))
            samples.append((rt.raster.read().copy(), rt.raster.read_views_box()))
        # the model as loaded: the torch backend runs a copy with faster modules swapped in
        model_ = shader.backend.source_model
        # the official-way baseline exists for the CoNR architecture only
        ext = _external_baseline() if model_.has_official_baseline else None
        if ext is not None:
            cache = shader.cache
            base_name = ("benchmarks/network_bench.py straightforward_frame: eager PyTorch the official way "
                         "(sheet cached, Python loop over views per decoder level, no_grad)")

            def base_fn(xt):
                return ext(model_, xt, cache.reference, list(cache.features))
        else:
            base_name = "eager PyTorch, whole network per frame (sheet re-encoded), no_grad"
            rgb, mask = prepare_sheet(shader.sheet_images, model_.cfg.size_multiple, model_.cfg.image_size, False)
            rgb_t, mask_t = torch.from_numpy(rgb), torch.from_numpy(mask)

            def base_fn(xt):
                return eager_full_frame(model_, rgb_t, mask_t, xt)
        shade_ms, base_ms, cached_torch_ms = [], [], []

        def timed(fn, *a) -> float:
            t = time.perf_counter()
            fn(*a)
            return (time.perf_counter() - t) * 1e3

        # on a thread of its own, like the runtime's shader (see bridge_source.py:
        # main-thread torch calls were at times far slower on the busy machine)
        with ThreadPoolExecutor(1) as pool:
            for u, views in samples:
                x, _ = prepare_udp(u, size, False)
                xt = torch.from_numpy(x)
                shade_ms.append(pool.submit(timed, shader.shade, u, views).result())
                base_ms.append(pool.submit(timed, base_fn, xt).result())
                cached_torch_ms.append(pool.submit(timed, render_prepared, model_, xt, shader.cache).result())
    finally:
        rt.close()
    row = {"fps": round(frames / wall, 3)}
    for s in STAGES:
        row[f"{s}_ms"] = round(_median([getattr(x, f"{s}_ms") for x in stats]), 3)
    frame_ms = wall / frames * 1e3
    stage_sum = sum(row[f"{s}_ms"] for s in STAGES)
    row.update({
        "frame_ms": round(frame_ms, 3),
        "stage_sum_ms": round(stage_sum, 3),
        "pipeline_gain": round(stage_sum / frame_ms, 3),  # > 1: stages overlapped
        # CPU time of the whole process per frame: what the frame costs, nearly whatever the load;
        # on n otherwise idle cores the frame rate is at most n * 1000 / cpu_ms
        "cpu_ms": round(cpu / frames * 1e3, 3),
        "export_cpu_ms": round(exports / frames * 1e3, 3),  # of cpu_ms: one-time graph exports (background_cpu)
        "shade_only_ms": round(_median(shade_ms), 3),
        # whether shade_only_ms had the frames' views (exact correspondences) or the table lookup
        "shade_only_views": samples[0][1] is not None,
        "baseline_ms": round(_median(base_ms), 3),
        "shade_speedup_vs_baseline": round(_median(base_ms) / _median(shade_ms), 3),
        "torch_cached_sheet_ms": round(_median(cached_torch_ms), 3),
        "baseline": base_name,
        "backend": info.backend,
        "weights": info.weights,
        "sheet": info.sheet,
        "character": info.character,
        "frames": frames,
        "correspondence": correspondence,
        "antialias": rt.raster.antialias,
        "shade_workers": rt.shade_workers,  # frames shaded at once (RuntimeSpec.shade_workers, resolved)
        "load_average_1min": round(os.getloadavg()[0], 2),
    })
    return row


def measure(sizes=(128, 256, 512), frames: int = 10, backend: str = "auto", **kw) -> dict:
    """{str(size): row} for every size (the model is loaded once)."""
    model = kw.pop("model", None)
    if model is None:
        model = resolve_model(kw.pop("weights", None))

    out = {}
    # progress on stderr (a run takes minutes; --json keeps stdout to the JSON)
    with tqdm(sizes, desc="bench", unit="size", disable=kw.pop("quiet", False)) as bar:
        for s in bar:
            bar.set_postfix_str(f"{s} px, {frames} frames")
            log.info("bench %d px, %d frames", s, frames)
            out[str(s)] = measure_size(s, frames, backend=backend, model=model, **kw)
    return out
