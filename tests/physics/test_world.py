import numpy as np
import pytest

from conrt.errors import ConfigError, PhysicsError
from conrt.physics.clips import Animator, get_clip
from conrt.physics.world import PhysicsWorld


def test_pose_contract(girl):
    with PhysicsWorld() as world:
        h = world.add(girl, "walk")
        pose = world.step()[h]
    pose.validate(girl.skeleton.num_joints)
    skirt = next(r for r in girl.regions if r.kind == "cloth")
    assert set(pose.sim_indices) == set(skirt.vertices) - set(skirt.pinned)
    assert pose.sim_positions.shape == (len(pose.sim_indices), 3) and pose.sim_positions.dtype == np.float32


def test_body_joints_follow_the_clip_kinematically(stick):
    clip = get_clip("wave", stick)
    hair = {j for r in stick.regions if r.kind == "hair" for j in r.chain}
    body = [j for j in range(stick.skeleton.num_joints) if j not in hair]
    with PhysicsWorld(fps=30, substeps=2) as world:
        h = world.add(stick, clip)
        for _ in range(9):
            pose = world.step()[h]
    expected = Animator(stick, clip).pose(9 / 30).joint_world
    np.testing.assert_allclose(pose.joint_world[body], expected[body], atol=1e-5)


def test_pause_resume_and_time_scale(stick):
    with PhysicsWorld() as world:
        h = world.add(stick, "walk")
        for _ in range(6):
            world.step()
        assert world.time(h) == pytest.approx(0.1)
        world.pause()
        frozen = world.step()[h]
        assert world.time(h) == pytest.approx(0.1)
        assert np.array_equal(world.step()[h].sim_positions, frozen.sim_positions)
        world.resume()
        world.time_scale = 0.5
        for _ in range(6):
            world.step()
        assert world.time(h) == pytest.approx(0.15)
        world.time_scale = 0.25  # a quarter substep per frame is carried over, never lost
        for _ in range(8):
            world.step()
        assert world.time(h) == pytest.approx(0.15 + 8 * 0.25 / 60)
        with pytest.raises(PhysicsError, match="time_scale"):
            world.time_scale = -1


def test_reset_goes_back_to_the_first_frame(stick):
    with PhysicsWorld() as world:
        h = world.add(stick, "dance")
        first = world.actors[h].pose
        for _ in range(30):
            world.step()
        again = world.reset(h)[h]
        assert world.time(h) == 0.0 and world.resets(h) == 0  # an asked-for reset is not a recovery
        np.testing.assert_allclose(again.joint_world, first.joint_world, atol=1e-5)
        np.testing.assert_allclose(again.sim_positions, first.sim_positions, atol=1e-5)


def test_poke_pushes_a_physical_body_which_recovers(stick):
    hand = stick.humanoid["leftHand"]
    with PhysicsWorld() as world:
        h = world.add(stick, "idle", mode="physical")
        for _ in range(30):
            pose = world.step()[h]
        hit = world.poke(h, pose.joint_world[hand, :3, 3], [0.0, 0.0, 3.0])
        assert hit.startswith("left")
        err = []
        for _ in range(100):
            pose = world.step()[h]
            err.append(np.linalg.norm(pose.joint_world[hand, :3, 3] - world.actors[h].target[hand, :3, 3]))
    assert max(err[:30]) > 0.1  # pushed away from the animation
    assert max(err[-15:]) < 0.5 * max(err[:30])  # ... and pulled back by the PD motors


def test_poke_needs_the_physical_mode(stick):
    with PhysicsWorld() as world:
        h = world.add(stick, "idle")
        with pytest.raises(PhysicsError, match="physical"):
            world.poke(h, [0, 1, 0], [1, 0, 0])


def test_characters_are_independent(stick):
    with PhysicsWorld() as world:
        a = world.add(stick, "walk")
        b = world.add(stick, "walk")
        for _ in range(20):
            pa, pb = world.step()
    # same character, same clip, far apart: the same poses in character space
    np.testing.assert_allclose(pa.joint_world, pb.joint_world, atol=2e-3)
    np.testing.assert_allclose(pa.sim_positions, pb.sim_positions, atol=2e-3)


def test_bad_arguments_are_clear(stick):
    with pytest.raises(PhysicsError, match="valid: bullet, verlet"):
        PhysicsWorld(cloth_backend="havok")
    with PhysicsWorld() as world:
        with pytest.raises(ConfigError, match="valid clips"):
            world.add(stick, "moonwalk")
        with pytest.raises(PhysicsError, match="valid: kinematic, physical"):
            world.add(stick, "idle", mode="ragdoll")
        with pytest.raises(PhysicsError, match="no character with handle 3"):
            world.time(3)
    with pytest.raises(PhysicsError, match="closed"):
        world.step()


def test_physical_mode_keeps_hair_on_the_pushed_head(girl):
    head = girl.humanoid["head"]
    tail = [r for r in girl.regions if r.kind == "hair"][-1]
    with PhysicsWorld(fps=30, substeps=4) as world:
        h = world.add(girl, "dance", mode="physical")
        for _ in range(20):
            pose = world.step()[h]
        world.poke(h, pose.joint_world[head, :3, 3], [3.0, 0.0, 0.0])
        for _ in range(20):
            pose = world.step()[h]
            w = pose.joint_world.astype(np.float64)
            attach = w[head] @ np.linalg.inv(girl.skeleton.rest_world[head]) @ girl.skeleton.rest_world[tail.chain[0]]
            assert np.linalg.norm(w[tail.chain[0], :3, 3] - attach[:3, 3]) < 0.02
        assert world.resets(h) == 0


def test_the_shipped_sample_character_runs(fixtures_dir):
    loader = pytest.importorskip("conrt.characters.gltf_io")
    path = fixtures_dir.parents[1] / "samples" / "sample_character.glb"
    if not path.exists():
        pytest.skip("samples/sample_character.glb not built yet")
    sample = loader.load_character(path)
    with PhysicsWorld() as world:
        h = world.add(sample, "run")
        for _ in range(30):
            pose = world.step()[h]
        assert world.resets(h) == 0
    pose.validate(sample.skeleton.num_joints)
    assert pose.sim_positions is not None and len(pose.sim_indices) > 100
