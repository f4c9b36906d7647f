"""The character's material on the GPU, shared by the passes that read it.

One place for the albedo texture rules (upload, mipmaps, wrap) so the UDP
pass, which samples texture alpha for glTF MASK/BLEND coverage, sees exactly
the texels the toon pass shades with: both then cover the same pixels. Also the toon
look's skin rule (which vertices are skin and face, the head's forward
direction), read by the toon pass.
"""
from __future__ import annotations

import moderngl
import numpy as np

from conrt.characters.part_labels import head_joint as face_joint  # the head, or None (no face rule)
from conrt.characters.part_labels import head_weight
from conrt.errors import InputError
from conrt.types import Character, Part


def albedo_image(character: Character) -> np.ndarray | None:
    """The base-colour texture as [H, W, 4] u8 (RGB gets alpha 255), or None when
    the material has none or the mesh has no uv (glTF: then it is not used)."""
    mat, mesh = character.mesh.material, character.mesh
    if mat.base_color_texture is None or mesh.uv is None:
        return None
    tex = np.asarray(mat.base_color_texture)
    if tex.ndim != 3 or tex.shape[2] not in (3, 4) or tex.dtype != np.uint8:
        raise InputError(f"base_color_texture must be [H, W, 4] u8, got {tex.shape} {tex.dtype}")
    if tex.shape[2] == 3:
        tex = np.concatenate([tex, np.full(tex.shape[:2] + (1,), 255, np.uint8)], 2)
    return tex


def albedo_texture(ctx: moderngl.Context, image: np.ndarray | None, mipmaps: bool = True) -> moderngl.Texture:
    """Upload :func:`albedo_image`'s result (1x1 white when None): wrapping; mipmapped
    unless the material's samplers ask for none (``Material.mipmaps``)."""
    if image is None:
        return ctx.texture((1, 1), 4, bytes([255, 255, 255, 255]))
    # Row 0 of the image is v = 0, which is also the first row GL stores: no flip.
    tex = ctx.texture((image.shape[1], image.shape[0]), 4, np.ascontiguousarray(image))
    if mipmaps:
        tex.build_mipmaps()
        tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    else:
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    tex.repeat_x = tex.repeat_y = True  # glTF default sampler wraps
    return tex


def base_color(character: Character) -> np.ndarray:
    """[4] f32 baseColorFactor, checked."""
    base = np.asarray(character.mesh.material.base_color_factor, np.float32).reshape(-1)
    if base.shape != (4,) or not np.isfinite(base).all():
        raise InputError(f"base_color_factor must be 4 finite floats, got {character.mesh.material.base_color_factor}")
    return base


def shade_colors(character: Character) -> np.ndarray:
    """[V, 4] f32, checked: each vertex's MToon shade colour (linear, alpha 1), alpha 0 where its material
    has none (the toon pass then shades with a tint): ``SkinnedMesh.shade_colors`` when the mesh has
    them (materials with different shade colours), else ``Material.shade_color_factor`` for all."""
    mesh, mat = character.mesh, character.mesh.material
    v = mesh.num_vertices
    if mesh.shade_colors is not None:
        per_vertex = np.asarray(mesh.shade_colors, np.float32)
        if per_vertex.shape != (v, 4) or not np.isfinite(per_vertex).all():
            raise InputError(f"shade_colors must be [{v}, 4] finite floats, got {per_vertex.shape}")
        return np.ascontiguousarray(per_vertex)
    shade = np.zeros(4, np.float32)  # alpha 0: no shade colour
    if mat.shade_color_factor is not None:
        given = np.asarray(mat.shade_color_factor, np.float32).reshape(-1)
        if given.size not in (3, 4) or not np.isfinite(given).all():
            raise InputError(f"shade_color_factor must be 3 or 4 finite floats, got {mat.shade_color_factor}")
        shade[:3], shade[3] = given[:3], 1.0
    return np.ascontiguousarray(np.tile(shade, (v, 1)))


# --- The toon look's skin rule (glsl/toon.glsl) -------------------------------------------------------------
# Anime faces are not shaded like the clothes: skin takes a lighter, warmer shadow (toward red/orange,
# not the clothes' cool grey-lavender; MToon's shade colour does this per material), and the face is lit
# near flat (its normals bent toward the head's forward direction, the "face normal" edit): it is either
# lit or, turned from the light, evenly shaded, with shadow only at its sides and under the chin. Before
# session 12 the face's true normals cut a hard grey diagonal across the nose and cheeks. With the face lit
# flat, the neck below it always takes the shade (session 13): the head shadows it, and the face stands
# out from it (lit, the neck ran into the face without a line).
FACE_PARTS = (Part.SKIN, Part.EYES, Part.MOUTH)  # part labels of the face region (never hair, cloth, ribbons)
NECK_JOINT = "neck"  # the chin shadow: skin skinned to this humanoid bone (and below it) outside the face
FACE_FORWARD = (0.0, 0.0, 1.0)  # every character faces +Z at rest (procedural; glTF/VRM are turned so)


def skin_told_apart(character: Character) -> bool:
    """Whether the part labels tell skin from the rest: some vertex is not Part.SKIN. A glTF's labels
    come from its material names (``gltf_io._part_from_material``, SKIN when no name matches) or, where
    those name none, from the face's colour (``characters/part_labels.py``: Godette since session 13);
    a character neither tells apart (the Fox, RobotExpressive: not a human face) is SKIN all over, its
    hair and clothes too, so the skin rule stays off there (the cool tint, true normals: the look before
    session 12)."""
    return bool((np.asarray(character.mesh.parts) != Part.SKIN).any())


def face_region(character: Character) -> np.ndarray:
    """[V] f32 in 0..1, how much of each vertex belongs to the face: its skinning weight on the head joint
    and the joints below it (eyes, jaw; ``head_weight``), ramped from 0 at half to 1 at whole (a neck ring
    the head pulls a little keeps its own normal), on FACE_PARTS only (the hair, a hairband on the head:
    0); all 0 without a head joint or when the labels do not tell skin apart (:func:`skin_told_apart`)."""
    mesh = character.mesh
    head = face_joint(character)
    if head is None or not skin_told_apart(character):
        return np.zeros(mesh.num_vertices, np.float32)
    on_head = head_weight(character, head)
    face = np.isin(np.asarray(mesh.parts), np.asarray(FACE_PARTS, np.uint8))
    return (np.clip(2.0 * on_head - 1.0, 0.0, 1.0) * face).astype(np.float32)


def neck_region(character: Character) -> np.ndarray:
    """[V] f32, 1 on the neck under the chin (the toon look shades it, ``ToonStyle.chin_shadow``), else 0:
    skin vertices skinned at least half to the neck joint and the joints below it (``head_weight``) and
    outside the face region (:func:`face_region` 0; the jaw's underside, in the face, keeps its own
    normal and so its own shadow). All 0 without head and neck joints or when the labels do not tell
    skin apart."""
    mesh, humanoid, names = character.mesh, character.humanoid, character.skeleton.names
    neck = humanoid.get(NECK_JOINT, names.index(NECK_JOINT) if NECK_JOINT in names else None)
    face = face_region(character)
    if neck is None or face_joint(character) is None or not skin_told_apart(character):
        return np.zeros(mesh.num_vertices, np.float32)
    skin = np.asarray(mesh.parts) == Part.SKIN
    return (skin & (head_weight(character, int(neck)) >= 0.5) & (face == 0)).astype(np.float32)


def face_forward(character: Character, joint_world: np.ndarray, head: int) -> np.ndarray:
    """[3] f64 unit: the posed head's forward direction (FACE_FORWARD through the head's skinning
    matrix), character space."""
    skin = np.asarray(joint_world[head], np.float64) @ np.asarray(character.skeleton.inverse_bind[head], np.float64)
    forward = skin[:3, :3] @ np.asarray(FACE_FORWARD)
    return forward / max(np.linalg.norm(forward), 1e-12)
