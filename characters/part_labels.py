"""Part labels for characters whose materials do not name their parts.

A glTF's part labels come from its material names (``gltf_io._part_from_material``); a one-material
model, or one whose materials are named for something else (Godette's "Face" and "Body", the Fox's
"fox_material", RobotExpressive's "Main"), is ``Part.SKIN`` all over, so the toon look's skin and face
rules (``shaders/material.py``: warm skin shadow, the face lit near flat) cannot reach it. This module
tells skin apart from the character itself, or says why it cannot:

1. **The face** is found from what moves it: the vertices the character's expressions (VRM blend
   shapes, preset-named morph targets) move on the head (eyes, brows, mouth). Around them (their box
   on the head's front, a quarter of its size wider) the colour covering most of the area is the
   **face's colour**.
2. It must be a **skin tone** (a red to orange-yellow hue, some colour, not too dark): a robot's grey
   screen or a fox's fur is not. Otherwise nothing is decided and the labels stay SKIN all over (the
   look as before).
3. **Skin** is every surface of the face's hue (lighter and darker shades of it too: palette textures
   hold skin as a gradient): the colour of each triangle (base colour x texture at its centre x vertex
   colour), a vertex skin where most of its triangles' area is. The expressions' vertices are the face,
   so skin; any other surface on the head is ``HAIR`` (the fringe, buns, a hairband), the rest
   ``CLOTH`` (clothes, shoes, bags).

The loader applies it (``gltf_io.load_character``) and says in ``meta["part_labels"]`` what it decided
(``conrt character info`` prints it). Labels found so change the toon look's shading, not the
character's line art: ``meta["part_lines"] = False`` tells the toon pass to draw no lines where they
change (its ink stays where the file's own geometry puts it). With part lines, Godette's fringe locks,
ears and sleeves took outlines her author did not draw, and the default shaded her worse than before
(face SSIM 0.887 -> 0.864 at 128²; without them 0.888, docs/real_character.md "Session 13").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conrt.characters.colour import srgb_to_linear
from conrt.types import Character, Part

FACE_JOINT = "head"  # the head: the humanoid bone (or a joint of that name); it and the joints below it
FACE_BOX_MARGIN = 0.25  # the face's box: the expressions' vertices' box, widened by this share of its size
FACE_FRONT = 0.3  # a face triangle faces forward: its normal's +Z component above this
FACE_COLOUR_DE = 10.0  # Lab distance within which colours count as the face's colour
FACE_COLOUR_SHARE = 0.4  # the face's colour must cover at least this share of the face box's area
# a skin tone (Lab): hue angle in degrees (0 = red, 90 = yellow) and chroma. Human skin measures about
# a* 5-25, b* 5-35 (hue 20-70 deg, chroma under 40) from pale to dark; anime skin is pinker (Godette's
# hue 21 deg) or paler, not more saturated
SKIN_HUES = (0.0, 70.0)
SKIN_CHROMA = (5.0, 40.0)  # greyer faces cannot be told from white or grey clothes by colour
MIN_FACE_LIGHTNESS = 20.0
# skin: the face's hue within this many degrees, its chroma 0.35 to 3 times the face's (a palette's
# skin gradient, lighter to darker: Godette's skin spans 0.39-2.2 times, her hair and clothes are
# 100 degrees or more away), and not black
SKIN_HUE_TOLERANCE = 20.0
SKIN_CHROMA_RATIO = (0.35, 3.0)
MIN_SKIN_LIGHTNESS = 15.0


PART_LINES_KEY = "part_lines"  # Character.meta: False where the toon pass draws no part lines (True if absent)


def draws_part_lines(character: Character) -> bool:
    """Whether the toon look inks where the part labels change: yes for labels a file or our generator
    gives, no for labels :func:`label_parts` inferred (``meta["part_lines"]`` False)."""
    return bool(character.meta.get(PART_LINES_KEY, True))


@dataclass(frozen=True)
class PartLabels:
    """What :func:`label_parts` decided: ``parts`` [V] u8 (None: nothing decided, keep the labels) and
    one line saying what and why (``meta["part_labels"]``)."""

    parts: np.ndarray | None
    decision: str


def head_joint(character: Character) -> int | None:
    """Index of the head (the humanoid map's FACE_JOINT, else a joint of that name), or None."""
    if FACE_JOINT in character.humanoid:
        return int(character.humanoid[FACE_JOINT])
    names = character.skeleton.names
    return names.index(FACE_JOINT) if FACE_JOINT in names else None


def head_weight(character: Character, head: int) -> np.ndarray:
    """[V] f64: each vertex's skinning weight on the joint ``head`` and the joints below it (eyes, jaw,
    hair chains)."""
    skel, mesh = character.skeleton, character.mesh
    below = np.zeros(skel.num_joints, bool)
    below[head] = True
    for j in range(skel.num_joints):  # parents come before children
        if skel.parents[j] >= 0 and below[skel.parents[j]]:
            below[j] = True
    return (np.asarray(mesh.weights, np.float64) * below[np.asarray(mesh.joints, np.int64)]).sum(1)


def expression_vertices(character: Character) -> np.ndarray:
    """[V] bool: the vertices some expression's morph targets move (by more than 1e-4 of the height)."""
    mesh = character.mesh
    used = np.zeros(mesh.num_morphs, bool)
    for weights in character.expressions.values():
        used |= np.asarray(weights) > 0
    if not used.any():
        return np.zeros(mesh.num_vertices, bool)
    return np.abs(np.asarray(mesh.morph_positions)[used]).max(axis=(0, 2)) > 1e-4 * character.height


def linear_to_lab(rgb: np.ndarray) -> np.ndarray:
    """[N, 3] linear sRGB -> [N, 3] CIE Lab (D65)."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = np.clip(np.asarray(rgb, np.float64), 0.0, None) @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack([116.0 * f[:, 1] - 16.0, 500.0 * (f[:, 0] - f[:, 1]), 200.0 * (f[:, 1] - f[:, 2])], 1)


def triangle_colours(character: Character) -> np.ndarray:
    """[F, 3] linear RGB albedo at each triangle's centre: base colour x the texture's texel at the
    centre's uv (wrapped; glTF rules: only with a texture and uv) x the mean COLOR_0 of its corners."""
    mesh = character.mesh
    tri = np.asarray(mesh.triangles, np.int64)
    rgb = np.tile(np.asarray(mesh.material.base_color_factor, np.float64)[:3], (len(tri), 1))
    tex = mesh.material.base_color_texture
    if tex is not None and mesh.uv is not None:
        tex = np.asarray(tex)
        h, w = tex.shape[:2]
        uv = np.mod(np.asarray(mesh.uv, np.float64)[tri].mean(1), 1.0)  # row 0 of the image is v = 0
        texel = tex[np.minimum((uv[:, 1] * h).astype(np.int64), h - 1),
                    np.minimum((uv[:, 0] * w).astype(np.int64), w - 1), :3] / 255.0
        rgb = rgb * srgb_to_linear(texel)
    if mesh.colors is not None:
        rgb = rgb * np.asarray(mesh.colors, np.float64)[tri, :3].mean(1)
    return rgb


def _undecided(why: str) -> PartLabels:
    return PartLabels(None, f"{why}: all SKIN, the skin and face rules off")


def label_parts(character: Character) -> PartLabels:
    """Tell skin from hair and clothes on a character whose part labels are SKIN all over (the module's
    docstring says how); labels already told apart are kept."""
    mesh = character.mesh
    if (np.asarray(mesh.parts) != Part.SKIN).any():
        return PartLabels(None, "from the material names")
    head = head_joint(character)
    if head is None:
        return _undecided("no head joint to find the face on")
    on_head = head_weight(character, head) >= 0.5
    if not any((np.asarray(w) > 0).any() for w in character.expressions.values()):
        return _undecided("no expression morph targets to find the face by")
    moved = expression_vertices(character) & on_head
    if not moved.any():
        return _undecided("the expressions move no vertex on the head")

    pos = np.asarray(mesh.positions, np.float64)
    tri = np.asarray(mesh.triangles, np.int64)
    corners = pos[tri]
    centre = corners.mean(1)
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    facing = cross[:, 2] / np.maximum(2.0 * area, 1e-30)
    lo, hi = pos[moved].min(0), pos[moved].max(0)
    pad = FACE_BOX_MARGIN * (hi - lo)
    in_box = ((centre[:, :2] >= lo[:2] - pad[:2]) & (centre[:, :2] <= hi[:2] + pad[:2])).all(1)
    face = np.flatnonzero(in_box & on_head[tri].all(1) & (facing > FACE_FRONT) & (area > 0))
    if not len(face):
        return _undecided("no forward-facing surface on the head around the expressions' vertices")
    lab = linear_to_lab(triangle_colours(character))

    # the face's colour: the Lab colour with the most face area within FACE_COLOUR_DE, refined to the
    # area-weighted mean of what lies that near it
    # (over the distinct colours, in 1-unit Lab steps: a painted face has many triangles, few colours)
    colours, which = np.unique(np.round(lab[face]), axis=0, return_inverse=True)
    colour_area = np.bincount(which.reshape(-1), weights=area[face], minlength=len(colours))
    near = np.linalg.norm(colours[:, None] - colours[None], axis=2) < FACE_COLOUR_DE
    mass = near.astype(np.float64) @ colour_area
    best = near[int(np.argmax(mass))]
    share = float(mass.max() / colour_area.sum())
    skin_lab = (colours[best] * colour_area[best, None]).sum(0) / colour_area[best].sum()
    light, chroma = float(skin_lab[0]), float(np.hypot(skin_lab[1], skin_lab[2]))
    hue = float(np.degrees(np.arctan2(skin_lab[2], skin_lab[1])))
    described = f"the face's colour Lab ({light:.0f}, {skin_lab[1]:.0f}, {skin_lab[2]:.0f}) on {share:.0%} of it"
    if share < FACE_COLOUR_SHARE:
        return _undecided(f"no one colour covers the face ({described})")
    if not (SKIN_CHROMA[0] <= chroma <= SKIN_CHROMA[1] and SKIN_HUES[0] <= hue <= SKIN_HUES[1]
            and light >= MIN_FACE_LIGHTNESS):
        return _undecided(f"not a skin tone ({described}: hue {hue:.0f} deg, chroma {chroma:.0f})")

    # skin triangles: the face's hue, lighter or darker
    t_chroma = np.hypot(lab[:, 1], lab[:, 2])
    t_hue = np.arctan2(lab[:, 2], lab[:, 1])
    off = np.degrees(np.abs(np.mod(t_hue - np.radians(hue) + np.pi, 2 * np.pi) - np.pi))
    skin_tri = (off <= SKIN_HUE_TOLERANCE) & (t_chroma >= SKIN_CHROMA_RATIO[0] * chroma) \
        & (t_chroma <= SKIN_CHROMA_RATIO[1] * chroma) & (lab[:, 0] >= MIN_SKIN_LIGHTNESS)
    # a vertex is skin where most of its triangles' area is
    v = mesh.num_vertices
    skin_area, all_area = np.zeros(v), np.zeros(v)
    for k in range(3):
        np.add.at(skin_area, tri[:, k], area * skin_tri)
        np.add.at(all_area, tri[:, k], area)
    skin = (skin_area > 0.5 * all_area) | moved  # the expressions' vertices are the face
    parts = np.where(skin, Part.SKIN, np.where(on_head, Part.HAIR, Part.CLOTH)).astype(np.uint8)
    counts = np.bincount(parts[all_area > 0], minlength=len(Part))  # of the vertices drawn (in a triangle)
    return PartLabels(parts, f"skin by colour ({described}, hue {hue:.0f} deg): skin {counts[Part.SKIN]}, "
                             f"hair {counts[Part.HAIR]}, cloth {counts[Part.CLOTH]} vertices")
