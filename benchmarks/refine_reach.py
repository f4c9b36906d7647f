"""How far the finish graph's refinement reaches, against how wide the character is: why the
finish cannot run on the covered box plus a margin (docs/runtime.md, "Session 13").

1. The reach: the refinement U-Net's delta, brought to full size as the finish graph does
   (``FastFusionGraph.refine`` on the inputs pooled by ``refine_scale``, a bilinear resize),
   differentiated (float64, the shipped weights) at a pixel in the middle of a ``--size`` frame:
   the columns its gradient touches are the ones the delta at that pixel depends on (the
   receptive field the weights use, not the architecture's bound).
2. The target's box on the default runtime's walk frames at that size (the UDP's alpha).

A box plus the reach on both sides, against the frame's side, is what a crop of the finish
could save; the fill's pull-push pyramid (``lookup_net.pull_push``) reaches the whole frame
besides.

Usage: python benchmarks/refine_reach.py [--sizes 128,256,512] [--frames 8]
       [--json benchmarks/results/refine_reach.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def reach(model, size: int) -> dict:
    """Columns left and right of the middle pixels whose inputs move the delta there."""
    import torch
    import torch.nn.functional as F

    from conrt.runtime.backends.fusion_graph import FastFusionGraph

    graph = FastFusionGraph(model.double(), keep_seen=True, inked=True)
    r = graph.net.refine_scale
    g = torch.Generator().manual_seed(0)
    inputs = [torch.rand(1, c, size, size, dtype=torch.float64, generator=g, requires_grad=True) for c in (4, 1, 4)]
    delta = graph.refine(*(F.avg_pool2d(x, r) for x in inputs))
    delta = F.interpolate(delta, size=(size, size), mode="bilinear", align_corners=False)
    out = {}
    for c in (size // 2, size // 2 + 1):  # both parities of the half-size grid
        grads = torch.autograd.grad(delta[0, :, c, c].sum(), inputs, retain_graph=True)
        touched = np.flatnonzero(sum(x.abs().sum((0, 1, 2)) for x in grads).numpy() > 0)
        out[str(c)] = {"left": int(c - touched[0]), "right": int(touched[-1] - c)}
    model.float()
    return out


def target_box(size: int, frames: int) -> list[dict]:
    """The UDP alpha's rows and columns on the default runtime's walk frames (every 3rd)."""
    from conrt.runtime.app.frame_loop import RuntimeSpec, build_runtime

    rt = build_runtime(RuntimeSpec(motion="walk", size=size, context="egl", lookahead=False))
    try:
        out = []
        for _ in range(frames):
            for _ in range(3):
                pose = rt.physics.step()
            rt.raster.render(pose, rt.raster.camera(pose))
            alpha = rt.raster.read()[..., 3] > 0
            rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
            out.append({"rows": [int(rows[0]), int(rows[-1])], "cols": [int(cols[0]), int(cols[-1])]})
        return out
    finally:
        rt.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="128,256,512")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "refine_reach.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("DISPLAY", "")
    from conrt.runtime.nn.checkpoint import resolve_model

    model = resolve_model(None).eval()
    rows = {}
    for size in map(int, args.sizes.split(",")):
        got = reach(model, size)
        boxes = target_box(size, args.frames)
        widest = max(b["cols"][1] - b["cols"][0] + 1 for b in boxes)
        most = max(max(v["left"], v["right"]) for v in got.values())
        rows[str(size)] = {"reach_px": got, "target_boxes": boxes, "widest_target_cols": widest,
                           "box_plus_reach_cols": min(size, widest + 2 * most)}
        print(f"{size}²: the refinement reaches {most} px; the target {widest} columns wide at most; "
              f"box + reach {rows[str(size)]['box_plus_reach_cols']} of {size} columns")
    out = {"what": "the finish graph's refinement reach (gradient support, float64, shipped weights) and the "
                   "default runtime's walk frames' target box", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "sizes": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
