"""A small humanoid stick character for tests, demos and benchmarks.

Tube limbs on the VRM humanoid joints, a cone skirt (cloth region, waistband
pinned, anchored at the hips) and hair strands (hair regions with their own
joint chains, anchored at the head). It only needs ``conrt.types``, so physics
can be exercised without the procedural generator.
"""
from __future__ import annotations

import numpy as np

from conrt.types import CanonicalBox, Character, Part, SimRegion, Skeleton, SkinnedMesh

# name, parent, rest position (metres, +Y up, facing +Z, +X = character's left)
_JOINTS = [
    ("hips", None, (0, 0.90, 0)),
    ("spine", "hips", (0, 1.00, 0)),
    ("chest", "spine", (0, 1.12, 0)),
    ("upperChest", "chest", (0, 1.24, 0)),
    ("neck", "upperChest", (0, 1.38, 0)),
    ("head", "neck", (0, 1.46, 0)),
    ("leftEye", "head", (0.03, 1.55, 0.08)),
    ("rightEye", "head", (-0.03, 1.55, 0.08)),
    ("jaw", "head", (0, 1.47, 0.05)),
    ("leftShoulder", "upperChest", (0.03, 1.34, 0)),
    ("leftUpperArm", "leftShoulder", (0.16, 1.34, 0)),
    ("leftLowerArm", "leftUpperArm", (0.42, 1.34, 0)),
    ("leftHand", "leftLowerArm", (0.66, 1.34, 0)),
    ("rightShoulder", "upperChest", (-0.03, 1.34, 0)),
    ("rightUpperArm", "rightShoulder", (-0.16, 1.34, 0)),
    ("rightLowerArm", "rightUpperArm", (-0.42, 1.34, 0)),
    ("rightHand", "rightLowerArm", (-0.66, 1.34, 0)),
    ("leftUpperLeg", "hips", (0.09, 0.86, 0)),
    ("leftLowerLeg", "leftUpperLeg", (0.09, 0.48, 0)),
    ("leftFoot", "leftLowerLeg", (0.09, 0.08, 0)),
    ("leftToes", "leftFoot", (0.09, 0.02, 0.10)),
    ("rightUpperLeg", "hips", (-0.09, 0.86, 0)),
    ("rightLowerLeg", "rightUpperLeg", (-0.09, 0.48, 0)),
    ("rightFoot", "rightLowerLeg", (-0.09, 0.08, 0)),
    ("rightToes", "rightFoot", (-0.09, 0.02, 0.10)),
]
_TUBES = {  # joint -> (child, radius): a skinned tube along the bone
    "hips": ("spine", 0.13), "spine": ("chest", 0.12), "chest": ("upperChest", 0.13),
    "upperChest": ("neck", 0.13), "neck": ("head", 0.04), "head": (None, 0.10),
    "leftUpperArm": ("leftLowerArm", 0.04), "leftLowerArm": ("leftHand", 0.035), "leftHand": (None, 0.03),
    "rightUpperArm": ("rightLowerArm", 0.04), "rightLowerArm": ("rightHand", 0.035), "rightHand": (None, 0.03),
    "leftUpperLeg": ("leftLowerLeg", 0.065), "leftLowerLeg": ("leftFoot", 0.05), "leftFoot": ("leftToes", 0.04),
    "rightUpperLeg": ("rightLowerLeg", 0.065), "rightLowerLeg": ("rightFoot", 0.05), "rightFoot": ("rightToes", 0.04),
}
_HAIR = {  # strand -> joint positions root -> tip
    "hair_back": [(0, 1.58, -0.08), (0, 1.45, -0.13), (0, 1.30, -0.14), (0, 1.15, -0.14)],
    "tail_left": [(0.09, 1.56, -0.05), (0.16, 1.42, -0.07), (0.18, 1.28, -0.07), (0.19, 1.14, -0.07)],
    "tail_right": [(-0.09, 1.56, -0.05), (-0.16, 1.42, -0.07), (-0.18, 1.28, -0.07), (-0.19, 1.14, -0.07)],
}


def _tube(a, b, r, nt=8, nl=4):
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    n = d / np.linalg.norm(d)
    u = np.cross(n, (0, 0, 1) if abs(n[2]) < 0.9 else (1, 0, 0))
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    ang = 2 * np.pi * np.arange(nt) / nt
    ring = np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * v
    pts = np.concatenate([a + d * (k / (nl - 1)) + r * ring for k in range(nl)])
    tris = []
    for k in range(nl - 1):
        for i in range(nt):
            p, q = k * nt + i, k * nt + (i + 1) % nt
            tris += [(p, q, p + nt), (q, q + nt, p + nt)]
    return pts, np.array(tris), np.repeat(ring, nl, 0)[: len(pts)]


def stick_character(skirt=True, hair: tuple[str, ...] = ("hair_back", "tail_left", "tail_right"),
                    skirt_rings: int = 10, skirt_segments: int = 32, cape: bool = False) -> Character:
    names = [n for n, _, _ in _JOINTS]
    parents = [names.index(p) if p else -1 for _, p, _ in _JOINTS]
    pos = [np.asarray(x, float) for _, _, x in _JOINTS]
    for strand in hair:
        for k, x in enumerate(_HAIR[strand]):
            names.append(f"{strand}_{k}")
            parents.append(names.index("head") if k == 0 else len(names) - 2)
            pos.append(np.asarray(x, float))
    pos = np.array(pos)
    world = np.tile(np.eye(4), (len(names), 1, 1))
    world[:, :3, 3] = pos
    local = world.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            local[j, :3, 3] = pos[j] - pos[p]
    skel = Skeleton(
        names=tuple(names), parents=np.array(parents, np.int32),
        rest_local=local.astype(np.float32), rest_world=world.astype(np.float32),
        inverse_bind=np.linalg.inv(world).astype(np.float32),
    )

    P, N, J, W, T, parts = [], [], [], [], [], []

    def add(pts, tris, nrm, joints, weights, part):
        base = sum(len(x) for x in P)
        P.append(pts)
        N.append(nrm)
        T.append(tris + base)
        J.append(np.broadcast_to(joints, (len(pts), 4)))
        W.append(np.broadcast_to(weights, (len(pts), 4)))
        parts.append(np.full(len(pts), part, np.uint8))
        return np.arange(base, base + len(pts))

    for joint, (child, r) in _TUBES.items():
        j = names.index(joint)
        a = pos[j]
        b = pos[names.index(child)] if child else a + (0, 0.2, 0) if joint == "head" else a + (pos[j] - pos[parents[j]]) * 0.4
        pts, tris, nrm = _tube(a, b, r)
        add(pts, tris, nrm, [j, 0, 0, 0], [1, 0, 0, 0], Part.SKIN)

    regions = []
    if skirt:
        hips = names.index("hips")
        ys = np.linspace(0.93, 0.55, skirt_rings)
        rs = np.linspace(0.145, 0.30, skirt_rings)
        ang = 2 * np.pi * np.arange(skirt_segments) / skirt_segments
        pts = np.concatenate([np.stack([r * np.sin(ang), np.full_like(ang, y), r * np.cos(ang)], 1) for y, r in zip(ys, rs)])
        nrm = pts * (1, 0, 1)
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
        tris = []
        for k in range(skirt_rings - 1):
            for i in range(skirt_segments):
                p, q = k * skirt_segments + i, k * skirt_segments + (i + 1) % skirt_segments
                tris += [(p, p + skirt_segments, q), (q, p + skirt_segments, q + skirt_segments)]
        idx = add(pts, np.array(tris), nrm, [hips, 0, 0, 0], [1, 0, 0, 0], Part.CLOTH)
        regions.append(SimRegion(name="skirt", kind="cloth", anchor_joint=hips, vertices=idx.astype(np.int32),
                                 pinned=idx[:skirt_segments].astype(np.int32)))
    if cape:  # an open half cylinder behind the back, hanging from the upper chest
        chest = names.index("upperChest")
        ys = np.linspace(1.34, 0.75, 10)
        ang = np.linspace(np.pi - 1.2, np.pi + 1.2, 16)
        pts = np.concatenate([np.stack([0.2 * np.sin(ang), np.full_like(ang, y), 0.2 * np.cos(ang) - 0.02], 1)
                              for y in ys])
        nrm = pts * (1, 0, 1)
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
        tris = [(k * 16 + i, (k + 1) * 16 + i, k * 16 + i + 1) for k in range(9) for i in range(15)]
        tris += [(k * 16 + i + 1, (k + 1) * 16 + i, (k + 1) * 16 + i + 1) for k in range(9) for i in range(15)]
        idx = add(pts, np.array(tris), nrm, [chest, 0, 0, 0], [1, 0, 0, 0], Part.CLOTH)
        regions.append(SimRegion(name="cape", kind="cloth", anchor_joint=chest, vertices=idx.astype(np.int32),
                                 pinned=idx[:16].astype(np.int32)))
    for strand in hair:
        chain = np.array([names.index(f"{strand}_{k}") for k in range(len(_HAIR[strand]))], np.int32)
        for a, b in zip(chain[:-1], chain[1:]):
            pts, tris, nrm = _tube(pos[a], pos[b], 0.025, nt=6, nl=3)
            add(pts, tris, nrm, [a, 0, 0, 0], [1, 0, 0, 0], Part.HAIR)
        regions.append(SimRegion(name=strand, kind="hair", anchor_joint=names.index("head"), chain=chain))

    mesh = SkinnedMesh(
        positions=np.concatenate(P).astype(np.float32), normals=np.concatenate(N).astype(np.float32),
        joints=np.concatenate(J).astype(np.uint16), weights=np.concatenate(W).astype(np.float32),
        triangles=np.concatenate(T).astype(np.uint32), parts=np.concatenate(parts),
    )
    humanoid = {n: names.index(n) for n in names if not any(n.startswith(s) for s in _HAIR)}
    return Character(name="stick", skeleton=skel, mesh=mesh, box=CanonicalBox.from_rest(mesh.positions),
                     regions=tuple(regions), humanoid=humanoid, meta={"generator": "conrt.physics.stick"})
