"""Draw docs/godette_faces.png: Godette's face in the toon look before and after session 13's part labels.

Low-Poly Godette's materials name no parts, so until session 13 her labels were SKIN all over and
the toon look's skin rules (session 12: the face lit near flat; session 13: the neck under the chin in
shade) did not reach her. ``characters/part_labels.py`` now tells her skin from her hair and clothes.
Rows: before (her labels set back to SKIN all over: the same pixels as the code before, checked) and
now. Columns: the face crops of a 6-view toon sheet as ``conrt sheet --views 6 --size 256`` draws it
(its cameras and pose variations), then target frames as real_character_bench.py shades them (clips
walk and wave, camera yaw 30°): the head's box of each 256² frame, 2× nearest.

    .venv/bin/python scripts/godette_face_picture.py [-o docs/godette_faces.png]
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from conrt.characters.gltf_io import load_character
from conrt.characters.posing import posed_positions
from conrt.commands.udp import random_pose
from conrt.physics.world import PhysicsWorld
from conrt.shaders import ToonPass, create_context, frame_character, project
from conrt.shaders.camera import sheet_view_camera
from conrt.types import Part
from picture_grid import labelled_rows, over_grey  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
GODETTE = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "Godette_vrm_v4.vrm"
SIZE, VIEWS, STRENGTH = 256, 6, 0.12  # conrt sheet --views 6 --size 256 (its default pose variation, seed 0)
TARGETS = (("walk", 0.5), ("walk", 1.2), ("wave", 0.6), ("wave", 1.5))  # (clip, seconds) as the bench's frames
YAW, FPS = 30.0, 30.0
CROP, BACKGROUND, LABEL = 128, 236, 84


def head_crop(character, pose, camera, rgba: np.ndarray) -> np.ndarray:
    """The head's box (the vertices skinned mostly to the head, as the benchmarks' face SSIM box) on
    the background, CROP x CROP."""
    m = character.mesh
    head = character.humanoid["head"]
    px = project(camera, posed_positions(character, pose)[(m.joints[:, 0] == head) & (m.weights[:, 0] > 0.5)])
    lo, hi = px.min(0), px.max(0)
    half = int(np.ceil(0.6 * (hi - lo).max()))
    cx, cy = np.round((lo + hi) / 2).astype(int)
    box = np.pad(rgba, ((half, half), (half, half), (0, 0)))[cy:cy + 2 * half, cx:cx + 2 * half]
    return np.asarray(Image.fromarray(over_grey(box, BACKGROUND)).resize((CROP, CROP), Image.NEAREST))


def shots(character) -> list:
    """(pose, camera) of the sheet's views, then of the target frames."""
    out = []
    for k in range(VIEWS):
        pose = random_pose(character, k, STRENGTH)
        out.append((pose, sheet_view_camera(posed_positions(character, pose), k, VIEWS, SIZE)[1]))
    for clip in sorted({c for c, _ in TARGETS}):
        with PhysicsWorld(fps=FPS) as world:
            h = world.add(character, clip)
            steps = {round(t * FPS): t for c, t in TARGETS if c == clip}
            for i in range(max(steps) + 1):
                pose = world.step()[h]
                if i in steps:
                    out.append((pose, frame_character(posed_positions(character, pose), yaw=YAW, size=SIZE)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "godette_faces.png")
    args = ap.parse_args(argv)
    now = load_character(GODETTE)
    before = dataclasses.replace(now, mesh=dataclasses.replace(now.mesh, parts=np.full_like(now.mesh.parts, Part.SKIN)))
    views = shots(now)
    ctx = create_context("egl")
    rows = []
    for character in (before, now):
        with ToonPass(ctx, SIZE, SIZE) as toon:
            toon.set_character(character)
            crops = [head_crop(character, pose, cam, toon.run(pose, cam)) for pose, cam in views]
            rows.append(np.concatenate(crops, 1))
    image = labelled_rows(rows, ["before\n(SKIN all\nover)", "now\n(labels from\nthe face's\ncolour)"],
                          BACKGROUND, LABEL, 24)
    x = LABEL + VIEWS * CROP  # between the sheet's views and the target frames
    ImageDraw.Draw(image).line([(x, 0), (x, 2 * CROP)], fill=(90, 90, 90), width=2)
    image.save(args.output, optimize=True)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
