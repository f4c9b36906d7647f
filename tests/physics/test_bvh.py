import numpy as np
import pytest

from conrt.errors import AssetError
from conrt.physics.bvh import (Bvh, BvhJoint, bvh_to_clip, clip_to_bvh, humanoid_map, load_bvh, normalize_name,
                               parse_bvh, write_bvh)
from conrt.physics.clips import Animator, get_clip

CMU = "bvh/cmu_npybvh_example.bvh"

SMALL = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 5 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 90 0 0 0 0 0 0 0
1 91 0 10 20 30 -5 0 5
"""


def test_bvh_file_round_trip(tmp_path):
    bvh = parse_bvh(SMALL, "small.bvh")
    assert bvh.names == ("Hips", "Chest") and bvh.num_frames == 2
    assert bvh.joints[0].rotation_order == "ZXY" and len(bvh.joints[0].channels) == 6
    path = tmp_path / "out.bvh"
    write_bvh(bvh, path)
    again = load_bvh(path)
    assert again.names == bvh.names
    np.testing.assert_allclose(again.motion, bvh.motion, atol=1e-6)
    np.testing.assert_allclose(again.joints[1].end_site, [0, 5, 0])
    np.testing.assert_allclose(again.frame_time, bvh.frame_time, rtol=1e-6)


@pytest.mark.parametrize("order", ["XYZ", "ZXY", "ZYX", "YZX"])
@pytest.mark.parametrize("clip", ["dance", "wave"])
def test_clip_written_as_bvh_retargets_back_to_the_same_poses(tmp_path, stick, order, clip):
    """Our clip -> BVH file (any rotation order, cm units, mixamorig: prefixes) -> parse -> retarget."""
    c = get_clip(clip, stick)
    bvh = clip_to_bvh(c, stick, order=order, unit=100.0)
    prefixed = Bvh(joints=tuple(BvhJoint(name="mixamorig:" + j.name, parent=j.parent, offset=j.offset,
                                         channels=j.channels, end_site=j.end_site) for j in bvh.joints),
                   frame_time=bvh.frame_time, motion=bvh.motion, source="x.bvh")
    path = tmp_path / f"{clip}_{order}.bvh"
    write_bvh(prefixed, path)
    back = bvh_to_clip(load_bvh(path), stick, root="absolute")
    a, b = Animator(stick, c), Animator(stick, back)
    for t in np.linspace(0, c.duration * 0.99, 12):
        np.testing.assert_allclose(a.pose(t).joint_world, b.pose(t).joint_world, atol=2e-4)


def test_name_table_covers_common_conventions():
    names = ["mixamorig:Hips", "mixamorig:LeftUpLeg", "LeftUpArm", "LeftCollar", "RightForeArm", "RightLowLeg",
             "Spine1", "LeftToeBase", "Neck", "Head", "hand_l"]
    m = humanoid_map(names)
    assert m["hips"] == 0 and m["leftUpperLeg"] == 1 and m["leftUpperArm"] == 2 and m["leftShoulder"] == 3
    assert m["rightLowerArm"] == 4 and m["rightLowerLeg"] == 5 and m["chest"] == 6 and m["leftToes"] == 7
    assert m["leftHand"] == 10
    assert normalize_name("mixamorig:LeftHand") == "lefthand"


def test_cmu_capture_retargets_onto_a_procedural_character(assets_dir, girl):
    bvh = load_bvh(assets_dir / CMU)
    assert len(bvh.joints) == 31 and bvh.num_frames == 75
    clip = bvh_to_clip(bvh, girl)
    assert clip.fps == pytest.approx(120, rel=1e-3)
    anim, h = Animator(girl, clip), girl.humanoid
    rest = girl.skeleton.rest_world[:, :3, 3]
    leg = rest[h["hips"], 1] - rest[h["leftFoot"], 1]
    lowest = []
    for t in np.arange(clip.num_frames) / clip.fps:
        w = anim.pose(t).joint_world
        assert np.isfinite(w).all()
        pos = w[:, :3, 3]
        for foot in ("leftFoot", "rightFoot"):
            assert pos[h[foot], 1] < pos[h["hips"], 1] - 0.4 * leg  # feet below the hips
        assert pos[h["head"], 1] > pos[h["hips"], 1] + 0.3 * leg  # upright
        lowest.append(min(pos[h["leftFoot"], 1], pos[h["rightFoot"], 1]))
    # the lowest foot of the clip sits at the rest foot height (on the ground)
    feet = [h[k] for k in ("leftFoot", "rightFoot", "leftToes", "rightToes")]
    assert min(lowest) >= rest[feet, 1].min() - 1e-4
    assert min(lowest) == pytest.approx(rest[h["leftFoot"], 1], abs=0.05)


def test_rest_pose_difference_is_corrected(stick):
    """A BVH whose rest pose has the arms down (A/I-pose) and zero rotations must
    put our T-posed arms down too."""
    text = """HIERARCHY
ROOT Hips
{
 OFFSET 0 90 0
 CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
 JOINT Spine { OFFSET 0 10 0 CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT Head { OFFSET 0 40 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 0 10 0 } }
  JOINT LeftArm { OFFSET 15 30 0 CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT LeftForeArm { OFFSET 0 -25 0 CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT LeftHand { OFFSET 0 -25 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 0 -5 0 } } } }
  JOINT RightArm { OFFSET -15 30 0 CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT RightForeArm { OFFSET 0 -25 0 CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT RightHand { OFFSET 0 -25 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 0 -5 0 } } } } }
 JOINT LeftUpLeg { OFFSET 10 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT LeftLeg { OFFSET 0 -45 0 CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT LeftFoot { OFFSET 0 -40 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 0 0 10 } } } }
 JOINT RightUpLeg { OFFSET -10 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT RightLeg { OFFSET 0 -45 0 CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT RightFoot { OFFSET 0 -40 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { OFFSET 0 0 10 } } } }
}
MOTION
Frames: 1
Frame Time: 0.04
""" + " ".join(["0 90 0"] + ["0 0 0"] * 15) + "\n"
    clip = bvh_to_clip(parse_bvh(text, "ipose.bvh"), stick)
    w = Animator(stick, clip).pose(0.0).joint_world
    h = stick.humanoid
    for side in ("left", "right"):
        d = w[h[f"{side}Hand"], :3, 3] - w[h[f"{side}UpperArm"], :3, 3]
        assert d[1] < -0.9 * np.linalg.norm(d)  # hanging down, not sideways


@pytest.mark.parametrize("text, match", [
    (SMALL.replace("OFFSET 0 5 0\n    CHANNELS", "OFFSET 0 five 0\n    CHANNELS"), r"small.bvh:8: expected a number for OFFSET of Chest"),
    (SMALL.replace("Frames: 2", "Frames: 3"), "header says 3 frames but the file has 2"),
    (SMALL.replace("1 91 0 10 20 30 -5 0 5", "1 91 0 10 20 30 -5 0"), r"small.bvh:20: frame has 8 values, the hierarchy has 9"),
    (SMALL.replace("CHANNELS 3 Zrotation", "CHANNELS 3 Wrotation"), r"small.bvh:9: unknown channel 'Wrotation'"),
    (SMALL.replace("HIERARCHY", "HIERARCHI"), r"small.bvh:1: expected 'HIERARCHY'"),
    (SMALL[:120], "unexpected end of file"),
    (SMALL.replace("0 90 0 0 0 0 0 0 0", "0 90 0 0 x 0 0 0 0"), r"small.bvh:19: not a number: 'x'"),
])
def test_broken_bvh_is_a_clear_error(text, match):
    with pytest.raises(AssetError, match=match):
        parse_bvh(text, "small.bvh")


def test_missing_file_is_an_asset_error(tmp_path):
    with pytest.raises(AssetError, match="cannot read BVH"):
        load_bvh(tmp_path / "nope.bvh")


def test_unknown_joints_are_named(stick):
    text = SMALL.replace("Hips", "Pelvis_Bone").replace("Chest", "Torso_Thing")
    with pytest.raises(AssetError, match="unrecognised joints: Pelvis_Bone, Torso_Thing.*name_map"):
        bvh_to_clip(parse_bvh(text, "odd.bvh"), stick)


def test_name_map_errors_are_clear():
    with pytest.raises(AssetError, match="does not have"):
        humanoid_map(["A", "B"], {"C": "hips"})
    with pytest.raises(AssetError, match="not a humanoid bone"):
        humanoid_map(["A", "B"], {"A": "pelvis"})


_BIOVISION = {"leftShoulder": "LeftCollar", "leftUpperArm": "LeftUpArm", "leftLowerArm": "LeftLowArm",
              "leftUpperLeg": "LeftUpLeg", "leftLowerLeg": "LeftLowLeg", "leftToes": "LeftToe",
              "upperChest": "Chest2", "hips": "Hips", "chest": "Chest"}
_BIOVISION.update({k.replace("left", "right"): v.replace("Left", "Right") for k, v in list(_BIOVISION.items())
                   if k.startswith("left")})


def test_biovision_names_and_six_channels_on_every_joint(tmp_path, stick):
    """Biovision names, ZYX order and position channels on every joint (their values
    replace the offsets) retarget to the same poses."""
    c = get_clip("jump", stick)
    bvh = clip_to_bvh(c, stick, order="ZYX", unit=1.0)
    joints, cols = [], []
    for j, sl in zip(bvh.joints, bvh.channel_slices()):
        name = _BIOVISION.get(j.name, j.name[:1].upper() + j.name[1:])
        if len(j.channels) == 6:
            joints.append(BvhJoint(name, j.parent, j.offset, j.channels))
            cols.append(bvh.motion[:, sl])
        else:
            joints.append(BvhJoint(name, j.parent, j.offset, ("Xposition", "Yposition", "Zposition") + j.channels))
            cols += [np.tile(j.offset, (bvh.num_frames, 1)), bvh.motion[:, sl]]
    six = Bvh(joints=tuple(joints), frame_time=bvh.frame_time, motion=np.concatenate(cols, 1), source="bio.bvh")
    path = tmp_path / "bio.bvh"
    write_bvh(six, path)
    back = load_bvh(path)
    assert all(len(j.channels) == 6 for j in back.joints) and "LeftUpArm" in back.names
    clip = bvh_to_clip(back, stick, root="absolute")
    a, b = Animator(stick, c), Animator(stick, clip)
    for t in np.linspace(0, c.duration * 0.99, 8):
        np.testing.assert_allclose(a.pose(t).joint_world, b.pose(t).joint_world, atol=2e-4)
