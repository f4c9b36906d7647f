import numpy as np
import pygltflib
import pytest

from conrt.errors import AssetError
from conrt.physics.gltf_anim import list_gltf_animations, load_gltf_clip
from conrt.physics.transforms import quat_to_matrix

from .helpers import gltf_skeleton


def _keyed_rotation(path, anim_index, node_name):
    """The first two keys of a node's rotation channel, read independently with pygltflib."""
    g = pygltflib.GLTF2().load(str(path))
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
