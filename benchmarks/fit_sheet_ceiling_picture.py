"""docs/fit_sheet_side_ceiling.png: the joint fit's worst views beside what the
drawing's own pose gives. Per view (a row): the drawing; the contours of the
drawing (green) and of the fitted rig (magenta, the joint fit's camera and
pose as a fit_sheet_bench.py JSON stored them); the contours of the drawing
and of the rig in the drawing's own pose at its own yaw, the camera's scale
and offset searched (cyan, ``fit_sheet_bench.true_pose_fit``). With the IoU
and the joint cost (the fit's own, part term 0.5, at 256 px) of each.

Usage: python benchmarks/fit_sheet_ceiling_picture.py [--json benchmarks/results/fit_sheet_s10_base.json]
       [--views s1v2,s0v2] [--out docs/fit_sheet_side_ceiling.png]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _contours(drawing, masks_colours):
    from scipy.ndimage import binary_erosion

    a = drawing[..., 3:4].astype(np.float32) / 255.0
    grey = np.full(drawing.shape[:2] + (3,), 235.0, np.float32)
    panel = 0.5 * (drawing[..., :3].astype(np.float32) * a + grey * (1 - a)) + 0.5 * grey
    for mask, colour in masks_colours:
        panel[mask & ~binary_erosion(mask)] = colour
    return panel


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_s10_base.json")
    ap.add_argument("--views", default="s1v2,s0v2")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "fit_sheet_side_ceiling.png")
    args = ap.parse_args()
    from PIL import Image

    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.runtime.app.sheet_fit import (JOINT_PART_WEIGHT, FitParams, SheetFitter, downsample_drawing, iou,
                                             prepare_drawing, search_bounds)
    from conrt.shaders import create_context, release_context
    from conrt.training.fit_drawings import Deviation, drawing_pose, make_turnaround

    stored = json.loads(args.json.read_text())
    views = {f"s{v['sheet']}v{v['view']}": v for v in stored["turnaround"]["joint"]["views"]}
    labels = stored["labels"]
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "c.glb"
    save_character(generate(stored["character_seed"]), path)
    character = load_character(path)
    ctx = create_context("auto")
    rows, notes = [], []
    try:
        with SheetFitter(ctx, character, 256, part_weight=JOINT_PART_WEIGHT) as fitter:
            for name in args.views.split(","):
                v = views[name]
                sheet, k = v["sheet"], v["view"]
                drawing, _, truth = make_turnaround(ctx, character, labels, sheet)[k]
                img = prepare_drawing(drawing, name, 256)
                drawn = img[..., 3] >= 128
                fine = downsample_drawing(img, 256)
                s = v["fit"]
                turns = dict(s["pose_corrections_deg"])
                arms = (turns.pop("leftArmLowered"), turns.pop("rightArmLowered"))
                fitted = FitParams(s["yaw"], s["scale"], tuple(s["offset_ndc"]), arms, turns, pose_yaw=0.0)
                fit_mask = fitter.render_udp(fitted)[..., 3] > 0
                fit_cost = fitter._cost(fitted, *fine)[0]
                pose = drawing_pose(character, np.random.default_rng(sheet), Deviation())
                fitter.pose = lambda p: pose  # the drawing's own pose for every render
                p = fitter.moment_match(FitParams(truth["yaw"]), downsample_drawing(img, fitter.work)[0])
                p = fitter.moment_match(p, downsample_drawing(img, fitter.work)[0])
                steps, free = np.array([2.0, 0.02, 0.02, 0.02, 0.0, 0.0]), np.array([True] * 4 + [False] * 2)
                p, true_cost = fitter._search_bones(p, fine, steps, free, search_bounds(truth["yaw"], 10.0, 0), [],
                                                    levels=3)[:2]
                true_mask = fitter.render_udp(p)[..., 3] > 0
                del fitter.pose
                a = img[..., 3:4].astype(np.float32) / 255.0
                over = img[..., :3].astype(np.float32) * a + 235.0 * (1 - a)
                rows.append(np.concatenate([over, _contours(img, [(drawn, (0, 170, 0)), (fit_mask, (220, 0, 200))]),
                                            _contours(img, [(drawn, (0, 170, 0)), (true_mask, (0, 170, 230))])], 1))
                notes.append({"view": name, "true_yaw": round(truth["yaw"], 1), "fitted_yaw": s["yaw"],
                              "fit": {"iou": round(iou(fit_mask, drawn), 4), "cost": round(fit_cost, 4),
                                      "udp_error": round(v["fitted"]["udp_error"], 4)},
                              "own_pose": {"yaw": round(p.yaw, 1), "iou": round(iou(true_mask, drawn), 4),
                                           "cost": round(true_cost, 4)}})
    finally:
        release_context(ctx)
        tmp.cleanup()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0).clip(0, 255).astype(np.uint8)).save(args.out)
    print(json.dumps(notes, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
