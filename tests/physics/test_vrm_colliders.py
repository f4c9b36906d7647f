"""VRM spring-bone colliders and gravity reach the hair chains (issue #17 item 2):
a collider sphere on the head keeps the chain that lists it out; gravity power
sets how far a chain sags; bad collider data is a named error."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.characters.gltf_io import load_character
from conrt.errors import AssetError
from conrt.physics.world import PhysicsWorld

from .test_secondary_chains import _vroid_copy

FRAMES, SETTLE, HIT = 40, 10, 0.01
SUBSTEPS = 8  # 240 Hz: a swinging tip moves less than a collider's radius per substep (no tunnelling)


def _vrm0(group=None, colliders=()):
    """VRM 0.x extension: one bone group on J_Sec_Hair1_01 (``group`` overrides its
    fields), collider groups on the head with ``colliders`` [(offset xyz, radius)]."""
    def ext(doc):
        index = {n.get("name"): i for i, n in enumerate(doc["nodes"])}
        head = index["J_Bip_C_Head"]
        unity = [{"offset": {"x": float(o[0]), "y": float(o[1]), "z": -float(o[2])}, "radius": r}  # z reversed
                 for o, r in colliders]
        cgroups = [{"node": head, "colliders": unity}] if colliders else []
        g = {"bones": [index["J_Sec_Hair1_01"]], "stiffiness": 0.5, "dragForce": 0.4, "hitRadius": HIT,
             "colliderGroups": [0] if colliders else []}
        g.update(group or {})
        return {"VRM": {"secondaryAnimation": {"boneGroups": [g], "colliderGroups": cgroups}}}
    return ext


def _vrm1(colliders=()):
    def ext(doc):
        index = {n.get("name"): i for i, n in enumerate(doc["nodes"])}
        head = index["J_Bip_C_Head"]
        joints = [{"node": index[f"J_Sec_Hair1_{i:02d}"], "stiffness": 0.5, "dragForce": 0.4, "hitRadius": HIT}
                  for i in range(1, 7)]
        shapes = [{"node": head, "shape": {"sphere": {"offset": [float(x) for x in o], "radius": r}}}
                  for o, r in colliders]
        spring = {"joints": joints, "colliderGroups": [0] if colliders else []}
        return {"VRMC_springBone": {"colliders": shapes,
                                    "colliderGroups": [{"colliders": list(range(len(shapes)))}] if shapes else [],
                                    "springs": [spring]}}
    return ext


def _swing(path, clip="walk"):
    """Chain joint positions in the anchor's frame, [frames, C, 3], and the region."""
    c = load_character(path)
    (r,) = c.regions
    out = []
    with PhysicsWorld(fps=30, substeps=SUBSTEPS) as world:
        h = world.add(c, clip)
        for _ in range(FRAMES):
            w = world.step()[h].joint_world
            inv = np.linalg.inv(w[r.anchor_joint])
            out.append((inv[:3, :3] @ w[r.chain, :3, 3].T).T + inv[:3, 3])
    return np.array(out), r, c


def _segment_distance(pts, centre):
    """[F] smallest distance from ``centre`` to the chain polyline in each frame."""
    a, b = pts[:, :-1], pts[:, 1:]
    ab = b - a
    t = np.clip(((centre - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(a + t[..., None] * ab - centre, axis=-1).min(-1)


@pytest.mark.parametrize("make", [_vrm0, _vrm1], ids=["vrm0", "vrm1"])
def test_collider_sphere_keeps_its_chain_out(tmp_path, girl, make):
    free, r, c = _swing(_vroid_copy(girl, tmp_path / "free.glb", make())[0])
    rest = free[0]
    # the swept point farthest from where the chain starts: a sphere there does not touch the start
    # (after the first SETTLE frames: the chain's jolt from its rest shape into the clip is no swing)
    away = np.array([[np.linalg.norm(rest - q, axis=1).min() for q in f] for f in free])
    away[:SETTLE] = 0
    f, k = np.unravel_index(np.argmax(away), away.shape)
    centre = free[f, k].astype(float)
    radius = float(min(0.04, 0.5 * (away[f, k] - HIT)))
    assert radius > 0.01, f"the chain barely swings ({away.max():.3f} m): no room for a collider"
    path = _vroid_copy(girl, tmp_path / "col.glb", make(colliders=[(centre, radius)]))[0]
    (col,) = load_character(path).meta["spring_params"]["spring_0"]["colliders"]
    assert col["joint"] == r.anchor_joint and col["radius"] == pytest.approx(radius)
    np.testing.assert_allclose(col["offset"], centre, atol=1e-5)
    held, _, _ = _swing(path)
    assert _segment_distance(free, centre).min() < 0.25 * radius  # without it: through the sphere
    assert _segment_distance(held, centre).min() >= radius - 0.005  # with it: outside


def test_gravity_power_sets_the_sag(tmp_path, girl):
    sag = {}
    for power in (0.0, 1.0):
        path = _vroid_copy(girl, tmp_path / f"g{power}.glb", _vrm0({"gravityPower": power,
                                                                   "gravityDir": {"x": 0, "y": -1, "z": 0}}))[0]
        c = load_character(path)
        assert c.meta["spring_params"]["spring_0"]["gravity_dir"] == pytest.approx([0, -1, 0])
        pts, r, _ = _swing(path, "idle")
        sag[power] = float(pts[0, -1, 1] - pts[-1, -1, 1])  # tip drop in the head frame over the clip
    assert sag[0.0] < 0.005 < 0.02 < sag[1.0], sag  # no gravity: the spring holds the rest shape


@pytest.mark.parametrize("bad, match", [
    ({"radius": -0.1}, r"radius -0\.1 must be a number >= 0"),
    ({"node": 9999}, r"node 9999 is not a node index"),
])
def test_bad_collider_is_a_named_error(tmp_path, girl, bad, match):
    def ext(doc):
        index = {n.get("name"): i for i, n in enumerate(doc["nodes"])}
        col = {"offset": {"x": 0, "y": 0, "z": 0}, "radius": 0.05}
        grp = {"node": index["J_Bip_C_Head"], "colliders": [col]}
        (col if "radius" in bad else grp).update(bad)
        return {"VRM": {"secondaryAnimation": {"boneGroups": [{"bones": [index["J_Sec_Hair1_01"]],
                                                               "colliderGroups": [0]}],
                                               "colliderGroups": [grp]}}}
    path = _vroid_copy(girl, tmp_path / "bad.glb", ext)[0]
    with pytest.raises(AssetError, match=rf"bad\.glb.*{match}"):
        load_character(path)


def test_collider_touches_only_the_chains_that_list_it(tmp_path, girl):
    """Two chains; the sphere sits on the second one's swing, but only the first lists its group."""
    def ext(sphere=None):
        def make(doc):
            index = {n.get("name"): i for i, n in enumerate(doc["nodes"])}
            groups = [{"bones": [index[f"J_Sec_Hair{k}_01"]], "stiffiness": 0.5, "dragForce": 0.4, "hitRadius": HIT,
                       "colliderGroups": [0] if sphere and k == 1 else []} for k in (1, 2)]
            cg = [] if sphere is None else [{"node": sphere[0], "colliders": [
                {"offset": {"x": sphere[1][0], "y": sphere[1][1], "z": -sphere[1][2]}, "radius": sphere[2]}]}]
            return {"VRM": {"secondaryAnimation": {"boneGroups": groups, "colliderGroups": cg}}}
        return make

    def swing(path):
        c = load_character(path)
        out = []
        with PhysicsWorld(fps=30, substeps=SUBSTEPS) as world:
            h = world.add(c, "walk")
            for _ in range(FRAMES):
                w = world.step()[h].joint_world
                r = c.regions[1]
                inv = np.linalg.inv(w[r.anchor_joint])
                out.append((inv[:3, :3] @ w[r.chain, :3, 3].T).T + inv[:3, 3])
        return np.array(out), c.regions[1]

    free, r = swing(_vroid_copy(girl, tmp_path / "free.glb", ext())[0])
    away = np.array([[np.linalg.norm(free[0] - q, axis=1).min() for q in f] for f in free])
    away[:SETTLE] = 0
    f, k = np.unravel_index(np.argmax(away), away.shape)
    centre, radius = [float(x) for x in free[f, k]], float(min(0.04, 0.5 * (away[f, k] - HIT)))
    assert radius > 0.01
    path = _vroid_copy(girl, tmp_path / "held.glb", ext((r.anchor_joint, centre, radius)))[0]
    spring = load_character(path).meta["spring_params"]
    assert spring["spring_0"]["colliders"][0]["joint"] == r.anchor_joint and "colliders" not in spring["spring_1"]
    held, _ = swing(path)
    assert _segment_distance(held, np.array(centre)).min() < 0.25 * radius  # not stopped: it does not list it
    np.testing.assert_allclose(held, free, atol=1e-5)


def test_vrm1_capsule_collider_rides_on_its_joint(tmp_path, girl):
    import pybullet as p

    a, b, radius = [0.0, 0.05, 0.1], [0.0, 0.05, -0.1], 0.03

    def ext(doc):
        index = {n.get("name"): i for i, n in enumerate(doc["nodes"])}
        joints = [{"node": index[f"J_Sec_Hair1_{i:02d}"]} for i in range(1, 7)]
        cap = {"node": index["J_Bip_C_Head"], "shape": {"capsule": {"offset": a, "radius": radius, "tail": b}}}
        return {"VRMC_springBone": {"colliders": [cap], "colliderGroups": [{"colliders": [0]}],
                                    "springs": [{"joints": joints, "colliderGroups": [0]}]}}

    c = load_character(_vroid_copy(girl, tmp_path / "cap.glb", ext)[0])
    (col,) = c.meta["spring_params"]["spring_0"]["colliders"]
    assert col == {"joint": c.humanoid["head"], "offset": a, "radius": radius, "tail": b}
    with PhysicsWorld(fps=30, substeps=SUBSTEPS) as world:
        h = world.add(c, "walk")
        world.step()
        (body, joint, _, _), = world.actors[h].hairs[0]._colliders
        head = world.actors[h].body.link_world(joint)  # kinematic body: the frame's target
        lo, hi = (np.array(v) for v in p.getAABB(body, physicsClientId=world.client))
        ends = np.array([(head @ [*v, 1.0])[:3] for v in (a, b)])
        np.testing.assert_allclose(lo, ends.min(0) - radius, atol=0.02)
        np.testing.assert_allclose(hi, ends.max(0) + radius, atol=0.02)
