"""The picture of palette matching in docs/fit_sheet.md: the benchmark's
turnaround sheet 0 (unseen procedural character, seed 900001), per view at
the work size (128²): the drawing in the rig's toon colours and its part
labels; the same drawing recoloured (``fit_drawings.recolour``, as the
benchmark's ``--recolour`` does) and its labels as drawn (black: no rig colour
near); the recoloured drawing after the view's own palette match (the coarse
stage's, ``--palette auto``; a joint fit then matches the sheet) and its
labels. The share of the pixels whose label is the toon drawing's goes to
the log.

Usage: python benchmarks/fit_sheet_palette_picture.py [--out docs/fit_sheet_palette.png]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from fit_sheet_parts_picture import label_colours  # noqa: E402

LABELS = (0.0, 45.0, 90.0, 180.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "fit_sheet_palette.png")
    args = ap.parse_args()
    from PIL import Image

    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.runtime.app.sheet_fit import SheetFitter, _Clock, downsample_drawing, prepare_drawing
    from conrt.shaders import create_context, release_context
    from conrt.training.fit_drawings import make_turnaround, recolour

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "char.glb"
        save_character(generate(900001), path)
        character = load_character(path)
    ctx = create_context("auto")
    rows = []
    try:
        made = make_turnaround(ctx, character, LABELS, 0)
        with SheetFitter(ctx, character, 256, 128) as fitter:
            parts = fitter.part_labels()
            for k, (drawing, _, _) in enumerate(made):
                toon = fitter._coarse(prepare_drawing(drawing, f"s0v{k}", 256), "toon", LABELS[k], _Clock(fitter))
                framed = prepare_drawing(recolour(drawing, 0), f"s0v{k}", 256)  # as the benchmark: seed = the sheet
                matched = fitter._coarse(framed, "recoloured", LABELS[k], _Clock(fitter))
                mask = toon.target[0]
                as_drawn = downsample_drawing(framed, 128)
                truth_labels = parts(*toon.target)
                row = []
                for name, target in (("toon", toon.target), ("recoloured", as_drawn), ("matched", matched.target)):
                    labels = parts(*target)
                    named = truth_labels >= 0
                    print(f"s0v{k} {name}: label of the toon drawing on {(labels == truth_labels)[named].mean():.3f} "
                          f"of its pixels")
                    row += [np.where(mask[..., None], target[1] * 255, 255).astype(np.uint8), label_colours(labels)]
                rows.append(np.concatenate(row, 1))
    finally:
        release_context(ctx)
    picture = np.concatenate(rows, 0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).resize((picture.shape[1] * 2, picture.shape[0] * 2), Image.NEAREST).save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
