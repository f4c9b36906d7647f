"""Which leg is in front, seen from the side: can the drawing alone tell? A probe for issue #16.

For each side view (and two others for reference) of ``fit_sheet_bench.py``'s drawings (the same
seeds): the separate fit (``conrt fit-sheet``), then its legs swapped (``SheetFitter._swap_legs``:
the other leg in front) and both searched again alike (legs and camera, the fine steps at the fine
size). Per view, for the fit and the swap: the written UDP error after the residual warp, the fit's
cost (1 - IoU + colour error), and the ink lines' agreement (drawn and rendered ink, the dark pixels
of the overlap, each within a pixel of the other's: the near leg's outline crosses the far one).
A cue that tells the legs apart is lower (cost) or higher (ink) on the swap wherever its UDP error
is lower. Session 14 adds the sheet encoder's UDP prediction on the drawing (the default weights) as a
cue (issue #16's item 2): its mean distance to each rig's UDP where the two differ (the legs the swap
moved; ``UDP_DIFFER``), lower for the order it agrees with; beside it the true UDP's distance there.

Usage: python benchmarks/fit_sheet_leg_order_probe.py [--views p02,p12,p32,t02,t12,t22,p00,p03]
       [--json benchmarks/results/fit_sheet_s14_leg_order_probe.json]
(a view: p per-view / t turnaround, the sheet, the view index of labels 0, 45, 90, 180)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from fit_sheet_bench import LABELS  # noqa: E402  (benchmarks/ on the path: the benchmark's labels)

INK_MAX = 0.22  # brightest channel of an ink pixel (toon ink = surface colour x ~0.1)
UDP_DIFFER = 0.05  # canonical-box units: pixels where the fit's and the swap's UDPs differ (5x the error aim)


def ink_agreement(mask_a, rgb_a, mask_b, rgb_b) -> float:
    """Mean over both of the share of one's ink pixels (on the silhouettes' overlap) within a pixel of the other's."""
    from scipy.ndimage import binary_dilation

    both = mask_a & mask_b
    a, b = both & (rgb_a.max(-1) < INK_MAX), both & (rgb_b.max(-1) < INK_MAX)
    near_a = (a & binary_dilation(b)).sum() / max(a.sum(), 1)
    near_b = (b & binary_dilation(a)).sum() / max(b.sum(), 1)
    return float(0.5 * (near_a + near_b))


def predicted_udp(model, drawing: np.ndarray) -> np.ndarray:
    """The sheet encoder's UDP prediction for one framed drawing ([S, S, 4] u8) -> [S, S, 3] xyz."""
    import torch

    from conrt.training.dataset import rgba_to_premul

    prem = rgba_to_premul(drawing)[None, None]  # [1, 1, 4, S, S]
    with torch.no_grad():
        xyz = torch.sigmoid(model.sheet_udp_logits(prem[:, :, :3].contiguous())[:, :3])
    return xyz[0].permute(1, 2, 0).numpy()


def udp_cue(pred: np.ndarray, rig_a: np.ndarray, rig_b: np.ndarray, true: np.ndarray,
            drawing: np.ndarray) -> tuple[float | None, float | None, float | None, int]:
    """Mean |predicted - UDP| (xyz) of two fits' rig UDPs and of the true UDP on the drawn pixels where
    all three cover and the two rigs' UDPs differ by more than UDP_DIFFER (the legs the swap moved)
    -> (distance a, distance b, distance of the truth, pixels)."""
    m = (drawing[..., 3] >= 128) & (rig_a[..., 3] > 0) & (rig_b[..., 3] > 0) & (true[..., 3] > 0)
    m &= np.linalg.norm(rig_a[..., :3] - rig_b[..., :3], axis=-1) > UDP_DIFFER
    if not m.any():
        return None, None, None, 0
    return (*(round(float(np.linalg.norm(pred[m] - u[m, :3], axis=-1).mean()), 4) for u in (rig_a, rig_b, true)),
            int(m.sum()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", default="p02,p12,p32,t02,t12,t22,p00,p03")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s14_leg_order_probe.json")
    args = ap.parse_args()

    from conrt.runtime.app.session import load_model_source
    from conrt.runtime.app.sheet_fit import _Clock, _Coarse, downsample_drawing, search_bounds
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import bench_view, loaded_procedural, view_spec

    model, model_desc = load_model_source(None)
    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        nb = len(fitter.bones)
        legs = [4 + i for i in fitter._leg_indices(fitter.bones)]
        free = np.zeros(6 + nb, bool)
        free[:4] = True
        free[legs] = True
        steps = np.array([1.0, 0.0075, 0.0075, 0.0075, 4.0, 4.0] + [4.0] * nb)  # the fine search's first level
        for spec in args.views.split(","):
            mode, sheet, k = view_spec(spec)
            img, true, truth, _ = bench_view(ctx, character, mode, sheet, k)
            fit = fitter.fit(img, spec, LABELS[k])
            fine = downsample_drawing(img, fitter.fine)
            bounds = search_bounds(LABELS[k], 35.0, nb)
            coarse = _Coarse(downsample_drawing(img, fitter.work), [], 0.0, 0.0, LABELS[k], nb)
            p = fit.params
            swapped = fitter._side_order(p, "legs")
            row = {"view": spec, "label": LABELS[k], "true_yaw": round(truth["yaw"], 2),
                   "fit_udp_error": round(udp_error(fit.udp, true, img)["udp_error"], 4)}
            rigs = {}
            for name, q in (("fit", p), ("swapped", swapped)):
                q, cost = fitter._search(q, fine, steps, free, bounds, levels=1)[:2]
                mask, rgb = fitter.render_toon(q, fitter.fine)
                warped = fitter._finish(q, img, spec, LABELS[k], coarse, _Clock(fitter))
                rigs[name] = fitter.render_udp(q)
                row[name] = {"udp_error": round(udp_error(warped.udp, true, img)["udp_error"], 4),
                             "cost": round(cost, 4), "ink_agreement": round(ink_agreement(mask, rgb, *fine), 4),
                             "yaw_error": round(abs(q.yaw - truth["yaw"]), 2)}
            # the sheet encoder's prediction: nearer to the fit's legs or the swap's? (the truth's distance beside)
            pred = predicted_udp(model, img)
            d_fit, d_swap, d_true, px = udp_cue(pred, rigs["fit"], rigs["swapped"], true, img)
            row["fit"]["predicted_udp_distance"], row["swapped"]["predicted_udp_distance"] = d_fit, d_swap
            row["truth_predicted_udp_distance"], row["legs_px"] = d_true, px
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"what": "benchmarks/fit_sheet_leg_order_probe.py", "seed": args.seed,
                                     "model": model_desc, "load_avg_1min": os.getloadavg()[0], "views": rows},
                                    indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
