"""The picture of the fit's part term in docs/fit_sheet.md: a synthetic front
view of the unseen procedural character (seed 900001, ``make_drawing``, the
benchmark's per-view drawing s0v0) at the work size and its part labels,
then the rig (rest pose, moment-matched) seen from behind and from the
drawing's own yaw, each with its labels through the same colour table and
its cost terms (1 - IoU, part term) in the log.

Usage: python benchmarks/fit_sheet_parts_picture.py [--out docs/fit_sheet_parts.png]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def label_colours(labels: np.ndarray) -> np.ndarray:
    """[n, n] labels -> [n, n, 3] u8: a fixed colour per cluster, white background, black for no cluster."""
    palette = np.random.default_rng(1).uniform(40, 230, (64, 3))
    out = np.full(labels.shape + (3,), 255.0)
    out[labels >= 0] = palette[labels[labels >= 0] % 64]
    out[labels == -2] = 0
    return out.astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "fit_sheet_parts.png")
    args = ap.parse_args()
    from PIL import Image

    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.runtime.app.sheet_fit import FitParams, SheetFitter, downsample_drawing, iou, part_label_iou, prepare_drawing
    from conrt.shaders import create_context, release_context
    from conrt.training.fit_drawings import make_drawing

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "char.glb"
        save_character(generate(900001), path)
        character = load_character(path)
    ctx = create_context("auto")
    try:
        drawing, _, truth = make_drawing(ctx, character, 0.0, 0)
        with SheetFitter(ctx, character, 256, 128, part_weight=0.5) as fitter:
            parts = fitter.part_labels()
            mask, rgb = downsample_drawing(prepare_drawing(drawing, "s0v0", 256), 128)
            drawn = parts(mask, rgb)
            panels = [np.where(mask[..., None], rgb * 255, 255).astype(np.uint8), label_colours(drawn)]
            for yaw in (180.0, truth["yaw"]):
                p = fitter.moment_match(fitter.moment_match(FitParams(float(yaw)), mask), mask)
                rmask, rrgb = fitter.render_toon(p)
                labels = parts(rmask, rrgb)
                print(f"rig at yaw {yaw:.1f}: 1 - IoU {1 - iou(rmask, mask):.3f}, "
                      f"part term {1 - part_label_iou(labels, drawn):.3f}")
                panels += [np.where(rmask[..., None], rrgb * 255, 255).astype(np.uint8), label_colours(labels)]
    finally:
        release_context(ctx)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(panels, 1)).resize((256 * len(panels), 256), Image.NEAREST).save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
