"""Animation clips: local joint rotations over time, and their registry.

Rotation convention (shared by procedural clips, BVH and glTF drivers): a
clip stores, per joint, a rotation ``Q`` in *rest-aligned* axes, i.e. the
character-space axes of the rest (T-)pose. With ``A_j = A_parent @ Q_j``
the posed world orientation of joint j is ``A_j @ restWorldRot_j`` and the
bone offset from its parent turns with ``A_parent``. For a skeleton whose rest
joint frames are all axis-aligned (procedural characters) ``Q`` is simply the
local rotation; imported rigs with rotated joint frames get the conjugation
``restWorldRot_j^T @ Q_j @ restWorldRot_j`` (see :class:`Animator`).

Axes: +Y up, the character faces +Z, +X is the character's left.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from conrt.characters.rig_names import expected_names
from conrt.errors import ConfigError, InputError
from conrt.types import Character, Pose

from .transforms import axis_angle, matrix_to_quat, quat_to_matrix, slerp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """Sampled joint rotations. Frame k is at time ``k / fps``."""

    name: str
    joints: tuple[str, ...]  # joint names (humanoid names, or skeleton names)
    rotations: np.ndarray  # [T, N, 4] f64 quaternions (x, y, z, w), rest-aligned local rotations
    root_offset: np.ndarray  # [T, 3] f64 hips displacement from its rest position, character space, metres
    fps: float
    loop: bool = True
    interpolation: Literal["LINEAR", "STEP"] = "LINEAR"
    # [T, N, 3] f64 or None: per-joint local translation added to the rest local
    # translation, in the joint's parent frame (glTF translation keys of joints
    # other than the hips, e.g. a baked foot IK)
    offsets: np.ndarray | None = None

    def __post_init__(self):
        t, n = self.rotations.shape[:2]
        if self.rotations.shape != (t, n, 4) or n != len(self.joints) or t < 1:
            raise InputError(f"clip {self.name!r}: rotations of shape {self.rotations.shape} for {len(self.joints)} joints")
        if self.root_offset.shape != (t, 3):
            raise InputError(f"clip {self.name!r}: root_offset of shape {self.root_offset.shape}, expected ({t}, 3)")
        if not (np.isfinite(self.rotations).all() and np.isfinite(self.root_offset).all()):
            raise InputError(f"clip {self.name!r} has NaN/inf values")
        if not self.fps > 0:
            raise InputError(f"clip {self.name!r}: fps must be > 0, got {self.fps}")
        if self.offsets is not None and (self.offsets.shape != (t, n, 3) or not np.isfinite(self.offsets).all()):
            raise InputError(f"clip {self.name!r}: offsets of shape {self.offsets.shape} (expected ({t}, {n}, 3), finite)")

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def duration(self) -> float:
        return (self.num_frames - 1) / self.fps

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Time in seconds -> ([N, 4] quaternions, [3] root offset).

        Looping clips wrap and carry the root's net displacement per cycle
        forward (a walk keeps walking); others clamp at the last frame."""
        n = self.num_frames
        if n == 1 or self.duration <= 0:
            return self.rotations[0].copy(), self.root_offset[0].copy()
        cycles = 0.0
        if self.loop:
            cycles = np.floor(t / self.duration)
            t = t - cycles * self.duration
        x = float(np.clip(t * self.fps, 0, n - 1))
        k = min(int(np.floor(x)), n - 2)
        f = x - k
        if self.interpolation == "STEP":
            f = 1.0 if f >= 1.0 - 1e-9 else 0.0
        rot = slerp(self.rotations[k], self.rotations[k + 1], f)
        off = (1 - f) * self.root_offset[k] + f * self.root_offset[k + 1]
        if cycles:
            drift = self.root_offset[-1] - self.root_offset[0]
            off = off + cycles * np.array([drift[0], 0.0, drift[2]])
        return rot, off

    def sample_offsets(self, t: float) -> np.ndarray | None:
        """[N, 3] per-joint local translation offsets at time t (None when the clip has none)."""
        if self.offsets is None:
            return None
        n = self.num_frames
        if n == 1 or self.duration <= 0:
            return self.offsets[0].copy()
        if self.loop:
            t = t - np.floor(t / self.duration) * self.duration
        x = float(np.clip(t * self.fps, 0, n - 1))
        k = min(int(np.floor(x)), n - 2)
        f = x - k
        if self.interpolation == "STEP":
            f = 1.0 if f >= 1.0 - 1e-9 else 0.0
        return (1 - f) * self.offsets[k] + f * self.offsets[k + 1]


class Animator:
    """Turns a clip into poses of one character (precomputes the joint mapping)."""

    def __init__(self, character: Character, clip: Clip):
        sk = character.skeleton
        self.character, self.clip = character, clip
        idx, cols = [], []
        for c, name in enumerate(clip.joints):
            j = character.humanoid.get(name)
            if j is None and name in sk.names:
                j = sk.names.index(name)
            if j is None:
                log.debug("clip %s: character %s has no joint %s, skipped", clip.name, character.name, name)
                continue
            idx.append(j)
            cols.append(c)
        if not idx:
            raise InputError(
                f"clip {clip.name!r} drives none of the joints of {character.name!r} "
                f"(clip joints: {', '.join(clip.joints[:8])}...; skeleton: {', '.join(sk.names[:8])}...): its joint "
                f"names are not recognised as humanoid bones; expected names like {expected_names()}; or load it "
                f"with a name map (--name-map FILE.json, load_character(name_map=...)): {{\"joint\": \"humanoid bone\"}}"
            )
        self.joint_index = np.array(idx, np.int64)  # [M] skeleton joints driven
        self.clip_column = np.array(cols, np.int64)  # [M] matching clip columns
        # [M, 3, 3] rest rotations without scale (rigs under a scaled armature node have scaled frames)
        self.rest_rot = orthonormal(sk.rest_world[self.joint_index, :3, :3].astype(np.float64))
        self.aligned = bool(np.allclose(self.rest_rot, np.eye(3), atol=1e-7))
        # root motion moves the skeleton root above the hips (a rig may hang its legs or
        # its IK feet beside the hips, under a common root), or the first root
        roots = np.flatnonzero(sk.parents < 0)
        j = int(character.humanoid.get("hips", roots[0]))
        while sk.parents[j] >= 0:
            j = int(sk.parents[j])
        self.root = j

    def local(self, t: float) -> np.ndarray:
        """[J, 4, 4] f64 local joint matrices at time t."""
        sk = self.character.skeleton
        quats, off = self.clip.sample(t)
        q = quat_to_matrix(quats[self.clip_column])  # [M, 3, 3] rest-aligned
        # joint-frame rotation restRot^T Q restRot (skipped for axis-aligned rest frames)
        r = q if self.aligned else np.swapaxes(self.rest_rot, 1, 2) @ q @ self.rest_rot
        local = sk.rest_local.astype(np.float64).copy()
        local[self.joint_index, :3, :3] = local[self.joint_index, :3, :3] @ r
        offsets = self.clip.sample_offsets(t)
        if offsets is not None:
            local[self.joint_index, :3, 3] += offsets[self.clip_column]
        p = sk.parents[self.root]
        # The offset is in character space; express it in the root's parent frame.
        if p >= 0:
            parent_world = world_matrices(sk.parents, local)[p]
            off = np.linalg.solve(parent_world[:3, :3], off)
        local[self.root, :3, 3] += off
        return local

    def pose(self, t: float) -> Pose:
        return Pose(joint_world=world_matrices(self.character.skeleton.parents, self.local(t)).astype(np.float32))


def orthonormal(m: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> the nearest rotations (drops a joint frame's scale)."""
    u, _, vt = np.linalg.svd(m)
    return u @ vt


def world_matrices(parents: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Forward kinematics in float64: [J] parents, [J, 4, 4] local -> [J, 4, 4] world.

    One batched matmul per tree depth instead of one per joint (runs every frame)."""
    world = np.empty_like(local)
    for level in _levels(tuple(int(x) for x in parents)):
        if level[0] is None:  # roots
            world[level[1]] = local[level[1]]
        else:
            world[level[1]] = world[level[0]] @ local[level[1]]
    return world


_LEVEL_CACHE: dict = {}


def _levels(parents: tuple) -> list:
    """[(parent indices or None, joint indices)] per depth, parents before children (memoised)."""
    if parents not in _LEVEL_CACHE:
        depth = []
        for j, p in enumerate(parents):
            depth.append(0 if p < 0 else depth[p] + 1)
        depth = np.array(depth)
        out = []
        for d in range(int(depth.max()) + 1 if len(depth) else 0):
            js = np.flatnonzero(depth == d)
            out.append((None if d == 0 else np.array([parents[j] for j in js]), js))
        if len(_LEVEL_CACHE) > 64:
            _LEVEL_CACHE.clear()
        _LEVEL_CACHE[parents] = out
    return _LEVEL_CACHE[parents]


# ---------------------------------------------------------------------------
# Registry of procedural clips

_CLIPS: dict[str, Callable[[float], Clip]] = {}


def register_clip(fn: Callable[[float], Clip]) -> Callable[[float], Clip]:
    """Register ``fn(scale) -> Clip`` under its function name (``scale`` = hip height / 0.9 m)."""
    _CLIPS[fn.__name__] = fn
    return fn


def list_clips() -> list[str]:
    return sorted(_CLIPS)


def get_clip(name: str, character: Character | None = None) -> Clip:
    """A procedural clip by name, with root motion scaled to ``character``."""
    if name not in _CLIPS:
        raise ConfigError(f"unknown clip {name!r}; valid clips: {', '.join(list_clips())}")
    scale = 1.0
    if character is not None:
        hips = character.humanoid.get("hips")
        if hips is not None:
            scale = max(float(character.skeleton.rest_world[hips, 1, 3]), 1e-3) / 0.9
    return _CLIPS[name](scale)


def _rx(deg):
    return axis_angle((1, 0, 0), np.radians(deg))


def _ry(deg):
    return axis_angle((0, 1, 0), np.radians(deg))


def _rz(deg):
    return axis_angle((0, 0, 1), np.radians(deg))


def _sampled(name: str, duration: float, fn, loop=True, fps=60.0) -> Clip:
    """Sample ``fn(t) -> (dict name -> [3, 3], [3] root offset)`` into a Clip."""
    times = np.arange(int(round(duration * fps)) + 1) / fps
    frames = [fn(float(t)) for t in times]
    names = tuple(sorted({k for rots, _ in frames for k in rots}))
    rot = np.zeros((len(times), len(names), 4))
    rot[..., 3] = 1.0
    for i, (rots, _) in enumerate(frames):
        for k, m in rots.items():
            rot[i, names.index(k)] = matrix_to_quat(m)
    off = np.array([o for _, o in frames], np.float64)
    return Clip(name=name, joints=names, rotations=rot, root_offset=off, fps=fps, loop=loop)


_ARMS_DOWN = 70.0  # degrees from the T-pose to relaxed arms


def _arms(l_down=_ARMS_DOWN, r_down=_ARMS_DOWN, l_swing=0.0, r_swing=0.0, elbow=0.0):
    # swing about X (positive = arm backwards), after lowering about Z
    return {
        "leftUpperArm": _rx(l_swing) @ _rz(-l_down),
        "rightUpperArm": _rx(r_swing) @ _rz(r_down),
        "leftLowerArm": _ry(-elbow),
        "rightLowerArm": _ry(elbow),
    }


@register_clip
def idle(scale: float) -> Clip:
    def f(t):
        b = np.sin(2 * np.pi * t / 2.0)
        rots = _arms(_ARMS_DOWN + 2 * b, _ARMS_DOWN + 2 * b, elbow=8)
        rots.update(chest=_rx(1.5 * b), head=_ry(4 * np.sin(2 * np.pi * t / 4.0)) @ _rx(-2 * b))
        return rots, np.array([0.0, 0.004 * scale * b, 0.0])
    return _sampled("idle", 4.0, f)


def _gait(name, scale, period, speed, hip_amp, knee_amp, arm_amp, lean, bounce, elbow):
    def f(t):
        ph = 2 * np.pi * t / period
        s = np.sin(ph)
        knee_l = knee_amp * max(0.0, np.sin(ph - 0.6 * np.pi)) + 5
        knee_r = knee_amp * max(0.0, np.sin(ph + 0.4 * np.pi)) + 5
        rots = _arms(l_swing=arm_amp * s, r_swing=-arm_amp * s, elbow=elbow)
        rots.update(
            hips=_ry(6 * s),
            spine=_rx(lean) @ _ry(-4 * s),
            chest=_ry(-4 * s),
            leftUpperLeg=_rx(-hip_amp * s),
            rightUpperLeg=_rx(hip_amp * s),
            leftLowerLeg=_rx(knee_l),
            rightLowerLeg=_rx(knee_r),
            leftFoot=_rx(-0.3 * knee_l),
            rightFoot=_rx(-0.3 * knee_r),
        )
        return rots, np.array([0.0, (bounce * abs(np.cos(ph)) - bounce) * scale, speed * scale * t])
    return _sampled(name, period, f)


@register_clip
def walk(scale: float) -> Clip:
    return _gait("walk", scale, 1.0, 1.2, 28, 45, 18, 3, 0.02, 10)


@register_clip
def run(scale: float) -> Clip:
    return _gait("run", scale, 0.66, 3.0, 45, 85, 40, 12, 0.05, 80)


def _smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@register_clip
def turn(scale: float) -> Clip:
    """A fast half turn of the whole body (0.2 s still, 0.4 s turn, then hold)."""
    def f(t):
        rots = _arms()
        rots["hips"] = _ry(180 * _smooth((t - 0.2) / 0.4))
        return rots, np.zeros(3)
    return _sampled("turn", 2.0, f, loop=False)


@register_clip
def wave(scale: float) -> Clip:
    def f(t):
        s = np.sin(2 * np.pi * t / 0.8)
        rots = _arms(r_down=-60)
        rots["rightLowerArm"] = _rz(-(40 + 25 * s))
        rots["head"] = _rz(-5) @ _ry(-10)
        return rots, np.zeros(3)
    return _sampled("wave", 1.6, f)


@register_clip
def jump(scale: float) -> Clip:
    """Crouch, take off, fly 0.45 s, land, recover (1.4 s loop)."""
    def f(t):
        crouch = _smooth(t / 0.3) * (1 - _smooth((t - 0.3) / 0.08)) + _smooth((t - 0.75) / 0.08) * (1 - _smooth((t - 1.0) / 0.3))
        air = 0.0
        if 0.3 < t < 0.75:
            u = (t - 0.3) / 0.45
            air = 4 * u * (1 - u)
        rots = _arms(l_down=_ARMS_DOWN - 90 * air, r_down=_ARMS_DOWN - 90 * air, l_swing=30 * crouch, r_swing=30 * crouch)
        for side in ("left", "right"):
            rots[f"{side}UpperLeg"] = _rx(-50 * crouch - 10 * air)
            rots[f"{side}LowerLeg"] = _rx(90 * crouch + 25 * air)
            rots[f"{side}Foot"] = _rx(-40 * crouch + 20 * air)
        rots["spine"] = _rx(15 * crouch)
        return rots, np.array([0.0, (0.35 * air - 0.17 * crouch) * scale, 0.0])
    return _sampled("jump", 1.4, f)


@register_clip
def dance(scale: float) -> Clip:
    """Hip sway with alternating arm pumps and a spin every other bar (4 s loop)."""
    def f(t):
        beat = 2 * np.pi * t / 1.0
        s, c = np.sin(beat), np.cos(beat)
        spin = 360 * _smooth((t - 2.5) / 0.8)
        rots = _arms(l_down=_ARMS_DOWN - 110 * max(0.0, s), r_down=_ARMS_DOWN - 110 * max(0.0, -s), elbow=30 + 20 * c)
        rots.update(
            hips=_ry(spin) @ _rz(8 * s),
            spine=_rz(-6 * s),
            chest=_ry(10 * c),
            head=_rz(6 * s) @ _rx(-4 * c),
            leftUpperLeg=_rz(-8 * s) @ _rx(-10 * max(0.0, s)),
            rightUpperLeg=_rz(-8 * s) @ _rx(-10 * max(0.0, -s)),
            leftLowerLeg=_rx(20 * max(0.0, s)),
            rightLowerLeg=_rx(20 * max(0.0, -s)),
        )
        return rots, np.array([0.05 * scale * s, (0.02 * abs(c) - 0.02) * scale, 0.0])
    return _sampled("dance", 4.0, f)
