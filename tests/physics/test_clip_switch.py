"""Clip switches do not pop (issue #17): the new clip starts where the character
stands and the pose cross-fades, so hair and skirt follow instead of being
flung off and reset all at once."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.physics.world import PhysicsWorld


@pytest.mark.parametrize("to", ["dance", "wave"])
def test_switching_clip_mid_walk_keeps_hair_and_skirt(girl, to):
    hair = [int(r.chain[-1]) for r in girl.regions if r.kind == "hair"]
    with PhysicsWorld(fps=30) as world:
        h = world.add(girl, "walk")
        steps, hips, prev = [], [], None
        for k in range(45):
            if k == 30:
                world.set_clip(h, to)
            pose = world.step()[h]
            pts = np.concatenate([pose.joint_world[hair, :3, 3], pose.sim_positions])
            if prev is not None:
                steps.append(float(np.linalg.norm(pts - prev, axis=1).max()))
            prev = pts
            hips.append(pose.joint_world[girl.humanoid["hips"], :3, 3].copy())
        assert world.resets(h) == 0  # nothing blew up and was snapped back
    before, around = max(steps[10:29]), max(steps[29:36])
    assert around < 2.0 * before, (before, around)  # no visible pop of hair or skirt
    jump = np.linalg.norm(np.diff(np.array(hips)[:, [0, 2]], axis=0), axis=1)
    assert jump[29:32].max() < 3 * jump[10:29].max() + 0.01  # the character does not teleport back to the start


def test_reset_still_starts_the_clip_from_its_origin(girl):
    with PhysicsWorld(fps=30) as world:
        h = world.add(girl, "walk")
        for _ in range(20):
            world.step()
        world.set_clip(h, "idle")
        pose = world.reset(h)[h]
        rest = girl.skeleton.rest_world[girl.humanoid["hips"], :3, 3]
        np.testing.assert_allclose(pose.joint_world[girl.humanoid["hips"], [0, 2], 3], rest[[0, 2]], atol=0.05)
