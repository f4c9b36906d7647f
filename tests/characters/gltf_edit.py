"""Build test fixtures from the real glTF fixtures by editing their node tree."""
from __future__ import annotations

import json
import struct
from pathlib import Path


def read_glb(path) -> tuple[dict, bytes | None]:
    raw = Path(path).read_bytes()
    if raw[:4] != b"glTF":
        return json.loads(raw.decode("utf-8")), None
    off, doc, blob = 12, None, None
    while off + 8 <= len(raw):
        n, kind = struct.unpack_from("<II", raw, off)
        chunk = raw[off + 8: off + 8 + n]
        if kind == 0x4E4F534A:
            doc = json.loads(chunk.decode("utf-8").rstrip(" \x00"))
        elif kind == 0x004E4942:
            blob = chunk
        off += 8 + n
    return doc, blob


def write_glb(path, doc: dict, blob: bytes | None) -> Path:
    jb = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    jb += b" " * (-len(jb) % 4)
    body = struct.pack("<II", len(jb), 0x4E4F534A) + jb
    if blob is not None:
        blob = blob + b"\0" * (-len(blob) % 4)
        body += struct.pack("<II", len(blob), 0x004E4942) + blob
    Path(path).write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return Path(path)


def wrap_scene_roots(src, dst, *, rotation=None, translation=None, scale=None, name="wrapper") -> Path:
    """Copy ``src`` to ``dst`` (GLB) with one new node above every root node of
    the default scene, carrying the given TRS (a turn, an axis change ...)."""
    doc, blob = read_glb(src)
    scene = doc["scenes"][doc.get("scene", 0)]
    node = {"name": name, "children": list(scene["nodes"])}
    for key, val in (("rotation", rotation), ("translation", translation), ("scale", scale)):
        if val is not None:
            node[key] = [float(v) for v in val]
    doc["nodes"].append(node)
    scene["nodes"] = [len(doc["nodes"]) - 1]
    return write_glb(dst, doc, blob)
