"""Two ``sheet_poses_eval.py`` runs on the same seeds and targets (say the default's weights
before and after a fine-tune), side by side, with the noise of the difference.

The runs are deterministic on one machine (the same weights twice: every number equal), so
the noise that matters is which targets were drawn: per look and sheet-pose choice the
default's per-target differences at n = ``--face-views`` (whole-frame L1 and face L1,
``faces.<look>.<choice>.default.jobs``; runs since session 13 store the whole frame's) give
their mean, its standard error over the targets (16 with the default 4 seeds x 4 targets)
and how many targets got better / worse.

Usage: python benchmarks/sheet_poses_ab.py BEFORE.json AFTER.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def paired(before: list[dict], after: list[dict], key: str) -> dict | None:
    """Per-target values ``key`` of two runs' jobs -> mean before, mean difference, its standard
    error, targets better / worse; None when a run did not store ``key``."""
    if not before or key not in before[0] or key not in after[0]:
        return None
    if [(j["seed"], j["target"]) for j in before] != [(j["seed"], j["target"]) for j in after]:
        raise SystemExit("the two runs scored different targets: compare runs of the same --seeds and --targets")
    a, b = np.array([j[key] for j in before]), np.array([j[key] for j in after])
    d = b - a
    return {"before": float(a.mean()), "diff": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))),
            "better": int((d < 0).sum()), "worse": int((d > 0).sum()), "targets": len(d)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    a, b = (json.loads(p.read_text()) for p in (args.before, args.after))
    n_face = a["faces"]["views"]
    for style, choices in a["styles"].items():
        for choice, rows in choices.items():
            for row in ("plain exact lookup", "default"):
                for n, x in rows[row].items():
                    if not n.startswith("n="):
                        continue
                    y = b["styles"][style][choice][row][n]
                    print(f"{style} {choice} {row} {n}: L1 x flat {x['l1_vs_flat']:.4f} -> {y['l1_vs_flat']:.4f}, "
                          f"face SSIM {x['face_ssim']:.3f} -> {y['face_ssim']:.3f}, "
                          f"sharpness {x['sharpness']:.2f} -> {y['sharpness']:.2f}")
            jobs_a = a["faces"][style][choice]["default"]["jobs"]
            jobs_b = b["faces"][style][choice]["default"]["jobs"]
            for key in ("l1", "face_l1"):
                p = paired(jobs_a, jobs_b, key)
                if p:
                    print(f"  {style} {choice} default, n = {n_face}, per target {key}: {p['before']:.5f}, "
                          f"difference {p['diff']:+.5f} ({100 * p['diff'] / p['before']:+.1f} %, "
                          f"s.e. {100 * p['se'] / p['before']:.1f} %), {p['better']} better, {p['worse']} worse "
                          f"of {p['targets']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
