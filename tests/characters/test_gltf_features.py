"""Loader features on small hand-built glTF files: strips/fans, integer
weights, more than 4 influences, COLOR_0 as normalized ubyte vec3, several
skins, VRM 1.0 humanoid + MToon shade colour, several textures -> atlas."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from conrt.characters.gltf_io import load_character
from conrt.characters.posing import posed_positions, rest_pose

FLOAT, UBYTE, USHORT, UINT = 5126, 5121, 5123, 5125


class _Doc:
    """Builds a glTF JSON with one embedded buffer."""

    def __init__(self):
        self.blob = bytearray()
        self.doc = {"asset": {"version": "2.0"}, "buffers": [], "bufferViews": [], "accessors": [],
                    "nodes": [], "meshes": [], "scenes": [{"nodes": []}], "scene": 0}

    def view(self, data: bytes) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        self.doc["bufferViews"].append({"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)})
        self.blob.extend(data)
        return len(self.doc["bufferViews"]) - 1

    def acc(self, arr, ctype, typ, normalized=False) -> int:
        dt = {FLOAT: np.float32, UBYTE: np.uint8, USHORT: np.uint16, UINT: np.uint32}[ctype]
        arr = np.ascontiguousarray(arr, dt)
        a = {"bufferView": self.view(arr.tobytes()), "componentType": ctype, "count": int(arr.shape[0]), "type": typ}
        if normalized:
            a["normalized"] = True
        if typ == "VEC3" and ctype == FLOAT:
            a["min"], a["max"] = arr.min(0).tolist(), arr.max(0).tolist()
        self.doc["accessors"].append(a)
        return len(self.doc["accessors"]) - 1

    def image(self, rgb, side: int = 4) -> int:
        buf = io.BytesIO()
        Image.fromarray(np.full((side, side, 3), rgb, np.uint8)).save(buf, "PNG")
        self.doc.setdefault("images", []).append({"bufferView": self.view(buf.getvalue()), "mimeType": "image/png"})
        self.doc.setdefault("textures", []).append({"source": len(self.doc["images"]) - 1})
        return len(self.doc["textures"]) - 1

    def write(self, path):
        self.doc["buffers"] = [{"byteLength": len(self.blob),
                                "uri": "data:application/octet-stream;base64," + base64.b64encode(bytes(self.blob)).decode()}]
        path.write_text(json.dumps(self.doc))
        return path


def _two_joint_doc(n_skins=1):
    """A 2-joint chain along +Y (root at y=0, child at y=1) and a quad strip."""
    d = _Doc()
    d.doc["nodes"] = [
        {"name": "root", "children": [1]},
        {"name": "tip", "translation": [0, 1, 0]},
    ]
    ibm = np.stack([np.eye(4), np.linalg.inv(np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1.0]]))])
    skin = {"joints": [0, 1], "inverseBindMatrices": d.acc(ibm.transpose(0, 2, 1).reshape(2, 16), FLOAT, "MAT4")}
    d.doc["skins"] = [skin] * n_skins
    d.doc["scenes"][0]["nodes"] = [0]
    return d


def _joint0_triangle(d: _Doc, pos, **texcoords) -> dict:
    """A primitive's attributes: one triangle at ``pos`` [3, 3] bound wholly to
    joint 0, plus the given ``TEXCOORD_n`` arrays [3, 2]."""
    weights = np.zeros((3, 4), np.float32)
    weights[:, 0] = 1
    attrs = {"POSITION": d.acc(pos, FLOAT, "VEC3"), "JOINTS_0": d.acc(np.zeros((3, 4)), USHORT, "VEC4"),
             "WEIGHTS_0": d.acc(weights, FLOAT, "VEC4")}
    attrs.update({name: d.acc(uv, FLOAT, "VEC2") for name, uv in texcoords.items()})
    return attrs


def test_strip_ubyte_weights_and_more_than_four_influences(tmp_path):
    d = _two_joint_doc()
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 2, 0], [1, 2, 0]], np.float32)
    # 8 influences per vertex over JOINTS_0/1, normalized ubyte weights not summing to 1
    j0 = np.tile([0, 1, 0, 1], (6, 1))
    j1 = np.tile([1, 0, 1, 0], (6, 1))
    w0 = np.tile([200, 10, 0, 0], (6, 1))
    w1 = np.tile([50, 5, 0, 0], (6, 1))
    col = np.tile([255, 128, 0], (6, 1))
    attrs = {"POSITION": d.acc(pos, FLOAT, "VEC3"), "JOINTS_0": d.acc(j0, UBYTE, "VEC4"),
             "WEIGHTS_0": d.acc(w0, UBYTE, "VEC4", True), "JOINTS_1": d.acc(j1, USHORT, "VEC4"),
             "WEIGHTS_1": d.acc(w1, UBYTE, "VEC4", True), "COLOR_0": d.acc(col, UBYTE, "VEC3", True)}
    d.doc["meshes"] = [{"primitives": [{"attributes": attrs, "mode": 5}]}]  # triangle strip, no indices
    d.doc["nodes"].append({"mesh": 0, "skin": 0})
    d.doc["scenes"][0]["nodes"].append(2)
    c = load_character(d.write(tmp_path / "strip.gltf"))
    m = c.mesh
    assert m.num_triangles == 4
    # strips keep a consistent winding: every face normal points the same way
    p = m.positions[m.triangles.astype(int)]
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert (np.sign(fn[:, 2]) == np.sign(fn[0, 2])).all()
    np.testing.assert_allclose(m.weights.sum(1), 1.0, atol=1e-6)
    # the 4 largest of (200 j0, 10 j1, 50 j1, 5 j0): j0 gets 205/265, j1 gets 60/265
    w_root = (m.weights * (m.joints == 0)).sum(1)
    np.testing.assert_allclose(w_root, 205 / 265, atol=1e-5)
    np.testing.assert_allclose(m.colors[0], [1, 128 / 255, 0, 1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(m.normals, axis=1), 1, atol=1e-5)  # computed
    np.testing.assert_allclose(posed_positions(c, rest_pose(c)), m.positions, atol=1e-6)


def test_fan_and_several_skins_keep_the_largest(tmp_path):
    d = _two_joint_doc()
    d.doc["nodes"].append({"name": "other"})  # a second skeleton
    ibm_other = d.acc(np.eye(4).reshape(1, 16), FLOAT, "MAT4")
    d.doc["skins"].append({"joints": [2], "inverseBindMatrices": ibm_other})
    fan = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [-1, 1, 0]], np.float32)
    small = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    prims = []
    for pos, n_j in ((fan, 2), (small, 1)):
        j = np.zeros((len(pos), 4), np.uint16)
        w = np.zeros((len(pos), 4), np.float32)
        w[:, 0] = 1
        prims.append({"POSITION": d.acc(pos, FLOAT, "VEC3"), "JOINTS_0": d.acc(j, USHORT, "VEC4"),
                      "WEIGHTS_0": d.acc(w, FLOAT, "VEC4")})
    d.doc["meshes"] = [{"primitives": [{"attributes": prims[0], "mode": 6}]},
                       {"primitives": [{"attributes": prims[1]}]}]
    d.doc["nodes"] += [{"mesh": 0, "skin": 0}, {"mesh": 1, "skin": 1}]
    d.doc["scenes"][0]["nodes"] += [2, 3, 4]
    c = load_character(d.write(tmp_path / "fan.gltf"))
    assert c.mesh.num_vertices == 5 and c.mesh.num_triangles == 3
    assert c.skeleton.names == ("root", "tip")
    assert "kept [0]" in c.meta["skins"]


def test_vrm1_humanoid_shade_colour_and_no_turn(tmp_path):
    d = _two_joint_doc()
    pos = np.array([[0, 0, 0], [1, 0, 0.5], [0, 1, 0]], np.float32)
    j = np.zeros((3, 4), np.uint16)
    w = np.zeros((3, 4), np.float32)
    w[:, 0] = 1
    d.doc["meshes"] = [{"primitives": [{"attributes": {"POSITION": d.acc(pos, FLOAT, "VEC3"),
                                                       "JOINTS_0": d.acc(j, USHORT, "VEC4"),
                                                       "WEIGHTS_0": d.acc(w, FLOAT, "VEC4")}, "material": 0}]}]
    d.doc["materials"] = [{"name": "Body", "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.6, 0.5, 1]},
                           "extensions": {"VRMC_materials_mtoon": {"shadeColorFactor": [0.4, 0.2, 0.3]}}}]
    d.doc["nodes"].append({"mesh": 0, "skin": 0})
    d.doc["scenes"][0]["nodes"].append(2)
    d.doc["extensionsUsed"] = ["VRMC_vrm", "VRMC_materials_mtoon"]
    d.doc["extensions"] = {"VRMC_vrm": {"specVersion": "1.0", "humanoid": {"humanBones": {
        "hips": {"node": 0}, "spine": {"node": 1}, "tail": {"node": 1}, "head": {"node": 7}}}}}
    c = load_character(d.write(tmp_path / "v1.gltf"))
    assert c.meta["format"] == "vrm1"
    assert c.humanoid == {"hips": 0, "spine": 1}  # unknown names and non-joint nodes are skipped
    np.testing.assert_allclose(c.mesh.material.shade_color_factor, [0.4, 0.2, 0.3, 1.0])
    np.testing.assert_allclose(c.mesh.material.base_color_factor, [0.8, 0.6, 0.5, 1.0])
    assert c.mesh.positions[1, 2] == pytest.approx(0.5)  # VRM 1.0 already faces +Z: not turned


def test_several_textures_become_an_atlas(tmp_path):
    d = _two_joint_doc()
    prims = []
    for k in range(3):
        pos = np.array([[k, 0, 0], [k + 1, 0, 0], [k, 1, 0]], np.float32)
        a = _joint0_triangle(d, pos, TEXCOORD_0=np.full((3, 2), 0.5))
        prims.append({"attributes": a, "material": k})
    d.doc["materials"] = [
        {"pbrMetallicRoughness": {"baseColorTexture": {"index": d.image((255, 0, 0))}}},
        {"pbrMetallicRoughness": {"baseColorTexture": {"index": d.image((0, 0, 255))}}},
        {"name": "Hair", "pbrMetallicRoughness": {"baseColorFactor": [0, 1, 0, 1]}},
    ]
    d.doc["meshes"] = [{"primitives": prims}]
    d.doc["nodes"].append({"mesh": 0, "skin": 0})
    d.doc["scenes"][0]["nodes"].append(2)
    c = load_character(d.write(tmp_path / "atlas.gltf"))
    m = c.mesh
    tex = m.material.base_color_texture
    px = np.clip((m.uv * [tex.shape[1], tex.shape[0]]).astype(int), 0, [tex.shape[1] - 1, tex.shape[0] - 1])
    sampled = tex[px[:, 1], px[:, 0], :3]
    albedo = sampled / 255.0 * m.colors[:, :3] * m.material.base_color_factor[:3]
    np.testing.assert_allclose(albedo[0:3], [[1, 0, 0]] * 3, atol=1e-6)
    np.testing.assert_allclose(albedo[3:6], [[0, 0, 1]] * 3, atol=1e-6)
    np.testing.assert_allclose(albedo[6:9], [[0, 1, 0]] * 3, atol=1e-6)  # factor baked into COLOR_0, white tile
    assert (m.parts[6:9] == 1).all() and (m.parts[:6] == 0).all()  # "Hair" material -> HAIR


def test_many_textures_tile_a_grid_atlas_the_gl_can_hold(tmp_path, gl_ctx):
    """A VRoid-style export has a base-colour texture per part (face, irises, brows,
    lashes, body, tops, bottoms, shoes, hair ...). Side by side, 17 of 1024^2 plus the
    white tile made an atlas 18432 px wide: past GL_MAX_TEXTURE_SIZE (16384 on
    llvmpipe), so the toon/UDP passes could not upload it. They tile a grid now."""
    from conrt.limits import MAX_ATLAS_SIDE
    from conrt.shaders.material import albedo_image, albedo_texture

    d = _two_joint_doc()
    n = 17
    colours = [((37 * k) % 256, (91 * k + 40) % 256, (53 * k + 200) % 256) for k in range(n)]
    prims, mats = [], []
    for k in range(n + 1):  # the last one has no texture: the white tile
        pos = np.array([[k, 0, 0], [k + 1, 0, 0], [k, 1, 0]], np.float32)
        uv = np.array([[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]], np.float32)
        a = _joint0_triangle(d, pos, TEXCOORD_0=uv)
        prims.append({"attributes": a, "material": k})
        mats.append({"pbrMetallicRoughness": {"baseColorTexture": {"index": d.image(colours[k], 1024)}}}
                    if k < n else {"pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1]}})
    d.doc["materials"] = mats
    d.doc["meshes"] = [{"primitives": prims}]
    d.doc["nodes"].append({"mesh": 0, "skin": 0})
    d.doc["scenes"][0]["nodes"].append(2)
    c = load_character(d.write(tmp_path / "many.gltf"))
    m = c.mesh
    tex = m.material.base_color_texture
    assert max(tex.shape[:2]) <= MAX_ATLAS_SIDE <= gl_ctx.info["GL_MAX_TEXTURE_SIZE"]
    assert tex.shape[:2] == (4 * 1024, 5 * 1024)  # 18 tiles in a 5 x 4 grid, each at the images' full 1024
    px = np.clip((m.uv * [tex.shape[1], tex.shape[0]]).astype(int), 0, [tex.shape[1] - 1, tex.shape[0] - 1])
    sampled = tex[px[:, 1], px[:, 0], :3].astype(int)
    want = np.repeat(np.array(colours + [(255, 255, 255)]), 3, 0)
    np.testing.assert_array_equal(sampled, want)  # every corner of every primitive stays in its own tile
    _ = gl_ctx.error  # reading the flag clears what earlier tests left
    gpu = albedo_texture(gl_ctx, albedo_image(c), c.mesh.material.mipmaps)  # what the passes upload
    try:
        # a texture past the limit uploads nothing (GL_INVALID_VALUE) and samples black
        assert gl_ctx.error == "GL_NO_ERROR"
        back = np.frombuffer(gpu.read(), np.uint8).reshape(tex.shape[0], tex.shape[1], 4)
        np.testing.assert_array_equal(back[px[:, 1], px[:, 0], :3], want)
    finally:
        gpu.release()


def test_base_colour_texture_transform_and_texcoord_set(tmp_path):
    """KHR_texture_transform on the base-colour texture (UniVRM and VRoid exports list
    it; a tiled or offset MToon main texture sets it) and ``texCoord`` 1: each vertex
    samples where the file says, not where the raw TEXCOORD_0 points."""
    d = _two_joint_doc()
    img = np.zeros((4, 4, 3), np.uint8)  # four quadrants: red, green / blue, white (row 0 = v 0)
    img[:2, :2], img[:2, 2:], img[2:, :2], img[2:, 2:] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    d.doc["images"] = [{"bufferView": d.view(buf.getvalue()), "mimeType": "image/png"}]
    d.doc["textures"] = [{"source": 0}]
    d.doc["samplers"] = [{"magFilter": 9728, "minFilter": 9728}]
    d.doc["textures"][0]["sampler"] = 0
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    uv0 = np.full((3, 2), 0.25, np.float32)  # red quadrant, untransformed
    uv1 = np.full((3, 2), 0.25, np.float32)
    prims = []
    for k, (tex_info, which) in enumerate((
            ({"index": 0, "extensions": {"KHR_texture_transform": {"offset": [0.5, 0], "scale": [1, 1]}}}, "green"),
            ({"index": 0, "extensions": {"KHR_texture_transform": {"offset": [0, 0.5]}}}, "blue"),
            # scale then rotate 90 deg then offset: (0.25, 0.25) * 2 = (0.5, 0.5) -> (-0.5, 0.5) -> (0.75, 0.75)
            ({"index": 0, "extensions": {"KHR_texture_transform": {"scale": [2, 2], "rotation": float(np.pi / 2),
                                                                    "offset": [1.25, 0.25]}}}, "white"),
            ({"index": 0, "texCoord": 1}, "green"),  # TEXCOORD_1 points at the green quadrant
            ({"index": 0, "texCoord": 0, "extensions": {"KHR_texture_transform": {"texCoord": 1}}}, "green"))):
        a = _joint0_triangle(d, pos + [2 * k, 0, 0], TEXCOORD_0=uv0, TEXCOORD_1=uv1 + [0.5, 0])
        prims.append({"attributes": a, "material": k})
        d.doc.setdefault("materials", []).append({"pbrMetallicRoughness": {"baseColorTexture": tex_info}})
    d.doc["meshes"] = [{"primitives": prims}]
    d.doc["nodes"].append({"mesh": 0, "skin": 0})
    d.doc["scenes"][0]["nodes"].append(2)
    c = load_character(d.write(tmp_path / "transform.gltf"))
    m = c.mesh
    tex = m.material.base_color_texture
    uv = np.mod(m.uv, 1.0)  # the texture wraps (glTF default sampler)
    px = np.clip((uv * [tex.shape[1], tex.shape[0]]).astype(int), 0, [tex.shape[1] - 1, tex.shape[0] - 1])
    got = tex[px[:, 1], px[:, 0], :3].reshape(-1, 3, 3)[:, 0]
    names = {(255, 0, 0): "red", (0, 255, 0): "green", (0, 0, 255): "blue", (255, 255, 255): "white"}
    assert [names[tuple(int(v) for v in g)] for g in got] == ["green", "blue", "white", "green", "green"]


def test_required_compression_extensions_are_a_named_error(tmp_path):
    """Third-party characters (three.js / Sketchfab exports) are often Draco- or
    meshopt-compressed. Their accessors then have no bufferView: read as zeros,
    every vertex sat at the origin and the character drew as nothing, with no
    word why. A required extension the loader does not read is refused by name."""
    import subprocess
    import sys

    from conrt.errors import AssetError

    def doc(required, prim_ext):
        d = _two_joint_doc()
        pos = d.acc(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32), FLOAT, "VEC3")
        d.doc["accessors"][pos].pop("bufferView")  # the data is in the compressed stream
        j = d.acc(np.zeros((3, 4), np.uint16), USHORT, "VEC4")
        w = d.acc(np.tile([1.0, 0, 0, 0], (3, 1)), FLOAT, "VEC4")
        prim = {"attributes": {"POSITION": pos, "JOINTS_0": j, "WEIGHTS_0": w}}
        if prim_ext:
            prim["extensions"] = {prim_ext: {"bufferView": 0, "attributes": {"POSITION": 0}}}
        d.doc["meshes"] = [{"primitives": [prim]}]
        d.doc["nodes"].append({"mesh": 0, "skin": 0})
        d.doc["scenes"][0]["nodes"].append(2)
        d.doc["extensionsUsed"] = list(required)
        d.doc["extensionsRequired"] = list(required)
        return d

    for ext in ("KHR_draco_mesh_compression", "EXT_meshopt_compression", "KHR_texture_basisu"):
        path = doc([ext], ext if ext != "KHR_texture_basisu" else None).write(tmp_path / f"{ext}.gltf")
        with pytest.raises(AssetError, match=ext + r".*re-export"):
            load_character(path)
    # extensions that only change shading (conrt reads the base colour) still load
    c = load_character(_materials_only(tmp_path))
    assert c.mesh.num_vertices == 3
    # the CLI says it in one line, rc 1
    r = subprocess.run([sys.executable, "-m", "conrt", "character", "info", str(tmp_path / "KHR_draco_mesh_compression.gltf")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "KHR_draco_mesh_compression" in r.stderr and "Traceback" not in r.stderr


def _materials_only(tmp_path):
    d = _two_joint_doc()
    a = {"POSITION": d.acc(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32), FLOAT, "VEC3"),
         "JOINTS_0": d.acc(np.zeros((3, 4), np.uint16), USHORT, "VEC4"),
         "WEIGHTS_0": d.acc(np.tile([1.0, 0, 0, 0], (3, 1)), FLOAT, "VEC4")}
    d.doc["materials"] = [{"pbrMetallicRoughness": {"baseColorFactor": [1, 0, 0, 1]},
                           "extensions": {"KHR_materials_unlit": {}}}]
    d.doc["meshes"] = [{"primitives": [{"attributes": a, "material": 0}]}]
    d.doc["nodes"].append({"mesh": 0, "skin": 0})
    d.doc["scenes"][0]["nodes"].append(2)
    d.doc["extensionsUsed"] = d.doc["extensionsRequired"] = ["KHR_materials_unlit"]
    return d.write(tmp_path / "unlit.gltf")


def _chain_doc():
    """root (y=0) -> a (y=1) -> b (y=2) -> c (y=3), plus a branch a -> d; one
    vertex per joint, each fully weighted to it."""
    d = _Doc()
    d.doc["nodes"] = [
        {"name": "root", "children": [1]},
        {"name": "a", "translation": [0, 1, 0], "children": [2, 4]},
        {"name": "b", "translation": [0, 1, 0], "children": [3]},
        {"name": "c", "translation": [0, 1, 0]},
        {"name": "d", "translation": [1, 0, 0]},
    ]
    world_t = [[0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 3, 0], [1, 1, 0]]
    ibm = np.tile(np.eye(4), (5, 1, 1))
    ibm[:, :3, 3] = -np.asarray(world_t, float)
    d.doc["skins"] = [{"joints": [0, 1, 2, 3, 4], "inverseBindMatrices": d.acc(ibm.transpose(0, 2, 1).reshape(5, 16), FLOAT, "MAT4")}]
    pos = np.asarray(world_t, np.float32) + [0, 0, 0.1]
    pos = np.concatenate([pos, pos + [0.1, 0, 0]])
    j = np.zeros((10, 4), np.uint16)
    j[:, 0] = np.tile(np.arange(5), 2)
    w = np.zeros((10, 4), np.float32)
    w[:, 0] = 1
    tri = np.array([[k, k + 5, (k + 1) % 5] for k in range(5)], np.uint32).reshape(-1)
    d.doc["meshes"] = [{"primitives": [{"attributes": {"POSITION": d.acc(pos, FLOAT, "VEC3"), "JOINTS_0": d.acc(j, USHORT, "VEC4"),
                                                       "WEIGHTS_0": d.acc(w, FLOAT, "VEC4")},
                                        "indices": d.acc(tri, UINT, "SCALAR")}]}]
    d.doc["nodes"].append({"mesh": 0, "skin": 0})
    d.doc["scenes"][0]["nodes"] = [0, 5]
    return d


def test_vrm0_spring_bone_groups_become_hair_regions(tmp_path):
    d = _chain_doc()
    d.doc["extensions"] = {"VRM": {"humanoid": {"humanBones": [{"bone": "hips", "node": 0}]},
                                   "secondaryAnimation": {"boneGroups": [{"bones": [1]}]}}}
    c = load_character(d.write(tmp_path / "spring0.gltf"))
    names = c.skeleton.names
    chains = [[names[j] for j in r.chain] for r in c.regions]
    # the subtree of "a" splits into disjoint chains a-b-c and (d alone: too short)
    assert chains == [["a", "b", "c"]]
    r = c.regions[0]
    assert r.kind == "hair" and names[r.anchor_joint] == "root"
    np.testing.assert_array_equal(np.sort(c.mesh.joints[r.vertices, 0]), [1, 1, 2, 2, 3, 3])


def test_vrm1_springs_become_hair_regions(tmp_path):
    d = _chain_doc()
    d.doc["extensions"] = {"VRMC_vrm": {"humanoid": {"humanBones": {"hips": {"node": 0}}}},
                           "VRMC_springBone": {"springs": [{"joints": [{"node": 2}, {"node": 3}]},
                                                           {"joints": [{"node": 1}, {"node": 4}]},
                                                           {"joints": [{"node": 0}, {"node": 3}]}]}}
    c = load_character(d.write(tmp_path / "spring1.gltf"))
    names = c.skeleton.names
    # b-c is a chain under a; a-d is a chain under root; root-c is not a parent->child path
    assert [[names[j] for j in r.chain] for r in c.regions] == [["b", "c"], ["a", "d"]]
    assert [names[r.anchor_joint] for r in c.regions] == ["a", "root"]


@pytest.mark.parametrize("name,bone", [
    ("mixamorig:Hips", "hips"), ("mixamorig:LeftArm", "leftUpperArm"), ("mixamorig:RightForeArm", "rightLowerArm"),
    ("mixamorig:LeftUpLeg", "leftUpperLeg"), ("mixamorig:Spine1", "chest"), ("mixamorig:LeftToeBase", "leftToes"),
    ("UpperArm.L", "leftUpperArm"), ("LowerLeg.R", "rightLowerLeg"), ("J_Bip_L_UpperArm", "leftUpperArm"),
    ("J_Bip_C_UpperChest", "upperChest"), ("b_LeftForeArm_010", "leftLowerArm"), ("b_Head_05", "head"),
    ("Torso", "chest"), ("foot_l", "leftFoot"), ("DEF-thigh.R", "rightUpperLeg"), ("Tail", None), ("Root.001", None),
])
def test_guess_humanoid_names(name, bone):
    from conrt.characters.gltf_io import guess_humanoid

    assert guess_humanoid([name]) == ({bone: 0} if bone else {})


def test_robot_gets_a_guessed_humanoid_map():
    from pathlib import Path

    c = load_character(Path(__file__).resolve().parents[1] / "fixtures" / "assets" / "gltf" / "RobotExpressive.glb")
    sk = c.skeleton
    assert {"hips", "spine", "chest", "neck", "head", "leftUpperArm", "rightLowerLeg"} <= set(c.humanoid)
    assert sk.names[c.humanoid["leftUpperArm"]] == "UpperArm.L"
    # Foot.L / Foot.R are IK targets under the root, not below the legs: not the humanoid feet
    assert "leftFoot" not in c.humanoid and "rightFoot" not in c.humanoid
    assert sk.rest_world[c.humanoid["leftUpperArm"], 0, 3] > 0  # glTF faces +Z: left is +X
    assert "guessed" in c.meta["humanoid"]


def test_sparse_positions(tmp_path):
    """A sparse accessor: zeros (no bufferView) with three vertices set."""
    d = _two_joint_doc()
    idx = np.array([0, 1, 2], np.uint16)
    vals = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    d.doc["accessors"].append({
        "componentType": FLOAT, "count": 4, "type": "VEC3", "min": [0, 0, 0], "max": [1, 1, 0],
        "sparse": {"count": 3, "indices": {"bufferView": d.view(idx.tobytes() + b"\0\0"), "componentType": USHORT},
                   "values": {"bufferView": d.view(vals.tobytes())}},
    })
    pos_acc = len(d.doc["accessors"]) - 1
    j = np.zeros((4, 4), np.uint16)
    w = np.zeros((4, 4), np.float32)
    w[:, 0] = 1
    d.doc["meshes"] = [{"primitives": [{"attributes": {"POSITION": pos_acc, "JOINTS_0": d.acc(j, USHORT, "VEC4"),
                                                       "WEIGHTS_0": d.acc(w, FLOAT, "VEC4")},
                                        "indices": d.acc(np.array([0, 1, 2], np.uint32), UINT, "SCALAR")}]}]
    d.doc["nodes"].append({"mesh": 0, "skin": 0})
    d.doc["scenes"][0]["nodes"].append(2)
    c = load_character(d.write(tmp_path / "sparse.gltf"))
    np.testing.assert_allclose(c.mesh.positions, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]])
