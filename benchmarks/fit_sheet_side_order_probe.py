"""What is wrong in the separate fit's side views, and which near/far or forward/back order the cost can tell
apart: a probe for issue #16 (session 17, s17-side).

For each per-view side drawing of ``fit_sheet_bench.py`` (label 90, the same seeds: sheet s, view 2), the
separate fit (``SheetFitter.fit``, the fitter's defaults: what ``conrt fit-sheet --separate`` writes), then:

- ``limbs``: where the fit puts each limb's elbow/knee and hand/foot against the drawing's own pose, in the
  body's frame (x its left, y up, z its front) relative to the hips, in canonical-box units: ``dx`` is the
  depth seen from the side (out of the picture plane), ``dz`` forward/back, ``dy`` up/down; ``fz_true`` /
  ``fz_fit`` the hand's or foot's z (forward > 0): a sign that differs is a limb swung the wrong way;
- ``truth``: the cost (``SheetFitter._cost`` at the fine size, 256²) of the drawing's own pose at its true
  yaw (scale and offset searched: ``fit_sheet_bench.true_pose_fit``) beside the fit's: where the truth's cost
  is higher, no search for this cost can find it;
- ``variants``: from the fit's end, the fit itself and each order (``SIDE_ORDERS``: the legs exchanged, the
  arms exchanged, the legs' turns out of the picture mirrored, the yaw mirrored about the side), searched
  alike (every parameter, the fine steps, one level at 256²: ``SheetFitter._side_order_search``), and
  ``restart<d>``: FINE_RESTART's held restarts (yaw held d degrees either way, the pose searched at 128²,
  then the fine steps; the lower kept) -> its cost at 256², its UDP error after the
  residual warp, its yaw, and the ink lines' agreement (``fit_sheet_leg_order_probe.ink_agreement``).

Usage: python benchmarks/fit_sheet_side_order_probe.py [--sheets 0,1,2,3,4,5,6,7] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from fit_sheet_bench import LABELS  # noqa: E402  (benchmarks/ on the path: the benchmark's labels)

SIDE = 2  # the benchmark's view labelled 90
LIMB_JOINTS = {"leftArm": ("leftLowerArm", "leftHand"), "rightArm": ("rightLowerArm", "rightHand"),
               "leftLeg": ("leftLowerLeg", "leftFoot"), "rightLeg": ("rightLowerLeg", "rightFoot")}


def limb_rows(character, true_pose, fit_pose) -> dict:
    """Per limb: the mid and end joints' offset fit - truth in the body's frame relative to the hips."""
    human = character.humanoid
    hips = human["hips"]

    def at(pose, bone):
        w = pose.joint_world[:, :3, 3].astype(np.float64)
        return w[human[bone]] - w[hips]

    out = {}
    for limb, (mid, end) in LIMB_JOINTS.items():
        if mid not in human or end not in human:
            continue
        d_mid, d_end = at(fit_pose, mid) - at(true_pose, mid), at(fit_pose, end) - at(true_pose, end)
        out[limb] = {"mid_err": round(float(np.linalg.norm(d_mid)), 4), "end_err": round(float(np.linalg.norm(d_end)), 4),
                     "end_dxyz": [round(float(x), 4) for x in d_end],
                     "fz_true": round(float(at(true_pose, end)[2] - at(true_pose, mid.replace("Lower", "Upper"))[2]), 4),
                     "fz_fit": round(float(at(fit_pose, end)[2] - at(fit_pose, mid.replace("Lower", "Upper"))[2]), 4)}
    return out


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sheets", default="0,1,2,3,4,5,6,7")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--orders", default="", help="the fitter's side_orders (SIDE_ORDERS, comma separated; "
                    "default the fitter's); 'none' for off")
    ap.add_argument("--restarts", type=lambda t: [float(x) for x in t.split(",") if x], default=[16.0],
                    help="FINE_RESTART's held restarts from the fit's end this far both ways (comma separated)")
    ap.add_argument("--variant-orders", default=None, help="the orders tried from the fit's end (default: "
                    "every one of SIDE_ORDERS; '' none)")
    ap.add_argument("--arrays", type=Path, default=None, help="a folder for each view's drawing and UDPs (.npz)")
    ap.add_argument("--no-variants", action="store_true", help="the fit and its limbs only")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s17_side_orders_probe.json")
    args = ap.parse_args()

    from conrt.runtime.app.sheet_fit import FINE_RESTART_DEG, FINE_RESTART_WAY, SIDE_ORDERS, _Clock, _Coarse, downsample_drawing, rough_steps
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import bench_view, loaded_procedural, true_pose_fit
    from fit_sheet_leg_order_probe import ink_agreement

    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        if args.orders:
            fitter.side_orders = () if args.orders == "none" else tuple(args.orders.split(","))
        nb = len(fitter.bones)
        for sheet in (int(s) for s in args.sheets.split(",")):
            img, true, truth, true_pose = bench_view(ctx, character, "per_view", sheet, SIDE)
            name, label = f"s{sheet}v{SIDE}", LABELS[SIDE]
            before, c0 = fitter.evaluations, cpu_s()
            fit = fitter.fit(img, name, label)
            row = {"view": name, "true_yaw": round(truth["yaw"], 2), "fit_yaw": round(fit.params.yaw, 2),
                   "udp_error": round(udp_error(fit.udp, true, img)["udp_error"], 4),
                   "renders": fitter.evaluations - before, "cpu_s": round(cpu_s() - c0, 2),
                   "stages": {k: n for k, (_, n) in fit.stages.items()},
                   "limbs": limb_rows(character, true_pose, fit.pose)}
            fine = downsample_drawing(img, fitter.fine)
            row["fit_cost"] = round(fitter._cost(fit.params, *fine)[0], 4)
            if args.arrays and args.no_variants:
                args.arrays.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(args.arrays / f"{name}.npz", drawing=img, true=true, fit=fit.udp)
            if not args.no_variants:
                own, _, own_cost = true_pose_fit(fitter, img, true_pose, truth["yaw"])
                row["truth"] = {"cost": round(float(own_cost), 4),
                                "udp_error": round(udp_error(own.udp, true, img)["udp_error"], 4)}
                coarse = _Coarse(downsample_drawing(img, fitter.work), [], 0.0, 0.0, label, nb)
                bounds = coarse.bounds(fit.params)
                free = np.ones(6 + nb, bool)
                steps = rough_steps(nb)
                row["variants"] = {}
                arrays = {"drawing": img, "true": true, "fit": fit.udp}
                orders = SIDE_ORDERS if args.variant_orders is None else [o for o in args.variant_orders.split(",") if o]
                for order in ("fit", *orders, *(f"restart{d:g}" for d in args.restarts)):
                    if order == "fit":  # the fit searched alike (its own end: no gain from a longer search)
                        q, cost = fitter._search(fit.params, fine, steps / 4, free, bounds, levels=1)[:2]
                    elif order.startswith("restart"):  # FINE_RESTART's held restarts, both turns, further
                        fitter.fine_restart_deg, fitter.fine_restart_way = float(order[7:]), "both"
                        try:
                            q, cost, _ = fitter._fine_restarts(fit.params, float("inf"), coarse, img, fine, steps, free,
                                                               mode="held")
                        finally:
                            fitter.fine_restart_deg, fitter.fine_restart_way = FINE_RESTART_DEG, FINE_RESTART_WAY
                    else:
                        q, cost = fitter._side_order_search(fit.params, order, fine, steps, free, coarse)
                    warped = fitter._finish(q, img, name, label, coarse, _Clock(fitter))
                    mask, rgb = fitter.render_toon(q, fitter.fine)
                    row["variants"][order] = {
                        "cost": round(cost, 4), "yaw": round(q.yaw, 2),
                        "udp_error": round(udp_error(warped.udp, true, img)["udp_error"], 4),
                        "ink_agreement": round(ink_agreement(mask, rgb, *fine), 4),
                        "limbs_end_err": {k: v["end_err"] for k, v in limb_rows(character, true_pose, warped.pose).items()}}
                    arrays[order] = warped.udp
                if args.arrays:
                    args.arrays.mkdir(parents=True, exist_ok=True)
                    np.savez_compressed(args.arrays / f"{name}.npz", **arrays)
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"what": "benchmarks/fit_sheet_side_order_probe.py", "seed": args.seed,
                                     "side_orders": list(fitter.side_orders),
                                     "load_avg_1min": os.getloadavg()[0], "views": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
