"""What the banded fusion's step costs: the views' graph's CPU by band width on real frames.

The gl-lookup backend runs the views' half of the fusion graph on a band of
columns (``fusion_graph.band_of_columns``: every covered column, the scores'
reach each side, a multiple of ``size // BAND_STEPS`` wide; a graph per width).
A coarser step means fewer graphs to export, a wider band to run. This runs the
default runtime (exact correspondences, walk clip, one shading thread) for
``--frames`` frames, takes each frame's read-back as the frame loop hands it to
the shader, and reports:

- per ``--band-steps`` value: the band widths its steps give these frames
  (the mean), against the columns they need (covered columns and the reach);
- the views' graph's CPU per run (one ONNX Runtime thread, the backend's
  session options, medians of ``--rounds`` interleaved rounds) at each of those
  widths, on the frames' own columns, and the CPU per column.

Usage: python benchmarks/band_width_bench.py [--size 256] [--frames 12] [--band-steps 8,16,32]
       [--rounds 8] [--json benchmarks/results/band_width.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def captured_frames(size: int, frames: int) -> tuple[list, object]:
    """[(prepared udp [1, 4, S, S], ViewsRead)] of the default runtime's walk frames, and its backend's model."""
    from conrt.runtime.app.frame_loop import RuntimeSpec, build_runtime
    from conrt.runtime.backends import gl_lookup_backend

    caught = []
    infer_read = gl_lookup_backend.GlLookupBackend.infer_read

    def grab(self, udp, read):
        caught.append((udp.copy(), read))
        return infer_read(self, udp, read)

    gl_lookup_backend.GlLookupBackend.infer_read = grab
    try:
        rt = build_runtime(RuntimeSpec(motion="walk", size=size, context="egl", lookahead=True, shade_workers=1))
        try:
            for _ in rt.frames(frames):
                pass
            model, views = rt.shader.backend.model, rt.shader.cache.views
        finally:
            rt.close()
    finally:
        gl_lookup_backend.GlLookupBackend.infer_read = infer_read
    return caught, model, views


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--band-steps", default="8,16,32", help="BAND_STEPS values to compare (comma-separated)")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "band_width.json")
    args = ap.parse_args(argv)

    from conrt.runtime.backends.fusion_graph import BAND_REACH, band_of_columns
    from conrt.runtime.backends.gl_lookup_backend import export_views_onnx
    from conrt.runtime.backends.onnx_backend import open_session

    size = args.size
    frames, model, views = captured_frames(size, args.frames)
    s = model.fusion.score_scale
    covered = [(udp[0, 3] > 0).any(0) | read.covered_columns() for udp, read in frames]
    needed = [int(np.flatnonzero(c)[-1] + 1 - np.flatnonzero(c)[0]) + 2 * BAND_REACH * s for c in covered]
    steps = [int(x) for x in args.band_steps.split(",") if x]
    bands = {}
    for n in steps:
        step = max(s, size // n // s * s)
        bands[n] = [band_of_columns(c, size, s, step) for c in covered]
    widths = sorted({b[1] for bs in bands.values() for b in bs if b is not None})
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {w: open_session(export_views_onnx(model, Path(tmp) / f"views{w}.onnx", size, w, views), 1)
                    for w in widths}
    # each width on the frames' own columns (the band a step of that width gives the first frame)
    feeds = {}
    for w in widths:
        udp, read = frames[0]
        band = next(b for bs in bands.values() for b in bs if b is not None and b[1] == w)
        sampled, cover = read.columns(band[0], band[0] + w)
        feeds[w] = {"sampled": sampled[None], "cover": cover[None],
                    "udp": np.ascontiguousarray(udp[..., band[0]:band[0] + w])}
    cpu = {w: [] for w in widths}
    for r in range(args.rounds):
        for w in (widths if r % 2 == 0 else widths[::-1]):
            t = time.process_time()
            for _ in range(3):
                sessions[w].run(None, feeds[w])
            cpu[w].append((time.process_time() - t) / 3 * 1e3)
    ms = {w: round(statistics.median(v), 3) for w, v in cpu.items()}
    slope = float(np.polyfit(widths, [ms[w] for w in widths], 1)[0]) if len(widths) > 1 else float("nan")
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "size": size, "frames": len(frames), "views": views, "load_1min": round(os.getloadavg()[0], 2),
        "needed_columns_mean": round(float(np.mean(needed)), 1),
        "band_steps": {str(n): {"step_px": max(s, size // n // s * s),
                                "widths": sorted({b[1] for b in bs if b is not None}),
                                "mean_width": round(float(np.mean([b[1] if b else size for b in bs])), 1),
                                "views_graph_ms": round(float(np.mean([ms[b[1]] for b in bs if b])), 3)}
                       for n, bs in bands.items()},
        "views_graph_ms_by_width": {str(w): ms[w] for w in widths},
        "views_graph_ms_per_column": round(slope, 4),
    }
    print(json.dumps(result, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
