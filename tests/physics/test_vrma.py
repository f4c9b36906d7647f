"""VRM animations (.vrma) as a motion source: a procedural clip written as a VRMA
whose nodes have their own rest orientations plays back as the same poses."""
from __future__ import annotations

import numpy as np
import pygltflib
import pytest

from conrt.errors import AssetError
from conrt.physics.clips import Animator, get_clip
from conrt.physics.motion import resolve_motion
from conrt.physics.transforms import axis_angle, matrix_to_quat, quat_to_matrix


def write_vrma(character, clip, path, seed=0):
    """``clip`` over ``character``'s humanoid bones as a VRMA: one node per bone with a
    random rest orientation R (local rest = R_parent^T [R, offset]), rotation keys
    R_parent^T Q R (so parentWorldRest L worldRest^T = Q), hips translation keys."""
    rng = np.random.default_rng(seed)
    sk, hum = character.skeleton, character.humanoid
    bones = sorted(hum, key=lambda b: hum[b])
    index = {b: k for k, b in enumerate(bones)}
    parent = {}
    for b in bones:
        p = sk.parents[hum[b]]
        while p >= 0 and p not in hum.values():
            p = sk.parents[p]
        parent[b] = next((x for x in bones if hum[x] == p), None)
    turn = {b: axis_angle(rng.normal(size=3), rng.uniform(-np.pi, np.pi)) for b in bones}
    pos = sk.rest_world[:, :3, 3].astype(np.float64)
    blob = bytearray()
    views, accessors = [], []

    def add(arr, typ):
        arr = np.ascontiguousarray(arr, np.float32)
        views.append(pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=arr.nbytes))
        blob.extend(arr.tobytes())
        accessors.append(pygltflib.Accessor(bufferView=len(views) - 1, componentType=pygltflib.FLOAT,
                                            count=len(arr), type=typ,
                                            min=[float(arr.min())] if typ == "SCALAR" else None,
                                            max=[float(arr.max())] if typ == "SCALAR" else None))
        return len(accessors) - 1

    nodes = []
    for b in bones:
        rp = turn[parent[b]] if parent[b] else np.eye(3)
        off = pos[hum[b]] - (pos[hum[parent[b]]] if parent[b] else 0)
        nodes.append(pygltflib.Node(name=b, translation=[float(v) for v in rp.T @ off],
                                    rotation=[float(v) for v in matrix_to_quat(rp.T @ turn[b])],
                                    children=[index[c] for c in bones if parent[c] == b]))
    times = np.arange(clip.num_frames) / clip.fps
    t_acc = add(times, "SCALAR")
    samplers, channels = [], []
    col = {b: c for c, b in enumerate(clip.joints)}
    for b in bones:
        if b not in col:
            continue
        rp = turn[parent[b]] if parent[b] else np.eye(3)
        keys = np.einsum("ba,fbc,cd->fad", rp, quat_to_matrix(clip.rotations[:, col[b]]), turn[b])
        samplers.append(pygltflib.AnimationSampler(input=t_acc, output=add(matrix_to_quat(keys), "VEC4")))
        channels.append(pygltflib.AnimationChannel(sampler=len(samplers) - 1,
                                                    target=pygltflib.AnimationChannelTarget(node=index[b],
                                                                                            path="rotation")))
    hips_t = pos[hum["hips"]] + clip.root_offset  # the hips node is a root: its translation is world
    samplers.append(pygltflib.AnimationSampler(input=t_acc, output=add(hips_t, "VEC3")))
    channels.append(pygltflib.AnimationChannel(sampler=len(samplers) - 1, target=pygltflib.AnimationChannelTarget(
        node=index["hips"], path="translation")))
    g = pygltflib.GLTF2(asset=pygltflib.Asset(version="2.0"), scene=0, scenes=[pygltflib.Scene(nodes=[0])],
                        nodes=nodes, accessors=accessors, bufferViews=views,
                        buffers=[pygltflib.Buffer(byteLength=len(blob))],
                        animations=[pygltflib.Animation(samplers=samplers, channels=channels)],
                        extensionsUsed=["VRMC_vrm_animation"],
                        extensions={"VRMC_vrm_animation": {"specVersion": "1.0", "humanoid": {
                            "humanBones": {b: {"node": index[b]} for b in bones}}}})
    g.set_binary_blob(bytes(blob))
    g.save_binary(str(path))
    return path


@pytest.mark.parametrize("name", ["dance", "wave"])
def test_vrma_plays_the_same_poses(tmp_path, girl, name):
    clip = get_clip(name, girl)
    path = write_vrma(girl, clip, tmp_path / f"{name}.vrma")
    back = resolve_motion(str(path), girl)
    a, b = Animator(girl, clip), Animator(girl, back)
    for t in np.linspace(0, clip.duration * 0.99, 9):
        np.testing.assert_allclose(b.pose(t).joint_world, a.pose(t).joint_world, atol=2e-4)


def test_a_gltf_without_the_extension_is_not_a_vrma(tmp_path, assets_dir, girl):
    fake = tmp_path / "fox.vrma"
    fake.write_bytes((assets_dir / "gltf" / "Fox.glb").read_bytes())
    with pytest.raises(AssetError, match="not a VRM animation"):
        resolve_motion(str(fake), girl)
