"""Anti-aliased edges (supersampled coverage, ``antialias=k``) in the UDP and
toon passes: soft alpha at the silhouette, UDP landmarks never blended with the
background, the unsupersampled values inside the body, equal coverage; and the
runtime's way (``coverage=k`` beside an unchanged UDP, ``soften_edges``)."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.characters.posing import posed_positions, pose_from_rotations, rest_pose, rotation_matrix
from conrt.errors import ConfigError
from conrt.shaders.coverage import DEFAULT_FACTOR, parse_switch, soften_edges
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


# --- coverage beside an unchanged UDP (UdpPass(coverage=k): the runtime's anti-aliased silhouette) ---------


@pytest.mark.parametrize("visibility", [False, True])
def test_coverage_is_the_supersampled_alpha_and_leaves_the_udp_as_it_was(gl_ctx, meshes, visibility):
    strip = meshes.strip_character(segments=24)
    pose = pose_from_rotations(strip.skeleton, {"mid": rotation_matrix([0, 0, 1], 0.9),
                                                "tip": rotation_matrix([1, 0.3, 0], 1.1)})
    cam = frame_character(posed_positions(strip, pose), yaw=35, pitch=15, size=SIZE)
    with UdpPass(gl_ctx, SIZE, SIZE, visibility=visibility) as plain, \
            UdpPass(gl_ctx, SIZE, SIZE, visibility=visibility, coverage=3) as covered, \
            UdpPass(gl_ctx, SIZE, SIZE, antialias=3) as soft:
        for p in (plain, covered, soft):
            p.set_character(strip)
        hard = plain.run(pose, cam).data
        udp = covered.run(pose, cam).data
        cov = covered.read_coverage()
        # the network's input is bit for bit the pass without coverage (and so is the visibility buffer)
        np.testing.assert_array_equal(udp, hard)
        if visibility:
            np.testing.assert_array_equal(covered.visibility.read(), plain.visibility.read())
        # the coverage is exactly the alpha the supersampled UDP pass computes (same k x k samples)
        np.testing.assert_array_equal(cov, soft.run(pose, cam).data[..., 3])
    assert cov.shape == (SIZE, SIZE) and cov.dtype == np.float32
    edge = (cov > 0) & (cov < 1)
    assert edge.sum() > 40
    np.testing.assert_allclose(cov * 9, np.round(cov * 9), atol=1e-5)  # k x k sample fractions
    # the occupancy's pixel centre is the centre sample (odd k): covered there -> coverage > 0, none -> < 1
    assert (cov[hard[..., 3] > 0] > 0).all() and (cov[hard[..., 3] == 0] < 1).all()
    # both sides of the silhouette: covered centres with partial coverage, and uncovered ones the body touches
    assert ((hard[..., 3] > 0) & edge).sum() > 10 and ((hard[..., 3] == 0) & edge).sum() > 10


def test_soften_edges_gives_the_supersampled_toon_alpha_and_keeps_colour(gl_ctx, meshes):
    """A flat, unlit quad shaded with hard edges, softened by the coverage, has the
    alpha the supersampled toon pass computes and one colour everywhere."""
    quad = meshes.quad_character()
    cam, pose = _tilted_quad_camera(quad), rest_pose(quad)
    style = ToonStyle(line_width=0, look="flat")
    with UdpPass(gl_ctx, SIZE, SIZE, coverage=3) as udp, ToonPass(gl_ctx, SIZE, SIZE, style) as hard_toon, \
            ToonPass(gl_ctx, SIZE, SIZE, style, antialias=3) as soft_toon:
        for p in (udp, hard_toon, soft_toon):
            p.set_character(quad)
        occupancy = udp.run(pose, cam).data[..., 3]
        cov = udp.read_coverage()
        hard, soft = hard_toon.run(pose, cam), soft_toon.run(pose, cam)
    a = hard[..., 3:4] / 255.0
    rgba = np.concatenate([hard[..., :3] / 255.0 * a, a], -1).astype(np.float32)  # premultiplied, hard edges
    before = rgba.copy()
    out = soften_edges(rgba, occupancy, cov)
    assert out is rgba  # in place
    full = cov == 1
    np.testing.assert_array_equal(out[full], before[full])  # the interior is not touched
    np.testing.assert_allclose(out[..., 3], soft[..., 3] / 255.0, atol=0.5 / 255 + 1e-6)  # the supersampled alpha
    soft_px = (out[..., 3] > 0) & (out[..., 3] < 1)
    assert soft_px.sum() > 40 and ((occupancy == 0) & soft_px).sum() > 10  # both sides of the edge
    straight = out[soft_px][:, :3] / out[soft_px][:, 3:]
    np.testing.assert_allclose(straight, np.broadcast_to(before[full][0, :3], straight.shape), atol=1e-5)  # colour kept
    assert (out[cov == 0] == 0).all()


def test_coverage_options_are_checked(gl_ctx):
    with pytest.raises(ConfigError, match="antialias"):
        UdpPass(gl_ctx, 8, 8, coverage=9)
    with pytest.raises(ConfigError, match="one of them"):
        UdpPass(gl_ctx, 8, 8, coverage=3, antialias=3)
    with UdpPass(gl_ctx, 8, 8) as plain, pytest.raises(ConfigError, match="coverage=k"):
        plain.read_coverage()


@pytest.mark.parametrize("value, factor", [("on", DEFAULT_FACTOR), ("OFF", 1), ("off", 1), ("2", 2), (4, 4), (1, 1)])
def test_switch_values(value, factor):
    assert parse_switch(value) == factor


@pytest.mark.parametrize("bad", ["7", "0", "yes", "", "2.5", 2.5, True, None, 6])
def test_bad_switch_values_name_the_choices(bad):
    with pytest.raises(ConfigError, match=r"--antialias must be one of off, on \(= 3\), 1, 2, 3, 4, 5"):
        parse_switch(bad)


def test_coverage_in_gl_row_order_is_flipped_like_the_udp(gl_ctx, meshes):
    quad = meshes.quad_character(z=0.0)
    cam, pose = _tilted_quad_camera(quad), rest_pose(quad)
    with UdpPass(gl_ctx, SIZE, SIZE, coverage=3) as top, UdpPass(gl_ctx, SIZE, SIZE, rows="gl", coverage=3) as gl:
        top.set_character(quad)
        gl.set_character(quad)
        top.run(pose, cam)
        occ_gl = gl.run(pose, cam).data[..., 3]
        cov_top, cov_gl = top.read_coverage(), gl.read_coverage()
    # each read as row 0 = top: the coverage sits on its own UDP's silhouette, and both passes agree
    assert (cov_gl[occ_gl > 0] > 0).all() and (cov_gl[occ_gl == 0] < 1).all()
    assert np.abs(cov_gl - cov_top).mean() < 0.01 and np.abs(cov_gl - cov_top).max() <= 2 / 9 + 1e-6


# --- the cheap coverage: one skinning, interior triangles dropped, host resolve (glsl/udp_coverage.glsl) ------


def _brute_window(mask, r, combine, outside):
    h, w = mask.shape
    pad = np.pad(mask, r, constant_values=outside)
    out = np.empty_like(mask)
    for y in range(h):
        for x in range(w):
            block = pad[y:y + 2 * r + 1, x:x + 2 * r + 1]
            out[y, x] = block.all() if combine is np.logical_and else block.any()
    return out


@pytest.mark.parametrize("radius", [1, 2, 4])
def test_interior_and_solid_distance_are_what_they_say(radius):
    from conrt.shaders.coverage import interior, solid_distance

    rng = np.random.default_rng(radius)
    occ = np.zeros((23, 31), bool)
    occ[2:20, 3:28] = True
    occ[rng.integers(0, 23, 12), rng.integers(0, 31, 12)] = False  # holes
    occ[0, 30] = occ[22, 0] = True  # touching the frame
    assert np.array_equal(interior(occ, radius), _brute_window(occ, radius, np.logical_and, False))
    # the Chebyshev distance to the nearest pixel that is not solid (outside the frame counts), capped
    ys, xs = np.nonzero(~np.pad(occ, 1, constant_values=False))
    expected = np.zeros(occ.shape, np.uint8)
    for y in range(occ.shape[0]):
        for x in range(occ.shape[1]):
            expected[y, x] = min(radius + 1, np.maximum(np.abs(ys - 1 - y), np.abs(xs - 1 - x)).min())
    dist = solid_distance(occ, cap=radius + 1)
    assert dist.dtype == np.uint8 and np.array_equal(dist, expected)
    assert (dist == radius + 1).any() and not dist[~occ].any()


def test_resolve_coverage_counts_samples_and_names_bad_shapes():
    from conrt.errors import InputError
    from conrt.shaders.coverage import resolve_coverage

    samples = np.zeros((6, 9), np.uint8)
    samples[0:3, 0:2] = 255  # pixel (0, 0): 6 of 9
    samples[4, 7] = 255  # pixel (1, 2): 1 of 9, a sliver with no covered centre
    occ = np.zeros((2, 3), bool)
    occ[0, 0] = True
    cov = resolve_coverage(samples, occ, 3)
    assert cov.dtype == np.float32 and cov[0, 0] == np.float32(6) / np.float32(9) and cov[1, 2] == np.float32(1 / 9)
    assert (cov[[0, 0, 1, 1], [1, 2, 0, 1]] == 0).all()
    solid = np.zeros((2, 3), bool)
    solid[1, 1] = True  # a solid pixel (the draw may have left its samples out): 1
    np.testing.assert_array_equal(resolve_coverage(samples, occ, 3, solid=solid), np.where(solid, 1, cov))
    with pytest.raises(InputError, match="coverage samples"):
        resolve_coverage(samples[:, :6], occ, 3)


GODETTE = "tests/fixtures/assets/gltf/Godette_vrm_v4.vrm"  # single-sided and BLEND materials


@pytest.mark.parametrize("name", ["samples/sample_character.glb", GODETTE])
def test_real_character_coverage_draws_a_thin_band_and_keeps_the_udp(gl_ctx, name):
    """On real characters (the sample: 27k triangles, no alpha rules; Godette: the
    alpha rules' variant) the coverage draw leaves out everything but a band at
    the silhouette and the inner contours, yet the coverage is the supersampled
    pass's alpha on every pixel that is not solid (but for a few pixels where
    skinning pushes a dropped back face past the front: 1 of ~15k here), 1 on
    the solid ones; the UDP and the visibility buffer are bit for bit the pass
    without coverage."""
    from pathlib import Path

    from conrt.characters.gltf_io import load_character
    from conrt.commands.udp import random_pose
    from conrt.shaders.coverage import drop_masks

    size = 128
    character = load_character(Path(__file__).resolve().parents[2] / name)
    pose = random_pose(character, 3, 0.3)
    cam = frame_character(posed_positions(character, pose), yaw=20, size=size)
    with UdpPass(gl_ctx, size, size, visibility=True) as plain, \
            UdpPass(gl_ctx, size, size, visibility=True, coverage=3) as covered, \
            UdpPass(gl_ctx, size, size, antialias=3) as soft:
        for p in (plain, covered, soft):
            p.set_character(character)
        assert covered.geometry.alpha_rule == (name == GODETTE)
        hard = plain.run(pose, cam).data
        udp = covered.run(pose, cam).data  # the array the coverage draw read to find the band
        np.testing.assert_array_equal(udp, hard)
        np.testing.assert_array_equal(covered.read().data, hard)  # a second read: from the GL again
        np.testing.assert_array_equal(covered.visibility.read(), plain.visibility.read())
        cov = covered.read_coverage()
        alpha = soft.run(pose, cam).data[..., 3]
        samples = np.frombuffer(covered._cover[1].read(), np.uint8).reshape(3 * size, 3 * size)
    solid, _ = drop_masks(hard)
    assert solid.sum() > 500
    differ = cov[~solid] != alpha[~solid]
    assert differ.sum() <= 0.001 * differ.size
    assert np.abs(cov[~solid] - alpha[~solid]).max() <= 2 / 9 + 1e-6
    assert (cov[solid] == 1).all()
    # triangles were dropped: solid pixels without a sample drawn (41 % on the sample character, 13 % on Godette)
    drawn = samples.reshape(size, 3, size, 3).max((1, 3)) > 0
    assert (solid & ~drawn).sum() > 0.1 * solid.sum()
    edge = (cov > 0) & (cov < 1)
    assert edge.sum() > 100 and (alpha[edge] == cov[edge]).mean() > 0.99


def test_closed_surface_vertices_keep_rims_flipped_and_inside_out_surfaces(meshes):
    """Back faces may be dropped only on closed, outward, opaque surfaces."""
    from conrt.shaders.coverage import closed_surface_vertices

    cube = meshes.cube_character()
    assert closed_surface_vertices(cube).all()  # closed and outward
    tri = cube.mesh.triangles
    inside_out = meshes.cube_character()
    inside_out.mesh.triangles[:] = tri[:, ::-1]
    assert not closed_surface_vertices(inside_out).any()
    quad = meshes.quad_character()  # an open sheet: every vertex is on its rim
    assert not closed_surface_vertices(quad).any()
    flipped = meshes.cube_character()
    flipped.mesh.triangles[0] = tri[0, ::-1]  # one triangle wound the other way
    flags = closed_surface_vertices(flipped)
    assert not flags[tri[0]].any() and flags.any()


def test_drop_masks_keep_everything_near_an_inner_contour():
    """Sub-pixel gaps and skinning's self-intersections sit where one surface passes
    over another: there no pixel is solid, and back faces stay further out."""
    from conrt.shaders.coverage import CONTOUR_RADIUS, GAP_RADIUS, drop_masks, inner_contours, interior

    udp = np.zeros((40, 60, 4), np.float32)
    udp[5:35, 5:55, 3] = 1.0
    udp[5:35, 5:55, :3] = 0.2 + np.linspace(0, 0.2, 50)[None, :, None]  # one smooth surface (0.004 a pixel)
    udp[5:35, 30:55, 2] += 0.3  # ... and another in front of it from column 30 on
    contour = inner_contours(udp)
    assert contour[10:30, 29:31].all() and contour.sum() == 2 * 30  # the two columns along the jump
    solid, far = drop_masks(udp)
    occ = udp[..., 3] > 0
    r, g = CONTOUR_RADIUS, GAP_RADIUS
    assert not far[5:35, 29 - r:31 + r].any() and far[5:35, :29 - r].all() and far[5:35, 31 + r:].all()
    assert not solid[:, 29 - g:31 + g].any() and solid[6:34, 6:29 - g].all() and solid[6:34, 31 + g:54].all()
    assert np.array_equal(solid[:, :29 - g], interior(occ)[:, :29 - g])


def test_soften_edges_on_a_strided_frame_writes_back_the_same_result():
    """A frame that is a view (not one block) is softened in place like a contiguous one."""
    rng = np.random.default_rng(0)
    occ = np.zeros((20, 24), np.float32)
    occ[4:15, 5:19] = 1
    cov = occ.copy()
    cov[4, 5:19] = 0.5  # the inner edge
    cov[3, 6:18] = 2 / 9  # the outer edge
    cov[18, 2] = 1 / 9  # a sliver with no covered neighbour
    rgba = (rng.random((20, 24, 4)) * occ[..., None]).astype(np.float32)
    wide = np.zeros((20, 24, 6), np.float32)
    wide[..., 1:5] = rgba
    strided = wide[..., 1:5]
    assert not strided.flags.c_contiguous
    expected = soften_edges(rgba.copy(), occ, cov)
    assert soften_edges(strided, occ, cov) is strided
    np.testing.assert_array_equal(wide[..., 1:5], expected)
    np.testing.assert_array_equal(expected[4, 5:19], rgba[4, 5:19] * 0.5)
    np.testing.assert_allclose(expected[3, 7], rgba[4, 6:9].mean(0) * 2 / 9, rtol=1e-6)
    assert (expected[18, 2] == 0).all() and (wide[..., [0, 5]] == 0).all()


def test_kept_triangles_drops_only_what_touches_solid_pixels_or_faces_away():
    """The host's cull for the coverage draw (coverage.kept_triangles), against a
    per-triangle loop over the pixels each triangle's samples can fall in: a dropped
    triangle either stays on solid pixels or is a closed surface's back face where
    back faces may go; off-frame centroids and corners behind the camera are kept;
    and the cull drops something (triangles deep inside)."""
    from conrt.shaders.coverage import kept_triangles, solid_distance

    rng = np.random.default_rng(7)
    h, w, v, t = 24, 32, 3000, 20000
    solid = np.zeros((h, w), bool)
    solid[4:20, 5:27] = True
    solid[10, 12] = False  # a hole inside
    far = np.zeros((h, w), bool)
    far[6:18, 14:25] = True
    x = rng.uniform(-3, w + 3, v).astype(np.float32)
    y = rng.uniform(-3, h + 3, v).astype(np.float32)
    front = rng.random(v) > 0.02
    tri = rng.integers(0, v, (t, 3))
    near = np.abs(np.stack([x[tri[:, 1]] - x[tri[:, 0]], y[tri[:, 1]] - y[tri[:, 0]]])).max(0) < 6
    tri = tri[near & (np.abs(x[tri[:, 2]] - x[tri[:, 0]]) < 6) & (np.abs(y[tri[:, 2]] - y[tri[:, 0]]) < 6)]
    closed = rng.random(len(tri)) > 0.3
    for front_ccw in (False, True):
        kept = kept_triangles(x, y, front, np.ascontiguousarray(tri.T), closed, solid_distance(solid), far, front_ccw)
        assert kept.dtype == bool and kept.shape == (len(tri),)
        assert 0 < (~kept).sum() < len(tri)
        for k in np.flatnonzero(~kept):
            cx, cy = x[tri[k]].astype(np.float64), y[tri[k]].astype(np.float64)
            assert front[tri[k]].all()
            qx, qy = int(np.floor(cx.mean())), int(np.floor(cy.mean()))
            assert 0 <= qx < w and 0 <= qy < h
            area = (cx[1] - cx[0]) * (cy[2] - cy[0]) - (cy[1] - cy[0]) * (cx[2] - cx[0])
            if closed[k] and far[qy, qx] and (area < 0 if front_ccw else area > 0):
                continue  # a back face of a closed surface away from contours
            x0, x1 = int(np.floor(cx.min() - 1 / 64)), int(np.floor(cx.max() + 1 / 64))
            y0, y1 = int(np.floor(cy.min() - 1 / 64)), int(np.floor(cy.max() + 1 / 64))
            assert x0 >= 0 and y0 >= 0 and solid[y0:y1 + 1, x0:x1 + 1].all(), k


@pytest.mark.parametrize("margin", [0.0, 0.1])  # 0: the character touches the frame's sides
def test_the_coverage_masks_made_in_the_vertices_box_are_the_whole_frames(gl_ctx, monkeypatch, margin):
    """UdpPass makes the masks (and reads the samples) only in the box of the projected
    vertices: what the cull gets is what drop_masks / solid_distance give on the whole
    frame, and the coverage is the whole frame's count."""
    from pathlib import Path

    import conrt.shaders.udp_pass as udp_pass
    from conrt.characters.gltf_io import load_character
    from conrt.commands.udp import random_pose
    from conrt.shaders.coverage import drop_masks, resolve_coverage, solid_distance

    seen = {}

    def spy(x, y, front, corners, closed, distance, far, front_ccw):
        seen.update(distance=distance.copy(), far=far.copy())
        return kept_triangles(x, y, front, corners, closed, distance, far, front_ccw)

    kept_triangles = udp_pass.kept_triangles
    monkeypatch.setattr(udp_pass, "kept_triangles", spy)
    size = 96
    character = load_character(Path(__file__).resolve().parents[2] / "samples/sample_character.glb")
    pose = random_pose(character, 5, 0.4)
    cam = frame_character(posed_positions(character, pose), yaw=60, size=size, margin=margin)
    with UdpPass(gl_ctx, size, size, coverage=3) as covered:
        covered.set_character(character)
        udp = covered.run(pose, cam).data
        cov = covered.read_coverage()
        rows, cols = covered._drawn
        assert cols.stop - cols.start < size  # the box is narrower than the frame
        samples = np.frombuffer(covered._cover[1].read(), np.uint8).reshape(3 * size, 3 * size)
    solid, far = drop_masks(udp)
    np.testing.assert_array_equal(seen["far"], far)
    np.testing.assert_array_equal(seen["distance"], solid_distance(solid))
    np.testing.assert_array_equal(cov, resolve_coverage(samples, udp[..., 3] > 0, 3, solid=solid))
