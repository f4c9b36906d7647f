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
from conrt.characters.part_labels import expression_vertices, head_weight
from conrt.errors import InputError
from conrt.shaders.coverage import welded_ids
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


def skin_shade_colors(character: Character) -> np.ndarray:
    """[V, 4] f32: :func:`shade_colors` with every skin vertex (Part.SKIN) given the face's MToon shade
    colour (the one on most of the face region's vertices), where the labels tell skin apart and the
    face has one. A VRM's materials are cut by texture, not by part: Godette's arms, thighs, ears and neck are
    skin on the body's material, whose shade colour (a light blue, for her clothes) shaded them
    blue-lavender beside a face shaded pink-lavender; her author's skin shade is the face's (session 14).
    Unchanged where the face has no shade colour (skin then takes ``skin_shade_tint``) or the labels do
    not tell skin apart."""
    shade = shade_colors(character)
    face = face_region(character) > 0
    if not face.any():
        return shade
    colours, which = np.unique(shade[face], axis=0, return_inverse=True)
    face_shade = colours[int(np.argmax(np.bincount(which.reshape(-1))))]
    if face_shade[3] < 0.5:  # the face has none: skin keeps the warm tint (or its own material's colour)
        return shade
    skin = np.asarray(character.mesh.parts) == Part.SKIN
    out = shade.copy()
    out[skin] = face_shade
    return out


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
    normal and so its own shadow), then the rest of the neck's own piece of skin (:func:`neck_pieces`).
    All 0 without head and neck joints or when the labels do not tell skin apart."""
    mesh, humanoid, names = character.mesh, character.humanoid, character.skeleton.names
    neck = humanoid.get(NECK_JOINT, names.index(NECK_JOINT) if NECK_JOINT in names else None)
    face = face_region(character)
    if neck is None or face_joint(character) is None or not skin_told_apart(character):
        return np.zeros(mesh.num_vertices, np.float32)
    skin = np.asarray(mesh.parts) == Part.SKIN
    region = skin & (head_weight(character, int(neck)) >= 0.5) & (face == 0)
    return (region | neck_pieces(character, int(neck), region, face > 0)).astype(np.float32)


def neck_pieces(character: Character, neck: int, region: np.ndarray, face: np.ndarray) -> np.ndarray:
    """[V] bool: the skin of each separate piece of mesh (triangles joined by edges, welded at uv seams)
    that holds neck ``region`` vertices and is a neck: no expression moves it, every skin vertex of it
    is skinned at least half to the neck's parent, the neck or the joints below the neck (not an arm),
    and no more of its vertices are in the ``face`` region than in the neck region. Session 14: a neck
    modelled as its own tube runs up into the head, its top skinned to the head: in the face region, so
    lit flat with the face, and the shade stopped half-way up (the triangles between a neck vertex and a
    face one): Godette's neck is a 7-vertex ring at the bottom and one in the head, so most of what shows
    under her chin was lit; a procedural neck's top 3 of its 10 rings are skinned to the head and its
    bottom 2 to the upper chest. A neck joined to the face or the body (a one-piece mesh) is no such piece:
    the neck ``region`` alone."""
    from scipy.sparse import coo_matrix  # lazy: scipy takes ~0.5 s to load, and only the toon look needs it
    from scipy.sparse.csgraph import connected_components  # lazy: as above

    mesh = character.mesh
    out = np.zeros(mesh.num_vertices, bool)
    if not region.any():
        return out
    ids = welded_ids(mesh.positions)
    tri = ids[np.asarray(mesh.triangles, np.int64)]
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    n = int(ids.max()) + 1
    _, piece = connected_components(coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)),
                                    directed=False)
    piece = piece[ids]
    skin = np.asarray(mesh.parts) == Part.SKIN
    parent = int(character.skeleton.parents[neck])
    on_parent = (np.asarray(mesh.weights, np.float64) * (np.asarray(mesh.joints) == parent)).sum(1)
    near_neck = head_weight(character, neck) + (on_parent if parent >= 0 else 0.0) >= 0.5
    moved = expression_vertices(character)
    for p in np.unique(piece[region]):
        this = piece == p
        if moved[this].any() or not near_neck[this & skin].all() or face[this].sum() > region[this].sum():
            continue
        out |= this & skin
    return out


def face_forward(character: Character, joint_world: np.ndarray, head: int) -> np.ndarray:
    """[3] f64 unit: the posed head's forward direction (FACE_FORWARD through the head's skinning
    matrix), character space."""
    skin = np.asarray(joint_world[head], np.float64) @ np.asarray(character.skeleton.inverse_bind[head], np.float64)
    forward = skin[:3, :3] @ np.asarray(FACE_FORWARD)
    return forward / max(np.linalg.norm(forward), 1e-12)
