"""The skirt's hem hangs where the frames draw it, in every sheet (``cloth.tethers``).

The default demo showed a cream band under the hem, on the thighs, in every walking
frame: the sample sheet settled the skirt in a world of its own at 60 Hz substeps,
where the Verlet cloth stretched until the hem hung 31 cm below the hips, while the
runtime (120 Hz) drew it at 26.5 cm, so no sheet view saw the thighs in between.
Measured before the tethers (hem below the hips, cm; sample character / procedural
seeds 0, 3, 7): rest shape 24.9 / 20.6 / 31.7 / 19.2, 1.5 s of ``idle`` at 60 Hz
31.2 / 26.1 / 37.6 / 26.2, at 120 Hz 26.8 / 22.2 / 33.4 / 21.4, walking (120 Hz)
26.6 / 22.1 / 33.2 / 21.2. With them: 60 Hz 25.9 / 21.0 / 32.7 / 20.2, 120 Hz
25.6 / 20.8 / 32.4 / 19.8, walking 25.5 / 20.7 / 32.2 / 19.8.
"""
from __future__ import annotations

import numpy as np
import pytest

from conrt.characters.posing import posed_positions
from conrt.physics import PhysicsWorld

TOLERANCE_M = 0.01  # 1 cm: ~2 px of thigh under the hem at the demo's 256² framing


def hem_below_hips(character, pose) -> float:
    """Mean height (m) of the skirt's hem vertices (its lowest rest ring) below the hips joint."""
    skirt = next(r for r in character.regions if r.kind == "cloth")
    rest_y = character.mesh.positions[skirt.vertices, 1]
    hem = skirt.vertices[rest_y < rest_y.min() + 1e-3]
    return float(pose.joint_world[character.humanoid["hips"]][1, 3] - posed_positions(character, pose)[hem, 1].mean())


def rest_hem_below_hips(character) -> float:
    skirt = next(r for r in character.regions if r.kind == "cloth")
    hips = character.skeleton.rest_world[character.humanoid["hips"]][1, 3]
    return float(hips - character.mesh.positions[skirt.vertices, 1].min())


def walking_hems(character, frames: int = 80, skip: int = 20) -> np.ndarray:
    """The hem below the hips over ``frames`` frames of ``walk`` at the runtime's rate
    (30 fps, 4 substeps: ``PhysicsStage``'s world), the first ``skip`` left out (the
    clip starts from the rest shape at full speed)."""
    with PhysicsWorld(fps=30, substeps=4) as world:
        h = world.add(character, "walk")
        return np.array([hem_below_hips(character, world.step()[h]) for _ in range(frames)][skip:])


def settled_hem(character, substeps: int) -> float:
    with PhysicsWorld(fps=30, substeps=substeps) as world:
        h = world.add(character, "idle")
        for _ in range(45):
            pose = world.step()[h]
    return hem_below_hips(character, pose)


@pytest.fixture(scope="module")
def sample():
    from conrt.characters.gltf_io import load_character
    from conrt.samples import SAMPLE_CHARACTER

    return load_character(SAMPLE_CHARACTER)


@pytest.fixture(scope="module")
def sample_walking(sample) -> np.ndarray:
    return walking_hems(sample)


def test_the_settled_hem_does_not_depend_on_the_substep_rate(girl):
    """1.5 s of ``idle`` at 60 and at 120 Hz substeps: the hems within 1 cm of each other
    and of the rest shape (before: 5.5 and 1.6 cm below it, 3.9 cm apart)."""
    rest = rest_hem_below_hips(girl)
    at_60, at_120 = settled_hem(girl, 2), settled_hem(girl, 4)
    assert abs(at_60 - at_120) < TOLERANCE_M, (at_60, at_120)
    assert 0.0 <= at_60 - rest < TOLERANCE_M and 0.0 <= at_120 - rest < TOLERANCE_M, (rest, at_60, at_120)


def test_the_rest_shape_hem_is_where_walking_frames_draw_it(sample, sample_walking):
    """``conrt sheet`` draws the skirt's rest shape: the walking hem's mean within 1 cm of
    it (before: 1.7 cm below), and never above it by more (the sheet sees the thighs the
    frames show)."""
    rest, walk = rest_hem_below_hips(sample), sample_walking
    assert abs(walk.mean() - rest) < TOLERANCE_M, (rest, walk.mean())
    assert walk.min() > rest - TOLERANCE_M, (rest, walk.min())


def test_the_sample_sheet_hangs_the_hem_where_walking_frames_draw_it(sample, sample_walking):
    """The sample sheet's pose (``training.sample_sheet.settled_pose``): its hem within
    1 cm of the walking frames' mean (before: 31.1 cm below the hips against 26.5 cm)."""
    from conrt.training.sample_sheet import settled_pose

    sheet, walk = hem_below_hips(sample, settled_pose(sample)), sample_walking
    assert abs(sheet - walk.mean()) < TOLERANCE_M, (sheet, walk.mean())


def test_tethers_hold_each_node_within_its_column_rest_length(girl):
    """``tethers``: the waistband's nodes are their own tops (length 0), every other node
    hangs from the waistband node of its column by the rest length down the column;
    during a fast hip turn (the skirt flung out, swinging: test_cloth checks the swing)
    no node ends a frame farther than that plus the collision margin (the contacts
    come after the tethers in a substep)."""
    from conrt.physics.cloth import tethers

    with PhysicsWorld(fps=30, substeps=4) as world:
        h = world.add(girl, "turn")
        cloth = world.actors[h].cloths[0]
        top, reach = tethers(cloth.proxy)
        segments = len(cloth.proxy.pinned)
        grid = cloth.proxy.nodes.reshape(-1, segments, 3)
        assert (top == np.tile(np.arange(segments), len(grid))).all()
        assert np.allclose(reach[:segments], 0.0)
        np.testing.assert_allclose(reach[-segments:], np.linalg.norm(np.diff(grid, axis=0), axis=2).sum(0))
        worst = 0.0
        for _ in range(30):
            world.step()
            x = cloth.nodes()
            worst = max(worst, float((np.linalg.norm(x - x[top], axis=1) - reach).max()))
    assert worst < cloth.params.margin, worst
