"""Restarts of the separate fit at the fine size (issue #16, session 16): what each would take, per view.

Per view of ``fit_sheet_bench.py``'s drawings (the same seeds): the separate fit as it runs (``fit``:
its coarse stage, then ``_fit_from_coarse``; the fit's own restarts off), its yaw, its cost at the fine
size (256²: 1 - IoU + colour error), its UDP error and toon renders per stage; then from its end after
``pose_fine`` each restart variant of ``SheetFitter._fine_restarts`` (``mode``: "held", the yaw turned by
``deg`` towards the label, searched at ``work``², ``levels`` fine levels): per turn its yaw, its cost at
the fine size, its renders, and its UDP error (the fit's last step from it) where its cost is below the
fit's (only those can be taken, at any margin >= 0). ``--one-level``: the same variants also from the
fit's ``pose_fine`` cut to one level (what a restart could save there; the first variant only). Any
margin's choice is then worked out from the JSON (``--summary``), no fit. Session 16's runs (its JSONs)
searched both turns and the "turn" mode, removed in session 17; the summary still reads them and works
out session 16's ways ("both", "held_lower", "label").

Usage: python benchmarks/fit_sheet_fine_restart_probe.py --views p00,p01,...|--sheets 0,1 [--mode per_view]
       [--variants held:8:256:1,held:8:192:1] [--one-level] --json benchmarks/results/fit_sheet_s16_...json
       python benchmarks/fit_sheet_fine_restart_probe.py --summary A.json[,B.json] [--margins 0,0.005,0.01]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT_VARIANTS = "held:8:192:1,held:12:192:1"


def _variant(spec: str) -> dict:
    mode, deg, work, levels = spec.split(":")
    if mode != "held":
        raise SystemExit(f"restart variant {spec!r}: the mode must be held (turn was removed in session 17)")
    return {"name": spec, "mode": mode, "deg": float(deg), "work": int(work), "levels": int(levels)}


def probe(args) -> int:
    from conrt.runtime.app.sheet_fit import (SEPARATE_FINE_LEVELS, _Clock, rough_steps)
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, bench_view, loaded_procedural, view_spec

    variants = [_variant(s) for s in args.variants.split(",") if s]
    works = {v["work"] for v in variants}
    views = args.views.split(",") if args.views else [
        f"{args.mode[0]}{s}{k}" for s in args.sheets.split(",") for k in range(len(LABELS))]
    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        extra = {}
        if works - {fitter.fine}:  # a fitter with toon passes at the restarts' sizes too
            from conrt.runtime.app.sheet_fit import SheetFitter  # lazy: only for another restart size

            fitter = SheetFitter(ctx, character, fitter.size, fine_restart="held",
                                 fine_restart_work=min(works - {fitter.fine}))
            extra = {n: SheetFitter(ctx, character, fitter.size, fine_restart="held", fine_restart_work=n)
                     for n in works - {fitter.fine, fitter.fine_restart_work}}
        fitter.fine_restart = "off"
        nb = len(fitter.bones)
        free_all = np.ones(6 + nb, bool)
        steps = rough_steps(nb)
        for spec in views:
            t0 = time.process_time()
            mode, sheet, k = view_spec(spec)
            img, true, truth, _ = bench_view(ctx, character, mode, sheet, k)
            label, true_yaw = LABELS[k], truth["yaw"]
            clock = _Clock(fitter)
            coarse = fitter._coarse(img, spec, label, clock)
            fine = coarse.drawn(img, fitter.fine)
            stages, searches = {}, []
            search = fitter._search

            def logged(p, target, *a, **kw):  # the fit's searches in order: the rough candidates first
                before = fitter.evaluations
                found = search(p, target, *a, **kw)
                searches.append({"start_yaw": round(p.yaw, 2), "n": int(target[0].shape[0]),
                                 "cost": round(float(found[1]), 5), "yaw": round(found[0].yaw, 2),
                                 "renders": fitter.evaluations - before})
                return found

            fitter._search = logged
            try:
                fit = fitter._fit_from_coarse(coarse, img, spec, label, clock,
                                              trace=lambda s, ps: stages.__setitem__(s, ps[0]))
            finally:
                del fitter._search

            def yaw_error(p) -> float:
                return round(abs((p.yaw - true_yaw + 180) % 360 - 180), 2)

            def written(p) -> float:
                before = fitter.evaluations
                f = fitter._finish(p, img, spec, label, coarse, _Clock(fitter))
                fitter.evaluations = before  # the probe's, not the fit's
                return round(udp_error(f.udp, true, img)["udp_error"], 4)

            def fine_cost(p) -> float:
                before = fitter.evaluations
                c = fitter._cost(p, *fine)[0]
                fitter.evaluations = before
                return c

            def restarts(end, end_cost, name, variants=variants) -> dict:
                out = {}
                for v in variants:
                    f = fitter if v["work"] in fitter._toons else extra[v["work"]]
                    f.fine_restart_deg, f.fine_restart_levels = v["deg"], v["levels"]
                    f.fine_restart_work = v["work"]
                    before = f.evaluations
                    _, _, tried = f._fine_restarts(end, end_cost, coarse, img, fine, steps, free_all)
                    renders = f.evaluations - before
                    if f is not fitter:
                        fitter.evaluations += renders
                    out[v["name"]] = {"renders": renders, "turns": [
                        {"yaw": round(q.yaw, 2), "yaw_error": yaw_error(q), "fine_cost": round(c, 5),
                         "udp_error": written(q) if c < end_cost else None,
                         "held_cost": None if h is None else round(float(h), 5), "fine_renders": r}
                        for q, c, h, r in tried]}
                    print(spec, name, v["name"], json.dumps(out[v["name"]]), flush=True)
                return out

            end = stages["pose_fine"]
            end_cost = fine_cost(end)
            row = {"view": spec, "label": label, "true_yaw": round(true_yaw, 2),
                   "fit": {"yaw": round(end.yaw, 2), "yaw_error": yaw_error(end), "fine_cost": round(end_cost, 5),
                           "udp_error": round(udp_error(fit.udp, true, img)["udp_error"], 4),
                           "stages": {s: n for s, (_, n) in fit.stages.items()},
                           "renders": sum(n for _, n in fit.stages.values())},
                   # the coarse candidates' costs (camera search, 128²) and the fit's searches in order
                   "coarse_costs": [round(float(c[1]), 5) for c in coarse.candidates], "searches": searches}
            print(spec, "fit", json.dumps(row["fit"]), flush=True)
            row["restarts"] = restarts(end, end_cost, "fit")
            if args.one_level:  # pose_fine one level from the leg stage's end, then the same restarts
                legs = stages["legs"]
                before = fitter.evaluations
                one, one_cost = fitter._search(legs, fine, steps / 4, free_all, coarse.bounds(legs), levels=1)[:2]
                row["one_level"] = {"yaw": round(one.yaw, 2), "yaw_error": yaw_error(one),
                                    "fine_cost": round(float(one_cost), 5), "udp_error": written(one),
                                    "renders": fitter.evaluations - before,
                                    "fine_levels": SEPARATE_FINE_LEVELS - 1}
                print(spec, "one_level", json.dumps(row["one_level"]), flush=True)
                row["one_level"]["restarts"] = restarts(one, float(one_cost), "one_level", variants[:1])
            row["cpu_s"] = round(time.process_time() - t0, 1)
            rows.append(row)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"what": "benchmarks/fit_sheet_fine_restart_probe.py", "seed": args.seed,
                                             "variants": [v["name"] for v in variants],
                                             "load_avg_1min": os.getloadavg()[0], "views": rows}, indent=1))
    return 0


def _turns(r: dict, restart: dict, way: str) -> list[dict]:
    """The turns a rule (session 16's ways) would have searched at the fine steps."""
    turns = restart["turns"]
    if len(turns) == 1:  # a session 17 run: the turn towards the label only
        return turns
    if way == "held_lower":
        return [min(turns, key=lambda t: t["held_cost"])]
    if way == "label" and r["label"] is not None:  # turns[0] is the turn by -deg
        return [turns[0] if (r["label"] - r["fit"]["yaw"] + 180) % 360 - 180 < 0 else turns[1]]
    return turns


def _extra_renders(r: dict, restart: dict, way: str) -> float:
    """A rule's renders: "label" runs one held-yaw search of the two (their renders split evenly: an estimate)."""
    turns = restart["turns"]
    if way == "both":
        return restart["renders"]
    if way == "held_lower":
        return restart["renders"] - max(turns, key=lambda t: t["held_cost"])["fine_renders"]
    kept = _turns(r, restart, way)
    held = (restart["renders"] - sum(t["fine_renders"] for t in turns)) / len(turns)
    return held * len(kept) + sum(t["fine_renders"] for t in kept)


def summary(paths: list[Path], margins: list[float]) -> dict:
    rows = [r for p in paths for r in json.loads(p.read_text())["views"]]
    out = {"views": len(rows)}
    errs = [r["fit"]["udp_error"] for r in rows]
    renders = sum(r["fit"]["renders"] for r in rows)
    out["fit"] = {"mean": round(statistics.fmean(errs), 4), "median": round(statistics.median(errs), 4),
                  "renders": renders, "per_view": {r["view"]: r["fit"]["udp_error"] for r in rows}}
    for name in [n for n in rows[0]["restarts"] if all(n in r["restarts"] for r in rows)]:
        held = all(t["held_cost"] is not None for r in rows for t in r["restarts"][name]["turns"])
        for way in ("both", "held_lower", "label") if held else ("both", "label"):
            extra = sum(_extra_renders(r, r["restarts"][name], way) for r in rows)
            for m in margins:
                e, changed = [], {}
                for r in rows:
                    best = min(_turns(r, r["restarts"][name], way), key=lambda t: t["fine_cost"])
                    if best["fine_cost"] < r["fit"]["fine_cost"] - m:
                        e.append(best["udp_error"])
                        changed[r["view"]] = [r["fit"]["udp_error"], best["udp_error"], r["fit"]["yaw_error"],
                                              best["yaw_error"]]
                    else:
                        e.append(r["fit"]["udp_error"])
                out[f"{name} {way} margin {m}"] = {
                    "mean": round(statistics.fmean(e), 4), "median": round(statistics.median(e), 4),
                    "renders_x": round((renders + extra) / renders, 3),
                    "changed [udp before, after, yaw err before, after]": changed}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", default="")
    ap.add_argument("--sheets", default="0,1")
    ap.add_argument("--mode", default="per_view", choices=("per_view", "turnaround"))
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help="mode:deg:work:levels, comma-separated")
    ap.add_argument("--one-level", action="store_true")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s16_fine_restart.json")
    ap.add_argument("--summary", default="", help="JSONs of earlier runs, comma-separated: the choice per margin")
    ap.add_argument("--margins", default="0,0.003,0.005,0.01")
    args = ap.parse_args()
    if args.summary:
        print(json.dumps(summary([Path(p) for p in args.summary.split(",")],
                                 [float(m) for m in args.margins.split(",")]), indent=1))
        return 0
    return probe(args)


if __name__ == "__main__":
    sys.exit(main())
