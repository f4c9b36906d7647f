"""glTF animations (samplers + channels in a .glb/.gltf) as clips.

glTF stores each node's *absolute* local rotation/translation; a clip stores
rest-aligned rotations relative to the rest pose (see ``clips.py``), so each
keyed rotation L becomes ``Q = Rw @ (restLocal^T @ L) @ Rw^T``. Every channel
is resampled onto one uniform time grid with its own interpolation (LINEAR,
STEP, or the values of CUBICSPLINE keys).
"""
from __future__ import annotations

import base64
import logging
from pathlib import Path

import numpy as np
import pygltflib

from conrt.errors import AssetError
from conrt.types import Character, Skeleton

from .clips import Clip, orthonormal
from .transforms import matrix_to_quat, quat_to_matrix, slerp

log = logging.getLogger(__name__)

_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_NORMALIZE = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}


def _load(path):
    try:
        with open(path, "rb") as fh:
            binary = fh.read(4) == b"glTF"  # .vrm/.vrma are GLB whatever their suffix
        return pygltflib.GLTF2().load_binary(str(path)) if binary else pygltflib.GLTF2().load_json(str(path))
    except Exception as exc:  # pygltflib raises a zoo of errors on bad files
        raise AssetError(f"cannot read glTF file {path}: {exc}") from None


def _buffer_bytes(gltf, path: Path, index: int) -> bytes:
    buf = gltf.buffers[index]
    if buf.uri is None:
        blob = gltf.binary_blob()
        if blob is None:
            raise AssetError(f"{path}: buffer {index} has no uri and the file has no binary chunk")
        return blob
    if buf.uri.startswith("data:"):
        return base64.b64decode(buf.uri.split(",", 1)[1])
    return (path.parent / buf.uri).read_bytes()


def _accessor(gltf, path: Path, index: int, cache: dict) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    if view.buffer not in cache:
        cache[view.buffer] = _buffer_bytes(gltf, path, view.buffer)
    dtype = np.dtype(_COMPONENTS[acc.componentType])
    n = _SIZES[acc.type]
    stride = view.byteStride or dtype.itemsize * n
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    raw = np.frombuffer(cache[view.buffer], np.uint8, count=stride * (acc.count - 1) + dtype.itemsize * n, offset=start)
    rows = np.lib.stride_tricks.as_strided(raw, (acc.count, dtype.itemsize * n), (stride, 1))
    out = rows.copy().view(dtype).reshape(acc.count, n).astype(np.float64)
    if acc.normalized and acc.componentType in _NORMALIZE:
        out = np.maximum(out / _NORMALIZE[acc.componentType], -1.0)
    return out


def _time_grid(key_times, fps):
    """The uniform grid every keyed channel is resampled onto: from the first to
    the last key of any channel at ``fps`` (None: the finest median key spacing,
    10..240 fps; 30 when no channel has two keys). Returns (fps, grid)."""
    if fps is None:
        steps = [np.median(np.diff(t)) for t in key_times if len(t) > 1]
        fps = float(np.clip(1.0 / min(steps), 10.0, 240.0)) if steps else 30.0
    t0 = min(float(t[0]) for t in key_times)
    t1 = max(float(t[-1]) for t in key_times)
    return fps, t0 + np.arange(int(np.ceil((t1 - t0) * fps - 1e-6)) + 1) / fps


def _resample(times, values, grid, mode, is_quat):
    """[K] times, [K, n] values -> [G, n] at ``grid``."""
    if mode == "CUBICSPLINE":  # (in-tangent, value, out-tangent) per key: use the values
        values = values.reshape(len(times), 3, -1)[:, 1]
    if len(times) == 1:
        return np.repeat(values[:1], len(grid), 0)
    k = np.clip(np.searchsorted(times, grid, side="right") - 1, 0, len(times) - 2)
    f = np.clip((grid - times[k]) / np.maximum(times[k + 1] - times[k], 1e-9), 0.0, 1.0)
    if mode == "STEP":
        f = (f >= 1.0).astype(np.float64)
    if is_quat:
        return slerp(values[k], values[k + 1], f)
    return values[k] * (1 - f[:, None]) + values[k + 1] * f[:, None]


def list_gltf_animations(path) -> list[str]:
    gltf = _load(path)
    return [a.name or f"animation_{i}" for i, a in enumerate(gltf.animations or [])]


def _node_tree(nodes):
    """The file's node tree: (parent of each child node, each node's [4, 4] local
    matrix, node index -> its world matrix, the locals multiplied up to the root)."""
    parent_of = {c: i for i, n in enumerate(nodes) for c in (n.children or [])}
    local = [_node_local(n) for n in nodes]

    def world(i):
        m = np.eye(4)
        while i is not None:
            m = local[i] @ m
            i = parent_of.get(i)
        return m

    return parent_of, local, world


def _node_local(node) -> np.ndarray:
    """4x4 local matrix of a pygltflib node (matrix or TRS)."""
    if node.matrix is not None and len(node.matrix) == 16:
        return np.asarray(node.matrix, np.float64).reshape(4, 4).T
    m = np.eye(4)
    if node.scale is not None:
        m = np.diag([*map(float, node.scale), 1.0])
    if node.rotation is not None:
        r = np.eye(4)
        r[:3, :3] = quat_to_matrix(np.asarray(node.rotation, np.float64))
        m = r @ m
    if node.translation is not None:
        m[:3, 3] = [float(v) for v in node.translation]
    return m


def _trs(node):
    """(translation [3], rotation quaternion [4], scale [3]) of a node, decomposing a matrix."""
    m = _node_local(node)
    s = np.linalg.norm(m[:3, :3], axis=0)
    return m[:3, 3].copy(), matrix_to_quat(m[:3, :3] / np.maximum(s, 1e-12)), s


def load_gltf_clip(path, skeleton: Skeleton, animation: str | int = 0, fps: float | None = None,
                   loop: bool = True, character: Character | None = None) -> Clip:
    """One animation of a glTF file as a clip over ``skeleton``'s joint names
    (joints are matched to the animated nodes by name). ``fps=None`` resamples
    at the file's own key rate (so the keys are hit exactly).

    Each keyed node's local transform is taken in the file's own frames and
    put into ours: a root joint's keys are relative to the nodes above it (a
    Z-up armature node, a unit scale), which are applied, and so is the turn
    and floor shift ``load_character`` gave the character: the node's rest
    frame is mapped onto the joint's rest frame. Translation keys of any joint
    become the clip's per-joint offsets. When the file's node pose is not its
    bind pose (which we load as the rest pose), the joints the animation leaves
    alone are driven to their node pose too, since the keys assume it."""
    if character is not None:
        skeleton = character.skeleton
    path = Path(path)
    gltf = _load(path)
    anims = gltf.animations or []
    names = [a.name or f"animation_{i}" for i, a in enumerate(anims)]
    if not anims:
        raise AssetError(f"{path} has no animations")
    if isinstance(animation, str):
        if animation not in names:
            raise AssetError(f"{path} has no animation {animation!r}; it has: {', '.join(names)}")
        animation = names.index(animation)
    if not 0 <= animation < len(anims):
        raise AssetError(f"{path}: animation index {animation} out of range (0..{len(anims) - 1})")
    anim = anims[animation]
    cache: dict = {}
    nodes = gltf.nodes or []
    node_names = [n.name or f"node_{i}" for i, n in enumerate(nodes)]
    keyed = []
    for ch in anim.channels:
        if ch.target.node is None or ch.target.path not in ("rotation", "translation"):
            continue  # scale and morph weights do not drive the rig
        name = node_names[ch.target.node]
        if name not in skeleton.names:
            log.debug("%s: animated node %s is not a skeleton joint, skipped", path, name)
            continue
        s = anim.samplers[ch.sampler]
        times = _accessor(gltf, path, s.input, cache)[:, 0]
        values = _accessor(gltf, path, s.output, cache)
        keyed.append((name, ch.target.node, ch.target.path, times, values, s.interpolation or "LINEAR"))
    if not keyed:
        raise AssetError(f"{path}: animation {names[animation]!r} animates none of the skeleton joints "
                         f"({', '.join(skeleton.names[:8])}...)")
    fps, grid = _time_grid([k[3] for k in keyed], fps)

    # The file's frames: P maps a keyed node's local transform into our joint's
    # parent frame. Root joints: everything above them in the file (armature
    # node) and the load transform; other joints: non-joint nodes between the
    # joint and its parent joint (usually none).
    parent_of, local, world = _node_tree(nodes)

    by_name = {}
    for i, nm in enumerate(node_names):
        by_name.setdefault(nm, i)
    animated = {}
    for name, node, *_ in keyed:
        animated.setdefault(name, node)
    # joints at rest in the animation: still driven when the file's node pose
    # differs from the bind pose we load as the rest pose (the keys assume the node pose)
    for j, name in enumerate(skeleton.names):
        if name not in animated and name in by_name:
            rest = skeleton.rest_local[j].astype(np.float64)
            node = _node_local(nodes[by_name[name]])
            if skeleton.parents[j] >= 0 and not np.allclose(rest, node, atol=1e-5 * max(1.0, np.abs(node).max())):
                animated[name] = by_name[name]
    frames = {}
    for name, node in animated.items():
        j = skeleton.names.index(name)
        pj = skeleton.parents[j]
        if pj < 0:  # the node's rest frame onto our rest frame: armature node, unit scale, turn, floor
            frames[name] = skeleton.rest_world[j].astype(np.float64) @ np.linalg.inv(local[node])
        else:
            above = world(parent_of.get(node)) if parent_of.get(node) is not None else np.eye(4)
            pnode = by_name.get(skeleton.names[pj])
            frames[name] = np.linalg.solve(world(pnode), above) if pnode is not None else np.eye(4)

    names_keyed = sorted(animated, key=skeleton.names.index)
    rots = np.zeros((len(grid), len(names_keyed), 4))
    rots[..., 3] = 1.0
    offsets = np.zeros((len(grid), len(names_keyed), 3))
    sampled: dict = {}
    for name, node, what, times, values, mode in keyed:
        sampled[(name, what)] = _resample(times, values, grid, mode, what == "rotation")
    for c, name in enumerate(names_keyed):
        j = skeleton.names.index(name)
        t_rest, q_rest, s_rest = _trs(nodes[animated[name]])
        q = sampled.get((name, "rotation"), np.tile(q_rest, (len(grid), 1)))
        t = sampled.get((name, "translation"), np.tile(t_rest, (len(grid), 1)))
        P = frames[name]
        p3 = P[:3, :3]
        ours_rot = orthonormal(p3) @ quat_to_matrix(q)  # [G, 3, 3] our local rotation
        ours_t = t @ p3.T + P[:3, 3]  # [G, 3] our local translation
        rest_local = skeleton.rest_local[j].astype(np.float64)
        rw = orthonormal(skeleton.rest_world[j, :3, :3].astype(np.float64))
        r = np.einsum("ba,gbc->gac", orthonormal(rest_local[:3, :3]), ours_rot)  # restLocal^T @ L
        rots[:, c] = matrix_to_quat(np.einsum("ab,gbc,dc->gad", rw, r, rw))  # Rw R Rw^T
        offsets[:, c] = ours_t - rest_local[:3, 3]
    root = np.zeros((len(grid), 3))
    scale = max(float(np.abs(skeleton.rest_world[:, :3, 3]).max()), 1e-6)
    return Clip(name=names[animation], joints=tuple(names_keyed), rotations=rots, root_offset=root, fps=fps,
                loop=loop, offsets=offsets if np.abs(offsets).max(initial=0) > 1e-6 * scale else None)


VRMA_EXTENSION = "VRMC_vrm_animation"


def load_vrma_clip(path, character: Character, fps: float | None = None, loop: bool = True) -> Clip:
    """A VRM animation (``.vrma``: glTF with ``VRMC_vrm_animation``) as a clip over
    ``character``'s humanoid bones.

    VRMA keys each humanoid bone's local rotation in the file's own node
    frames; the rest-aligned rotation is ``Q = parentWorldRest @ L @ worldRest^T``
    (the spec's normalisation, and our clip convention). The hips translation
    keys become the root offset, scaled by the ratio of hip heights. VRM 1.0
    and VRMA face +Z like our characters."""
    path = Path(path)
    gltf = _load(path)
    ext = (gltf.extensions or {}).get(VRMA_EXTENSION) or {}
    bones = {name: b.get("node") for name, b in ((ext.get("humanoid") or {}).get("humanBones") or {}).items()
             if isinstance(b, dict) and isinstance(b.get("node"), int)}
    if not bones:
        raise AssetError(f"{path}: not a VRM animation (no {VRMA_EXTENSION} humanoid bones)")
    anims = gltf.animations or []
    if not anims:
        raise AssetError(f"{path} has no animations")
    anim = anims[0]
    nodes = gltf.nodes or []
    parent_of, local, world = _node_tree(nodes)

    node_bone = {n: b for b, n in bones.items() if b in character.humanoid}
    cache: dict = {}
    keyed = []
    for ch in anim.channels:
        node = ch.target.node
        if node in node_bone and ch.target.path in ("rotation", "translation"):
            s = anim.samplers[ch.sampler]
            keyed.append((node, ch.target.path, _accessor(gltf, path, s.input, cache)[:, 0],
                          _accessor(gltf, path, s.output, cache), s.interpolation or "LINEAR"))
    if not keyed:
        raise AssetError(f"{path}: the animation keys none of the humanoid bones {character.name!r} has "
                         f"({', '.join(sorted(character.humanoid)[:8])}...)")
    fps, grid = _time_grid([k[2] for k in keyed], fps)
    rot_nodes = sorted({k[0] for k in keyed if k[1] == "rotation"}, key=lambda n: character.humanoid[node_bone[n]])
    rots = np.zeros((len(grid), len(rot_nodes), 4))
    rots[..., 3] = 1.0
    offset = np.zeros((len(grid), 3))
    hips_node = bones.get("hips")
    for node, what, times, values, mode in keyed:
        v = _resample(times, values, grid, mode, what == "rotation")
        above = world(parent_of.get(node)) if parent_of.get(node) is not None else np.eye(4)
        if what == "rotation":
            rp = orthonormal(above[:3, :3])
            rj = orthonormal(world(node)[:3, :3])
            q = np.einsum("ab,gbc,dc->gad", rp, quat_to_matrix(v), rj)  # parentWorldRest L worldRest^T
            rots[:, rot_nodes.index(node)] = matrix_to_quat(q)
        elif node == hips_node and "hips" in character.humanoid:
            rest_hips = world(node)[:3, 3]
            moved = v @ above[:3, :3].T + above[:3, 3] - rest_hips  # [G, 3] displacement in the file's world
            ours = float(character.skeleton.rest_world[character.humanoid["hips"], 1, 3])
            offset = moved * (ours / rest_hips[1] if rest_hips[1] > 1e-6 else 1.0)
    return Clip(name=path.stem, joints=tuple(node_bone[n] for n in rot_nodes), rotations=rots, root_offset=offset,
                fps=fps, loop=loop)
