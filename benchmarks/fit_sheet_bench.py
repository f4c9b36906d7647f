"""fit-sheet benchmark: how well ``conrt fit-sheet`` registers drawings of an
unseen procedural character (seed 900001 by default) whose true UDP is known.

Drawings come from ``conrt.training.fit_drawings.make_drawing``: toon views
off their labelled angle (yaw ±25°), scaled ±15 %, shifted ±10 %, arms and
legs turned ±25° about random axes on an A-pose, limbs stretched ±10 % in 2D,
thicker/thinner ink, another size and aspect; the true UDP goes through the
same transformation. Each sheet has 4 views labelled 0, 45, 90, 180°.

Per view, on the drawing's foreground in the framed output (256²):
- silhouette IoU of the fitted rig (``iou_pose``) and after the residual warp
  (``iou_warped``);
- mean |xyz| UDP error (Euclidean, canonical-box units) of the written UDP,
  beside two baselines in the same run: the rig at the labelled angle with
  moment-matched scale/offset in an A-pose (no search), and the fitted rig
  without the residual warp; both get the same nearest fill so every drawn
  pixel has a UDP;
- fit time per 4-view sheet: wall and process CPU seconds, with the load
  average (the machine is shared), and the time to draw the same 4 views
  with the toon and UDP passes (``conrt sheet``'s work) as the same-run
  baseline; per stage of the fit, seconds and toon renders; and the first
  sheet again as ``conrt fit-sheet --jobs 2`` fits it (two worker processes,
  their start included).

Usage: python benchmarks/fit_sheet_bench.py [--sheets 2] [--seed 900001] [--jobs 2]
       [--json benchmarks/results/fit_sheet.json] [--picture docs/fit_sheet_views.png]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = (0.0, 45.0, 90.0, 180.0)


def _nearest_fill(fitter, params, drawing):
    from conrt.runtime.app.sheet_fit import warp_udp

    rig = fitter.render_udp(params)
    return warp_udp(rig, np.zeros((2, *drawing.shape[:2]), np.float32), drawing[..., 3] > 0)[0]


def shade_l1(character, toon, udp_pass, sheet, targets: int = 4) -> dict:
    """Shading L1 (premultiplied RGBA, 256², n = 4 views = the first sheet's
    drawings) of ``targets`` new poses of the character with the default
    weights, the sheet's correspondences taken from the fitted UDPs, the true
    UDPs, or the model's own prediction (no sheet UDP); and the flat-colour
    baseline (the target silhouette filled with the sheet's mean colour)."""
    import torch

    from conrt.commands.udp import random_pose
    from conrt.runtime.app.session import load_model_source
    from conrt.shaders import frame_character
    from conrt.characters.posing import posed_positions
    from conrt.training.dataset import rgba_to_premul, udp_tensor
    from conrt.training.evaluate import FlatColourBaseline
    from conrt.training.losses import metrics

    model, desc = load_model_source(None)
    imgs = np.stack([img for img, _, _ in sheet])
    prem = rgba_to_premul(imgs)[None]  # [1, M, 4, S, S]
    sheet_rgb, sheet_mask = prem[:, :, :3].contiguous(), prem[:, :, 3:4].contiguous()
    sheet_udps = {"fitted": udp_tensor(np.stack([u for _, u, _ in sheet]))[None],
                  "true": udp_tensor(np.stack([t for _, _, t in sheet]))[None]}
    sums: dict[str, list[float]] = {"fitted": [], "true": [], "predicted": [], "flat": []}
    flat = FlatColourBaseline(256)
    with torch.no_grad():
        for k in range(targets):
            pose = random_pose(character, 7000 + k, 0.3)
            cam = frame_character(posed_positions(character, pose), yaw=float(20 + 97 * k), size=256)
            target = rgba_to_premul(toon.run(pose, cam))[None]
            udp = udp_tensor(udp_pass.run(pose, cam).data)[None]
            for name in ("fitted", "true"):
                pred = model(sheet_rgb, sheet_mask, udp, sheet_udp=sheet_udps[name])
                sums[name].append(float(metrics(pred, target)["l1"][0]))
            sums["predicted"].append(float(metrics(model(sheet_rgb, sheet_mask, udp), target)["l1"][0]))
            sums["flat"].append(float(metrics(flat(sheet_rgb, sheet_mask, udp), target)["l1"][0]))
    l1 = {k: round(statistics.fmean(v), 5) for k, v in sums.items()}
    return {"model": desc, "views": len(sheet), "size": 256, "targets": targets, "l1": l1,
            "vs_flat": {k: round(v / l1["flat"], 3) for k, v in l1.items()},
            "fitted_vs_true": round(l1["fitted"] / l1["true"], 3)}


def jobs_wall(character_path: Path, framed, jobs: int) -> dict:
    """Wall time of fitting ``framed`` as ``conrt fit-sheet --jobs N`` does (N
    worker processes, each its own GL context; their start included), the load
    average before and after, and the workers' CPU seconds."""
    import argparse
    import resource

    from conrt.commands.fit_sheet import fit_views

    args = argparse.Namespace(jobs=jobs, size=256, work=128, context="auto")
    load0 = os.getloadavg()[0]
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    fit_views(character_path, None, framed, [f"v{k}" for k in range(len(framed))], list(LABELS), args)
    wall = time.perf_counter() - w0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"jobs": jobs, "wall_s": round(wall, 2),
            "workers_cpu_s": round(c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime, 2),
            "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]}


def bench(sheets: int, seed: int, picture: Path | None, shading: bool = True, jobs: int = 2) -> dict:
    from PIL import Image
    from tqdm import tqdm

    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.runtime.app.session import fit_sheet_udps
    from conrt.runtime.app.sheet_fit import FitParams, SheetFitter, downsample_drawing, fit_picture, prepare_drawing
    from conrt.shaders import ToonPass, UdpPass, create_context, frame_character, release_context
    from conrt.training.fit_drawings import make_drawing, udp_error

    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / f"char_{seed}.glb"  # kept for the --jobs 2 workers
    save_character(generate(seed), path)
    character = load_character(path)
    ctx = create_context("auto")
    views, sheet_rows, pictures, shading_sheet = [], [], [], []
    shading_result = None
    try:
        with SheetFitter(ctx, character, 256) as fitter, ToonPass(ctx, 256, 256) as toon, \
                UdpPass(ctx, 256, 256) as udp_pass:
            toon.set_character(character)
            udp_pass.set_character(character)
            for sheet in tqdm(range(sheets), desc="sheets", unit="sheet"):
                made = [make_drawing(ctx, character, label, 1000 * sheet + k) for k, label in enumerate(LABELS)]
                framed = [prepare_drawing(d, f"s{sheet}v{k}", 256) for k, (d, _, _) in enumerate(made)]
                # same-run baseline: drawing these 4 views (toon + UDP at 256², conrt sheet's work)
                t0 = time.perf_counter()
                for label in LABELS:
                    p = FitParams(label)
                    cam = frame_character(character.mesh.positions, yaw=label, size=256)
                    toon.run(fitter.pose(p), cam)
                    udp_pass.run(fitter.pose(p), cam)
                draw_s = time.perf_counter() - t0
                load0 = os.getloadavg()[0]
                w0, c0 = time.perf_counter(), time.process_time()
                fits = [fitter.fit(img, f"s{sheet}v{k}", label) for k, (img, label) in enumerate(zip(framed, LABELS))]
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                sheet_rows.append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "draw_4_views_s": round(draw_s, 3),
                                   "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
                                   "stages_s": {k: round(sum(f.stages[k][0] for f in fits), 2) for k in fits[0].stages},
                                   "renders": sum(sum(n for _, n in f.stages.values()) for f in fits)})
                if sheet == 0 and jobs > 1:  # the command's way: `conrt fit-sheet --jobs 2`, one process per drawing
                    sheet_rows[-1]["jobs"] = jobs_wall(path, framed, jobs)
                for k, ((drawing, true_udp, truth), img, fit) in enumerate(zip(made, framed, fits)):
                    true_framed = fit_sheet_udps([true_udp], [drawing], 256)[0]
                    start = fitter.moment_match(FitParams(truth["label_yaw"]), downsample_drawing(img, fitter.work)[0])
                    row = {"sheet": sheet, "view": k, "truth": truth, "fit": fit.summary(),
                           "yaw_error": round(abs((fit.params.yaw - truth["yaw"] + 180) % 360 - 180), 2),
                           "fitted": udp_error(fit.udp, true_framed, img),
                           "baseline_label_moments": udp_error(_nearest_fill(fitter, start, img), true_framed, img),
                           "baseline_rig_no_warp": udp_error(_nearest_fill(fitter, fit.params, img), true_framed, img)}
                    views.append(row)
                    if sheet == 0:
                        pictures.append(fit_picture(img, fit))
                        shading_sheet.append((img, fit.udp, true_framed))
            if shading:
                shading_result = shade_l1(character, toon, udp_pass, shading_sheet)
    finally:
        release_context(ctx)
        tmp.cleanup()
    if picture is not None and pictures:
        picture.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(pictures, 0)).save(picture)

    def med(key, sub=None):
        vals = [v[key][sub] if sub else v[key] for v in views]
        return {"median": round(statistics.median(vals), 4), "mean": round(statistics.fmean(vals), 4),
                "worst": round(max(vals) if "error" in (sub or key) else min(vals), 4)}

    return {
        "what": "conrt fit-sheet on synthetic drawings of an unseen procedural character "
                "(benchmarks/fit_sheet_bench.py)",
        "character_seed": seed, "sheets": sheets, "views_per_sheet": len(LABELS), "labels": list(LABELS),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "note": "shared 2-core machine: wall time depends on the load average reported per sheet"},
        "summary": {
            "iou_pose": {k: round(statistics.fmean([v["fit"]["iou_pose"] for v in views]), 4) if k == "mean" else
                         round(min(v["fit"]["iou_pose"] for v in views), 4) for k in ("mean", "worst")},
            "iou_warped": {k: round(statistics.fmean([v["fit"]["iou_warped"] for v in views]), 4) if k == "mean" else
                           round(min(v["fit"]["iou_warped"] for v in views), 4) for k in ("mean", "worst")},
            "udp_error_fitted": med("fitted", "udp_error"),
            "udp_error_rig_no_warp": med("baseline_rig_no_warp", "udp_error"),
            "udp_error_label_moments": med("baseline_label_moments", "udp_error"),
            "yaw_error_deg": med("yaw_error"),
            "sheet_wall_s": [r["wall_s"] for r in sheet_rows], "sheet_cpu_s": [r["cpu_s"] for r in sheet_rows],
            "fit_vs_draw_ratio": [round(r["wall_s"] / r["draw_4_views_s"], 1) for r in sheet_rows],
            "sheet_jobs_wall_s": [r["jobs"]["wall_s"] for r in sheet_rows if "jobs" in r],
        },
        "shading_l1": shading_result,
        "per_sheet": sheet_rows,
        "views": views,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sheets", type=int, default=2)
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet.json")
    ap.add_argument("--picture", type=Path, default=ROOT / "docs" / "fit_sheet_views.png")
    ap.add_argument("--no-shading", action="store_true", help="skip the shading L1 comparison")
    ap.add_argument("--jobs", type=int, default=2,
                    help="also time the first sheet fitted as `conrt fit-sheet --jobs N` does (1: skip)")
    args = ap.parse_args()
    result = bench(args.sheets, args.seed, args.picture, not args.no_shading, args.jobs)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps({"summary": result["summary"], "shading_l1": result["shading_l1"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
