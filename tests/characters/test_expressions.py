"""Morph targets and expressions: glTF targets, VRM 0.x blendShapeMaster and
VRM 1.0 VRMC_vrm.expressions on small hand-built files, the save round trip,
names -> weights (aliases, bad input), VMC blends and the idle blink."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from conrt.characters import generate, load_character, save_character
from conrt.characters.expressions import (
    PRESETS, BlinkIdle, ExpressionState, canonical_name, morph_weights, unknown_names, vmc_morph_weights,
    with_expressions,
)
from conrt.characters.posing import rest_pose
from conrt.errors import AssetError, InputError

FLOAT, USHORT = 5126, 5123


class _Doc:
    """A glTF JSON with one embedded buffer: 2 joints, and meshes of one quad each."""

    def __init__(self):
        self.blob = bytearray()
        self.doc = {"asset": {"version": "2.0"}, "buffers": [], "bufferViews": [], "accessors": [],
                    "nodes": [{"name": "root", "children": [1]}, {"name": "head", "translation": [0, 1, 0]}],
                    "meshes": [], "scenes": [{"nodes": [0]}], "scene": 0}
        ibm = np.stack([np.eye(4), np.linalg.inv(np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1.0]]))])
        self.doc["skins"] = [{"joints": [0, 1], "inverseBindMatrices": self.acc(ibm.transpose(0, 2, 1).reshape(2, 16), "MAT4")}]

    def acc(self, arr, typ) -> int:
        arr = np.ascontiguousarray(arr, np.uint16 if typ == "VEC4" and arr.dtype == np.uint16 else np.float32)
        while len(self.blob) % 4:
            self.blob.append(0)
        self.doc["bufferViews"].append({"buffer": 0, "byteOffset": len(self.blob), "byteLength": arr.nbytes})
        self.blob.extend(arr.tobytes())
        a = {"bufferView": len(self.doc["bufferViews"]) - 1, "count": int(arr.shape[0]), "type": typ,
             "componentType": USHORT if arr.dtype == np.uint16 else FLOAT}
        if typ == "VEC3":
            a["min"], a["max"] = arr.min(0).tolist(), arr.max(0).tolist()
        self.doc["accessors"].append(a)
        return len(self.doc["accessors"]) - 1

    def mesh(self, name, y, deltas, target_names=None, normals=None) -> int:
        """A quad at height y (skinned to the head) with one morph target per [4, 3] delta."""
        pos = np.array([[0, y, 0], [1, y, 0], [1, y + 0.5, 0], [0, y + 0.5, 0]], np.float32)
        joints = np.tile(np.array([1, 0, 0, 0], np.uint16), (4, 1))
        weights = np.tile(np.array([1, 0, 0, 0], np.float32), (4, 1))
        prim = {"attributes": {"POSITION": self.acc(pos, "VEC3"), "JOINTS_0": self.acc(joints, "VEC4"),
                               "WEIGHTS_0": self.acc(weights, "VEC4")},
                "indices": self._indices()}
        prim["targets"] = [{"POSITION": self.acc(np.asarray(d, np.float32), "VEC3"),
                            **({"NORMAL": self.acc(np.asarray(normals[k], np.float32), "VEC3")} if normals else {})}
                           for k, d in enumerate(deltas)]
        mesh = {"name": name, "primitives": [prim]}
        if target_names:
            mesh["extras"] = {"targetNames": target_names}
        self.doc["meshes"].append(mesh)
        self.doc["nodes"].append({"mesh": len(self.doc["meshes"]) - 1, "skin": 0})
        self.doc["scenes"][0]["nodes"].append(len(self.doc["nodes"]) - 1)
        return len(self.doc["nodes"]) - 1

    def _indices(self) -> int:
        idx = np.array([0, 1, 2, 0, 2, 3], np.uint16)
        while len(self.blob) % 4:
            self.blob.append(0)
        self.doc["bufferViews"].append({"buffer": 0, "byteOffset": len(self.blob), "byteLength": idx.nbytes})
        self.blob.extend(idx.tobytes())
        self.doc["accessors"].append({"bufferView": len(self.doc["bufferViews"]) - 1, "count": 6, "type": "SCALAR",
                                      "componentType": USHORT})
        return len(self.doc["accessors"]) - 1

    def write(self, path):
        self.doc["buffers"] = [{"byteLength": len(self.blob),
                                "uri": "data:application/octet-stream;base64," + base64.b64encode(bytes(self.blob)).decode()}]
        path.write_text(json.dumps(self.doc))
        return path


def _d(x=0.0, y=0.0, z=0.0):
    return np.tile(np.array([x, y, z], np.float32), (4, 1))


def _face_and_body(d: _Doc) -> tuple[int, int]:
    face = d.mesh("face", 1.2, [_d(y=-0.1), _d(x=0.2), _d(z=0.3)], ["Blink", "A", "Smile"],
                  normals=[_d(z=0.5), _d(), _d()])
    body = d.mesh("body", 0.2, [_d(x=0.05)], ["Breathe"])
    return face, body


def test_vrm0_blendshape_master(tmp_path):
    d = _Doc()
    _face_and_body(d)
    d.doc["extensions"] = {"VRM": {"blendShapeMaster": {"blendShapeGroups": [
        {"name": "Blink", "presetName": "blink", "binds": [{"mesh": 0, "index": 0, "weight": 100}]},
        {"name": "A", "presetName": "a", "binds": [{"mesh": 0, "index": 1, "weight": 50}]},
        {"name": "Joy", "presetName": "joy", "binds": [{"mesh": 0, "index": 2, "weight": 100},
                                                       {"mesh": 1, "index": 0, "weight": 100}]},
        {"name": "Wink", "presetName": "unknown", "binds": [{"mesh": 0, "index": 0, "weight": 60},
                                                            {"mesh": 7, "index": 0, "weight": 100}]},
    ]}}}
    c = load_character(d.write(tmp_path / "vrm0.gltf"))
    m = c.mesh
    assert m.morph_names == ("face/Blink", "face/A", "face/Smile", "body/Breathe")
    assert m.morph_positions.shape == (4, 8, 3) and m.morph_normals.shape == (4, 8, 3)
    # VRM 0.x faces -Z and is turned 180 degrees about +Y: x and z deltas flip, y stays
    np.testing.assert_allclose(m.morph_positions[0, :4], _d(y=-0.1), atol=1e-7)
    np.testing.assert_allclose(m.morph_positions[1, :4], _d(x=-0.2), atol=1e-7)
    np.testing.assert_allclose(m.morph_normals[0, :4], _d(z=-0.5), atol=1e-7)
    np.testing.assert_array_equal(m.morph_positions[:3, 4:], 0)  # face targets do not touch the body
    np.testing.assert_allclose(m.morph_positions[3, 4:], _d(x=-0.05), atol=1e-7)
    assert set(c.expressions) == {"blink", "aa", "joy", "Wink"}
    np.testing.assert_allclose(c.expressions["aa"], [0, 0.5, 0, 0])
    np.testing.assert_allclose(c.expressions["joy"], [0, 0, 1, 1])
    np.testing.assert_allclose(c.expressions["Wink"], [0.6, 0, 0, 0])  # the bind to a missing mesh is skipped


def test_vrm1_expressions_preset_and_custom(tmp_path):
    d = _Doc()
    face, body = _face_and_body(d)
    d.doc["extensions"] = {"VRMC_vrm": {"specVersion": "1.0", "expressions": {
        "preset": {
            "happy": {"morphTargetBinds": [{"node": face, "index": 2, "weight": 1.0}]},
            "blinkLeft": {"morphTargetBinds": [{"node": face, "index": 0, "weight": 0.7}]},
            "aa": {"morphTargetBinds": [{"node": face, "index": 1, "weight": 1.0}]},
            "surprised": {"morphTargetBinds": []},
        },
        "custom": {"breath": {"morphTargetBinds": [{"node": body, "index": 0, "weight": 1.0},
                                                   {"node": 99, "index": 0, "weight": 1.0}]}},
    }}}
    c = load_character(d.write(tmp_path / "vrm1.gltf"))
    assert set(c.expressions) == {"joy", "blink_l", "aa", "surprised", "breath"}
    np.testing.assert_allclose(c.expressions["blink_l"], [0.7, 0, 0, 0])
    np.testing.assert_allclose(c.expressions["breath"], [0, 0, 0, 1])
    np.testing.assert_allclose(c.expressions["surprised"], 0)
    # VRM 1.0 faces +Z: deltas as given
    np.testing.assert_allclose(c.mesh.morph_positions[1, :4], _d(x=0.2), atol=1e-7)
    # by any spelling: happy -> joy, blinkLeft -> blink_l
    w = morph_weights(c, {"happy": 1.0, "blinkLeft": 1.0})
    np.testing.assert_allclose(w, [0.7, 0, 1, 0])


def test_plain_gltf_preset_named_targets_and_bad_target(tmp_path):
    d = _Doc()
    d.mesh("face", 1.2, [_d(y=-0.1), _d(x=0.2)], ["Blink", "A"])
    c = load_character(d.write(tmp_path / "plain.gltf"))
    assert c.mesh.morph_names == ("Blink", "A")  # one mesh with targets: no prefix
    assert set(c.expressions) == {"blink", "aa"}
    d.doc["accessors"][d.doc["meshes"][0]["primitives"][0]["targets"][1]["POSITION"]]["count"] = 3
    with pytest.raises(AssetError, match="morph target 1 POSITION"):
        load_character(d.write(tmp_path / "bad.gltf"))


def test_save_load_round_trip_keeps_morphs_and_expressions(tmp_path):
    c = generate(2)
    assert c.mesh.num_morphs == 8
    back = load_character(save_character(c, tmp_path / "c.glb"))
    assert back.mesh.morph_names == c.mesh.morph_names
    np.testing.assert_allclose(back.mesh.morph_positions, c.mesh.morph_positions, atol=1e-7)
    assert set(back.expressions) == set(c.expressions)
    for k in c.expressions:
        np.testing.assert_array_equal(back.expressions[k], c.expressions[k])


def test_procedural_presets_and_expressions_off():
    c = generate(0)
    assert {"blink", "blink_l", "blink_r", "aa", "ih", "ou", "ee", "oh", "joy"} <= set(c.expressions)
    assert set(c.expressions) <= set(PRESETS)
    plain = generate(0, expressions=False)
    assert plain.mesh.num_morphs == 0 and plain.expressions == {}
    n = plain.mesh.num_vertices  # the face parts are added last: every other vertex is unchanged
    np.testing.assert_array_equal(c.mesh.positions[:n], plain.mesh.positions)


def test_names_aliases_and_bad_input():
    c = generate(0)
    t = c.mesh.morph_names.index
    assert canonical_name("Blink_L") == "blink_l" and canonical_name("A") == "aa" and canonical_name("happy") == "joy"
    w = morph_weights(c, {"Blink": 0.5, "A": 2.0, "oh": -1})  # clipped to 0..1
    assert w[t("blink_l")] == w[t("blink_r")] == 0.5 and w[t("aa")] == 1.0 and w[t("oh")] == 0.0
    # a morph's sum is clipped too
    assert morph_weights(c, {"blink": 1, "blink_l": 1})[t("blink_l")] == 1.0
    # raw morph target names work as well
    assert morph_weights(c, {"ee": 0.25})[t("ee")] == 0.25
    with pytest.raises(InputError, match=r"no expression 'smirk'; valid: aa, blink.*joy"):
        morph_weights(c, {"smirk": 1})
    with pytest.raises(InputError, match="finite number"):
        morph_weights(c, {"blink": float("nan")})
    with pytest.raises(InputError, match="finite number"):
        morph_weights(c, {"blink": "lots"})
    assert unknown_names(c, ["Blink", "smirk", "A"]) == ["smirk"]
    plain = generate(0, expressions=False)
    with pytest.raises(InputError, match="none"):
        morph_weights(plain, {"blink": 1})
    assert morph_weights(plain, {}) is None
    pose = with_expressions(rest_pose(c), c, {"aa": 1})
    assert pose.morph_weights[t("aa")] == 1 and pose.morph_weights.sum() == 1


def test_vmc_blends_skip_unknown_and_non_finite():
    c = generate(0)
    t = c.mesh.morph_names.index
    w = vmc_morph_weights(c, {"Blink_R": 1.0, "A": 0.4, "Fcl_ALL_Angry": 1.0, "O": float("nan"), "E": 7.0})
    assert w[t("blink_r")] == 1 and w[t("blink_l")] == 0
    assert w[t("aa")] == pytest.approx(0.4) and w[t("oh")] == 0 and w[t("ee")] == 1


def test_blink_idle_intervals_and_shape():
    idle = BlinkIdle(seed=3)
    fps = 60.0
    w = np.array([idle.weight(k / fps) for k in range(int(120 * fps))])
    closed = w > 0
    starts = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
    gaps = np.diff(starts) / fps
    assert len(starts) >= 15  # 120 s / (2..6 s)
    assert gaps.min() >= 2.0 and gaps.max() <= 6.0 + 0.15 + 2 / fps
    lengths = [np.flatnonzero(~closed[s:])[0] for s in starts[:-1]]
    assert max(lengths) / fps <= 0.15 + 1 / fps and w.max() == 1.0
    with pytest.raises(InputError):
        BlinkIdle(interval=(3, 1))


def test_expression_state_idle_yields_to_given_blink():
    c = generate(0)
    t = c.mesh.morph_names.index
    s = ExpressionState(c)
    assert s.idle is not None  # on by default: the character has a blink
    times = np.arange(0, 20, 1 / 60)
    blinks = [s.morph_weights(x)[t("blink_l")] for x in times]
    assert max(blinks) == 1.0
    s.set({"blink": 0.0})  # the API's blink wins over the idle
    assert all(s.morph_weights(x)[t("blink_l")] == 0 for x in times + 20)
    with pytest.raises(InputError, match="valid"):
        s.set({"wink": 1})
    assert ExpressionState(generate(0, expressions=False)).idle is None
    # a VMC sender that sends blink (even 0: eyes open) drives the lids; one without blink does not
    s = ExpressionState(c)
    s.set_vmc({"Blink": 0.0, "A": 0.3})
    assert all(s.morph_weights(x)[t("blink_l")] == 0 for x in times)
    assert s.morph_weights(0)[t("aa")] == pytest.approx(0.3)
    s.set_vmc({"A": 0.3})
    assert max(s.morph_weights(x)[t("blink_l")] for x in times + 40) == 1.0


def test_sparse_morph_accessor(tmp_path):
    """VRM exporters often store targets sparse: only the moved vertices."""
    d = _Doc()
    d.mesh("face", 1.2, [_d()], ["Blink"])
    target = d.doc["meshes"][0]["primitives"][0]["targets"][0]
    idx = np.array([2, 3], np.uint16)
    vals = np.array([[0, -0.1, 0], [0, -0.2, 0]], np.float32)
    views = []
    for arr in (idx, vals):
        while len(d.blob) % 4:
            d.blob.append(0)
        d.doc["bufferViews"].append({"buffer": 0, "byteOffset": len(d.blob), "byteLength": arr.nbytes})
        d.blob.extend(arr.tobytes())
        views.append(len(d.doc["bufferViews"]) - 1)
    d.doc["accessors"].append({"componentType": FLOAT, "count": 4, "type": "VEC3", "min": [0, -0.2, 0], "max": [0, 0, 0],
                               "sparse": {"count": 2, "indices": {"bufferView": views[0], "componentType": USHORT},
                                          "values": {"bufferView": views[1]}}})
    target["POSITION"] = len(d.doc["accessors"]) - 1
    c = load_character(d.write(tmp_path / "sparse.gltf"))
    np.testing.assert_allclose(c.mesh.morph_positions[0, :, 1], [0, 0, -0.1, -0.2], atol=1e-7)
    assert set(c.expressions) == {"blink"}
