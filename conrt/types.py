"""Boundary types: plain frozen dataclasses of NumPy arrays passed between the
stages (characters -> physics -> shaders -> runtime -> engine_bridge).

Conventions (everywhere in conrt):
- Right-handed, metres, +Y up, the character faces +Z in its rest pose, feet at
  y = 0 (the glTF convention). Matrices are 4x4 float32, column vectors,
  stored row-major in NumPy (``M @ p``); translation is ``M[:3, 3]``.
- Rest pose = bind pose = T-pose.
- Shapes are given in comments: ``# [V, 3] f32``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np

from conrt.errors import InputError

# VRM humanoid bone names are our canonical humanoid joint names: procedural
# characters use exactly these, imported VRM/BVH/glTF rigs are mapped onto them
# where they can be (Character.humanoid).
HUMANOID_BONES = (
    "hips", "spine", "chest", "upperChest", "neck", "head",
    "leftEye", "rightEye", "jaw",
    "leftShoulder", "leftUpperArm", "leftLowerArm", "leftHand",
    "rightShoulder", "rightUpperArm", "rightLowerArm", "rightHand",
    "leftUpperLeg", "leftLowerLeg", "leftFoot", "leftToes",
    "rightUpperLeg", "rightLowerLeg", "rightFoot", "rightToes",
)


class Part(IntEnum):
    """Per-vertex part label (stored as uint8)."""

    SKIN = 0
    HAIR = 1
    CLOTH = 2  # top, sleeves, skirt, pants
    EYES = 3
    MOUTH = 4
    SHOES = 5
    SOCKS = 6
    ACCESSORY = 7
    OTHER = 8


# ---------------------------------------------------------------------------
# Character asset


@dataclass(frozen=True)
class Skeleton:
    """Joint hierarchy in its rest (bind) pose. Parents come before children."""

    names: tuple[str, ...]
    parents: np.ndarray  # [J] int32, -1 for a root
    rest_local: np.ndarray  # [J, 4, 4] f32, joint -> parent space in the rest pose
    rest_world: np.ndarray  # [J, 4, 4] f32, joint -> character space in the rest pose
    inverse_bind: np.ndarray  # [J, 4, 4] f32, character space -> joint space (skin matrix = world @ inverse_bind)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"no joint named {name!r}; the skeleton has {', '.join(self.names)}") from None


@dataclass(frozen=True)
class Material:
    """Base colour of the surface (what the toon pass shades).

    glTF semantics: albedo = base_color_factor x texture(uv) (when both a
    texture and mesh.uv exist) x mesh.colors (COLOR_0, when present).
    Procedural characters put their part colours/patterns in mesh.colors and
    their painted face in a small texture (face vertices get planar UVs into
    it, every other vertex points at a white texel).
    """

    base_color_factor: np.ndarray = field(default_factory=lambda: np.ones(4, np.float32))  # [4] f32 linear RGBA
    base_color_texture: np.ndarray | None = None  # [H, W, 4] u8 sRGB, row 0 = top (v = 0)
    shade_color_factor: np.ndarray | None = None  # [4] f32, VRM MToon shade colour when present
    # glTF sampler minFilter: False when every base-colour texture asks for NEAREST/LINEAR (no
    # mipmaps): palette textures (one flat colour per cell, low-poly UVs that span many cells)
    # would otherwise average neighbouring cells into the wrong colour on small triangles.
    mipmaps: bool = True


ALPHA_MODES = ("OPAQUE", "MASK", "BLEND")  # glTF material.alphaMode, index = SkinnedMesh.alpha_mode value


@dataclass(frozen=True)
class SkinnedMesh:
    positions: np.ndarray  # [V, 3] f32 rest (bind) positions, character space
    normals: np.ndarray  # [V, 3] f32 unit rest normals
    joints: np.ndarray  # [V, 4] u16 joint indices (into Skeleton.names)
    weights: np.ndarray  # [V, 4] f32, each row sums to 1
    triangles: np.ndarray  # [F, 3] u32, counter-clockwise front faces
    parts: np.ndarray  # [V] u8 Part labels
    uv: np.ndarray | None = None  # [V, 2] f32 texture coordinates (glTF: v down)
    colors: np.ndarray | None = None  # [V, 4] f32 linear vertex colours (procedural albedo lives here)
    material: Material = field(default_factory=Material)
    # glTF material flags of each vertex's primitive (the mesh is merged; None = OPAQUE, double-sided):
    alpha_mode: np.ndarray | None = None  # [V] u8 ALPHA_MODES index: 0 OPAQUE, 1 MASK, 2 BLEND
    alpha_cutoff: np.ndarray | None = None  # [V] f32 MASK threshold on albedo alpha (glTF default 0.5)
    double_sided: np.ndarray | None = None  # [V] bool; False: back faces are culled
    # [V, 4] f32 linear: the MToon shade colour of each vertex's primitive (alpha 1), alpha 0 where its
    # material has none; None: material.shade_color_factor for every vertex (one material, or all alike)
    shade_colors: np.ndarray | None = None
    # glTF morph targets (blendshapes), all meshes merged: target t moves vertex v by
    # weight[t] * morph_positions[t, v] before skinning (characters/expressions.py names them).
    morph_names: tuple[str, ...] = ()
    morph_positions: np.ndarray | None = None  # [T, V, 3] f32 POSITION deltas, character space
    morph_normals: np.ndarray | None = None  # [T, V, 3] f32 NORMAL deltas (None: normals stay)

    @property
    def num_vertices(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_triangles(self) -> int:
        return int(self.triangles.shape[0])

    @property
    def num_morphs(self) -> int:
        return 0 if self.morph_positions is None else int(self.morph_positions.shape[0])


@dataclass(frozen=True)
class SimRegion:
    """A part of the mesh that physics moves instead of skinning.

    kind "cloth": a skirt/cape. ``vertices`` are the render vertices the cloth
      simulation owns; ``anchor_joint`` the joint it hangs from (hips for a
      skirt, upperChest/chest for a cape); ``pinned`` the subset of ``vertices``
      that stay skinned (the waistband), used to anchor the proxy.
    kind "hair": one strand chain (long hair lock, ponytail, twin tail).
      ``chain`` are joint indices root -> tip of the strand's own joints (the
      strand vertices are skinned to them); ``anchor_joint`` is the head.
    """

    name: str
    kind: Literal["cloth", "hair"]
    anchor_joint: int
    vertices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # [K] i32
    pinned: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # [P] i32, subset of vertices
    chain: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # [C] i32 joint indices, root first


@dataclass(frozen=True)
class CanonicalBox:
    """Maps rest-pose positions to UDP landmarks: ``landmark = clip((p - origin) / size, 0, 1)``.

    Default (``from_rest``): height h of the rest-pose bounding box, centre
    (cx, cz) of its x/z extent, feet at y = 0:
        landmark = ((x - cx)/h + 0.5, y/h, (z - cz)/h + 0.5)
    It is a parameter because official CoNR weights were trained with their own
    convention.
    """

    origin: np.ndarray  # [3] f32
    size: np.ndarray  # [3] f32, all > 0

    @classmethod
    def from_rest(cls, positions: np.ndarray) -> "CanonicalBox":
        lo, hi = positions.min(0), positions.max(0)
        h = float(hi[1] - min(lo[1], 0.0))
        if not np.isfinite(h) or h <= 0:
            raise InputError(f"cannot derive a canonical box from a mesh of height {h}")
        cx, cz = (lo[0] + hi[0]) / 2, (lo[2] + hi[2]) / 2
        origin = np.array([cx - h / 2, 0.0, cz - h / 2], np.float32)
        return cls(origin=origin, size=np.full(3, h, np.float32))

    def landmarks(self, positions: np.ndarray) -> np.ndarray:
        """[N, 3] rest positions -> [N, 3] f32 landmarks in 0..1."""
        return np.clip((positions - self.origin) / self.size, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Character:
    name: str
    skeleton: Skeleton
    mesh: SkinnedMesh
    box: CanonicalBox
    regions: tuple[SimRegion, ...] = ()
    humanoid: dict[str, int] = field(default_factory=dict)  # HUMANOID_BONES name -> joint index
    meta: dict = field(default_factory=dict)  # generator params, source file, credits ...
    # Expression name (VRM presets normalised: blink, aa, joy, lookUp ... see
    # characters/expressions.py) -> [T] f32 morph weights it sets at weight 1.
    expressions: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def height(self) -> float:
        return float(self.box.size[1])


# ---------------------------------------------------------------------------
# Per-frame data


@dataclass(frozen=True)
class Pose:
    """A posed character for one frame.

    ``joint_world``: each joint's world (character-space) matrix; the skinning
    matrix of joint j is ``joint_world[j] @ skeleton.inverse_bind[j]``.
    ``sim_indices``/``sim_positions``: render vertices placed by physics
    (cloth); they override skinning for those vertices.
    ``morph_weights``: one weight per morph target (clipped to 0..1 when drawn),
    applied to the rest shape before skinning; the UDP keeps the un-morphed rest
    landmarks. Set by name with ``characters.expressions`` (``with_expressions``,
    ``PhysicsWorld.set_expressions``).
    """

    joint_world: np.ndarray  # [J, 4, 4] f32
    sim_indices: np.ndarray | None = None  # [K] i32
    sim_positions: np.ndarray | None = None  # [K, 3] f32, character space
    morph_weights: np.ndarray | None = None  # [T] f32 morph target weights (SkinnedMesh.morph_*), None = all 0

    def validate(self, num_joints: int) -> None:
        if self.joint_world.shape != (num_joints, 4, 4):
            raise InputError(f"pose has joint matrices of shape {self.joint_world.shape}, expected ({num_joints}, 4, 4)")
        if not np.isfinite(self.joint_world).all():
            raise InputError("pose has NaN/inf joint matrices")
        if self.sim_positions is not None and not np.isfinite(self.sim_positions).all():
            raise InputError("pose has NaN/inf simulated vertex positions")
        if self.morph_weights is not None and not np.isfinite(self.morph_weights).all():
            raise InputError("pose has NaN/inf morph weights")


@dataclass(frozen=True)
class Camera:
    view: np.ndarray  # [4, 4] f32 world -> eye
    proj: np.ndarray  # [4, 4] f32 eye -> clip (OpenGL conventions)
    width: int
    height: int


@dataclass(frozen=True)
class UdpFrame:
    """Ultra-Dense Pose buffer: ``data[..., :3]`` = landmark xyz in 0..1,
    ``data[..., 3]`` = occupancy (1 covered, 0 background). Row 0 is the TOP
    of the image (already flipped from GL's bottom-up order)."""

    data: np.ndarray  # [H, W, 4] f32


@dataclass(frozen=True)
class ShadedFrame:
    """The network's output: premultiplied RGBA, row 0 = top."""

    rgba: np.ndarray  # [H, W, 4] f32 in 0..1 (or u8)


# ---------------------------------------------------------------------------
# Pose requests: what an engine asks the runtime to shade (over any bridge
# transport; engine_bridge/PROTOCOL.md "Pose region" is the shared-memory one).

MAX_ABS_JOINT_VALUE = 1e4  # |each joint matrix entry| a request may carry (finite 1e30 overflows the framing)
MAX_ABS_CLIP_TIME = 1e6  # |clip_time| seconds a request may carry


class PoseKind(IntEnum):
    NONE = 0  # no pose yet: shade the rest pose
    JOINTS = 1  # joint_count world matrices follow
    CLIP = 2  # clip_name at clip_time seconds


def _identity4() -> np.ndarray:
    return np.eye(4, dtype=np.float32)


@dataclass(frozen=True)
class PoseRequest:
    """What the engine asks the runtime to shade next.

    ``joints``: [J, 4, 4] f32 joint world matrices in the character's skeleton
    order (row-major, column vectors, like ``Pose.joint_world``), or a clip
    name + time. ``request_id`` is echoed in every frame shaded from this
    request; ``time_ns`` is the engine's own timestamp, also echoed.
    """

    request_id: int = 0
    time_ns: int = 0
    kind: PoseKind = PoseKind.NONE
    joints: np.ndarray | None = None  # [J, 4, 4] f32
    clip_name: str = ""
    clip_time: float = 0.0
    camera_view: np.ndarray = field(default_factory=_identity4)  # [4, 4] f32 world -> eye
    camera_proj: np.ndarray = field(default_factory=_identity4)  # [4, 4] f32 eye -> clip

    def camera_yaw(self) -> float:
        """Yaw (radians, about +Y) of the camera's viewing direction in world space."""
        rot = self.camera_view[:3, :3]
        forward = -rot[2, :]  # the eye looks down -Z; row 2 of world->eye is eye Z in world
        return float(np.arctan2(-forward[0], -forward[2])) if np.isfinite(forward).all() else 0.0
