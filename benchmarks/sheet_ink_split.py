"""Where a toon turnaround's ink goes wrong in the faces: the plain exact lookup's face error by pixel class.

The same unseen characters are drawn in the toon look and in no-outline (toon
shading without ink: the same frames, the same light), with the turnaround
sheet ``conrt sheet --strength 0 --views N`` draws (``conrt eval --sheet-poses
turnaround``). Each target's exact samples are found for both sheets through
the same correspondence pass with the same rule (``--inked on``: the inked
sheets' contour weights, as the runtime takes a toon sheet; ``off``: every
texel as drawn), so the two sheets' samples differ exactly where a view's ink
was sampled. Inside the head boxes, the plain lookup's error (no network, so
only the samples speak) per class of pixel, per face pixel:

- ``lines``: the toon ground truth's own lines (toon and no-outline targets differ);
- ``off, full-weight ink``: off those lines, where a view lends ink from a texel at full weight
  (not on its own contours: the contour weights do not reach it);
- ``off, contour ink only``: the views' ink sampled there is all from texels at less than full weight
  (a view's contour texels: weight 0.25 until session 12; since, only those with nothing of their
  surface beside them, ``correspondence_pass.uninked``, the rest un-inked at full weight);
- ``off, seen, no ink``: off the lines, seen, no view's ink sampled;
- ``off, unseen``: off the lines, no view sees the point (the flat fill).

Usage: python benchmarks/sheet_ink_split.py [--seeds 900000:900004] [--size 256] [--views 4]
       [--json benchmarks/results/sheet_ink_split.json]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

ROOT = Path(__file__).resolve().parents[1]
INK_STEP = 0.1  # premultiplied channel difference that counts as ink (sheet_poses_eval.INK_STEP)
SEEN = 0.01  # cover above this: the view sees the point (sheet_poses_eval.SEEN)
FULL = 0.5  # cover above this: a view's texel at full weight (an inked sheet's weighted contour texels: 0.25)
CLASSES = ("lines", "off, full-weight ink", "off, contour ink only", "off, seen, no ink", "off, unseen")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="900000:900004")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--inked", choices=("on", "off"), default="on")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "sheet_ink_split.json")
    args = ap.parse_args(argv)
    import torch

    from conrt.characters.procedural import generate
    from conrt.training.datagen import CharacterSamples, Renderer
    from conrt.training.dataset import rgba_to_premul, udp_tensor
    from conrt.training.evaluate import (PlainLookup, characters_from_seeds, eval_jobs, head_pixel_box,
                                         parse_seeds, procedural_head_boxes)

    torch.set_num_threads(1)
    looks = ("toon", "no-outline")
    chars = {look: characters_from_seeds(parse_seeds(args.seeds), 12, args.size, progress=False, style=look,
                                         sheet_poses="turnaround", sheet_views=args.views) for look in looks}
    heads = procedural_head_boxes(chars["toon"])
    jobs = eval_jobs(chars["toon"], args.targets)
    plain = PlainLookup(args.size)
    sums = {look: dict.fromkeys(CLASSES, 0.0) for look in looks}
    pixels = dict.fromkeys(CLASSES, 0)
    with Renderer(args.size) as renderer:
        for ci, t, order in jobs:
            samples, targets, sheets = {}, {}, {}
            for look in looks:
                c = chars[look][ci]
                frames = CharacterSamples(c.seed, c.rgba, c.udp, None, None, None, look, c.poses, c.cameras)
                sampled, cover, _ = renderer.view_samples(generate(int(c.seed)), frames, t, order, "exact",
                                                          args.inked == "on")
                samples[look] = torch.from_numpy(sampled)[None], torch.from_numpy(cover)[None]
                targets[look] = rgba_to_premul(c.rgba[t:t + 1])[0]
                sheets[look] = rgba_to_premul(c.rgba[order])[None]
            udp = udp_tensor(chars["toon"][ci].udp[t:t + 1])[0]
            y0, y1, x0, x1 = head_pixel_box(udp, heads[chars["toon"][ci].seed])
            inside = torch.zeros(udp.shape[-2:], dtype=torch.bool)
            inside[y0:y1, x0:x1] = True
            inside &= udp[3] > 0.5
            lines = inside & ((targets["toon"] - targets["no-outline"]).abs().amax(0) > INK_STEP)
            (st, cover), (sn, _) = samples["toon"], samples["no-outline"]
            seen_by = cover[0, :, 0] > SEEN  # [V, S, S]
            inked = (st[0] - sn[0]).abs().amax(1) > INK_STEP  # [V, S, S]: the view's sample is ink
            ink, full_ink = (inked & seen_by).any(0), (inked & (cover[0, :, 0] > FULL)).any(0)
            seen = seen_by.any(0)
            off = inside & ~lines
            masks = {"lines": lines, "off, full-weight ink": off & full_ink,
                     "off, contour ink only": off & ink & ~full_ink, "off, seen, no ink": off & seen & ~ink,
                     "off, unseen": off & ~seen}
            for cls, m in masks.items():
                pixels[cls] += int(m.sum())
            for look in looks:
                sheet = sheets[look]
                pred = plain(sheet[:, :, :3], sheet[:, :, 3:], udp[None], *samples[look])[0]
                err = (pred.clamp(0, 1) - targets[look]).abs().mean(0)
                for cls, m in masks.items():
                    sums[look][cls] += float(err[m].sum())
    total = sum(pixels.values())
    result = {"seeds": args.seeds, "size": args.size, "views": args.views, "targets": args.targets,
              "inked": args.inked, "face_pixels": total,
              "pixels": {cls: round(v / total, 4) for cls, v in pixels.items()},
              "plain_lookup_l1_per_face_pixel": {look: {cls: round(v / total, 5) for cls, v in s.items()}
                                                 for look, s in sums.items()}}
    lines_out = ["| pixel class | share of face pixels | toon sheet | no-outline sheet |", "|---|---|---|---|"]
    for cls in CLASSES:
        lines_out.append(f"| {cls} | {result['pixels'][cls]:.3f} | "
                         f"{result['plain_lookup_l1_per_face_pixel']['toon'][cls]:.4f} | "
                         f"{result['plain_lookup_l1_per_face_pixel']['no-outline'][cls]:.4f} |")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from doc_table import publish

    publish(result, args.json, "\n".join(lines_out), None, "sheet-ink-split")
    return 0


if __name__ == "__main__":
    sys.exit(main())
