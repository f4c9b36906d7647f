"""Anti-aliased edges (supersampled coverage, ``antialias=k``) in the UDP and
toon passes: soft alpha at the silhouette, UDP landmarks never blended with the
background, the unsupersampled values inside the body, equal coverage."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.characters.posing import posed_positions, pose_from_rotations, rest_pose, rotation_matrix
from conrt.errors import ConfigError
from conrt.shaders.camera import frame_character
from conrt.shaders.toon_pass import ToonPass, ToonStyle
from conrt.shaders.udp_pass import UdpPass

SIZE = 64


def _tilted_quad_camera(c, size=SIZE):
    # roll: the quad's edges cross the pixel grid at an angle (jagged without AA)
    return frame_character(c.mesh.positions, roll=17.0, size=size, margin=0.2)


def _run(gl_ctx, character, camera, pose, k, style=ToonStyle()):
    with UdpPass(gl_ctx, SIZE, SIZE, antialias=k) as udp, ToonPass(gl_ctx, SIZE, SIZE, style, antialias=k) as toon:
        udp.set_character(character)
        toon.set_character(character)
        return udp.run(pose, camera).data, toon.run(pose, camera)


def test_udp_edges_get_coverage_alpha_but_keep_the_surface_landmark(gl_ctx, meshes):
    quad = meshes.quad_character(z=0.0)
    cam, pose = _tilted_quad_camera(quad), rest_pose(quad)
    hard, _ = _run(gl_ctx, quad, cam, pose, 1)
    soft, _ = _run(gl_ctx, quad, cam, pose, 3)
    a = soft[..., 3]
    edge = (a > 0) & (a < 1)
    assert set(np.unique(hard[..., 3])) == {0.0, 1.0}  # the default stays binary
    assert edge.sum() > 40  # the whole outline is soft
    assert np.allclose(np.unique(a[edge]) * 9, np.round(np.unique(a[edge]) * 9))  # k x k sample fractions
    # the quad's landmarks at an edge pixel are the surface's: inside the quad's landmark range, z exactly
    # the plane's (a blend with the background would scale them down)
    inside = hard[..., 3] == 1
    zs = hard[inside, 2]
    assert np.ptp(zs) < 1e-6 and np.allclose(soft[edge, 2], zs[0], atol=1e-6)
    for ch in (0, 1):
        assert soft[edge, ch].min() >= hard[inside, ch].min() - 0.02
        assert soft[edge, ch].max() <= hard[inside, ch].max() + 0.02
    # fully covered pixels keep the unsupersampled value (odd k: the centre sample is the pixel centre)
    full = (soft[..., 3] == 1) & inside
    assert full.sum() > 0.9 * inside.sum() - edge.sum()
    np.testing.assert_allclose(soft[full, :3], hard[full, :3], atol=1e-5)
    # background stays exactly zero
    assert (soft[a == 0] == 0).all()


def test_toon_alpha_is_the_same_coverage_and_the_colour_is_not_darkened(gl_ctx, meshes):
    strip = meshes.strip_character(segments=24)
    pose = pose_from_rotations(strip.skeleton, {"mid": rotation_matrix([0, 0, 1], 0.9),
                                                "tip": rotation_matrix([1, 0.3, 0], 1.1)})
    cam = frame_character(posed_positions(strip, pose), yaw=35, pitch=15, size=SIZE)
    for c, p, camera in ((strip, pose, cam), (meshes.quad_character(), None, None)):
        p = p or rest_pose(c)
        camera = camera or _tilted_quad_camera(c)
        udp, rgba = _run(gl_ctx, c, camera, p, 3)
        np.testing.assert_array_equal(udp[..., 3] > 0, rgba[..., 3] > 0, err_msg=c.name)
        # alpha is the coverage (u8-rounded)
        np.testing.assert_allclose(rgba[..., 3] / 255, udp[..., 3], atol=0.5 / 255 + 1e-6)
    # a flat, unlit, uninked quad: every covered pixel has the same colour, edges included (straight alpha)
    quad = meshes.quad_character()
    cam = _tilted_quad_camera(quad)
    _, rgba = _run(gl_ctx, quad, cam, rest_pose(quad), 3, ToonStyle(line_width=0, look="flat"))
    covered = rgba[..., 3] > 0
    assert (rgba[..., 3][covered] < 255).sum() > 40
    colours = rgba[covered][:, :3].astype(int)
    assert np.ptp(colours, axis=0).max() <= 1


def test_ink_keeps_its_width(gl_ctx, meshes):
    """Supersampled ink is drawn k times wider in samples: about the same share of dark pixels."""
    quad = meshes.quad_character()
    cam = _tilted_quad_camera(quad)
    _, hard = _run(gl_ctx, quad, cam, rest_pose(quad), 1)
    _, soft = _run(gl_ctx, quad, cam, rest_pose(quad), 3)
    dark = lambda img: (img[..., 3] > 0) & (img[..., :3].max(-1) < 100)  # noqa: E731
    assert 0.5 < dark(soft).sum() / max(1, dark(hard).sum()) < 1.5


@pytest.mark.parametrize("bad", [0, 6, 2.5, True, "3"])
def test_bad_factor_is_named(gl_ctx, bad):
    with pytest.raises(ConfigError, match="antialias"):
        UdpPass(gl_ctx, 8, 8, antialias=bad)
