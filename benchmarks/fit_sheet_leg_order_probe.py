"""Which leg is in front, seen from the side: can the drawing alone tell? A probe for issue #16.

For each side view (and two others for reference) of ``fit_sheet_bench.py``'s drawings (the same
seeds): the separate fit (``conrt fit-sheet``), then its legs swapped (``SheetFitter._swap_legs``:
the other leg in front) and both searched again alike (legs and camera, the fine steps at the fine
size). Per view, for the fit and the swap: the written UDP error after the residual warp, the fit's
cost (1 - IoU + colour error), and the ink lines' agreement (drawn and rendered ink, the dark pixels
of the overlap, each within a pixel of the other's: the near leg's outline crosses the far one).
A cue that tells the legs apart is lower (cost) or higher (ink) on the swap wherever its UDP error
is lower.

Usage: python benchmarks/fit_sheet_leg_order_probe.py [--views p02,p12,p32,t02,t12,t22,p00,p03]
       [--json benchmarks/results/fit_sheet_s13_leg_order_probe.json]
(a view: p per-view / t turnaround, the sheet, the view index of labels 0, 45, 90, 180)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = (0.0, 45.0, 90.0, 180.0)
INK_MAX = 0.22  # brightest channel of an ink pixel (toon ink = surface colour x ~0.1)


def ink_agreement(mask_a, rgb_a, mask_b, rgb_b) -> float:
    """Mean over both of the share of one's ink pixels (on the silhouettes' overlap) within a pixel of the other's."""
    from scipy.ndimage import binary_dilation

    both = mask_a & mask_b
    a, b = both & (rgb_a.max(-1) < INK_MAX), both & (rgb_b.max(-1) < INK_MAX)
    near_a = (a & binary_dilation(b)).sum() / max(a.sum(), 1)
    near_b = (b & binary_dilation(a)).sum() / max(b.sum(), 1)
    return float(0.5 * (near_a + near_b))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", default="p02,p12,p32,t02,t12,t22,p00,p03")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s13_leg_order_probe.json")
    args = ap.parse_args()

    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.runtime.app.session import fit_sheet_udps
    from conrt.runtime.app.sheet_fit import (FitParams, SheetFitter, _Clock, _Coarse, downsample_drawing,
                                             prepare_drawing, search_bounds)
    from conrt.shaders import create_context, release_context
    from conrt.training.fit_drawings import make_drawing, make_turnaround, udp_error

    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "char.glb"
    save_character(generate(args.seed), path)
    character = load_character(path)
    ctx = create_context("auto")
    rows = []
    try:
        with SheetFitter(ctx, character, 256) as fitter:
            nb = len(fitter.bones)
            legs = [4 + i for i in fitter._leg_indices(fitter.bones)]
            free = np.zeros(6 + nb, bool)
            free[:4] = True
            free[legs] = True
            steps = np.array([1.0, 0.0075, 0.0075, 0.0075, 4.0, 4.0] + [4.0] * nb)  # the fine search's first level
            for spec in args.views.split(","):
                mode, sheet, k = spec[0], int(spec[1]), int(spec[2])
                if mode == "t":
                    drawing, true, truth = make_turnaround(ctx, character, LABELS, sheet)[k]
                else:
                    drawing, true, truth = make_drawing(ctx, character, LABELS[k], 1000 * sheet + k)
                img = prepare_drawing(drawing, spec, 256)
                true = fit_sheet_udps([true], [drawing], 256)[0]
                fit = fitter.fit(img, spec, LABELS[k])
                fine = downsample_drawing(img, fitter.fine)
                bounds = search_bounds(LABELS[k], 35.0, nb)
                coarse = _Coarse(downsample_drawing(img, fitter.work), [], 0.0, 0.0, LABELS[k], nb)
                p = fit.params
                swapped = FitParams(p.yaw, p.scale, p.offset, p.arms_lowered, fitter._swap_legs(p.turns), p.pose_yaw)
                row = {"view": spec, "label": LABELS[k], "true_yaw": round(truth["yaw"], 2),
                       "fit_udp_error": round(udp_error(fit.udp, true, img)["udp_error"], 4)}
                for name, q in (("fit", p), ("swapped", swapped)):
                    q, cost = fitter._search(q, fine, steps, free, bounds, levels=1)[:2]
                    mask, rgb = fitter.render_toon(q, fitter.fine)
                    warped = fitter._finish(q, img, spec, LABELS[k], coarse, _Clock(fitter))
                    row[name] = {"udp_error": round(udp_error(warped.udp, true, img)["udp_error"], 4),
                                 "cost": round(cost, 4), "ink_agreement": round(ink_agreement(mask, rgb, *fine), 4),
                                 "yaw_error": round(abs(q.yaw - truth["yaw"]), 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        release_context(ctx)
        tmp.cleanup()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"what": "benchmarks/fit_sheet_leg_order_probe.py", "seed": args.seed,
                                     "load_avg_1min": os.getloadavg()[0], "views": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
