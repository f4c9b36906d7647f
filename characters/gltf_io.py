"""glTF 2.0 / VRM load and save of ``Character`` (via pygltflib).

Loading (``load_character``):
- ``.glb``/``.vrm`` (binary container) and ``.gltf`` (JSON with base64 data
  URIs or external ``.bin``/image files).
- One skinned mesh: every skinned primitive of the chosen skin (the skin with
  the most vertices; skins with the same joint set are merged) plus static
  meshes hanging under one of its joints (rigidly bound to that joint, e.g.
  RobotExpressive's body parts) are merged into one ``SkinnedMesh``.
- Character space: positions are where the file's default scene puts them
  (node transforms applied). When the joints' node pose equals the bind pose
  (the usual case) rest_world = the joint nodes' world matrices; otherwise the
  bind pose (inverse of the inverse bind matrices, under the armature's parent
  transform) is used and the meta says so. Rest pose = bind pose.
- JOINTS_0/WEIGHTS_0 (+ _1) of any component type; weights renormalised, the
  4 largest kept. Missing normals are computed.
- Morph targets (POSITION, NORMAL deltas) of every merged primitive become
  ``SkinnedMesh.morph_*`` (one target per (mesh, target index), named
  ``targetNames`` from the mesh/primitive extras, prefixed ``mesh/`` when
  several meshes have targets); VRM 0.x ``blendShapeMaster`` groups and VRM 1.0
  ``VRMC_vrm.expressions`` (preset + custom) become ``Character.expressions``
  with preset names normalised (``characters/expressions.py``); a plain glTF
  whose target names are presets (``blink``, ``aa`` ...) gets those. Strips/fans become triangle lists.
- Materials: base colour factor/texture (embedded PNG/JPEG decoded with
  Pillow) with its ``texCoord`` set and KHR_texture_transform, COLOR_0;
  several textures become one atlas (a grid of
  tiles within ``MAX_ATLAS_SIDE``). VRM 0.x and 1.0 humanoid maps go to
  ``Character.humanoid``; MToon shade colour to ``Material.shade_color_factor``.
- Facing: every character is turned about +Y to face +Z. Which way a file
  faces is detected from its humanoid skeleton (left/right joint pairs, toes;
  ``detect_facing``), so a -Z-facing export without the VRM extension is
  turned like VRM 0.x (which is specified to face -Z and is the fallback when
  the skeleton cannot tell); ``facing="+z"``/``"-z"`` overrides it and
  ``meta["facing"]`` (also logged) says what was decided. If the lowest vertex is not at y = 0 the whole character
  is translated so that min y = 0 (``meta["translated"]``).

Saving (``save_character``) writes one skinned primitive with POSITION,
NORMAL, TEXCOORD_0, COLOR_0, JOINTS_0, WEIGHTS_0 and the part labels as the
custom attribute ``_PARTS`` (float scalar), inverse bind matrices, the joints'
rest local transforms as node TRS, the base colour texture as PNG, morph
targets (names in the mesh's ``extras.targetNames``), and in the root
``extras["conrt"]`` the canonical box, the regions, the humanoid map, the
expressions, the name and meta (see docs/characters.md), so ``load(save(c)) == c`` up to float
tolerance.
"""
from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import math
import re
import struct
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pygltflib
from PIL import Image

from conrt.characters.colour import srgb_to_linear
from conrt.characters.expressions import PRESETS, canonical_name
from conrt.errors import AssetError, ConfigError, ConrtError
from conrt.limits import (MAX_ACCESSOR_COUNT, MAX_ATLAS_SIDE, MAX_REFERENCED_FILE_BYTES, check_character_scale,
                          decode_rgba, read_confined)
from conrt.types import (
    ALPHA_MODES,
    HUMANOID_BONES,
    CanonicalBox,
    Character,
    Material,
    Part,
    SimRegion,
    Skeleton,
    SkinnedMesh,
)

from .part_labels import PART_LINES_KEY, label_parts
from .rig_names import recognise_humanoid

log = logging.getLogger(__name__)

__all__ = ["load_character", "save_character", "detect_facing", "apply_name_map", "FACINGS", "EXTRAS_KEY",
           "EXTRAS_VERSION"]

EXTRAS_KEY = "conrt"
EXTRAS_VERSION = 1

# extensionsRequired the loader can honour: material ones change only shading, and
# conrt reads the base colour (``_File._check_required``)
READABLE_REQUIRED_PREFIXES = ("KHR_materials_",)
_CTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_NCOMP = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_NORM = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0, 5125: 4294967295.0}

# ---------------------------------------------------------------------------
# Small maths


def _quat_to_mat(q) -> np.ndarray:
    x, y, z, w = (float(v) for v in q)
    n = x * x + y * y + z * z + w * w
    if n < 1e-12:
        return np.eye(3)
    s = 2.0 / n
    return np.array([
        [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
        [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
        [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
    ])


def _mat_to_quat(r: np.ndarray) -> list[float]:
    m = r
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    q = np.array([x, y, z, w])
    return [float(v) for v in q / np.linalg.norm(q)]


def _node_local(node) -> np.ndarray:
    if node.matrix is not None and len(node.matrix) == 16:
        return np.asarray(node.matrix, np.float64).reshape(4, 4).T  # glTF is column-major
    m = np.eye(4)
    if node.scale is not None:
        m = np.diag([*map(float, node.scale), 1.0])
    if node.rotation is not None:
        r = np.eye(4)
        r[:3, :3] = _quat_to_mat(node.rotation)
        m = r @ m
    if node.translation is not None:
        t = np.eye(4)
        t[:3, 3] = [float(v) for v in node.translation]
        m = t @ m
    return m


def _decompose(m: np.ndarray):
    """4x4 -> (t, q, s) or None when it is not a TRS (shear/negative scale)."""
    a = m[:3, :3].astype(np.float64)
    s = np.linalg.norm(a, axis=0)
    if (s < 1e-12).any():
        return None
    r = a / s
    if np.linalg.det(r) < 0 or not np.allclose(r.T @ r, np.eye(3), atol=1e-5):
        return None
    return [float(v) for v in m[:3, 3]], _mat_to_quat(r), [float(v) for v in s]


def _normal_matrix(m: np.ndarray) -> np.ndarray:
    a = m[:3, :3]
    try:
        return np.linalg.inv(a).T
    except np.linalg.LinAlgError:
        return a


def _xform(m, p):
    return p @ m[:3, :3].T + m[:3, 3]


def _unit(n):
    ln = np.linalg.norm(n, axis=1, keepdims=True)
    return np.where(ln > 1e-12, n / np.maximum(ln, 1e-12), np.array([0, 1.0, 0]))


def _vertex_normals(pos, tri):
    fn = np.cross(pos[tri[:, 1]] - pos[tri[:, 0]], pos[tri[:, 2]] - pos[tri[:, 0]])
    n = np.zeros_like(pos)
    for k in range(3):
        np.add.at(n, tri[:, k], fn)
    return _unit(n)


# ---------------------------------------------------------------------------
# Reading the container


class _File:
    """Parsed glTF: the pygltflib document plus resolved buffers."""

    def __init__(self, path: Path):
        self.path = path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise AssetError(f"{path}: no such file") from None
        except OSError as exc:
            raise AssetError(f"{path}: cannot read ({exc})") from None
        bin_chunk = None
        if raw[:4] == b"glTF":
            text, bin_chunk = self._parse_glb(raw)
        else:
            try:
                text = raw.decode("utf-8-sig")
                json.loads(text)
            except (UnicodeDecodeError, ValueError) as exc:
                raise AssetError(f"{path}: not a glTF file (neither a GLB container nor glTF JSON: {exc})") from None
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or "asset" not in doc:
                raise ValueError("no 'asset' object")
            # animations are not used here and are most of the parse time
            # (pygltflib decodes every channel/sampler into dataclasses)
            slim = {k: v for k, v in doc.items() if k != "animations"}
            self.gltf = pygltflib.GLTF2.from_json(json.dumps(slim))
        except Exception as exc:  # pygltflib raises whatever its dataclass parsing hits
            raise AssetError(f"{path}: not a valid glTF document ({exc})") from None
        self.json = doc
        self._check_required(doc.get("extensionsRequired"))
        self.buffers = [self._buffer(i, b, bin_chunk) for i, b in enumerate(self.gltf.buffers or [])]
        self._cache: dict[int, np.ndarray] = {}

    def _check_required(self, required) -> None:
        """Refuse a file that needs an extension this loader does not read: compressed
        geometry (Draco, meshopt) has accessors without data (read as zeros: every vertex
        at the origin), compressed textures (KTX2/BasisU, WebP) no image we decode.
        Material extensions only change shading (conrt reads the base colour): they load."""
        if not isinstance(required, list):
            return
        missing = [e for e in required if isinstance(e, str) and not e.startswith(READABLE_REQUIRED_PREFIXES)]
        if missing:
            raise AssetError(f"{self.path}: requires the glTF extension(s) {', '.join(missing)}, which conrt does not "
                             "read (compressed geometry or textures); re-export it without them (e.g. Blender's glTF "
                             "exporter with compression off, or `gltf-transform copy` after decompressing)")

    def _parse_glb(self, raw: bytes):
        if len(raw) < 20:
            raise AssetError(f"{self.path}: truncated GLB (only {len(raw)} bytes)")
        _, version, length = struct.unpack_from("<4sII", raw, 0)
        if version != 2:
            raise AssetError(f"{self.path}: GLB version {version} is not supported (only glTF 2.0)")
        if length > len(raw):
            raise AssetError(f"{self.path}: truncated GLB: header says {length} bytes, file has {len(raw)}")
        off, text, bin_chunk = 12, None, None
        while off + 8 <= length:
            clen, ctype = struct.unpack_from("<II", raw, off)
            if off + 8 + clen > length:
                raise AssetError(f"{self.path}: truncated GLB chunk at byte {off} (needs {clen} bytes)")
            data = raw[off + 8: off + 8 + clen]
            if ctype == 0x4E4F534A:  # JSON
                try:
                    text = data.decode("utf-8", errors="strict").rstrip(" \x00")
                except UnicodeDecodeError as exc:
                    raise AssetError(f"{self.path}: corrupt GLB: the JSON chunk is not UTF-8 ({exc})") from None
            elif ctype == 0x004E4942 and bin_chunk is None:  # BIN
                bin_chunk = data
            off += 8 + clen
        if text is None:
            raise AssetError(f"{self.path}: GLB has no JSON chunk")
        return text, bin_chunk

    def _buffer(self, i, buf, bin_chunk) -> bytes:
        need = int(buf.byteLength or 0)
        if buf.uri is None:
            if bin_chunk is None:
                raise AssetError(f"{self.path}: buffer {i} refers to the GLB binary chunk, which is missing")
            data = bin_chunk
        elif buf.uri.startswith("data:"):
            try:
                data = base64.b64decode(buf.uri.split(",", 1)[1], validate=False)
            except (IndexError, ValueError) as exc:
                raise AssetError(f"{self.path}: buffer {i} has a corrupt data URI ({exc})") from None
        else:
            # confined to the asset's folder, and never more than it declares (/dev/zero)
            data = read_confined(self.path.parent, unquote(buf.uri), need, f"{self.path}: buffer {i}")
        if len(data) < need:
            raise AssetError(f"{self.path}: buffer {i} is truncated: {len(data)} bytes, byteLength says {need}")
        return data

    def view_bytes(self, index: int) -> bytes:
        views = self.gltf.bufferViews or []
        if not 0 <= index < len(views):
            raise AssetError(f"{self.path}: bufferView {index} does not exist ({len(views)} views)")
        v = views[index]
        if not 0 <= v.buffer < len(self.buffers):
            raise AssetError(f"{self.path}: bufferView {index} refers to missing buffer {v.buffer}")
        b = self.buffers[v.buffer]
        start, n = int(v.byteOffset or 0), int(v.byteLength)
        if start + n > len(b):
            raise AssetError(f"{self.path}: bufferView {index} (bytes {start}..{start + n}) is outside buffer {v.buffer} "
                             f"({len(b)} bytes): corrupt or truncated file")
        return b[start:start + n]

    def accessor(self, index: int) -> np.ndarray:
        """[count, ncomp] array; normalized integers become float32 0..1."""
        if index in self._cache:
            return self._cache[index]
        accs = self.gltf.accessors or []
        if index is None or not 0 <= index < len(accs):
            raise AssetError(f"{self.path}: accessor {index} does not exist ({len(accs)} accessors)")
        a = accs[index]
        if a.componentType not in _CTYPES or a.type not in _NCOMP:
            raise AssetError(f"{self.path}: accessor {index} has unsupported type {a.type}/{a.componentType}")
        dt = np.dtype(_CTYPES[a.componentType])
        nc, count = _NCOMP[a.type], int(a.count)
        elem = dt.itemsize * nc
        if not 0 <= count <= MAX_ACCESSOR_COUNT:  # zeros of any claimed size would be allocated
            raise AssetError(f"{self.path}: accessor {index} claims {count} elements (limit {MAX_ACCESSOR_COUNT})")
        if a.bufferView is None:
            out = np.zeros((count, nc), dt)
        else:
            data = self.view_bytes(a.bufferView)
            stride = int(self.gltf.bufferViews[a.bufferView].byteStride or 0) or elem
            off = int(a.byteOffset or 0)
            end = off + stride * (count - 1) + elem if count else off
            if end > len(data):
                raise AssetError(f"{self.path}: accessor {index} reads bytes {off}..{end} of bufferView {a.bufferView}, "
                                 f"which has only {len(data)} bytes (accessor out of range)")
            u8 = np.frombuffer(data, np.uint8)
            if count:
                rows = np.lib.stride_tricks.as_strided(u8[off:], shape=(count, elem), strides=(stride, 1))
                out = np.ascontiguousarray(rows).view(dt).reshape(count, nc)
            else:
                out = np.zeros((0, nc), dt)
        if a.sparse is not None and a.sparse.count:
            out = out.copy()
            sp = a.sparse
            idt = np.dtype(_CTYPES[sp.indices.componentType])
            ib = self.view_bytes(sp.indices.bufferView)
            idx = np.frombuffer(ib, idt, count=sp.count, offset=int(sp.indices.byteOffset or 0)).astype(np.int64)
            vb = self.view_bytes(sp.values.bufferView)
            vals = np.frombuffer(vb, dt, count=sp.count * nc, offset=int(sp.values.byteOffset or 0)).reshape(-1, nc)
            if (idx >= count).any():
                raise AssetError(f"{self.path}: sparse accessor {index} has indices out of range")
            out[idx] = vals
        if a.normalized and a.componentType in _NORM:
            out = np.maximum(out.astype(np.float32) / _NORM[a.componentType], -1.0)
        self._cache[index] = out
        return out

    def image(self, index: int) -> np.ndarray | None:
        """[H, W, 4] u8 RGBA of image ``index`` (None, with a warning, when undecodable)."""
        img = self.gltf.images[index]
        try:
            if img.bufferView is not None:
                data = self.view_bytes(img.bufferView)
            elif img.uri and img.uri.startswith("data:"):
                data = base64.b64decode(img.uri.split(",", 1)[1])
            elif img.uri:
                data = read_confined(self.path.parent, unquote(img.uri), MAX_REFERENCED_FILE_BYTES,
                                     f"{self.path}: image {index}")
            else:
                return None
            return decode_rgba(io.BytesIO(data), f"{self.path}: image {index}")  # pixels capped before decoding
        except (OSError, ValueError, IndexError, ConrtError) as exc:
            log.warning("%s: image %d cannot be decoded (%s); using no texture", self.path, index, exc)
            return None


# ---------------------------------------------------------------------------
# Loading


def _triangles(f: _File, prim, nverts: int, where: str) -> np.ndarray:
    mode = 4 if prim.mode is None else prim.mode
    if prim.indices is not None:
        idx = f.accessor(prim.indices).reshape(-1).astype(np.int64)
    else:
        idx = np.arange(nverts, dtype=np.int64)
    if mode == 4:
        tri = idx[: len(idx) // 3 * 3].reshape(-1, 3)
    elif mode == 5:  # strip: flip every other triangle to keep the winding
        n = len(idx) - 2
        tri = np.stack([idx[:n], idx[1:n + 1], idx[2:n + 2]], 1) if n > 0 else np.zeros((0, 3), np.int64)
        tri[1::2] = tri[1::2][:, [1, 0, 2]]
    elif mode == 6:  # fan
        n = len(idx) - 2
        tri = np.stack([np.full(max(n, 0), idx[0]), idx[1:n + 1], idx[2:n + 2]], 1) if n > 0 else np.zeros((0, 3), np.int64)
    else:
        return np.zeros((0, 3), np.int64)
    if len(tri) and (tri.max() >= nverts or tri.min() < 0):
        raise AssetError(f"{f.path}: {where}: triangle indices out of range (max {int(tri.max())}, "
                         f"{nverts} vertices)")
    # drop degenerate triangles (strips use them as restarts)
    good = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])
    return tri[good]


def _raw_attrs(f: _File, mesh: int, k: int) -> dict:
    """A primitive's attribute dict straight from the JSON (pygltflib drops
    names it does not know, like JOINTS_1 or _PARTS)."""
    return f.json["meshes"][mesh]["primitives"][k].get("attributes", {})


def _read_influences(f, attrs, n, where):
    js, ws = [], []
    for k in range(4):
        ja, wa = attrs.get(f"JOINTS_{k}"), attrs.get(f"WEIGHTS_{k}")
        if ja is None or wa is None:
            break
        j = f.accessor(ja).astype(np.int64)
        w = f.accessor(wa).astype(np.float32)
        if len(j) != n or len(w) != n:
            raise AssetError(f"{f.path}: {where}: JOINTS_{k}/WEIGHTS_{k} have {len(j)}/{len(w)} rows, POSITION has {n}")
        js.append(j)
        ws.append(w)
    if not js:
        return None, None
    return np.concatenate(js, 1), np.concatenate(ws, 1)


def _top4(j: np.ndarray, w: np.ndarray):
    w = np.where(np.isfinite(w) & (w > 0), w, 0).astype(np.float64)
    if j.shape[1] > 4:
        order = np.argsort(-w, axis=1, kind="stable")[:, :4]
        j = np.take_along_axis(j, order, 1)
        w = np.take_along_axis(w, order, 1)
    elif j.shape[1] < 4:
        pad = 4 - j.shape[1]
        j = np.concatenate([j, np.zeros((len(j), pad), j.dtype)], 1)
        w = np.concatenate([w, np.zeros((len(w), pad))], 1)
    return j, w


def _part_from_material(name: str | None) -> int:
    n = (name or "").lower()
    for keys, part in (
        (("hair",), Part.HAIR), (("eye", "iris", "pupil"), Part.EYES), (("mouth", "teeth", "tongue"), Part.MOUTH),
        (("shoe", "boot"), Part.SHOES), (("sock",), Part.SOCKS),
        (("cloth", "shirt", "skirt", "pants", "dress", "tops", "bottoms", "jacket", "coat"), Part.CLOTH),
        (("accessor", "ribbon"), Part.ACCESSORY),
    ):
        if any(k in n for k in keys):
            return int(part)
    return int(Part.SKIN)


def _primitive_appearance(f: _File, pr, n: int):
    """Material info plus the base-colour uv [n, 2] (:func:`_base_uv`) and COLOR_0
    [n, 4] (RGB gets alpha 1) of one primitive with n vertices; uv/col are None when absent."""
    factor, image, shade, mname = _material_info(f, pr.material)
    uv = _base_uv(f, pr)
    col = f.accessor(pr.attributes.COLOR_0).astype(np.float32) if pr.attributes.COLOR_0 is not None else None
    if col is not None and col.shape[1] == 3:
        col = np.concatenate([col, np.ones((n, 1), np.float32)], 1)
    return factor, image, shade, mname, uv, col


def _base_uv(f: _File, pr) -> np.ndarray | None:
    """The uv a primitive's base-colour texture is sampled with: the TEXCOORD set its
    ``texCoord`` names (KHR_texture_transform's ``texCoord`` overrides it) through that
    extension's transform, uv' = offset + R(rotation) (scale * uv) as glTF specifies;
    TEXCOORD_0 as it is when the material has no base-colour texture."""
    mats = f.gltf.materials or []
    info = None
    if pr.material is not None and 0 <= pr.material < len(mats) and mats[pr.material].pbrMetallicRoughness is not None:
        info = mats[pr.material].pbrMetallicRoughness.baseColorTexture
    xf = ((info.extensions or {}).get("KHR_texture_transform") if info is not None else None) or {}
    where = f"{f.path}: material {pr.material} KHR_texture_transform"
    try:
        k = int(xf.get("texCoord", info.texCoord if info is not None and info.texCoord is not None else 0))
        scale = np.asarray(xf.get("scale", [1.0, 1.0]), np.float64).reshape(2)
        offset = np.asarray(xf.get("offset", [0.0, 0.0]), np.float64).reshape(2)
        rot = float(xf.get("rotation", 0.0))
    except (TypeError, ValueError) as exc:
        raise AssetError(f"{where}: offset/scale must be 2 numbers, rotation and texCoord numbers ({exc})") from None
    if not (np.isfinite(scale).all() and np.isfinite(offset).all() and np.isfinite(rot)) or k < 0:
        raise AssetError(f"{where}: offset {offset.tolist()}, scale {scale.tolist()}, rotation {rot}, texCoord {k}: "
                         "must be finite (texCoord >= 0)")
    index = getattr(pr.attributes, f"TEXCOORD_{k}", None)
    if index is None:
        return None
    uv = f.accessor(index).astype(np.float64)[:, :2]
    if xf:
        c, s = np.cos(rot), np.sin(rot)
        su = uv * scale
        uv = np.stack([c * su[:, 0] - s * su[:, 1], s * su[:, 0] + c * su[:, 1]], 1) + offset
    return uv.astype(np.float32)


def _material_info(f: _File, index):
    """(factor [4], image index or None, shade [4] or None, name)."""
    mats = f.gltf.materials or []
    if index is None or not 0 <= index < len(mats):
        return np.ones(4), None, None, None
    m = mats[index]
    factor, image = np.ones(4), None
    pbr = m.pbrMetallicRoughness
    if pbr is not None:
        if pbr.baseColorFactor is not None:
            factor = np.asarray(pbr.baseColorFactor, np.float64)
        if pbr.baseColorTexture is not None:
            tex = (f.gltf.textures or [])[pbr.baseColorTexture.index] if pbr.baseColorTexture.index < len(f.gltf.textures or []) else None
            if tex is not None and tex.source is not None:
                image = int(tex.source)
    shade = None
    ext = m.extensions or {}
    if "VRMC_materials_mtoon" in ext:
        sc = ext["VRMC_materials_mtoon"].get("shadeColorFactor")
        if sc is not None:
            shade = np.array([*sc[:3], 1.0])
    vrm = (f.gltf.extensions or {}).get("VRM")
    if vrm and shade is None:
        for mp in vrm.get("materialProperties", []) or []:
            if mp.get("name") == m.name:
                vp = mp.get("vectorProperties", {}) or {}
                if "_ShadeColor" in vp:  # UniVRM stores these in sRGB (gamma) space
                    c = vp["_ShadeColor"]
                    shade = np.array([*srgb_to_linear(np.asarray(c[:3], np.float64)), c[3] if len(c) > 3 else 1.0])
                if "_Color" in vp and pbr is None:
                    c = vp["_Color"]
                    factor = np.array([*srgb_to_linear(np.asarray(c[:3], np.float64)), c[3] if len(c) > 3 else 1.0])
                break
    return factor, image, shade, m.name


def _alpha_flags(f: _File, index, n: int) -> tuple[int, int, float, bool]:
    """(n vertices, alpha mode index into ALPHA_MODES, alphaCutoff, doubleSided) of a primitive's
    material; glTF defaults (OPAQUE, 0.5, single-sided) when it has none."""
    mats = f.gltf.materials or []
    if index is None or not 0 <= index < len(mats):
        return n, 0, 0.5, False
    m = mats[index]
    mode = (m.alphaMode or "OPAQUE").upper()
    if mode not in ALPHA_MODES:
        raise AssetError(f"{f.path}: material {index} ({m.name or ''}) has alphaMode {m.alphaMode!r}; "
                         f"glTF allows {', '.join(ALPHA_MODES)}")
    cutoff = 0.5 if m.alphaCutoff is None else float(m.alphaCutoff)
    if not np.isfinite(cutoff) or cutoff < 0:
        raise AssetError(f"{f.path}: material {index} ({m.name or ''}) has alphaCutoff {m.alphaCutoff!r}; "
                         "it must be a number >= 0")
    return n, ALPHA_MODES.index(mode), cutoff, bool(m.doubleSided)


def _alpha_arrays(flags, written_by_us: bool) -> dict:
    """Per-vertex SkinnedMesh alpha_mode / alpha_cutoff / double_sided from each
    primitive's :func:`_alpha_flags`; None where every vertex has the default the
    passes assume (OPAQUE, double-sided). Files conrt wrote before it saved
    doubleSided (always false) were drawn two-sided: they stay so."""
    mode = np.concatenate([np.full(n, a, np.uint8) for n, a, _, _ in flags])
    cutoff = np.concatenate([np.full(n, c, np.float32) for n, _, c, _ in flags])
    double = np.concatenate([np.full(n, d or written_by_us, bool) for n, _, _, d in flags])
    return {"alpha_mode": mode if mode.any() else None,
            "alpha_cutoff": cutoff if mode.any() else None,
            "double_sided": None if double.all() else double}


def _alpha_runs(mesh) -> list | None:
    """A mesh's per-vertex alpha flags for conrt's extras, as runs of equal
    vertices ``[count, mode, cutoff, double-sided]`` (None when it has none).
    The saved file has one material (one primitive): glTF cannot give its
    vertices different alphaModes, so conrt keeps them here."""
    if mesh.alpha_mode is None and mesh.double_sided is None:
        return None
    v = mesh.num_vertices
    mode = np.zeros(v, np.uint8) if mesh.alpha_mode is None else np.asarray(mesh.alpha_mode, np.uint8)
    cutoff = np.full(v, 0.5, np.float32) if mesh.alpha_cutoff is None else np.asarray(mesh.alpha_cutoff, np.float32)
    double = np.ones(v, bool) if mesh.double_sided is None else np.asarray(mesh.double_sided, bool)
    change = np.flatnonzero((mode[1:] != mode[:-1]) | (cutoff[1:] != cutoff[:-1]) | (double[1:] != double[:-1])) + 1
    starts = np.r_[0, change]
    counts = np.diff(np.r_[starts, v])
    return [[int(n), int(mode[i]), float(cutoff[i]), bool(double[i])] for i, n in zip(starts, counts)]


def _saved_alpha(path, extras, num_vertices: int) -> dict:
    """The per-vertex alpha flags conrt saved (:func:`_alpha_runs`), or {} when the file has none."""
    runs = (extras or {}).get("alpha")
    if runs is None:
        return {}
    try:
        counts = np.array([int(r[0]) for r in runs])
        mode = np.repeat(np.array([int(r[1]) for r in runs], np.uint8), counts)
        cutoff = np.repeat(np.array([float(r[2]) for r in runs], np.float32), counts)
        double = np.repeat(np.array([bool(r[3]) for r in runs]), counts)
    except (TypeError, ValueError, IndexError) as exc:
        raise AssetError(f"{path}: conrt extras 'alpha' is malformed ({exc})") from None
    if len(mode) != num_vertices or (counts < 1).any() or int(mode.max(initial=0)) >= len(ALPHA_MODES):
        raise AssetError(f"{path}: conrt extras 'alpha' gives {len(mode)} vertices' alpha flags for "
                         f"{num_vertices} vertices (or a mode outside {', '.join(ALPHA_MODES)})")
    return {"alpha_mode": mode if mode.any() else None, "alpha_cutoff": cutoff if mode.any() else None,
            "double_sided": None if double.all() else double}


def _node_parents(gltf) -> np.ndarray:
    parents = np.full(len(gltf.nodes or []), -1, np.int64)
    for i, n in enumerate(gltf.nodes or []):
        for c in n.children or []:
            if not 0 <= c < len(parents):
                raise AssetError(f"node {i} has child {c}, which does not exist ({len(parents)} nodes)")
            parents[c] = i
    return parents


def _node_worlds(gltf, parents) -> np.ndarray:
    n = len(gltf.nodes or [])
    local = np.stack([_node_local(nd) for nd in gltf.nodes]) if n else np.zeros((0, 4, 4))
    world = np.full((n, 4, 4), np.nan)
    for i in range(n):
        chain = []
        k = i
        while k >= 0 and np.isnan(world[k, 0, 0]):
            chain.append(k)
            k = parents[k]
            if len(chain) > n:
                raise AssetError("node hierarchy has a cycle")
        base = np.eye(4) if k < 0 else world[k]
        for c in reversed(chain):
            base = base @ local[c]
            world[c] = base
    return world


FACINGS = ("auto", "+z", "-z")


def load_character(path, *, box: CanonicalBox | None = None, allow_static: bool = False,
                   facing: str = "auto", name_map: dict[str, str] | None = None) -> Character:
    """Load a skinned glTF/GLB/VRM file as a Character (see module docstring).

    ``box``: the canonical box to use (default: the file's own if it was saved
    by conrt, else ``CanonicalBox.from_rest``). ``allow_static``: a file
    without a skin is wrapped in a single root joint instead of raising.
    ``facing``: which way the file's character faces: "auto" (detected from
    the humanoid skeleton, see :func:`detect_facing`), "+z" or "-z"; it is
    turned about +Y to face +Z. ``name_map``: joint name -> humanoid bone for
    rigs whose names are not recognised (see :func:`apply_name_map`).
    """
    path = Path(path)
    if facing not in FACINGS:
        raise ConfigError(f"unknown facing {facing!r}; valid: {', '.join(FACINGS)}")
    try:
        character = _load(path, box, allow_static, facing, name_map)
        check_character_scale(character, path)  # warn: a character every frame of which would be empty
        return character
    except AssetError as exc:
        if str(path) in str(exc):
            raise
        raise AssetError(f"{path}: {exc}") from None  # every asset error names the file
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, struct.error,
            np.linalg.LinAlgError) as exc:
        # Malformed values the checks above did not name (a string where a
        # number belongs, a singular matrix ...): still an AssetError naming the file.
        raise AssetError(f"{path}: malformed glTF ({type(exc).__name__}: {exc})") from exc


def _load(path: Path, box, allow_static, facing="auto", name_map=None) -> Character:
    f = _File(path)
    g = f.gltf
    nodes = g.nodes or []
    if not g.meshes:
        raise AssetError(f"{path}: has no mesh")
    extras = (g.extras or {}).get(EXTRAS_KEY) if isinstance(g.extras, dict) else None
    parents = _node_parents(g)
    world = _node_worlds(g, parents)
    meta: dict = {"source": path.name}
    mesh_nodes = [i for i, n in enumerate(nodes) if n.mesh is not None and 0 <= n.mesh < len(g.meshes)]
    if not mesh_nodes:
        raise AssetError(f"{path}: has no mesh node (meshes exist but no node uses one)")

    def nverts(node_i):
        return sum(int(g.accessors[p.attributes.POSITION].count) for p in g.meshes[nodes[node_i].mesh].primitives
                   if p.attributes.POSITION is not None and p.attributes.POSITION < len(g.accessors or []))

    skins = g.skins or []
    skinned = [i for i in mesh_nodes if nodes[i].skin is not None and 0 <= nodes[i].skin < len(skins)]
    if not skinned:
        if not allow_static:
            raise AssetError(f"{path}: has no skin (a static mesh; pass allow_static=True to wrap it in one root joint)")
        return _static_character(f, mesh_nodes, world, box, meta, extras)

    # group skins with the same joint set; keep the group with the most vertices
    groups: dict[frozenset, list[int]] = {}
    for s, sk in enumerate(skins):
        groups.setdefault(frozenset(sk.joints), []).append(s)
    size = {key: sum(nverts(i) for i in skinned if nodes[i].skin in ss) for key, ss in groups.items()}
    key = max(size, key=lambda k: size[k])
    group = groups[key]
    if len(groups) > 1:
        dropped = [s for k, ss in groups.items() if k != key for s in ss]
        meta["skins"] = f"{len(skins)} skins; kept {group} ({size[key]} vertices), dropped {dropped} (different joints)"
        log.warning("%s: %s", path, meta["skins"])
    elif len(group) > 1:
        meta["skins"] = f"merged {len(group)} skins with the same joints"
        log.info("%s: %s", path, meta["skins"])
    skin0 = skins[group[0]]
    joint_nodes = list(skin0.joints)
    if not joint_nodes:
        raise AssetError(f"{path}: skin {group[0]} has no joints")
    if any(not 0 <= j < len(nodes) for j in joint_nodes):
        raise AssetError(f"{path}: skin {group[0]} refers to nodes that do not exist")
    jset = set(joint_nodes)

    def joint_ancestor(node_i):
        k = parents[node_i]
        while k >= 0 and k not in jset:
            k = parents[k]
        return k

    # parents-first order (stable: keep the file's order when it already is)
    jparent_node = {j: joint_ancestor(j) for j in joint_nodes}
    order, placed = [], set()
    pending = list(joint_nodes)
    while pending:  # each sweep places, in file order, every joint whose parent is placed
        rest = []
        for j in pending:
            if jparent_node[j] < 0 or jparent_node[j] in placed:
                order.append(j)
                placed.add(j)
            else:
                rest.append(j)
        if len(rest) == len(pending):
            raise AssetError(f"{path}: skin joints form a cycle")
        pending = rest
    jindex = {n: i for i, n in enumerate(order)}
    jparents = np.array([jindex.get(jparent_node[n], -1) for n in order], np.int32)
    W = world[order]  # node pose of the joints

    def ibms(s):
        sk = skins[s]
        if sk.inverseBindMatrices is None:
            return {n: np.eye(4) for n in sk.joints}
        m = f.accessor(sk.inverseBindMatrices).astype(np.float64)
        if m.shape != (len(sk.joints), 16):
            raise AssetError(f"{path}: skin {s} has {len(m)} inverse bind matrices for {len(sk.joints)} joints")
        m = m.reshape(-1, 4, 4).transpose(0, 2, 1)
        if not np.isfinite(m).all():
            raise AssetError(f"{path}: skin {s} has NaN/inf inverse bind matrices")
        return dict(zip(sk.joints, m))

    skin_ibm = {s: ibms(s) for s in group}
    # Is the node pose the bind pose (up to one global transform G per skin)?
    node_mode = True
    G = {}
    for s in group:
        gs = np.stack([world[n] @ skin_ibm[s][n] for n in skins[s].joints])
        G[s] = gs[0]
        scale = max(np.abs(gs[0]).max(), 1e-6)
        if not np.allclose(gs, gs[0], atol=1e-3 * scale):
            node_mode = False
    if node_mode:
        rest_world = W
        inv_bind = np.stack([skin_ibm[group[0]][n] @ np.linalg.inv(G[group[0]]) for n in order])
    else:
        # A: the armature's transform (the node above the skeleton root, which
        # usually carries the unit scale / axis conversion); bind pose under it
        if skin0.skeleton is not None and skin0.skeleton not in jset:
            A = world[skin0.skeleton]
        else:
            root = skin0.skeleton if skin0.skeleton is not None else order[0]
            A = world[parents[root]] if parents[root] >= 0 else np.eye(4)
        rest_world = np.stack([A @ np.linalg.inv(skin_ibm[group[0]][n]) for n in order])
        inv_bind = np.linalg.inv(rest_world)
        meta["bind_pose"] = "node pose differs from the bind pose; rest pose = bind pose from the inverse bind matrices"
        log.info("%s: %s", path, meta["bind_pose"])
    if not np.isfinite(rest_world).all():
        raise AssetError(f"{path}: joint transforms are not finite")

    # --- gather primitives ---------------------------------------------------
    prims = []  # (node, prim, kind, skin or joint)
    morph = 0
    for i in mesh_nodes:
        nd = nodes[i]
        if nd.skin is not None and nd.skin in group:
            kind, ref = "skin", nd.skin
        elif nd.skin is None:
            anc = i if i in jset else joint_ancestor(i)
            if anc < 0:
                log.info("%s: static mesh node %d (%s) is not under the skeleton; skipped", path, i, nd.name)
                continue
            kind, ref = "rigid", anc
        else:
            continue  # another skin group
        for k, pr in enumerate(g.meshes[nd.mesh].primitives):
            if pr.targets:
                morph += 1
            if (pr.mode if pr.mode is not None else 4) not in (4, 5, 6):
                log.debug("%s: mesh %d primitive %d is not triangles (mode %s); skipped", path, nd.mesh, k, pr.mode)
                continue
            prims.append((i, k, pr, kind, ref))
    if morph:
        log.debug("%s: %d primitives have morph targets", path, morph)
    if not prims:
        raise AssetError(f"{path}: has no triangle primitives on its skin")

    P, N, JJ, WW, TRI, UV, COL, PARTS, FAC, IMG, SHADE, nvert = [], [], [], [], [], [], [], [], [], [], [], 0
    ALPHA = []
    MORPH = []  # (first vertex, count, mesh index, [(target, dpos, dnrm)]) per primitive
    has_uv = has_col = False
    zero_w = 0
    for node_i, k, pr, kind, ref in prims:
        where = f"mesh {nodes[node_i].mesh} ({g.meshes[nodes[node_i].mesh].name or ''}) primitive {k}"
        if pr.attributes.POSITION is None:
            raise AssetError(f"{path}: {where} has no POSITION")
        pos = f.accessor(pr.attributes.POSITION).astype(np.float64)
        if pos.shape[1] != 3:
            raise AssetError(f"{path}: {where}: POSITION is not VEC3")
        if not np.isfinite(pos).all():
            raise AssetError(f"{path}: {where} has NaN/inf positions")
        n = len(pos)
        tri = _triangles(f, pr, n, where)
        nrm = f.accessor(pr.attributes.NORMAL).astype(np.float64) if pr.attributes.NORMAL is not None else None
        if nrm is not None and (len(nrm) != n or not np.isfinite(nrm).all()):
            nrm = None
        if kind == "skin":
            j, w = _read_influences(f, _raw_attrs(f, nodes[node_i].mesh, k), n, where)
            if j is None:
                raise AssetError(f"{path}: {where} is skinned but has no JOINTS_0/WEIGHTS_0")
            sj = skins[ref].joints
            bad = (j >= len(sj)) | (j < 0)
            if (bad & (w > 0)).any():
                raise AssetError(f"{path}: {where}: JOINTS_0 refers to joint {int(j[bad].max())}, skin has {len(sj)}")
            j = np.where(bad, 0, j)
            remap = np.array([jindex[x] for x in sj], np.int64)
            j = remap[j]
            M = G[ref] if node_mode else A
        else:
            j = np.zeros((n, 1), np.int64) + jindex[ref]
            w = np.ones((n, 1), np.float32)
            # rigid: node pose relative to its joint, put on the joint's rest frame
            M = rest_world[jindex[ref]] @ np.linalg.inv(world[ref]) @ world[node_i]
        j, w = _top4(j, w)
        sums = w.sum(1)
        empty = sums <= 0
        zero_w += int(empty.sum())
        w[empty, 0] = 1.0
        j[empty, 0] = 0
        w = w / w.sum(1, keepdims=True)
        pos = _xform(M, pos)
        nrm = _unit(nrm @ _normal_matrix(M).T) if nrm is not None else _vertex_normals(pos, tri)
        if np.linalg.det(M[:3, :3]) < 0:
            tri = tri[:, ::-1]
        factor, image, shade, mname, uv, col = _primitive_appearance(f, pr, n)
        has_uv |= uv is not None
        has_col |= col is not None
        P.append(pos), N.append(nrm), JJ.append(j), WW.append(w), TRI.append(tri + nvert)
        UV.append(uv), COL.append(col), FAC.append(factor), IMG.append(image), SHADE.append((n, shade))
        PARTS.append(np.full(n, _part_from_material(mname), np.uint8))
        ALPHA.append(_alpha_flags(f, pr.material, n))
        MORPH.append((nvert, n, nodes[node_i].mesh, _read_targets(f, pr, n, M, where)))
        nvert += n
    if zero_w:
        log.info("%s: %d vertices had no weights; bound to the root joint", path, zero_w)

    # parts from our own custom attribute, when present
    parts = np.concatenate(PARTS)
    first = _raw_attrs(f, nodes[prims[0][0]].mesh, prims[0][1])
    if extras is not None and len(prims) == 1 and "_PARTS" in first:
        pa = f.accessor(first["_PARTS"]).reshape(-1)
        if len(pa) != len(parts):
            raise AssetError(f"{path}: _PARTS has {len(pa)} values for {len(parts)} vertices")
        parts = np.round(pa).astype(np.uint8)

    positions = np.concatenate(P)
    normals = np.concatenate(N)
    joints = np.concatenate(JJ).astype(np.uint16)
    weights = np.concatenate(WW).astype(np.float32)
    triangles = np.concatenate(TRI).astype(np.uint32)
    if len(triangles) == 0:
        raise AssetError(f"{path}: the skinned mesh has no triangles")
    material, uv, colors, shade_colors = _merge_materials(f, UV, COL, FAC, IMG, SHADE, has_uv, has_col)

    # --- orientation and floor -----------------------------------------------
    ext = g.extensions or {}
    humanoid = {}
    if "VRM" in ext:
        meta["format"] = "vrm0"
        for hb in ((ext["VRM"].get("humanoid") or {}).get("humanBones") or []):
            if hb.get("bone") in HUMANOID_BONES and hb.get("node") in jindex:
                humanoid[hb["bone"]] = jindex[hb["node"]]
    elif "VRMC_vrm" in ext:
        meta["format"] = "vrm1"
        for name, hb in (((ext["VRMC_vrm"].get("humanoid") or {}).get("humanBones")) or {}).items():
            if name in HUMANOID_BONES and isinstance(hb, dict) and hb.get("node") in jindex:
                humanoid[name] = jindex[hb["node"]]
    joint_names = _joint_names([nodes[n].name for n in order])
    if extras is not None:
        humanoid = {k: int(v) for k, v in extras.get("humanoid", humanoid).items()
                    if isinstance(v, (int, float)) and 0 <= int(v) < len(order)}
    elif not humanoid:
        humanoid = guess_humanoid(joint_names, jparents)
        if humanoid:
            meta["humanoid"] = f"guessed from joint names ({len(humanoid)} bones)"
    if name_map:
        humanoid = apply_name_map(joint_names, humanoid, name_map, str(path))
    T = _facing_turn(path, rest_world, humanoid, facing, meta)
    if extras is None:
        ymin = float(_xform(T, positions)[:, 1].min())
        if abs(ymin) > 1e-6:
            T = np.array([[1, 0, 0, 0], [0, 1, 0, -ymin], [0, 0, 1, 0], [0, 0, 0, 1.0]]) @ T
            meta["translated"] = [0.0, -ymin, 0.0]
    if not np.allclose(T, np.eye(4)):
        positions = _xform(T, positions)
        normals = _unit(normals @ T[:3, :3].T)
        rest_world = T @ rest_world
        inv_bind = inv_bind @ np.linalg.inv(T)
    rest_local = rest_world.copy()
    for jj, pa in enumerate(jparents):
        if pa >= 0:
            rest_local[jj] = np.linalg.inv(rest_world[pa]) @ rest_world[jj]
    skeleton = Skeleton(
        names=joint_names,
        parents=jparents,
        rest_local=rest_local.astype(np.float32),
        rest_world=rest_world.astype(np.float32),
        inverse_bind=inv_bind.astype(np.float32),
    )
    morph_fields, morph_keys = _merge_targets(path, g, MORPH, nvert, T)
    mesh = SkinnedMesh(
        positions=positions.astype(np.float32), normals=normals.astype(np.float32), joints=joints,
        weights=weights, triangles=triangles, parts=parts, uv=uv, colors=colors, material=material,
        shade_colors=shade_colors, **_saved_alpha(path, extras, nvert) or _alpha_arrays(ALPHA, written_by_us=extras is not None), **morph_fields,
    )
    regions = _spring_regions(g, parents, jindex, jparents, joints, weights, meta, path) if extras is None else ()
    character = _finish(path, skeleton, mesh, box, meta, humanoid, extras, regions)
    character = dataclasses.replace(character, expressions=_expressions(path, g, morph_keys, mesh.morph_names, extras))
    if extras is None:  # a file conrt wrote keeps its own labels (_PARTS)
        labels = label_parts(character)  # materials that do not name the parts: skin told apart by colour
        character.meta["part_labels"] = labels.decision
        log.info("%s: part labels %s", path.name, labels.decision)
        if labels.parts is not None:
            character = dataclasses.replace(character, mesh=dataclasses.replace(character.mesh, parts=labels.parts))
            character.meta[PART_LINES_KEY] = False  # inferred labels shade; the file's line art stays
    return character


# Left/right joint pairs whose difference points to the character's left (+X when facing +Z).
_SIDE_PAIRS = ("Shoulder", "UpperArm", "LowerArm", "Hand", "UpperLeg", "LowerLeg", "Foot", "Toes", "Eye")


def detect_facing(rest_world: np.ndarray, humanoid: dict[str, int]) -> tuple[float | None, str]:
    """Which way a humanoid faces, from its rest skeleton: (yaw in degrees of
    its forward direction about +Y, 0 = +Z, snapped to a quarter turn; None
    when the skeleton cannot tell) and the evidence in words.

    Forward = (left - right) x up, with left - right summed over the
    left/right joint pairs present; the toes-minus-foot direction (when both
    feet have toes) is added as a second vote."""
    pos = np.asarray(rest_world, np.float64)[:, :3, 3]
    lateral, pairs = np.zeros(3), 0
    for part in _SIDE_PAIRS:
        a, b = humanoid.get("left" + part), humanoid.get("right" + part)
        if a is not None and b is not None:
            lateral += pos[a] - pos[b]
            pairs += 1
    forward = np.array([-lateral[2], 0.0, lateral[0]])  # lateral x (0, 1, 0)
    evidence = [f"{pairs} left/right joint pairs"] if pairs else []
    n = np.linalg.norm(forward)
    forward = forward / n if n > 1e-9 else np.zeros(3)
    toes = np.zeros(3)
    for side in ("left", "right"):
        f, t = humanoid.get(side + "Foot"), humanoid.get(side + "Toes")
        if f is not None and t is not None:
            toes += pos[t] - pos[f]
    toes[1] = 0.0
    if np.linalg.norm(toes) > 1e-9:
        forward = forward + toes / np.linalg.norm(toes)
        evidence.append("toes")
    if np.linalg.norm(forward) < 1e-6:
        return None, "no left/right joints or toes to tell"
    yaw = float(np.degrees(np.arctan2(forward[0], forward[2])))
    return float((round(yaw / 90.0) * 90) % 360), " and ".join(evidence)


def _facing_turn(path, rest_world, humanoid, facing: str, meta: dict) -> np.ndarray:
    """4x4 turn about +Y that makes the character face +Z (see load_character)."""
    if facing == "auto":
        yaw, why = detect_facing(rest_world, humanoid)
        if yaw is None:
            yaw = 180.0 if meta.get("format") == "vrm0" else 0.0  # VRM 0.x is specified to face -Z
            why = f"{why}; {'VRM 0.x faces -Z' if yaw else 'kept as is'}"
    else:
        yaw, why = (0.0 if facing == "+z" else 180.0), f"--facing {facing}"
    names = {0.0: "+Z", 90.0: "+X", 180.0: "-Z", 270.0: "-X"}
    meta["facing"] = f"faces {names[yaw]} ({why})" + (f"; turned {yaw:g} deg to face +Z" if yaw else "")
    log.info("%s: %s", Path(path).name, meta["facing"])
    c, s_ = np.cos(np.radians(-yaw)), np.sin(np.radians(-yaw))
    return np.array([[c, 0, s_, 0], [0, 1, 0, 0], [-s_, 0, c, 0], [0, 0, 0, 1.0]]).round(12)


def apply_name_map(names, humanoid: dict[str, int], name_map: dict[str, str], where: str) -> dict[str, int]:
    """Add ``name_map`` (joint name -> humanoid bone) to a guessed humanoid map.
    Names the skeleton does not have are skipped (one map file may cover the
    motion file and the character); a target that is not a humanoid bone is an error."""
    out = dict(humanoid)
    names = list(names)
    for src, dst in name_map.items():
        if dst not in HUMANOID_BONES:
            raise ConfigError(f"name map target {dst!r} (for {src!r}) is not a humanoid bone; "
                              f"valid: {', '.join(HUMANOID_BONES)}")
        if src in names:
            out = {k: v for k, v in out.items() if v != names.index(src)}
            out[dst] = names.index(src)
    return out


def guess_humanoid(names, parents=None) -> dict[str, int]:
    """Map common rig joint names (Mixamo, CMU, Biovision, VRoid, Unreal,
    Blender/Rigify ...) onto ``HUMANOID_BONES`` (see ``rig_names``)."""
    return recognise_humanoid(names, parents)


SECONDARY_PREFIX = "j_sec_"  # VRoid's secondary (spring) joints: hair, hood, skirt, bust, ribbons


def _vec3(v, default=(0.0, 0.0, 0.0)) -> list[float]:
    """A VRM vector: {x, y, z} (VRM 0.x) or [x, y, z] (VRM 1.0)."""
    if isinstance(v, dict):
        v = [v.get(k, d) for k, d in zip("xyz", default)]
    if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(isinstance(x, (int, float)) for x in v):
        return list(default)
    return [float(x) for x in v]


def _spring_colliders(path, ext: dict, jindex: dict, num_nodes: int) -> list[list[dict]]:
    """VRM collider groups -> per group a list of colliders in joint space:
    {"joint", "offset" (in the joint's local frame), "radius"[, "tail"]}.
    VRM 0.x ``secondaryAnimation.colliderGroups[]`` are node + spheres; VRM 1.0
    ``VRMC_springBone.colliderGroups[].colliders`` index ``colliders[]`` (node +
    sphere or capsule). VRM 0.x offsets are in Unity's left-handed frame: z is
    reversed (as three-vrm and UniVRM read them). Colliders on nodes that are
    not skin joints are skipped (nothing would move them)."""

    def one(node, offset, radius, tail=None, where=""):
        if not isinstance(node, int) or not 0 <= node < num_nodes:
            raise AssetError(f"{path}: spring-bone collider {where}: node {node!r} is not a node index "
                             f"(0..{num_nodes - 1})")
        if not isinstance(radius, (int, float)) or not np.isfinite(radius) or radius < 0:
            raise AssetError(f"{path}: spring-bone collider {where}: radius {radius!r} must be a number >= 0")
        if node not in jindex:
            log.debug("spring-bone collider %s on node %d, not a joint; skipped", where, node)
            return None
        out = {"joint": int(jindex[node]), "offset": offset, "radius": float(radius)}
        if tail is not None:
            out["tail"] = tail
        return out

    groups: list[list[dict]] = []
    vrm1 = ext.get("VRMC_springBone")
    if isinstance(vrm1, dict):
        shapes = []
        for i, col in enumerate(vrm1.get("colliders") or []):
            shape = (col or {}).get("shape") or {}
            if "capsule" in shape:
                cap = shape["capsule"] or {}
                shapes.append(one(col.get("node"), _vec3(cap.get("offset")), cap.get("radius", 0.0),
                                  _vec3(cap.get("tail")), f"colliders[{i}]"))
            else:
                sph = shape.get("sphere") or {}
                shapes.append(one(col.get("node"), _vec3(sph.get("offset")), sph.get("radius", 0.0),
                                  where=f"colliders[{i}]"))
        for grp in vrm1.get("colliderGroups") or []:
            idx = [k for k in (grp or {}).get("colliders") or [] if isinstance(k, int)]
            bad = [k for k in idx if not 0 <= k < len(shapes)]
            if bad:
                raise AssetError(f"{path}: spring-bone collider group names colliders {bad}, "
                                 f"the file has {len(shapes)}")
            groups.append([shapes[k] for k in idx if shapes[k] is not None])
        return groups
    vrm0 = ext.get("VRM") if isinstance(ext.get("VRM"), dict) else {}
    for i, grp in enumerate((vrm0.get("secondaryAnimation") or {}).get("colliderGroups") or []):
        cols = []
        for k, col in enumerate((grp or {}).get("colliders") or []):
            x, y, z = _vec3((col or {}).get("offset"))
            c = one(grp.get("node"), [x, y, -z], (col or {}).get("radius", 0.0), where=f"colliderGroups[{i}][{k}]")
            if c is not None:
                cols.append(c)
        groups.append(cols)
    return groups


def _chain_colliders(path, groups: list[list[dict]], refs) -> list[dict]:
    """The colliders of the collider groups a spring / bone group lists."""
    out = []
    for k in refs or []:
        if not isinstance(k, int) or not 0 <= k < len(groups):
            raise AssetError(f"{path}: spring-bone colliderGroups index {k!r} out of range "
                             f"(the file has {len(groups)} collider groups)")
        out.extend(groups[k])
    return out


def _spring_regions(g, node_parents, jindex, jparents, joints, weights, meta=None,
                    path="<glTF>") -> tuple[SimRegion, ...]:
    """Spring bone chains -> kind "hair" SimRegions (one per chain), so physics
    can swing an imported character's hair/skirt/ribbon bones.

    VRM 1.0 ``VRMC_springBone.springs[].joints`` are explicit chains. VRM 0.x
    ``secondaryAnimation.boneGroups[].bones`` are roots whose whole subtree
    springs: the subtree is split into disjoint chains (follow the first
    child; every other branch starts a chain of its own). Without spring data,
    VRoid's ``J_Sec_*`` joints are found by name and split the same way from
    their roots. A chain's vertices are those whose strongest influence is one
    of its joints; its anchor is the joint above the chain's root. Chains
    shorter than 2 joints are skipped. The VRM spring parameters (stiffness,
    drag, hit radius, gravity power and direction, colliders) of each chain go to
    ``meta["spring_params"][region name]`` (see ``physics.hair.spring_params``).
    Gravity directions are turned with the character (see ``_facing_turn``).
    """
    ext = g.extensions or {}
    groups = _spring_colliders(path, ext, jindex, len(g.nodes))
    yaw = re.search(r"turned (\d+(?:\.\d+)?) deg", (meta or {}).get("facing", ""))
    yaw = np.radians(float(yaw.group(1))) if yaw else 0.0

    def turned(d):  # a world direction in the file's frame -> ours (the same turn about +Y as the skeleton)
        c, s_ = np.cos(-yaw), np.sin(-yaw)
        return [float(c * d[0] + s_ * d[2]), float(d[1]), float(-s_ * d[0] + c * d[2])]

    node_chains: list[tuple[list[int], dict]] = []
    children: dict[int, list[int]] = {}
    for n, pa in enumerate(node_parents):
        if pa >= 0:
            children.setdefault(int(pa), []).append(n)

    def split(starts: list[int], params: dict, seen: set) -> None:
        starts = list(starts)
        while starts:
            n = starts.pop(0)
            chain = []
            while n is not None and n in jindex and n not in seen:
                chain.append(n)
                seen.add(n)
                kids = [c for c in children.get(n, []) if c in jindex]
                starts.extend(kids[1:])
                n = kids[0] if kids else None
            node_chains.append((chain, params))

    if isinstance(ext.get("VRMC_springBone"), dict):
        for spring in ext["VRMC_springBone"].get("springs", []) or []:
            js = [j for j in spring.get("joints", []) if isinstance(j, dict)]
            params = {k: float(np.mean([j[src] for j in js if isinstance(j.get(src), (int, float))]))
                      for src, k in (("stiffness", "stiffness"), ("dragForce", "drag"), ("hitRadius", "hit_radius"),
                                     ("gravityPower", "gravity_power"))
                      if any(isinstance(j.get(src), (int, float)) for j in js)}
            dirs = [_vec3(j["gravityDir"]) for j in js if "gravityDir" in j]
            if dirs:
                params["gravity_dir"] = turned(np.mean(dirs, axis=0))
            cols = _chain_colliders(path, groups, spring.get("colliderGroups"))
            if cols:
                params["colliders"] = cols
            node_chains.append(([j.get("node") for j in js], params))
    vrm0 = ext.get("VRM") if isinstance(ext.get("VRM"), dict) else None
    if vrm0:
        seen: set[int] = set()
        for grp in ((vrm0.get("secondaryAnimation") or {}).get("boneGroups") or []):
            params = {k: float(grp[src]) for src, k in (("stiffiness", "stiffness"), ("stiffness", "stiffness"),
                                                      ("dragForce", "drag"), ("hitRadius", "hit_radius"),
                                                      ("gravityPower", "gravity_power"))
                      if isinstance(grp.get(src), (int, float))}
            if "gravityDir" in grp:
                x, y, z = _vec3(grp["gravityDir"], (0.0, -1.0, 0.0))
                params["gravity_dir"] = turned([x, y, -z])  # Unity frame, like the collider offsets
            cols = _chain_colliders(path, groups, grp.get("colliderGroups"))
            if cols:
                params["colliders"] = cols
            split([b for b in (grp.get("bones") or []) if isinstance(b, int)], params, seen)
    if not any(len(c) >= 2 for c, _ in node_chains):
        names = {n: (g.nodes[n].name or "").lower() for n in jindex}
        sec = {n for n, nm in names.items() if nm.startswith(SECONDARY_PREFIX)}
        roots = [n for n in sorted(sec, key=lambda n: jindex[n]) if node_parents[n] not in sec]
        node_chains = []
        split(roots, {}, set())
        if node_chains:
            log.info("%d J_Sec_* joint chains found by name", sum(len(c) >= 2 for c, _ in node_chains))
    if not node_chains:
        return ()
    dominant = joints[np.arange(len(joints)), np.argmax(weights, axis=1)].astype(np.int64)
    regions, used, spring_params = [], set(), {}
    for nodes_, params in node_chains:
        chain = [jindex[n] for n in nodes_ if n in jindex]
        chain = [j for j in chain if j not in used]
        if len(chain) < 2 or jparents[chain[0]] < 0:
            continue
        # keep it a parent->child path (physics walks it root -> tip)
        if any(jparents[b] != a for a, b in zip(chain[:-1], chain[1:])):
            log.debug("spring chain %s is not a parent->child path; skipped", nodes_)
            continue
        used.update(chain)
        verts = np.nonzero(np.isin(dominant, chain))[0].astype(np.int32)
        name = f"spring_{len(regions)}"
        if params:
            spring_params[name] = params
        regions.append(SimRegion(name=name, kind="hair", anchor_joint=int(jparents[chain[0]]),
                                 vertices=verts, chain=np.asarray(chain, np.int32)))
    if spring_params and meta is not None:
        meta["spring_params"] = spring_params
    if regions:
        log.info("%d spring bone chains -> hair regions", len(regions))
    return tuple(regions)


def _joint_names(raw: list) -> tuple[str, ...]:
    out, seen = [], set()
    for i, nm in enumerate(raw):
        nm = nm or f"joint_{i}"
        base, k = nm, 1
        while nm in seen:
            nm = f"{base}_{k}"
            k += 1
        seen.add(nm)
        out.append(nm)
    return tuple(out)


def _finish(path, skeleton, mesh, box, meta, humanoid, extras, regions=()) -> Character:
    name = path.stem
    if extras is not None:
        try:
            name = extras.get("name", name)
            if box is None and "box" in extras:
                box = CanonicalBox(origin=np.asarray(extras["box"]["origin"], np.float32),
                                   size=np.asarray(extras["box"]["size"], np.float32))
            regions = tuple(
                SimRegion(name=r["name"], kind=r["kind"], anchor_joint=int(r["anchor_joint"]),
                          vertices=np.asarray(r.get("vertices", []), np.int32),
                          pinned=np.asarray(r.get("pinned", []), np.int32),
                          chain=np.asarray(r.get("chain", []), np.int32))
                for r in extras.get("regions", [])
            )
            humanoid = {k: int(v) for k, v in extras.get("humanoid", humanoid).items()}
            # a conrt file faces +Z already: keep its own meta unless it was turned now
            turned = "turned" in meta.get("facing", "") or "--facing" in meta.get("facing", "")
            meta = {**extras.get("meta", {}), **({"facing": meta["facing"]} if turned else {})}
        except (KeyError, TypeError, ValueError) as exc:
            raise AssetError(f"{path}: corrupt extras.{EXTRAS_KEY} ({exc})") from None
        for r in regions:
            if (r.vertices >= mesh.num_vertices).any() or (r.chain >= skeleton.num_joints).any() \
                    or not 0 <= r.anchor_joint < skeleton.num_joints:
                raise AssetError(f"{path}: region {r.name!r} refers to vertices/joints that do not exist")
    if box is None:
        box = CanonicalBox.from_rest(mesh.positions)
    for k, v in humanoid.items():
        if not 0 <= v < skeleton.num_joints:
            raise AssetError(f"{path}: humanoid bone {k} refers to joint {v}, which does not exist")
    return Character(name=name, skeleton=skeleton, mesh=mesh, box=box, regions=regions, humanoid=humanoid, meta=meta)


NO_MIPMAP_FILTERS = (9728, 9729)  # glTF sampler minFilter NEAREST, LINEAR


def _wants_mipmaps(f, images) -> bool:
    """False when every texture that shows one of ``images`` has a sampler whose
    minFilter is NEAREST or LINEAR; True otherwise (no sampler or no minFilter:
    the glTF default leaves it to the renderer, and ours mipmaps)."""
    samplers = f.gltf.samplers or []
    filters = [samplers[t.sampler].minFilter if t.sampler is not None and 0 <= t.sampler < len(samplers) else None
               for t in (f.gltf.textures or []) if t.source in set(images)]
    return not filters or not all(m in NO_MIPMAP_FILTERS for m in filters)


def _atlas(textures: dict, used: list, IMG, UV, counts) -> tuple[np.ndarray, np.ndarray]:
    """One texture for several: a square-ish grid of equal tiles, one per used image
    then a white tile (for primitives without a texture), row-major from v = 0.
    Tiles are the largest image's side, at most 1024 and small enough that the
    atlas stays within ``MAX_ATLAS_SIDE`` (the GL cannot upload a larger one)."""
    nt = len(used) + 1
    cols = math.ceil(math.sqrt(nt))
    rows = math.ceil(nt / cols)
    size = min(max(max(textures[i].shape[:2]) for i in used), 1024, MAX_ATLAS_SIDE // cols)
    tex = np.full((rows * size, cols * size, 4), 255, np.uint8)  # unused cells and the last tile: white
    for t, i in enumerate(used):
        r, c = divmod(t, cols)
        tex[r * size:(r + 1) * size, c * size:(c + 1) * size] = \
            np.asarray(Image.fromarray(textures[i]).resize((size, size), Image.BILINEAR))
    half = 0.5 / size
    out = []
    for i, u, n in zip(IMG, UV, counts):
        if i is None or u is None:
            t, w = nt - 1, np.full((n, 2), 0.5)
        else:
            t = used.index(i)
            # wrap only coordinates outside 0..1: mod would send u = 1 (a tile's far edge) to 0
            w = np.clip(np.where((u >= 0) & (u <= 1), u, np.mod(u, 1.0)), half, 1 - half)
        r, c = divmod(t, cols)
        out.append(np.stack([(c + w[:, 0]) / cols, (r + w[:, 1]) / rows], 1).astype(np.float32))
    return tex, np.concatenate(out)


def _merge_materials(f, UV, COL, FAC, IMG, SHADE, has_uv, has_col):
    """One Material for all primitives (see Material docstring) -> (material, uv, colors, shade_colors)."""
    counts = [n for n, _ in SHADE]  # vertices per primitive
    same_factor = all(np.allclose(fa, FAC[0]) for fa in FAC)
    # the largest primitive's shade colour wins
    shade = None
    for n, sc in sorted(SHADE, key=lambda t: -t[0]):
        if sc is not None:
            shade = np.asarray(sc, np.float32)
            break
    imgs = sorted({i for i in IMG if i is not None})
    textures = {i: f.image(i) for i in imgs}
    textures = {i: t for i, t in textures.items() if t is not None}
    IMG = [i if i in textures else None for i in IMG]
    used = sorted({i for i in IMG if i is not None})
    tex, uv = None, None
    if not used:
        if has_uv:
            uv = np.concatenate([u if u is not None else np.zeros((n, 2), np.float32) for u, n in zip(UV, counts)])
    elif len(used) == 1 and all(i is not None and u is not None for i, u in zip(IMG, UV)):
        tex = textures[used[0]]
        uv = np.concatenate(UV)
    else:
        tex, uv = _atlas(textures, used, IMG, UV, counts)
        log.info("%s: %d textures merged into a %dx%d atlas", f.path, len(used), tex.shape[1], tex.shape[0])
    if same_factor:
        factor = np.asarray(FAC[0], np.float32)
        colors = np.concatenate([c if c is not None else np.ones((n, 4), np.float32) for c, n in zip(COL, counts)]) \
            if has_col else None
    else:
        factor = np.ones(4, np.float32)
        colors = np.concatenate([
            (c if c is not None else np.ones((n, 4), np.float32)) * np.asarray(fa, np.float32)
            for c, fa, n in zip(COL, FAC, counts)
        ])
    material = Material(base_color_factor=factor, base_color_texture=tex, shade_color_factor=shade,
                        mipmaps=_wants_mipmaps(f, used))
    return material, (uv.astype(np.float32) if uv is not None else None), \
        (colors.astype(np.float32) if colors is not None else None), _shade_colors(SHADE)


def _shade_colors(SHADE) -> np.ndarray | None:
    """SkinnedMesh.shade_colors: each vertex's primitive's MToon shade colour (alpha 1; alpha 0 where its
    material has none), or None when every primitive has the same one (or none): then the material's single
    shade colour says it all. (Godette: the face's light lavender and the body's blue; the largest
    primitive's blue used to shade her face too.)"""
    shades = [None if sc is None else np.asarray(sc, np.float32)[:3] for _, sc in SHADE]
    if all(sc is None for sc in shades) or all(sc is not None and np.allclose(sc, shades[0]) for sc in shades):
        return None
    return np.concatenate([np.tile(np.r_[sc, 1.0] if sc is not None else np.zeros(4), (n, 1))
                           for (n, _), sc in zip(SHADE, shades)]).astype(np.float32)


def _static_character(f: _File, mesh_nodes, world, box, meta, extras) -> Character:
    """A mesh without a skin, wrapped in one root joint (allow_static=True)."""
    g = f.gltf
    P, N, TRI, UV, COL, FAC, IMG, SHADE, PARTS, nvert = [], [], [], [], [], [], [], [], [], 0
    ALPHA = []
    has_uv = has_col = False
    for i in mesh_nodes:
        for k, pr in enumerate(g.meshes[g.nodes[i].mesh].primitives):
            if (pr.mode if pr.mode is not None else 4) not in (4, 5, 6) or pr.attributes.POSITION is None:
                continue
            where = f"mesh {g.nodes[i].mesh} primitive {k}"
            pos = f.accessor(pr.attributes.POSITION).astype(np.float64)
            if not np.isfinite(pos).all():
                raise AssetError(f"{f.path}: {where} has NaN/inf positions")
            n = len(pos)
            tri = _triangles(f, pr, n, where)
            pos = _xform(world[i], pos)
            nrm = f.accessor(pr.attributes.NORMAL).astype(np.float64) if pr.attributes.NORMAL is not None else None
            nrm = _unit(nrm @ _normal_matrix(world[i]).T) if nrm is not None and len(nrm) == n else _vertex_normals(pos, tri)
            factor, image, shade, mname, uv, col = _primitive_appearance(f, pr, n)
            has_uv |= uv is not None
            has_col |= col is not None
            P.append(pos), N.append(nrm), TRI.append(tri + nvert), UV.append(uv), COL.append(col)
            FAC.append(factor), IMG.append(image), SHADE.append((n, shade))
            PARTS.append(np.full(n, _part_from_material(mname), np.uint8))
            ALPHA.append(_alpha_flags(f, pr.material, n))
            nvert += n
    if not P:
        raise AssetError(f"{f.path}: has no triangle primitives")
    positions = np.concatenate(P)
    ymin = float(positions[:, 1].min())
    if abs(ymin) > 1e-6:
        positions[:, 1] -= ymin
        meta["translated"] = [0.0, -ymin, 0.0]
    material, uv, colors, shade_colors = _merge_materials(f, UV, COL, FAC, IMG, SHADE, has_uv, has_col)
    V = len(positions)
    eye = np.eye(4, dtype=np.float32)[None]
    skeleton = Skeleton(names=("root",), parents=np.array([-1], np.int32), rest_local=eye.copy(),
                        rest_world=eye.copy(), inverse_bind=eye.copy())
    joints = np.zeros((V, 4), np.uint16)
    weights = np.zeros((V, 4), np.float32)
    weights[:, 0] = 1
    mesh = SkinnedMesh(positions=positions.astype(np.float32), normals=np.concatenate(N).astype(np.float32),
                       joints=joints, weights=weights, triangles=np.concatenate(TRI).astype(np.uint32),
                       parts=np.concatenate(PARTS), uv=uv, colors=colors, material=material,
                       shade_colors=shade_colors, **_saved_alpha(f.path, extras, V) or _alpha_arrays(ALPHA, written_by_us=extras is not None))
    meta["static"] = True
    return _finish(f.path, skeleton, mesh, box, meta, {}, extras)


# ---------------------------------------------------------------------------
# Saving


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def save_character(character: Character, path, *, embed: bool = False) -> Path:
    """Write ``character`` as ``.glb`` (or ``.gltf`` + ``.bin``; ``embed=True``
    puts the buffer into a base64 data URI instead). Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".glb", ".gltf"):  # not .vrm: we write no VRM extension
        raise AssetError(f"{path}: cannot save as {suffix!r}; use .glb or .gltf")
    m, sk = character.mesh, character.skeleton
    V, J = m.num_vertices, sk.num_joints
    _validate(character)
    blob = bytearray()
    views: list[pygltflib.BufferView] = []
    accessors: list[pygltflib.Accessor] = []

    def add_view(data: bytes, target=None) -> int:
        while len(blob) % 4:
            blob.append(0)
        views.append(pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data), target=target))
        blob.extend(data)
        return len(views) - 1

    def add_acc(arr: np.ndarray, ctype: int, typ: str, target=pygltflib.ARRAY_BUFFER, minmax=False) -> int:
        arr = np.ascontiguousarray(arr, dtype=_CTYPES[ctype])
        view = add_view(arr.tobytes(), target)
        a = pygltflib.Accessor(bufferView=view, byteOffset=0, componentType=ctype, count=int(arr.shape[0]), type=typ)
        if minmax:
            a.min = [float(v) for v in arr.reshape(arr.shape[0], -1).min(0)]
            a.max = [float(v) for v in arr.reshape(arr.shape[0], -1).max(0)]
        accessors.append(a)
        return len(accessors) - 1

    F32, U16, U32 = pygltflib.FLOAT, pygltflib.UNSIGNED_SHORT, pygltflib.UNSIGNED_INT
    attrs = pygltflib.Attributes(
        POSITION=add_acc(m.positions, F32, "VEC3", minmax=True),
        NORMAL=add_acc(m.normals, F32, "VEC3"),
        JOINTS_0=add_acc(m.joints.astype(np.uint16), U16, "VEC4"),
        WEIGHTS_0=add_acc(m.weights, F32, "VEC4"),
    )
    if m.uv is not None:
        attrs.TEXCOORD_0 = add_acc(m.uv, F32, "VEC2")
    if m.colors is not None:
        attrs.COLOR_0 = add_acc(m.colors, F32, "VEC4")
    parts_acc = add_acc(m.parts.astype(np.float32), F32, "SCALAR")
    indices = add_acc(m.triangles.reshape(-1).astype(np.uint32), U32, "SCALAR",
                      target=pygltflib.ELEMENT_ARRAY_BUFFER)
    ibm = add_acc(sk.inverse_bind.astype(np.float32).transpose(0, 2, 1).reshape(J, 16), F32, "MAT4", target=None)

    # joints as nodes with their rest local TRS
    nodes = []
    for j in range(J):
        nd = pygltflib.Node(name=sk.names[j])
        trs = _decompose(sk.rest_local[j].astype(np.float64))
        if trs is None:
            nd.matrix = [float(v) for v in sk.rest_local[j].T.reshape(-1)]
        else:
            t, q, s = trs
            nd.translation = t
            if not np.allclose(q, [0, 0, 0, 1], atol=1e-7):
                nd.rotation = q
            if not np.allclose(s, 1, atol=1e-7):
                nd.scale = s
        nd.children = [int(c) for c in np.nonzero(sk.parents == j)[0]]
        nodes.append(nd)
    roots = [int(j) for j in np.nonzero(sk.parents < 0)[0]]
    nodes.append(pygltflib.Node(name=character.name, mesh=0, skin=0))

    gltf = pygltflib.GLTF2(
        asset=pygltflib.Asset(version="2.0", generator="conrt"),
        scene=0,
        scenes=[pygltflib.Scene(nodes=roots + [J])],
        nodes=nodes,
        skins=[pygltflib.Skin(joints=list(range(J)), inverseBindMatrices=ibm, skeleton=roots[0] if len(roots) == 1 else None)],
    )
    mat = pygltflib.Material(
        name="conrt",
        pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
            baseColorFactor=[float(v) for v in m.material.base_color_factor], metallicFactor=0.0, roughnessFactor=1.0),
        doubleSided=bool(m.double_sided is None or np.all(m.double_sided)),  # the passes draw both sides
    )
    if m.material.base_color_texture is not None:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(m.material.base_color_texture, np.uint8), "RGBA").save(buf, "PNG", optimize=True)
        img_view = add_view(buf.getvalue())
        gltf.images = [pygltflib.Image(bufferView=img_view, mimeType="image/png")]
        gltf.samplers = [pygltflib.Sampler(magFilter=9729, minFilter=9987 if m.material.mipmaps else 9729,
                                           wrapS=33071, wrapT=33071)]
        gltf.textures = [pygltflib.Texture(sampler=0, source=0)]
        mat.pbrMetallicRoughness.baseColorTexture = pygltflib.TextureInfo(index=0)
    gltf.materials = [mat]
    prim = pygltflib.Primitive(attributes=attrs, indices=indices, material=0, mode=pygltflib.TRIANGLES)
    gltf.meshes = [pygltflib.Mesh(name=character.name, primitives=[prim])]
    if m.num_morphs:  # morph targets; their names in mesh.extras.targetNames (the common convention)
        prim.targets = [
            pygltflib.Attributes(
                POSITION=add_acc(m.morph_positions[t], F32, "VEC3", minmax=True),
                NORMAL=add_acc(m.morph_normals[t], F32, "VEC3") if m.morph_normals is not None else None)
            for t in range(m.num_morphs)]
        gltf.meshes[0].extras = {"targetNames": list(m.morph_names)}
    gltf.accessors = accessors
    gltf.bufferViews = views
    extras = {
        "version": EXTRAS_VERSION,
        "name": character.name,
        "box": {"origin": character.box.origin, "size": character.box.size},
        "humanoid": dict(character.humanoid),
        "regions": [
            {"name": r.name, "kind": r.kind, "anchor_joint": int(r.anchor_joint), "vertices": r.vertices,
             "pinned": r.pinned, "chain": r.chain}
            for r in character.regions
        ],
        "parts_attribute": "_PARTS",
        "meta": character.meta,
        "expressions": {k: np.asarray(v, np.float32) for k, v in character.expressions.items()},
    }
    alpha = _alpha_runs(m)
    if alpha is not None:
        extras["alpha"] = alpha
    if m.material.shade_color_factor is not None:
        mat.extras = {EXTRAS_KEY: {"shade_color_factor": _jsonable(m.material.shade_color_factor)}}
    gltf.extras = {EXTRAS_KEY: _jsonable(extras)}
    while len(blob) % 4:
        blob.append(0)
    data = bytes(blob)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gltf":
        if embed:
            uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii")
        else:
            uri = path.with_suffix(".bin").name
            path.with_suffix(".bin").write_bytes(data)
        gltf.buffers = [pygltflib.Buffer(byteLength=len(data), uri=uri)]
        text = gltf.to_json()
    else:
        gltf.buffers = [pygltflib.Buffer(byteLength=len(data))]
        text = gltf.to_json()
    # pygltflib drops unknown attribute names; add the custom one to the JSON
    doc = json.loads(text)
    doc["meshes"][0]["primitives"][0]["attributes"]["_PARTS"] = parts_acc
    text = json.dumps(doc, separators=(",", ":"))
    if suffix == ".gltf":
        path.write_text(text)
    else:
        jb = text.encode("utf-8")
        jb += b" " * (-len(jb) % 4)
        total = 12 + 8 + len(jb) + 8 + len(data)
        with open(path, "wb") as fh:
            fh.write(struct.pack("<4sII", b"glTF", 2, total))
            fh.write(struct.pack("<II", len(jb), 0x4E4F534A) + jb)
            fh.write(struct.pack("<II", len(data), 0x004E4942) + data)
    log.info("wrote %s (%d vertices, %d triangles, %d joints)", path, V, m.num_triangles, J)
    return path


def _validate(c: Character) -> None:
    m, sk = c.mesh, c.skeleton
    V = m.num_vertices
    if V == 0 or m.num_triangles == 0:
        raise AssetError(f"character {c.name!r} has an empty mesh")
    for nm, arr, shape in (("positions", m.positions, (V, 3)), ("normals", m.normals, (V, 3)),
                           ("joints", m.joints, (V, 4)), ("weights", m.weights, (V, 4)), ("parts", m.parts, (V,))):
        if arr.shape != shape:
            raise AssetError(f"character {c.name!r}: mesh.{nm} has shape {arr.shape}, expected {shape}")
    if not np.isfinite(m.positions).all():
        raise AssetError(f"character {c.name!r} has NaN/inf positions")
    if m.triangles.max() >= V:
        raise AssetError(f"character {c.name!r}: triangle indices out of range")
    if m.joints.max() >= sk.num_joints:
        raise AssetError(f"character {c.name!r}: joint indices out of range")


# ---------------------------------------------------------------------------
# Morph targets and VRM expressions

_MORPH_BUDGET = 1 << 30  # bytes of dense [T, V, 3] deltas (positions + normals) a file may make us allocate


def _read_targets(f: _File, pr, n: int, M: np.ndarray, where: str) -> list:
    """One primitive's morph targets: [(target index, [n, 3] POSITION delta, [n, 3] NORMAL delta or None)],
    in the primitive's character-space frame (deltas move with M's linear part)."""
    out = []
    for k, tg in enumerate(pr.targets or []):
        def get(key, tg=tg):
            return tg.get(key) if isinstance(tg, dict) else getattr(tg, key, None)

        pi, ni = get("POSITION"), get("NORMAL")
        dp = f.accessor(pi).astype(np.float64) if pi is not None else np.zeros((n, 3))
        if dp.shape != (n, 3):
            raise AssetError(f"{f.path}: {where}: morph target {k} POSITION is {dp.shape}, expected ({n}, 3)")
        if not np.isfinite(dp).all():
            raise AssetError(f"{f.path}: {where}: morph target {k} has NaN/inf POSITION deltas")
        dn = f.accessor(ni).astype(np.float64) if ni is not None else None
        if dn is not None and (dn.shape != (n, 3) or not np.isfinite(dn).all()):
            log.warning("%s: %s: morph target %d NORMAL is malformed; ignored", f.path, where, k)
            dn = None
        out.append((k, dp @ M[:3, :3].T, None if dn is None else dn @ _normal_matrix(M).T))
    return out


def _target_names(g, mi: int) -> list:
    m = g.meshes[mi]
    for holder in [m, *m.primitives]:
        ex = holder.extras if isinstance(holder.extras, dict) else {}
        if isinstance(ex.get("targetNames"), list):
            return [str(x) for x in ex["targetNames"]]
    return []


def _merge_targets(path, g, morphs: list, num_vertices: int, T: np.ndarray) -> tuple[dict, list]:
    """Per-primitive targets -> SkinnedMesh morph fields; one target per (mesh, target index).
    Returns the fields and the (mesh, target) key of each target (for expression binds)."""
    keys: list[tuple[int, int]] = []
    index: dict[tuple[int, int], int] = {}
    for _, _, mi, targets in morphs:
        for k, _, _ in targets:
            if (mi, k) not in index:
                index[(mi, k)] = len(keys)
                keys.append((mi, k))
    if not keys:
        return {}, []
    has_n = any(dn is not None for *_, targets in morphs for _, _, dn in targets)
    size = len(keys) * num_vertices * 12 * (2 if has_n else 1)
    if size > _MORPH_BUDGET:
        raise AssetError(f"{path}: {len(keys)} morph targets x {num_vertices} vertices need {size >> 20} MiB "
                         f"(limit {_MORPH_BUDGET >> 20} MiB)")
    P = np.zeros((len(keys), num_vertices, 3), np.float32)
    N = np.zeros_like(P) if has_n else None
    for first, n, mi, targets in morphs:
        for k, dp, dn in targets:
            P[index[(mi, k)], first:first + n] = dp
            if dn is not None:
                N[index[(mi, k)], first:first + n] = dn
    L = T[:3, :3].astype(np.float32)  # the orientation fix (VRM 0.x turn) applies to deltas too
    P = P @ L.T
    N = None if N is None else N @ L.T
    several = len({mi for mi, _ in keys}) > 1
    names = []
    for mi, k in keys:
        given = _target_names(g, mi)
        base = given[k] if k < len(given) else str(k)
        name = f"{g.meshes[mi].name or f'mesh{mi}'}/{base}" if several else base
        names.append(name if name not in names else f"{name}#{len(names)}")
    return {"morph_names": tuple(names), "morph_positions": P, "morph_normals": N}, keys


def _expressions(path, g, keys: list, names: tuple, extras) -> dict[str, np.ndarray]:
    """VRM 0.x blendShapeMaster / VRM 1.0 expressions (or our own extras, or preset-named
    targets) -> expression name -> [T] morph weights."""
    t = len(keys)
    index = {key: i for i, key in enumerate(keys)}
    if extras is not None and "expressions" in extras:
        out = {}
        for name, w in (extras.get("expressions") or {}).items():
            w = np.asarray(w, np.float32)
            if w.shape != (t,) or not np.isfinite(w).all():
                raise AssetError(f"{path}: corrupt extras.{EXTRAS_KEY}.expressions[{name!r}] (expected {t} weights)")
            out[str(name)] = w
        return out
    nodes = g.nodes or []
    ext = g.extensions or {}
    out: dict[str, np.ndarray] = {}
    missing = 0

    def weights(binds, mesh_of, scale) -> np.ndarray:
        nonlocal missing
        w = np.zeros(t, np.float32)
        for b in binds or []:
            if not isinstance(b, dict):
                continue
            key = (mesh_of(b), b.get("index"))
            val = float(b.get("weight", scale)) / scale
            if key not in index or not np.isfinite(val):
                missing += 1
                continue
            w[index[key]] += val
        return np.clip(w, 0.0, 1.0)

    vrm0 = ext.get("VRM") if isinstance(ext.get("VRM"), dict) else None
    if vrm0:
        for grp in ((vrm0.get("blendShapeMaster") or {}).get("blendShapeGroups") or []):
            if not isinstance(grp, dict):
                continue
            preset = grp.get("presetName")
            name = canonical_name(preset) if preset and preset != "unknown" else str(grp.get("name") or f"group{len(out)}")
            out[name] = weights(grp.get("binds"), lambda b: b.get("mesh"), 100.0)  # VRM 0.x weights are 0..100
    vrm1 = ext.get("VRMC_vrm") if isinstance(ext.get("VRMC_vrm"), dict) else None
    if vrm1:
        def mesh_of(b):
            nd = b.get("node")
            return nodes[nd].mesh if isinstance(nd, int) and 0 <= nd < len(nodes) else None

        ex = vrm1.get("expressions") or {}
        for kind in ("preset", "custom"):
            for name, e in (ex.get(kind) or {}).items():
                if isinstance(e, dict):
                    key = canonical_name(name) if kind == "preset" else str(name)
                    out[key] = weights(e.get("morphTargetBinds"), mesh_of, 1.0)
    if missing:
        log.warning("%s: %d expression binds refer to morph targets not on the loaded mesh; skipped", path, missing)
    if not out:
        for i, nm in enumerate(names):
            c = canonical_name(nm.split("/")[-1])
            if c in PRESETS and c not in out:
                out[c] = np.eye(t, dtype=np.float32)[i]
    return out
