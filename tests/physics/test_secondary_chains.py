"""VRoid-style secondary chains (J_Sec_*) without the VRM extension are found by
name and simulated as hair; VRM 0.x / 1.0 spring parameters reach the chains
(issue #17 item 2)."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from conrt.characters.gltf_io import load_character, save_character
from conrt.physics.hair import HairParams
from conrt.physics.world import PhysicsWorld


def _vroid_copy(character, path, extensions=None):
    """``character`` as a plain glTF export with VRoid joint names: J_Bip_C_/L_/R_ for the
    humanoid bones, J_Sec_Hair<k>_<i> for the hair strands, no conrt extras."""
    save_character(character, path)
    raw = path.read_bytes()
    jlen = struct.unpack_from("<I", raw, 12)[0]
    doc = json.loads(raw[20:20 + jlen].decode().rstrip(" \0"))
    rest = raw[20 + jlen:]
    doc.pop("extras", None)
    inv = {j: h for h, j in character.humanoid.items()}
    strands = [r for r in character.regions if r.kind == "hair"]
    names = {}
    for k, r in enumerate(strands):
        for i, j in enumerate(r.chain):
            names[int(j)] = f"J_Sec_Hair{k + 1}_{i + 1:02d}"
    for j, node in enumerate(doc["nodes"][:character.skeleton.num_joints]):
        h = inv.get(j)
        if h is not None:
            side = "L" if h.startswith("left") else "R" if h.startswith("right") else "C"
            base = h[4:] if side == "L" else h[5:] if side == "R" else h
            node["name"] = f"J_Bip_{side}_{base[0].upper() + base[1:]}"
        elif j in names:
            node["name"] = names[j]
    if extensions:
        doc["extensions"] = extensions(doc)
    jb = json.dumps(doc).encode()
    jb += b" " * (-len(jb) % 4)
    body = struct.pack("<II", len(jb), 0x4E4F534A) + jb + rest
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return path, strands


def test_j_sec_chains_are_found_by_name_and_swing(tmp_path, girl):
    path, strands = _vroid_copy(girl, tmp_path / "vroid.glb")
    c = load_character(path)
    assert c.humanoid["hips"] == girl.humanoid["hips"] and len(c.humanoid) >= 20  # J_Bip_* recognised
    chains = sorted(tuple(c.skeleton.names[j] for j in r.chain) for r in c.regions if r.kind == "hair")
    assert len(chains) == len(strands) and all(len(ch) == len(s.chain) for ch, s in zip(chains, strands))
    assert all(all(n.startswith("J_Sec_") for n in ch) for ch in chains)
    with PhysicsWorld(fps=30) as world:
        h = world.add(c, "run")
        assert len(world.actors[h].hairs) == len(strands)
        from conrt.physics.clips import Animator, get_clip

        skinned = Animator(c, get_clip("run", c))
        for _ in range(20):
            pose = world.step()[h]
        tip = [int(r.chain[-1]) for r in c.regions]
        lag = np.linalg.norm(pose.joint_world[tip, :3, 3] - skinned.pose(world.time(h)).joint_world[tip, :3, 3], axis=1)
        assert lag.max() > 0.01  # simulated, not carried rigidly by the head


def test_vrm0_spring_parameters_reach_the_chains(tmp_path, girl):
    def vrm(doc):
        index = {n.get("name"): i for i, n in enumerate(doc["nodes"])}
        return {"VRM": {"secondaryAnimation": {"boneGroups": [
            {"bones": [index["J_Sec_Hair1_01"]], "stiffiness": 3.0, "dragForce": 0.8, "hitRadius": 0.04,
             "gravityPower": 0.2},
            {"bones": [index["J_Sec_Hair2_01"]]}], "colliderGroups": []}}}

    path, _ = _vroid_copy(girl, tmp_path / "vrm0.glb", vrm)
    c = load_character(path)
    assert [c.skeleton.names[int(r.chain[0])] for r in c.regions] == ["J_Sec_Hair1_01", "J_Sec_Hair2_01"]
    assert c.meta["spring_params"] == {"spring_0": {"stiffness": 3.0, "drag": 0.8, "hit_radius": 0.04,
                                                    "gravity_power": 0.2}}
    base = HairParams()
    with PhysicsWorld(fps=30, hair=base) as world:
        h = world.add(c, "idle")
        tuned, plain = world.actors[h].hairs
    assert tuned.params.stiffness == pytest.approx(3 * base.stiffness)
    assert tuned.params.damping == pytest.approx(2 * base.damping)
    assert tuned._radius == pytest.approx(np.full(len(tuned.chain), 0.04))
    assert plain.params == base


def test_vrm1_spring_joint_parameters_are_averaged_per_chain(tmp_path, girl):
    def vrm1(doc):
        index = {n.get("name"): i for i, n in enumerate(doc["nodes"])}
        joints = [{"node": index[f"J_Sec_Hair3_{i:02d}"], "stiffness": 0.5 + i * 0.1, "dragForce": 0.2}
                  for i in range(1, 7)]
        return {"VRMC_springBone": {"springs": [{"joints": joints}]}}

    path, _ = _vroid_copy(girl, tmp_path / "vrm1.glb", vrm1)
    c = load_character(path)
    assert len(c.regions) == 1
    assert c.meta["spring_params"]["spring_0"] == pytest.approx({"stiffness": 0.85, "drag": 0.2})


def test_unrecognised_rig_names_the_expected_names_and_takes_a_name_map(tmp_path, girl):
    """A humanoid whose joint names no convention covers: clips say what was expected,
    and a name map (the CLI's --name-map) makes it playable."""
    from conrt.errors import InputError
    from conrt.physics.clips import Animator, get_clip

    def odd(doc):
        for k, node in enumerate(doc["nodes"][:girl.skeleton.num_joints]):
            node["name"] = f"node{k:03d}"
        return {}

    path, _ = _vroid_copy(girl, tmp_path / "odd.glb", odd)
    c = load_character(path)
    assert not c.humanoid
    with pytest.raises(InputError, match=r"expected names like .*LeftUpLeg.*--name-map"):
        Animator(c, get_clip("walk", c))
    names = {f"node{j:03d}": h for h, j in girl.humanoid.items()}
    mapped = load_character(path, name_map=names)
    assert mapped.humanoid == girl.humanoid
    pose = Animator(mapped, get_clip("walk", mapped)).pose(0.4)
    ref = Animator(girl, get_clip("walk", girl)).pose(0.4)
    np.testing.assert_allclose(pose.joint_world[:, :3, 3], ref.joint_world[:, :3, 3], atol=1e-4)
