"""L1 against training time from a run's ``log.csv``: a small CSV and a PNG plot (Pillow only).

    python -m conrt.training.curve out/train/xs128 -o docs/training_curve
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from conrt.errors import InputError


def read_log(run) -> list[dict]:
    path = Path(run) / "log.csv"
    if not path.is_file():
        raise InputError(f"{path}: no training log")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_curve(run, out_stem) -> tuple[Path, Path]:
    """-> (curve.csv, curve.png): step, hours, train L1, val L1 (validation rows only have it)."""
    from PIL import Image, ImageDraw

    rows = read_log(run)
    if not rows:
        raise InputError(f"{run}/log.csv is empty")
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out_stem.with_suffix(".csv"), out_stem.with_suffix(".png")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "train_hours", "train_l1", "val_l1", "val_ssim", "val_psnr"])
        for r in rows:
            w.writerow([r["step"], f"{float(r['elapsed_s']) / 3600:.4f}", r["l1"], r.get("val_l1", ""),
                        r.get("val_ssim", ""), r.get("val_psnr", "")])

    t = np.array([float(r["elapsed_s"]) / 60 for r in rows])
    tr = np.array([float(r["l1"]) for r in rows])
    val = [(float(r["elapsed_s"]) / 60, float(r["val_l1"])) for r in rows if r.get("val_l1")]
    k = max(1, len(tr) // 25)  # moving average of the noisy per-batch L1
    tr_s = np.convolve(tr, np.ones(k) / k, mode="valid")
    t_s = t[k - 1:]

    W, H, L, R, T, B = 560, 340, 60, 20, 30, 45
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    x_max = max(float(t.max()), 1e-3)
    y_vals = np.concatenate([tr, [v for _, v in val]]) if val else tr
    y_max = float(np.percentile(y_vals, 99)) * 1.05
    y_min = 0.0

    def px(x, y):
        return L + (W - L - R) * x / x_max, H - B - (H - T - B) * (y - y_min) / (y_max - y_min)

    d.rectangle([L, T, W - R, H - B], outline="black")
    for i in range(6):  # grid + tick labels
        y = y_min + (y_max - y_min) * i / 5
        _, yy = px(0, y)
        d.line([L, yy, W - R, yy], fill=(225, 225, 225))
        d.text((4, yy - 6), f"{y:.3f}", fill="black")
        x = x_max * i / 5
        xx, _ = px(x, 0)
        d.text((xx - 10, H - B + 6), f"{x:.0f}" if x_max >= 10 else f"{x:.1f}", fill="black")
    if 0.02 < y_max:  # the aim: L1 <= 0.02 at n=4
        _, yy = px(0, 0.02)
        d.line([L, yy, W - R, yy], fill=(0, 160, 0))
        d.text((W - R - 70, yy - 14), "aim 0.02", fill=(0, 140, 0))
    d.line([px(a, b) for a, b in zip(t_s, tr_s)], fill=(60, 90, 200), width=2)
    if len(val) > 1:
        d.line([px(a, b) for a, b in val], fill=(210, 60, 40), width=2)
    for a, b in val:
        x, y = px(a, b)
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(210, 60, 40))
    d.text((L, 8), "L1 (premultiplied RGBA) vs training time [min]: blue train (smoothed), red val (n=m=4)",
           fill="black")
    d.text((W // 2 - 40, H - 18), "minutes of training", fill="black")
    img.save(png_path)
    return csv_path, png_path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run folder with log.csv")
    ap.add_argument("-o", "--out", default="docs/training_curve", help="output stem (.csv and .png)")
    args = ap.parse_args(argv)
    for p in write_curve(args.run, args.out):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
