"""Part labels for glTF/VRM files whose materials name no parts (characters/part_labels.py): Godette's
face, arms and neck are skin, her hair and clothes are not, judged against what the file itself holds
(its blend shapes, spring chains, materials and rig); the Fox and RobotExpressive are not told apart
(no face, or a face that is not skin-coloured) and keep SKIN all over, the toon look as before."""
from __future__ import annotations

import numpy as np
import pygltflib
import pytest

from conrt.characters.gltf_io import load_character, save_character
from conrt.characters.part_labels import label_parts
from conrt.shaders.material import face_region, neck_region, skin_told_apart
from conrt.types import Part


@pytest.fixture(scope="module")
def godette_path(assets_dir):
    return assets_dir / "gltf" / "Godette_vrm_v4.vrm"


@pytest.fixture(scope="module")
def godette(godette_path):
    return load_character(godette_path)


def _drawn(character) -> np.ndarray:
    drawn = np.zeros(character.mesh.num_vertices, bool)
    drawn[np.asarray(character.mesh.triangles).reshape(-1)] = True
    return drawn


def _material_vertices(path, character) -> dict[str, np.ndarray]:
    """Material name -> [V] bool of its primitives' drawn vertices, read from the file: the loader
    merges the mesh nodes' primitives in node order, each primitive's vertices one after the other."""
    g = pygltflib.GLTF2().load_binary(str(path))
    out, first = {}, 0
    for node in g.nodes:
        if node.mesh is None:
            continue
        for prim in g.meshes[node.mesh].primitives:
            n = g.accessors[prim.attributes.POSITION].count
            mask = out.setdefault(g.materials[prim.material].name, np.zeros(character.mesh.num_vertices, bool))
            mask[first:first + n] = True
            first += n
    assert first == character.mesh.num_vertices
    return {name: mask & _drawn(character) for name, mask in out.items()}


def _joint_vertices(character, *names) -> np.ndarray:
    """Drawn vertices skinned mostly (> 0.6) to one of the joints ``names``."""
    index = [character.skeleton.names.index(n) for n in names]
    m = character.mesh
    return np.isin(m.joints[:, 0], index) & (m.weights[:, 0] > 0.6) & _drawn(character)


def test_godettes_face_arms_and_neck_are_skin_her_hair_and_clothes_are_not(godette, godette_path):
    parts = godette.mesh.parts
    assert godette.meta["part_labels"].startswith("skin by colour")
    # the face: every vertex her blend shapes move (eyes, brows, mouth: the VRM expressions) is skin
    m = godette.mesh
    used = np.any([w > 0 for w in godette.expressions.values()], axis=0)
    moved = np.abs(m.morph_positions[used]).max(axis=(0, 2)) > 1e-4 * godette.height
    assert moved.sum() > 200 and (parts[moved] == Part.SKIN).all()
    # the hair: her spring chains on the head (three buns, four fringe locks) are hair (two fringe
    # vertices bound to a lock are the forehead's skin under it); the ribbon chain on the chest is cloth
    head = godette.humanoid["head"]
    chains = [r for r in godette.regions if r.kind == "hair"]
    on_head = np.concatenate([r.vertices for r in chains if r.anchor_joint == head])
    assert len(on_head) > 200 and (parts[on_head] == Part.HAIR).mean() > 0.98
    ribbon = [r for r in chains if r.anchor_joint != head]
    assert ribbon and all((parts[r.vertices] == Part.CLOTH).all() for r in ribbon)
    # the clothes: the backpack and the logo materials, and below the knees (stockings, boots) nothing is skin
    materials = _material_vertices(godette_path, godette)
    for name in ("Backpack", "GodotLogo"):
        assert materials[name].any() and (parts[materials[name]] != Part.SKIN).all(), name
    legs = _joint_vertices(godette, "shin.l_Armature", "shin.r_Armature", "foot.l_Armature", "foot.r_Armature",
                           "toes.l_Armature", "toes.r_Armature")
    assert legs.sum() > 200 and (parts[legs] == Part.CLOTH).all()
    # skin: the neck, and bare skin on the forearms (between the puffed sleeves and the gloves)
    assert (parts[_joint_vertices(godette, "neck_Armature")] == Part.SKIN).all()
    arms = _joint_vertices(godette, "lowerarm.l_Armature", "lowerarm.r_Armature")
    assert 0.2 < (parts[arms] == Part.SKIN).mean() < 0.8
    # the toon look's rules reach her now: a face region (the expressions' vertices in it) and a neck
    assert skin_told_apart(godette)
    face = face_region(godette)
    assert (face[moved] > 0).all() and (face[parts != Part.SKIN] == 0).all()
    assert neck_region(godette).any()


def test_a_saved_godette_keeps_her_labels(godette, tmp_path):
    """A file conrt wrote holds its labels (_PARTS): loaded back, they are those, not judged again."""
    path = save_character(godette, tmp_path / "godette.glb")
    again = load_character(path)
    np.testing.assert_array_equal(again.mesh.parts, godette.mesh.parts)


@pytest.mark.parametrize("name, why", [("Fox.glb", "no expression morph targets"),
                                       ("RobotExpressive.glb", "not a skin tone")])
def test_a_non_human_is_not_told_apart(assets_dir, name, why):
    """The Fox has no expressions to find a face by; the robot's expressions move its head's screen, and
    the colour around it (its orange-yellow casing, hue 77 deg, chroma 55) is no skin tone. Both keep
    SKIN all over and the toon look before the skin rules (no face region, no neck)."""
    c = load_character(assets_dir / "gltf" / name)
    assert why in c.meta["part_labels"] and "all SKIN" in c.meta["part_labels"]
    assert (c.mesh.parts == Part.SKIN).all() and not skin_told_apart(c)
    assert not face_region(c).any() and not neck_region(c).any()


def test_labels_from_material_names_are_kept():
    from conrt.characters import generate

    c = generate(5)
    decided = label_parts(c)
    assert decided.parts is None and decided.decision == "from the material names"


def test_inferred_labels_shade_godette_but_draw_no_part_lines(gl_ctx, godette):
    """Her labels (from colour) change the toon look's shading (the face lit near flat), not her line art:
    the G-buffer the ink reads (depth, part 0 everywhere, true normals) is the one of SKIN all over, so the
    ink is too; the colour changes on the face."""
    import dataclasses

    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.shaders import ToonPass, frame_character

    before = dataclasses.replace(godette, mesh=dataclasses.replace(godette.mesh,
                                                                   parts=np.zeros_like(godette.mesh.parts)))
    pose = rest_pose(godette)
    camera = frame_character(posed_positions(godette, pose), yaw=30, size=128)
    out = []
    with ToonPass(gl_ctx, 128, 128) as toon:
        for c in (before, godette):
            toon.set_character(c)
            out.append((toon.run(pose, camera), toon.read_gbuffer()))
    (rgba0, gbuf0), (rgba1, gbuf1) = out
    np.testing.assert_array_equal(gbuf1, gbuf0)
    assert not gbuf1[..., 1].any() and (godette.mesh.parts != Part.SKIN).any()
    assert (np.abs(rgba1.astype(int) - rgba0).max(-1) > 0).sum() > 20  # the face lit flat now


def test_godettes_whole_neck_tube_takes_the_chin_shadow(godette):
    """Her neck is a six-sided tube of two rings: the bottom one skinned to the neck joint, the top one
    inside her head and skinned to it (so in the face region). Before session 14 the chin rule took the
    bottom ring only (7 vertices) and the shade stopped half-way up the tube, the rest lit flat with the
    face; now the tube is one piece (shaders/material.py neck_pieces): both rings, nothing else."""
    from conrt.characters.part_labels import expression_vertices

    neck, face = neck_region(godette) > 0, face_region(godette) > 0
    bottom = _joint_vertices(godette, "neck_Armature") & (godette.mesh.parts == Part.SKIN)
    assert bottom.sum() == 7 and neck[bottom].all()
    assert (neck & face).sum() == 7 and neck.sum() == 14  # the top ring, in her head
    assert (godette.mesh.parts[neck] == Part.SKIN).all() and not expression_vertices(godette)[neck].any()
    y = godette.mesh.positions[neck, 1]  # between the chest and the chin (the face's lowest point 0.97 m)
    assert y.max() < godette.mesh.positions[expression_vertices(godette), 1].min()


def test_godettes_skin_shades_in_her_faces_shade_colour(gl_ctx, godette, godette_path):
    """skin_shade_colors: her Face material's MToon shade colour (a lavender-pink) on all her skin, the
    body material's (a light blue, for her clothes) no longer on her arms, thighs, ears and neck; her clothes,
    hair and the materials without one as the file has them. The toon pass takes it unless the style
    turns it off (ToonStyle.face_shade_on_skin; the fit's look, without_skin_rule): frames differ on a
    few skin pixels only."""
    import dataclasses

    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.shaders import ToonPass, ToonStyle, frame_character
    from conrt.shaders.material import shade_colors, skin_shade_colors
    from conrt.shaders.toon_pass import without_skin_rule

    own, skin_shade = shade_colors(godette), skin_shade_colors(godette)
    skin = godette.mesh.parts == Part.SKIN
    face_colour = np.unique(own[_material_vertices(godette_path, godette)["Face"]], axis=0)
    assert face_colour.shape == (1, 4) and face_colour[0, 3] == 1.0
    assert (skin_shade[skin] == face_colour[0]).all()
    assert (own[skin & _drawn(godette)] != face_colour[0]).any(1).sum() > 300  # the body's blue before
    np.testing.assert_array_equal(skin_shade[~skin], own[~skin])
    assert not without_skin_rule(ToonStyle()).face_shade_on_skin
    # seen from her right (yaw -60): her right arm's skin turns from the key light (upper left), in shade
    pose = rest_pose(godette)
    camera = frame_character(posed_positions(godette, pose), yaw=-60, size=128)
    frames = []
    for style in (ToonStyle(), dataclasses.replace(ToonStyle(), face_shade_on_skin=False)):
        with ToonPass(gl_ctx, 128, 128, style) as toon:
            toon.set_character(godette)
            frames.append(toon.run(pose, camera).astype(int))
    changed = np.abs(frames[0] - frames[1]).max(-1) > 0
    assert 0 < changed.sum() < 0.05 * (frames[0][..., 3] > 0).sum()


def test_character_info_says_what_the_toon_skin_rules_reach(godette, assets_dir):
    """`conrt character info`'s "toon skin" line: Godette's face region, her neck's tube (14) and the
    skin vertices that take her face's shade colour (433: arms, hands, thighs, ears, neck on the body's material); no
    line where the labels do not tell skin apart (the robot)."""
    from conrt.commands.character import _toon_skin

    line = _toon_skin(godette)
    assert f"face {int((face_region(godette) > 0).sum())} vertices" in line
    assert "neck 14 in the chin shadow" in line and "(433 skin vertices from their own material's)" in line
    assert _toon_skin(load_character(assets_dir / "gltf" / "RobotExpressive.glb")) == ""
