"""Draw docs/characters_styles.png: the same character in the six looks the toon pass draws.

Seed 5 with the sample's overrides and all fine detail (3 buttons, emblem, hood strings), arms
lowered, yaw 20°, 256², ``antialias=3``, one look per column (``shaders.toon_pass.STYLE_NAMES``,
``named_style``): the whole character (the middle 128 columns), below it the face and chest at 2×.
(Written in session 12 to redraw the picture in the new skin look; the layout follows the
session-10 picture, whose script was not kept.)

    .venv/bin/python scripts/characters_styles.py [-o docs/characters_styles.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from conrt.characters import generate
from conrt.characters.posing import pose_from_rotations, posed_positions, rotation_matrix
from conrt.shaders import ToonPass, create_context, frame_character
from conrt.shaders.toon_pass import STYLE_NAMES, named_style
from picture_grid import over_grey  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
SIZE, BACKGROUND, GAP = 256, 224, 2
BODY = (slice(0, SIZE), slice(64, 192))  # the whole character: the middle 128 columns
FACE = (slice(10, 113), slice(96, 160))  # face and chest, drawn at 2x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "characters_styles.png")
    args = ap.parse_args(argv)
    c = generate(5, bottom="skirt", tails="twin", long_hair=True, buttons=3, emblem=True, strings=True)
    pose = pose_from_rotations(c.skeleton, {"leftUpperArm": rotation_matrix([0, 0, 1], -1.2),
                                            "rightUpperArm": rotation_matrix([0, 0, 1], 1.2)})
    camera = frame_character(posed_positions(c, pose), yaw=20, size=SIZE)
    ctx = create_context("egl")
    columns = []
    for name in STYLE_NAMES:
        with ToonPass(ctx, SIZE, SIZE, named_style(name, SIZE), antialias=3) as toon:
            toon.set_character(c)
            rgb = over_grey(toon.run(pose, camera), BACKGROUND)
        face = np.repeat(np.repeat(rgb[FACE], 2, 0), 2, 1)
        columns.append(np.concatenate([rgb[BODY], face], 0))
    gap = np.full((columns[0].shape[0], GAP, 3), 255, np.uint8)
    image = Image.fromarray(np.concatenate([x for col in columns for x in (col, gap)][:-1], 1))
    draw = ImageDraw.Draw(image)
    for i, name in enumerate(STYLE_NAMES):
        draw.text((i * (128 + GAP) + 4, 3), name, fill=(0, 0, 0))
    image.save(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
