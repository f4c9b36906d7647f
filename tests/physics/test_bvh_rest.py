"""BVH retargeting does not depend on the file's rest pose (issue #17 item 3).

The CMU fixture is rewritten with every joint frame turned (like exporters
that keep per-joint rest orientations: each bone along +X of its parent's
frame, all joints with 6 channels) and the channels compensated, so the motion
is the same but the rest pose (all channels zero) is a tangle. Both files must
retarget to the same joint positions; Biovision/MotionBuilder names must map.
"""
from __future__ import annotations

import numpy as np
import pytest

from conrt.errors import AssetError
from conrt.physics.bvh import Bvh, BvhJoint, bvh_to_clip, humanoid_map, load_bvh, parse_bvh, write_bvh
from conrt.physics.clips import Animator
from conrt.physics.transforms import axis_angle, euler, matrix_to_euler, rotation_between

CMU = "bvh/cmu_npybvh_example.bvh"


def rotated_rest(bvh: Bvh, seed: int = 0) -> Bvh:
    """The same motion with joint k's frame turned by R_k: offsets R_parent^T o,
    End Sites R_k^T e, local rotations R_parent^T L R_k, 6 channels everywhere."""
    rng = np.random.default_rng(seed)
    n = len(bvh.joints)
    first_child = {}
    for k, j in enumerate(bvh.joints):
        if j.parent >= 0 and j.parent not in first_child and np.linalg.norm(j.offset) > 1e-9:
            first_child[j.parent] = j.offset
    turn = []
    for k, j in enumerate(bvh.joints):
        d = first_child.get(k, j.end_site)
        twist = axis_angle((1, 0, 0), rng.uniform(-np.pi, np.pi))
        if d is not None and np.linalg.norm(d) > 1e-9:
            turn.append(rotation_between((1, 0, 0), d) @ twist)  # this bone lies along +X in the new frame
        else:
            turn.append(axis_angle(rng.normal(size=3), rng.uniform(-np.pi, np.pi)))
    rot, trans = bvh.local_transforms()
    cols, joints = [], []
    for k, j in enumerate(bvh.joints):
        rp = turn[j.parent] if j.parent >= 0 else np.eye(3)
        local = np.swapaxes(rp, 0, 1) @ rot[:, k] @ turn[k]
        pos = trans[:, k] @ rp  # R_parent^T t (root: rp = I)
        order = "ZXY"
        chans = ("Xposition", "Yposition", "Zposition") + tuple(f"{a}rotation" for a in order)
        end = None if j.end_site is None else turn[k].T @ j.end_site
        joints.append(BvhJoint(j.name, j.parent, pos[0], chans, end))
        cols += [pos, matrix_to_euler(local, order)]
    return Bvh(joints=tuple(joints), frame_time=bvh.frame_time, motion=np.concatenate(cols, 1), source="turned.bvh")


def test_the_constructed_file_is_the_same_motion_with_another_rest_pose(assets_dir, tmp_path):
    bvh = load_bvh(assets_dir / CMU)
    path = tmp_path / "turned.bvh"
    write_bvh(rotated_rest(bvh), path)
    turned = load_bvh(path)
    np.testing.assert_allclose(turned.world_transforms()[1], bvh.world_transforms()[1], atol=1e-3)  # file units
    # ... but its rest pose is not a T-pose: the legs do not point down any more
    rest = turned.rest_positions()
    k = turned.names.index
    leg = rest[k("LeftFoot")] - rest[k("LeftUpLeg")]
    assert leg[1] > -0.7 * np.linalg.norm(leg)


@pytest.mark.parametrize("who", ["girl", "stick"])
def test_non_t_pose_rest_retargets_to_the_same_joint_positions(assets_dir, tmp_path, request, who):
    character = request.getfixturevalue(who)
    bvh = load_bvh(assets_dir / CMU)
    path = tmp_path / "turned.bvh"
    write_bvh(rotated_rest(bvh, seed=3), path)
    a = Animator(character, bvh_to_clip(bvh, character))
    b = Animator(character, bvh_to_clip(load_bvh(path), character))
    bones = sorted(character.humanoid.values())
    worst = 0.0
    for t in np.arange(bvh.num_frames) / 120.0:
        pa = a.pose(t).joint_world[bones, :3, 3]
        pb = b.pose(t).joint_world[bones, :3, 3]
        worst = max(worst, float(np.abs(pa - pb).max()))
    assert worst < 0.01, f"joint positions differ by {worst * 100:.2f} cm"


def test_non_t_pose_rest_walks_upright(assets_dir, tmp_path, girl):
    """The turned file on its own: feet below the hips, head above, facing +Z
    on average (the front camera), hips and shoulders turning as the actor's do
    (left and right not swapped)."""
    bvh = rotated_rest(load_bvh(assets_dir / CMU), seed=5)
    anim, h = Animator(girl, bvh_to_clip(bvh, girl)), girl.humanoid
    wp = bvh.world_transforms()[1]
    k = bvh.names.index
    lats = [anim.pose(f / 120.0).joint_world[[h["leftUpperLeg"], h["rightUpperLeg"]], :3, 3] for f in range(75)]
    mean = np.mean([(a - b)[[0, 2]] / np.linalg.norm((a - b)[[0, 2]]) for a, b in lats], axis=0)
    assert mean[0] / np.linalg.norm(mean) > 0.99  # left is +X on average: facing +Z
    p0 = anim.pose(0.0).joint_world[:, :3, 3]
    lat = p0[h["leftUpperLeg"]] - p0[h["rightUpperLeg"]]
    file0 = wp[0, k("LeftUpLeg")] - wp[0, k("RightUpLeg")]
    yaw = np.arctan2(lat[2], lat[0]) - np.arctan2(file0[2], file0[0])  # the heading the retarget took off
    c, s_ = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, 0, -s_], [0, 1, 0], [s_, 0, c]])  # x/z rotation by yaw (x -> z positive)
    for f in range(0, bvh.num_frames, 5):
        p = anim.pose(f / 120.0).joint_world[:, :3, 3]
        assert p[h["head"], 1] > p[h["hips"], 1] > max(p[h["leftFoot"], 1], p[h["rightFoot"], 1])
        for ours, theirs in (("UpperLeg", "UpLeg"), ("UpperArm", "Arm")):
            a = p[h["left" + ours]] - p[h["right" + ours]]
            b = turn @ (wp[f, k("Left" + theirs)] - wp[f, k("Right" + theirs)])
            assert np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) > 0.9


BIOVISION = """HIERARCHY
ROOT Hips
{
 OFFSET 0 90 0
 CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
 JOINT Chest { OFFSET 0 10 0 CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT Chest2 { OFFSET 0 15 0 CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT Neck { OFFSET 0 20 0 CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Head { OFFSET 0 8 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 0 10 0 } } }
   JOINT LeftCollar { OFFSET 3 18 0 CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT LeftShoulder { OFFSET 12 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
     JOINT LeftElbow { OFFSET 25 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT LeftWrist { OFFSET 25 0 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 8 0 0 } } } } }
   JOINT RightCollar { OFFSET -3 18 0 CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT RightShoulder { OFFSET -12 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
     JOINT RightElbow { OFFSET -25 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT RightWrist { OFFSET -25 0 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET -8 0 0 } } } } } } }
 JOINT LeftHip { OFFSET 10 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT LeftKnee { OFFSET 0 -42 0 CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT LeftAnkle { OFFSET 0 -42 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 0 -3 10 } } } }
 JOINT RightHip { OFFSET -10 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT RightKnee { OFFSET 0 -42 0 CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT RightAnkle { OFFSET 0 -42 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 0 -3 10 } } } }
}
MOTION
Frames: 1
Frame Time: 0.04
""" + " ".join(["0 90 0"] + ["0 0 0"] * 19) + "\n"


def test_biovision_motionbuilder_names_map(stick):
    bvh = parse_bvh(BIOVISION, "bio.bvh")
    m = {h: bvh.names[k] for h, k in humanoid_map(bvh.names).items()}
    assert m == {"hips": "Hips", "spine": "Chest", "chest": "Chest2", "neck": "Neck", "head": "Head",
                 "leftShoulder": "LeftCollar", "leftUpperArm": "LeftShoulder", "leftLowerArm": "LeftElbow",
                 "leftHand": "LeftWrist", "leftUpperLeg": "LeftHip", "leftLowerLeg": "LeftKnee",
                 "leftFoot": "LeftAnkle",
                 "rightShoulder": "RightCollar", "rightUpperArm": "RightShoulder", "rightLowerArm": "RightElbow",
                 "rightHand": "RightWrist", "rightUpperLeg": "RightHip", "rightLowerLeg": "RightKnee",
                 "rightFoot": "RightAnkle"}
    clip = bvh_to_clip(bvh, stick)
    assert np.isfinite(clip.rotations).all()


@pytest.mark.parametrize("names, expect", [
    (["J_Bip_C_Hips", "J_Bip_C_Spine", "J_Bip_C_Chest", "J_Bip_C_UpperChest", "J_Bip_L_UpperArm", "J_Bip_L_ToeBase",
      "J_Sec_L_Bust1"],
     {"hips": 0, "spine": 1, "chest": 2, "upperChest": 3, "leftUpperArm": 4, "leftToes": 5}),
    (["pelvis", "spine_01", "spine_02", "spine_03", "clavicle_l", "upperarm_l", "lowerarm_l", "thigh_r", "calf_r",
      "ball_r"],
     {"hips": 0, "spine": 1, "chest": 2, "upperChest": 3, "leftShoulder": 4, "leftUpperArm": 5, "leftLowerArm": 6,
      "rightUpperLeg": 7, "rightLowerLeg": 8, "rightToes": 9}),
    (["DEF-spine", "DEF-spine.001", "DEF-spine.002", "DEF-spine.003", "DEF-spine.004", "DEF-spine.006",
      "DEF-upper_arm.L", "DEF-forearm.L", "DEF-shin.R"],
     {"hips": 0, "spine": 1, "chest": 2, "upperChest": 3, "neck": 4, "head": 5, "leftUpperArm": 6, "leftLowerArm": 7,
      "rightLowerLeg": 8}),
    (["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2", "mixamorig:LeftShoulder",
      "mixamorig:LeftArm", "mixamorig:LeftToe_End"],
     {"hips": 0, "spine": 1, "chest": 2, "upperChest": 3, "leftShoulder": 4, "leftUpperArm": 5}),
])
def test_rig_conventions(names, expect):
    from conrt.characters.rig_names import recognise_humanoid

    assert recognise_humanoid(names) == expect


def test_name_map_maps_unknown_names_and_errors_name_the_expected_ones(stick):
    text = BIOVISION.replace("LeftHip", "L_Thingy").replace("RightHip", "R_Thingy")
    with pytest.raises(AssetError, match=r"unrecognised joints: .*L_Thingy.*expected names like.*LeftUpLeg"
                                         r".*--name-map"):
        bvh_to_clip(parse_bvh(text, "odd.bvh"), stick)
    clip = bvh_to_clip(parse_bvh(text, "odd.bvh"), stick,
                       name_map={"L_Thingy": "leftUpperLeg", "R_Thingy": "rightUpperLeg", "NotInFile": "head"})
    assert "leftUpperLeg" in clip.joints


@pytest.mark.parametrize("text, match", [
    ("[1, 2]", "must be a JSON object"),
    ('{"LeftHip": 3}', "must be a JSON object"),
    ('{"LeftHip": "leftThigh"}', "leftThigh are not humanoid bones; valid: hips"),
    ("{oops", "is not JSON"),
])
def test_bad_name_map_files_are_named(tmp_path, text, match):
    from conrt.errors import ConfigError
    from conrt.physics.motion import load_name_map

    path = tmp_path / "names.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_name_map(path)
