"""The toon pass's cheaper paths for the fit-sheet searches draw exactly the
default's pixels (real GL on EGL): ``skin_once`` (a pose skinned once by
transform feedback, drawn from several cameras) and the variant without the
alpha test for characters that have no MASK/BLEND/single-sided faces."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conrt.characters import generate
from conrt.characters.expressions import with_expressions
from conrt.characters.posing import pose_from_rotations, posed_positions, rest_pose, rotation_matrix
from conrt.shaders import toon_pass as toon_module
from conrt.shaders.camera import frame_character
from conrt.shaders.geometry import SkinnedGeometry
from conrt.shaders.toon_pass import ToonPass

SIZE = 96


@pytest.fixture(scope="module")
def character():
    return generate(4, layers=True)  # MASK and BLEND face cards, single-sided blush, morph targets


def _opaque(character):
    """The same character with every face OPAQUE and double-sided (no alpha rule)."""
    mesh = dataclasses.replace(character.mesh, alpha_mode=None, alpha_cutoff=None, double_sided=None)
    return dataclasses.replace(character, mesh=mesh)


def _poses(character, count=3, seed=0):
    rng = np.random.default_rng(seed)
    names = [n for n in ("leftUpperArm", "rightUpperArm", "leftUpperLeg", "spine", "neck")
             if n in character.humanoid]
    skel = character.skeleton
    out = []
    for _ in range(count):
        rot = {skel.names[character.humanoid[n]]: rotation_matrix(rng.normal(size=3), rng.uniform(-0.6, 0.6))
               for n in names}
        out.append(pose_from_rotations(skel, rot))
    return out


def _cameras(character, pose, yaws=(0.0, 140.0)):
    pts = posed_positions(character, pose)
    return [frame_character(pts, yaw=y, size=SIZE, margin=0.1) for y in yaws]


def _pass(gl_ctx, character, **kw):
    toon = ToonPass(gl_ctx, SIZE, SIZE, **kw)
    toon.set_character(character)
    return toon


@pytest.mark.parametrize("alpha", ["with alpha rules", "opaque"])
def test_skin_once_draws_the_default_pixels(gl_ctx, character, alpha):
    """Each pose from two cameras, then the first pose again (the skinned buffer
    must follow the pose), against the pass that skins in the draw."""
    ch = character if alpha == "with alpha rules" else _opaque(character)
    poses = _poses(ch)
    order = [(p, c) for p in poses for c in _cameras(ch, p)]
    order.append(order[0])
    with _pass(gl_ctx, ch) as plain, _pass(gl_ctx, ch, skin_once=True) as once:
        assert once.geometry.alpha_rule == (alpha == "with alpha rules")
        outs = []
        for pose, camera in order:
            expected = plain.run(pose, camera)
            got = once.run(pose, camera)
            assert np.array_equal(got, expected)
            outs.append(got)
    # the poses differ in the picture, so a stale skinned buffer would fail above
    assert not np.array_equal(outs[0], outs[2]) and not np.array_equal(outs[2], outs[4])


def test_skin_once_follows_a_pose_changed_in_place(gl_ctx, character):
    pose = _poses(character, 1)[0]
    camera = _cameras(character, pose)[0]
    with _pass(gl_ctx, character) as plain, _pass(gl_ctx, character, skin_once=True) as once:
        before = once.run(pose, camera)
        arm = character.humanoid["leftUpperArm"]
        pose.joint_world[arm, :3, 3] += np.float32(0.05)  # the same Pose object, another arm position
        after = once.run(pose, camera)
        assert not np.array_equal(after, before)
        assert np.array_equal(after, plain.run(pose, camera))


def test_skin_once_with_morphs_and_simulated_vertices(gl_ctx, character):
    pose = rest_pose(character)
    camera = _cameras(character, pose)[0]
    blink = with_expressions(pose, character, {"blink": 1})
    sim_idx = np.arange(0, character.mesh.num_vertices, 97)
    sim = dataclasses.replace(pose, sim_indices=sim_idx,
                              sim_positions=character.mesh.positions[sim_idx] + np.float32(0.03))
    with _pass(gl_ctx, character) as plain, _pass(gl_ctx, character, skin_once=True) as once:
        pictures = []
        for p in (pose, blink, sim, blink, pose):
            got = once.run(p, camera)
            assert np.array_equal(got, plain.run(p, camera))
            pictures.append(got)
    assert not np.array_equal(pictures[0], pictures[1]) and not np.array_equal(pictures[0], pictures[2])


class _AlphaRuleGeometry(SkinnedGeometry):
    """The unchanged path: the alpha-test variant whatever the materials."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.alpha_rule = True


def test_no_alpha_test_variant_draws_the_alpha_test_pixels(gl_ctx, character, monkeypatch):
    """An all-OPAQUE double-sided character gets the shader without the alpha
    test (nothing would be discarded); it draws what the alpha-test variant draws."""
    ch = _opaque(character)
    poses = _poses(ch, 2, seed=1)
    views = [(p, c) for p in poses for c in _cameras(ch, p)]
    with _pass(gl_ctx, ch) as plain:
        assert not plain.geometry.alpha_rule
        cheap = [plain.run(p, c) for p, c in views]
        monkeypatch.setattr(toon_module, "SkinnedGeometry", _AlphaRuleGeometry)
        with _pass(gl_ctx, ch) as tested:
            assert tested.program is not plain.program  # the other variant
            for (p, c), got in zip(views, cheap):
                assert np.array_equal(got, tested.run(p, c))
    assert (cheap[0][..., 3] > 0).mean() > 0.05  # the character is in the picture


def test_skin_once_refuses_a_bad_pose_every_time(gl_ctx, character):
    """A pose the skinning refuses is not remembered as skinned: the second
    try is refused again, not drawn from the previous pose's buffer."""
    from conrt.errors import InputError
    from conrt.types import Pose

    good = rest_pose(character)
    camera = _cameras(character, good)[0]
    bad = Pose(joint_world=good.joint_world[:-1].copy())  # a joint short
    with _pass(gl_ctx, character, skin_once=True) as once:
        once.run(good, camera)
        for _ in range(2):
            with pytest.raises(InputError):
                once.run(bad, camera)


def _ink_full_frame(toon):
    """Step 2 on every pixel of the frame (no depth test, as before session 12),
    over the last render's G-buffer, into a target holding another colour."""
    (toon._inked_fbo if toon._resolve is not None else toon.fbo).clear(1.0, 0.5, 0.25, 1.0)
    toon.draw_ink(covered_only=False)
    if toon._resolve is not None:
        toon._resolve.run(toon._inked, toon.fbo, toon.size)
    return toon.read()


@pytest.mark.parametrize("alpha", ["with alpha rules", "opaque"])
@pytest.mark.parametrize("antialias", [1, 2])
def test_the_ink_step_on_covered_pixels_draws_the_full_frame_pixels(gl_ctx, character, alpha, antialias):
    """The ink step shades only the pixels step 1 covered (its depth buffer,
    tested against a triangle just in front of the cleared background); the
    background keeps the clear. Byte for byte what the shader gives on every
    pixel, BLEND layers' coverage and supersampled frames included."""
    ch = character if alpha == "with alpha rules" else _opaque(character)
    with _pass(gl_ctx, ch, antialias=antialias) as toon:
        for pose in _poses(ch, 2, seed=2):
            for camera in _cameras(ch, pose):
                got = toon.run(pose, camera)
                assert 0.05 < (got[..., 3] > 0).mean() < 0.95  # both covered and background pixels
                assert np.array_equal(got, _ink_full_frame(toon))
