"""What the correspondence pass costs per frame with the drawings at the frame's side or at twice it.

Session 12 (docs/conr_rt.md, "The pass samples the drawings, up to twice the frame side"): the
pass samples the sheet's drawings at up to ``frame_loop.PASS_SHEET_SCALE`` x the frame side.
Here the sample character and its 256² sample sheet (exact correspondences, 6 views) at
``--size`` (128): two raster stages in one process, one with the pass's reference at the
frame's side, one at ``pass_sheet``'s, the same walk poses rendered and read back
(``RasterStage.render`` + ``read_views_box``, the frame loop's raster work) alternately,
``--reps`` rounds; the process CPU time per frame (llvmpipe's threads included) and the wall
time, medians over the rounds.

Usage: python benchmarks/pass_sheet_cost.py [--size 128] [--reps 15] [--frames 8]
       [--json benchmarks/results/pass_sheet_cost.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--frames", type=int, default=8, help="walk poses per round")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    from conrt.physics.clips import Animator, get_clip
    from conrt.runtime.app.frame_loop import RasterStage, pass_sheet, sheet_views
    from conrt.runtime.app.session import fit_sheet, load_sheet, resolve_character
    from conrt.runtime.nn.sheet import prepare_sheet
    import numpy as np

    character = resolve_character(None)[0]
    sheet = load_sheet(None)
    chosen = sheet.correspondences(character, "exact")
    size = args.size
    rgb, mask = prepare_sheet(fit_sheet(sheet.images, size), 1, size, False, None, size)
    frame_ref = np.concatenate([rgb, mask], 2)[0]
    side, big_ref = pass_sheet(sheet.images, size, frame_ref)
    stages = {}
    for name, s, ref in (("frame side", size, frame_ref), (f"{side}² drawings", side, big_ref)):
        stage = RasterStage(character, size)
        stage.set_correspondences(sheet_views(chosen, sheet.images, s), ref, inked=True)
        stages[name] = stage
    walk = Animator(character, get_clip("walk", character))
    poses = [walk.pose(t) for t in np.linspace(0.0, 1.5, args.frames)]
    cameras = [next(iter(stages.values())).camera(p) for p in poses]
    cpu = {n: [] for n in stages}
    wall = {n: [] for n in stages}
    for r in range(args.reps):
        order = list(stages) if r % 2 == 0 else list(stages)[::-1]
        for name in order:
            stage = stages[name]
            c0, w0 = time.process_time(), time.perf_counter()
            for pose, cam in zip(poses, cameras):
                stage.render(pose, cam)
                stage.read_views_box()
            cpu[name].append((time.process_time() - c0) / len(poses) * 1e3)
            wall[name].append((time.perf_counter() - w0) / len(poses) * 1e3)
    for stage in stages.values():
        stage.close()
    result = {"size": size, "pass_side": side, "reps": args.reps, "frames": args.frames,
              "load_1min": os.getloadavg()[0],
              "per_frame": {n: {"cpu_ms_median": round(statistics.median(cpu[n]), 3),
                                "wall_ms_median": round(statistics.median(wall[n]), 3),
                                "cpu_ms": [round(x, 3) for x in cpu[n]]} for n in stages}}
    a, b = (result["per_frame"][n]["cpu_ms_median"] for n in stages)
    result["cpu_ratio"] = round(b / a, 3)
    print(json.dumps({k: v for k, v in result.items()}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
