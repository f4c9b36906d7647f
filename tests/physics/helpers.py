"""Shared helpers of the physics tests."""
from __future__ import annotations

import numpy as np
import pygltflib

from conrt.physics.transforms import quat_to_matrix
from conrt.types import Skeleton


def gltf_skeleton(path) -> Skeleton:
    """The first skin of a glTF file as a Skeleton (node TRS rest pose), independent of characters/."""
    g = pygltflib.GLTF2().load(str(path))
    joints = list(g.skins[0].joints)
    parent_of = {c: i for i, n in enumerate(g.nodes) for c in (n.children or [])}
    order = []
    def visit(j):
        if j in order:
            return
        p = parent_of.get(j)
        if p in joints:
            visit(p)
        order.append(j)
    for j in joints:
        visit(j)
    local = np.tile(np.eye(4), (len(order), 1, 1))
    for k, j in enumerate(order):
        n = g.nodes[j]
        if n.rotation is not None:
            local[k, :3, :3] = quat_to_matrix(np.array(n.rotation))
        if n.translation is not None:
            local[k, :3, 3] = n.translation
    parents = np.array([order.index(parent_of[j]) if parent_of.get(j) in order else -1 for j in order], np.int32)
    world = local.copy()
    for k, p in enumerate(parents):
        if p >= 0:
            world[k] = world[p] @ local[k]
    return Skeleton(names=tuple(g.nodes[j].name or f"node_{j}" for j in order), parents=parents,
                    rest_local=local.astype(np.float32), rest_world=world.astype(np.float32),
                    inverse_bind=np.linalg.inv(world).astype(np.float32))
