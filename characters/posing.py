"""Forward kinematics and linear-blend skinning in NumPy.

This is the reference the GPU skinning in ``shaders/`` is tested against, and
the helper physics/animation use to turn local joint rotations into a Pose.
"""
from __future__ import annotations

import numpy as np

from conrt.errors import InputError
from conrt.types import Character, Pose, Skeleton, SkinnedMesh


def forward_kinematics(parents: np.ndarray, local: np.ndarray) -> np.ndarray:
    """[J] parents (-1 = root, parents before children), [J, 4, 4] local
    (joint -> parent) -> [J, 4, 4] f32 world matrices."""
    world = np.empty_like(local, dtype=np.float32)
    for j, p in enumerate(parents):
        world[j] = local[j] if p < 0 else world[p] @ local[j]
    return world


def rest_pose(character: Character) -> Pose:
    """The bind (T-)pose: every vertex at its rest position."""
    return Pose(joint_world=character.skeleton.rest_world.astype(np.float32).copy())


def rotation_matrix(axis, angle: float) -> np.ndarray:
    """[3, 3] f32 rotation by ``angle`` radians about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return (np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)).astype(np.float32)


def pose_from_rotations(
    skeleton: Skeleton,
    rotations: dict[str, np.ndarray] | None = None,
    root_offset=(0.0, 0.0, 0.0),
) -> Pose:
    """Pose from extra local rotations applied on top of the rest pose.

    ``rotations`` maps joint name -> [3, 3] rotation in the joint's parent
    frame, applied after the rest rotation (``local = rest_local @ R`` in
    rotation, translation unchanged). ``root_offset`` moves every root joint in
    character space.
    """
    local = skeleton.rest_local.astype(np.float32).copy()
    for name, rot in (rotations or {}).items():
        j = skeleton.index(name)
        rot = np.asarray(rot, np.float32)
        if rot.shape != (3, 3) or not np.isfinite(rot).all():
            raise InputError(f"rotation for joint {name!r} must be a finite 3x3 matrix, got shape {rot.shape}")
        local[j, :3, :3] = local[j, :3, :3] @ rot
    for j, p in enumerate(skeleton.parents):
        if p < 0:
            local[j, :3, 3] += np.asarray(root_offset, np.float32)
    return Pose(joint_world=forward_kinematics(skeleton.parents, local))


def skinning_matrices(skeleton: Skeleton, pose: Pose) -> np.ndarray:
    """[J, 4, 4] f32: world @ inverse_bind per joint."""
    pose.validate(skeleton.num_joints)
    return np.einsum("jab,jbc->jac", pose.joint_world, skeleton.inverse_bind).astype(np.float32)


def skin_vertices(mesh: SkinnedMesh, skin: np.ndarray) -> np.ndarray:
    """Linear-blend skinning: [V, 3] f32 posed positions from [J, 4, 4] skin matrices."""
    blended = np.einsum("vk,vkab->vab", mesh.weights, skin[mesh.joints.astype(np.int64)])
    p = np.concatenate([mesh.positions, np.ones((mesh.num_vertices, 1), np.float32)], 1)
    return np.einsum("vab,vb->va", blended, p)[:, :3].astype(np.float32)


def posed_positions(character: Character, pose: Pose) -> np.ndarray:
    """[V, 3] f32 vertex positions for a pose, simulated vertices included."""
    out = skin_vertices(character.mesh, skinning_matrices(character.skeleton, pose))
    if pose.sim_indices is not None:
        out[pose.sim_indices] = pose.sim_positions
    return out
