import numpy as np
import pytest

from conrt.errors import AssetError
from conrt.physics.clips import Animator
from conrt.physics.gltf_anim import list_gltf_animations, load_gltf_clip
from conrt.physics.transforms import quat_to_matrix

from .helpers import gltf_skeleton, load_gltf


def _keyed_rotation(path, anim_index, node_name):
    """The first two keys of a node's rotation channel, read independently with pygltflib."""
    g = load_gltf(path)
    names = [n.name for n in g.nodes]
    anim = g.animations[anim_index]
    for ch in anim.channels:
        if ch.target.path == "rotation" and names[ch.target.node] == node_name:
            s = anim.samplers[ch.sampler]
            def read(i, n):
                acc = g.accessors[i]
                view = g.bufferViews[acc.bufferView]
                off = (view.byteOffset or 0) + (acc.byteOffset or 0)
                return np.frombuffer(g.binary_blob(), np.float32, acc.count * n, off).reshape(acc.count, n)
            return read(s.input, 1)[:, 0], read(s.output, 4)
    raise KeyError(node_name)


def test_fox_animations_are_listed(assets_dir):
    assert set(list_gltf_animations(assets_dir / "gltf/Fox.glb")) == {"Survey", "Walk", "Run"}


@pytest.mark.parametrize("anim", ["Walk", "Run"])
def test_gltf_clip_reproduces_the_keyed_local_rotations(assets_dir, anim):
    path = assets_dir / "gltf/Fox.glb"
    sk = gltf_skeleton(path)
    clip = load_gltf_clip(path, sk, anim)
    index = list_gltf_animations(path).index(anim)
    joint = "b_Spine02_03"
    times, quats = _keyed_rotation(path, index, joint)
    j = sk.names.index(joint)
    col = clip.joints.index(joint)
    rw = sk.rest_world[j, :3, :3].astype(np.float64)
    for k in (0, len(times) // 2, len(times) - 1):
        q, _ = clip.sample(float(times[k]))
        # rest-aligned Q back to the absolute local rotation L = restLocal @ Rw^T Q Rw
        local = sk.rest_local[j, :3, :3] @ (rw.T @ quat_to_matrix(q[col]) @ rw)
        np.testing.assert_allclose(local, quat_to_matrix(quats[k].astype(np.float64)), atol=2e-3)


def test_unknown_animation_lists_the_valid_ones(assets_dir):
    path = assets_dir / "gltf/Fox.glb"
    with pytest.raises(AssetError, match="no animation 'Dance'.*Walk"):
        load_gltf_clip(path, gltf_skeleton(path), "Dance")


def test_animation_of_other_nodes_is_an_error(assets_dir):
    path = assets_dir / "gltf/Fox.glb"
    other = gltf_skeleton(assets_dir / "gltf/RiggedSimple.glb")
    with pytest.raises(AssetError, match="animates none of the skeleton joints"):
        load_gltf_clip(path, other, 0)


def test_broken_file_is_an_asset_error(tmp_path, assets_dir):
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"glTF\x02\x00\x00\x00garbage")
    with pytest.raises(AssetError, match="bad.glb"):
        load_gltf_clip(bad, gltf_skeleton(assets_dir / "gltf/RiggedSimple.glb"))


def test_gltf_clip_drives_a_loaded_character_through_the_world(assets_dir):
    loader = pytest.importorskip("conrt.characters.gltf_io")
    from conrt.physics.clips import Animator
    from conrt.physics.world import PhysicsWorld

    path = assets_dir / "gltf/Fox.glb"
    fox = loader.load_character(path)
    clip = load_gltf_clip(path, fox.skeleton, "Run")
    with PhysicsWorld() as world:
        h = world.add(fox, clip)
        for _ in range(20):
            pose = world.step()[h]
    pose.validate(fox.skeleton.num_joints)
    np.testing.assert_allclose(pose.joint_world, Animator(fox, clip).pose(20 / 60).joint_world, atol=1e-4)
    assert np.abs(pose.joint_world - Animator(fox, clip).pose(0.0).joint_world).max() > 1.0  # it moved



def _node_error(path, anim_name, character, clip, times):
    """Largest distance (in units of the character's height) between our posed
    joints and the file's own node tree at ``times``; the file's scene is put
    into character space by the root joint's rest frame."""
    from .helpers import evaluate_nodes

    anim = Animator(character, clip)
    sk = character.skeleton
    root = int(np.flatnonzero(sk.parents < 0)[0])
    to_ours = sk.rest_world[root].astype(np.float64) @ np.linalg.inv(evaluate_nodes(path, None, 0.0)[sk.names[root]])
    worst = 0.0
    for t in times:
        file = evaluate_nodes(path, anim_name, t)
        ours = anim.pose(t).joint_world
        for j, name in enumerate(sk.names):
            worst = max(worst, float(np.linalg.norm((to_ours @ file[name])[:3, 3] - ours[j, :3, 3])))
    return worst / character.height


@pytest.mark.parametrize("name, anim_name", [("RobotExpressive.glb", "Walking"), ("RobotExpressive.glb", "Wave"),
                                             ("Fox.glb", "Walk")])
def test_gltf_animation_matches_the_file_node_tree(assets_dir, name, anim_name):
    """RobotExpressive hangs its skeleton under a Z-up armature node scaled x100 and its
    node pose is not its bind pose; every joint must still be where the file puts it."""
    from conrt.characters.gltf_io import load_character

    path = assets_dir / "gltf" / name
    character = load_character(path)
    clip = load_gltf_clip(path, character.skeleton, anim_name, character=character)
    err = _node_error(path, anim_name, character, clip, np.linspace(0, clip.duration, 9))
    assert err < 1e-4, f"joints off by {err:.3g} x the height"


def test_z_up_armature_node_plays_upright(assets_dir, tmp_path):
    """A constructed Z-up armature (x0.01) above the root joint, whose keys live in that
    frame, plays exactly like the original file."""
    from conrt.characters.gltf_io import load_character

    from .helpers import z_up_armature

    src = assets_dir / "gltf" / "RiggedSimple.glb"
    zup = z_up_armature(src, tmp_path / "zup.glb")
    a, b = load_character(src), load_character(zup)
    np.testing.assert_allclose(b.mesh.positions, a.mesh.positions, atol=1e-4 * a.height)
    anim = list_gltf_animations(src)[0]
    ca = load_gltf_clip(src, a.skeleton, anim, character=a)
    cb = load_gltf_clip(zup, b.skeleton, anim, character=b)
    pa, pb = Animator(a, ca), Animator(b, cb)
    for t in np.linspace(0, ca.duration, 7):
        wa, wb = pa.pose(t).joint_world[:, :3, 3], pb.pose(t).joint_world[:, :3, 3]
        np.testing.assert_allclose(wb, wa, atol=1e-3 * a.height)
        span = np.ptp(b.skeleton.rest_world[:, 1, 3])
        assert wb[:, 1].max() - wb[0, 1] > 0.5 * span  # standing up (it bends), not lying on its back
    assert _node_error(zup, anim, b, cb, np.linspace(0, cb.duration, 5)) < 1e-4
