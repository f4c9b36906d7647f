"""Synthetic "drawings" with a known UDP, to test and measure ``conrt fit-sheet``.

An artist drawing a turnaround sheet deviates from the mesh the way this
module deviates from a toon render of it: the view is a little off the
labelled angle (yaw ±25°), the figure is bigger or smaller (±15 %) and off
centre (±10 % of the frame), arms and legs stand differently (±25° about
random axes, on top of an A-pose with the arms lowered 35-75°), limbs are
longer or shorter (±10 %, a smooth 2D stretch along each limb), outlines are
thicker or thinner, and the picture has another size and aspect. The true
UDP (rendered with the same camera and pose) goes through the same 2D
transformation, nearest-sampled so surface coordinates are never blended.

The pose is built here from the rest pose with its own random turns, not with
the fitter's parametrisation, so a fit cannot succeed by construction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from conrt.types import Character, Pose

LIMBS = (("leftUpperArm", "leftHand"), ("rightUpperArm", "rightHand"),
         ("leftUpperLeg", "leftFoot"), ("rightUpperLeg", "rightFoot"))


@dataclass
class Deviation:
    """How far a drawing may stray from the render (half-ranges)."""

    yaw_deg: float = 25.0
    scale: float = 0.15
    offset: float = 0.10
    limb_deg: float = 25.0
    limb_length: float = 0.10
    line_width: tuple[float, float] = (0.5, 2.5)  # toon ink half-width range, px per 256 px
    sizes: tuple[int, int] = (280, 560)  # the picture's longer side
    aspect: tuple[float, float] = (0.6, 1.0)  # shorter / longer side


def _turn(character: Character, joint: int, axis, angle: float) -> np.ndarray:
    """Local rotation that turns ``joint`` by ``angle`` about a character-space axis (from rest)."""
    from conrt.characters.posing import rotation_matrix

    rest = character.skeleton.rest_world[joint, :3, :3].astype(np.float64)
    u, _, vt = np.linalg.svd(rest)
    rest = u @ vt
    return (rest.T @ rotation_matrix(axis, angle).astype(np.float64) @ rest).astype(np.float32)


def drawing_pose(character: Character, rng: np.random.Generator, dev: Deviation) -> Pose:
    """A-pose (arms lowered 35-75°) with arms and legs turned by up to
    ``dev.limb_deg`` about random axes, spine and head by up to a third of it."""
    from conrt.characters.posing import pose_from_rotations

    human = character.humanoid
    names = character.skeleton.names
    rot: dict[str, np.ndarray] = {}

    def add(bone, axis, angle):
        if bone in human:
            j = human[bone]
            r = _turn(character, j, axis, angle)
            rot[names[j]] = r @ rot[names[j]] if names[j] in rot else r

    for bone, sign in (("leftUpperArm", -1.0), ("rightUpperArm", 1.0)):
        add(bone, (0, 0, 1), sign * math.radians(rng.uniform(35, 75)))
    lim = math.radians(dev.limb_deg)
    for bone in ("leftUpperArm", "leftLowerArm", "rightUpperArm", "rightLowerArm",
                 "leftUpperLeg", "leftLowerLeg", "rightUpperLeg", "rightLowerLeg"):
        add(bone, rng.normal(size=3), rng.uniform(-lim, lim))
    for bone in ("spine", "neck"):
        add(bone, rng.normal(size=3), rng.uniform(-lim, lim) / 3)
    return pose_from_rotations(character.skeleton, rot)


def _limb_stretch(points: np.ndarray, limbs, frame: float, rng, amount: float) -> np.ndarray:
    """Displacement [H, W, 2] (x, y) that stretches each limb segment (root,
    tip) in pixels by a random factor 1 ± ``amount`` along itself, fading
    out with the distance from the segment (Gaussian, ~6 % of the frame)."""
    h, w = points.shape[:2]
    disp = np.zeros((h, w, 2), np.float64)
    weight_sum = np.zeros((h, w), np.float64)
    sigma = 0.06 * frame
    for root, tip in limbs:
        seg = tip - root
        length = float(np.linalg.norm(seg))
        if length < 1:
            continue
        e = seg / length
        rel = points - root
        t = rel @ e
        closest = np.clip(t, 0, length)[..., None] * e
        dist = np.linalg.norm(rel - closest, axis=-1)
        beyond = np.maximum(t - length, 0)  # the hand/foot past the tip joint moves with it
        wgt = np.exp(-0.5 * (dist / sigma) ** 2) * np.exp(-0.5 * (beyond / (2 * sigma)) ** 2)
        f = rng.uniform(-amount, amount)
        disp += wgt[..., None] * (f * np.clip(t, 0, length + 2 * sigma))[..., None] * e
        weight_sum += wgt
    return disp / np.maximum(weight_sum, 1.0)[..., None]


def make_drawing(ctx, character: Character, label_yaw: float, seed: int, dev: Deviation = Deviation(),
                 render_size: int = 384, pose: Pose | None = None,
                 look: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """-> (drawing [H, W, 4] u8 straight RGBA, its true UDP [H, W, 4] f32,
    the truth: yaw, scale, offset, line width, size). ``pose``: the drawn
    pose (a turnaround's, shared by its views); default: this drawing's own
    (:func:`drawing_pose` from ``seed``). ``look``: the toon look drawn in
    (``sheet_fit.FIT_LOOKS``; default: the fitter's, ``FIT_LOOK``)."""
    from scipy.ndimage import map_coordinates

    from conrt.characters.posing import posed_positions
    from conrt.runtime.app.sheet_fit import FIT_LOOK, fit_style
    from conrt.shaders import ToonPass, UdpPass, frame_character, project

    rng = np.random.default_rng(seed)
    yaw = label_yaw + rng.uniform(-dev.yaw_deg, dev.yaw_deg)
    if pose is None:
        pose = drawing_pose(character, rng, dev)
    line = rng.uniform(*dev.line_width) * render_size / 256
    camera = frame_character(posed_positions(character, pose), yaw=yaw, size=render_size, margin=0.05)
    style = fit_style(FIT_LOOK if look is None else look, line)  # every inner line, as an artist inks them
    with ToonPass(ctx, render_size, render_size, style) as toon, \
            UdpPass(ctx, render_size, render_size) as udp_pass:
        toon.set_character(character)
        udp_pass.set_character(character)
        rgba = toon.run(pose, camera)
        udp = udp_pass.run(pose, camera).data
    # limb segments in render pixels
    human = character.humanoid
    joints = pose.joint_world[:, :3, 3]
    limbs = [(project(camera, joints[[human[a]]])[0], project(camera, joints[[human[b]]])[0])
             for a, b in LIMBS if a in human and b in human]

    longer = int(rng.integers(dev.sizes[0], dev.sizes[1] + 1))
    shorter = int(round(longer * rng.uniform(*dev.aspect)))
    h, w = (longer, shorter) if rng.random() < 0.7 else (shorter, longer)
    scale = 1 + rng.uniform(-dev.scale, dev.scale)
    square = 0.75 * min(h, w)  # where the render's frame lands before scale and offset
    offset = rng.uniform(-dev.offset, dev.offset, 2) * square
    k = scale * square / render_size  # output pixels per render pixel
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    # output pixel centre -> render pixel coordinates (x, y), then the limb stretch (backward, approximate)
    px = (xs + 0.5 - w / 2 - offset[0]) / k + render_size / 2
    py = (ys + 0.5 - h / 2 - offset[1]) / k + render_size / 2
    pts = np.stack([px, py], -1)
    disp = _limb_stretch(pts, limbs, render_size, rng, dev.limb_length)
    sx, sy = px - disp[..., 0] - 0.5, py - disp[..., 1] - 0.5  # to array indices
    f = rgba.astype(np.float32) / 255.0
    pm = np.concatenate([f[..., :3] * f[..., 3:], f[..., 3:]], -1)
    out = np.stack([map_coordinates(pm[..., c], [sy, sx], order=1, mode="constant") for c in range(4)], -1)
    a = out[..., 3:]
    rgb = np.where(a > 1e-4, out[..., :3] / np.maximum(a, 1e-4), 0)
    drawing = (np.clip(np.concatenate([rgb, a], -1), 0, 1) * 255 + 0.5).astype(np.uint8)
    iy = np.rint(sy).astype(np.int64)
    ix = np.rint(sx).astype(np.int64)
    inside = (iy >= 0) & (iy < render_size) & (ix >= 0) & (ix < render_size)
    true_udp = np.zeros((h, w, 4), np.float32)
    true_udp[inside] = udp[iy[inside], ix[inside]]
    truth = {"label_yaw": label_yaw, "yaw": float(yaw), "scale": float(scale),
             "offset_px": [float(x) for x in offset], "line_width": float(line), "size": [w, h], "seed": seed}
    return drawing, true_udp, truth


def make_turnaround(ctx, character: Character, labels, seed: int, dev: Deviation = Deviation(),
                    render_size: int = 384, look: str | None = None) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """A turnaround sheet: the views of ``labels`` (degrees) drawn in ONE pose
    (:func:`drawing_pose` from ``seed``), as an artist draws a character
    turning round; each view still has its own yaw, scale, offset, limb
    stretch, ink width and picture size (seeds ``seed * 100 + k + 1``) ->
    ``make_drawing``'s (drawing, true UDP, truth) per view."""
    pose = drawing_pose(character, np.random.default_rng(seed), dev)
    return [make_drawing(ctx, character, label, seed * 100 + k + 1, dev, render_size, pose, look)
            for k, label in enumerate(labels)]


def udp_error(fitted: np.ndarray, true: np.ndarray, drawing: np.ndarray) -> dict:
    """Mean UDP error on the drawing's foreground (alpha >= 128 where the true
    UDP covers it): Euclidean |xyz| and per-channel mean |dx|, in canonical-box units."""
    fg = (drawing[..., 3] >= 128) & (true[..., 3] > 0)
    d = fitted[fg, :3] - true[fg, :3]
    norm = np.linalg.norm(d, axis=-1)
    return {"udp_error": float(norm.mean()), "udp_error_median": float(np.median(norm)),
            "udp_abs_channel": float(np.abs(d).mean()), "udp_over_0.05": float((norm > 0.05).mean()),
            "pixels": int(fg.sum())}


def recolour(drawing: np.ndarray, seed: int, hue_deg: tuple[float, float] = (40.0, 140.0),
             saturation: tuple[float, float] = (0.7, 1.3), value: tuple[float, float] = (0.8, 1.15)) -> np.ndarray:
    """``drawing`` in another palette, as an artist's colours differ from the
    rig's toon colours: every hue turned by 40-140 degrees (either way), the
    saturation and brightness scaled (HSV, Pillow); alpha and ink (dark, low
    saturation) barely change. The true UDP is unchanged: only the colours move."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    hsv = np.asarray(Image.fromarray(np.ascontiguousarray(drawing[..., :3]), "RGB").convert("HSV")).astype(np.float32)
    turn = rng.uniform(*hue_deg) * rng.choice((-1.0, 1.0))
    hsv[..., 0] = (hsv[..., 0] + turn / 360.0 * 256.0) % 256.0
    hsv[..., 1] *= rng.uniform(*saturation)
    hsv[..., 2] *= rng.uniform(*value)
    rgb = np.asarray(Image.fromarray(np.clip(hsv + 0.5, 0, 255).astype(np.uint8), "HSV").convert("RGB"))
    return np.concatenate([rgb, drawing[..., 3:]], -1)
