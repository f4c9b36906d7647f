"""Exact correspondences take a view's colour only from the target point's own
surface (issue #15: skin through hair and skirts, hair over faces).

A real procedural character with a full fringe over the face and a skirt over
the legs, in its rest pose: the sheet view looks from above (the fringe hides
the forehead, the skirt the legs), the target from below (the forehead under
the fringe and the legs under the skirt show). Each part's sheet pixels are
coloured by the part (hair red, skin green, cloth blue, from the view's
visibility buffer: the triangle each pixel shows), so a target pixel's sample
says which part its colour came from. The depth test with a pixel's slack
(before, 87610d9) gave skin pixels hair and skirt colour (~40 pixels' worth at
256²); the same-surface test gives them none.
"""
from __future__ import annotations

import numpy as np
import pytest

SIZE = 256
GROUPS = ("HAIR", "SKIN", "CLOTH")  # reference channels r, g, b


@pytest.fixture(scope="module")
def fringe_and_skirt(gl_ctx):
    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.characters.procedural import generate
    from conrt.shaders import UdpPass, frame_character
    from conrt.types import Part

    character = generate(900001, bottom="skirt", bangs="full", bangs_length=1.2, long_hair=False, tails="none")
    pose = rest_pose(character)
    positions = posed_positions(character, pose)
    view = frame_character(positions, pitch=25.0, size=SIZE)  # from above
    target = frame_character(positions, pitch=-25.0, size=SIZE)  # from below
    with UdpPass(gl_ctx, SIZE, SIZE, visibility=True) as udp:
        udp.set_character(character)

        def triangles(camera):  # per pixel the triangle it shows (-1 = none)
            udp.run(pose, camera)
            vis = np.frombuffer(udp.visibility.read(), np.float32).reshape(SIZE, SIZE, 4)
            return vis[..., 0].astype(np.int64) - 1

        view_tri, target_tri = triangles(view), triangles(target)
    return character, pose, view, target, view_tri, target_tri, Part


def _part_maps(pass_, character, tri, part_enum):
    """Triangle ids [H, W] (-1 = none) -> per group a mask [3, H, W] and the covered mask."""
    drawn = pass_._triangles  # the index buffer as drawn: gl_PrimitiveID order of both passes
    parts = np.where(tri >= 0, character.mesh.parts[drawn[np.maximum(tri, 0), 0]], 255)
    return np.stack([parts == int(getattr(part_enum, g)) for g in GROUPS]), tri >= 0


def test_hidden_skin_takes_no_hair_or_skirt_colour_and_hair_no_skin(gl_ctx, fringe_and_skirt):
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView

    character, pose, view, target, view_tri, target_tri, part = fringe_and_skirt
    with CorrespondencePass(gl_ctx, SIZE, SIZE) as p:
        p.set_character(character)
        view_groups, view_covered = _part_maps(p, character, view_tri, part)
        target_groups, _ = _part_maps(p, character, target_tri, part)
        reference = np.concatenate([view_groups, view_covered[None]]).astype(np.float32)[None]  # premultiplied, a = 1
        p.set_sheet([SheetView("exact", camera=view, pose=pose)], reference)
        sampled, cover = p.run(pose, target)
    seen = cover[0, 0] > 0
    hair, skin, cloth = (target_groups[i] & seen for i in range(3))
    # the scene shows what it should: skin under the fringe and legs under the skirt, seen by the view
    assert skin.sum() > 500 and hair.sum() > 300 and cloth.sum() > 2000, (skin.sum(), hair.sum(), cloth.sum())
    # a rejected texel adds exactly 0; what is left comes from texels at real part
    # boundaries (hairline, collar, socks): measured 0.1 pixels' worth here, 40 before
    foreign = {"hair in skin": sampled[0, 0][skin].sum(), "cloth in skin": sampled[0, 2][skin].sum(),
               "skin in hair": sampled[0, 1][hair].sum(), "skin in cloth": sampled[0, 1][cloth].sum()}
    assert sum(foreign.values()) < 2.0, foreign
    # and the target's parts still take their own colour where the view sees them
    assert sampled[0, 1][skin].mean() > 0.95 and sampled[0, 0][hair].mean() > 0.95, \
        (sampled[0, 1][skin].mean(), sampled[0, 0][hair].mean())
