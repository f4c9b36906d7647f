"""Inked sheets (``CorrespondencePass.set_sheet(..., inked=True)``): off the target's
edges a view's texels on its own contours (where a toon sheet draws its ink) count
``CONTOUR_WEIGHT``; on the target's edges, and on unlit sheets, every texel as drawn.
Real UDP pass views of a procedural character, their UDP as the reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

SIZE = 96


@pytest.fixture(scope="module")
def scene(gl_ctx):
    from conrt.characters.posing import posed_positions
    from conrt.characters.procedural import generate
    from conrt.commands.udp import random_pose
    from conrt.shaders import UdpPass, frame_character

    character = generate(900001)
    views = []
    with UdpPass(gl_ctx, SIZE, SIZE) as udp:
        udp.set_character(character)
        for k, yaw in enumerate((0.0, 90.0, 180.0)):
            pose = random_pose(character, k, 0.12)
            camera = frame_character(posed_positions(character, pose), yaw=yaw, size=SIZE)
            views.append((camera, pose, udp.run(pose, camera).data))
        target_pose = random_pose(character, 77, 0.5)
        target_camera = frame_character(posed_positions(character, target_pose), yaw=30.0, size=SIZE)
        target = udp.run(target_pose, target_camera).data
    return character, views, (target_pose, target_camera, target)


def _run(gl_ctx, scene, inked, pose=None, camera=None):
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView

    character, views, (target_pose, target_camera, _) = scene
    reference = np.stack([u.transpose(2, 0, 1) for _, _, u in views]).astype(np.float32)
    with CorrespondencePass(gl_ctx, SIZE, SIZE) as p:
        p.set_character(character)
        p.set_sheet([SheetView("exact", camera=c, pose=q) for c, q, _ in views], reference, inked=inked)
        return p.run(pose or target_pose, camera or target_camera)


def _target_edges(udp: np.ndarray) -> np.ndarray:
    """The fusion's edges (``lookup_net.target_edges``) of a UDP pass frame [H, W, 4]."""
    from conrt.runtime.nn.lookup_net import target_edges

    u = torch.from_numpy(np.ascontiguousarray(udp.transpose(2, 0, 1)))[None]
    return target_edges(torch.cat([u[:, :3] * u[:, 3:], u[:, 3:]], 1))[0, 0].numpy() > 0.5


def test_the_contour_band_is_the_silhouette_and_both_sides_of_a_jump():
    from conrt.shaders.correspondence_pass import TARGET_EDGE_JUMP, contour_band

    surface = np.zeros((1, 12, 12, 4), np.float32)
    surface[0, 2:10, 2:10] = (0.5, 0.5, 0.5, 1.0)
    surface[0, 2:10, 6:10, 2] += 2 * TARGET_EDGE_JUMP  # a surface jump between columns 5 and 6
    surface[0, 2:10, 2:4, 2] += 0.5 * TARGET_EDGE_JUMP  # a step below the jump: no contour
    band = contour_band(surface)[0]
    expected = np.zeros((12, 12), bool)
    expected[2:10, 2:10] = True
    expected[3:9, 3:9] = False  # a pixel in from the silhouette
    expected[2:10, 5:7] = True  # either side of the jump
    np.testing.assert_array_equal(band, expected)
    wide = contour_band(surface, 2)[0]  # 2 px from the silhouette or the jump: the whole square
    assert wide[2:10, 2:10].all() and not wide[:2].any()


def test_the_edge_threshold_is_the_fusions():
    from conrt.runtime.nn.lookup_net import EDGE_JUMP
    from conrt.shaders.correspondence_pass import TARGET_EDGE_JUMP

    assert TARGET_EDGE_JUMP == EDGE_JUMP


def test_contour_texels_count_less_off_the_targets_edges(gl_ctx, scene):
    from conrt.shaders.correspondence_pass import CONTOUR_WEIGHT

    unlit_sampled, unlit_cover = _run(gl_ctx, scene, False)
    sampled, cover = _run(gl_ctx, scene, True)
    edges = _target_edges(scene[2][2])
    # on the target's edges every texel counts as drawn: the same samples to the bit
    np.testing.assert_array_equal(cover[:, 0][:, edges], unlit_cover[:, 0][:, edges])
    np.testing.assert_array_equal(sampled[:, :, edges], unlit_sampled[:, :, edges])
    # off them a view's contour texels count CONTOUR_WEIGHT: never more coverage, never below
    # the weight's share, and many pixels along the views' contours lose some
    assert (cover <= unlit_cover + 1e-6).all()
    lower = cover[:, 0] < unlit_cover[:, 0] - 1e-4
    assert lower.sum() > 100, lower.sum()
    ratio = cover[:, 0][lower] / unlit_cover[:, 0][lower]
    # (a sample under the resolve's 0.05 floor is not seen at all)
    dropped = (cover[:, 0][lower] == 0) & (unlit_cover[:, 0][lower] * CONTOUR_WEIGHT < 0.05 + 1e-3)
    assert ((ratio >= CONTOUR_WEIGHT - 1e-3) | dropped).all()
    full = np.isclose(ratio, CONTOUR_WEIGHT, atol=1e-3).sum()  # all 4 texels on a contour
    assert full > 10, full
    # where no texel of a view's footprint is on its contour, nothing changed
    same = (cover[:, 0] == unlit_cover[:, 0]) & (unlit_cover[:, 0] > 0)
    np.testing.assert_array_equal(sampled.transpose(0, 2, 3, 1)[same], unlit_sampled.transpose(0, 2, 3, 1)[same])


def test_a_view_seen_from_its_own_camera_keeps_its_contours(gl_ctx, scene):
    """Target = view 0 as drawn: its contours are the target's edges, where the ink is right."""
    camera, pose, udp = scene[1][0]
    unlit_sampled, unlit_cover = _run(gl_ctx, scene, False, pose, camera)
    sampled, cover = _run(gl_ctx, scene, True, pose, camera)
    # (up to the bilinear footprint's sliver of the next texel, off the edges: < 1e-4)
    np.testing.assert_allclose(cover[0], unlit_cover[0], atol=1e-4)
    np.testing.assert_allclose(sampled[0], unlit_sampled[0], atol=1e-4)
