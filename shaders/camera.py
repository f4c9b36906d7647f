"""Cameras for the render passes, and framing a character the way the official
CoNR data loader does: auto-centred and scaled into a square frame.

Conventions: OpenGL clip space, camera looking down -Z in eye space, matrices
``[4, 4]`` with column vectors (``M @ p``), see ``conrt/types.py``.

Orbit angles (degrees) around the character, who faces +Z:
- ``yaw = 0`` looks at the front (camera on +Z), ``90`` at the character's
  left side (camera on +X), ``180`` at the back.
- ``pitch > 0`` puts the camera above, looking down.
- ``roll`` turns the picture counter-clockwise about the viewing axis.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

from conrt.characters.posing import posed_positions
from conrt.errors import ConfigError, InputError
from conrt.types import Camera

Projection = Literal["orthographic", "perspective"]
PROJECTIONS = ("orthographic", "perspective")

# Sheet view yaws (degrees) in the order views are added, defined once:
# "artist": front, 3/4 left, side left, back, 3/4 right, side right, back 3/4s
# (`conrt sheet --order artist`, a classic turnaround: one side only up to 4 views);
# "spread": front, side, back, other side first (`conrt sheet`'s default and the
# runtime's drawn fallback sheet: the widest coverage from 4 views, both sides);
# "even": evenly around from the front (the default model's sample sheet, 6 views
# at 60 degrees). From 6 views on, artist and spread hold the same yaws.
SHEET_YAW_ORDERS = {
    "artist": (0.0, 45.0, 90.0, 180.0, -45.0, -90.0, 135.0, -135.0),
    "spread": (0.0, 90.0, 180.0, -90.0, 45.0, -45.0, 135.0, -135.0),
    "even": (),
}
# `conrt sheet`'s order (and `conrt eval --sheet-poses turnaround`'s): with 4 views a
# turnaround that sees both sides shades 0.86x the artist order's L1 on toon sheets,
# 0.86x no-outline, 0.83x unlit (docs/training.md, session 11)
SHEET_ORDER = "spread"


def sheet_yaws(views: int, order: str = SHEET_ORDER) -> list[float]:
    """Yaws of ``views`` sheet views: the first of ``SHEET_YAW_ORDERS[order]``,
    evenly around the character when there are more views than it lists."""
    if views < 1:
        raise ConfigError(f"a sheet needs at least 1 view, got {views}")
    if order not in SHEET_YAW_ORDERS:
        raise ConfigError(f"unknown sheet yaw order {order!r}; valid: {', '.join(SHEET_YAW_ORDERS)}")
    listed = SHEET_YAW_ORDERS[order]
    if views <= len(listed):
        return list(listed[:views])
    return [float(y) for y in np.linspace(0.0, 360.0, views, endpoint=False)]


SHEET_MARGIN = 0.05  # `conrt sheet`'s free border per side (its --margin default)


def sheet_view_camera(positions: np.ndarray, k: int, views: int, size: int, yaw: float = 0.0, pitch: float = 0.0,
                      roll: float = 0.0, margin: float = SHEET_MARGIN, projection: Projection = "orthographic",
                      fov: float = 30.0, order: str = SHEET_ORDER) -> tuple[float, Camera]:
    """View ``k`` of a ``views``-view sheet as ``conrt sheet`` draws it (the one
    place for that rule; ``conrt eval --sheet-poses turnaround`` draws the same):
    the k-th yaw of ``order`` (``SHEET_YAW_ORDERS``; default ``SHEET_ORDER``: front,
    side, back, other side, ...) turned by ``yaw``, framed on ``positions``
    (the view's posed vertices [V, 3]).
    -> (the view's yaw in degrees, its camera)."""
    view_yaw = yaw + sheet_yaws(views, order)[k]
    return view_yaw, frame_character(positions, yaw=view_yaw, pitch=pitch, roll=roll, size=size, margin=margin,
                                     projection=projection, fov=fov)


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """[4, 4] f64 world -> eye matrix."""
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    if np.linalg.norm(s) < 1e-9:  # looking straight up/down: any perpendicular up will do
        s = np.cross(f, (0.0, 0.0, -1.0) if abs(f[1]) > 0 else (1.0, 0.0, 0.0))
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def orthographic(left, right, bottom, top, near, far) -> np.ndarray:
    """[4, 4] f64 glOrtho."""
    m = np.eye(4)
    m[0, 0], m[1, 1], m[2, 2] = 2 / (right - left), 2 / (top - bottom), -2 / (far - near)
    m[0, 3] = -(right + left) / (right - left)
    m[1, 3] = -(top + bottom) / (top - bottom)
    m[2, 3] = -(far + near) / (far - near)
    return m


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """[4, 4] f64 gluPerspective."""
    f = 1.0 / math.tan(math.radians(fov_y_deg) / 2)
    m = np.zeros((4, 4))
    m[0, 0], m[1, 1] = f / aspect, f
    m[2, 2], m[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def orbit_direction(yaw: float, pitch: float) -> np.ndarray:
    """Unit vector from the target towards the camera for orbit angles in degrees."""
    y, p = math.radians(yaw), math.radians(pitch)
    return np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])


def orbit_view(center, distance: float, yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """[4, 4] f64 view matrix of a camera orbiting ``center`` at ``distance``."""
    center = np.asarray(center, np.float64)
    view = look_at(center + distance * orbit_direction(yaw, pitch), center)
    if roll:
        r = math.radians(roll)
        rot = np.eye(4)
        rot[:2, :2] = [[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]]
        view = rot @ view
    return view


def orbit_camera(
    center,
    radius: float,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    size: int = 256,
    projection: Projection = "orthographic",
    fov: float = 30.0,
) -> Camera:
    """A fixed camera that sees the whole sphere (``center``, ``radius``):
    steady framing for a clip (no per-frame re-centring)."""
    _check_common(size, projection, fov)
    if not (np.isfinite(radius) and radius > 0):
        raise InputError(f"orbit radius must be a positive number, got {radius}")
    view, proj0, _ = _base(np.asarray(center, np.float64), float(radius), yaw, pitch, roll, projection, fov)
    return Camera(view=view.astype(np.float32), proj=proj0.astype(np.float32), width=size, height=size)


def frame_character(
    positions: np.ndarray,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    size: int = 256,
    margin: float = 0.05,
    projection: Projection = "orthographic",
    fov: float = 30.0,
) -> Camera:
    """Camera that shows the posed vertices ``positions`` [V, 3] centred in a
    square ``size`` x ``size`` frame: the projected bounding box is centred and
    its longer side fills the frame minus ``margin`` (fraction of the frame
    width left free on each side). Like the official loader's crop-and-pad,
    but done in clip space so pixels stay exact.
    """
    _check_common(size, projection, fov)
    pts = np.asarray(positions, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise InputError(f"frame_character needs [V, 3] positions, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise InputError("cannot frame a character with NaN/inf vertex positions")
    if not 0 <= margin < 0.5:
        raise ConfigError(f"margin must be in [0, 0.5), got {margin}")
    lo, hi = pts.min(0), pts.max(0)
    center = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo)) / 2
    if radius <= 0:
        raise InputError("cannot frame a character whose vertices are all at one point")
    view, proj0, _ = _base(center, radius, yaw, pitch, roll, projection, fov)
    clip = (proj0 @ view @ np.c_[pts, np.ones(len(pts))].T).T
    ndc = clip[:, :2] / clip[:, 3:4]
    nlo, nhi = ndc.min(0), ndc.max(0)
    half = float((nhi - nlo).max()) / 2
    if half <= 0:
        raise InputError("the character projects to a single point from this view")
    c = (nlo + nhi) / 2
    s = (1.0 - 2.0 * margin) / half
    # Clip-space crop: ndc' = s * (ndc - c), i.e. x_c' = s * x_c - s * c * w_c.
    crop = np.array([[s, 0, 0, -s * c[0]], [0, s, 0, -s * c[1]], [0, 0, 1, 0], [0, 0, 0, 1]])
    proj = crop @ proj0
    return Camera(view=view.astype(np.float32), proj=proj.astype(np.float32), width=size, height=size)


def view_proj(camera: Camera) -> np.ndarray:
    """[4, 4] f32 ``proj @ view``, multiplied in f64 (every pass uses this one
    product so their vertices land on identical pixels)."""
    return (camera.proj.astype(np.float64) @ camera.view.astype(np.float64)).astype(np.float32)


# The passes draw upside down: with clip y negated, GL's bottom-up row order
# in memory becomes the picture's top-down order, so neither the read-back nor
# a GPU consumer of the texture has to flip anything.
_FLIP_Y = np.diag([1.0, -1.0, 1.0, 1.0])


def raster_view_proj(camera: Camera, flip_y: bool = True) -> np.ndarray:
    """[4, 4] f32 matrix every pass draws with: ``flip_y @ proj @ view`` in f64
    (one product shared by all passes, so their vertices land on identical
    pixels; the y flip stores row 0 = top in the render targets). Flipping y
    mirrors the winding: passes treat clockwise as front facing.
    ``flip_y=False`` gives plain ``proj @ view`` (GL bottom-up rows)."""
    m = camera.proj.astype(np.float64) @ camera.view.astype(np.float64)
    return ((_FLIP_Y @ m) if flip_y else m).astype(np.float32)


def eye_depth_coefficients(camera: Camera, unit: float) -> tuple[float, float, float, float]:
    """The uniform ``u_eye_depth`` of ``glsl/include/eye_depth.glsl``: a fragment's eye-space depth in
    units of ``unit`` (the character's height) from its NDC depth z, ``(z c0 - c1) / (z c2 - c3)``,
    for a projection whose depth and w rows depend on the eye z alone (orthographic, perspective)."""
    p = camera.proj.astype(np.float64)
    if p[2, 0] or p[2, 1] or p[3, 0] or p[3, 1]:
        raise ConfigError("the camera's projection mixes x or y into depth; eye depths need an orthographic or "
                          "perspective projection")
    if not unit > 0:
        raise ConfigError(f"eye depth unit must be positive, got {unit}")
    return float(p[3, 3]), float(p[2, 3]), float(unit * p[3, 2]), float(unit * p[2, 2])


def project(camera: Camera, points: np.ndarray) -> np.ndarray:
    """[N, 3] character-space points -> [N, 2] f64 pixel coordinates (x right,
    y down, row 0 = top, pixel centres at +0.5), matching UdpFrame rows."""
    p = np.asarray(points, np.float64)
    clip = (camera.proj.astype(np.float64) @ camera.view.astype(np.float64) @ np.c_[p, np.ones(len(p))].T).T
    ndc = clip[:, :3] / clip[:, 3:4]
    x = (ndc[:, 0] + 1) / 2 * camera.width
    y = (1 - ndc[:, 1]) / 2 * camera.height
    return np.stack([x, y], 1)


# ---------------------------------------------------------------------------


def _check_common(size: int, projection: str, fov: float) -> None:
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"frame size must be a positive integer, got {size!r}")
    if projection not in PROJECTIONS:
        raise ConfigError(f"unknown projection {projection!r}; choose one of {', '.join(PROJECTIONS)}")
    if projection == "perspective" and not 1.0 <= fov <= 170.0:
        raise ConfigError(f"perspective fov must be in [1, 170] degrees, got {fov}")


def _base(center, radius, yaw, pitch, roll, projection, fov):
    """View at a distance that keeps the bounding sphere in front of the
    camera, and a projection that shows the sphere; depth range hugs it."""
    if projection == "perspective":
        distance = radius / math.sin(math.radians(fov) / 2) * 1.05
        proj = perspective(fov, 1.0, distance - radius * 1.02, distance + radius * 1.02)
    else:
        distance = 3.0 * radius
        r = radius * 1.02
        proj = orthographic(-r, r, -r, r, distance - r, distance + r)
    view = orbit_view(center, distance, yaw, pitch, roll)
    return view, proj, distance


def motion_radius(character, poses, follow: int, rest_follow, center_y: float, margin: float = 1.04) -> float:
    """Orbit radius that keeps every posed vertex of ``poses`` in frame at any yaw
    (pitch 0) for the follow camera of ``conrt.runtime.app.frame_loop.RasterStage``:
    centred on the ``follow`` joint's x/z, at ``center_y`` plus half its rise."""
    rest_follow = np.asarray(rest_follow, np.float64)
    reach = 0.0
    for pose in poses:
        p = pose.joint_world[follow, :3, 3].astype(np.float64)
        pts = posed_positions(character, pose).astype(np.float64)
        d = pts - (p[0], center_y + (p[1] - rest_follow[1]) * 0.5, p[2])
        reach = max(reach, float(np.abs(d[:, 1]).max()), float(np.hypot(d[:, 0], d[:, 2]).max()))
    return reach * margin
