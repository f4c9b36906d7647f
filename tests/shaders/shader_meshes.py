"""Small analytic characters for the shader tests, built straight from the
boundary dataclasses (no asset loader involved)."""
from __future__ import annotations

import numpy as np

from conrt.types import CanonicalBox, Character, Material, Part, SkinnedMesh, Skeleton


def _skeleton(names, parents, rest_world) -> Skeleton:
    rest_world = np.asarray(rest_world, np.float32)
    parents = np.asarray(parents, np.int32)
    local = np.empty_like(rest_world)
    for j, p in enumerate(parents):
        local[j] = rest_world[j] if p < 0 else np.linalg.inv(rest_world[p]) @ rest_world[j]
    inv = np.linalg.inv(rest_world).astype(np.float32)
    return Skeleton(names=tuple(names), parents=parents, rest_local=local.astype(np.float32),
                    rest_world=rest_world, inverse_bind=inv)


def _translate(x, y, z) -> np.ndarray:
    m = np.eye(4, dtype=np.float32)
    m[:3, 3] = (x, y, z)
    return m


def _mesh(positions, triangles, joints=None, weights=None, parts=None, **kw) -> SkinnedMesh:
    positions = np.asarray(positions, np.float32)
    v = len(positions)
    normals = kw.pop("normals", None)
    if normals is None:
        normals = np.tile(np.array([0, 0, 1], np.float32), (v, 1))
    return SkinnedMesh(
        positions=positions,
        normals=np.asarray(normals, np.float32),
        joints=np.zeros((v, 4), np.uint16) if joints is None else np.asarray(joints, np.uint16),
        weights=np.tile(np.array([1, 0, 0, 0], np.float32), (v, 1)) if weights is None else np.asarray(weights, np.float32),
        triangles=np.asarray(triangles, np.uint32),
        parts=np.full(v, Part.SKIN, np.uint8) if parts is None else np.asarray(parts, np.uint8),
        **kw,
    )


def quad_character(z: float = 0.0, **mesh_kw) -> Character:
    """A 1 x 1 square facing +Z at height 0..1, x in -0.5..0.5, one joint.
    Canonical box = the unit cube [-0.5, 0.5] x [0, 1] x [z - 0.5, z + 0.5]."""
    pos = [[-0.5, 0, z], [0.5, 0, z], [0.5, 1, z], [-0.5, 1, z]]
    mesh = _mesh(pos, [[0, 1, 2], [0, 2, 3]], **mesh_kw)
    skel = _skeleton(["root"], [-1], [np.eye(4)])
    box = CanonicalBox(origin=np.array([-0.5, 0, z - 0.5], np.float32), size=np.ones(3, np.float32))
    return Character(name="quad", skeleton=skel, mesh=mesh, box=box)


def two_quads_character() -> Character:
    """Two overlapping squares: a big one at z = 0 and a smaller one in front
    (z = +0.25, x in -0.25..0.25, y in 0.25..0.75). The near one must win."""
    far = [[-0.5, 0, 0], [0.5, 0, 0], [0.5, 1, 0], [-0.5, 1, 0]]
    near = [[-0.25, 0.25, 0.25], [0.25, 0.25, 0.25], [0.25, 0.75, 0.25], [-0.25, 0.75, 0.25]]
    # Near quad listed FIRST so drawing order alone would let the far one win.
    tris = [[4, 5, 6], [4, 6, 7], [0, 1, 2], [0, 2, 3]]
    parts = [Part.CLOTH] * 4 + [Part.SKIN] * 4
    mesh = _mesh(near + far, tris, parts=parts)
    skel = _skeleton(["root"], [-1], [np.eye(4)])
    box = CanonicalBox(origin=np.array([-0.5, 0, -0.5], np.float32), size=np.ones(3, np.float32))
    return Character(name="two_quads", skeleton=skel, mesh=mesh, box=box)


def cube_character(n: int = 1) -> Character:
    """A unit cube [-0.5, 0.5] x [0, 1] x [-0.5, 0.5] (24 vertices, outward
    normals, CCW faces), one joint. Box from the rest pose = the cube itself."""
    pos, nrm, tris = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = np.zeros(3)
            normal[axis] = sign
            u = np.zeros(3)
            u[(axis + 1) % 3] = 1
            w = np.cross(normal, u)
            base = len(pos)
            for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = 0.5 * (normal + a * u + b * w) + np.array([0, 0.5, 0])
                pos.append(p)
                nrm.append(normal)
            tris += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    mesh = _mesh(pos, tris, normals=nrm)
    skel = _skeleton(["root"], [-1], [np.eye(4)])
    return Character(name="cube", skeleton=skel, mesh=mesh, box=CanonicalBox.from_rest(mesh.positions))


def strip_character(segments: int = 16, width: float = 0.2, seed: int = 0) -> Character:
    """A vertical ribbon 0..1 tall skinned to a 3-joint chain (root at y=0,
    mid at y=0.5, tip at y=1) with blended weights near the joints, plus
    vertex colours, uv and a few parts: the general-case skinning test mesh."""
    ys = np.linspace(0, 1, segments + 1)
    pos, joints, weights = [], [], []
    for y in ys:
        for x in (-width / 2, width / 2):
            pos.append([x, y, 0.0])
            # Blend root/mid below 0.5, mid/tip above, smoothly.
            if y < 0.5:
                t = y / 0.5
                joints.append([0, 1, 0, 0])
                weights.append([1 - t, t, 0, 0])
            else:
                t = (y - 0.5) / 0.5
                joints.append([1, 2, 0, 0])
                weights.append([1 - t, t, 0, 0])
    tris = []
    for i in range(segments):
        a = 2 * i
        tris += [[a, a + 1, a + 3], [a, a + 3, a + 2]]
    rng = np.random.default_rng(seed)
    v = len(pos)
    colors = np.c_[rng.uniform(0.2, 1, (v, 3)), np.ones(v)].astype(np.float32)
    uv = np.c_[np.tile([0, 1], segments + 1), ys.repeat(2)].astype(np.float32)
    parts = np.where(np.arange(v) < v // 2, Part.SKIN, Part.CLOTH)
    mesh = _mesh(pos, tris, joints=joints, weights=weights, parts=parts, colors=colors, uv=uv,
                 material=Material(base_color_factor=np.array([1.0, 0.9, 0.8, 1.0], np.float32)))
    skel = _skeleton(["root", "mid", "tip"], [-1, 0, 1], [_translate(0, 0, 0), _translate(0, 0.5, 0), _translate(0, 1.0, 0)])
    return Character(name="strip", skeleton=skel, mesh=mesh, box=CanonicalBox.from_rest(mesh.positions))
