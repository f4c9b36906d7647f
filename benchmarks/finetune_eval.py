"""Old default vs fine-tuned weights on exact sheet samples: unseen seeds, toon AND unlit sheets.

For each look (``--styles``, default toon and unlit): the unseen procedural
characters ``--seeds`` are rendered at ``--size`` (12 poses each, as
``conrt eval --seeds``), every job's sheet samples are found once by the
runtime's GL correspondence pass (exact: the views' cameras and poses; and
udp-nn: only their UDPs) and every row scores the SAME frames and samples
(``training.evaluate``: L1, PSNR, SSIM, face SSIM, sharpness):

- ``flat``: UDP silhouette x mean sheet colour;
- ``plain exact lookup``: the samples with no network (mean over the views
  that see the point);
- ``old`` / ``new`` (``--old`` / ``--new`` weights): the fusion on the exact
  samples with ``keep_seen`` on (the runtime's rule: the views' fused colour
  where they see the point; the sheet's judged look, printed in the label,
  decides whether the refinement draws the target's edges), the same rule
  before the look (edges refined on every sheet) and ``keep_seen`` off (the
  refinement on every pixel);
- the same on udp-nn samples (sheets with only ``view_NN_udp.npz``), keep_seen as
  the ``--udp-keep`` choice;
- ``--table-check K``: the 32³ table from the predicted sheet UDP (drawn
  sheets, no view files) for the first K characters at n = 4 (the sheet
  encoder costs ~0.5 s per view at 256² here).

Usage: python benchmarks/finetune_eval.py --new RUN/best.safetensors
       [--old conr-default] [--seeds 900000:900008] [--size 256] [--views 1,4,8]
       [--json benchmarks/results/eval_finetune.json] [--picture docs/finetune_grid.png]
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
log = logging.getLogger("finetune_eval")


def run_style(style: str, args, models: dict) -> tuple[dict, dict]:
    from conrt.training.evaluate import (FlatColourBaseline, PlainLookup, ViewsShader, characters_from_seeds,
                                         eval_jobs, evaluate, parse_seeds, procedural_head_boxes, view_samples)

    views = [int(v) for v in args.views.split(",")]
    t0 = time.time()
    chars = characters_from_seeds(parse_seeds(args.seeds), 12, args.size, progress=False, style=style,
                                  sheet_poses=args.sheet_poses, sheet_views=max(views))
    heads = procedural_head_boxes(chars)
    jobs = eval_jobs(chars, args.targets)
    samples = {m: view_samples(chars, jobs, max(views), m, args.size, progress=False) for m in ("exact", "udp-nn")}
    if args.baseline_pass is not None:  # the same frames' exact samples through the pass as of --baseline
        import conrt.shaders.correspondence_pass as current

        kept, current.CorrespondencePass = current.CorrespondencePass, args.baseline_pass
        try:
            samples["exact, baseline"] = view_samples(chars, jobs, max(views), "exact", args.size, progress=False)
        finally:
            current.CorrespondencePass = kept
    log.info("%s: %d characters rendered, samples found in %.0f s", style, len(chars), time.time() - t0)
    common = dict(views=views, targets=args.targets, progress=False, size=args.size, head_boxes=heads)
    rows, grids = {}, {}
    rows["flat"], _ = evaluate(FlatColourBaseline(args.size), chars, **common)
    before = f" (pass as of {args.baseline})"
    if args.baseline_pass is not None:
        label = "plain exact lookup" + before
        rows[label], grids[label] = evaluate(PlainLookup(args.size), chars, samples=samples["exact, baseline"],
                                             **common)
    rows["plain exact lookup"], grids["plain exact lookup"] = evaluate(PlainLookup(args.size), chars,
                                                                      samples=samples["exact"], **common)
    for name, model in models.items():
        if args.baseline_pass is not None:
            shader = ViewsShader(model, True, judge_look=True)
            label = f"{name}, exact{before}"
            rows[label], grids[label] = evaluate(shader, chars, samples=samples["exact, baseline"], **common)
        for keep, judge in ((True, True), (True, False), (False, False)):
            t = time.time()
            shader = ViewsShader(model, keep, judge_look=judge)
            row, grid = evaluate(shader, chars, samples=samples["exact"], **common)
            label = f"{name}, exact" + (f" ({shader.look_summary()})" if judge else
                                        ", before the look" if keep else ", refined everywhere")
            rows[label], grids[f"{name}, exact" if judge else label] = row, grid
            log.info("%s %s: %.0f s", style, label, time.time() - t)
        keep = args.udp_keep[name]
        rows[f"{name}, udp-nn"], _ = evaluate(ViewsShader(model, keep), chars, samples=samples["udp-nn"], **common)
    if args.table_check:
        few = chars[:args.table_check]
        few_common = dict(common, views=[4], head_boxes=procedural_head_boxes(few))
        for name, model in models.items():
            t = time.time()
            rows[f"{name}, table (predicted sheet UDP)"], _ = evaluate(model, few, **few_common)
            log.info("%s %s table: %.0f s", style, name, time.time() - t)
    flat = rows["flat"]
    for label, row in rows.items():
        for n, r in row.items():
            r["l1_vs_flat"] = round(r["l1"] / flat[n]["l1"], 4)
    return rows, grids


def picture(path: Path, grids: dict, columns: list[tuple[str, str]], rows: int = 4) -> None:
    """Per job: sheet view | UDP | the ``columns`` ((title, grid label)) | ground truth,
    then the same faces enlarged."""
    from PIL import Image

    from eval_pictures import crop, show  # benchmarks/ is on sys.path when run as a script

    counts = next(iter(grids.values()))
    n = 4 if 4 in counts else max(counts)
    g0 = grids[columns[0][1]][n]
    size = g0["udp"].shape[-1]

    lines = []
    for r in range(min(rows, g0["udp"].shape[0])):
        sheet = show(g0["sheet_rgb"][r, 0].new_tensor(
            np.concatenate([g0["sheet_rgb"][r, 0].numpy(), g0["sheet_mask"][r, 0].numpy()], 0)))
        u = g0["udp"][r].float()
        udp = ((u[:3] * u[3:4]).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        preds = [show(grids[key][n]["pred"][r]) for _, key in columns]
        gt = show(g0["target"][r])
        tiles = [sheet, udp, *preds, gt]
        lines.append(np.concatenate(tiles, 1))
        box = g0["head_box"][r]
        lines.append(np.concatenate([np.full((size, size, 3), 255, np.uint8), np.full((size, size, 3), 255, np.uint8)]
                                    + [crop(t, box, size) for t in (*preds, gt)], 1))
    from PIL import ImageDraw

    img = np.concatenate(lines, 0)
    header = Image.new("RGB", (img.shape[1], 18), (255, 255, 255))
    draw = ImageDraw.Draw(header)
    for k, text in enumerate(["sheet view 0", "target UDP", *(title for title, _ in columns), "ground truth"]):
        draw.text((k * size + 4, 3), text, fill=(0, 0, 0))
    Image.fromarray(np.concatenate([np.asarray(header), img], 0)).save(path)


def picture_columns(args, names: list[str]) -> list[tuple[str, str]]:
    """The grid's columns: each model on exact samples; with --baseline, the
    first model and the plain lookup before and after the pass's change."""
    if args.baseline_pass is None:
        return [(f"{name} (exact)", f"{name}, exact") for name in names]
    before = f" (pass as of {args.baseline})"
    return [(f"plain lookup, {args.baseline}", "plain exact lookup" + before),
            ("plain lookup, now", "plain exact lookup"),
            (f"{names[0]}, {args.baseline}", f"{names[0]}, exact{before}"), (f"{names[0]}, now", f"{names[0]}, exact")]


def doc_table(result: dict) -> str:
    lines = ["| sheets | shading | views | L1 | × flat | PSNR | SSIM | face SSIM | sharpness |",
             "|---|---|---|---|---|---|---|---|---|"]
    for style, rows in result["styles"].items():
        for label, row in rows.items():
            for n, r in row.items():
                face = f"{r['face_ssim']:.3f}" if r.get("face_ssim") is not None else "-"
                lines.append(f"| {style} | {label} | {n} | {r['l1']:.4f} | {r['l1_vs_flat']:.2f} | {r['psnr']:.2f} "
                             f"| {r['ssim']:.4f} | {face} | {r['sharpness']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", default="conr-default")
    ap.add_argument("--new", default=None, help="fine-tuned weights (omit: the old weights alone)")
    ap.add_argument("--seeds", default="900000:900008")
    ap.add_argument("--sheet-poses", default="clip", help="clip (default) or turnaround: as `conrt eval --sheet-poses`")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--views", default="1,4,8")
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--styles", default="toon,unlit")
    ap.add_argument("--new-udp-keep", choices=("on", "off"), default="off",
                    help="keep_seen for the new weights' udp-nn rows (the old weights': on, as shipped)")
    ap.add_argument("--table-check", type=int, default=0, help="characters scored through the table at n = 4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--baseline", default=None,
                    help="git revision: also the exact rows through the correspondence pass as of it (same frames)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "eval_finetune.json")
    ap.add_argument("--picture", type=Path, default=None,
                    help="grid PNG (n = 4) per style: this path, with the style's name appended for the others")
    ap.add_argument("--docs", type=Path, default=None, help="write the table between this doc's finetune-eval markers")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("conrt", "conrt.physics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    from conrt.runtime.nn.checkpoint import find_weights, load_weights

    torch.set_num_threads(args.threads)
    args.baseline_pass = None
    if args.baseline:
        import tempfile

        sys.path.insert(0, str(ROOT / "benchmarks"))
        from correspondence_bench import _old_module

        args.baseline_pass = _old_module(args.baseline, Path(tempfile.mkdtemp())).CorrespondencePass
    models = {"old": load_weights(find_weights(args.old))}
    if args.new:
        models["new"] = load_weights(find_weights(args.new))
    args.udp_keep = {"old": True, "new": args.new_udp_keep == "on"}
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "old": str(args.old), "new": str(args.new), "seeds": args.seeds, "size": args.size,
              "targets": args.targets, "threads": args.threads, "udp_keep_seen": args.udp_keep, "styles": {}}
    pictures = {}
    for style in args.styles.split(","):
        result["styles"][style], pictures[style] = run_style(style, args, models)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    text = doc_table(result)
    print(text)
    if args.docs:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from doc_table import write_marked_table

        write_marked_table(args.docs, "finetune-eval", text)
    if args.picture:
        for k, (style, grids) in enumerate(pictures.items()):
            path = args.picture if k == 0 else args.picture.with_name(f"{args.picture.stem}_{style}.png")
            picture(path, grids, picture_columns(args, list(models)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
