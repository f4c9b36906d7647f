"""Hair strands as PyBullet multibody spring chains (VRM spring-bone-like).

A strand's joints (root -> tip) become a floating-base multibody: the base is
the root joint, each further joint a link on a spherical joint whose motor is
a weak PD spring toward the rest bend (stiffness), plus joint damping (drag).
The base is much heavier than the strand and is steered every substep by
setting its velocity so it lands on the head's attachment point, so the chain
is pinned to the head while the links lag behind and swing. Link capsules
collide with the body capsules (head, neck, chest, shoulders, arms), not with
each other or other strands.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np
import pybullet as p

from conrt.errors import PhysicsError
from conrt.types import Character, SimRegion

from .rig import BODY_GROUP, HAIR_GROUP, VRM_COLLIDER_GROUP
from .transforms import matrix_to_quat, quat_to_rows, rotation_between, rows_to_quat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HairParams:
    link_mass: float = 0.01  # kg per segment
    base_mass: float = 50.0  # heavy, so the strand barely disturbs its pin
    stiffness: float = 0.1  # PD position gain toward the rest bend
    damping: float = 0.5  # PD velocity gain
    max_torque: float = 0.2  # N m: caps the spring (about the gravity torque of a 6-joint tail)
    joint_damping: float = 0.002
    radius_scale: float = 0.8  # collision radius = this x the measured strand radius
    radius: float | None = None  # fixed collision radius in metres (a VRM hit radius) instead of the measured one
    gravity_scale: float | None = None  # VRM gravity power: the chain's gravity as a multiple of the world's
    gravity_dir: tuple[float, float, float] = (0.0, -1.0, 0.0)  # VRM gravity direction (world, unit)
    # VRM colliders this chain collides with: (joint, local offset, radius, local tail or None)
    colliders: tuple = ()


# VRM's defaults: a chain with these values gets the HairParams defaults above
VRM_STIFFNESS, VRM_DRAG = 1.0, 0.4


def spring_params(base: HairParams, spring: dict | None) -> HairParams:
    """HairParams for one chain from its VRM spring parameters (``meta["spring_params"]``,
    see characters/gltf_io.py): stiffness and drag scale our spring and damping
    gains relative to VRM's defaults (1.0, 0.4), the hit radius becomes the
    collision radius, the gravity power (a multiple of the world's gravity) and
    direction replace the world's gravity on the chain (without them the chain
    feels the world's gravity, not VRM's default of none), and the chain's VRM
    colliders become spheres/capsules on their joints (``HairChain.place_colliders``)."""
    if not spring:
        return base
    out = {}
    if "stiffness" in spring:
        out["stiffness"] = base.stiffness * float(np.clip(spring["stiffness"] / VRM_STIFFNESS, 0.0, 8.0))
    if "drag" in spring:
        out["damping"] = base.damping * float(np.clip(spring["drag"] / VRM_DRAG, 0.05, 2.5))
    if spring.get("hit_radius", 0) > 0:
        out["radius"] = float(np.clip(spring["hit_radius"], 0.002, 0.2))
    if "gravity_power" in spring:
        out["gravity_scale"] = float(np.clip(spring["gravity_power"], 0.0, 4.0))
    if "gravity_dir" in spring:
        d = np.asarray(spring["gravity_dir"], np.float64)
        if np.linalg.norm(d) > 1e-9:
            out["gravity_dir"] = tuple(float(x) for x in d / np.linalg.norm(d))
    if spring.get("colliders"):
        out["colliders"] = tuple((int(c["joint"]), tuple(map(float, c["offset"])), float(c["radius"]),
                                  tuple(map(float, c["tail"])) if c.get("tail") is not None else None)
                                 for c in spring["colliders"])
    return replace(base, **out)


class HairChain:
    """One hair strand in a PyBullet client."""

    def __init__(self, client: int, character: Character, region: SimRegion, params: HairParams = HairParams()):
        if region.kind != "hair":
            raise PhysicsError(f"region {region.name!r} is {region.kind!r}, not hair")
        chain = [int(j) for j in region.chain]
        if len(chain) < 2:
            raise PhysicsError(f"hair region {region.name!r} needs at least 2 chain joints, has {len(chain)}")
        sk = character.skeleton
        for a, b in zip(chain[:-1], chain[1:]):
            if sk.parents[b] != a:
                raise PhysicsError(f"hair region {region.name!r}: {sk.names[b]} is not a child of {sk.names[a]}")
        self.client, self.character, self.region, self.params = client, character, region, params
        self.chain = chain
        self.anchor = region.anchor_joint
        rest = sk.rest_world.astype(np.float64)
        self.rest = rest[chain]  # [C, 4, 4]
        # root joint in the anchor's frame (constant)
        self.attach = np.linalg.inv(rest[self.anchor]) @ rest[chain[0]]
        pos = rest[chain, :3, 3]
        seg = np.diff(pos, axis=0)
        seg = np.concatenate([seg, seg[-1:] * 0.5])  # tip: a half-length stub
        radius = (np.full(len(chain), params.radius) if params.radius is not None
                  else self._radii(character, chain, pos, seg) * params.radius_scale)
        c = client

        def capsule(k):
            inv = rest[chain[k], :3, :3].T
            d = inv @ seg[k]
            length = float(np.linalg.norm(d))
            return p.createCollisionShape(
                p.GEOM_CAPSULE, radius=float(radius[k]), height=max(length - 2 * radius[k], 1e-3),
                collisionFramePosition=(d / 2).tolist(),
                collisionFrameOrientation=matrix_to_quat(rotation_between((0, 0, 1), d)).tolist(), physicsClientId=c)

        n = len(chain) - 1
        self.body = p.createMultiBody(
            baseMass=params.base_mass, baseCollisionShapeIndex=-1,  # the root segment sits on the scalp: no contact
            basePosition=pos[0].tolist(), baseOrientation=matrix_to_quat(rest[chain[0], :3, :3]).tolist(),
            linkMasses=[params.link_mass] * n, linkCollisionShapeIndices=[capsule(k) for k in range(1, n + 1)],
            linkVisualShapeIndices=[-1] * n,
            linkPositions=[sk.rest_local[j, :3, 3].astype(np.float64).tolist() for j in chain[1:]],
            linkOrientations=[matrix_to_quat(sk.rest_local[j, :3, :3]).tolist() for j in chain[1:]],
            linkInertialFramePositions=[[0, 0, 0]] * n, linkInertialFrameOrientations=[[0, 0, 0, 1]] * n,
            linkParentIndices=list(range(n)), linkJointTypes=[p.JOINT_SPHERICAL] * n, linkJointAxis=[[0, 0, 1]] * n,
            physicsClientId=c,
        )
        for k in range(-1, n):
            p.setCollisionFilterGroupMask(self.body, k, HAIR_GROUP, BODY_GROUP, physicsClientId=c)
            p.changeDynamics(self.body, k, linearDamping=0.0, angularDamping=0.0, jointDamping=params.joint_damping,
                             physicsClientId=c)
        self._total_mass = params.base_mass + n * params.link_mass
        self._links = list(range(n))
        self._length = float(np.linalg.norm(np.diff(self.rest[:, :3, 3], axis=0), axis=1).sum())
        self._inertia = 0.4 * params.base_mass * 0.1 ** 2  # a 10 cm ball: only sets the torque scale
        p.changeDynamics(self.body, -1, localInertiaDiagonal=[self._inertia] * 3, physicsClientId=c)
        self.resets = 0
        self._springs()
        self._seg = seg
        self._radius = radius
        self._colliders = [self._collider(*col, n) for col in params.colliders]

    def _collider(self, joint, offset, radius, tail, n):
        """A static sphere/capsule body for one VRM collider, touching only this chain's
        links: its filter mask is empty and per-pair filters switch on the links."""
        c = self.client
        r = max(radius, 1e-3)
        if tail is None:
            shape = p.createCollisionShape(p.GEOM_SPHERE, radius=r, physicsClientId=c)
        else:
            length = float(np.linalg.norm(np.subtract(tail, offset)))
            shape = p.createCollisionShape(p.GEOM_CAPSULE, radius=r, height=max(length, 1e-4), physicsClientId=c)
        body = p.createMultiBody(baseMass=0, baseCollisionShapeIndex=shape, baseVisualShapeIndex=-1,
                                 physicsClientId=c)
        p.setCollisionFilterGroupMask(body, -1, VRM_COLLIDER_GROUP, 0, physicsClientId=c)
        for k in range(n):
            p.setCollisionFilterPair(self.body, body, k, -1, 1, physicsClientId=c)
        return body, joint, np.array([*offset, 1.0]), None if tail is None else np.array([*tail, 1.0])

    @property
    def collider_joints(self) -> list[int]:
        return [joint for _, joint, _, _ in self._colliders]

    def place_colliders(self, joint_world) -> None:
        """Move this chain's VRM colliders onto their joints (``joint_world(j)``: [4, 4]
        world matrix of joint j; called every substep, like ``drive``)."""
        for body, joint, a, b in self._colliders:
            m = joint_world(joint)
            pa = (m @ a)[:3]
            if b is None:
                pos, orn = pa, (0, 0, 0, 1)
            else:
                pb = (m @ b)[:3]
                pos, orn = (pa + pb) / 2, matrix_to_quat(rotation_between((0, 0, 1), pb - pa))
            p.resetBasePositionAndOrientation(body, [float(x) for x in pos], [float(x) for x in orn],
                                              physicsClientId=self.client)

    def ignore_overlaps(self, body) -> int:
        """Switch off contacts between strand links and the body colliders they already
        overlap in the rest pose (a twin tail resting on a shoulder would otherwise be
        shot out of it). Returns the number of pairs switched off."""
        rest = self.character.skeleton.rest_world.astype(np.float64)
        caps = body.world_capsules(rest, [j for _, _, j in body.colliders()])
        off = 0
        for k in range(1, len(self.chain)):
            a = rest[self.chain[k], :3, 3]
            pts = a + np.linspace(0, 1, 6)[:, None] * self._seg[k]
            for (bid, link, _), cap in zip(body.colliders(), caps):
                ab = cap[3:6] - cap[:3]
                t = np.clip((pts - cap[:3]) @ ab / max(ab @ ab, 1e-12), 0, 1)
                d = np.linalg.norm(pts - (cap[:3] + t[:, None] * ab), axis=1).min()
                if d < cap[6] + self._radius[k] + 0.005:
                    p.setCollisionFilterPair(self.body, bid, k - 1, link, 0, physicsClientId=self.client)
                    off += 1
        return off

    @staticmethod
    def _radii(character, chain, pos, seg):
        mesh = character.mesh
        owner = mesh.joints[np.arange(mesh.num_vertices), mesh.weights.argmax(1)]
        out = np.full(len(chain), 0.015)
        for k, j in enumerate(chain):
            v = mesh.positions[owner == j].astype(np.float64)
            if len(v) >= 3:
                ab = seg[k]
                t = np.clip(((v - pos[k]) @ ab) / max(ab @ ab, 1e-12), 0, 1)
                d = np.linalg.norm(v - (pos[k] + t[:, None] * ab), axis=1)
                out[k] = np.clip(np.median(d), 0.005, 0.05)
        return out

    def _springs(self) -> None:
        n = len(self.chain) - 1
        pr = self.params
        p.setJointMotorControlMultiDofArray(
            self.body, list(range(n)), p.POSITION_CONTROL, targetPositions=[[0, 0, 0, 1]] * n,
            positionGains=[pr.stiffness] * n, velocityGains=[pr.damping] * n,
            forces=[[pr.max_torque] * 3] * n, physicsClientId=self.client)

    def target(self, anchor_world: np.ndarray) -> np.ndarray:
        """[4, 4] where the strand's root belongs for an anchor (head) world matrix."""
        return anchor_world @ self.attach

    def drive(self, goal: np.ndarray, dt: float, gravity: float) -> None:
        """Push the heavy base so it lands on ``goal`` ([4, 4] root world matrix) after
        the next substep of length dt. A force (not a velocity reset) so the links
        feel the acceleration and lag behind. Plain floats: this runs per strand per substep."""
        c, pr = self.client, self.params
        pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=c)
        v, w = p.getBaseVelocity(self.body, physicsClientId=c)
        m, inv_dt = pr.base_mass, 1.0 / dt
        (g0, g1, g2, gx), (g3, g4, g5, gy), (g6, g7, g8, gz), _ = goal.tolist()
        force = [m * ((gx - pos[0]) * inv_dt - v[0]) * inv_dt, m * ((gy - pos[1]) * inv_dt - v[1]) * inv_dt,
                 m * ((gz - pos[2]) * inv_dt - v[2]) * inv_dt]
        force[1] += gravity * self._total_mass
        # rotation still to go (world frame) as axis * angle: goal R @ base R^T, on plain floats
        (n0, n1, n2), (n3, n4, n5), (n6, n7, n8) = quat_to_rows(orn)
        x, y, z, qw = rows_to_quat(
            ((g0 * n0 + g1 * n1 + g2 * n2, g0 * n3 + g1 * n4 + g2 * n5, g0 * n6 + g1 * n7 + g2 * n8),
             (g3 * n0 + g4 * n1 + g5 * n2, g3 * n3 + g4 * n4 + g5 * n5, g3 * n6 + g4 * n7 + g5 * n8),
             (g6 * n0 + g7 * n1 + g8 * n2, g6 * n3 + g7 * n4 + g8 * n5, g6 * n6 + g7 * n7 + g8 * n8)))
        s = math.sqrt(x * x + y * y + z * z)
        k = 2 * math.atan2(s, qw) / max(s, 1e-12) * inv_dt
        torque = [self._inertia * (a * k - b) * inv_dt for a, b in zip((x, y, z), w)]
        p.applyExternalForce(self.body, -1, force, pos, p.WORLD_FRAME, physicsClientId=c)
        p.applyExternalTorque(self.body, -1, torque, p.WORLD_FRAME, physicsClientId=c)
        if pr.gravity_scale is not None:  # VRM gravity: cancel the world's on each link, add the chain's own
            m, s_ = pr.link_mass, pr.gravity_scale * gravity
            extra = [m * s_ * d for d in pr.gravity_dir]
            extra[1] += m * gravity
            for st, k in zip(p.getLinkStates(self.body, self._links, physicsClientId=c), self._links):
                p.applyExternalForce(self.body, k, extra, st[0], p.WORLD_FRAME, physicsClientId=c)

    def joint_world(self) -> np.ndarray:
        """[C, 4, 4] f64 world matrices of the chain joints, root first."""
        c = self.client
        pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=c)
        # computeForwardKinematics: the cached link transforms lag the base by one integration
        states = p.getLinkStates(self.body, self._links, computeForwardKinematics=1, physicsClientId=c)
        quats = [orn] + [s[5] for s in states]
        out = np.zeros((len(self.chain), 4, 4))
        out[:, 3, 3] = 1.0
        # PyBullet's C helper beats NumPy on a handful of quaternions
        out[:, :3, :3] = np.array([p.getMatrixFromQuaternion(q) for q in quats]).reshape(-1, 3, 3)
        out[:, :3, 3] = [pos] + [s[4] for s in states]
        return out

    def healthy(self, world: np.ndarray, anchor_world: np.ndarray) -> bool:
        """False on NaN/inf, or a root torn off the head / links stretched (the joints cannot stretch)."""
        return bool(chains_healthy([self], [world], anchor_world[None])[0])

    def reset(self, anchor_world: np.ndarray, count: bool = True) -> None:
        """Put the strand back in its rest shape carried by the head, at rest
        (``count``: a recovery, counted in ``resets``)."""
        c = self.client
        goal = self.target(anchor_world)
        p.resetBasePositionAndOrientation(self.body, goal[:3, 3].tolist(), matrix_to_quat(goal[:3, :3]).tolist(),
                                          physicsClientId=c)
        p.resetBaseVelocity(self.body, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        n = len(self.chain) - 1
        p.resetJointStatesMultiDof(self.body, list(range(n)), targetValues=[[0, 0, 0, 1]] * n,
                                   targetVelocities=[[0, 0, 0]] * n, physicsClientId=c)
        self.resets += int(count)


def chains_healthy(chains: list[HairChain], worlds: list[np.ndarray], anchor_worlds: np.ndarray) -> np.ndarray:
    """``HairChain.healthy`` of several strands at once ([K] bool; ``worlds``: each strand's
    [C, 4, 4] joint matrices, ``anchor_worlds``: [K, 4, 4]). One NumPy pass: the world checks
    every strand every frame, and a dozen small calls per strand were a fifth of its read."""
    sizes = [len(w) for w in worlds]
    starts = np.cumsum([0] + sizes[:-1])
    w = np.concatenate(worlds)  # [T, 4, 4]
    finite = np.logical_and.reduceat(np.isfinite(w.reshape(len(w), 16)).all(1), starts)
    pos = w[:, :3, 3]
    root = pos[starts]
    reach = np.sqrt(np.maximum.reduceat(((pos - np.repeat(root, sizes, 0)) ** 2).sum(1), starts))
    attach = np.stack([h.attach[:, 3] for h in chains])  # the root in its anchor's frame (homogeneous)
    goal = np.einsum("kab,kb->ka", anchor_worlds, attach)[:, :3]  # = target(anchor)[:3, 3]
    root_err = np.sqrt(((root - goal) ** 2).sum(1))
    length = np.array([h._length for h in chains])
    return finite & (root_err < 0.5 * length + 0.05) & (reach < 1.5 * length + 0.05)
