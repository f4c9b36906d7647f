"""The exact fusion graph (what the shading thread runs) of a baseline commit against this
checkout's, on the same real frames, interleaved in one process.

Each version exports its own graph (``export_fusion_onnx``, keep_seen: exact
correspondences) with the shipped weights; the baseline's from its code out
of ``git archive`` (imported through benchmarks/e2e_ab.py's launcher). Both
run in ONNX Runtime with one thread, as the gl-lookup backend opens them,
alternately on the same frames of the default runtime (walk clip, sample
sheet, exact correspondences); per size: the median CPU ms per run and the
largest difference of their outputs (float rounding only).

``--graph banded``: the banded fusion as the gl-lookup backend runs it on inked sheets (each
version's views graph on the frame's band of columns, then its finish graph: since session 13
on the band too, its first column an input, the result put in a zeroed frame; before, the
views' outputs put in zeroed whole-frame arrays and the finish on those;
``GlLookupBackend._infer_band``). The outputs are compared as the runtime delivers them
(times the UDP's alpha: off the band a finish on the band draws nothing, the whole frame's
the refinement's stray paint off the target).

``--graph finish``: the finish half of the banded fusion instead (``export_finish_onnx``:
the refinement, the keep-seen rule and the fill on the whole frame, what a 256² default
frame runs after the views' band; inked look), fed the fused colour and coverage of the
same frames (this checkout's ``FastFusionGraph.fuse``, the same for both versions).

Usage: python benchmarks/fusion_graph_ab.py [--baseline 87610d9] [--sizes 128,256,512] [--rounds 8]
       [--graph whole|finish|banded] [--json benchmarks/results/fusion_graph_ab.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from e2e_ab import _LAUNCH  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]

# the launcher's version of conrt exports its exact fusion graph (argv: size, views, path)
_EXPORT = r"""
from conrt.runtime.backends.gl_lookup_backend import export_fusion_onnx
from conrt.runtime.nn.checkpoint import resolve_model
if sys.argv[5].startswith("finishband"):  # finishband-WIDTH: the banded fusion's finish for a band that wide
    from conrt.runtime.backends.gl_lookup_backend import export_finish_onnx
    try:
        export_finish_onnx(resolve_model(None), sys.argv[3], int(sys.argv[1]), width=int(sys.argv[5][11:]))
    except TypeError:  # before session 13: the finish on the whole frame
        export_finish_onnx(resolve_model(None), sys.argv[3], int(sys.argv[1]))
    sys.exit(0)
if sys.argv[5] == "finish":
    from conrt.runtime.backends.gl_lookup_backend import export_finish_onnx
    export_finish_onnx(resolve_model(None), sys.argv[3], int(sys.argv[1]))
    sys.exit(0)
if sys.argv[5].startswith("views"):  # views-WIDTH: the views' graph of the banded fusion on a band that wide
    from conrt.runtime.backends.gl_lookup_backend import export_views_onnx
    export_views_onnx(resolve_model(None), sys.argv[3], int(sys.argv[1]), int(sys.argv[5][5:]), int(sys.argv[2]))
    sys.exit(0)
try:  # one graph per sheet look (since FUSION_FORMAT 13): the frames' look
    export_fusion_onnx(resolve_model(None), sys.argv[3], int(sys.argv[1]), int(sys.argv[2]), True, sys.argv[4] == "1")
except TypeError:  # older code: one graph, the look an input
    export_fusion_onnx(resolve_model(None), sys.argv[3], int(sys.argv[1]), int(sys.argv[2]), True)
"""


def export_in(source: Path, size: int, views: int, path: Path, inked: bool, graph: str = "whole") -> Path:
    code = _LAUNCH.replace("from conrt.cli import main\nsys.exit(main())", _EXPORT)
    proc = subprocess.run([sys.executable, "-c", code, str(source), str(size), str(views), str(path), str(int(inked)),
                           graph],
                          capture_output=True, text=True, env={**os.environ, "DISPLAY": ""}, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"export of {source} failed:\n{proc.stderr[-3000:]}")
    return path


def frames(size: int, count: int = 4) -> list[dict]:
    """Feeds of the exact graph from the default runtime's walk frames (every 5th)."""
    from conrt.runtime.app.frame_loop import RuntimeSpec, build_runtime
    from conrt.runtime.nn.sheet import prepare_udp

    rt = build_runtime(RuntimeSpec(motion="walk", size=size, context="egl", lookahead=False))
    try:
        ink = rt.shader.cache.ink()
        ink = np.ones(1, np.float32) if ink is None else ink.numpy()
        out = []
        for _ in range(count):
            for _ in range(5):
                pose = rt.physics.step()
            rt.raster.render(pose, rt.raster.camera(pose))
            sampled, cover, gbuf = rt.raster.read_views()
            out.append({"sampled": sampled[None].copy(), "cover": cover[None].copy(),
                        "udp": prepare_udp(rt.raster.read(), size, False)[0], "ink": ink,
                        "gbuf": gbuf[None].copy()})  # the target's G-buffer (FUSION_FORMAT 26's inked graphs)
        return out
    finally:
        rt.close()


def finish_feeds(feeds: list[dict]) -> list[dict]:
    """The finish graph's feeds (fused colour, coverage, udp; pose, the udp ``encode_pose``'d, since
    FUSION_FORMAT 19; the views' darkest, since 20: on the whole frame, a finish reads it on
    the edges only, until 26; the target's edges, since 21; its G-buffer, since 26) of the whole
    graph's feeds."""
    import torch
    import torch.nn.functional as F

    from conrt.runtime.backends.fusion_graph import FastFusionGraph
    from conrt.runtime.nn.lookup_net import darkest_view, target_edges
    from conrt.runtime.nn.checkpoint import resolve_model

    model = resolve_model(None).eval()
    graph = FastFusionGraph(model, True, True)
    out = []
    with torch.no_grad():
        for f in feeds:
            (_, m, _, h, w), udp = f["sampled"].shape, torch.from_numpy(f["udp"])
            sampled4 = torch.from_numpy(f["sampled"]).reshape(m, 4, h, w)
            cover4 = torch.from_numpy(f["cover"]).reshape(m, 1, h, w)
            fused, coverage = graph.fuse(sampled4, cover4,
                                         F.avg_pool2d(model.encode_pose(udp)[0], model.fusion.score_scale))
            out.append({"fused": fused.numpy(), "coverage": coverage.numpy(), "udp": f["udp"],
                        "pose": model.encode_pose(udp)[0].numpy(),
                        "darkest": darkest_view(sampled4[None], cover4[None]).numpy(), "gbuf": f["gbuf"],
                        "edges": target_edges(model.encode_pose(udp)[0]).numpy()})  # each graph takes what it names
    return out


class Banded:
    """One version's banded fusion, run like a session (``run(["rgba"], feed)``): the views graph
    of the feed's band width on its columns, then the finish of that width on them (its first
    column an input) pasted in a zeroed frame, or (before session 13) the outputs in zeroed
    whole-frame arrays and the whole frame's finish."""

    def __init__(self, finish: dict, views: dict):
        self.finish, self.views = finish, views

    def run(self, _names, feed):
        cols, width = feed["band"]
        part, finish = self.views[width], self.finish[width]
        outs = {}
        got = part.run(None, {k: np.ascontiguousarray(feed[k][..., cols]) for k in ("sampled", "cover", "udp")})
        if "first" in {i.name for i in finish.get_inputs()}:  # the finish on the band
            outs = {o.name: x for o, x in zip(part.get_outputs(), got)}
            outs["first"] = np.array([cols.start], np.int64)
            if "gbuf" in feed:  # the target's G-buffer since FUSION_FORMAT 26, on the band as the rest
                outs["gbuf"] = np.ascontiguousarray(feed["gbuf"][..., cols])
            rgba = np.zeros((1, 4) + feed["udp"].shape[2:], np.float32)
            rgba[..., cols] = finish.run(["rgba"], {i.name: outs[i.name] for i in finish.get_inputs()})[0]
            return [rgba]
        for o, x in zip(part.get_outputs(), got):
            outs[o.name] = np.zeros((1, x.shape[1]) + feed["udp"].shape[2:], np.float32)
            outs[o.name][..., cols] = x
        outs.setdefault("udp", feed["udp"])  # the finish took the udp itself before FUSION_FORMAT 19
        outs.setdefault("gbuf", feed["gbuf"])  # and the target's G-buffer since 26
        return finish.run(["rgba"], {i.name: outs[i.name] for i in finish.get_inputs()})


def banded_sessions(base: Path, tmp: str, size: int, views: int, feeds: list[dict]):
    """(sessions, feeds per version) of ``--graph banded``: each feed with its band (the
    backend's ``band_columns`` and step)."""
    from conrt.runtime.backends.fusion_graph import band_columns
    from conrt.runtime.backends.gl_lookup_backend import BAND_STEPS
    from conrt.runtime.backends.onnx_backend import open_session
    from conrt.runtime.nn.checkpoint import resolve_model

    s = resolve_model(None).fusion.score_scale
    step = max(s, size // BAND_STEPS // s * s)
    banded = []
    for f in feeds:
        band = band_columns(f["udp"][0, 3], f["cover"][0, :, 0], size, s, step)
        if band is None:
            raise SystemExit(f"a {size}² frame has no band narrower than the frame")
        banded.append({**f, "band": (slice(band[0], band[0] + band[1]), band[1])})
    widths = sorted({f["band"][1] for f in banded})
    sessions = {}
    for name, src in (("baseline", base), ("head", ROOT)):
        finish = {w: open_session(export_in(src, size, views, Path(tmp) / f"{name}-finish{w}-{size}.onnx", True,
                                            f"finishband-{w}"), 1) for w in widths}
        parts = {w: open_session(export_in(src, size, views, Path(tmp) / f"{name}-views{w}-{size}.onnx", True,
                                           f"views{w}"), 1) for w in widths}
        sessions[name] = Banded(finish, parts)
    return sessions, {name: banded for name in sessions}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="87610d9")
    ap.add_argument("--sizes", default="128,256,512")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--graph", choices=("whole", "finish", "banded"), default="whole")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fusion_graph_ab.json")
    args = ap.parse_args(argv)
    from conrt.runtime.backends.onnx_backend import open_session

    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="conrt-graph-ab-") as tmp:
        base = Path(tmp) / "src"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        for size in map(int, args.sizes.split(",")):
            feeds = frames(size)
            views, inked = feeds[0]["sampled"].shape[1], bool(feeds[0]["ink"][0] > 0.5)
            if args.graph == "finish":
                feeds, inked = finish_feeds(feeds), True
            if args.graph == "banded":
                sessions, feeds_of = banded_sessions(base, tmp, size, views, feeds)
            else:
                sessions = {name: open_session(export_in(src, size, views, Path(tmp) / f"{name}-{size}.onnx", inked,
                                                         args.graph), 1)
                            for name, src in (("baseline", base), ("head", ROOT))}
                feeds_of = {name: [{k: v for k, v in f.items() if k in {i.name for i in s.get_inputs()}} for f in feeds]
                            for name, s in sessions.items()}  # older graphs take the look as an input
            outs = {name: [s.run(["rgba"], f)[0] for f in feeds_of[name]] for name, s in sessions.items()}
            # as the runtime delivers them: times the target's alpha (ShadeStage's clip)
            clip = [f["udp"][:, 3:4] for f in feeds]
            diff = max(float(np.abs((a - b) * c).max()) for a, b, c in zip(outs["baseline"], outs["head"], clip))
            times: dict = {"baseline": [], "head": []}
            for r in range(args.rounds):  # ABBA...
                for name in ("baseline", "head") if r % 2 == 0 else ("head", "baseline"):
                    c0 = time.process_time()
                    for f in feeds_of[name]:
                        sessions[name].run(["rgba"], f)
                    times[name].append(round((time.process_time() - c0) / len(feeds) * 1e3, 2))
            med = {k: statistics.median(v) for k, v in times.items()}
            rows[str(size)] = {"views": views, "cpu_ms_median": med, "cpu_ms": times,
                               "ratio": round(med["head"] / med["baseline"], 3), "max_abs_diff": diff,
                               "load_1min": round(os.getloadavg()[0], 2)}
            print(f"{size}²: {med['baseline']:.2f} -> {med['head']:.2f} ms CPU per run "
                  f"({rows[str(size)]['ratio']}x), outputs within {diff:.1e}, load {rows[str(size)]['load_1min']}")
    what = {"whole": "exact fusion graph", "finish": "finish graph of the banded fusion (inked)",
            "banded": "banded fusion (views graph on the band + finish graph, inked)"}[args.graph]
    out = {"what": f"{what}, {args.baseline} (baseline) vs {head}, one ORT thread, "
                   f"{args.rounds} interleaved rounds over the same 4 walk frames per size",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "sizes": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
