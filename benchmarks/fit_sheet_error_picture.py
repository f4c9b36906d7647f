"""docs/fit_sheet_error_where.png: where a fit's UDP error lies, beside what the
drawing's own pose would leave. Per view (a row) of a benchmark sheet
(``fit_sheet_bench.py``'s drawings, the same seeds): the drawing; the UDP error
|fitted - true| of ``conrt fit-sheet`` (``--method joint``: ``--joint --jobs 2``)
on the drawing's foreground; the same from the drawing's own pose at its true
yaw (``fit_sheet_bench.true_pose_fit``: the floor); and from that pose with the
yaw held 3 degrees off. Black 0, through red and yellow, white at
``--scale`` (canonical-box units) and above; each panel's mean in its corner.

Usage: python benchmarks/fit_sheet_error_picture.py [--mode turnaround] [--sheet 0] [--method joint]
       [--scale 0.04] [--out docs/fit_sheet_error_where.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def heat(err: np.ndarray, fg: np.ndarray, scale: float) -> np.ndarray:
    """[H, W] error -> [H, W, 3] f32 0..255: black, red, yellow, white at ``scale``; grey off the foreground."""
    t = np.clip(err / scale, 0.0, 1.0) * 3.0
    rgb = np.stack([np.clip(t, 0, 1), np.clip(t - 1, 0, 1), np.clip(t - 2, 0, 1)], -1) * 255.0
    return np.where(fg[..., None], rgb, 235.0).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="turnaround", choices=("turnaround", "per_view"))
    ap.add_argument("--sheet", type=int, default=0)
    ap.add_argument("--method", default="joint", choices=("joint", "separate"))
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--scale", type=float, default=0.04)
    ap.add_argument("--yaw-off", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "fit_sheet_error_where.png")
    args = ap.parse_args()

    from PIL import Image, ImageDraw

    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, bench_view, loaded_procedural, true_pose_fit

    rows = []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        views = [bench_view(ctx, character, args.mode, args.sheet, k) for k in range(len(LABELS))]
        framed = [img for img, *_ in views]
        names = [f"s{args.sheet}v{k}" for k in range(len(LABELS))]
        if args.method == "joint":
            fits = fitter.fit_joint(framed, names, list(LABELS), jobs=2)
        else:
            fits = [fitter.fit(img, n, label) for img, n, label in zip(framed, names, LABELS)]
        for (img, true, truth, pose), fit in zip(views, fits):
            floor = true_pose_fit(fitter, img, pose, truth["yaw"])[0]
            off = true_pose_fit(fitter, img, pose, truth["yaw"], args.yaw_off)[0]
            fg = (img[..., 3] >= 128) & (true[..., 3] > 0)
            a = img[..., 3:4].astype(np.float32) / 255.0
            panels = [img[..., :3].astype(np.float32) * a + 235.0 * (1 - a)]
            labels = [f"yaw {truth['yaw']:.0f} (label {truth['label_yaw']:.0f})"]
            for udp, what in ((fit.udp, f"fit, yaw {fit.params.yaw:.0f}"), (floor.udp, "own pose"),
                              (off.udp, f"own pose, yaw {args.yaw_off:+g}")):
                err = np.linalg.norm(udp[..., :3] - true[..., :3], axis=-1)
                panels.append(heat(err, fg, args.scale))
                labels.append(f"{what}: {udp_error(udp, true, img)['udp_error']:.4f}")
            row = Image.fromarray(np.concatenate(panels, 1).clip(0, 255).astype(np.uint8))
            draw = ImageDraw.Draw(row)
            for k, text in enumerate(labels):
                draw.text((256 * k + 4, 4), text, fill=(0, 0, 0))
            rows.append(np.asarray(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(args.out, optimize=True)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
