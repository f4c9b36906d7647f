"""Which stage of the separate fit leaves a view off? A probe for issue #16 (session 15).

Per view of ``fit_sheet_bench.py``'s drawings (the same seeds): the separate fit as it runs, its
cost (1 - IoU + colour error at the fine size) after each stage (``fit``'s trace), its yaw and UDP
error; then the fit's end with ONE thing changed at a time, each searched on as the fit's pose and
fine stages search (the 128² pose steps, two levels, then the fine steps at 256², two levels):
- ``yaw_true``: the yaw set to the drawing's true yaw (moment-matched);
- ``legs_swapped``: the legs' turns swapped (``SheetFitter._swap_legs``);
- ``yaw_true_legs_swapped``: both;
- ``searched_again``: nothing changed (the same search once more: what the extra search alone buys).
Beside them the drawing's own pose at its true yaw and at the fit's yaw (``true_pose_fit``: the
camera's scale and offset searched): whether the cost, given the right limbs, prefers the true yaw.
A start that ends lower than the fit names a search problem (the fit never starts there); one that
ends higher with a lower UDP error a cost problem.

Usage: python benchmarks/fit_sheet_stage_probe.py [--views p12,p52,p40,p03,p53,p10]
       [--json benchmarks/results/fit_sheet_s15_stage_probe.json]
(a view: p per-view / t turnaround, the sheet, the view index of labels 0, 45, 90, 180)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", default="p12,p52,p40,p03,p53,p10")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s15_stage_probe.json")
    args = ap.parse_args()

    from conrt.runtime.app.sheet_fit import (SEPARATE_FINE_LEVELS, FitParams, _Clock, _Coarse, downsample_drawing,
                                             rough_steps)
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, bench_view, loaded_procedural, true_pose_fit, view_spec

    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        nb = len(fitter.bones)
        free_all = np.ones(6 + nb, bool)
        steps = rough_steps(nb)  # fit's rough pose search
        for spec in args.views.split(","):
            t0 = time.process_time()
            mode, sheet, k = view_spec(spec)
            img, true, truth, pose = bench_view(ctx, character, mode, sheet, k)
            label, true_yaw = LABELS[k], truth["yaw"]
            work, fine = downsample_drawing(img, fitter.work), downsample_drawing(img, fitter.fine)
            coarse = _Coarse(work, [], 0.0, 0.0, label, nb)

            def fine_cost(p: FitParams) -> float:
                return round(fitter._cost(p, *fine)[0], 4)

            def written(p: FitParams) -> dict:
                f = fitter._finish(p, img, spec, label, coarse, _Clock(fitter))
                return {"yaw": round(p.yaw, 2), "yaw_error": round(abs((p.yaw - true_yaw + 180) % 360 - 180), 2),
                        "fine_cost": fine_cost(p), "udp_error": round(udp_error(f.udp, true, img)["udp_error"], 4)}

            stages = {}
            fit = fitter.fit(img, spec, label, trace=lambda s, ps: stages.__setitem__(s, ps[0]))
            row = {"view": spec, "label": label, "true_yaw": round(true_yaw, 2),
                   "fit": {**written(fit.params), "stage_fine_cost": {s: fine_cost(p) for s, p in stages.items()},
                           "stage_yaw": {s: round(p.yaw, 2) for s, p in stages.items()}}}
            end = fit.params
            changed = {
                "searched_again": end,
                "yaw_true": FitParams(float(true_yaw), end.scale, end.offset, end.arms_lowered, dict(end.turns)),
                "legs_swapped": FitParams(end.yaw, end.scale, end.offset, end.arms_lowered,
                                          fitter._swap_legs(end.turns)),
            }
            changed["yaw_true_legs_swapped"] = FitParams(float(true_yaw), end.scale, end.offset, end.arms_lowered,
                                                         fitter._swap_legs(end.turns))
            for name, q in changed.items():
                if name != "searched_again":
                    q = fitter.moment_match(fitter.moment_match(q, work[0]), work[0])
                start = fine_cost(q)
                q = fitter._search(q, work, steps, free_all, coarse.bounds(q), levels=2)[0]
                q = fitter._search(q, fine, steps / 4, free_all, coarse.bounds(q), levels=SEPARATE_FINE_LEVELS)[0]
                row[name] = {"start_fine_cost": start, **written(q)}
            own, own_p, own_cost = true_pose_fit(fitter, img, pose, true_yaw)
            row["own_pose_true_yaw"] = {"yaw": round(own_p.yaw, 2), "fine_cost": round(own_cost, 4),
                                        "udp_error": round(udp_error(own.udp, true, img)["udp_error"], 4)}
            off = end.yaw - true_yaw
            own_off, _, own_off_cost = true_pose_fit(fitter, img, pose, true_yaw, off)
            row["own_pose_fit_yaw"] = {"yaw": round(end.yaw, 2), "fine_cost": round(own_off_cost, 4),
                                       "udp_error": round(udp_error(own_off.udp, true, img)["udp_error"], 4)}
            row["cpu_s"] = round(time.process_time() - t0, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"what": "benchmarks/fit_sheet_stage_probe.py", "seed": args.seed,
                                     "load_avg_1min": os.getloadavg()[0], "views": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
