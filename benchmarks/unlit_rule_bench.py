"""The rules for sheets without ink, on the same frames: the unlit rule
(``lookup_net.keep_plain_lookup``), the shaded rule (the same without the plain lookup)
and the inked rule, beside the plain exact lookup.

Same frames and exact samples for every row (``training.evaluate``, as
``finetune_eval.py``): unseen procedural characters ``--seeds`` at ``--size``,
12 poses, 4 targets, the default weights with the sheet's ink judged:

- ``flat``, ``plain`` (``PlainLookup``: no network);
- ``unlit``: the fusion with the unlit rule on ink-0 sheets (the plain lookup wherever a view
  has the point): what a sheet judged unlit takes;
- ``shaded``: the same without the plain lookup (the rule before it, same weights): what a
  sheet judged shaded takes (``sheet.SheetLook.shaded``);
- ``inked``: the inked sheets' rule on every sheet (the target's edges refined): what an
  inkless sheet would take if it were judged inked.

Usage: python benchmarks/unlit_rule_bench.py [--style unlit|no-outline] [--seeds 900000:900004] [--size 256]
       [--views 1,4,8] [--json benchmarks/results/unlit_rule.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--style", default="unlit")
    ap.add_argument("--seeds", default="900000:900004")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--views", default="1,4,8")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    from conrt.runtime.nn.checkpoint import find_weights, load_weights
    from conrt.training.evaluate import (FlatColourBaseline, PlainLookup, ViewsShader, characters_from_seeds,
                                         eval_jobs, evaluate, parse_seeds, procedural_head_boxes, view_samples)

    torch.set_num_threads(1)
    views = [int(v) for v in args.views.split(",")]
    t = time.time()
    chars = characters_from_seeds(parse_seeds(args.seeds), 12, args.size, progress=False, style=args.style)
    common = dict(views=views, targets=4, progress=False, size=args.size, head_boxes=procedural_head_boxes(chars))
    samples = view_samples(chars, eval_jobs(chars, 4), max(views), "exact", args.size, progress=False)
    model = load_weights(find_weights("conr-default"))
    rows = {"flat": evaluate(FlatColourBaseline(args.size), chars, **common)[0],
            "plain": evaluate(PlainLookup(args.size), chars, samples=samples, **common)[0]}
    for name, shader in (("unlit", ViewsShader(model, True, judge_look=True, shaded=False)),
                         ("shaded", ViewsShader(model, True, judge_look=True, shaded=True)),
                         ("inked", ViewsShader(model, True, judge_look=False))):
        rows[name] = evaluate(shader, chars, samples=samples, **common)[0]
        rows[name]["look"] = shader.look_summary()
    print(f"{args.style}, seeds {args.seeds}, {args.size}², {time.time() - t:.0f} s; L1 × flat (SSIM, face SSIM)")
    for name, row in rows.items():
        print(f"{name:7s}", "  ".join(f"{n}: {r['l1'] / rows['flat'][n]['l1']:.4f} ({r['ssim']:.4f}, "
                                      f"{r.get('face_ssim', float('nan')):.3f})"
                                      for n, r in row.items() if n.startswith("n=")), row.get("look", ""))
    if args.json:
        args.json.write_text(json.dumps({"style": args.style, "seeds": args.seeds, "size": args.size, "rows": rows},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
