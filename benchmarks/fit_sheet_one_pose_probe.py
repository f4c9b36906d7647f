"""Probe of ``conrt fit-sheet``'s auto check (is a folder ONE pose?): the joint fit
run only up to its one-pose check(s) (``fit_joint(one_pose="only")``), on the
fit-sheet benchmark's sheets in both modes (``turnaround``: one pose;
``per_view``: each drawing its own), the check at each point named by
``--points`` (``ONE_POSE_POINTS``: ``pose_only`` after joint_pose's first search,
``joint_pose`` at its end, where auto checks). Per sheet and point: each view's
cost under the shared pose and its gain when freed (``view_alone``), so a bar
on the gain, or on the gain relative to the view's own cost, can be chosen and
checked from the rows without fitting again; each view's gain after each of
the freed search's sweeps (``sweeps``: a check cut to fewer sweeps sees
exactly that prefix); and the stages' seconds, toon renders and process CPU
(the joint fit's work before a fallback). ``--sweeps 0`` lets the freed search
run until its sweeps fade (the check before session 15's s15-fitcheck; default:
the fitter's ``ONE_POSE_SWEEPS``).

``--summarise FILE ...``: no fit; per folder of the saved runs, each point's mean gain after each
sweep and the renders auto would pay before its separate fits with the check there (session 17:
a check at ``pose_only`` instead of, or before, the one after ``joint_pose``).

Usage: python benchmarks/fit_sheet_one_pose_probe.py --sheets 0,1,4,5 [--modes turnaround,per_view]
       [--points pose_only,joint_pose] [--jobs 2] [--sweeps 0] [--json benchmarks/results/fit_sheet_one_pose_probe.json]
       python benchmarks/fit_sheet_one_pose_probe.py --summarise benchmarks/results/fit_sheet_s17_autotime_probe_*.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from fit_sheet_bench import LABELS, bench_view, loaded_procedural  # noqa: E402


def probe(sheets, modes, points, jobs: int, seed: int, out: Path, sweeps: int | None = None) -> dict:
    result = {"what": "the joint fit up to its one-pose check(s), per sheet and mode (benchmarks/"
                      "fit_sheet_one_pose_probe.py)", "seed": seed, "labels": list(LABELS), "points": list(points),
              "jobs": jobs, "cpus": os.cpu_count(), "rows": []}
    if sweeps is not None:
        result["sweeps"] = sweeps or None
    with loaded_procedural(seed) as (character, ctx, fitter):
        fitter.one_pose_at = tuple(points)
        if sweeps is not None:
            fitter.one_pose_sweeps = sweeps or None  # 0: until the sweeps fade
        for sheet in sheets:
            for mode in modes:
                views = [bench_view(ctx, character, mode, sheet, k) for k in range(len(LABELS))]
                names = [f"s{sheet}v{k}" for k in range(len(LABELS))]
                load0 = os.getloadavg()[0]
                c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
                renders0, w0 = fitter.evaluations, time.perf_counter()
                fitter.fit_joint([v[0] for v in views], names, list(LABELS), jobs=jobs, one_pose="only",
                                 trace=lambda stage, params: None)
                wall = time.perf_counter() - w0
                c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = sum(b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime for a, b in zip(c0, c1))
                row = {"sheet": sheet, "mode": mode, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                       "renders": fitter.evaluations - renders0,
                       "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
                       "checks": fitter.one_pose_checks}
                result["rows"].append(row)
                print(json.dumps(row), flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def sweep_gains(check: dict) -> list[float]:
    """The views' mean gain after each sweep of the check's freed search (a view that stopped earlier
    keeps its last), as auto's early stop sees it."""
    sweeps = list(check["sweeps"].values())
    n = max(len(s) for s in sweeps)
    return [round(sum(s[min(i, len(s) - 1)][0] for s in sweeps) / len(sweeps), 4) for i in range(n)]


def summarise(paths: list[Path]) -> list[dict]:
    """Per saved folder (sheet, mode), per point: the mean gain after each sweep, the point's search
    renders (``joint_pose_only``: the pose alone at 16 degrees; ``joint_pose``: the rest of the stage)
    and the check's renders after one sweep and in all."""
    out = []
    for path in paths:
        for row in json.loads(Path(path).read_text())["rows"]:
            stages = row["checks"][list(row["checks"])[-1]]["sheet_stages"]
            item = {"sheet": row["sheet"], "mode": row["mode"], "stage_renders": {k: n for k, (_, n) in stages.items()}}
            for point, check in row["checks"].items():
                first = sum(s[0][1] for s in check["sweeps"].values())
                item[point] = {"gain_after_sweep": sweep_gains(check), "check_renders_1": first,
                               "check_renders": check["renders"]}
            out.append(item)
    return sorted(out, key=lambda r: (r["mode"], r["sheet"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sheets", default="0,1,4,5")
    ap.add_argument("--modes", default="turnaround,per_view")
    ap.add_argument("--points", default="pose_only,joint_pose")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sweeps", type=int, default=None,
                    help="the freed search's sweeps at most (0: until they fade; default ONE_POSE_SWEEPS)")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_one_pose_probe.json")
    ap.add_argument("--summarise", type=Path, nargs="+", default=None,
                    help="no fit: summarise these saved runs (mean gain per sweep, renders per stage)")
    args = ap.parse_args(argv)
    if args.summarise:
        for item in summarise(args.summarise):
            print(json.dumps(item))
        return 0
    from conrt.runtime.app.sheet_fit import ONE_POSE_POINTS

    points = [p for p in args.points.split(",") if p]
    if not points or any(p not in ONE_POSE_POINTS for p in points):
        ap.error(f"--points: choose from {', '.join(ONE_POSE_POINTS)}")
    if args.sweeps is not None and args.sweeps < 0:
        ap.error(f"--sweeps {args.sweeps}: a count >= 1, or 0 for until the sweeps fade")
    probe([int(s) for s in args.sheets.split(",")], [m for m in args.modes.split(",") if m],
          sorted(points, key=ONE_POSE_POINTS.index), args.jobs, args.seed, args.json, args.sweeps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
