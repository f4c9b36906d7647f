"""Where a frame's CPU goes: per-thread CPU of the pipelined bench loop, and
the fusion graph's ONNX Runtime ops by type.

1. ``conrt bench``'s loop (the default runtime, exact correspondences, walk
   clip, physics a frame ahead) for ``--frames`` frames at ``--size``; each
   thread's CPU time from /proc/self/task (Linux): the frame loop (UDP +
   correspondence draws: llvmpipe's vertex and geometry stages run on the
   calling thread; read-back; the bench's output conversion), the shading
   thread (ONNX Runtime), llvmpipe's rasterizer threads (fragment work),
   the physics thread; the frame loop's thread by step (``frame_loop_ms``:
   thread CPU of each step, nested as the calls are); each thread's run-queue wait (runnable, no core free:
   /proc/self/task/*/schedstat), the cores the process kept busy (CPU / wall),
   and the pipeline's overlap (``overlap``: frames shaded at once on average,
   the share of the wall with none shading, the producer's stages). Where the
   shading thread shades ~100 % of the wall it is the frame's time: its CPU
   plus its run-queue wait (docs/runtime.md, "Session 10").
2. The exact fusion graph (the one the gl-lookup backend runs) on frames of
   that loop, one thread, with ONNX Runtime's profiler: ms per op type; and
   where the checkout has it, the banded fusion on the same frames (the views'
   half on the covered columns, the rest on the whole frame:
   ``fusion_graph.FusionViewsGraph`` / ``FusionFinishGraph``), CPU per frame.

With ``--baseline COMMIT``: both, alternately, ``--rounds`` times, each run a
fresh process, the baseline's code from ``git archive`` (imported through
benchmarks/e2e_ab.py's launcher), this checkout's profiler script for both;
the JSON holds every run and the medians per version.

Usage: python benchmarks/frame_cpu.py [--size 256] [--frames 60] [--json benchmarks/results/frame_cpu.json]
       [--baseline 87610d9 --rounds 3]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


ROOT = Path(__file__).resolve().parents[1]


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread id of this process, keyed 'name/tid' (Python thread names where known)."""
    return {k: v[0] for k, v in thread_sched().items()}


def thread_sched() -> dict[str, tuple[float, float]]:
    """(CPU seconds, seconds runnable but waiting for a core) per thread id of this process,
    keyed 'name/tid': /proc/self/task/*/schedstat (nanoseconds; the kernel's run-queue wait is
    what oversubscribed cores cost a thread), else the stat file's CPU ticks and no wait."""
    tick = os.sysconf("SC_CLK_TCK")
    names = {str(t.native_id): t.name for t in threading.enumerate()}
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = open(f"/proc/self/task/{tid}/stat").read()
            try:
                run_ns, wait_ns = (int(x) for x in open(f"/proc/self/task/{tid}/schedstat").read().split()[:2])
                times = (run_ns * 1e-9, wait_ns * 1e-9)
            except (OSError, ValueError):  # no schedstats in this kernel
                fields = stat[stat.rindex(")") + 2:].split()
                times = ((int(fields[11]) + int(fields[12])) / tick, 0.0)
        except OSError:  # the thread ended
            continue
        name = names.get(tid, stat[stat.index("(") + 1:stat.rindex(")")])
        out[f"{name}/{tid}"] = times
    return out


def thread_group(key: str) -> str:
    """'conrt-physics_0/123' -> 'conrt-physics'; llvmpipe's rasterizer threads as one 'llvmpipe'."""
    name = key.split("/")[0].split("_")[0]
    return "llvmpipe" if name.startswith("llvmpipe") else name


def overlap(stats: list, wall: float) -> dict:
    """How the pipelined stages shared the frame's wall time, from the frames' ``FrameStats``
    (ms per frame): frames being shaded at once on average (1 shading worker: its busy share
    of the wall; 1 = the shader is the bottleneck, it never waited for a frame), the share of
    the wall with no frame shading (the producer was behind), and the producer's stages
    (physics wait, raster, read-back)."""
    import statistics

    spans = sorted((s.shade_start, s.shade_end) for s in stats)
    covered, reach = 0.0, spans[0][0]
    for a, b in spans:  # the union of the shading intervals
        a = max(a, reach)
        if b > a:
            covered, reach = covered + b - a, b
    span = spans[-1][1] - spans[0][0]
    return {"frame_ms": round(wall / len(stats) * 1e3, 2),
            "shade_ms": round(statistics.median(s.shade_ms for s in stats), 2),
            "shading_at_once": round(sum(s.shade_ms for s in stats) / (span * 1e3), 3),
            "no_shading": round(1 - covered / span, 3),
            "physics_wait_ms": round(statistics.median(s.physics_ms for s in stats), 2),
            "raster_ms": round(statistics.median(s.raster_ms for s in stats), 2),
            "readback_ms": round(statistics.median(s.readback_ms for s in stats), 2),
            "output_ms": round(statistics.median(s.output_ms for s in stats), 2)}


# the frame loop's own steps (the caller's thread: it owns the GL context, where llvmpipe runs the
# vertex and geometry stages), by (class path, method, label); the labels nest as the calls do
FRAME_LOOP_PARTS = (
    ("conrt.runtime.app.frame_loop:RasterStage", "camera", "camera (orbit matrices)"),
    ("conrt.shaders.geometry:SkinnedGeometry", "update", "udp: pose upload (joint matrices, sim points)"),
    ("conrt.shaders.udp_pass:UdpPass", "render", "udp: render (upload + skinning feedback + draw)"),
    ("conrt.shaders.udp_pass:UdpPass", "_draw", "udp: the draw (llvmpipe vertex + geometry stage, set-up)"),
    ("conrt.shaders.correspondence_pass:CorrespondencePass", "render", "correspondences: covered box + resolve draws"),
    ("conrt.shaders.correspondence_pass:CorrespondencePass", "_covered_box", "correspondences: covered box read-back"),
    ("conrt.shaders.correspondence_pass:CorrespondencePass", "read", "correspondences: read-back + [M, 4, H, W] layout"),
    ("conrt.shaders.correspondence_pass:CorrespondencePass", "read_box",
     "correspondences: covered box read-back (laid out on the shading thread)"),
    ("conrt.runtime.app.frame_loop:RasterStage", "read_buffers", "udp read-back"),
    ("conrt.runtime.app.frame_loop:Runtime", "_finish", "frame hand-over (stats)"),
)


class FrameLoopParts:
    """Thread CPU of the frame loop's steps (``FRAME_LOOP_PARTS``), counted on the thread that
    enters the block only: each method is wrapped at class level while the block runs."""

    def __init__(self):
        self.ms = collections.defaultdict(float)
        self._saved = []

    def __enter__(self):
        import functools
        import importlib

        me = threading.get_ident()
        for path, name, label in FRAME_LOOP_PARTS:
            module, cls = path.split(":")
            owner = getattr(importlib.import_module(module), cls, None)
            fn = getattr(owner, name, None)
            if fn is None:  # a baseline's code without it
                continue

            def timed(*a, _fn=fn, _label=label, **k):
                if threading.get_ident() != me:
                    return _fn(*a, **k)
                t = time.thread_time()
                try:
                    return _fn(*a, **k)
                finally:
                    self.ms[_label] += time.thread_time() - t
            self._saved.append((owner, name, fn))
            setattr(owner, name, functools.wraps(fn)(timed))
        return self

    def __exit__(self, *exc):
        for owner, name, fn in reversed(self._saved):
            setattr(owner, name, fn)
        self._saved = []

    def per_frame(self, frames: int, total_s: float, output_s: float) -> dict:
        out = {k: round(v / frames * 1e3, 2) for k, v in sorted(self.ms.items(), key=lambda kv: -kv[1])}
        out["output (bench sink: to_straight_u8)"] = round(output_s / frames * 1e3, 2)
        out["total (the thread)"] = round(total_s / frames * 1e3, 2)
        return out


def loop_profile(size: int, frames: int) -> tuple[dict, list]:
    from conrt.runtime.app.frame_loop import RuntimeSpec, build_runtime, to_straight_u8
    from conrt.runtime.app.profiling import BENCH_CLIP

    rt = build_runtime(RuntimeSpec(motion=BENCH_CLIP, size=size, context="egl", lookahead=True))
    samples = []
    output = [0.0]

    def sink(f):
        t = time.thread_time()
        to_straight_u8(f.rgba)
        output[0] += time.thread_time() - t

    parts = FrameLoopParts()
    try:
        it = rt.frames(frames + 3, sink=sink)
        for _ in range(3):
            next(it)
        # the band graphs the warm-up started (gl-lookup opens or exports them on a thread of its
        # own) ready before the timed frames, as `conrt bench` waits for them
        getattr(rt.shader.backend, "wait_for_exports", lambda: None)()
        output[0] = 0.0
        parts.__enter__()
        main0 = time.thread_time()
        before, t0, cpu0 = thread_sched(), time.perf_counter(), time.process_time()
        stats = []
        for f in it:
            stats.append(f.stats)
            if len(samples) < 4:  # frames for the graph profile
                job = rt.last_produced
                views = job.views.arrays() if hasattr(job.views, "arrays") else job.views  # a ViewsRead since s11-band
                # the target's G-buffer (an inked look's lines, since s13-ink): None where not read
                gbuf = (job.views.gbuf_columns(0, job.views.width) if hasattr(job.views, "gbuf_columns")
                        else views[2] if len(views) > 2 else None)
                samples.append((job.udp.copy(), views[0].copy(), views[1].copy(),
                                None if gbuf is None else gbuf.copy()))
        wall, cpu, after = time.perf_counter() - t0, time.process_time() - cpu0, thread_sched()
        main_s = time.thread_time() - main0
        parts.__exit__()
        backend = rt.shader.backend
        ink = rt.shader.cache.ink()
        ink = np.ones(1, np.float32) if ink is None else ink.numpy()  # fed only to graphs that take it
        keep_seen = backend.model.cfg.lookup.keep_seen
        try:  # the graph the loop ran: one per look since FUSION_FORMAT 13
            graph = backend._graph(size, rt.shader.cache.views, keep_seen=keep_seen, inked=bool(ink[0] > 0.5))
        except TypeError:  # a baseline's older code: one graph, the look an input
            graph = backend._graph(size, rt.shader.cache.views, keep_seen=keep_seen)
    finally:
        parts.__exit__()
        rt.close()
    per, waits = collections.defaultdict(float), collections.defaultdict(float)
    for key, (t, w) in after.items():
        t0_, w0_ = before.get(key, (0.0, 0.0))
        per[thread_group(key)] += (t - t0_) / frames * 1e3
        waits[thread_group(key)] += (w - w0_) / frames * 1e3
    model = backend.model
    return ({"fps": round(frames / wall, 2), "cpu_ms": round(cpu / frames * 1e3, 1),
             # cores busy on average (this process): 2 = both cores of the 2-core host all the time
             "cores_busy": round(cpu / wall, 2),
             "threads_ms": {k: round(v, 1) for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v > 0.05},
             # time each thread was runnable but had no core (other threads, other processes)
             "threads_wait_ms": {k: round(waits[k], 1) for k, v in sorted(per.items(), key=lambda kv: -kv[1])
                                 if v > 0.05},
             "overlap": overlap(stats, wall),
             # the frame loop's thread (MainThread above) by step: what its own ~12 ms are
             "frame_loop_ms": parts.per_frame(frames, main_s, output[0]),
             "shade_workers": rt.shade_workers if hasattr(rt, "shade_workers") else 1,
             "load_1min": round(os.getloadavg()[0], 2)}, [samples, str(graph), ink, model])


def graph_profile(path: str, samples, ink=None, runs: int = 5) -> dict:
    import onnxruntime as ort

    from conrt.runtime.nn.sheet import prepare_udp

    size = samples[0][0].shape[0]
    feeds = [{"sampled": s[None], "cover": c[None], "udp": prepare_udp(u, size, False)[0],
              **({} if g is None else {"gbuf": g[None]})} for u, s, c, g in samples]
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "fusion")
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        if ink is not None and "ink" in names:  # older graphs: the look as an input
            feeds = [{**f, "ink": ink} for f in feeds]
        feeds = [{k: v for k, v in f.items() if k in names} for f in feeds]  # a graph without the G-buffer
        for f in feeds:  # warm-up (profiled too: divided out below)
            session.run(None, f)
        cpu0 = time.process_time()
        for _ in range(runs):
            for f in feeds:
                session.run(None, f)
        cpu = (time.process_time() - cpu0) / (runs * len(feeds)) * 1e3
        events = json.load(open(session.end_profiling()))
    by_op = collections.defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"].get("op_name", "?")] += e["dur"] / 1e3 / ((runs + 1) * len(feeds))
    total = sum(by_op.values())
    # the profiler's durations are wall times (a loaded machine stretches them): scaled to the CPU per run
    return {"cpu_ms_per_run": round(cpu, 2),
            "ops_ms": {k: round(v / total * cpu, 2) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])}}


def banded_profile(model, samples, graph: str, runs: int = 5) -> dict | None:
    """CPU per frame (one thread) of the banded fusion and of the whole graph, alternately on
    the same frames, and the largest difference of their outputs; None where this checkout has
    no banded fusion (a baseline's code) or the frames have no band narrower than the frame."""
    try:
        from conrt.runtime.backends.fusion_graph import band_columns
        from conrt.runtime.backends.gl_lookup_backend import BAND_STEPS, export_finish_onnx, export_views_onnx
    except ImportError:
        return None
    try:  # the backend's band rule (session 14: one place)
        from conrt.runtime.backends.gl_lookup_backend import band_grid
    except ImportError:
        band_grid = None
    import inspect

    import onnxruntime as ort

    from conrt.runtime.nn.sheet import prepare_udp

    size, views = samples[0][0].shape[0], samples[0][1].shape[0]  # udp [H, W, 4], sampled [M, 4, H, W]
    s = model.fusion.score_scale
    s, step = band_grid(model, size) if band_grid is not None else (s, max(s, size // BAND_STEPS // s * s))
    feeds, gbufs, bands = [], [], []
    for u, sm, c, g in samples:
        x = prepare_udp(u, size, False)[0]
        band = band_columns(x[0, 3], c[:, 0], size, s, step)
        if band is None:
            return None
        feeds.append({"sampled": sm[None], "cover": c[None], "udp": x})
        gbufs.append(None if g is None else g[None])
        bands.append(band)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # since session 13 the finish runs on the band too (a graph per width, its first column an input)
    on_band = "width" in inspect.signature(export_finish_onnx).parameters
    widths = {b[1] for b in bands}
    with tempfile.TemporaryDirectory() as tmp:
        whole = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        finish = {w: ort.InferenceSession(str(export_finish_onnx(model, Path(tmp) / f"f{w}.onnx", size, width=w)
                                              if on_band else export_finish_onnx(model, Path(tmp) / "f.onnx", size)),
                                          opts, providers=["CPUExecutionProvider"]) for w in widths}
        parts = {w: ort.InferenceSession(str(export_views_onnx(model, Path(tmp) / f"v{w}.onnx", size, w, views)),
                                         opts, providers=["CPUExecutionProvider"]) for w in widths}

    def run_banded(feed, band, gbuf):  # as GlLookupBackend._infer_band
        cols = slice(band[0], band[0] + band[1])
        part = parts[band[1]]
        outs = {}
        got = part.run(None, {k: np.ascontiguousarray(v[..., cols]) for k, v in feed.items()})
        if on_band:
            outs = {o.name: x for o, x in zip(part.get_outputs(), got)}
            outs["first"] = np.array([band[0]], np.int64)
            if gbuf is not None:  # the target's G-buffer on the band (the finish's lines, since s13-ink)
                outs["gbuf"] = np.ascontiguousarray(gbuf[..., cols])
            outs = {i.name: outs[i.name] for i in finish[band[1]].get_inputs()}
            rgba = np.zeros((1, 4, size, size), np.float32)
            rgba[..., cols] = finish[band[1]].run(None, outs)[0]
            return rgba
        for o, x in zip(part.get_outputs(), got):
            outs[o.name] = np.zeros((1, x.shape[1], size, size), np.float32)
            outs[o.name][..., cols] = x
        outs.setdefault("udp", feed["udp"])  # the finish took the udp itself before FUSION_FORMAT 19 (then: the pose; 20: also the darkest view; 21: the edges)
        return finish[band[1]].run(None, {i.name: outs[i.name] for i in finish[band[1]].get_inputs()})[0]

    # as the runtime delivers the frames: times the target's alpha (off the band a finish on the
    # band draws nothing, the whole graph the refinement's stray paint off the target)
    names = {i.name for i in whole.get_inputs()}
    wholes = [{**f, "gbuf": g} if "gbuf" in names else f for f, g in zip(feeds, gbufs)]
    diff = max(float(np.abs((run_banded(f, b, g) - whole.run(None, w)[0]) * f["udp"][:, 3:4]).max())
               for f, w, g, b in zip(feeds, wholes, gbufs, bands))
    cpu = {"whole": [], "banded": []}
    for _ in range(runs):
        for name in ("whole", "banded"):
            t = time.process_time()
            for f, w, g, b in zip(feeds, wholes, gbufs, bands):
                whole.run(None, w) if name == "whole" else run_banded(f, b, g)
            cpu[name].append((time.process_time() - t) / len(feeds) * 1e3)
    import statistics
    med = {k: round(statistics.median(v), 2) for k, v in cpu.items()}
    return {"band_widths": sorted({b[1] for b in bands}), "whole_cpu_ms": med["whole"], "banded_cpu_ms": med["banded"],
            "ratio": round(med["banded"] / med["whole"], 3), "max_abs_diff": diff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "frame_cpu.json")
    ap.add_argument("--baseline", default=None, help="a commit to run alternately with this checkout")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    if args.baseline:
        return compare(args)
    loop, (samples, graph, ink, model) = loop_profile(args.size, args.frames)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": args.size,
              "frames": args.frames, "loop": loop, "fusion_graph": graph_profile(graph, samples, ink)}
    banded = banded_profile(model, samples, graph)
    if banded is not None:
        result["banded_fusion"] = banded
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def compare(args) -> int:
    """--baseline: this profile of the baseline's code and of this checkout's, alternately."""
    import statistics
    import subprocess

    from e2e_ab import _LAUNCH  # benchmarks/ is on sys.path when run as a script

    # the launcher runs this script (not the CLI) with the conrt of the folder it is given
    launch = _LAUNCH.replace("from conrt.cli import main\nsys.exit(main())",
                             "import runpy\nsys.argv.pop(0)\nrunpy.run_path(sys.argv[0], run_name='__main__')")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    runs: dict = {"baseline": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="conrt-frame-cpu-") as tmp:
        base = Path(tmp) / "src"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        for r in range(args.rounds):  # ABBA...: neither version always runs first
            for name in ("baseline", "head") if r % 2 == 0 else ("head", "baseline"):
                out = Path(tmp) / f"{name}{r}.json"
                proc = subprocess.run([sys.executable, "-c", launch, str(base if name == "baseline" else ROOT),
                                       str(Path(__file__).resolve()), "--size", str(args.size), "--frames",
                                       str(args.frames), "--json", str(out)], capture_output=True, text=True,
                                      env={**os.environ, "DISPLAY": ""}, timeout=1800)
                if proc.returncode != 0:
                    raise SystemExit(f"{name} run failed:\n{proc.stderr[-3000:]}")
                runs[name].append(json.loads(out.read_text()))
                loop = runs[name][-1]["loop"]
                print(f"{name}: {loop['cpu_ms']} ms CPU / frame, threads {loop['threads_ms']}, load {loop['load_1min']}")
    medians = {}
    for name, rows in runs.items():
        threads = {k for r in rows for k in r["loop"]["threads_ms"]}
        medians[name] = {"cpu_ms": statistics.median(r["loop"]["cpu_ms"] for r in rows),
                         "fps": statistics.median(r["loop"]["fps"] for r in rows),
                         "fusion_graph_cpu_ms": statistics.median(r["fusion_graph"]["cpu_ms_per_run"] for r in rows),
                         "threads_ms": {k: statistics.median(r["loop"]["threads_ms"].get(k, 0.0) for r in rows)
                                        for k in sorted(threads)},
                         "load_1min": [r["loop"]["load_1min"] for r in rows]}
        steps = {k for r in rows for k in r["loop"].get("frame_loop_ms", {})}
        if steps:  # the frame loop's thread by step (runs of this script since session 11)
            medians[name]["frame_loop_ms"] = {k: statistics.median(r["loop"].get("frame_loop_ms", {}).get(k, 0.0)
                                                                   for r in rows) for k in sorted(steps)}
        if rows and all("banded_fusion" in r for r in rows):  # this checkout's banded fusion vs its whole graph
            medians[name]["banded_fusion"] = {k: statistics.median(r["banded_fusion"][k] for r in rows)
                                              for k in ("whole_cpu_ms", "banded_cpu_ms", "ratio")}
    result = {"what": f"benchmarks/frame_cpu.py --size {args.size} --frames {args.frames}, run alternately with "
                      f"{args.baseline}'s code (baseline) and {head}'s, {args.rounds} rounds, each a fresh process",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": runs, "medians": medians}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps(medians, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
