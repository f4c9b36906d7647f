"""Draw docs/godette_skin.png: Godette's skin and neck in the toon look before and after session 14.

Two rules changed (shaders/material.py): her skin shades in her face's MToon shade colour
(``skin_shade_colors``: her arms, thighs, ears and neck are on the body's material, whose light-blue shade colour
is for her clothes) and the chin shadow takes her neck's whole tube (``neck_pieces``: its top ring sits
in her head, skinned to it, so the shade stopped half-way up). Rows: before (both rules off:
``ToonStyle(face_shade_on_skin=False)`` and no neck pieces; the same pixels as 292e8fc's code, checked)
and now. Columns: the upper body of target frames as real_character_bench.py draws its ground truth
(clips walk and wave, camera yaw 30°, 256²; scripts/godette_face_picture.py's frames), then the same
at yaw -60° (her right side, turned from the key light), 2× nearest.

    .venv/bin/python scripts/godette_skin_picture.py [-o docs/godette_skin.png]
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from conrt.characters.gltf_io import load_character
from conrt.characters.posing import posed_positions
from conrt.shaders import ToonPass, ToonStyle, create_context, frame_character, project

from godette_face_picture import GODETTE, SIZE, shots  # scripts/ is on sys.path when run as a script
from picture_grid import labelled_rows, over_grey

ROOT = Path(__file__).resolve().parents[1]
CROP, BACKGROUND, LABEL = 200, 236, 84


def upper_body(character, pose, camera, rgba: np.ndarray) -> np.ndarray:
    """From the top of the head down to the chest joint and as much again below the head, centred on
    the head: square, CROP x CROP on the background."""
    m = character.mesh
    px = project(camera, posed_positions(character, pose))
    head = px[(m.joints[:, 0] == character.humanoid["head"]) & (m.weights[:, 0] > 0.5)]
    chest = px[m.joints[:, 0] == character.humanoid["chest"]][:, 1].mean()
    top = int(head[:, 1].min()) - 2
    side = int(np.ceil(1.2 * (chest - top)))
    left = int(np.round(head[:, 0].mean())) - side // 2
    box = np.pad(rgba, ((side, side), (side, side), (0, 0)))[top + side:top + 2 * side, left + side:left + 2 * side]
    return np.asarray(Image.fromarray(over_grey(box, BACKGROUND)).resize((CROP, CROP), Image.NEAREST))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "godette_skin.png")
    args = ap.parse_args(argv)
    godette = load_character(GODETTE)
    targets = shots(godette)[-4:]  # the target frames (after the sheet's views)
    frames = [(pose, camera) for pose, camera in targets]
    frames += [(pose, frame_character(posed_positions(godette, pose), yaw=-60.0, size=SIZE)) for pose, _ in targets[2:]]
    ctx = create_context("egl")
    rows = []
    for before in (True, False):
        style = dataclasses.replace(ToonStyle(), face_shade_on_skin=not before)
        no_pieces = mock.patch("conrt.shaders.material.neck_pieces",
                               lambda c, neck, region, face: np.zeros(c.mesh.num_vertices, bool))
        with ToonPass(ctx, SIZE, SIZE, style) as toon:
            if before:
                with no_pieces:
                    toon.set_character(godette)
            else:
                toon.set_character(godette)
            rows.append(np.concatenate([upper_body(godette, p, c, toon.run(p, c)) for p, c in frames], 1))
    image = labelled_rows(rows, ["before\n(body's shade\ncolour, half\nthe neck)",
                                 "now\n(the face's\nshade colour,\nthe neck's\ntube)"], BACKGROUND, LABEL, 30)
    image.save(args.output, optimize=True)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
