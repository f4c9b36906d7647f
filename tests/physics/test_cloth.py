import logging

import numpy as np
import pytest

from conrt.errors import PhysicsError
from conrt.physics.cloth import build_proxy
from conrt.physics.world import PhysicsWorld

BACKENDS = ["verlet", "bullet"]


def _skirt(character):
    return next(r for r in character.regions if r.kind == "cloth")


def test_proxy_is_coarse_pinned_and_embeds_the_render_mesh_exactly(girl):
    region = _skirt(girl)
    proxy = build_proxy(girl, region, segments=16, rings=8)
    assert proxy.nodes.shape == (128, 3) and len(proxy.pinned) == 16
    assert set(proxy.vertices) == set(region.vertices) - set(region.pinned)
    # in the rest shape the embedding gives back the rest render positions
    np.testing.assert_allclose(proxy.embed(proxy.nodes), girl.mesh.positions[proxy.vertices], atol=1e-5)
    # a rigid motion of the proxy moves the render vertices rigidly
    rot = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    np.testing.assert_allclose(proxy.embed(proxy.nodes @ rot.T + 1.0), girl.mesh.positions[proxy.vertices] @ rot.T + 1.0,
                               atol=1e-5)


def test_proxy_rejects_bad_grids(girl):
    with pytest.raises(PhysicsError, match="segments"):
        build_proxy(girl, _skirt(girl), segments=2, rings=8)
    hair = next(r for r in girl.regions if r.kind == "hair")
    with pytest.raises(PhysicsError, match="not cloth"):
        build_proxy(girl, hair)


def _hem_after_turn(world, character):
    """Per frame: (hips yaw, hem twist) in degrees and the cloth's kinetic measure in the hips frame."""
    hips = character.humanoid["hips"]
    h = world.add(character, "turn")
    pose = world.actors[h].pose
    rest = character.mesh.positions[pose.sim_indices]
    hem = rest[:, 1] < rest[:, 1].min() + 0.03
    ang0 = np.arctan2(rest[hem, 0], rest[hem, 2])
    lag, energy, prev = [], [], None
    for _ in range(150):
        pose = world.step()[h]
        m, p = pose.joint_world[hips], pose.sim_positions
        yaw = np.arctan2(m[0, 2], m[2, 2])
        twist = np.angle(np.mean(np.exp(1j * (np.arctan2(p[hem, 0] - m[0, 3], p[hem, 2] - m[2, 3]) - ang0))))
        lag.append(np.degrees(np.angle(np.exp(1j * (yaw - twist)))))
        local = (p - m[:3, 3]) @ m[:3, :3]
        energy.append(0.0 if prev is None else float(((local - prev) ** 2).sum()))
        prev = local
    return np.array(lag), np.array(energy)


@pytest.mark.parametrize("backend", BACKENDS)
def test_skirt_hem_lags_swings_and_settles_after_a_fast_hip_turn(girl, backend):
    with PhysicsWorld(cloth_backend=backend) as world:
        lag, energy = _hem_after_turn(world, girl)
    # the turn runs from frame 12 to 36 (0.2 s .. 0.6 s)
    assert lag[12:36].max() > 15  # the hem trails the hips
    assert lag[30:80].min() < -5  # ... overshoots the other way (swing)
    assert abs(lag[-10:]).max() < 6  # ... and comes back under the hips
    assert energy[-20:].mean() < 0.1 * energy[15:60].max()  # motion energy decays


@pytest.mark.parametrize("backend", BACKENDS)
def test_skirt_stays_outside_the_leg_capsules(girl, backend):
    with PhysicsWorld(cloth_backend=backend) as world:
        h = world.add(girl, "walk")
        body = world.actors[h].body
        cloth = world.actors[h].cloths[0]
        legs = [girl.humanoid[n] for n in ("leftUpperLeg", "leftLowerLeg", "rightUpperLeg", "rightLowerLeg")]
        worst = []
        for _ in range(90):
            pose = world.step()[h]
            caps = body.world_capsules(pose.joint_world.astype(np.float64), legs)
            x = cloth.nodes()[len(cloth.proxy.pinned):]  # the pinned waistband ring sits on the hips
            a, b, r = caps[:, :3], caps[:, 3:6], caps[:, 6]
            ab = b - a
            t = np.clip(((x[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
            dist = np.linalg.norm(x[:, None] - (a + t[..., None] * ab), axis=-1)
            worst.append((r - dist).max())
    # proxy nodes may sink into a capsule by at most ~2 cm while the legs swing through the cloth
    assert max(worst) < 0.02, max(worst)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_inputs_give_identical_vertex_positions(girl, backend):
    runs = []
    for _ in range(2):
        with PhysicsWorld(cloth_backend=backend) as world:
            h = world.add(girl, "dance")
            for _ in range(40):
                pose = world.step()[h]
            runs.append(pose)
    assert np.array_equal(runs[0].sim_positions, runs[1].sim_positions)
    assert np.array_equal(runs[0].joint_world, runs[1].joint_world)


@pytest.mark.parametrize("backend", BACKENDS)
def test_forced_nan_resets_the_cloth_and_the_frame_goes_on(girl, backend, caplog):
    with PhysicsWorld(cloth_backend=backend) as world:
        h = world.add(girl, "walk")
        for _ in range(10):
            world.step()
        skirt = _skirt(girl).name
        world.force_nan(h, skirt)
        with caplog.at_level(logging.WARNING, logger="conrt.physics.world"):
            pose = world.step()[h]
        assert any(skirt in r.message and "reset" in r.message for r in caplog.records)
        assert np.isfinite(pose.sim_positions).all()
        assert world.resets(h) == 1
        pose.validate(girl.skeleton.num_joints)
        # the reset shape is the rest skirt carried by the hips
        hips = pose.joint_world[girl.humanoid["hips"]].astype(np.float64)
        m = hips @ np.linalg.inv(girl.skeleton.rest_world[girl.humanoid["hips"]])
        rest = girl.mesh.positions[pose.sim_indices] @ m[:3, :3].T + m[:3, 3]
        np.testing.assert_allclose(pose.sim_positions, rest, atol=1e-4)
        for _ in range(10):
            pose = world.step()[h]
        assert np.isfinite(pose.sim_positions).all() and world.resets(h) == 1


def test_rest_positions_never_change(girl):
    before = girl.mesh.positions.copy()
    with PhysicsWorld() as world:
        h = world.add(girl, "run")
        for _ in range(20):
            world.step()
    assert np.array_equal(girl.mesh.positions, before)


def test_a_cape_gets_an_open_proxy_and_swings(caplog):
    from conrt.physics.stick import stick_character

    hero = stick_character(skirt=False, hair=(), cape=True)
    cape = hero.regions[0]
    proxy = build_proxy(hero, cape, segments=12, rings=8)
    # open grid: no triangle joins the last column back to the first
    cols = proxy.triangles % 12
    assert not ((cols.min(1) == 0) & (cols.max(1) == 11)).any()
    np.testing.assert_allclose(proxy.embed(proxy.nodes), hero.mesh.positions[proxy.vertices], atol=1e-5)
    with PhysicsWorld() as world:
        h = world.add(hero, "run")
        for _ in range(60):
            pose = world.step()[h]
        assert world.resets(h) == 0
    chest = pose.joint_world[hero.humanoid["upperChest"]].astype(np.float64)
    local = (pose.sim_positions - chest[:3, 3]) @ chest[:3, :3]
    rest = hero.mesh.positions[pose.sim_indices] - hero.skeleton.rest_world[hero.humanoid["upperChest"], :3, 3]
    # running forward (+z) the cape's hem trails behind (-z) its rest place, still behind the back
    hem = rest[:, 1] < rest[:, 1].min() + 0.05
    assert (local[hem, 2] - rest[hem, 2]).mean() < -0.01
    assert (local[:, 2] < 0.05).all()
