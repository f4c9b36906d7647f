"""Morph targets in the passes (real GL on EGL): applied before skinning,
the drawn lid moves while the UDP keeps its rest-pose landmarks, weights 0
draw exactly what a character without morphs draws, bad weights are named."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conrt.characters import generate
from conrt.characters.expressions import with_expressions
from conrt.characters.posing import pose_from_rotations, posed_positions, rest_pose, rotation_matrix
from conrt.errors import InputError
from conrt.shaders.camera import frame_character
from conrt.shaders.toon_pass import ToonPass
from conrt.shaders.udp_pass import UdpPass

SIZE = 128


@pytest.fixture(scope="module")
def character():
    return generate(4)


@pytest.fixture(scope="module")
def eye_camera(character):
    """Framed on the left eye patch (the vertices blink_l moves, and a margin)."""
    m = character.mesh
    d = m.morph_positions[m.morph_names.index("blink_l")]
    pts = m.positions[(d != 0).any(1)]
    lo, hi = pts.min(0) - 0.01, pts.max(0) + 0.01
    box = np.array([[x, y, hi[2]] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])])
    return frame_character(box, size=SIZE)


@pytest.fixture(scope="module")
def udp(gl_ctx, character):
    p = UdpPass(gl_ctx, SIZE, SIZE)
    p.set_character(character)
    yield p
    p.release()


@pytest.fixture(scope="module")
def toon(gl_ctx, character):
    p = ToonPass(gl_ctx, SIZE, SIZE)
    p.set_character(character)
    yield p
    p.release()


def _strip(character):
    mesh = dataclasses.replace(character.mesh, morph_names=(), morph_positions=None, morph_normals=None)
    return dataclasses.replace(character, mesh=mesh, expressions={})


def test_zero_weights_draw_exactly_what_no_morphs_draw(gl_ctx, character, eye_camera, udp, toon):
    pose = rest_pose(character)
    zero = dataclasses.replace(pose, morph_weights=np.zeros(character.mesh.num_morphs, np.float32))
    u0, t0 = udp.run(zero, eye_camera).data, toon.run(zero, eye_camera)
    assert np.array_equal(u0, udp.run(pose, eye_camera).data)  # None = all zero
    with UdpPass(gl_ctx, SIZE, SIZE) as plain_udp, ToonPass(gl_ctx, SIZE, SIZE) as plain_toon:
        plain_udp.set_character(_strip(character))
        plain_toon.set_character(_strip(character))
        assert np.array_equal(u0, plain_udp.run(pose, eye_camera).data)
        assert np.array_equal(t0, plain_toon.run(pose, eye_camera))
    # and a blink does change the picture (the comparison above can fail)
    assert not np.array_equal(u0, udp.run(with_expressions(pose, character, {"blink": 1}), eye_camera).data)


def test_blinking_lid_shows_its_rest_landmarks(character, eye_camera, udp):
    m = character.mesh
    pose = rest_pose(character)
    opened = udp.run(pose, eye_camera).data
    closed = udp.run(with_expressions(pose, character, {"blink_l": 1}), eye_camera).data
    changed = (np.abs(closed - opened).max(-1) > 1e-6) & (closed[..., 3] > 0) & (opened[..., 3] > 0)
    assert changed.sum() > 100
    # The lid comes down from above: the closed UDP shows points that sit higher at rest.
    up = closed[changed, 1] > opened[changed, 1]
    assert up.mean() > 0.9
    # Every changed pixel shows a rest-pose point of the patch, not where the lid was drawn:
    # nearest rest landmark is far closer than the nearest morphed one.
    d = m.morph_positions[m.morph_names.index("blink_l")]
    patch = (d != 0).any(1)
    rest_lm = character.box.landmarks(m.positions[patch])
    moved_lm = character.box.landmarks(m.positions[patch] + d[patch])
    seen = closed[changed, :3]

    def nearest(lm):
        return np.sqrt(((seen[:, None, :] - lm[None]) ** 2).sum(-1)).min(1)

    to_rest, to_moved = nearest(rest_lm), nearest(moved_lm)
    assert np.median(to_rest) < 0.25 * np.median(to_moved)


def test_morphs_apply_before_skinning_on_the_gpu(character, udp):
    m = character.mesh
    t = m.morph_names.index("blink_l")
    w = np.zeros(m.num_morphs, np.float32)
    w[t] = 1.0
    # rest pose: drawn = rest + delta
    got = udp.skinned_positions(dataclasses.replace(rest_pose(character), morph_weights=w))
    np.testing.assert_allclose(got, m.positions + m.morph_positions[t], atol=2e-6)
    lash_drop = -(m.morph_positions[t][:, 1]).min()
    assert lash_drop > 0.005  # the lid travels the eye's height (~1 cm)
    # a turned head: skin(rest + delta), the NumPy reference on the morphed rest shape
    pose = pose_from_rotations(character.skeleton, {"head": rotation_matrix((0, 1, 0), 0.6)})
    pose = dataclasses.replace(pose, morph_weights=w)
    morphed = dataclasses.replace(character, mesh=dataclasses.replace(m, positions=m.positions + m.morph_positions[t]))
    np.testing.assert_allclose(udp.skinned_positions(pose), posed_positions(morphed, pose), atol=2e-5)


def test_toon_blink_hides_the_eye_white(character, eye_camera, toon):
    pose = rest_pose(character)
    white = lambda img: int((img[..., :3].min(-1) > 235).sum())  # noqa: E731 sclera and highlights
    opened = white(toon.run(pose, eye_camera))
    closed = white(toon.run(with_expressions(pose, character, {"blink": 1}), eye_camera))
    assert opened > 50 and closed < 0.1 * opened


def test_bad_weights(character, eye_camera, udp):
    pose = rest_pose(character)
    t = character.mesh.num_morphs
    with pytest.raises(InputError, match=f"the character has {t} morph targets"):
        udp.run(dataclasses.replace(pose, morph_weights=np.zeros(t + 1, np.float32)), eye_camera)
    bad = np.zeros(t, np.float32)
    bad[0] = np.nan
    with pytest.raises(InputError, match="NaN/inf morph weights"):
        udp.run(dataclasses.replace(pose, morph_weights=bad), eye_camera)
    # out of range: clipped to 0..1
    one = udp.run(dataclasses.replace(pose, morph_weights=np.ones(t, np.float32)), eye_camera).data
    assert np.array_equal(one, udp.run(dataclasses.replace(pose, morph_weights=np.full(t, 5, np.float32)), eye_camera).data)
    assert np.array_equal(udp.run(pose, eye_camera).data,
                          udp.run(dataclasses.replace(pose, morph_weights=np.full(t, -3, np.float32)), eye_camera).data)


def test_physics_world_sets_expressions_by_name(character):
    from conrt.physics.world import PhysicsWorld

    names = character.mesh.morph_names
    with PhysicsWorld(fps=30) as world:
        h = world.add(character, "idle")
        world.set_idle_blink(h, False)
        world.set_expressions(h, {"A": 1.0, "happy": 0.5})
        pose = world.step()[h]
        assert pose.morph_weights[names.index("aa")] == 1.0 and pose.morph_weights[names.index("joy")] == 0.5
        world.set_expressions(h, {"ou": 1.0}, replace=True)
        assert world.step()[h].morph_weights.sum() == 1.0
        with pytest.raises(InputError, match="no expression 'wink'; valid: aa, blink"):
            world.set_expressions(h, {"wink": 1})
        world.set_vmc_blends(h, {"Blink_L": 1.0, "NotAShape": 1.0})
        w = world.step()[h].morph_weights
        assert w[names.index("blink_l")] == 1.0 and w[names.index("ou")] == 1.0
