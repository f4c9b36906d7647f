"""Inked sheets (``CorrespondencePass.set_sheet(..., inked=True)``): a view's texels on its
own contours (where a toon sheet draws its ink) give the colour of their own surface beside
the band (``uninked``), on the target's edges too since session 13 (the fusion draws the
target's lines from its G-buffer); on unlit sheets every texel as drawn. Real UDP pass views of a
procedural character, their UDP as the reference (a smooth colour per surface: the
colour beside a texel is its own within the landmark step ``uninked`` allows)."""
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


def _reference(scene, inked: bool = False) -> np.ndarray:
    """The views' UDP as premultiplied RGBA [M, 4, S, S]; ``inked``: black ink (colour 0, alpha
    kept) on each view's contour band, as a toon sheet draws its outlines."""
    from conrt.shaders.correspondence_pass import contour_band

    udp = np.stack([u for _, _, u in scene[1]]).astype(np.float32)  # [M, S, S, 4]
    reference = udp.copy()
    if inked:
        reference[..., :3] *= ~contour_band(np.where(udp[..., 3:] > 0.5, udp, 0.0))[..., None]
    return np.ascontiguousarray(reference.transpose(0, 3, 1, 2))


def _run(gl_ctx, scene, inked, pose=None, camera=None, reference=None):
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView

    character, views, (target_pose, target_camera, _) = scene
    reference = _reference(scene) if reference is None else reference
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


def test_uninked_takes_the_same_surface_beside_the_band():
    from conrt.shaders.correspondence_pass import TARGET_EDGE_JUMP, UNINK_DARKER, contour_band, uninked

    surface = np.zeros((1, 12, 12, 4), np.float32)
    surface[0, 2:10, 2:10] = (0.5, 0.5, 0.5, 1.0)
    surface[0, 2:10, 6:10, 2] += 2 * TARGET_EDGE_JUMP  # two surfaces, a jump between columns 5 and 6
    surface[0, 5, 11] = (0.1, 0.1, 0.1, 1.0)  # a speck all contour: nothing of its surface beside it
    reference = np.zeros((1, 12, 12, 4), np.float32)
    reference[0, 2:10, 2:6] = (0.2, 0.4, 0.6, 1.0)  # premultiplied
    reference[0, 2:10, 6:10] = (0.3, 0.15, 0.05, 0.5)  # half covered: straight (0.6, 0.3, 0.1)
    reference[0, 5, 11] = (0.9, 0.9, 0.9, 1.0)
    band = contour_band(surface)
    inked = reference.copy()
    inked[..., :3] *= ~band[..., None]  # black ink on the band
    plain, filled = uninked(surface, inked, band)
    assert filled[0].sum() == band[0].sum() - 1 and not filled[0, 5, 11]
    # each band texel the colour of its own side of the jump, its own alpha
    left, right = band[0].copy(), band[0].copy()
    left[:, 6:], right[:, :6] = False, False
    np.testing.assert_allclose(plain[0][left], np.broadcast_to([0.2, 0.4, 0.6, 1.0], (left.sum(), 4)), atol=1e-6)
    right &= filled[0]
    np.testing.assert_allclose(plain[0][right], np.broadcast_to([0.3, 0.15, 0.05, 0.5], (right.sum(), 4)), atol=1e-6)
    np.testing.assert_array_equal(plain[0, 5, 11], inked[0, 5, 11])  # kept as drawn
    np.testing.assert_array_equal(plain[~band], inked[~band])
    # a band texel no darker than UNINK_DARKER x its surface's colour is not ink (shading, a rim
    # light): kept as drawn; below it, ink
    shaded = reference.copy()
    shaded[0, 2:10, 2, :3] *= UNINK_DARKER + 0.02  # the left silhouette
    shaded[0, 2:10, 5, :3] *= UNINK_DARKER - 0.02  # the left side of the jump
    kept, filled = uninked(surface, shaded, band)
    np.testing.assert_array_equal(kept[0, :, 2], shaded[0, :, 2])
    np.testing.assert_allclose(kept[0, 3:9, 5], reference[0, 3:9, 5], atol=1e-6)
    assert filled[0, 2:10, 2].all()  # (at full weight: not ink, not weighted)


def test_no_views_ink_on_the_target(gl_ctx, scene):
    from conrt.shaders.correspondence_pass import CONTOUR_WEIGHT, TARGET_EDGE_JUMP

    clean, clean_cover = _run(gl_ctx, scene, False)  # the views without ink, every texel as drawn
    drawn, drawn_cover = _run(gl_ctx, scene, False, reference=_reference(scene, True))  # with, as drawn
    sampled, cover = _run(gl_ctx, scene, True, reference=_reference(scene, True))  # with, un-inked
    edges = _target_edges(scene[2][2])
    seen = (clean_cover[:, 0] > 0) & (cover[:, 0] == clean_cover[:, 0])  # [M, H, W]
    # (the view as drawn samples its ink off the target's edges and on them: the test can fail)
    for where in (~edges, edges):
        assert (seen & where & (np.abs(drawn - clean).max(1) > 0.1)).sum() > 100
    # each sample is its own surface's colour: a contour texel's colour is its neighbours'
    # landmark, within TARGET_EDGE_JUMP of its own (stored at 16 bits: half a step, 8e-6)
    error = np.abs(sampled - clean).max(1)
    assert error[seen].max() <= TARGET_EDGE_JUMP + 0.5 / 65535 + 1e-5, error[seen].max()
    # contour texels with nothing of their surface beside them (thin parts at 96 px) count
    # CONTOUR_WEIGHT: never more coverage, never below the weight's share
    assert (cover <= clean_cover + 1e-6).all()
    lower = cover[:, 0] < clean_cover[:, 0] - 1e-4
    ratio = cover[:, 0][lower] / clean_cover[:, 0][lower]
    # (a sample under the resolve's 0.05 floor is not seen at all)
    dropped = (cover[:, 0][lower] == 0) & (clean_cover[:, 0][lower] * CONTOUR_WEIGHT < 0.05 + 1e-3)
    assert ((ratio >= CONTOUR_WEIGHT - 1e-3) | dropped).all()


def test_a_view_seen_from_its_own_camera_gives_its_colours_without_its_contours(gl_ctx, scene):
    """Target = view 0 as drawn: its contours are the target's edges, and there too its samples
    are its colours without the ink (the fusion draws the target's lines, session 13); where a
    contour texel has none of its surface beside it, its ink at ``CONTOUR_WEIGHT``."""
    from conrt.shaders.correspondence_pass import CONTOUR_WEIGHT, TARGET_EDGE_JUMP

    camera, pose, udp = scene[1][0]
    clean, clean_cover = _run(gl_ctx, scene, False, pose, camera)
    sampled, cover = _run(gl_ctx, scene, True, pose, camera, _reference(scene, True))
    full = np.abs(cover[0, 0] - clean_cover[0, 0]) < 1e-4  # (not a weighted texel's sample)
    edges = _target_edges(udp)
    assert (full & edges & (clean_cover[0, 0] > 0)).sum() > 100  # its contours, un-inked
    error = np.abs(sampled[0] - clean[0]).max(0)
    assert error[full & (clean_cover[0, 0] > 0)].max() <= TARGET_EDGE_JUMP + 0.5 / 65535 + 1e-5
    weighted = (cover[0, 0] < clean_cover[0, 0] - 1e-4) & (cover[0, 0] > 0)
    assert (cover[0, 0][weighted] >= CONTOUR_WEIGHT * clean_cover[0, 0][weighted] - 1e-3).all()
