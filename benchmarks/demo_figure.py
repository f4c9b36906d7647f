"""README picture: the default demo as a user first sees it, new default
(256², exact sheet correspondences, seen colours kept) above the old one
(128², the 32³ lookup table), same clip, same physics: a few frames across
the 5 s and a face crop of each.

    python benchmarks/demo_figure.py [-o docs/demo_default.png] [--frames 150]

Both runs are what ``conrt demo`` does without a display (sample character,
sample sheet, embedded weights, walk clip, the body following the clip, hair
and skirt simulated); the old default is drawn at 2× (nearest) so the rows
line up.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BACKGROUND = (0.93, 0.93, 0.95)
RUNS = (("new default: 256x256, exact correspondences", 256, "auto"),
        ("old default: 128x128, 32^3 table", 128, "table"))


def run_demo(size: int, correspondence: str, frames: int, keep: list[int]):
    """The headless demo's frames ``keep`` -> list of (rgb u8 [S, S, 3], udp [S, S, 4])."""
    from conrt.runtime.app.frame_loop import open_runtime, over_background

    rt = open_runtime(size=size, clip="walk", context="egl", correspondence=correspondence)
    out = {}
    try:
        for f in rt.frames(frames):
            if f.index in keep:
                out[f.index] = (over_background(f.rgba, BACKGROUND), f.udp.copy())
    finally:
        rt.close()
    return [out[i] for i in keep]


def face_box(udp: np.ndarray, top: float = 0.84) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) square around the pixels whose canonical height (UDP y) is above ``top``."""
    ys, xs = np.nonzero((udp[..., 3] > 0.5) & (udp[..., 1] > top))
    if len(ys) == 0:
        s = udp.shape[0]
        return 0, s // 3, s // 3, 2 * s // 3
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    half = max(ys.max() - ys.min(), xs.max() - xs.min()) / 2 + 2
    y0, x0 = int(max(cy - half, 0)), int(max(cx - half, 0))
    return y0, int(y0 + 2 * half), x0, int(x0 + 2 * half)


def _resize(img: np.ndarray, side: int) -> np.ndarray:
    idx = np.arange(side) * img.shape[0] // side
    jdx = np.arange(side) * img.shape[1] // side
    return img[idx][:, jdx]


def main(argv=None) -> int:
    from PIL import Image, ImageDraw

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "demo_default.png")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--keep", default="10,40,75,110,149", help="frame indices to show")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    keep = [int(x) for x in args.keep.split(",")]
    side, face = 256, 256
    rows = []
    for label, size, mode in RUNS:
        shots = run_demo(size, mode, args.frames, keep)
        tiles = [_resize(rgb, side) for rgb, _ in shots]
        rgb, udp = shots[0]  # face crop of the first kept frame (facing the camera)
        y0, y1, x0, x1 = face_box(udp)
        crop = _resize(rgb[y0:y1, x0:x1], face)
        if face < side:
            crop = np.concatenate([crop, np.full((side - face, face, 3), 255, np.uint8)], 0)
        row = np.concatenate(tiles + [crop], 1)
        img = Image.fromarray(np.concatenate([np.full((18, row.shape[1], 3), 255, np.uint8), row], 0))
        ImageDraw.Draw(img).text((4, 3), f"{label}; frames {', '.join(map(str, keep))} of {args.frames}; "
                                         f"right: face, frame {keep[0]}",
                                 fill=(0, 0, 0))
        rows.append(np.asarray(img))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
