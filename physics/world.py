"""PhysicsWorld: one PyBullet client stepping characters, their cloth and hair.

    with PhysicsWorld(fps=60, substeps=4) as world:
        h = world.add(character, "walk")
        for _ in range(120):
            pose = world.step()[h]      # conrt.types.Pose per character

Each frame advances the animation clock by ``time_scale / fps`` in fixed
substeps of ``1 / (fps * substeps)`` seconds (a fractional time scale carries
the remainder to the next frame), so the same inputs give the same positions.
Per substep: the body follows the clip, each cloth anchor follows its joint,
each hair root is steered onto the head, then PyBullet steps once. After the
frame, unhealthy cloth/hair (NaN, flung away) is reset to its skinned rest
shape with a warning and the frame still goes out.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from conrt.characters.expressions import ExpressionState
from conrt.errors import PhysicsError
from conrt.limits import WarningTally
from conrt.types import Character, Pose

from ._bullet import pybullet as p  # first, so the banner is not printed
from .clips import Animator, Clip, get_clip, orthonormal, world_matrices
from .cloth import ClothParams, ClothSim, VerletCloth, build_proxy
from .hair import HairChain, HairParams, chains_healthy, spring_params
from .rig import BodyRig
from .transforms import matrix_to_quat, quat_to_matrix, quat_to_rows, rows_to_quat, slerp, slerp_floats

log = logging.getLogger(__name__)

_SPACING = 4.0  # metres between characters in the shared world (they never touch)


@dataclass
class _Actor:
    character: Character
    animator: Animator
    body: BodyRig
    cloths: list[ClothSim]
    hairs: list[HairChain]
    origin: np.ndarray  # [4, 4] character space -> world
    t: float = 0.0
    target: np.ndarray | None = None  # [J, 4, 4] world matrices of the animation at time t
    pose: Pose | None = None
    faults: set = field(default_factory=set)  # region names whose next read is forced to NaN (tests)
    expressions: ExpressionState | None = None  # per-frame expression weights -> Pose.morph_weights
    shift: np.ndarray = field(default_factory=lambda: np.zeros(3))  # x/z carried over clip switches (character space)
    fade: tuple | None = None  # (previous Animator, its time at the switch, its shift, switch time): a cross-fade
    chained_hair: bool = False  # a hair strand anchored on a joint of another strand's chain


class _AnchorPath:
    """Anchor joint matrices interpolated across a frame's substeps."""

    def __init__(self, before: np.ndarray, after: np.ndarray, joints: list[int], sweep: bool = False):
        self.before, self.after, self.sweep = before, after, sweep
        # plain floats: a handful of joints a frame, where NumPy's per-call overhead is most of
        # the time; the same steps as matrix_to_quat / slerp / quat_to_matrix on one matrix
        # (their single-matrix paths are these float functions), so the same bits
        self.ends = {}
        for j in set(joints):
            self.ends[j] = (before[j, :3, 3].tolist(), after[j, :3, 3].tolist(),
                            rows_to_quat(before[j, :3, :3].tolist()), rows_to_quat(after[j, :3, :3].tolist()))

        self._memo: dict = {}

    def at(self, joint: int, f: float) -> np.ndarray:
        m = self._memo.get((joint, f))
        if m is None:  # several hair strands share the head
            p0, p1, q0, q1 = self.ends[joint]
            (a, b, c), (d, e, g), (h, i, k) = quat_to_rows(slerp_floats(q0, q1, f))
            x, y, z = [(1 - f) * u + f * v for u, v in zip(p0, p1)]
            m = self._memo[(joint, f)] = np.array([[a, b, c, x], [d, e, g, y], [h, i, k, z], [0.0, 0.0, 0.0, 1.0]])
        return m


class PhysicsWorld:
    """Owns a ``p.DIRECT`` PyBullet client (nothing global); use as a context manager."""

    def __init__(self, fps: float = 60.0, substeps: int | None = None, gravity: float = 9.81,
                 cloth_segments: int = 16, cloth_rings: int = 8,
                 cloth: ClothParams = ClothParams(), hair: HairParams = HairParams(), solver_iterations: int = 10,
                 cloth_backend: Literal["bullet", "verlet"] = "verlet", verlet_iterations: int = 8,
                 blend: float = 0.3):
        if substeps is None:  # PyBullet's cloth needs 240 Hz to stay stable; the Verlet cloth is fine at 120 Hz
            substeps = 4 if cloth_backend == "bullet" else 2
        if not fps > 0 or substeps < 1:
            raise PhysicsError(f"need fps > 0 and substeps >= 1, got fps={fps}, substeps={substeps}")
        self.fps, self.substeps = float(fps), int(substeps)
        self.blend = float(blend)  # seconds of cross-fade when a clip is switched (set_clip)
        self.dt = 1.0 / (self.fps * self.substeps)  # the fixed substep
        self.gravity = float(gravity)
        self.cloth_grid = (int(cloth_segments), int(cloth_rings))
        self.cloth_params, self.hair_params = cloth, hair
        if cloth_backend not in ("bullet", "verlet"):
            raise PhysicsError(f"unknown cloth backend {cloth_backend!r}; valid: bullet, verlet")
        self.cloth_backend, self.verlet_iterations = cloth_backend, int(verlet_iterations)
        self.client = p.connect(p.DIRECT)
        if self.client < 0:
            raise PhysicsError("could not start a PyBullet DIRECT client")
        c = self.client
        # the deformable world only where PyBullet's soft-body cloth lives: with the Verlet cloth
        # its solver steps nothing but costs ~3 % of stepSimulation (the same bits without it)
        p.resetSimulation(p.RESET_USE_DEFORMABLE_WORLD if cloth_backend == "bullet" else 0, physicsClientId=c)
        p.setGravity(0, -gravity, 0, physicsClientId=c)
        p.setTimeStep(self.dt, physicsClientId=c)
        p.setPhysicsEngineParameter(deterministicOverlappingPairs=1, numSolverIterations=solver_iterations,
                                    physicsClientId=c)
        self.actors: list[_Actor] = []
        self.paused = False
        self._time_scale = 1.0
        self._pending = 0.0  # fractional substeps carried between frames
        self.substeps_run = 0
        self.tally = WarningTally(log)  # resets: the first few logged, the rest counted (summary at close)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "PhysicsWorld":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.client is None:
            return
        self.tally.summarise()
        for a in self.actors:
            for cl in a.cloths:
                cl.close()
        try:
            p.disconnect(physicsClientId=self.client)
        finally:
            self.client = None

    def _check_open(self):
        if self.client is None:
            raise PhysicsError("the physics world is closed")

    # ------------------------------------------------------------------ characters
    def add(self, character: Character, clip: Clip | str = "idle", mode: Literal["kinematic", "physical"] = "kinematic",
            start: float = 0.0) -> int:
        """Add a character driven by ``clip`` (a Clip or a registered clip name). Returns its handle."""
        self._check_open()
        if isinstance(clip, str):
            clip = get_clip(clip, character)
        animator = Animator(character, clip)
        origin = np.eye(4)
        origin[0, 3] = _SPACING * len(self.actors)
        world = origin @ world_matrices(character.skeleton.parents, animator.local(start))
        body = BodyRig(self.client, character, mode=mode,
                       moving_parts=self.cloth_backend == "bullet" and any(r.kind == "cloth" for r in character.regions))
        body.drive(world, reset=True)
        cloths, hairs = [], []
        rest = character.skeleton.rest_world.astype(np.float64)
        for r in character.regions:
            if r.kind == "cloth":
                proxy = build_proxy(character, r, *self.cloth_grid)
                if self.cloth_backend == "bullet":
                    cloths.append(ClothSim(self.client, proxy, rest[r.anchor_joint], self.cloth_params,
                                           anchor_world=world[r.anchor_joint]))
                else:
                    cl = VerletCloth(proxy, rest[r.anchor_joint], self.cloth_params,
                                     anchor_world=world[r.anchor_joint], iterations=self.verlet_iterations,
                                     gravity=self.gravity)
                    cl.colliders = body.cloth_colliders(r.anchor_joint)
                    cl.set_colliders(body.world_capsules(world, cl.colliders))
                    cloths.append(cl)
            elif r.kind == "hair":
                params = spring_params(self.hair_params, (character.meta.get("spring_params") or {}).get(r.name))
                h = HairChain(self.client, character, r, params)
                h.ignore_overlaps(body)
                h.reset(world[r.anchor_joint], count=False)  # placing it is not a recovery
                h.place_colliders(world.__getitem__)
                hairs.append(h)
        actor = _Actor(character, animator, body, cloths, hairs, origin, t=float(start), target=world,
                       expressions=ExpressionState(character, seed=len(self.actors)),
                       chained_hair=any(h.anchor in o.chain for h in hairs for o in hairs))
        self.actors.append(actor)
        actor.pose = self._read(actor)
        log.info("added %s (%d joints, %d cloth nodes, %d hair chains, %s body)", character.name,
                 character.skeleton.num_joints, sum(len(cl.proxy.nodes) for cl in cloths), len(hairs), mode)
        return len(self.actors) - 1

    def _actor(self, handle: int) -> _Actor:
        if not 0 <= handle < len(self.actors):
            raise PhysicsError(f"no character with handle {handle}; valid: 0..{len(self.actors) - 1}")
        return self.actors[handle]

    def set_clip(self, handle: int, clip: Clip | str, start: float = 0.0) -> None:
        """Switch a character to another clip. The physics state carries on and
        nothing jumps: the new clip starts where the character stands (its x/z
        root motion is shifted there) and the pose cross-fades from the old
        clip, which keeps playing, over ``blend`` seconds, so hair and cloth
        follow instead of being flung off and reset."""
        a = self._actor(handle)
        if isinstance(clip, str):
            clip = get_clip(clip, a.character)
        old, old_t, old_shift = a.animator, a.t, a.shift.copy()
        a.animator, a.t = Animator(a.character, clip), float(start)
        if a.target is None or self.blend <= 0:
            a.fade = None
            return
        root = a.animator.root
        here = a.target[root, :3, 3] - a.origin[:3, 3]
        a.shift = np.zeros(3)
        there = world_matrices(a.character.skeleton.parents, a.animator.local(a.t))[root, :3, 3]
        a.shift = np.array([here[0] - there[0], 0.0, here[2] - there[2]])
        a.fade = (old, old_t, old_shift, a.t)

    # ------------------------------------------------------------------ expressions
    def set_expressions(self, handle: int, weights: dict, replace: bool = False) -> None:
        """Set expression weights by name (``{"blink": 1, "aa": 0.5}``; VRM
        presets, their aliases or morph target names, 0..1) from the next
        frame on; ``replace`` drops the ones set before. Unknown names raise
        InputError listing the character's expressions."""
        self._actor(handle).expressions.set(weights, replace=replace)
        self._refresh_morphs(handle)

    def set_vmc_blends(self, handle: int, blends: dict) -> None:
        """A VMC receiver's blendshape values (``VmcFrame.blends``) for the next frames (None: stop).
        Added to the API's expressions; a sender that sends any blink drives the lids (no idle blink)."""
        self._actor(handle).expressions.set_vmc(blends)
        self._refresh_morphs(handle)

    def set_idle_blink(self, handle: int, on: bool) -> None:
        """Turn the built-in idle blink (random 2-6 s, 0.15 s each) on or off."""
        a = self._actor(handle)
        a.expressions.set_idle_blink(bool(on), seed=handle)
        self._refresh_morphs(handle)

    def _refresh_morphs(self, handle: int) -> None:
        a = self._actor(handle)
        if a.pose is not None:  # a paused world shows the change too
            a.pose = replace(a.pose, morph_weights=a.expressions.morph_weights(a.t))

    # ------------------------------------------------------------------ time
    @property
    def time_scale(self) -> float:
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if not (np.isfinite(value) and 0 <= value <= 16):
            raise PhysicsError(f"time_scale must be in 0..16, got {value}")
        self._time_scale = float(value)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def time(self, handle: int = 0) -> float:
        return self._actor(handle).t

    def reset(self, handle: int | None = None, t: float = 0.0) -> list[Pose]:
        """Put characters (all, or one) at time ``t`` of their clip (default: the first
        frame), cloth and hair in their skinned rest shape, at rest."""
        self._check_open()
        for a in self.actors if handle is None else [self._actor(handle)]:
            a.t = float(t)
            a.fade, a.shift = None, np.zeros(3)
            world = a.target = self._target(a)
            a.body.drive(world, reset=True)
            for cl in a.cloths:
                cl.reset(world[cl.proxy.anchor_joint], count=False)
            for h in a.hairs:
                h.reset(world[h.anchor], count=False)
                h.place_colliders(world.__getitem__)
            a.pose = self._read(a)
        self._pending = 0.0
        return [a.pose for a in self.actors]

    # ------------------------------------------------------------------ stepping
    def _target(self, a: _Actor) -> np.ndarray:
        parents = a.character.skeleton.parents
        local = _shifted(a.animator.local(a.t), parents, a.shift)
        if a.fade is not None:
            old, old_t, old_shift, t0 = a.fade
            w = (a.t - t0) / self.blend
            if w >= 1.0:
                a.fade = None
            else:
                before = _shifted(old.local(old_t + a.t - t0), parents, old_shift)
                local = _blend_locals(before, local, w * w * (3 - 2 * w))  # smoothstep
        return a.origin @ world_matrices(parents, local)

    def step(self) -> list[Pose]:
        """Advance one frame; returns the Pose of every character (by handle).

        The animation is evaluated once per frame: the body colliders move to
        the frame's pose at its first substep, the cloth anchors and hair roots
        are interpolated across the substeps (they need smooth motion)."""
        self._check_open()
        if self.paused:
            return [a.pose for a in self.actors]
        self._pending += self.substeps * self._time_scale
        n = int(np.floor(self._pending + 1e-9))
        self._pending -= n
        if n == 0:
            return [a.pose for a in self.actors]
        c = self.client
        plans = []
        for a in self.actors:
            before = a.target if a.target is not None else self._target(a)
            a.t += n * self.dt
            a.target = self._target(a)
            a.body.drive(a.target)
            for cl in a.cloths:
                if isinstance(cl, VerletCloth):
                    cl.set_colliders(a.body.world_capsules(a.target, cl.colliders))
            sweep = self.cloth_backend == "bullet" and a.body.mode == "kinematic" and a.cloths
            plans.append(_AnchorPath(before, a.target, [cl.proxy.anchor_joint for cl in a.cloths] +
                                     [j for h in a.hairs for j in [h.anchor, *h.collider_joints]],
                                     sweep=bool(sweep)))
        for k in range(1, n + 1):
            f = k / n
            for a, plan in zip(self.actors, plans):
                if plan.sweep:
                    a.body.place_parts(plan.before, plan.after, f, n * self.dt)
                for cl in a.cloths:
                    cl.drive(plan.at(cl.proxy.anchor_joint, f))
                    if isinstance(cl, VerletCloth):
                        cl.step(self.dt)
                physical = a.body.mode == "physical"
                for h in a.hairs:
                    # physical bodies: hang the hair on the simulated head, which may be pushed about
                    anchor = a.body.link_world(h.anchor) if physical else plan.at(h.anchor, f)
                    h.drive(h.target(anchor), self.dt, self.gravity)
                    # its VRM colliders ride on their joints the same way
                    h.place_colliders(a.body.link_world if physical else (lambda j: plan.at(j, f)))
            p.stepSimulation(physicsClientId=c)
            self.substeps_run += 1
        for a in self.actors:
            a.pose = self._read(a)
        return [a.pose for a in self.actors]

    def _read(self, a: _Actor) -> Pose:
        """Collect joint matrices and cloth vertices; reset what blew up."""
        world = a.body.joint_world()  # [J, 4, 4] world space
        if a.body.mode == "physical" and not a.body.healthy(world):  # the safety net cloth and hair have
            self.tally.warn("body reset", "%s: the physical body blew up (NaN or flung away); reset to the "
                            "animation's pose", a.character.name)
            a.body.reset()
            world = a.body.joint_world()
            if not np.isfinite(world).all():
                raise PhysicsError(f"{a.character.name}: the physical body gives NaN even after a reset")
        hws = [h.joint_world() for h in a.hairs]
        for h, hw in zip(a.hairs, hws):
            if h.region.name in a.faults:
                a.faults.discard(h.region.name)
                hw[:] = np.nan
        # all strands' health in one NumPy pass; a strand hanging on another's joint (a chain on a
        # chain) sees that strand's new pose, so then one at a time, in order
        healthy = (chains_healthy(a.hairs, hws, world[[h.anchor for h in a.hairs]])
                   if a.hairs and not a.chained_hair else [None] * len(a.hairs))
        for h, hw, ok in zip(a.hairs, hws, healthy):
            if not (h.healthy(hw, world[h.anchor]) if ok is None else ok):
                self.tally.warn("hair reset", "%s: hair %r blew up (NaN or torn off); reset to its rest shape",
                                a.character.name, h.region.name)
                h.reset(world[h.anchor])
                hw = h.joint_world()
            world[h.chain] = hw
        idx, pos = [], []
        for cl in a.cloths:
            anchor = world[cl.proxy.anchor_joint]
            nodes = cl.nodes()
            if cl.proxy.region in a.faults:
                a.faults.discard(cl.proxy.region)
                nodes[:] = np.nan
            if not cl.healthy(nodes, anchor):
                self.tally.warn("cloth reset", "%s: cloth %r blew up (NaN or flung away); reset to its skinned "
                                "rest shape", a.character.name, cl.proxy.region)
                cl.reset(anchor)
                nodes = cl.rest_nodes(anchor)
            idx.append(cl.proxy.vertices)
            pos.append(cl.proxy.embed(nodes) - a.origin[:3, 3])
        inv = np.linalg.inv(a.origin)
        joint_world = np.einsum("ab,jbc->jac", inv, world).astype(np.float32)
        live = getattr(a.animator.clip, "last", None)  # a live motion (physics/vmc.py VmcMotion): its blendshapes
        if live is not None and a.expressions is not None:
            a.expressions.set_vmc(getattr(live, "blends", None))
        morphs = a.expressions.morph_weights(a.t) if a.expressions is not None else None
        if idx:
            return Pose(joint_world=joint_world, sim_indices=np.concatenate(idx).astype(np.int32),
                        sim_positions=np.concatenate(pos).astype(np.float32), morph_weights=morphs)
        return Pose(joint_world=joint_world, morph_weights=morphs)

    def force_nan(self, handle: int, region: str) -> None:
        """Testing hook: the next read of ``region`` sees NaN, exercising the reset path."""
        a = self._actor(handle)
        names = [r.name for r in a.character.regions]
        if region not in names:
            raise PhysicsError(f"{a.character.name!r} has no region {region!r}; valid: {', '.join(names)}")
        a.faults.add(region)

    def poke(self, handle: int, point, impulse) -> str:
        """Push a physical-mode body at ``point`` (character space) with ``impulse`` (N s)."""
        a = self._actor(handle)
        point = np.asarray(point, np.float64) + a.origin[:3, 3]
        return a.body.poke(point, impulse, self.dt)

    def resets(self, handle: int = 0) -> int:
        """How many NaN/explosion recoveries a character's cloth and hair have had."""
        a = self._actor(handle)
        return sum(cl.resets for cl in a.cloths) + sum(h.resets for h in a.hairs) + a.body.resets


def _shifted(local: np.ndarray, parents: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Move the skeleton's roots by ``shift`` (character space)."""
    if shift.any():
        local = local.copy()
        local[parents < 0, :3, 3] += shift
    return local


def _blend_locals(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """[J, 4, 4] local matrices from ``a`` (w = 0) to ``b`` (w = 1): rotations slerped,
    translations lerped, ``b``'s joint-frame scale kept."""
    scale = np.linalg.norm(b[:, :3, :3], axis=1, keepdims=True)
    qa = matrix_to_quat(orthonormal(a[:, :3, :3]))
    qb = matrix_to_quat(orthonormal(b[:, :3, :3]))
    out = b.copy()
    out[:, :3, :3] = quat_to_matrix(slerp(qa, qb, w)) * scale
    out[:, :3, 3] = (1 - w) * a[:, :3, 3] + w * b[:, :3, 3]
    return out
