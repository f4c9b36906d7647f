"""docs/runtime.md picture: the runtime's shaded silhouette without and with
anti-aliasing (``RuntimeSpec.antialias`` off vs on), zoomed crops of the same
frame, composited over the demo's background as the window and the video show
it; a third column shows the coverage the edge took its alpha from.

    python benchmarks/antialias_figure.py [-o docs/runtime_antialias.png] [--size 256] [--frame 20]

Both runs are the default runtime (sample character, sample sheet, embedded
weights, walk clip, the body following the clip exactly, so both see the same
poses); the network's input is the same in both (the UDP with binary
occupancy), only the silhouette's alpha differs.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BACKGROUND = (0.93, 0.93, 0.95)  # conrt demo's window background
ZOOM = 6
CROP = 56  # frame pixels per crop side


def shaded_frame(size: int, antialias: str, frame: int):
    """(rgb u8 over the background, coverage or None, udp) of frame ``frame`` of the default runtime."""
    from conrt.runtime.app.frame_loop import open_runtime, over_background

    with open_runtime(size=size, clip="walk", context="egl", antialias=antialias) as rt:
        for f in rt.frames(frame + 1):
            if f.index == frame:
                return over_background(f.rgba, BACKGROUND), f.coverage, f.udp.copy()
    raise RuntimeError("no frame")


def crops_of(udp: np.ndarray) -> list[tuple[int, int]]:
    """Top-left corners of two crops on the silhouette: the top of the head (hair), a hand."""
    ys, xs = np.nonzero(udp[..., 3] > 0)
    size = udp.shape[0]
    clamp = lambda v: int(min(max(v, 0), size - CROP))  # noqa: E731
    head = (clamp(ys.min() - 4), clamp(xs[ys == ys.min()].mean() - CROP // 2))
    lowest_left = xs.min()  # the far left of the body: an arm, a hand
    y_left = ys[xs == lowest_left].mean()
    hand = (clamp(y_left - CROP // 2), clamp(lowest_left - 4))
    return [head, hand]


def main(argv=None) -> int:
    from PIL import Image, ImageDraw

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "runtime_antialias.png")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frame", type=int, default=20)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    off, _, udp = shaded_frame(args.size, "off", args.frame)
    on, coverage, udp_on = shaded_frame(args.size, "on", args.frame)
    assert np.array_equal(udp, udp_on), "the network's UDP must be the same with and without anti-aliasing"
    cov_rgb = np.repeat((255 - coverage * 255 + 0.5).astype(np.uint8)[..., None], 3, -1)  # black = covered
    side, gap, label_h = CROP * ZOOM, 8, 22
    columns = [("antialias off (hard 1-px edge)", off), ("antialias on (3x3 coverage)", on),
               ("coverage (black = 1)", cov_rgb)]
    crops = crops_of(udp)
    sheet = Image.new("RGB", (len(columns) * side + (len(columns) - 1) * gap,
                              label_h + len(crops) * side + (len(crops) - 1) * gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, (label, img) in enumerate(columns):
        x = c * (side + gap)
        draw.text((x + 4, 4), label, fill=(0, 0, 0))
        for r, (y0, x0) in enumerate(crops):
            crop = Image.fromarray(img[y0:y0 + CROP, x0:x0 + CROP]).resize((side, side), Image.NEAREST)
            sheet.paste(crop, (x, label_h + r * (side + gap)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, optimize=True)
    print(f"wrote {args.output} ({args.size}² frame {args.frame}, crops {crops}, {ZOOM}x nearest)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
