"""Draw docs/toon_skin_shade.png: the toon look's faces before and after session 12's skin rule.

Rows: the session-11 look (skin shaded like cloth, with the cool grey-lavender tint, on the face's true
normals) and today's (``ToonStyle``: warm ``skin_shade_tint`` on skin, ``flat_face``: the face lit near
flat). Columns: procedural seeds 5 (the shipped sample), 7 (dark skin) and 13, each at yaw 0, 35 and 80°
(turned toward, then away from the key light's side), the head framed alone, 160 px each, on the docs' grey.

    .venv/bin/python scripts/skin_shade_picture.py [-o docs/toon_skin_shade.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from conrt.characters import generate
from conrt.characters.posing import pose_from_rotations, posed_positions, rotation_matrix
from conrt.shaders import ToonPass, ToonStyle, create_context, frame_character
from conrt.shaders.toon_pass import without_skin_rule
from conrt.types import Part
from picture_grid import labelled_rows, over_grey  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [5, 7, 13]
YAWS = [0, 35, -80]
SAMPLE_OVERRIDES = {5: dict(bottom="skirt", tails="twin", long_hair=True)}  # the shipped sample's look
SIZE, BACKGROUND, LABEL = 160, 236, 90
NOW = ToonStyle()
BEFORE = without_skin_rule(NOW)  # session 11's look


def head_tile(character, pose, yaw: float, toon: ToonPass) -> np.ndarray:
    """The head (skin and hair vertices above the chin) framed alone: [SIZE, SIZE, 3] u8."""
    pts = posed_positions(character, pose)
    head = character.skeleton.names.index("head")
    top = np.asarray(pose.joint_world[head])[1, 3]
    keep = (pts[:, 1] > top - 0.02) & np.isin(character.mesh.parts, [Part.SKIN, Part.HAIR])
    return over_grey(toon.run(pose, frame_character(pts[keep], yaw=yaw, size=SIZE, margin=0.04)), BACKGROUND)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "toon_skin_shade.png")
    args = ap.parse_args(argv)
    ctx = create_context("egl")
    rows = []
    for style in (BEFORE, NOW):
        toon = ToonPass(ctx, SIZE, SIZE, style)
        tiles = []
        for seed in SEEDS:
            c = generate(seed, **SAMPLE_OVERRIDES.get(seed, {}))
            pose = pose_from_rotations(c.skeleton, {"leftUpperArm": rotation_matrix([0, 0, 1], -1.2),
                                                    "rightUpperArm": rotation_matrix([0, 0, 1], 1.2)})
            toon.set_character(c)
            tiles += [head_tile(c, pose, yaw, toon) for yaw in YAWS]
        toon.release()
        rows.append(np.concatenate(tiles, 1))
    labelled_rows(rows, ["before\n(session 11)", "now"], BACKGROUND, LABEL, 10).save(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
