import logging

import numpy as np
import pytest

from conrt.errors import PhysicsError
from conrt.physics.hair import HairChain
from conrt.physics.world import PhysicsWorld


def _region(character, name):
    """A hair region by name (twin tails of the generator), else the last hair region."""
    hair = [r for r in character.regions if r.kind == "hair"]
    return next((r for r in hair if r.name == name), hair[-1])


def test_hair_tip_follows_the_head_with_lag(girl):
    tail = _region(girl, "hair_L")
    head, tip = girl.humanoid["head"], int(tail.chain[-1])
    with PhysicsWorld() as world:
        h = world.add(girl, "turn")
        start = world.actors[h].pose.joint_world
        yaw0 = np.arctan2(start[head, 0, 2], start[head, 2, 2])
        phi0 = np.arctan2(*(start[tip, [0, 2], 3] - start[head, [0, 2], 3]))
        lag, length = [], np.linalg.norm(np.diff(girl.skeleton.rest_world[tail.chain, :3, 3], axis=0), axis=1).sum()
        for _ in range(150):
            w = world.step()[h].joint_world
            yaw = np.arctan2(w[head, 0, 2], w[head, 2, 2]) - yaw0
            phi = np.arctan2(*(w[tip, [0, 2], 3] - w[head, [0, 2], 3])) - phi0
            lag.append(np.degrees(np.angle(np.exp(1j * (yaw - phi)))))
            # pinned: the strand never leaves the head
            assert np.linalg.norm(w[tip, :3, 3] - w[int(tail.chain[0]), :3, 3]) <= length + 1e-3
    lag = np.array(lag)
    assert lag[12:40].max() > 10  # the tail trails the turning head
    assert abs(lag[-10:]).max() < 0.3 * lag[12:40].max()  # and catches up once the head stops


def test_hair_swings_and_settles_when_the_head_stops(girl):
    tail = _region(girl, "hair_R")
    head, tip = girl.humanoid["head"], int(tail.chain[-1])
    with PhysicsWorld() as world:
        h = world.add(girl, "turn")
        rel = []
        for _ in range(120):
            w = world.step()[h].joint_world.astype(np.float64)
            rel.append((np.linalg.inv(w[head]) @ w[tip])[:3, 3])
    speed = np.linalg.norm(np.diff(rel, axis=0), axis=1)
    assert speed[12:60].max() > 5 * speed[-20:].mean()


def test_chain_matrices_are_rigid_transforms(girl):
    with PhysicsWorld() as world:
        h = world.add(girl, "run")
        for _ in range(30):
            w = world.step()[h].joint_world
    chains = [j for r in girl.regions if r.kind == "hair" for j in r.chain]
    rot = w[chains, :3, :3]
    np.testing.assert_allclose(np.einsum("jba,jbc->jac", rot, rot), np.tile(np.eye(3), (len(chains), 1, 1)), atol=1e-4)
    # the strands keep their segment lengths (spherical joints do not stretch)
    for r in girl.regions:
        if r.kind == "hair":
            rest = np.linalg.norm(np.diff(girl.skeleton.rest_world[r.chain, :3, 3], axis=0), axis=1)
            now = np.linalg.norm(np.diff(w[r.chain, :3, 3], axis=0), axis=1)
            np.testing.assert_allclose(now, rest, atol=2e-3)


def test_forced_nan_resets_the_strand(girl, caplog):
    tail = _region(girl, "hair_L")
    head = girl.humanoid["head"]
    with PhysicsWorld() as world:
        h = world.add(girl, "walk")
        for _ in range(10):
            world.step()
        world.force_nan(h, tail.name)
        with caplog.at_level(logging.WARNING, logger="conrt.physics.world"):
            w = world.step()[h].joint_world.astype(np.float64)
        assert any(tail.name in r.message for r in caplog.records)
        assert world.resets(h) == 1
        carried = w[head] @ np.linalg.inv(girl.skeleton.rest_world[head]) @ girl.skeleton.rest_world[tail.chain]
        np.testing.assert_allclose(w[tail.chain], carried, atol=1e-4)
        with pytest.raises(PhysicsError, match=f"no region 'hair_X'.*{tail.name}"):
            world.force_nan(h, "hair_X")


def test_hair_region_needs_a_parent_child_chain(girl):
    import dataclasses

    bad = dataclasses.replace(_region(girl, "hair_L"), chain=_region(girl, "hair_L").chain[::-1].copy())
    with PhysicsWorld() as world:
        with pytest.raises(PhysicsError, match="is not a child of"):
            HairChain(world.client, girl, bad)
