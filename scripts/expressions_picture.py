"""Draw docs/expressions.png: a procedural character's face under each preset
expression. Rows: the toon pass; the UDP (landmark xyz stretched to the crop's
range so the small differences show; the raw values are what CoNR sees); and
an exact lookup into a one-view "sheet" (the open face's toon picture and its
UDP): each pixel takes the sheet colour whose UDP is nearest to its own, with
no network, so it shows where the UDP sends the sheet's colours (a closed lid
picks up the skin and lash above the open eye).

Usage: python scripts/expressions_picture.py [--seed 3] [--size 192] [--out docs/expressions.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLUMNS = [("open", {}), ("blink", {"blink": 1}), ("blink 0.5", {"blink": 0.5}), ("blink_l", {"blink_l": 1}),
           ("aa", {"aa": 1}), ("ih", {"ih": 1}), ("ou", {"ou": 1}), ("ee", {"ee": 1}), ("oh", {"oh": 1}),
           ("joy", {"joy": 1})]


def main(argv=None) -> int:
    from conrt.characters import generate
    from conrt.characters.expressions import with_expressions
    from conrt.characters.posing import rest_pose
    from conrt.shaders import ToonPass, UdpPass, create_context, frame_character, release_context

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--out", type=Path, default=Path("docs/expressions.png"))
    args = ap.parse_args(argv)
    c = generate(args.seed)
    m = c.mesh
    moved = m.positions[(m.morph_positions != 0).any((0, 2))]
    lo, hi = moved.min(0) - 0.025, moved.max(0) + 0.025
    camera = frame_character(np.array([[x, y, hi[2]] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])]), size=args.size)
    ctx = create_context("egl")
    toons, udps = [], []
    try:
        with UdpPass(ctx, args.size, args.size) as udp, ToonPass(ctx, args.size, args.size) as toon:
            udp.set_character(c)
            toon.set_character(c)
            for _, weights in COLUMNS:
                pose = with_expressions(rest_pose(c), c, weights)
                toons.append(toon.run(pose, camera)[..., :3])
                udps.append(udp.run(pose, camera).data)
    finally:
        release_context(ctx)
    from scipy.spatial import cKDTree

    sheet_cov = udps[0][..., 3] > 0
    tree = cKDTree(udps[0][sheet_cov, :3].astype(np.float64))
    sheet_rgb = toons[0][sheet_cov]
    looked = []
    for u in udps:
        cov = u[..., 3] > 0
        img = np.zeros_like(toons[0])
        img[cov] = sheet_rgb[tree.query(u[cov, :3].astype(np.float64))[1]]
        looked.append(img)
    covered = np.concatenate([u[u[..., 3] > 0, :3] for u in udps])
    lo, hi = covered.min(0), covered.max(0)
    udp_rgb = [np.where(u[..., 3:] > 0, (u[..., :3] - lo) / (hi - lo), 0) for u in udps]
    udp_rgb = [(np.clip(u, 0, 1) * 255).astype(np.uint8) for u in udp_rgb]
    label = 18
    sheet = Image.new("RGB", (args.size * len(COLUMNS), label + 3 * args.size), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (name, _) in enumerate(COLUMNS):
        x = k * args.size
        draw.text((x + 6, 3), name, fill="black")
        sheet.paste(Image.fromarray(toons[k]), (x, label))
        sheet.paste(Image.fromarray(udp_rgb[k]), (x, label + args.size))
        sheet.paste(Image.fromarray(looked[k]), (x, label + 2 * args.size))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
