import numpy as np
import pytest

from conrt.errors import ConfigError, InputError
from conrt.physics.clips import Animator, Clip, get_clip, list_clips


def test_registry_lists_the_procedural_clips():
    assert {"idle", "walk", "run", "turn", "wave", "jump", "dance"} <= set(list_clips())


def test_unknown_clip_names_the_valid_ones():
    with pytest.raises(ConfigError, match="valid clips: .*walk"):
        get_clip("moonwalk")


@pytest.mark.parametrize("name", ["idle", "walk", "run", "turn", "wave", "jump", "dance"])
def test_clips_pose_the_character_plausibly(girl, name):
    sk, h = girl.skeleton, girl.humanoid
    anim = Animator(girl, get_clip(name, girl))
    rest = sk.rest_world[:, :3, 3]
    bone = np.linalg.norm(rest - rest[np.maximum(sk.parents, 0)], axis=1)
    for t in np.linspace(0, 2.0, 9):
        w = anim.pose(t).joint_world
        assert np.isfinite(w).all()
        # FK keeps every bone length and every rotation orthonormal
        pos = w[:, :3, 3]
        np.testing.assert_allclose(np.linalg.norm(pos - pos[np.maximum(sk.parents, 0)], axis=1), bone, atol=1e-4)
        np.testing.assert_allclose(np.einsum("jba,jbc->jac", w[:, :3, :3], w[:, :3, :3]), np.tile(np.eye(3), (sk.num_joints, 1, 1)), atol=1e-4)
        for foot in ("leftFoot", "rightFoot"):
            assert pos[h[foot], 1] < pos[h["hips"], 1] - 0.2
        assert pos[h["head"], 1] > pos[h["hips"], 1] + 0.2


def test_walk_moves_forward_across_loops(stick):
    clip = get_clip("walk", stick)
    anim = Animator(stick, clip)
    hips = stick.humanoid["hips"]
    z = [anim.pose(t).joint_world[hips, 2, 3] for t in (0.0, clip.duration, 2 * clip.duration, 2.5 * clip.duration)]
    assert z[1] > 0.8 and z[2] == pytest.approx(2 * z[1], rel=1e-3) and z[3] > z[2]


def test_turn_turns_the_hips_half_way_round(stick):
    anim = Animator(stick, get_clip("turn", stick))
    fwd = anim.pose(1.5).joint_world[stick.humanoid["hips"], :3, 2]
    np.testing.assert_allclose(fwd, [0, 0, -1], atol=1e-4)


def test_clip_validates_its_arrays():
    with pytest.raises(InputError, match="NaN"):
        Clip("bad", ("hips",), np.full((2, 1, 4), np.nan), np.zeros((2, 3)), 30.0)
    with pytest.raises(InputError, match="root_offset"):
        Clip("bad", ("hips",), np.tile([0, 0, 0, 1.0], (2, 1, 1)), np.zeros((3, 3)), 30.0)


def test_clip_that_drives_nothing_is_an_error(stick):
    clip = Clip("alien", ("tentacle",), np.tile([0, 0, 0, 1.0], (2, 1, 1)), np.zeros((2, 3)), 30.0)
    with pytest.raises(InputError, match="drives none"):
        Animator(stick, clip)
