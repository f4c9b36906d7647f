"""docs/fit_sheet_side_orders.png: a side view's fit before and after the side orders (session 17, s17-side).

Per view (a row; ``fit_sheet_bench.py``'s per-view drawings, label 90, the same seeds): the drawing; the
separate fit's UDP over it without the side orders (main's fit: ``side_orders=()``); with them (the same fit,
then ``SheetFitter._try_side_orders`` from its end, as ``SEPARATE_SIDE_ORDERS`` runs it, or ``--orders``);
the true UDP; then the UDP error |fitted - true| of both (black 0, red, yellow, white at ``--scale``), each
panel's mean in its corner and the order taken.

Usage: python benchmarks/fit_sheet_side_order_picture.py [--views 4,5] [--orders legs,arms]
       [--out docs/fit_sheet_side_orders.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", default="4,5", help="sheets whose side view (view 2) makes a row")
    ap.add_argument("--orders", default=None, help="comma separated SIDE_ORDERS (default SEPARATE_SIDE_ORDERS)")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--scale", type=float, default=0.08)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "fit_sheet_side_orders.png")
    args = ap.parse_args()

    from PIL import Image, ImageDraw

    from conrt.runtime.app.sheet_fit import SEPARATE_SIDE_ORDERS, _Clock, _Coarse, downsample_drawing, rough_steps
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, bench_view, loaded_procedural
    from fit_sheet_error_picture import heat

    orders = SEPARATE_SIDE_ORDERS if args.orders is None else tuple(args.orders.split(","))
    rows, notes = [], []
    with loaded_procedural(args.seed) as (character, ctx, fitter):
        nb = len(fitter.bones)
        for sheet in (int(s) for s in args.views.split(",")):
            img, true, truth, _ = bench_view(ctx, character, "per_view", sheet, 2)
            name, label = f"s{sheet}v2", LABELS[2]
            fitter.side_orders = ()
            main_fit = fitter.fit(img, name, label)
            fitter.side_orders = orders
            fine = downsample_drawing(img, fitter.fine)
            coarse = _Coarse(downsample_drawing(img, fitter.work), [], 0.0, 0.0, label, nb)
            cost = fitter._cost(main_fit.params, *fine)[0]
            before = fitter.evaluations
            p, _, tried = fitter._try_side_orders(main_fit.params, cost, fine, rough_steps(nb), np.ones(6 + nb, bool),
                                                  coarse)
            renders = fitter.evaluations - before
            ours = main_fit if p is main_fit.params else fitter._finish(p, img, name, label, coarse, _Clock(fitter))
            taken = min(tried, key=tried.get) if p is not main_fit.params else "none"
            fg = (img[..., 3] >= 128) & (true[..., 3] > 0)
            a = img[..., 3:4].astype(np.float32) / 255.0
            over = img[..., :3].astype(np.float32) * a + 235.0 * (1 - a)
            panels, labels = [over], [f"{name}: true yaw {truth['yaw']:.0f}"]
            for tag, udp in (("main", main_fit.udp), (f"s17 ({taken})", ours.udp), ("true", true)):
                cover = udp[..., 3:4] > 0
                panels.append(np.where(cover, np.clip(udp[..., :3], 0, 1) * 255.0, 235.0))
                labels.append(tag)
            for tag, udp in (("main", main_fit.udp), ("s17", ours.udp)):
                err = np.linalg.norm(udp[..., :3] - true[..., :3], axis=-1)
                panels.append(heat(err, fg, args.scale))
                labels.append(f"{tag} error {udp_error(udp, true, img)['udp_error']:.4f}")
            row = Image.fromarray(np.concatenate(panels, 1).clip(0, 255).astype(np.uint8))
            draw = ImageDraw.Draw(row)
            s = img.shape[0]
            for k, text in enumerate(labels):
                draw.text((k * s + 4, 4), text, fill=(0, 0, 0))
            rows.append(np.asarray(row))
            notes.append(f"{name}: tried {tried} (fit {cost:.4f}) -> {taken}; the stage's renders {renders}, the fit's "
                         f"{sum(n for _, n in main_fit.stages.values())}")
            print(notes[-1], flush=True)
    picture = Image.fromarray(np.concatenate(rows, 0))
    picture = picture.resize((picture.width * 3 // 4, picture.height * 3 // 4), Image.LANCZOS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, optimize=True)
    print(args.out, picture.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
