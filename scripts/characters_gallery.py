"""Draw docs/characters_gallery.png: procedural characters through the toon pass.

Seeds 5 (the shipped sample: twin tails, skirt), 1, 2, 7, 8, 13, 16, 21 at yaw 20°,
arms lowered with ``pose_from_rotations``, 320 px each, 4 per row, on the docs' grey.

    .venv/bin/python scripts/characters_gallery.py [-o docs/characters_gallery.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from conrt.characters import generate
from conrt.characters.posing import pose_from_rotations, posed_positions, rotation_matrix
from conrt.shaders import ToonPass, create_context, frame_character
from picture_grid import over_grey  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [5, 1, 2, 7, 8, 13, 16, 21]
SAMPLE_OVERRIDES = {5: dict(bottom="skirt", tails="twin", long_hair=True)}  # the shipped sample's look
SIZE, PER_ROW, BACKGROUND = 320, 4, 236


def draw(seed: int, toon: ToonPass) -> np.ndarray:
    """One character, arms lowered, over the background: [SIZE, SIZE, 3] u8."""
    c = generate(seed, **SAMPLE_OVERRIDES.get(seed, {}))
    pose = pose_from_rotations(c.skeleton, {"leftUpperArm": rotation_matrix([0, 0, 1], -1.2),
                                            "rightUpperArm": rotation_matrix([0, 0, 1], 1.2)})
    toon.set_character(c)
    return over_grey(toon.run(pose, frame_character(posed_positions(c, pose), yaw=20, size=SIZE)), BACKGROUND)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "characters_gallery.png")
    args = ap.parse_args(argv)
    toon = ToonPass(create_context("egl"), SIZE, SIZE)
    tiles = [draw(s, toon) for s in SEEDS]
    rows = [np.concatenate(tiles[i:i + PER_ROW], 1) for i in range(0, len(tiles), PER_ROW)]
    Image.fromarray(np.concatenate(rows, 0)).save(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
