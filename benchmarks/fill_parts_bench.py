"""What no view sees, by the target's part labels (session 15): ``fill_unseen``'s fill of all parts
(before) against the fill per group of parts (``parts``: the target's G-buffer labels,
``FusionNet.part_fill`` on; "now" in the rows, the default since s15-partfill: docs/runtime.md "Session 15")
and the network's own guess (``FusionNet.nearest_fill`` off), on the same frames and samples.

The unseen procedural characters ``--seeds`` at 256² (12 clip frames, 4 targets each, as
``sheet_poses_eval.py``), sheets of n = ``--views`` views: a turnaround and clip frames, per look
(``--styles``); the default weights with the runtime's rules (the sheet's judged look). Scores:
the whole frame's L1 (paired per target against "before": mean difference, its standard error,
targets better / worse) and the L1 on the pixels the fill changes (either fill: where "before" or
"now" differs from the network's own guess). The simpler alternatives measured before the rule
was written (the nearest seen pixel in the frame, the nearest seen pixel of the same part, the
part's mean colour; ``scipy`` distance transforms on the same frames) are in docs/runtime.md.

``--picture``: per look and sheet-pose choice the target whose frame L1 the labels lowered most,
crops ×3 around its filled pixels: ground truth | before | now | the network's own guess | the
pixels no view sees (magenta).

Usage: python benchmarks/fill_parts_bench.py [--seeds 900000:900004] [--styles toon,no-outline,unlit]
       [--json benchmarks/results/fill_parts.json] [--picture docs/fill_parts.png]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("before", "now", "network's own guess")
GREY = 190
CROP = 64  # px of the 256² frame around the filled pixels' centre
ZOOM = 3


def shade_rows(model, shader, rgb, mask, udp, **args) -> dict:
    """The three fills of one job -> {row: premultiplied RGBA [4, S, S]}."""
    import torch

    f = model.fusion_for("exact")
    out, defaults = {}, (f.part_fill, f.nearest_fill)
    with torch.no_grad():
        try:
            f.part_fill = False
            out["before"] = shader(rgb, mask, udp, **args)[0]
            f.part_fill = True
            out["now"] = shader(rgb, mask, udp, **args)[0]
            f.nearest_fill = False
            out["network's own guess"] = shader(rgb, mask, udp, **args)[0]
        finally:
            f.part_fill, f.nearest_fill = defaults
    return out


def run_style(style: str, args, model) -> tuple[dict, list]:
    from conrt.training.evaluate import (ViewsShader, characters_from_seeds, clip_sheets, eval_jobs, parse_seeds,
                                         resize_pair, rgba_to_premul, udp_tensor, view_samples)

    n, size = args.views, args.size
    turn = characters_from_seeds(parse_seeds(args.seeds), 12, size, progress=False, style=style,
                                 sheet_poses="turnaround", sheet_views=n)
    results, shots = {}, []
    for choice in ("turnaround", "clip"):
        chars = turn if choice == "turnaround" else clip_sheets(turn)
        jobs = eval_jobs(chars, args.targets)
        samples = view_samples(chars, jobs, n, "exact", size, progress=False)
        shader = ViewsShader(model, True).eval()
        frame_l1 = {row: [] for row in ROWS}
        filled_l1, filled_px, best = dict.fromkeys(ROWS, 0.0), 0, None
        for j, (ci, t, others) in enumerate(jobs):
            c = chars[ci]
            sheet, sheet_udp = resize_pair(rgba_to_premul(c.rgba[others[:n]]), udp_tensor(c.udp[others[:n]]), size)
            target, udp = resize_pair(rgba_to_premul(c.rgba[t]), udp_tensor(c.udp[t]), size)
            sampled, cover, gbuf = samples[j]
            out = shade_rows(model, shader, sheet[None, :, :3].contiguous(), sheet[None, :, 3:4].contiguous(),
                             udp[None], sampled=sampled[:n].float()[None], cover=cover[:n].float()[None],
                             sheet_udp=sheet_udp[None], gbuf=gbuf[None].float())
            guess = out["network's own guess"]
            filled = ((out["before"] - guess).abs().amax(0) > 1e-4) | ((out["now"] - guess).abs().amax(0) > 1e-4)
            filled_px += int(filled.sum())
            for row, pred in out.items():
                err = (pred.clamp(0, 1) - target).abs().mean(0)
                frame_l1[row].append(float(err.mean()))
                filled_l1[row] += float(err[filled].sum())
            gain = frame_l1["before"][-1] - frame_l1["now"][-1]
            if filled.any() and (best is None or gain > best[0]):
                unseen = (cover[:n].float().amax(0)[0] <= 0.01) & (udp[3] > 0.5)
                best = (gain, {"style": style, "choice": choice, "seed": c.seed, "target": t, "frames": out,
                               "truth": target, "filled": filled, "unseen": unseen})
        before = np.array(frame_l1["before"])
        r = {"fill_pixels": filled_px, "looks": dict(shader.looks)}
        for row in ROWS:
            d = np.array(frame_l1[row]) - before
            r[row] = {"frame_l1": round(float(np.mean(frame_l1[row])), 5),
                      "l1_fill_pixels": round(filled_l1[row] / max(filled_px, 1), 4),
                      "diff_pct": round(100 * float(d.mean() / before.mean()), 2),
                      "se_pct": round(100 * float(d.std(ddof=1) / np.sqrt(len(d)) / before.mean()), 2),
                      "better": int((d < 0).sum()), "worse": int((d > 0).sum()), "targets": len(d)}
        results[choice] = r
        print(f"{style} {choice}: fill pixels {filled_px}; " + "; ".join(
            f"{row} frame L1 {r[row]['frame_l1']:.5f} ({r[row]['diff_pct']:+.1f} %, s.e. {r[row]['se_pct']:.1f}, "
            f"{r[row]['better']} better / {r[row]['worse']} worse), fill pixels {r[row]['l1_fill_pixels']:.4f}"
            for row in ROWS), flush=True)
        if best is not None:
            shots.append(best[1])
    return results, shots


def picture(shots: list, path: Path) -> None:
    """Each shot's crop around its filled pixels: truth | before | now | guess | unseen (magenta)."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from picture_grid import labelled_rows  # scripts/ holds the docs' picture helpers

    def tile(rgba, y0, x0):
        x = rgba.float().clamp(0, 1).numpy()[:, y0:y0 + CROP, x0:x0 + CROP]
        rgb = x[:3] + (1 - x[3:4]) * (GREY / 255)
        return np.kron((rgb.transpose(1, 2, 0) * 255).round().astype(np.uint8), np.ones((ZOOM, ZOOM, 1), np.uint8))

    rows, labels = [], []
    for s in shots:
        ys, xs = np.nonzero(s["filled"].numpy())
        size = s["truth"].shape[-1]
        y0 = int(np.clip(ys.mean() - CROP // 2, 0, size - CROP))
        x0 = int(np.clip(xs.mean() - CROP // 2, 0, size - CROP))
        magenta = s["truth"].float().clone()
        magenta[:3, s["unseen"]] = magenta[3, s["unseen"]] * torch.tensor([1.0, 0.0, 1.0]).reshape(3, 1)
        tiles = [tile(s["truth"], y0, x0)] + [tile(s["frames"][row], y0, x0) for row in ROWS] + [tile(magenta, y0, x0)]
        gap = np.full((CROP * ZOOM, 4, 3), GREY, np.uint8)
        rows.append(np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], 1))
        labels.append(f"{s['style']}, {s['choice']}\nseed {s['seed']} target {s['target']}")
    image = labelled_rows(rows, labels, GREY, 150, 12)
    header = "ground truth | before (all parts) | now (by part) | network's own guess | unseen (magenta)"
    from PIL import Image, ImageDraw

    full = Image.new("RGB", (image.width, image.height + 18), (GREY,) * 3)
    full.paste(image, (0, 18))
    ImageDraw.Draw(full).text((150, 3), header, fill=(40, 40, 40))
    full.save(path, optimize=True)
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="900000:900004")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--styles", default="toon,no-outline,unlit")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fill_parts.json")
    ap.add_argument("--picture", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    from conrt.runtime.defaults import default_weights_path
    from conrt.runtime.nn.checkpoint import load_weights

    torch.set_num_threads(args.threads)
    t0, load = time.time(), os.getloadavg()[0]
    model = load_weights(default_weights_path())
    results, shots = {}, []
    for style in args.styles.split(","):
        results[style], s = run_style(style, args, model)
        shots += s
    out = {"machine": platform.processor() or platform.machine(), "load_before": round(load, 2),
           "seeds": args.seeds, "size": args.size, "views": args.views, "targets": args.targets,
           "styles": results, "seconds": round(time.time() - t0, 1), "load_after": round(os.getloadavg()[0], 2)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    if args.picture is not None:
        picture(shots, args.picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
