"""Edge quality of the runtime's anti-aliased silhouette: the coverage each way
gives, against a supersampled reference, on real frames.

For each character (the sample character, Godette: a third-party VRM with
single-sided and BLEND materials) and size, random poses framed as the runtime
frames them (``RasterStage.camera``); per frame:

- ``reference``: the occupancy drawn at 8 x the size (same camera, 64 samples a
  pixel), averaged per pixel;
- ``off``: the binary occupancy (no anti-aliasing: the simplest baseline);
- ``old``: the old runtime's coverage, the supersampled pass's alpha over every
  3 x 3 block (``UdpPass(antialias=3)``; the old ``coverage=3`` was exactly that);
- ``new``: ``UdpPass(coverage=3).read_coverage()`` (3 x 3 samples drawn without
  the triangles deep inside, summed on the silhouette band only).

Reported per method: the mean |coverage - reference| over the edge pixels
(those where the reference or any method is neither 0 nor 1, or they
disagree), its 99th percentile, the share of edge pixels off by more than
1/9, and the summed error per frame.

    python benchmarks/antialias_quality.py [--sizes 128 256] [--poses 6]
        [--json benchmarks/results/antialias_quality.json] [--docs docs/runtime.md]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
from doc_table import publish  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
GODETTE = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "Godette_vrm_v4.vrm"
REFERENCE = 8  # samples per pixel side of the reference
METHODS = ("off", "old", "new")


def frames(ctx, character, size: int, poses: int):
    """(reference, {method: coverage}) per pose."""
    from conrt.commands.udp import random_pose
    from conrt.runtime.app.frame_loop import RasterStage
    from conrt.shaders.udp_pass import UdpPass
    from conrt.types import Camera

    stage = RasterStage(character, size, ctx=ctx)
    big = UdpPass(ctx, REFERENCE * size, REFERENCE * size)
    old = UdpPass(ctx, size, size, antialias=3)
    new = UdpPass(ctx, size, size, visibility=True, coverage=3)  # as the runtime makes it
    try:
        for p in (big, old, new):
            p.set_character(character)
        for seed in range(poses):
            pose = random_pose(character, seed, 0.3)
            cam = stage.camera(pose)
            hi = Camera(cam.view, cam.proj, REFERENCE * size, REFERENCE * size)
            ref = big.run(pose, hi).data[..., 3].reshape(size, REFERENCE, size, REFERENCE).mean((1, 3))
            udp = new.run(pose, cam).data
            yield ref, {"off": (udp[..., 3] > 0).astype(np.float32),
                        "old": old.run(pose, cam).data[..., 3],
                        "new": new.read_coverage()}
    finally:
        for p in (big, old, new):
            p.release()
        stage.udp.release()


def measure(sizes, poses: int) -> dict:
    from conrt.characters.gltf_io import load_character
    from conrt.samples import SAMPLE_CHARACTER
    from conrt.shaders import create_context, release_context

    ctx = create_context("egl")
    rows = []
    try:
        for name, path in (("sample", SAMPLE_CHARACTER), ("godette", GODETTE)):
            character = load_character(path)
            for size in sizes:
                errors = {m: [] for m in METHODS}
                per_frame = {m: [] for m in METHODS}
                for ref, cov in frames(ctx, character, size, poses):
                    soft = lambda c: (c > 0) & (c < 1)  # noqa: E731
                    edge = soft(ref) | np.logical_or.reduce([soft(c) for c in cov.values()]) | \
                        np.logical_or.reduce([(c > 0) != (ref > 0) for c in cov.values()])
                    for m in METHODS:
                        err = np.abs(cov[m] - ref)[edge]
                        errors[m].append(err)
                        per_frame[m].append(float(err.sum()))
                row = {"character": name, "size": size, "poses": poses,
                       "edge_pixels_per_frame": round(sum(len(e) for e in errors["off"]) / poses, 1)}
                for m in METHODS:
                    e = np.concatenate(errors[m])
                    row[m] = {"mean_abs": round(float(e.mean()), 4), "p99": round(float(np.percentile(e, 99)), 4),
                              "over_1_9": round(float((e > 1 / 9 + 1e-6).mean()), 4),
                              "sum_per_frame": round(float(np.mean(per_frame[m])), 2)}
                rows.append(row)
                print(json.dumps(row))
    finally:
        release_context(ctx)
    return {"reference": f"{REFERENCE}x{REFERENCE} samples per pixel", "rows": rows}


def table(result: dict) -> str:
    lines = [f"Coverage error against {result['reference']} on the edge pixels, "
             f"{result['rows'][0]['poses']} random poses per row, framed as the runtime frames them "
             "(`python benchmarks/antialias_quality.py`):", "",
             "| character | size | edge px / frame | off (binary) mean | old (3×3 everywhere) mean | new mean | "
             "new / old summed | old p99 | new p99 | old > 1/9 | new > 1/9 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['character']} | {r['size']}² | {r['edge_pixels_per_frame']:.0f} | {r['off']['mean_abs']:.3f} | "
                     f"{r['old']['mean_abs']:.4f} | {r['new']['mean_abs']:.4f} | "
                     f"{r['new']['sum_per_frame'] / r['old']['sum_per_frame']:.4f} | {r['old']['p99']:.3f} | "
                     f"{r['new']['p99']:.3f} | {100 * r['old']['over_1_9']:.1f} % | {100 * r['new']['over_1_9']:.1f} % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--poses", type=int, default=6)
    ap.add_argument("--json", type=Path, help="write the result here")
    ap.add_argument("--docs", type=Path, help="replace the table between the antialias-quality markers there")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = measure(args.sizes, args.poses)
    text = table(result)
    publish(result, args.json, text, args.docs, "antialias-quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
