"""docs/fill_same_surface.png: what no view sees on the sample demo, the fill as of a baseline
revision against now, beside the toon pass at the same pose (the ground truth of
``fill_unseen_bench.py --demo``) and the pixels no view sees (magenta), face and skirt hem
crops of walk frame 10 at 256², ×4 (nearest).

    python benchmarks/fill_unseen_figure.py [--baseline 9cabc11] [-o docs/fill_same_surface.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fill_unseen_bench import _Fill, _fusion, baseline_fill, demo_frames  # benchmarks/ is on sys.path as a script

ROOT = Path(__file__).resolve().parents[1]
BACKGROUND = 0.93
# (y0, y1, x0, x1) of the 256² frame 10: the face with the hair ring, the skirt's hem over the thighs
CROPS = ((20, 68, 94, 158), (146, 174, 94, 158))
ZOOM = 4


def _rgb(rgba) -> np.ndarray:
    x = rgba[0].numpy()
    rgb = x[:3] + (1 - x[3:4]) * BACKGROUND
    return (np.clip(rgb, 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="9cabc11")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "fill_same_surface.png")
    args = ap.parse_args(argv)
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    model, ink, _, shots = demo_frames(256, 11, [10])
    sampled, cover, udp, gt = shots[0]
    with _Fill(baseline_fill(args.baseline)):
        before = _fusion(model, sampled, cover, udp, ink, True)
    now = _fusion(model, sampled, cover, udp, ink, True)
    unseen = ((cover.amax(1) <= 0.01) & (udp[:, 3:4] > 0.5))[0, 0].numpy()
    marked = _rgb(gt).copy()
    marked[unseen] = (255, 0, 255)
    panels = [_rgb(before), _rgb(now), _rgb(gt), marked]  # columns: baseline, now, toon pass, unseen
    gap = 4
    rows = []
    for y0, y1, x0, x1 in CROPS:
        cells = [np.kron(p[y0:y1, x0:x1], np.ones((ZOOM, ZOOM, 1), np.uint8)) for p in panels]
        sep = np.full((cells[0].shape[0], gap, 3), 255, np.uint8)
        rows.append(np.concatenate(sum([[c, sep] for c in cells], [])[:-1], 1))
    sep = np.full((gap, rows[0].shape[1], 3), 255, np.uint8)
    Image.fromarray(np.concatenate(sum([[r, sep] for r in rows], [])[:-1], 0)).save(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
