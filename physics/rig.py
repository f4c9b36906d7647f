"""The body as a PyBullet multibody of capsules built from the skeleton.

One link per body joint (every joint that is not part of a hair chain), with a
spherical joint to its parent and a capsule from the joint to its main child,
radius measured from the skinned vertices (the joint with the largest weight
owns a vertex; simulated regions are left out). The hips are the fixed base
and carry no collision shape; the legs, torso, arms and head collide with cloth
and hair, and a skirt on the hips with a capsule across the pelvis
(``pelvis_capsule``; its pinned waistband is never pushed).

Modes:
- ``kinematic`` (default): every substep the base and joint states are set
  from the animation, the capsules only serve as colliders.
- ``physical``: the base follows the hips, the joints are PD motors tracking
  the animation, so :meth:`BodyRig.poke` pushes limbs that then recover.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pybullet as p

from conrt.errors import PhysicsError
from conrt.types import Character

from .transforms import matrix_to_quat, quat_to_matrix, rotation_between, rotation_part, slerp

log = logging.getLogger(__name__)

BODY_GROUP = 2  # collision filter group bits (bit 1 is Bullet's default group, the soft bodies')
HAIR_GROUP = 4
VRM_COLLIDER_GROUP = 8  # a VRM file's spring-bone colliders: touch only the chains that list them


@dataclass(frozen=True)
class Capsule:
    joint: int  # skeleton joint index
    a: np.ndarray  # [3] f64 segment start, character rest space
    b: np.ndarray  # [3] f64 segment end
    radius: float


def _segment_distance(pts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((pts - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(pts - (a + t[:, None] * ab), axis=1)


def rigid(m: np.ndarray) -> np.ndarray:
    """[..., 4, 4] joint matrices -> their rotation + translation part (polar
    decomposition, no scale). PyBullet frames are rigid; rigs whose joints carry a
    scale (RobotExpressive: 100 on every joint, a unit conversion) fed their
    scaled matrices as rotations gave quaternions of the wrong rotation and
    capsule frames 100x off, and the multibody went NaN on its first step."""
    m = np.asarray(m, np.float64)
    rot = m[..., :3, :3]
    if np.abs(np.einsum("...ij,...ij->...j", rot, rot) - 1.0).max(initial=0.0) < 1e-6:
        return m  # unit columns: already rigid (every frame of a conrt character; skips the SVDs)
    r = rotation_part(rot)
    out = np.zeros(m.shape[:-2] + (4, 4))
    out[..., :3, :3], out[..., :3, 3], out[..., 3, 3] = r, m[..., :3, 3], 1.0
    return out


def hair_joints(character: Character) -> set[int]:
    return {int(j) for r in character.regions if r.kind == "hair" for j in r.chain}


def body_capsules(character: Character, radius_quantile: float = 0.6) -> list[Capsule]:
    """Capsule colliders of the body joints, sized from the skin weights."""
    sk, mesh = character.skeleton, character.mesh
    skip = hair_joints(character)
    names = {j: n for n, j in character.humanoid.items()}
    for n in ("leftEye", "rightEye", "jaw"):
        if n in character.humanoid:
            skip.add(character.humanoid[n])
    pos = sk.rest_world[:, :3, 3].astype(np.float64)
    children: dict[int, list[int]] = {}
    for j, par in enumerate(sk.parents):
        if j not in skip:
            children.setdefault(int(par), []).append(j)

    def subtree(j):
        return 1 + sum(subtree(c) for c in children.get(j, []))

    owner = mesh.joints[np.arange(mesh.num_vertices), mesh.weights.argmax(1)].astype(np.int64)
    simulated = np.zeros(mesh.num_vertices, bool)
    for r in character.regions:
        simulated[r.vertices] = True
    verts = mesh.positions.astype(np.float64)
    out = []
    for j in range(sk.num_joints):
        if j in skip:
            continue
        kids = children.get(j, [])
        name = names.get(j, "")
        if name == "hips":  # spine direction for the hips, legs collide on their own
            kids = [k for k in kids if names.get(k) == "spine"] or kids
        if kids:
            child = max(kids, key=lambda k: (subtree(k), -k))
            a, b = pos[j], pos[child]
        else:  # leaf: extend along the parent bone by a short stub
            par = sk.parents[j]
            d = pos[j] - pos[par] if par >= 0 else np.array([0, 0.1, 0])
            mine = verts[(owner == j) & ~simulated]
            if len(mine):  # reach as far as the owned vertices do
                ext = float(np.quantile((mine - pos[j]) @ (d / max(np.linalg.norm(d), 1e-9)), 0.9))
                d = d / max(np.linalg.norm(d), 1e-9) * max(ext, 0.02)
            else:
                d = d * 0.4
            a, b = pos[j], pos[j] + d
        mine = verts[(owner == j) & ~simulated]
        length = float(np.linalg.norm(b - a))
        if len(mine) >= 4:
            r = float(np.quantile(_segment_distance(mine, a, b), radius_quantile))
        else:
            r = 0.25 * length
        r = float(np.clip(r, 0.01, max(0.6 * length, 0.03)))
        out.append(Capsule(joint=j, a=a, b=b, radius=r))
    return out


# the pelvis capsule stays this far inside a skirt's rest shape: the cloth's collision
# margin (cloth.ClothParams.margin, 8 mm) and 2 mm to spare
SKIRT_CLEARANCE = 0.01


def pelvis_capsule(character: Character) -> Capsule | None:
    """The pelvis as a skirt on the hips meets it: a capsule across the hips (along the
    line between the upper legs' roots) through the centre of the vertices the hips
    own (simulated ones left out), reaching the farthest of them (the surface the
    skirt must stay outside, not the 60th percentile of a body capsule), but never
    into a skirt's rest shape (``SKIRT_CLEARANCE`` from its free vertices: the rest
    shape is not pushed at the first step). None without hips and upper legs or with
    fewer than 8 such vertices.

    Why: the hips' body capsule runs up the spine with the radius of its few owned
    vertices (5 cm on the sample character), so it is no collider for a skirt; with
    only the leg capsules holding it, the skirt's front and back fell in between the
    legs (15 cm -> 6.5 cm from the hips' axis after 1.5 s of ``idle``) and the pelvis
    showed through it (docs/physics.md)."""
    names = character.humanoid
    if not all(n in names for n in ("hips", "leftUpperLeg", "rightUpperLeg")):
        return None
    sk, mesh = character.skeleton, character.mesh
    hips = names["hips"]
    owner = mesh.joints[np.arange(mesh.num_vertices), mesh.weights.argmax(1)]
    simulated = np.zeros(mesh.num_vertices, bool)
    for r in character.regions:
        simulated[r.vertices] = True
    verts = mesh.positions[(owner == hips) & ~simulated].astype(np.float64)
    if len(verts) < 8:
        return None
    pos = sk.rest_world[:, :3, 3].astype(np.float64)
    axis = pos[names["leftUpperLeg"]] - pos[names["rightUpperLeg"]]
    if np.linalg.norm(axis) < 1e-6:
        return None
    axis /= np.linalg.norm(axis)
    centre = verts.mean(0)
    along = (verts - centre) @ axis
    radius = float(np.linalg.norm((verts - centre) - along[:, None] * axis, axis=1).max())
    half = max(float(np.abs(along).max()) - radius, 0.0)
    a, b = centre - half * axis, centre + half * axis
    for r in character.regions:
        if r.kind == "cloth" and r.anchor_joint == hips:
            free = np.setdiff1d(r.vertices, r.pinned)
            if len(free):
                radius = min(radius, float(_segment_distance(mesh.positions[free].astype(np.float64), a, b).min())
                             - SKIRT_CLEARANCE)
    return Capsule(joint=hips, a=a, b=b, radius=max(radius, 0.01))


# PyBullet's multibody state buffers overflow past ~35 spherical links: every
# link then reads back NaN (measured: 35 links fine, 36 all NaN; RobotExpressive
# has 42 body joints). Physical bodies keep this many links.
MAX_PHYSICAL_LINKS = 32


def _nearest_links(caps: list[Capsule], parents, root: int, keep: int) -> list[Capsule]:
    """The root's capsule and the ``keep`` capsules closest to it in the tree
    (parents are always closer than their children, so the result is one tree)."""
    def depth(j):
        d = 0
        while j != root and j >= 0:
            j, d = int(parents[j]), d + 1
        return d

    order = sorted((c for c in caps if c.joint != root), key=lambda c: (depth(c.joint), c.joint))
    kept = {c.joint for c in order[:keep]} | {root}
    return [c for c in caps if c.joint in kept]


def _depth_first(caps: list[Capsule], parents, root: int) -> list[Capsule]:
    """Capsules in depth-first order from the root: PyBullet's createMultiBody
    renumbers links depth-first, so any other order (a breadth-first glTF skin)
    would put each link's pose and state on another link."""
    by_joint = {c.joint: c for c in caps}
    children: dict[int, list[int]] = {}
    for j in by_joint:
        if j != root:
            children.setdefault(int(parents[j]), []).append(j)
    out, stack = [], [root]
    while stack:
        j = stack.pop()
        out.append(by_joint[j])
        stack.extend(sorted(children.get(j, []), reverse=True))
    return out


class BodyRig:
    """A character's body in a PyBullet client (see module docstring)."""

    def __init__(self, client: int, character: Character, mode: Literal["kinematic", "physical"] = "kinematic",
                 kp: float = 0.3, kd: float = 1.0, max_torque: float = 200.0, moving_parts: bool = False):
        if mode not in ("kinematic", "physical"):
            raise PhysicsError(f"unknown body mode {mode!r}; valid: kinematic, physical")
        self.client, self.character, self.mode = client, character, mode
        self.kp, self.kd, self.max_torque = kp, kd, max_torque
        sk = character.skeleton
        caps = body_capsules(character)
        by_joint = {c.joint: c for c in caps}
        roots = [c.joint for c in caps if sk.parents[c.joint] < 0 or sk.parents[c.joint] not in by_joint]
        if len(roots) != 1:
            raise PhysicsError(f"character {character.name!r}: the body joints must form one tree, found roots "
                               f"{[sk.names[r] for r in roots]}")
        self.root = roots[0]
        if mode == "physical" and len(caps) - 1 > MAX_PHYSICAL_LINKS:
            log.info("%s: %d body joints; the physical body simulates the %d nearest the root, the rest "
                     "(fingers, IK targets, ...) follow their parents", character.name, len(caps) - 1,
                     MAX_PHYSICAL_LINKS)
            caps = _nearest_links(caps, sk.parents, self.root, MAX_PHYSICAL_LINKS)
            by_joint = {c.joint: c for c in caps}
        if mode == "physical":
            caps = _depth_first(caps, sk.parents, self.root)
        self.links = [c.joint for c in caps if c.joint != self.root]  # link k <-> joint links[k]
        self.link_of = {j: k for k, j in enumerate(self.links)}
        self.link_of[self.root] = -1
        self.capsules = by_joint
        rest_w = sk.rest_world.astype(np.float64)
        self._inv_rest = np.linalg.inv(rest_w)
        rest_r = rigid(rest_w)  # what PyBullet sees; the scale is put back on reading (joint_world)
        self._cap_a = np.zeros((sk.num_joints, 3))
        self._cap_b = np.zeros((sk.num_joints, 3))
        self._cap_r = np.zeros(sk.num_joints)
        for cap in caps:
            self._cap_a[cap.joint], self._cap_b[cap.joint], self._cap_r[cap.joint] = cap.a, cap.b, cap.radius
        hips = character.humanoid.get("hips")
        self.colliding = [cap.joint for cap in caps if cap.joint != hips]  # the hips carry no collider
        # ... but for a skirt on them their slot holds the pelvis (cloth_colliders): no body
        # collider reads it (the multibody and the static parts are built from ``caps``)
        pelvis = pelvis_capsule(character) if hips is not None and hips in by_joint else None
        if pelvis is not None:
            self._cap_a[hips], self._cap_b[hips], self._cap_r[hips] = pelvis.a, pelvis.b, pelvis.radius
        self.pelvis = pelvis
        c = client

        def shape(cap: Capsule, collide: bool):
            if not collide:
                return -1
            inv = rest_r[cap.joint, :3, :3].T
            d = inv @ (cap.b - cap.a)
            length = float(np.linalg.norm(d))
            mid = inv @ ((cap.a + cap.b) / 2 - rest_r[cap.joint, :3, 3])
            orn = matrix_to_quat(rotation_between((0, 0, 1), d if length > 1e-9 else (0, 0, 1)))
            return p.createCollisionShape(p.GEOM_CAPSULE, radius=cap.radius, height=max(length, 1e-4),
                                          collisionFramePosition=mid.tolist(), collisionFrameOrientation=orn.tolist(),
                                          physicsClientId=c)

        def mass(cap: Capsule):
            length = float(np.linalg.norm(cap.b - cap.a))
            return float(1000.0 * np.pi * cap.radius ** 2 * (length + 4 / 3 * cap.radius))

        names = {j: n for n, j in character.humanoid.items()}
        self.parts: dict[int, int] = {}  # kinematic mode: joint -> static capsule body
        self.body = -1
        if mode == "kinematic":
            # Separate static capsules, teleported each frame: no dynamics to integrate.
            for cap in caps:
                if cap.joint == self.root and names.get(self.root) == "hips":
                    continue
                w = rest_r[cap.joint]
                # moving_parts: dynamic bodies whose velocity we set, so PyBullet's soft-body
                # contacts see the limbs move (static ones only get teleported)
                b = p.createMultiBody(baseMass=mass(cap) if moving_parts else 0.0,
                                      baseCollisionShapeIndex=shape(cap, True),
                                      basePosition=w[:3, 3].tolist(), baseOrientation=matrix_to_quat(w[:3, :3]).tolist(),
                                      physicsClientId=c)
                p.setCollisionFilterGroupMask(b, -1, BODY_GROUP, 0xFFFF & ~BODY_GROUP, physicsClientId=c)
                p.changeDynamics(b, -1, lateralFriction=0.3, physicsClientId=c)
                self.parts[cap.joint] = b
        else:
            self._build_multibody(caps, by_joint, names, shape, mass, rest_r)
        # rigid rest rotation of each link relative to its parent's
        par_r = rest_r[sk.parents[self.links]]
        self._rest_local_rot = np.einsum("lba,lbc->lac", par_r[:, :3, :3], rest_r[self.links, :3, :3])  # [L, 3, 3]
        self._pushes: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.resets = 0
        self._swept = None
        self._world = rest_w.copy()
        self.drive(rest_w, reset=True)

    def _build_multibody(self, caps, by_joint, names, shape, mass, rest_w) -> None:
        sk, c = self.character.skeleton, self.client
        base_cap = by_joint[self.root]
        link_shapes, masses, parents, lpos, lorn = [], [], [], [], []
        for j in self.links:
            link_shapes.append(shape(by_joint[j], True))
            masses.append(mass(by_joint[j]))
            parent = sk.parents[j]
            parents.append(0 if parent == self.root else self.link_of[parent] + 1)
            local = np.linalg.inv(rest_w[parent]) @ rest_w[j]  # rest_w: rigid here (see rigid())
            lpos.append(local[:3, 3].tolist())
            lorn.append(matrix_to_quat(local[:3, :3]).tolist())
        n = len(self.links)
        root_w = rest_w[self.root]
        self.body = p.createMultiBody(
            baseMass=0.0,  # fixed base: the hips follow the animation
            baseCollisionShapeIndex=shape(base_cap, names.get(self.root) != "hips"),
            basePosition=root_w[:3, 3].tolist(), baseOrientation=matrix_to_quat(root_w[:3, :3]).tolist(),
            linkMasses=masses, linkCollisionShapeIndices=link_shapes, linkVisualShapeIndices=[-1] * n,
            linkPositions=lpos, linkOrientations=lorn,
            linkInertialFramePositions=[[0, 0, 0]] * n, linkInertialFrameOrientations=[[0, 0, 0, 1]] * n,
            linkParentIndices=parents, linkJointTypes=[p.JOINT_SPHERICAL] * n, linkJointAxis=[[0, 0, 1]] * n,
            physicsClientId=c,
        )
        for k in range(-1, n):
            p.setCollisionFilterGroupMask(self.body, k, BODY_GROUP, 0xFFFF & ~BODY_GROUP, physicsClientId=c)
            p.changeDynamics(self.body, k, lateralFriction=0.3, linearDamping=0.05, angularDamping=0.05,
                             physicsClientId=c)

    # ------------------------------------------------------------------
    def _joint_targets(self, world: np.ndarray) -> np.ndarray:
        """[J, 4, 4] target joint worlds -> [L, 4] spherical joint quaternions (rest-relative)."""
        sk = self.character.skeleton
        world = rigid(world)
        par = world[sk.parents[self.links]]
        rel = np.einsum("lba,lbc->lac", par[:, :3, :3], world[self.links, :3, :3])  # parent^T child
        r = np.einsum("lba,lbc->lac", self._rest_local_rot, rel)  # restLocal^T rel
        return matrix_to_quat(r)

    def drive(self, world: np.ndarray, reset: bool = False) -> None:
        """Follow target joint world matrices [J, 4, 4] (character space) for the next substep."""
        c, root = self.client, rigid(world[self.root])
        if self.mode == "kinematic":
            joints = list(self.parts)
            quats = matrix_to_quat(rigid(world[joints])[:, :3, :3]).tolist()
            for b, x, q in zip(self.parts.values(), world[joints, :3, 3].tolist(), quats):
                p.resetBasePositionAndOrientation(b, x, q, physicsClientId=c)
            self._world = world
            return
        p.resetBasePositionAndOrientation(self.body, root[:3, 3].tolist(), matrix_to_quat(root[:3, :3]).tolist(),
                                          physicsClientId=c)
        q = self._joint_targets(world)
        idx = list(range(len(self.links)))
        if reset:
            p.resetJointStatesMultiDof(self.body, idx, targetValues=q.tolist(),
                                       targetVelocities=[[0.0, 0.0, 0.0]] * len(idx), physicsClientId=c)
        if self.mode == "physical":
            p.setJointMotorControlMultiDofArray(
                self.body, idx, p.POSITION_CONTROL, targetPositions=q.tolist(),
                positionGains=[self.kp] * len(idx), velocityGains=[self.kd] * len(idx),
                forces=[[self.max_torque] * 3] * len(idx), physicsClientId=c)
            for link, point, force in self._pushes:
                p.applyExternalForce(self.body, link, force.tolist(), point.tolist(), p.WORLD_FRAME, physicsClientId=c)
            self._pushes.clear()
        self._world = world

    def place_parts(self, before: np.ndarray, after: np.ndarray, f: float, frame_dt: float) -> None:
        """Kinematic mode: put the capsules between two poses ([J, 4, 4] each) at fraction f,
        so a substepped cloth sees the legs sweep instead of jump."""
        joints = list(self.parts)
        if not joints:
            return
        if self._swept is None or self._swept[0] is not before or self._swept[1] is not after:
            q = matrix_to_quat(np.stack([rigid(before[joints])[:, :3, :3], rigid(after[joints])[:, :3, :3]]))
            self._swept = (before, after, q[0], q[1])
        _, _, q0, q1 = self._swept
        q = slerp(q0, q1, f)
        pos = (1 - f) * before[joints, :3, 3] + f * after[joints, :3, 3]
        vel = (after[joints, :3, 3] - before[joints, :3, 3]) / frame_dt
        # angular velocity from the frame's rotation (small-angle: 2 * vector part of q1 q0^-1)
        x0, y0, z0, w0 = -q0[:, 0], -q0[:, 1], -q0[:, 2], q0[:, 3]
        x1, y1, z1, w1 = q1.T
        dq = np.stack([w1 * x0 + x1 * w0 + y1 * z0 - z1 * y0, w1 * y0 - x1 * z0 + y1 * w0 + z1 * x0,
                       w1 * z0 + x1 * y0 - y1 * x0 + z1 * w0, w1 * w0 - x1 * x0 - y1 * y0 - z1 * z0], 1)
        dq *= np.sign(dq[:, 3:4] + 1e-12)
        ang = 2 * dq[:, :3] / frame_dt
        c = self.client
        for b, x, r, v, w in zip(self.parts.values(), pos.tolist(), q.tolist(), vel.tolist(), ang.tolist()):
            p.resetBasePositionAndOrientation(b, x, r, physicsClientId=c)
            p.resetBaseVelocity(b, v, w, physicsClientId=c)

    def poke(self, point, impulse, dt: float) -> str:
        """Push the body at ``point`` (character space) with ``impulse`` (N s), spread
        over the next substep of length ``dt``. Returns the name of the joint hit."""
        if self.mode != "physical":
            raise PhysicsError("poke needs a body in mode='physical' (kinematic bodies follow the animation exactly)")
        point, impulse = np.asarray(point, np.float64), np.asarray(impulse, np.float64)
        if point.shape != (3,) or impulse.shape != (3,) or not (np.isfinite(point).all() and np.isfinite(impulse).all()):
            raise PhysicsError(f"poke needs finite 3-vectors, got point {point} and impulse {impulse}")
        # nearest capsule (links only: the base follows the animation)
        world = self.joint_world()
        best, best_d = None, np.inf
        for j in self.links:
            cap = self.capsules[j]
            inv0 = np.linalg.inv(self.character.skeleton.rest_world[j].astype(np.float64))
            a = (world[j] @ inv0 @ np.append(cap.a, 1))[:3]
            b = (world[j] @ inv0 @ np.append(cap.b, 1))[:3]
            d = float(_segment_distance(point[None], a, b)[0]) - cap.radius
            if d < best_d:
                best, best_d = j, d
        self._pushes.append((self.link_of[best], point, impulse / dt))
        return self.character.skeleton.names[best]

    def joint_world(self) -> np.ndarray:
        """[J, 4, 4] f64 current world matrices of the body joints (others: last target)."""
        if self.mode == "kinematic":
            return self._world.copy()
        out = self._world.copy()
        states = p.getLinkStates(self.body, list(range(len(self.links))), computeForwardKinematics=1,
                                 physicsClientId=self.client)
        target = self._world
        stretch = self._scale_of(target[self.links])  # [L, 4, 4], batched: once per read
        for j, s, st in zip(self.links, states, stretch):
            m = np.eye(4)
            m[:3, :3], m[:3, 3] = quat_to_matrix(np.array(s[5])), s[4]
            out[j] = m @ st
        # joints off the body (eyes, jaw, ...) ride on their simulated parents
        sk = self.character.skeleton
        for j, par in enumerate(sk.parents):
            if par >= 0 and j not in self.link_of:
                out[j] = out[par] @ np.linalg.inv(target[par]) @ target[j]
        return out

    def world_capsules(self, world: np.ndarray, joints=None) -> np.ndarray:
        """[C, 7] f64 capsules (a xyz, b xyz, radius) of ``joints`` (default: all colliding
        body joints) posed by joint world matrices [J, 4, 4]."""
        joints = [j for j in (self.colliding if joints is None else joints)]
        if not joints:
            return np.zeros((0, 7))
        rel = world[joints] @ self._inv_rest[joints]  # [C, 4, 4] rest -> posed
        a = np.einsum("cab,cb->ca", rel[:, :3, :3], self._cap_a[joints]) + rel[:, :3, 3]
        b = np.einsum("cab,cb->ca", rel[:, :3, :3], self._cap_b[joints]) + rel[:, :3, 3]
        r = self._cap_r[joints]
        return np.concatenate([a, b, r[:, None]], 1)

    def cloth_colliders(self, anchor: int) -> list[int]:
        """Body joints a cloth hanging from ``anchor`` collides with: everything but the
        anchor, its ancestors and (for a skirt on the hips) the torso above it; a skirt on
        the hips meets the pelvis (``pelvis_capsule``, in the hips' slot) too."""
        sk, names = self.character.skeleton, self.character.humanoid
        skip = set()
        j = anchor
        while j >= 0:
            skip.add(j)
            j = sk.parents[j]
        if names.get("hips") == anchor:
            skip |= {names[n] for n in ("spine", "chest", "upperChest", "neck", "head") if n in names}
        pelvis = [anchor] if names.get("hips") == anchor and self.pelvis is not None else []
        return [j for j in self.colliding if j not in skip] + pelvis

    def link_world(self, joint: int) -> np.ndarray:
        """[4, 4] current world matrix of one body joint (physical mode: simulated)."""
        if self.mode == "kinematic" or joint == self.root or joint not in self.link_of:
            return self._world[joint]
        s = p.getLinkState(self.body, self.link_of[joint], computeForwardKinematics=1, physicsClientId=self.client)
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = quat_to_matrix(np.array(s[5])), s[4]
        return m @ self._scale_of(self._world[joint])

    @staticmethod
    def _scale_of(m: np.ndarray) -> np.ndarray:
        """The part of joint matrices ([..., 4, 4]) a rigid PyBullet frame cannot hold: rigid(m)^-1 m."""
        r = rigid(m)
        inv = np.zeros_like(r)  # rigid inverse: [R^T, -R^T t]
        inv[..., :3, :3] = np.swapaxes(r[..., :3, :3], -1, -2)
        inv[..., :3, 3] = -np.einsum("...ij,...j->...i", inv[..., :3, :3], r[..., :3, 3])
        inv[..., 3, 3] = 1.0
        return inv @ m

    def healthy(self, world: np.ndarray) -> bool:
        """Physical mode: simulated joints finite and near their targets (the same
        safety net as cloth and hair: a body that blew up is reset, not drawn)."""
        if not np.isfinite(world).all():
            return False
        reach = float(np.ptp(self._world[:, :3, 3], axis=0).max()) + 1e-6
        return float(np.abs(world[:, :3, 3] - self._world[:, :3, 3]).max()) < 2 * reach

    def reset(self) -> None:
        """Put a blown-up physical body back on its current targets, at rest."""
        if self.mode == "physical":
            self.drive(self._world, reset=True)
            p.resetBaseVelocity(self.body, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)
        self.resets += 1

    def colliders(self) -> list[tuple[int, int, int]]:
        """(PyBullet body id, link index, skeleton joint) of every body collider."""
        if self.mode == "kinematic":
            return [(b, -1, j) for j, b in self.parts.items()]
        return [(self.body, self.link_of[j], j) for j in self.colliding if j != self.root]

    def link_index(self, joint: int) -> int:
        """PyBullet link index of a body joint (-1 = base)."""
        if joint not in self.link_of:
            raise PhysicsError(f"joint {self.character.skeleton.names[joint]!r} is not part of the body")
        return self.link_of[joint]

    def remove(self) -> None:
        for b in list(self.parts.values()) + ([self.body] if self.body >= 0 else []):
            p.removeBody(b, physicsClientId=self.client)
