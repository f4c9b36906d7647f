"""The separate fit's fine stage, variants from one pose stage (issue #16, session 17, s17-finecheap).

Per view of ``fit_sheet_bench.py``'s drawings (the same seeds): the coarse stage and the pose stage once
(``SheetFitter._coarse``, ``_pose_ends``: the 128² ends, the rough cost's pick first), then for each variant
``proposals:search_work`` the rest of the fit as it runs (``_fine_stage`` with ``fine_proposals`` and
``fine_search_work`` set, the fine restart, ``_finish``): its toon renders and process CPU per stage, the
UDP error after pose_fine (the warp from there) and at the end, the yaw error. Main's fit is variant
``1:256``; a fit's renders are the shared stages' plus the variant's. ``--summary``: mean, median, renders
per variant over the JSONs, no fit.

Usage: python benchmarks/fit_sheet_fine_stage_probe.py --sheets 0,1 [--variants 1:256,1:192,2:192]
       --json benchmarks/results/fit_sheet_s17_fine_stage_sheets01.json
       python benchmarks/fit_sheet_fine_stage_probe.py --summary A.json[,B.json]
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
sys.path.insert(0, str(ROOT / "benchmarks"))


def probe(args) -> int:
    from conrt.runtime.app.sheet_fit import _Clock
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, bench_view, loaded_procedural

    variants = [(int(k), int(n)) for k, n in (s.split(":") for s in args.variants.split(",") if s)]
    views = [f"{args.mode[0]}{s}{k}" for s in args.sheets.split(",") for k in range(len(LABELS))]
    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        missing = {n for _, n in variants} - set(fitter._toons)
        if missing:
            raise SystemExit(f"no toon pass at {sorted(missing)}: choose search sizes from {sorted(fitter._toons)}")
        for spec in views:
            mode = {"p": "per_view", "t": "turnaround"}[spec[0]]
            sheet, k = int(spec[1]), int(spec[2])
            img, true, truth, _ = bench_view(ctx, character, mode, sheet, k)
            label, true_yaw = LABELS[k], truth["yaw"]
            t0 = time.process_time()
            clock = _Clock(fitter)
            coarse = fitter._coarse(img, spec, label, clock)
            ends, steps, free_all = fitter._pose_ends(coarse, spec, label)
            clock.stage("pose")
            shared = {s: n for s, (_, n) in clock.stages.items()}
            row = {"view": spec, "label": label, "true_yaw": round(true_yaw, 2), "shared_renders": shared,
                   "shared_cpu_s": round(time.process_time() - t0, 2),
                   "ends": [{"yaw": round(p.yaw, 2), "rough_cost": round(float(c), 5)} for p, c in ends],
                   "variants": {}}

            def yaw_error(p) -> float:
                return round(abs((p.yaw - true_yaw + 180) % 360 - 180), 2)

            def written(p) -> float:
                before = fitter.evaluations
                f = fitter._finish(p, img, spec, label, coarse, _Clock(fitter))
                fitter.evaluations = before  # the probe's, not the fit's
                return round(udp_error(f.udp, true, img)["udp_error"], 4)

            for n_ends, work in variants:
                fitter.fine_proposals, fitter.fine_search_work = n_ends, work
                t1 = time.process_time()
                clock = _Clock(fitter)
                stages = {}
                p = fitter._fine_stage(ends, coarse, img, steps, free_all, clock,
                                       lambda s, ps: stages.__setitem__(s, ps[0]))
                cpu = time.process_time() - t1
                fit = fitter._finish(p, img, spec, label, coarse, clock)
                own = {s: n for s, (_, n) in fit.stages.items()}
                out = {"renders": sum(shared.values()) + sum(own.values()), "stages": own,
                       "fine_cpu_s": round(cpu, 2), "yaw": round(p.yaw, 2), "yaw_error": yaw_error(p),
                       "udp_pose_fine": written(stages["pose_fine"]),
                       "udp_error": round(udp_error(fit.udp, true, img)["udp_error"], 4)}
                row["variants"][f"{n_ends}:{work}"] = out
                print(spec, f"{n_ends}:{work}", json.dumps(out), flush=True)
            rows.append(row)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"what": "benchmarks/fit_sheet_fine_stage_probe.py", "seed": args.seed,
                                             "variants": args.variants, "load_avg_1min": os.getloadavg()[0],
                                             "views": rows}, indent=1))
    return 0


def summary(paths: list[Path]) -> dict:
    rows = [r for p in paths for r in json.loads(p.read_text())["views"]]
    names = [n for n in rows[0]["variants"] if all(n in r["variants"] for r in rows)]
    base = names[0]
    base_renders = sum(r["variants"][base]["renders"] for r in rows)
    out = {"views": len(rows), "base": base}
    for name in names:
        v = [r["variants"][name] for r in rows]
        e = [x["udp_error"] for x in v]
        out[name] = {"mean": round(statistics.fmean(e), 4), "median": round(statistics.median(e), 4),
                     "mean_pose_fine": round(statistics.fmean(x["udp_pose_fine"] for x in v), 4),
                     "renders": sum(x["renders"] for x in v),
                     "renders_x": round(sum(x["renders"] for x in v) / base_renders, 3),
                     "fine_cpu_s": round(sum(x["fine_cpu_s"] for x in v), 1),
                     "better": sum(x["udp_error"] < r["variants"][base]["udp_error"] - 1e-4 for x, r in zip(v, rows)),
                     "worse": sum(x["udp_error"] > r["variants"][base]["udp_error"] + 1e-4 for x, r in zip(v, rows)),
                     "per_view": {r["view"]: x["udp_error"] for x, r in zip(v, rows)}}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sheets", default="0,1")
    ap.add_argument("--mode", default="per_view", choices=("per_view", "turnaround"))
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--variants", default="1:256,1:192,2:192", help="proposals:search_work, comma-separated")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s17_fine_stage.json")
    ap.add_argument("--summary", default="", help="JSONs of earlier runs, comma-separated")
    args = ap.parse_args()
    if args.summary:
        print(json.dumps(summary([Path(p) for p in args.summary.split(",")]), indent=1))
        return 0
    return probe(args)


if __name__ == "__main__":
    sys.exit(main())
