"""Sheets in other artists' inks (session 14): the target's lines in the sheet's own ink.

Unseen procedural characters (``--seeds``) drawn by the toon pass in each ink of ``--styles``
(``shaders.toon_pass.INK_STYLE_NAMES``: a dark-brown pen, a colour trace, 3-px lines, the
silhouette's line only; and ``toon``, ours), sheet (a ``conrt sheet`` turnaround, n views) and
ground truth in the same ink, 12 clip frames each, ``--targets`` targets per character, at
``--size``. On the same samples (the runtime's exact correspondences), L1 x flat (SSIM, face SSIM,
sharpness) of: the flat fill, the plain exact lookup, the default with the lines in our toon pass's
ink (the rule before session 14: ``ViewsShader(own_ink=False)``) and the default with the sheet's
own ink (``shaders.sheet_ink.estimate_ink`` per sheet, as the runtime does). The samples are this
code's (a pen wider than 1 px is un-inked at its width by the pass); the true before, the code
before, is ``sheet_poses_eval.py`` there.

The picture (``--picture``): per ink, one job's (``--picture-row``) sheet (its views tiled) and its
target's face: the default in our ink | in the sheet's own | the ground truth.

Usage: python benchmarks/sheet_ink_styles.py [--seeds 900000:900004] [--views 4]
       [--json benchmarks/results/sheet_ink_styles_s14.json] [--picture docs/sheet_ink_styles.png]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("sheet_ink_styles")
ROWS = ("flat", "plain exact lookup", "default, our ink", "default, the sheet's ink")


def run_style(style: str, args, model) -> tuple[dict, dict, dict]:
    from conrt.training.evaluate import (FlatColourBaseline, PlainLookup, ViewsShader, characters_from_seeds,
                                         eval_jobs, evaluate, parse_seeds, procedural_head_boxes, view_samples)

    t0 = time.time()
    chars = characters_from_seeds(parse_seeds(args.seeds), 12, args.size, progress=False, style=style,
                                  sheet_poses="turnaround", sheet_views=args.views)
    heads = procedural_head_boxes(chars)
    jobs = eval_jobs(chars, args.targets)
    samples = view_samples(chars, jobs, args.views, "exact", args.size, progress=False)
    log.info("%s: %d jobs, samples in %.0f s", style, len(jobs), time.time() - t0)
    common = dict(views=[args.views], targets=args.targets, progress=False, size=args.size, head_boxes=heads,
                  grid_rows=len(jobs))
    own = ViewsShader(model, True)
    shaders = (FlatColourBaseline(args.size), PlainLookup(args.size), ViewsShader(model, True, own_ink=False), own)
    rows, grids = {}, {}
    for row, m in zip(ROWS, shaders):
        table, g = evaluate(m, chars, samples=None if row == "flat" else samples, **common)
        rows[row], grids[row] = table[f"n={args.views}"], g[args.views]
    for row in ROWS:
        rows[row]["l1_vs_flat"] = round(rows[row]["l1"] / rows["flat"]["l1"], 4)
    rows[ROWS[-1]]["look"] = own.look_summary()
    rows[ROWS[-1]]["inks"] = own.inks
    log.info("%s: %.0f s; inks %s", style, time.time() - t0, own.inks)
    return rows, grids


def picture(path: Path, grids: dict, size: int, row: int = 0) -> None:
    """Per ink: job ``row``'s sheet (views tiled) | its target's face in our ink | in the sheet's own |
    ground truth (head box crops, nearest: the pixels the face score sees)."""
    import torch
    from PIL import Image, ImageDraw

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from eval_pictures import crop, show

    tile = size // 2
    lines = []
    for style, g in grids.items():
        g0 = g[ROWS[-1]]
        n = g0["sheet_rgb"].shape[1]
        side = int(np.ceil(np.sqrt(n)))
        small = tile // side
        sheet = np.full((tile, tile, 3), 255, np.uint8)
        for k in range(n):
            v = show(torch.cat([g0["sheet_rgb"][row, k], g0["sheet_mask"][row, k]], 0))
            v = np.asarray(Image.fromarray(v).resize((small, small), Image.BILINEAR))
            y, x = divmod(k, side)
            sheet[y * small:(y + 1) * small, x * small:(x + 1) * small] = v
        box = g0["head_box"][row]
        faces = [crop(show(g[r]["pred"][row]), box, tile) for r in ROWS[2:]]
        faces.append(crop(show(g0["target"][row]), box, tile))
        line = np.concatenate([sheet, *faces], 1)
        label = Image.fromarray(line)
        ImageDraw.Draw(label).text((4, 4), style, fill=(0, 0, 0))
        lines.append(np.asarray(label))
    img = np.concatenate(lines, 0)
    header = Image.new("RGB", (img.shape[1], 18), (255, 255, 255))
    draw = ImageDraw.Draw(header)
    for k, text in enumerate(["sheet", "our ink (the rule before)", "the sheet's own ink (now)", "ground truth"]):
        draw.text((k * tile + 4, 3), text, fill=(0, 0, 0))
    Image.fromarray(np.concatenate([np.asarray(header), img], 0)).save(path, optimize=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="900000:900004")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--styles", default="toon,brown-ink,trace-ink,thick-ink,silhouette-ink")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "sheet_ink_styles.json")
    ap.add_argument("--picture", type=Path, default=None)
    ap.add_argument("--picture-row", type=int, default=0, help="the job (character x target) the picture shows")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("conrt", "conrt.physics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    from conrt.runtime.defaults import default_weights_path
    from conrt.runtime.nn.checkpoint import load_weights

    torch.set_num_threads(args.threads)
    path = default_weights_path()
    model = load_weights(path)
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "load_before": round(os.getloadavg()[0], 2), "weights": path.name, "seeds": args.seeds,
              "size": args.size, "views": args.views, "targets": args.targets, "styles": {}}
    grids = {}
    for style in args.styles.split(","):
        result["styles"][style], grids[style] = run_style(style, args, model)
    result["load_after"] = round(os.getloadavg()[0], 2)
    print(f"| ink | {' | '.join(ROWS)} |")
    print("|---|" + "---|" * len(ROWS))
    for style, rows in result["styles"].items():
        cells = [f"L1 {rows['flat']['l1']:.4f} (face {rows['flat'].get('face_ssim', 0):.3f})"]
        cells += [f"{rows[r]['l1_vs_flat']:.3f} ({rows[r]['ssim']:.4f}, {rows[r].get('face_ssim', 0):.3f}, "
                  f"{rows[r].get('sharpness', 0):.2f})" for r in ROWS[1:]]
        print(f"| {style} | " + " | ".join(cells) + " |")
    for style, rows in result["styles"].items():
        print(style, rows[ROWS[-1]]["look"], rows[ROWS[-1]]["inks"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    if args.picture:
        picture(args.picture, grids, args.size, args.picture_row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
