"""glTF/VRM load and save on the real third-party files and on our own output."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from conrt.characters.gltf_io import load_character, save_character
from conrt.characters.posing import pose_from_rotations, posed_positions, rest_pose, rotation_matrix
from conrt.characters.procedural import generate
from conrt.errors import AssetError
from conrt.types import CanonicalBox, Part

GLTF = Path(__file__).resolve().parents[1] / "fixtures" / "assets" / "gltf"
FILES = ["SimpleSkin.gltf", "RiggedSimple.glb", "Fox.glb", "RobotExpressive.glb", "univrm_sphere_vrm0.vrm"]


@pytest.fixture(scope="module")
def loaded():
    return {name: load_character(GLTF / name) for name in FILES}


@pytest.fixture(scope="module")
def small_character():
    return generate(3, bottom="skirt", tails="twin", long_hair=True)


# ---------------------------------------------------------------------------
# Real files


@pytest.mark.parametrize("name", FILES)
def test_real_file_loads_consistently(loaded, name):
    c = loaded[name]
    m, sk = c.mesh, c.skeleton
    assert m.num_vertices > 0 and m.num_triangles > 0
    assert m.positions.dtype == np.float32 and m.positions.shape == (m.num_vertices, 3)
    assert np.isfinite(m.positions).all() and np.isfinite(m.normals).all()
    np.testing.assert_allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(m.weights.sum(1), 1.0, atol=1e-5)
    assert (m.weights >= 0).all()
    assert int(m.triangles.max()) < m.num_vertices
    assert int(m.joints.max()) < sk.num_joints
    assert m.parts.shape == (m.num_vertices,)
    # parents come first
    assert all(p < j for j, p in enumerate(sk.parents))
    # feet at y = 0
    assert abs(float(m.positions[:, 1].min())) < 1e-5
    # rest_local composes into rest_world
    from conrt.characters.posing import forward_kinematics
    np.testing.assert_allclose(forward_kinematics(sk.parents, sk.rest_local), sk.rest_world,
                               atol=1e-4 * max(1.0, float(np.abs(sk.rest_world).max())))
    # skinning the rest pose reproduces the rest positions (inverse binds consistent)
    scale = float(np.ptp(m.positions, axis=0).max())
    np.testing.assert_allclose(posed_positions(c, rest_pose(c)), m.positions, atol=1e-5 * scale)
    # the canonical box maps the height into 0..1 (and x/z when they fit; the
    # Fox is longer than tall, so its snout/tail clip by design)
    lm = (m.positions - c.box.origin) / c.box.size
    fits = np.ptp(m.positions, axis=0) <= c.height * (1 + 1e-5)
    assert lm[:, fits].min() > -1e-5 and lm[:, fits].max() < 1 + 1e-5
    np.testing.assert_allclose([lm[:, 1].min(), lm[:, 1].max()], [0, 1], atol=1e-5)


def test_robot_weights_are_renormalised_and_skins_merged(loaded):
    c = loaded["RobotExpressive.glb"]
    # the file's raw weights sum up to 1.755; ours sum to 1
    np.testing.assert_allclose(c.mesh.weights.sum(1), 1.0, atol=1e-5)
    assert "skins" in c.meta and "merged" in c.meta["skins"]
    # rigid body parts hanging under joints are included (the hands alone are ~1k vertices)
    assert c.mesh.num_vertices > 5000
    assert c.skeleton.num_joints == 43


def test_fox_texture_and_uv(loaded):
    c = loaded["Fox.glb"]
    tex = c.mesh.material.base_color_texture
    assert tex is not None and tex.ndim == 3 and tex.shape[2] == 4 and tex.dtype == np.uint8
    assert c.mesh.uv is not None and c.mesh.uv.shape == (c.mesh.num_vertices, 2)
    assert tex.std() > 5  # a real picture, not a flat colour


def test_vrm0_humanoid_and_facing(loaded):
    c = loaded["univrm_sphere_vrm0.vrm"]
    assert c.meta["format"] == "vrm0"
    for bone in ("hips", "spine", "chest", "neck", "head", "leftUpperArm", "rightUpperLeg", "leftFoot"):
        assert bone in c.humanoid, bone
    w = c.skeleton.rest_world
    # VRM 0.x faces -Z; after our 180 degree turn the character's left is +X
    assert w[c.humanoid["leftUpperArm"], 0, 3] > 0.1
    assert w[c.humanoid["rightUpperArm"], 0, 3] < -0.1
    assert w[c.humanoid["leftToes"], 2, 3] > w[c.humanoid["leftFoot"], 2, 3]  # toes point +Z
    assert c.skeleton.names[c.humanoid["leftUpperArm"]] == "UpperArm.L"


def test_skinning_moves_real_file(loaded):
    c = loaded["Fox.glb"]
    j = c.skeleton.names[len(c.skeleton.names) // 2]
    pose = pose_from_rotations(c.skeleton, {j: rotation_matrix([1, 0, 0], 0.8)})
    moved = np.linalg.norm(posed_positions(c, pose) - c.mesh.positions, axis=1)
    assert moved.max() > 1.0  # Fox units are ~cm


# ---------------------------------------------------------------------------
# Round trips


def _assert_same(a, b, atol=1e-5):
    ma, mb = a.mesh, b.mesh
    for k in ("positions", "normals", "weights", "uv", "colors"):
        assert (getattr(ma, k) is None) == (getattr(mb, k) is None), k
        if getattr(ma, k) is not None:
            np.testing.assert_allclose(getattr(ma, k), getattr(mb, k), atol=atol, err_msg=k)
    for k in ("joints", "triangles", "parts"):
        np.testing.assert_array_equal(getattr(ma, k), getattr(mb, k), err_msg=k)
    np.testing.assert_array_equal(ma.material.base_color_texture, mb.material.base_color_texture)
    np.testing.assert_allclose(ma.material.base_color_factor, mb.material.base_color_factor)
    assert a.skeleton.names == b.skeleton.names
    np.testing.assert_array_equal(a.skeleton.parents, b.skeleton.parents)
    for k in ("rest_local", "rest_world", "inverse_bind"):
        np.testing.assert_allclose(getattr(a.skeleton, k), getattr(b.skeleton, k), atol=atol, err_msg=k)
    np.testing.assert_allclose(a.box.origin, b.box.origin, atol=1e-6)
    np.testing.assert_allclose(a.box.size, b.box.size, atol=1e-6)
    assert a.humanoid == b.humanoid
    assert a.name == b.name
    assert len(a.regions) == len(b.regions)
    for ra, rb in zip(a.regions, b.regions):
        assert (ra.name, ra.kind, ra.anchor_joint) == (rb.name, rb.kind, rb.anchor_joint)
        for k in ("vertices", "pinned", "chain"):
            np.testing.assert_array_equal(getattr(ra, k), getattr(rb, k))
    assert json.loads(json.dumps(a.meta)) == b.meta


@pytest.mark.parametrize("suffix,embed", [(".glb", False), (".gltf", False), (".gltf", True)])
def test_round_trip(tmp_path, small_character, suffix, embed):
    out = save_character(small_character, tmp_path / f"c{suffix}", embed=embed)
    assert out.with_suffix(".bin").exists() == (suffix == ".gltf" and not embed)
    back = load_character(out)
    _assert_same(small_character, back)
    # and a second round trip is stable
    again = load_character(save_character(back, tmp_path / f"d{suffix}", embed=embed))
    _assert_same(back, again)


def test_round_trip_of_imported_file(tmp_path, loaded):
    c = loaded["Fox.glb"]
    back = load_character(save_character(c, tmp_path / "fox.glb"))
    _assert_same(c, back, atol=2e-3)  # Fox is in cm: 1e-5 relative


def test_saved_glb_is_valid_gltf(tmp_path, small_character):
    """pygltflib (a third-party reader) sees the skin, attributes and our extras."""
    import pygltflib

    out = save_character(small_character, tmp_path / "c.glb")
    g = pygltflib.GLTF2().load_binary(str(out))
    prim = g.meshes[0].primitives[0]
    for attr in ("POSITION", "NORMAL", "TEXCOORD_0", "COLOR_0", "JOINTS_0", "WEIGHTS_0"):
        assert getattr(prim.attributes, attr) is not None, attr
    assert len(g.skins[0].joints) == small_character.skeleton.num_joints
    assert g.skins[0].inverseBindMatrices is not None
    assert g.extras["conrt"]["version"] == 1
    assert len(g.images) == 1 and g.images[0].mimeType == "image/png"
    raw = json.loads(out.read_bytes()[20:20 + struct.unpack_from("<I", out.read_bytes(), 12)[0]])
    assert "_PARTS" in raw["meshes"][0]["primitives"][0]["attributes"]


def test_box_parameter_wins(tmp_path, small_character):
    out = save_character(small_character, tmp_path / "c.glb")
    box = CanonicalBox(origin=np.zeros(3, np.float32), size=np.full(3, 3.0, np.float32))
    assert load_character(out, box=box).box is box


# ---------------------------------------------------------------------------
# Bad files -> AssetError naming the file and the problem


def _gltf_json(tmp_path, small_character):
    out = save_character(small_character, tmp_path / "c.gltf", embed=True)
    return out, json.loads(out.read_text())


def _write(tmp_path, doc, name="bad.gltf"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def test_error_not_gltf(tmp_path):
    p = tmp_path / "x.glb"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(AssetError, match=r"x\.glb.*not a glTF"):
        load_character(p)
    with pytest.raises(AssetError, match="no such file"):
        load_character(tmp_path / "missing.glb")


def test_error_truncated_glb(tmp_path, small_character):
    out = save_character(small_character, tmp_path / "c.glb")
    data = out.read_bytes()
    cut = tmp_path / "cut.glb"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AssetError, match=r"cut\.glb.*truncated"):
        load_character(cut)


def test_error_truncated_buffer(tmp_path, small_character):
    _, doc = _gltf_json(tmp_path, small_character)
    uri = doc["buffers"][0]["uri"]
    head, b64 = uri.split(",", 1)
    doc["buffers"][0]["uri"] = head + "," + base64.b64encode(base64.b64decode(b64)[:1000]).decode()
    with pytest.raises(AssetError, match=r"bad\.gltf.*buffer 0 is truncated"):
        load_character(_write(tmp_path, doc))


def test_error_missing_external_buffer(tmp_path, small_character):
    out = save_character(small_character, tmp_path / "c.gltf")
    out.with_suffix(".bin").unlink()
    with pytest.raises(AssetError, match=r"c\.bin is missing"):
        load_character(out)


def test_error_accessor_out_of_range(tmp_path, small_character):
    _, doc = _gltf_json(tmp_path, small_character)
    pos = doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]
    doc["accessors"][pos]["count"] *= 3
    with pytest.raises(AssetError, match="out of range"):
        load_character(_write(tmp_path, doc))


def test_error_no_mesh(tmp_path, small_character):
    _, doc = _gltf_json(tmp_path, small_character)
    doc.pop("meshes")
    for n in doc["nodes"]:
        n.pop("mesh", None)
    with pytest.raises(AssetError, match="has no mesh"):
        load_character(_write(tmp_path, doc))


def test_error_no_skin_and_allow_static(tmp_path, small_character):
    _, doc = _gltf_json(tmp_path, small_character)
    doc.pop("skins")
    for n in doc["nodes"]:
        n.pop("skin", None)
    doc.pop("extras")
    p = _write(tmp_path, doc)
    with pytest.raises(AssetError, match=r"bad\.gltf: has no skin"):
        load_character(p)
    c = load_character(p, allow_static=True)
    assert c.skeleton.names == ("root",)
    np.testing.assert_allclose(c.mesh.positions, small_character.mesh.positions, atol=1e-6)
    np.testing.assert_allclose(c.mesh.weights[:, 0], 1.0)


def test_error_nan_positions(tmp_path, small_character):
    m = small_character.mesh
    pos = m.positions.copy()
    pos[5] = np.nan
    bad = small_character.__class__(**{**small_character.__dict__, "mesh": m.__class__(**{**m.__dict__, "positions": pos})})
    with pytest.raises(AssetError, match="NaN"):
        save_character(bad, tmp_path / "nan.glb")
    # a file written by someone else with NaN positions
    out, doc = _gltf_json(tmp_path, small_character)
    uri = doc["buffers"][0]["uri"]
    head, b64 = uri.split(",", 1)
    buf = bytearray(base64.b64decode(b64))
    acc = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    off = doc["bufferViews"][acc["bufferView"]].get("byteOffset", 0) + 12 * 7
    buf[off:off + 4] = struct.pack("<f", float("nan"))
    doc["buffers"][0]["uri"] = head + "," + base64.b64encode(bytes(buf)).decode()
    with pytest.raises(AssetError, match=r"bad\.gltf.*NaN"):
        load_character(_write(tmp_path, doc))


def test_error_triangle_indices_out_of_range(tmp_path, small_character):
    _, doc = _gltf_json(tmp_path, small_character)
    prim = doc["meshes"][0]["primitives"][0]
    # point the indices at the joints accessor (u16 values, fine) but shrink POSITION
    doc["accessors"][prim["attributes"]["POSITION"]]["count"] = 10
    for k in ("NORMAL", "TEXCOORD_0", "COLOR_0", "JOINTS_0", "WEIGHTS_0", "_PARTS"):
        doc["accessors"][prim["attributes"][k]]["count"] = 10
    with pytest.raises(AssetError, match="triangle indices out of range"):
        load_character(_write(tmp_path, doc))


def test_error_bad_suffix_on_save(tmp_path, small_character):
    with pytest.raises(AssetError, match="use .glb or .gltf"):
        save_character(small_character, tmp_path / "c.obj")


def test_parts_from_material_names(tmp_path, small_character):
    """Imported files without our extras label vertices by material name."""
    _, doc = _gltf_json(tmp_path, small_character)
    doc.pop("extras")
    doc["materials"][0]["name"] = "Hair_01"
    c = load_character(_write(tmp_path, doc))
    assert (c.mesh.parts == Part.HAIR).all()


def test_corrupted_files_never_crash(tmp_path):
    """Random truncations and byte flips of a real GLB: every variant either
    loads into a valid character or raises AssetError naming the file, never
    a stray exception from deep inside NumPy/pygltflib."""
    src = (GLTF / "RiggedSimple.glb").read_bytes()
    jlen = struct.unpack_from("<I", src, 12)[0]
    rng = np.random.default_rng(1234)
    p = tmp_path / "fuzz.glb"
    outcomes = {"loaded": 0, "rejected": 0}
    for i in range(80):
        data = bytearray(src)
        if i % 3 == 0:
            data = data[: int(rng.integers(0, len(data)))]
        elif i % 3 == 1:  # JSON chunk: printable garbage
            for _ in range(int(rng.integers(1, 6))):
                data[20 + int(rng.integers(0, jlen))] = int(rng.integers(32, 127))
        else:  # anywhere, any byte
            for _ in range(int(rng.integers(1, 20))):
                data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        p.write_bytes(bytes(data))
        try:
            c = load_character(p)
        except AssetError as exc:
            assert "fuzz.glb" in str(exc)
            outcomes["rejected"] += 1
            continue
        m = c.mesh
        assert np.isfinite(m.positions).all() and np.isfinite(m.normals).all()
        np.testing.assert_allclose(m.weights.sum(1), 1.0, atol=1e-4)
        assert int(m.triangles.max()) < m.num_vertices and int(m.joints.max()) < c.skeleton.num_joints
        outcomes["loaded"] += 1
    assert outcomes["rejected"] > 10 and outcomes["loaded"] > 5, outcomes
