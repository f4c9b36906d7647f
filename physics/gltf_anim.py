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

from conrt.errors import AssetError
from conrt.types import Skeleton

from .clips import Clip
from .transforms import matrix_to_quat, quat_to_matrix, slerp

log = logging.getLogger(__name__)

_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_NORMALIZE = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}


def _load(path):
    import pygltflib

    try:
        return pygltflib.GLTF2().load(str(path))
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


def load_gltf_clip(path, skeleton: Skeleton, animation: str | int = 0, fps: float | None = None,
                   loop: bool = True) -> Clip:
    """One animation of a glTF file as a clip over ``skeleton``'s joint names
    (joints are matched to the animated nodes by name). ``fps=None`` resamples
    at the file's own key rate (so the keys are hit exactly)."""
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
    node_names = [n.name or f"node_{i}" for i, n in enumerate(gltf.nodes)]
    keyed = []
    t_end = 0.0
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
        keyed.append((name, ch.target.path, times, values, s.interpolation or "LINEAR"))
        t_end = max(t_end, float(times[-1]))
    if not keyed:
        raise AssetError(f"{path}: animation {names[animation]!r} animates none of the skeleton joints "
                         f"({', '.join(skeleton.names[:8])}...)")
    if fps is None:
        steps = [np.median(np.diff(t)) for _, _, t, _, _ in keyed if len(t) > 1]
        fps = float(np.clip(1.0 / min(steps), 10.0, 240.0)) if steps else 30.0
    t0 = min(float(t[0]) for _, _, t, _, _ in keyed)
    grid = t0 + np.arange(int(np.ceil((t_end - t0) * fps - 1e-6)) + 1) / fps
    rot_names = sorted({n for n, p, *_ in keyed if p == "rotation"}, key=skeleton.names.index)
    rots = np.zeros((len(grid), len(rot_names), 4))
    rots[..., 3] = 1.0
    root = int(np.flatnonzero(skeleton.parents < 0)[0])
    offset = np.zeros((len(grid), 3))
    for name, what, times, values, mode in keyed:
        j = skeleton.names.index(name)
        v = _resample(times, values, grid, mode, what == "rotation")
        if what == "rotation":
            rest_local = skeleton.rest_local[j, :3, :3].astype(np.float64)
            rw = skeleton.rest_world[j, :3, :3].astype(np.float64)
            r = np.einsum("ba,gbc->gac", rest_local, quat_to_matrix(v))  # restLocal^T @ L
            q = np.einsum("ab,gbc,dc->gad", rw, r, rw)  # Rw R Rw^T
            rots[:, rot_names.index(name)] = matrix_to_quat(q)
        elif j == root:
            offset = v - skeleton.rest_local[j, :3, 3].astype(np.float64)
    return Clip(name=names[animation], joints=tuple(rot_names), rotations=rots, root_offset=offset, fps=fps, loop=loop)
