"""Why does the separate fit end far off a view's yaw? A probe for issue #16 (session 14).

Per view of ``fit_sheet_bench.py``'s drawings (the same seeds): the coarse stage's candidate
yaws (the label +-30 degrees, 7.5 apart, rest pose, moment-matched) with their cost, the three
coarse candidates after the camera search, the 128² pose search (``fit``'s rough stage) from
each of the three and from a start at the drawing's true yaw (the best coarse camera turned to
it, moment-matched, the arm grid), and the cost (1 - IoU + colour error at the fine size) of:
the separate fit as it runs; the same fit with its pose search started at the true yaw only
(``fit_sheet_bench._start_at``); the drawing's own pose at its true yaw (``true_pose_fit``).
A search problem: some start ends lower than the fit (the search does not reach the basin);
a cost problem: every start near the truth ends higher than the fit's wrong yaw.

Usage: python benchmarks/fit_sheet_far_yaw_probe.py [--views p22,p30]
       [--json benchmarks/results/fit_sheet_s14_far_yaw_probe.json]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", default="p22,p30")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s14_far_yaw_probe.json")
    args = ap.parse_args()

    from conrt.runtime.app.sheet_fit import FitParams, _Clock, downsample_drawing, rough_steps
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, _start_at, bench_view, loaded_procedural, true_pose_fit, view_spec

    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        nb = len(fitter.bones)
        free_all = np.ones(6 + nb, bool)
        steps = rough_steps(nb)  # fit's rough pose search
        for spec in args.views.split(","):
            mode, sheet, k = view_spec(spec)
            img, true, truth, pose = bench_view(ctx, character, mode, sheet, k)
            label, true_yaw = LABELS[k], truth["yaw"]
            fine = downsample_drawing(img, fitter.fine)

            def fine_cost(p: FitParams) -> float:
                return round(fitter._cost(p, *fine)[0], 4)

            coarse = fitter._coarse(img, spec, label, _Clock(fitter))
            work = coarse.target
            grid = []
            for yaw in label + np.arange(-30.0, 30.1, 7.5):  # _coarse's candidate yaws
                p = fitter.moment_match(fitter.moment_match(FitParams(float(yaw)), work[0]), work[0])
                grid.append({"yaw": float(yaw), "cost": round(fitter._cost(p, *work)[0], 4)})
            cands = [{"yaw": round(q.yaw, 2), "cost": round(c, 4)} for q, c, *_ in coarse.candidates]
            for q, row in zip([q for q, *_ in coarse.candidates], cands):
                r, c = fitter._search(q, work, steps, free_all, coarse.bounds(q), levels=2)[:2]
                row.update(rough_yaw=round(r.yaw, 2), rough_cost=round(c, 4), rough_fine_cost=fine_cost(r))
            q0 = coarse.candidates[0][0]
            at = FitParams(float(true_yaw), q0.scale, q0.offset, q0.arms_lowered, dict(q0.turns))
            at = fitter._best_arms(fitter.moment_match(fitter.moment_match(at, work[0]), work[0]), work)
            r, c = fitter._search(at, work, steps, free_all, coarse.bounds(at), levels=2)[:2]
            from_true = {"start_cost": round(fitter._cost(at, *work)[0], 4), "rough_yaw": round(r.yaw, 2),
                         "rough_cost": round(c, 4), "rough_fine_cost": fine_cost(r)}
            fit = fitter.fit(img, spec, label)
            with _start_at(fitter, true_yaw):
                fit_true = fitter.fit(img, spec, label)
            own, own_p, own_cost = true_pose_fit(fitter, img, pose, true_yaw)
            row = {"view": spec, "label": label, "true_yaw": round(true_yaw, 2),
                   "coarse_grid": grid, "coarse_candidates": cands,
                   "front_pose_candidates": fitter.front_pose_candidates,
                   "rough_from_true_yaw": from_true,
                   "fit": {"yaw": round(fit.params.yaw, 2), "fine_cost": fine_cost(fit.params),
                           "udp_error": round(udp_error(fit.udp, true, img)["udp_error"], 4)},
                   "fit_started_at_true_yaw": {"yaw": round(fit_true.params.yaw, 2),
                                               "fine_cost": fine_cost(fit_true.params),
                                               "udp_error": round(udp_error(fit_true.udp, true, img)["udp_error"], 4)},
                   "own_pose_true_yaw": {"yaw": round(own_p.yaw, 2), "fine_cost": round(own_cost, 4),
                                         "udp_error": round(udp_error(own.udp, true, img)["udp_error"], 4)}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"what": "benchmarks/fit_sheet_far_yaw_probe.py", "seed": args.seed,
                                     "load_avg_1min": os.getloadavg()[0], "views": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
