"""Side views: which limb order does the cost prefer, and do the inner ink lines tell? A probe for #16 (session 17).

Per view of ``fit_sheet_bench.py``'s drawings (default: the per-view folders' side views, label 90): the
separate fit as it runs, then its end with the legs' turns swapped, the arms' swapped, both
(``SheetFitter._side_order``), each searched again at the fine size (the swapped limbs and the camera,
then everything, one level each at the fine steps); beside them the drawing's own pose at its true yaw
(``true_pose_fit``); unlike the fitter's orders (``_try_side_orders``: one search of everything) each
exchange gets the exchanged limbs' and the camera's search first. For each: yaw, the fine cost (1 - IoU +
colour error at 256²), the inner-ink chamfer (``ink_chamfer``: how far the drawing's inner lines lie from
the rig's and back, in pixels at 256²) and the UDP error after the warp. A limb order with a lower UDP
error the cost ranks higher is a cue problem; the chamfer column says whether the lines would tell.

Usage: python benchmarks/fit_sheet_side_probe.py [--views p02,p12,...] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

SIDE_VIEWS = ",".join(f"p{s}2" for s in range(8))


def inner_ink(mask: np.ndarray, rgb: np.ndarray, inset: int = 2, depth: float = 0.12) -> np.ndarray:
    """Thin dark lines inside a silhouette: the luma's black top-hat (a 5 px closing minus the luma: a line
    darker than both sides by ``depth``, a dark region wider than the closing not), ``inset`` px off the
    outline (the silhouette's own line is the IoU's business)."""
    from scipy import ndimage

    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    luma = np.where(mask, luma, 1.0)
    hat = ndimage.grey_closing(luma, size=(5, 5)) - luma
    inside = ndimage.binary_erosion(mask, iterations=inset)
    return inside & (hat > depth)


def ink_chamfer(a: np.ndarray, b: np.ndarray, clip: float = 8.0) -> float:
    """Symmetric mean distance (px, each clipped at ``clip``) from ``a``'s ink pixels to ``b``'s and back."""
    from scipy import ndimage

    if not a.any() or not b.any():
        return clip
    da, db = ndimage.distance_transform_edt(~a), ndimage.distance_transform_edt(~b)
    return float(0.5 * (np.minimum(db[a], clip).mean() + np.minimum(da[b], clip).mean()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", default=SIDE_VIEWS)
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s17_side_probe.json")
    args = ap.parse_args()

    from conrt.runtime.app.sheet_fit import _Clock, rough_steps
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, bench_view, loaded_procedural, true_pose_fit, view_spec

    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        nb = len(fitter.bones)
        steps = rough_steps(nb) / 4  # the fine stage's steps
        free_all = np.ones(6 + nb, bool)
        legs = [4 + i for i in fitter._leg_indices(fitter.bones)]
        arms = [4, 5] + [6 + i for i, b in enumerate(fitter.bones) if "Arm" in b]
        for spec in args.views.split(","):
            t0 = time.process_time()
            mode, sheet, k = view_spec(spec)
            img, true, truth, pose = bench_view(ctx, character, mode, sheet, k)
            label = LABELS[k]
            drawn_ink = inner_ink(img[..., 3] >= 128, img[..., :3].astype(np.float32) / 255.0)
            clock = _Clock(fitter)
            coarse = fitter._coarse(img, spec, label, clock)
            fit = fitter._fit_from_coarse(coarse, img, spec, label, clock)
            fine = coarse.drawn(img, fitter.fine)

            def measure(name, p, view=None):
                view = view or fitter._finish(p, img, spec, label, coarse, _Clock(fitter))
                mask, rgb = fitter.render_toon(view.params, fitter.size)
                return {"start": name, "yaw": round(view.params.yaw, 2),
                        "cost": round(fitter._cost(view.params, *fine)[0], 4),
                        "ink_chamfer": round(ink_chamfer(drawn_ink, inner_ink(mask, rgb)), 3),
                        "udp_error": round(udp_error(view.udp, true, img)["udp_error"], 4),
                        "turns": {b: round(a, 1) for b, a in view.params.turns.items()},
                        "arms_lowered": [round(a, 1) for a in view.params.arms_lowered]}

            found = [{**measure("fit", fit.params, fit), "renders": sum(n for _, n in fit.stages.values())}]
            for name, swapped, part in (("legs_swapped", lambda p: fitter._side_order(p, "legs"), legs),
                                        ("arms_swapped", lambda p: fitter._side_order(p, "arms"), arms),
                                        ("both_swapped", lambda p: fitter._side_order(fitter._side_order(p, "legs"),
                                                                                      "arms"), legs + arms)):
                q = swapped(fit.params)
                free = np.zeros(6 + nb, bool)
                free[:4] = True
                free[part] = True
                before = fitter.evaluations
                q, part_cost = fitter._search(q, fine, steps, free, coarse.bounds(q), levels=1)[:2]
                part_renders = fitter.evaluations - before
                q = fitter._search(q, fine, steps, free_all, coarse.bounds(q), levels=1)[0]
                found.append({**measure(name, q), "cost_after_part_search": round(part_cost, 4),
                              "renders_part_search": part_renders,
                              "renders": fitter.evaluations - before})
            own, own_p, own_cost = true_pose_fit(fitter, img, pose, truth["yaw"])
            fitter.pose = lambda p: pose
            try:
                mask, rgb = fitter.render_toon(own_p, fitter.size)
            finally:
                del fitter.pose
            found.append({"start": "own_pose", "yaw": round(truth["yaw"], 2), "cost": round(own_cost, 4),
                          "ink_chamfer": round(ink_chamfer(drawn_ink, inner_ink(mask, rgb)), 3),
                          "udp_error": round(udp_error(own.udp, true, img)["udp_error"], 4)})
            rows.append({"view": spec, "label": label, "true_yaw": round(truth["yaw"], 2), "starts": found,
                         "cpu_s": round(time.process_time() - t0, 1)})
            print(spec, f"true yaw {truth['yaw']:.1f}", *(f"{r['start']}: yaw {r['yaw']} cost {r['cost']} "
                                                         f"ink {r['ink_chamfer']} udp {r['udp_error']}"
                                                         for r in found), sep="\n  ", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"what": __doc__.splitlines()[0], "seed": args.seed, "views": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
