"""Shared helpers of the physics tests."""
from __future__ import annotations

import functools
import os

import numpy as np
import pygltflib

from conrt.physics.transforms import quat_to_matrix
from conrt.types import Skeleton


def load_gltf(path) -> pygltflib.GLTF2:
    """The parsed file, read once per (path, size, mtime): pygltflib's parse
    takes seconds on the larger assets and the node-tree checks evaluate a file
    at many times. Callers only read it (never modify the shared object)."""
    st = os.stat(path)
    return _load_gltf(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load_gltf(path: str, size: int, mtime_ns: int) -> pygltflib.GLTF2:
    return pygltflib.GLTF2().load(path)


def gltf_skeleton(path) -> Skeleton:
    """The first skin of a glTF file as a Skeleton (node TRS rest pose), independent of characters/."""
    g = load_gltf(path)
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


def evaluate_nodes(path, animation: str | None, t: float) -> dict:
    """World matrix of every named node of a glTF file at time ``t`` of an animation
    (None: the node rest pose), evaluated straight from the node tree (LINEAR keys),
    independent of physics/."""
    from conrt.physics.transforms import slerp

    g = load_gltf(path)
    blob = g.binary_blob()
    anim = next((a for a in g.animations if a.name == animation), None)

    def read(i):
        a = g.accessors[i]
        v = g.bufferViews[a.bufferView]
        n = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[a.type]
        return np.frombuffer(blob, np.float32, a.count * n, (v.byteOffset or 0) + (a.byteOffset or 0)) \
            .reshape(a.count, n).astype(np.float64)

    keyed = {}
    for ch in anim.channels if anim is not None else []:
        s = anim.samplers[ch.sampler]
        ts, vs = read(s.input)[:, 0], read(s.output)
        k = int(np.clip(np.searchsorted(ts, t, side="right") - 1, 0, max(len(ts) - 2, 0)))
        f = float(np.clip((t - ts[k]) / max(ts[min(k + 1, len(ts) - 1)] - ts[k], 1e-9), 0, 1)) if len(ts) > 1 else 0.0
        nxt = vs[min(k + 1, len(vs) - 1)]
        keyed[(ch.target.node, ch.target.path)] = slerp(vs[k], nxt, f) if ch.target.path == "rotation" \
            else vs[k] * (1 - f) + nxt * f
    parent = {c: i for i, n in enumerate(g.nodes) for c in (n.children or [])}

    def local(i):
        n = g.nodes[i]
        if n.matrix is not None:
            return np.asarray(n.matrix, np.float64).reshape(4, 4).T
        m = np.diag(list(keyed.get((i, "scale"), n.scale or [1, 1, 1])) + [1.0])
        r = np.eye(4)
        r[:3, :3] = quat_to_matrix(np.asarray(keyed.get((i, "rotation"), n.rotation or [0, 0, 0, 1]), np.float64))
        m = r @ m
        m[:3, 3] = keyed.get((i, "translation"), n.translation or [0, 0, 0])
        return m

    out = {}
    for i, n in enumerate(g.nodes):
        m, k = np.eye(4), i
        while k is not None:
            m = local(k) @ m
            k = parent.get(k)
        out.setdefault(n.name, m)
    return out


def z_up_armature(src, dst):
    """Copy of RiggedSimple.glb whose Armature node turns Z-up content to Y-up at
    1/100 scale (like a Blender/Max export in centimetres): the Root joint's rest
    transform and its animation keys are rewritten into that Z-up, x100 frame so
    the scene looks exactly the same."""
    import json
    import struct
    from pathlib import Path

    from conrt.physics.transforms import axis_angle, matrix_to_quat

    raw = Path(src).read_bytes()
    jlen = struct.unpack_from("<I", raw, 12)[0]
    doc = json.loads(raw[20:20 + jlen].decode().rstrip(" \0"))
    blen = struct.unpack_from("<I", raw, 20 + jlen)[0]
    blob = bytearray(raw[28 + jlen: 28 + jlen + blen])
    names = [n.get("name") for n in doc["nodes"]]
    arm, root = names.index("Armature"), names.index("Root")
    ra = axis_angle((1, 0, 0), -np.pi / 2)  # Z-up -> Y-up
    a = np.eye(4)
    a[:3, :3] = ra * 0.01
    doc["nodes"][arm].update(rotation=[float(v) for v in matrix_to_quat(ra)], scale=[0.01] * 3)
    node = doc["nodes"][root]
    old = np.eye(4)
    old[:3, :3] = quat_to_matrix(np.asarray(node.get("rotation", [0, 0, 0, 1]), np.float64))
    old[:3, 3] = node.get("translation", [0, 0, 0])
    new = np.linalg.inv(a) @ old
    node.update(translation=[float(v) for v in new[:3, 3]],
                rotation=[float(v) for v in matrix_to_quat(new[:3, :3] / 100.0)], scale=[100.0] * 3)

    def add(values: np.ndarray, typ: str) -> int:
        while len(blob) % 4:
            blob.append(0)
        data = np.ascontiguousarray(values, np.float32).tobytes()
        doc["bufferViews"].append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
        blob.extend(data)
        doc["accessors"].append({"bufferView": len(doc["bufferViews"]) - 1, "componentType": 5126,
                                 "count": len(values), "type": typ})
        return len(doc["accessors"]) - 1

    def get(i):
        acc = doc["accessors"][i]
        v = doc["bufferViews"][acc["bufferView"]]
        n = {"VEC3": 3, "VEC4": 4}[acc["type"]]
        off = v.get("byteOffset", 0) + acc.get("byteOffset", 0)
        return np.frombuffer(bytes(blob[off: off + acc["count"] * n * 4]), np.float32).reshape(-1, n).astype(np.float64)

    for anim in doc["animations"]:
        for ch in anim["channels"]:
            if ch["target"]["node"] != root:
                continue
            sampler = anim["samplers"][ch["sampler"]]
            vals = get(sampler["output"])
            path = ch["target"]["path"]
            if path == "rotation":
                vals = matrix_to_quat(ra.T @ quat_to_matrix(vals))
                sampler["output"] = add(vals, "VEC4")
            elif path == "translation":
                sampler["output"] = add(vals @ (ra.T * 100.0).T, "VEC3")
            elif path == "scale":
                sampler["output"] = add(vals * 100.0, "VEC3")
    doc["buffers"][0]["byteLength"] = len(blob)
    jb = json.dumps(doc).encode()
    jb += b" " * (-len(jb) % 4)
    while len(blob) % 4:
        blob.append(0)
    body = struct.pack("<II", len(jb), 0x4E4F534A) + jb + struct.pack("<II", len(blob), 0x004E4942) + bytes(blob)
    Path(dst).write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return Path(dst)
