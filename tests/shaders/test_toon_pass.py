"""ToonPass on real GL: glTF albedo rules, tones, ink lines inside the
silhouette, coverage equal to the UDP pass, determinism."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conrt.characters.posing import posed_positions, pose_from_rotations, rest_pose, rotation_matrix
from conrt.errors import InputError
from conrt.shaders.camera import frame_character, project
from conrt.shaders.toon_pass import ToonPass, ToonStyle
from conrt.shaders.udp_pass import UdpPass
from conrt.types import Material, Part

N = 32


def _srgb(x):
    x = np.asarray(x, np.float64)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055) * 255


def _render(gl_ctx, character, pose=None, size=N, margin=0.2, style=ToonStyle(), **cam):
    pose = pose or rest_pose(character)
    camera = frame_character(posed_positions(character, pose), size=size, margin=margin, **cam)
    with ToonPass(gl_ctx, size, size, style) as toon:
        toon.set_character(character)
        return toon.run(pose, camera)


def _with_mesh(character, **changes):
    return dataclasses.replace(character, mesh=dataclasses.replace(character.mesh, **changes))


def _centre(img):
    return img[N // 2 - 2:N // 2 + 2, N // 2 - 2:N // 2 + 2].reshape(-1, 4)


def test_output_format_and_background(gl_ctx, meshes):
    img = _render(gl_ctx, meshes.quad_character())
    assert img.shape == (N, N, 4) and img.dtype == np.uint8
    assert set(np.unique(img[..., 3])) == {0, 255}
    assert (img[img[..., 3] == 0] == 0).all()  # transparent black, straight alpha


def test_base_color_factor_is_lit_tone(gl_ctx, meshes):
    red = meshes.quad_character(material=Material(base_color_factor=np.array([1.0, 0.2, 0.0, 1.0], np.float32)))
    img = _render(gl_ctx, red)
    expected = np.r_[_srgb([1.0, 0.2, 0.0]), 255]
    np.testing.assert_allclose(_centre(img), np.tile(expected, (16, 1)), atol=1.0)


def test_vertex_colours_and_texture_multiply(gl_ctx, meshes):
    quad = meshes.quad_character()
    v = quad.mesh.num_vertices
    # 8x8 texture, left half sRGB (255, 128, 0), right half white; uv x follows mesh x.
    tex = np.full((8, 8, 4), 255, np.uint8)
    tex[:, :4, :3] = (255, 128, 0)
    uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
    colors = np.tile(np.array([0.5, 1.0, 1.0, 1.0], np.float32), (v, 1))
    mat = Material(base_color_factor=np.array([1.0, 1.0, 0.5, 1.0], np.float32), base_color_texture=tex)
    img = _render(gl_ctx, _with_mesh(quad, uv=uv, colors=colors, material=mat), margin=0.0)
    tex_lin = (128 / 255 + 0.055) / 1.055
    left = img[N // 2, N // 8]
    right = img[N // 2, N - 1 - N // 8]
    np.testing.assert_allclose(left[:3], _srgb([1.0 * 1.0 * 0.5, tex_lin ** 2.4 * 1.0 * 1.0, 0.0]), atol=1.5)
    np.testing.assert_allclose(right[:3], _srgb([0.5, 1.0, 0.5]), atol=1.5)


def test_texture_without_uv_is_ignored(gl_ctx, meshes):
    tex = np.zeros((4, 4, 4), np.uint8)
    quad = meshes.quad_character(material=Material(base_color_texture=tex))
    assert (_centre(_render(gl_ctx, quad))[:, :3] == 255).all()


def _with_label(character, part):
    """The character with one more vertex (a copy of vertex 0, in no triangle: nothing drawn changes)
    labelled ``part``, so its labels tell skin from the rest (shaders/material.py skin_told_apart)."""
    mesh = character.mesh
    extend = {name: np.concatenate([value, value[:1]]) for name, value in vars(mesh).items()
              if isinstance(value, np.ndarray) and name != "triangles" and len(value) == mesh.num_vertices}
    extend["parts"][-1] = part
    return _with_mesh(character, **extend)


def _side_lit_normals(quad, n):
    return _with_mesh(quad, normals=np.tile(np.asarray(n, np.float32) / np.linalg.norm(n), (quad.mesh.num_vertices, 1)))


def test_tones_and_mtoon_shade_colour(gl_ctx, meshes):
    light = np.array(ToonStyle().light) / np.linalg.norm(ToonStyle().light)
    base = Material(base_color_factor=np.array([0.8, 0.8, 0.8, 1.0], np.float32))
    quad = meshes.quad_character(material=base)
    perpendicular = np.cross(light, [1.0, 0.0, 0.0])  # N.L = 0: the shade tone
    if perpendicular[2] < 0:
        perpendicular = -perpendicular
    # atol 1.5 (u8 sRGB): the read-back's rounding (0.5) plus the GPU's float sRGB encode and interpolated
    # normals (well under 1 level at these tones; the tones themselves are exact: N.L is far from the thresholds)
    style = ToonStyle()
    cool = np.tile(_srgb(np.array([0.8] * 3) * style.shade_tint), (16, 1))
    cloth = _side_lit_normals(_with_mesh(quad, parts=np.full(4, Part.CLOTH, np.uint8)), perpendicular)
    np.testing.assert_allclose(_centre(_render(gl_ctx, cloth))[:, :3], cool, atol=1.5)
    # Labelled SKIN all over (a one-material glTF): the labels do not tell skin apart, the cool tint.
    np.testing.assert_allclose(_centre(_render(gl_ctx, _side_lit_normals(quad, perpendicular)))[:, :3], cool, atol=1.5)
    # Skin on a model whose labels tell it apart takes the lighter, warmer tint: red above green above blue.
    shade = _centre(_render(gl_ctx, _with_label(_side_lit_normals(quad, perpendicular), Part.HAIR)))[:, :3]
    np.testing.assert_allclose(shade, np.tile(_srgb(np.array([0.8] * 3) * style.skin_shade_tint), (16, 1)), atol=1.5)
    assert shade[0, 0] > shade[0, 1] + 10 > shade[0, 2] + 10 and shade.sum() > cool.sum()
    # MToon shade colour replaces the tinted albedo in the dark tones.
    mtoon = dataclasses.replace(base, shade_color_factor=np.array([0.1, 0.2, 0.9, 1.0], np.float32))
    shaded = _centre(_render(gl_ctx, _side_lit_normals(_with_mesh(quad, material=mtoon), perpendicular)))[:, :3]
    np.testing.assert_allclose(shaded, np.tile(_srgb([0.1, 0.2, 0.9]), (16, 1)), atol=1.5)
    # Per-vertex shade colours (materials with different ones, merged) win over the material's; alpha 0:
    # no shade colour there, the tint rule (the quad is SKIN all over: the cool tint).
    per_vertex = _with_mesh(quad, material=mtoon, shade_colors=np.tile(np.float32([0.9, 0.3, 0.1, 1.0]), (4, 1)))
    shaded = _centre(_render(gl_ctx, _side_lit_normals(per_vertex, perpendicular)))[:, :3]
    np.testing.assert_allclose(shaded, np.tile(_srgb([0.9, 0.3, 0.1]), (16, 1)), atol=1.5)
    none = _with_mesh(quad, material=mtoon, shade_colors=np.zeros((4, 4), np.float32))
    shaded = _centre(_render(gl_ctx, _side_lit_normals(none, perpendicular)))[:, :3]
    np.testing.assert_allclose(shaded, cool, atol=1.5)
    # Facing away from the light: the deep tone, darker still.
    deep = _centre(_render(gl_ctx, _side_lit_normals(_with_mesh(quad, material=mtoon), -light + [0, 0, 1e-3])))[:, :3]
    np.testing.assert_allclose(deep, np.tile(_srgb(np.array([0.1, 0.2, 0.9]) * 0.7), (16, 1)), atol=1.5)


def _head_quad(meshes, normal, part=Part.SKIN, joint="head"):
    """The quad skinned whole to a joint named ``joint`` (0.5 m above the root), grey 0.8, one rest normal."""
    quad = meshes.quad_character(material=Material(base_color_factor=np.array([0.8, 0.8, 0.8, 1.0], np.float32)))
    v = quad.mesh.num_vertices
    skel = meshes._skeleton(["root", joint], [-1, 0], [np.eye(4), meshes._translate(0, 0.5, 0)])
    mesh = dataclasses.replace(_side_lit_normals(quad, normal).mesh, parts=np.full(v, part, np.uint8),
                               joints=np.tile(np.array([1, 0, 0, 0], np.uint16), (v, 1)))
    return _with_label(dataclasses.replace(quad, skeleton=skel, mesh=mesh), Part.CLOTH)


def test_face_is_lit_by_the_heads_forward_direction(gl_ctx, meshes):
    """The face rule (ToonStyle.flat_face): a face normal turned well toward the head's forward direction
    (dot >= 0.5) shades as if it were the forward direction itself; not on hair, not without a head joint,
    not where the labels are SKIN all over, not with the rule off; the ink's G-buffer keeps the true normal."""
    light = np.array(ToonStyle().light) / np.linalg.norm(ToonStyle().light)
    lit, skin_shade = _srgb([0.8] * 3), _srgb(np.array([0.8] * 3) * ToonStyle().skin_shade_tint)
    # rest normal: forward enough to be bent all the way (dot 0.74 > 0.5), in the shade tone by itself
    tilted = np.array([0.6, -0.3, 0.74]) / np.linalg.norm([0.6, -0.3, 0.74])
    assert tilted[2] > 0.5 and ToonStyle().deep_threshold < tilted @ light < ToonStyle().lit_threshold
    face = _head_quad(meshes, tilted)
    # atol 1.5 as in test_tones_and_mtoon_shade_colour: tones are exact, the rest is u8/sRGB rounding
    tile = lambda c: np.tile(c, (16, 1))  # noqa: E731
    np.testing.assert_allclose(_centre(_render(gl_ctx, face))[:, :3], tile(lit), atol=1.5)  # forward . L = 0.65
    off = ToonStyle(flat_face=False)
    np.testing.assert_allclose(_centre(_render(gl_ctx, face, style=off))[:, :3], tile(skin_shade), atol=1.5)
    no_head = _head_quad(meshes, tilted, joint="neck")
    np.testing.assert_allclose(_centre(_render(gl_ctx, no_head))[:, :3], tile(skin_shade), atol=1.5)
    hair = _centre(_render(gl_ctx, _head_quad(meshes, tilted, part=Part.HAIR)))[:, :3]
    cool = tile(_srgb(np.array([0.8] * 3) * ToonStyle().shade_tint))
    np.testing.assert_allclose(hair, cool, atol=1.5)
    # SKIN all over (labels that do not tell the face from the hair): no face rule, the cool tint
    one_label = _with_mesh(face, parts=np.full(face.mesh.num_vertices, Part.SKIN, np.uint8))
    np.testing.assert_allclose(_centre(_render(gl_ctx, one_label))[:, :3], cool, atol=1.5)
    # The forward direction follows the posed head: turned 60 deg about +Y (away from the key light on the
    # left, forward . L = -0.06), a normal lit by itself shades as the head's forward direction does.
    away = np.array([-0.6, 0.3, 0.74]) / np.linalg.norm([-0.6, 0.3, 0.74])
    turn = rotation_matrix([0, 1, 0], np.radians(60))
    turned = _head_quad(meshes, away)
    pose = pose_from_rotations(turned.skeleton, {"head": turn})
    assert (turn[:3, :3] @ away) @ light > ToonStyle().lit_threshold
    assert ToonStyle().deep_threshold < (turn[:3, :3] @ [0, 0, 1]) @ light < ToonStyle().lit_threshold
    # (no ink: the quad seen at 60 deg is a depth contour at every pixel of this small frame)
    inkless = ToonStyle(line_width=0)
    np.testing.assert_allclose(_centre(_render(gl_ctx, turned, pose, style=inkless))[:, :3], tile(skin_shade),
                               atol=1.5)
    np.testing.assert_allclose(_centre(_render(gl_ctx, turned, pose, style=dataclasses.replace(inkless, flat_face=False)))
                               [:, :3], tile(lit), atol=1.5)
    # The ink reads the true normal: the G-buffer is the same with the rule on and off.
    gbufs = []
    for style in (ToonStyle(), off):
        pose = rest_pose(face)
        with ToonPass(gl_ctx, N, N, style) as toon:
            toon.set_character(face)
            toon.run(pose, frame_character(posed_positions(face, pose), size=N, margin=0.2))
            gbufs.append(toon.read_gbuffer())
    np.testing.assert_array_equal(gbufs[0], gbufs[1])


def _neck_quad(meshes, normal, part=Part.SKIN, joint="neck"):
    """The quad skinned whole to ``joint`` of a root -> neck -> head skeleton, grey 0.8, one rest normal."""
    quad = meshes.quad_character(material=Material(base_color_factor=np.array([0.8, 0.8, 0.8, 1.0], np.float32)))
    v = quad.mesh.num_vertices
    skel = meshes._skeleton(["root", "neck", "head"], [-1, 0, 1],
                            [np.eye(4), meshes._translate(0, 0.4, 0), meshes._translate(0, 0.5, 0)])
    mesh = dataclasses.replace(_side_lit_normals(quad, normal).mesh, parts=np.full(v, part, np.uint8),
                               joints=np.tile(np.array([skel.names.index(joint), 0, 0, 0], np.uint16), (v, 1)))
    return _with_label(dataclasses.replace(quad, skeleton=skel, mesh=mesh), Part.CLOTH)


def test_the_neck_under_the_chin_takes_the_shade(gl_ctx, meshes):
    """The chin rule (ToonStyle.chin_shadow, material.neck_region): skin skinned to the neck takes the shade
    tone even where its normal faces the light, and keeps the deep tone where it faces away; not the face
    (skinned to the head), not hair, not with the rule off, not where the labels are SKIN all over."""
    light = np.array(ToonStyle().light) / np.linalg.norm(ToonStyle().light)
    tile = lambda c: np.tile(c, (16, 1))  # noqa: E731
    lit, skin_shade = tile(_srgb([0.8] * 3)), tile(_srgb(np.array([0.8] * 3) * ToonStyle().skin_shade_tint))
    # atol 1.5 as in test_tones_and_mtoon_shade_colour: tones are exact, the rest is u8/sRGB rounding
    neck = _neck_quad(meshes, light)  # N.L = 1: lit by itself
    np.testing.assert_allclose(_centre(_render(gl_ctx, neck))[:, :3], skin_shade, atol=1.5)
    np.testing.assert_allclose(_centre(_render(gl_ctx, neck, style=ToonStyle(chin_shadow=False)))[:, :3], lit,
                               atol=1.5)
    # with the face rule off the chin rule still holds (in_face's x is 0 then, y the neck)
    np.testing.assert_allclose(_centre(_render(gl_ctx, neck, style=ToonStyle(flat_face=False)))[:, :3], skin_shade,
                               atol=1.5)
    away = _neck_quad(meshes, -light + [0, 0, 1e-3])  # N.L = -1: the deep tone stays
    deep = tile(_srgb(np.array([0.8] * 3) * ToonStyle().skin_shade_tint * ToonStyle().deep_multiplier))
    np.testing.assert_allclose(_centre(_render(gl_ctx, away))[:, :3], deep, atol=1.5)
    for other in (_neck_quad(meshes, light, joint="head"), _neck_quad(meshes, light, part=Part.HAIR),
                  _with_mesh(neck, parts=np.full(neck.mesh.num_vertices, Part.SKIN, np.uint8))):
        np.testing.assert_allclose(_centre(_render(gl_ctx, other))[:, :3], lit, atol=1.5)


def test_neck_region_of_a_procedural_character():
    """neck_region on a procedural character: its neck is a tube of its own (10 rings): the skin skinned
    mostly to the neck, and since session 14 the rest of that tube (neck_pieces): its top rings, skinned
    to the head (in the face region: lit flat with the face before), and its bottom ring on the chest;
    nothing the expressions move, nothing on the head's front, hair or clothes."""
    from conrt.characters import generate
    from conrt.characters.part_labels import expression_vertices
    from conrt.shaders.material import face_region, neck_region

    c = generate(5)
    neck, face, parts = neck_region(c) > 0, face_region(c), c.mesh.parts
    assert neck.sum() > 50 and (parts[neck] == Part.SKIN).all() and not expression_vertices(c)[neck].any()
    j = c.skeleton.names.index("neck")
    assert (c.mesh.joints[neck, 0] == j).mean() >= 0.5  # half on the neck joint (seed 5: 105 of 210, 63 head, 42 chest)
    top = neck & (face > 0)  # the tube's top, skinned to the head
    assert 0 < top.sum() < (c.mesh.joints[neck, 0] == j).sum()
    assert (face[neck & ~top] == 0).all()
    y = c.mesh.positions[neck, 1]
    assert y.min() > c.skeleton.rest_world[c.skeleton.names.index("chest"), 1, 3]  # above the chest joint
    assert y.max() < c.mesh.positions[face == 1, 1].max()  # below the top of the head


def test_a_neck_the_expressions_move_is_only_its_neck_ring():
    """neck_pieces takes a piece of mesh as the neck only where no expression moves it: with a morph
    target of an expression on one vertex of the procedural neck's tube (as a face modelled in one piece
    with the neck), the chin rule keeps to the skin skinned to the neck outside the face region, as
    before session 14."""
    from conrt.characters import generate
    from conrt.characters.part_labels import head_weight
    from conrt.shaders.material import face_region, neck_region

    c = generate(5)
    tube = neck_region(c) > 0
    name, weights = next((n, w) for n, w in c.expressions.items() if (np.asarray(w) > 0).any())
    morphs = np.array(c.mesh.morph_positions, np.float32)
    morphs[int(np.argmax(np.asarray(weights) > 0)), np.flatnonzero(tube)[0]] = [0.0, 0.01, 0.0]
    moved = dataclasses.replace(c, mesh=dataclasses.replace(c.mesh, morph_positions=morphs))
    ring = (c.mesh.parts == Part.SKIN) & (head_weight(c, c.humanoid["neck"]) >= 0.5) & (face_region(c) == 0)
    np.testing.assert_array_equal(neck_region(moved) > 0, ring)
    assert ring.sum() < tube.sum() and (tube | ring).sum() == tube.sum()


def test_face_region_of_a_procedural_character():
    """face_region on a procedural character: the head's skin (rigid to the head: 1) and the eye lids and
    mouth over it, never its hair or hairband, nor the body (no weight on the head); the neck's top ring,
    pulled partly by the head, in between."""
    from conrt.characters import generate
    from conrt.shaders.material import face_joint, face_region, skin_told_apart

    c = generate(5)
    face, parts = face_region(c), c.mesh.parts
    head = face_joint(c)
    assert skin_told_apart(c) and c.skeleton.names[head] == "head"
    rigid_head = (c.mesh.joints[:, 0] == head) & (c.mesh.weights[:, 0] == 1.0)
    assert (face[rigid_head & (parts == Part.SKIN)] == 1.0).all()
    assert (face[np.isin(parts, [Part.HAIR, Part.ACCESSORY, Part.CLOTH])] == 0).all()
    assert (face > 0).sum() == ((face > 0) & np.isin(parts, [Part.SKIN, Part.EYES, Part.MOUTH])).sum()
    def under_head(j):  # the head or a joint below it (eyes, jaw, hair chains)
        while j >= 0 and j != head:
            j = c.skeleton.parents[j]
        return j == head

    family = np.array([under_head(j) for j in range(c.skeleton.num_joints)])
    on_head = (family[c.mesh.joints] * c.mesh.weights).sum(1)
    assert (face[on_head <= 0.5] == 0).all() and ((0 < face) & (face < 1)).any()  # the neck's top ring
    assert 0 < (face > 0).mean() < 0.2


def test_ink_lines_stay_inside_the_silhouette(gl_ctx, meshes):
    img = _render(gl_ctx, meshes.quad_character(), margin=0.25)
    covered = img[..., 3] > 0
    rows, cols = np.nonzero(covered)
    top, left = rows.min(), cols.min()
    assert img[top, left + 4, 0] < 128  # outermost ring: ink (dark)
    assert img[N // 2, N // 2, 0] == 255  # inside: the white lit tone
    assert covered.sum() == (N // 2) ** 2  # ink added no pixel outside the quad


def test_part_and_depth_contours(gl_ctx, meshes):
    two = meshes.two_quads_character()
    img = _render(gl_ctx, two, margin=0.0)
    # The small near quad's border (x = N/4 .. 3N/4) gets ink on one side.
    row = img[N // 2, :, 0].astype(int)
    inside_far = row[2:N // 4 - 2]
    assert (inside_far == 255).all()
    assert row[N // 4 - 1:N // 4 + 1].min() < 128


@pytest.mark.parametrize("yaw,pitch,projection", [(0, 0, "orthographic"), (35, 15, "orthographic"), (200, -20, "perspective")])
def test_coverage_equals_udp_occupancy(gl_ctx, meshes, yaw, pitch, projection):
    strip = meshes.strip_character(segments=24)
    pose = pose_from_rotations(strip.skeleton, {"mid": rotation_matrix([0, 0, 1], 0.9), "tip": rotation_matrix([1, 0.3, 0], 1.1)})
    size = 96
    cam = frame_character(posed_positions(strip, pose), yaw=yaw, pitch=pitch, size=size, projection=projection)
    with UdpPass(gl_ctx, size, size) as udp, ToonPass(gl_ctx, size, size) as toon:
        for c in (strip, meshes.cube_character(), meshes.two_quads_character()):
            p = pose if c is strip else rest_pose(c)
            camera = cam if c is strip else frame_character(c.mesh.positions, yaw=yaw, pitch=pitch, size=size, projection=projection)
            udp.set_character(c)
            toon.set_character(c)
            occ = udp.run(p, camera).data[..., 3] == 1
            alpha = toon.run(p, camera)[..., 3] > 0
            assert occ.any()
            np.testing.assert_array_equal(occ, alpha, err_msg=c.name)


def test_deterministic_and_bad_pose(gl_ctx, meshes):
    strip = meshes.strip_character()
    pose = pose_from_rotations(strip.skeleton, {"mid": rotation_matrix([0, 0, 1], 0.5)})
    cam = frame_character(posed_positions(strip, pose), yaw=20, size=N)
    with ToonPass(gl_ctx, N, N) as toon:
        toon.set_character(strip)
        a = toon.run(pose, cam)
        b = toon.run(pose, cam)
        assert (a[..., 3] > 0).any() and np.array_equal(a, b)
        bad = pose.joint_world.copy()
        bad[1, 1, 1] = np.inf
        with pytest.raises(InputError, match="NaN/inf"):
            toon.run(dataclasses.replace(pose, joint_world=bad), cam)
        np.testing.assert_array_equal(toon.read(), a)


def test_bad_material_is_a_clear_error(gl_ctx, meshes):
    quad = meshes.quad_character(material=Material(base_color_factor=np.array([1, 1, np.nan, 1], np.float32)))
    with ToonPass(gl_ctx, 8, 8) as toon, pytest.raises(InputError, match="base_color_factor"):
        toon.set_character(quad)
    uv = np.zeros((4, 2), np.float32)
    quad = meshes.quad_character(uv=uv, material=Material(base_color_texture=np.zeros((4, 4), np.uint8)))
    with ToonPass(gl_ctx, 8, 8) as toon, pytest.raises(InputError, match="base_color_texture"):
        toon.set_character(quad)
    quad = meshes.quad_character(shade_colors=np.ones((3, 4), np.float32))  # one row short
    with ToonPass(gl_ctx, 8, 8) as toon, pytest.raises(InputError, match=r"shade_colors must be \[4, 4\]"):
        toon.set_character(quad)


def test_simulated_vertices_shade_with_their_face_normal(gl_ctx, meshes):
    """Physics-placed vertices carry stale rest normals; the toon pass uses the
    true face normal there (screen derivatives, sign checked under the
    y-flipped projection)."""
    quad = _with_mesh(meshes.quad_character(), normals=np.tile(np.float32([0, 0, -1]), (4, 1)))
    rest = rest_pose(quad)
    sim = dataclasses.replace(rest, sim_indices=np.arange(4, dtype=np.int32), sim_positions=quad.mesh.positions.copy())
    dark = _centre(_render(gl_ctx, quad, rest))[:, 0]
    lit = _centre(_render(gl_ctx, quad, sim))[:, 0]
    style = ToonStyle()  # the bogus normal faces away from the light: the deep tone (atol: as above; the quad
    # is SKIN all over, labels that do not tell skin apart: the cool tint)
    np.testing.assert_allclose(dark, _srgb(style.shade_tint[0] * style.deep_multiplier), atol=1.5)
    assert (lit == 255).all()  # the face normal faces the camera and the key light: lit white


def test_crease_lines_on_hard_edges(gl_ctx, meshes):
    cube = meshes.cube_character()
    size = 64
    cam = frame_character(cube.mesh.positions, yaw=35, pitch=0, size=size, margin=0.1)
    # The vertical edge between the front (+Z) and the right (+X) face.
    edge_x = int(round(project(cam, np.array([[0.5, 0.5, 0.5]]))[0, 0]))
    row = size // 2
    with ToonPass(gl_ctx, size, size) as creased, ToonPass(gl_ctx, size, size, ToonStyle(crease_angle=None)) as plain:
        creased.set_character(cube)
        plain.set_character(cube)
        a = creased.run(rest_pose(cube), cam)
        b = plain.run(rest_pose(cube), cam)
    band = slice(edge_x - 2, edge_x + 3)
    assert a[row, band, :3].min() < 100  # ink on the crease
    assert b[row, band, :3].min() > 150  # no ink without creases
    np.testing.assert_array_equal(a[..., 3], b[..., 3])  # lines never change coverage
    # Only one line: a crease is inked on one side.
    dark = (a[row, :, :3].max(1) < 100).nonzero()[0]
    inner = dark[(dark > edge_x - 4) & (dark < edge_x + 4)]
    assert 1 <= len(inner) <= 2


def test_bad_style_is_a_config_error(gl_ctx):
    from conrt.errors import ConfigError

    for style in (ToonStyle(light=(0, 0, 0)), ToonStyle(line_width=-1), ToonStyle(depth_step=0)):
        with pytest.raises(ConfigError, match="toon"):
            ToonPass(gl_ctx, 8, 8, style)


def test_nan_normals_do_not_break_the_picture(gl_ctx, meshes):
    quad = meshes.quad_character()
    normals = quad.mesh.normals.copy()
    normals[1] = np.nan
    img = _render(gl_ctx, _with_mesh(quad, normals=normals))
    assert set(np.unique(img[..., 3])) == {0, 255}
    assert (_centre(img)[:, :3] == 255).all()  # both triangles lit white, no NaN tone


def test_named_styles_differ_in_look_not_in_coverage(gl_ctx, meshes):
    from conrt.errors import ConfigError
    from conrt.shaders.toon_pass import STYLE_NAMES, named_style

    c = meshes.cube_character()
    pics = {name: _render(gl_ctx, c, size=48, style=named_style(name, 48), yaw=30, pitch=20) for name in STYLE_NAMES}
    alpha = pics["toon"][..., 3]
    for name, img in pics.items():
        np.testing.assert_array_equal(img[..., 3], alpha, err_msg=name)
    for a in STYLE_NAMES:
        for b in STYLE_NAMES:
            if a < b:
                assert not np.array_equal(pics[a], pics[b]), (a, b)
    # unlit: one colour over the whole (single-albedo) cube, no ink, no tones
    covered = pics["unlit"][alpha > 0][:, :3]
    assert np.ptp(covered.astype(int), 0).max() == 0
    # thick outline: more ink than the default
    inked = lambda img: (img != pics["no-outline"]).any(-1).sum()  # noqa: E731  (pixels the ink changed)
    assert inked(pics["thick-outline"]) > 1.5 * inked(pics["toon"]) > 0
    with pytest.raises(ConfigError, match="unknown style"):
        named_style("sketch", 48)
