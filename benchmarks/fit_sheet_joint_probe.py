"""Does the joint fit's sheet turn come from the cost or from the search? A probe for issue #16 (session 16).

The joint fit's yaws end ~5 degrees off the truth, each turnaround sheet's all one way (sessions 13-15).
Per turnaround sheet of ``fit_sheet_bench.py`` (the same seeds and drawings):

- ``fit``: the joint fit as it runs (``fit_joint``, no one-pose check, in-process), each view's signed
  yaw error, UDP error, and the sheet's cost (the mean over the views of 1 - IoU + colour error + the
  joint part weight x (1 - part IoU), at the fine size, 256²);
- ``fit_labelled_true_yaws``: the same fit given the true yaws as its labels (its coarse grid, its start,
  its bounds and its camera grid around the truth instead of the label, which is up to 25 degrees off);
- the drawings' own pose put in the joint fit's terms (``truth_in_joint_turns``): the arms' lowering
  and the ``JOINT_TURNS`` about the body's axes that put every joint where the true pose puts it
  (least squares on the joints' positions, no render; the true pose also turns bones about axes the
  joint fit leaves out, e.g. the spine's twist about the vertical), and the same with the spine's and the
  neck's turns about y added (``+spine_y``: what the left-out twist costs);
- ``truth``: every view at its TRUE yaw with that pose, the scale and offset searched (fine size): the
  sheet's cost at the truth, as far as the joint fit can express it;
- ``cameras_free``: from there every view's camera searched (yaw too, 2 degree steps at the fine size),
  the pose held: does the cost turn the views away from the truth given the right pose?
- ``searched``: from the truth the joint fit's own searches (pose and cameras at 8 degrees, then the
  fine stage at 4 degrees, then the yaw line): does the sheet turn away when the pose is free too?
- ``exact_pose_cameras_free``: the true pose itself (every turn, the twists too) with each view's camera
  searched as in ``cameras_free``.
(Keys ``joint_turns:truth``, ``joint_turns:cameras_free``, ``joint_turns:searched`` and the same for
``+spine_y``; each with the views' signed yaw error ``yaw_off``, ``cost``, ``udp_error``.)

A search from the truth that ends lower than the truth at turned yaws (all one way) puts the turn in the
cost (with the joint fit's pose terms); one that stays, at a cost below the fit's, puts it in the search.

Usage: python benchmarks/fit_sheet_joint_probe.py [--sheets 0,1,4,5]
       [--json benchmarks/results/fit_sheet_s16_joint_probe.json]
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


def pose_in_joint_turns(fitter, pose, bones, start: dict | None = None) -> tuple[dict, float]:
    """The arms' lowering and ``bones``' turns (about the body's axes) closest to ``pose``: least
    squares on every joint's position (character units), from ``start`` (an earlier answer; else
    arms lowered 50 degrees, no turns) -> ({"arms": (l, r), "turns": {...}}, the joints' RMS
    distance left)."""
    from scipy.optimize import least_squares

    from conrt.runtime.app.sheet_fit import FitParams

    target = pose.joint_world[:, :3, 3].astype(np.float64)

    def params(v):
        return FitParams(0.0, arms_lowered=(float(v[0]), float(v[1])), turns=dict(zip(bones, map(float, v[2:]))),
                         pose_yaw=0.0)

    def residual(v):
        return (fitter._pose(params(v)).joint_world[:, :3, 3].astype(np.float64) - target).ravel()

    x0 = np.array([50.0, 50.0] + [0.0] * len(bones))
    if start is not None:
        x0 = np.array([*start["arms"], *[start["turns"].get(b, 0.0) for b in bones]])
    found = least_squares(residual, x0, diff_step=1e-3, bounds=([-10, -10] + [-90] * len(bones),
                                                                 [85, 85] + [90] * len(bones)))
    p = params(found.x)
    rms = float(np.sqrt(np.mean(np.sum(residual(found.x).reshape(-1, 3) ** 2, 1))))
    return {"arms": p.arms_lowered, "turns": p.turns}, rms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sheets", default="0,1,4,5")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s16_joint_probe.json")
    args = ap.parse_args()

    from conrt.runtime.app.sheet_fit import (JOINT_YAW_LINE_DEG, FitParams, _Clock, _ViewSplit, rough_steps,
                                             search_bounds)
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, bench_view, loaded_procedural

    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        for sheet in (int(s) for s in args.sheets.split(",")):
            t0 = time.process_time()
            made = [bench_view(ctx, character, "turnaround", sheet, k) for k in range(len(LABELS))]
            imgs, trues = [m[0] for m in made], [m[1] for m in made]
            true_yaws = [m[2]["yaw"] for m in made]
            pose = made[0][3]
            names = [f"s{sheet}v{k}" for k in range(len(LABELS))]
            nv = len(names)

            def signed(yaws):
                return [round((y - t + 180) % 360 - 180, 2) for y, t in zip(yaws, true_yaws)]

            # the fit as it runs
            fits = fitter.fit_joint(imgs, names, list(LABELS), jobs=1, one_pose="off")
            fit_params = [f.params for f in fits]
            # the same fit with the true yaws as its labels: the coarse grid, the start, the bounds and the
            # camera grid around the truth instead of the label (off by up to 25 degrees)
            at_truth = fitter.fit_joint(imgs, names, [float(y) for y in true_yaws], jobs=1, one_pose="off")
            at_truth_params = [f.params for f in at_truth]
            fitter.part_weight, separate_weight = fitter.joint_part_weight, fitter.part_weight
            row = {"sheet": sheet, "true_yaws": [round(y, 2) for y in true_yaws]}
            try:
                with _ViewSplit(fitter, 1, "auto") as split:
                    split.map("view_setup", {k: (k, d, n, lab) for k, (d, n, lab) in
                                             enumerate(zip(imgs, names, LABELS))})
                    coarse = split.map("view_coarse", {k: (k, separate_weight) for k in range(nv)})

                    def sheet_cost(ps) -> float:
                        return round(float(np.mean([fitter.view_cost(k, p, True)[0] for k, p in enumerate(ps)])), 4)

                    def written(ps) -> list[float]:
                        out = []
                        for k, p in enumerate(ps):
                            f = fitter._finish(p, imgs[k], names[k], LABELS[k], coarse[k], _Clock(fitter))
                            out.append(round(udp_error(f.udp, trues[k], imgs[k])["udp_error"], 4))
                        return out

                    def report(ps) -> dict:
                        errs = written(ps)
                        return {"yaw_off": signed([p.yaw for p in ps]), "cost": sheet_cost(ps), "udp_error": errs,
                                "udp_error_mean": round(float(np.mean(errs)), 4)}

                    row["fit"] = report(fit_params)
                    row["fit_labelled_true_yaws"] = report(at_truth_params)
                    # with the twists first: from no turns the fit without them stuck with the legs straight
                    # (sheet 7: joints 0.072 off, against 0.002 with them); it then starts from that answer
                    approx = None
                    for name, bones in (("+spine_y", list(fitter.joint_bones) + ["spine:y", "neck:y"]),
                                        ("joint_turns", list(fitter.joint_bones))):
                        approx, rms = pose_in_joint_turns(fitter, pose, bones, approx)
                        row[f"truth_in_{name}"] = {"joint_rms": round(rms, 4),
                                                   "arms": [round(a, 1) for a in approx["arms"]],
                                                   "turns": {b: round(a, 1) for b, a in approx["turns"].items()}}
                        saved = fitter.joint_bones
                        fitter.joint_bones = bones
                        try:
                            # every view at its true yaw, scale and offset searched (view_yaw_shift: fine size)
                            ps = []
                            for k in range(nv):
                                q = FitParams(true_yaws[k], arms_lowered=approx["arms"], turns=dict(approx["turns"]),
                                              pose_yaw=0.0)
                                target = fitter._views[k]["coarse"].target[0]
                                q = fitter.moment_match(fitter.moment_match(q, target), target)
                                ps.append(fitter.view_yaw_shift(k, q)[0])
                            row[f"{name}:truth"] = report(ps)
                            # cameras free (yaw too), the pose held, fine size
                            nb = len(bones)
                            cams = []
                            for k, q in enumerate(ps):
                                steps = np.array([2.0, 0.015, 0.015, 0.015] + [0.0] * (2 + nb))
                                free = np.zeros(6 + nb, bool)
                                free[:4] = True
                                lo, hi = search_bounds(LABELS[k], 35.0, nb)
                                held = q.pose_vector(bones)
                                cams.append(fitter._search_bones(
                                    q, fitter._views[k]["fine"], steps, free,
                                    (np.concatenate([lo[:4], held]), np.concatenate([hi[:4], held])), bones,
                                    levels=2)[0])
                            row[f"{name}:cameras_free"] = report(cams)
                            # the joint fit's searches from the truth: 8 degrees, then the fine stage, the yaw line
                            x = np.array([v for q in ps for v in q.camera_vector()] + ps[0].pose_vector(bones))
                            lo = np.concatenate([*[search_bounds(LABELS[k], 35.0, nb)[0][:4] for k in range(nv)],
                                                 [-10.0, -10.0], [-90.0] * nb])
                            hi = np.concatenate([*[search_bounds(LABELS[k], 35.0, nb)[1][:4] for k in range(nv)],
                                                 [85.0, 85.0], [90.0] * nb])
                            steps = rough_steps(nb, nv)
                            free = np.ones(len(x), bool)
                            x, _ = fitter._joint_search(split, x, False, steps / 2, free, lo, hi, levels=1)
                            x, cost = fitter._joint_search(split, x, True, steps / 4, free, lo, hi,
                                                           levels=fitter.joint_fine_levels)
                            if JOINT_YAW_LINE_DEG:
                                x, _ = fitter._joint_yaw_line(split, x, cost[0], lo, hi)
                            row[f"{name}:searched"] = report([fitter._view_params(x, nv, k) for k in range(nv)])
                        finally:
                            fitter.joint_bones = saved
                    # the exact true pose (twists too), each view's camera searched, fine size
                    fitter.pose = lambda p: pose  # the instance attribute shadows the method
                    try:
                        cams = []
                        for k in range(nv):
                            target = fitter._views[k]["coarse"].target[0]
                            q = fitter.moment_match(fitter.moment_match(FitParams(true_yaws[k]), target), target)
                            lo, hi = search_bounds(LABELS[k], 35.0, 0)
                            cams.append(fitter._search_bones(q, fitter._views[k]["fine"],
                                                             np.array([2.0, 0.015, 0.015, 0.015, 0.0, 0.0]),
                                                             np.array([True] * 4 + [False] * 2), (lo, hi), [],
                                                             levels=2)[0])
                        row["exact_pose_cameras_free"] = report(cams)
                    finally:
                        del fitter.pose
            finally:
                fitter.part_weight = separate_weight
                fitter._views.clear()
            row["cpu_s"] = round(time.process_time() - t0, 1)
            row["load_avg_1min"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"what": "benchmarks/fit_sheet_joint_probe.py", "seed": args.seed,
                                     "sheets": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
