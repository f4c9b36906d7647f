"""Pose and view helpers of ``conrt udp`` / ``conrt sheet``."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.characters.posing import posed_positions, rest_pose
from conrt.commands.sheet import sheet_yaws
from conrt.commands.udp import make_pose, random_pose, world_axis_rotation
from conrt.errors import ConfigError


@pytest.fixture(scope="module")
def character():
    from conrt.characters.procedural import generate

    return generate(4)


def test_random_pose_is_deterministic_and_moves_only_humanoid_bones(character):
    a, b, c = random_pose(character, 7), random_pose(character, 7), random_pose(character, 8)
    np.testing.assert_array_equal(a.joint_world, b.joint_world)
    assert not np.allclose(a.joint_world, c.joint_world)
    assert np.isfinite(posed_positions(character, a)).all()
    # Non-humanoid joints (hair strands, skirt) keep their rest local transform.
    skel = character.skeleton
    human = set(character.humanoid.values())
    world = a.joint_world.astype(np.float64)
    for j, p in enumerate(skel.parents):
        if p >= 0 and j not in human:
            local = np.linalg.inv(world[p]) @ world[j]
            np.testing.assert_allclose(local, skel.rest_local[j], atol=1e-4)


def test_arms_are_lowered(character):
    pose = random_pose(character, 3, strength=0.0)
    h = character.humanoid
    for side in ("left", "right"):
        hand_y = pose.joint_world[h[f"{side}Hand"], 1, 3]
        shoulder_y = pose.joint_world[h[f"{side}UpperArm"], 1, 3]
        assert hand_y < shoulder_y - 0.1, side  # T-pose has them level


def test_world_axis_rotation_turns_about_the_world_axis(character):
    j = character.humanoid["leftUpperArm"]
    rot = world_axis_rotation(character, j, (0, 0, 1), -np.pi / 2)
    rest = character.skeleton.rest_world[j, :3, :3]
    from conrt.characters.posing import rotation_matrix

    np.testing.assert_allclose(rest @ rot, rotation_matrix((0, 0, 1), -np.pi / 2) @ rest, atol=1e-5)


def test_pose_kinds(character):
    np.testing.assert_array_equal(make_pose(character, "rest").joint_world, rest_pose(character).joint_world)
    with pytest.raises(ConfigError, match="rest, random"):
        make_pose(character, "dance")
    with pytest.raises(ConfigError, match="strength"):
        random_pose(character, 0, strength=-1)


def test_sheet_yaws():
    assert sheet_yaws(1) == [0.0]
    assert sheet_yaws(4) == [0.0, 90.0, 180.0, -90.0]  # both sides from 4 views (the default order, spread)
    assert sheet_yaws(4, "artist") == [0.0, 45.0, 90.0, 180.0]
    assert sorted(sheet_yaws(6)) == sorted(sheet_yaws(6, "artist"))  # from 6 views on: the same yaws
    many = sheet_yaws(12)
    assert len(set(many)) == 12 and many[0] == 0.0
    with pytest.raises(ConfigError, match="--views"):
        sheet_yaws(0)
    with pytest.raises(ConfigError, match="valid: artist, spread, even"):
        sheet_yaws(4, "clockwise")
