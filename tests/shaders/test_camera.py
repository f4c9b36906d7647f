"""Camera framing: centred, scaled into the square frame, orbit directions."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.errors import ConfigError, InputError
from conrt.shaders.camera import frame_character, orbit_camera, project


@pytest.fixture()
def body():
    rng = np.random.default_rng(0)
    # A tall thin "character": 0.4 wide, 1.6 high, 0.3 deep, off-centre.
    return (rng.uniform([-0.2, 0, -0.15], [0.2, 1.6, 0.15], (500, 3)) + [3.0, 0.0, -2.0]).astype(np.float32)


@pytest.mark.parametrize("projection", ["orthographic", "perspective"])
@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (45, 20, 0), (180, -30, 10), (90, 89, 0)])
def test_frame_centres_and_fills(body, projection, yaw, pitch, roll):
    size, margin = 200, 0.1
    cam = frame_character(body, yaw=yaw, pitch=pitch, roll=roll, size=size, margin=margin, projection=projection)
    assert cam.view.dtype == np.float32 and cam.proj.shape == (4, 4) and (cam.width, cam.height) == (size, size)
    px = project(cam, body)
    lo, hi = px.min(0), px.max(0)
    np.testing.assert_allclose((lo + hi) / 2, [size / 2, size / 2], atol=1e-3)
    assert (hi - lo).max() == pytest.approx(size * (1 - 2 * margin), rel=1e-4)
    # Everything inside the depth range.
    p = np.c_[body, np.ones(len(body))] @ (cam.proj.astype(np.float64) @ cam.view.astype(np.float64)).T
    z = p[:, 2] / p[:, 3]
    assert (np.abs(z) < 1).all() and (p[:, 3] > 0).all()


def test_orbit_directions(body):
    centre = body.mean(0)
    near_x = centre + [1.0, 0, 0]
    far_x = centre - [1.0, 0, 0]
    cam = orbit_camera(centre, 2.0, yaw=90)
    eye = lambda p: (cam.view.astype(np.float64) @ np.r_[p, 1.0])[2]  # noqa: E731
    assert eye(near_x) > eye(far_x)  # yaw 90: the camera is on +X
    front = orbit_camera(centre, 2.0, yaw=0)
    assert (front.view.astype(np.float64) @ np.r_[centre + [0, 0, 1.0], 1])[2] > (front.view.astype(np.float64) @ np.r_[centre, 1])[2]
    # Pitch up: a point above the centre is drawn in the upper half (row < H/2).
    up = project(orbit_camera(centre, 2.0, pitch=30), (centre + [0, 0.5, 0])[None])[0]
    assert up[1] < 128


def test_row_zero_is_top(body):
    cam = frame_character(body, size=64)
    top = body[body[:, 1].argmax()]
    bottom = body[body[:, 1].argmin()]
    assert project(cam, top[None])[0, 1] < project(cam, bottom[None])[0, 1]


def test_bad_inputs(body):
    with pytest.raises(InputError, match="NaN"):
        frame_character(np.full((3, 3), np.nan))
    with pytest.raises(InputError, match=r"\[V, 3\]"):
        frame_character(np.zeros((0, 3)))
    with pytest.raises(InputError, match="one point"):
        frame_character(np.ones((5, 3)))
    with pytest.raises(ConfigError, match="orthographic, perspective"):
        frame_character(body, projection="fisheye")
    with pytest.raises(ConfigError, match="size"):
        frame_character(body, size=0)
    with pytest.raises(ConfigError, match="margin"):
        frame_character(body, margin=0.5)
    with pytest.raises(InputError, match="radius"):
        orbit_camera([0, 0, 0], 0.0)
