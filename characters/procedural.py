"""Seeded procedural anime characters.

``generate(seed, **overrides) -> Character`` builds a T-posed humanoid (+Y up,
facing +Z, feet at y = 0, 1.5-1.7 m, a big head of 1/5-1/6 of the height)
from parametric primitives (lofted tubes and ellipsoids):

- skeleton: exactly the VRM humanoid names of ``conrt.types.HUMANOID_BONES``
  plus hair chain joints ``hair_L_<i>``, ``hair_R_<i>`` (twin tails),
  ``hair_pony_<i>`` (ponytail) and ``hair_back<k>_<i>`` (long hair locks),
  root -> tip. Rest rotations are identity: every joint frame is aligned with
  character space, so ``rest_world`` is a pure translation.
- mesh: head with a painted face (face texture atlas, planar-azimuthal UVs),
  hair cap + bangs + optional long hair / ponytail / twin tails, top with
  sleeves, skirt / shorts / pants, socks and shoes. Appearance (part colours,
  stripes, trims, plaid) is a function of the rest position + part and lives
  in COLOR_0, so it stays glued to the body however it moves.
- regions: the skirt as a CLOTH SimRegion (waistband ring pinned) and one HAIR
  SimRegion per strand chain.

Everything random is drawn from ``numpy.random.default_rng(seed)`` up front
into a ``CharacterParams``; overrides replace fields afterwards, so overriding
one field never changes the others. The params are stored in ``meta``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass

import numpy as np

from conrt.characters.colour import srgb_to_linear
from conrt.errors import ConfigError
from conrt.types import (
    ALPHA_MODES,
    HUMANOID_BONES,
    CanonicalBox,
    Character,
    Material,
    Part,
    SimRegion,
    Skeleton,
    SkinnedMesh,
)

log = logging.getLogger(__name__)

__all__ = ["CharacterParams", "sample_params", "generate", "CHOICES"]

# ---------------------------------------------------------------------------
# Parameters

# Valid values of the categorical params (overrides are checked against these).
CHOICES = {
    "bangs": ("full", "parted", "side"),
    "tails": ("none", "twin", "pony"),
    "top_pattern": ("plain", "stripes", "trim", "two_tone"),
    "sleeves": ("none", "short", "long"),
    "bottom": ("skirt", "shorts", "pants"),
    "skirt_pattern": ("plain", "trim", "plaid", "stripes"),
    "socks": ("none", "ankle", "knee", "thigh"),
    "mouth": ("smile", "open", "small"),
    "build": ("girl", "boy"),
    "emblem_shape": ("star", "heart", "cross", "dot"),
}

# Anime-like palettes in sRGB 0..255.
_HAIR = [
    (255, 150, 190), (250, 120, 170), (120, 170, 255), (70, 110, 220), (205, 210, 225),
    (235, 235, 245), (40, 38, 52), (95, 60, 45), (150, 95, 60), (250, 215, 120),
    (240, 190, 90), (200, 50, 60), (150, 110, 215), (110, 200, 170), (255, 160, 90),
    (60, 70, 110),
]
_EYES = [
    (60, 120, 230), (40, 170, 220), (210, 50, 70), (60, 170, 90), (150, 80, 200),
    (220, 160, 40), (120, 70, 40), (240, 100, 160), (60, 200, 190), (230, 90, 40),
]
_SKIN = [(255, 236, 224), (252, 226, 208), (247, 215, 192), (240, 200, 170), (226, 178, 145)]
_CLOTH = [
    (35, 45, 85), (245, 245, 245), (200, 40, 55), (30, 30, 35), (120, 125, 140),
    (245, 190, 205), (170, 210, 240), (250, 225, 140), (90, 150, 90), (120, 70, 150),
    (230, 120, 60), (60, 110, 180), (150, 40, 60), (210, 200, 180),
]


@dataclass(frozen=True)
class CharacterParams:
    """Everything that makes one character; all colours sRGB 0..1."""

    height: float  # metres, 1.5..1.7
    heads: float  # height in head heights, 5..6 (anime: big head)
    head_width: float  # head x radius / y radius
    shoulder: float  # half shoulder width / head height
    hip: float  # hip width factor
    leg: float  # leg joint height / height
    bust: float  # chest depth factor
    limb: float  # limb thickness factor
    skin_color: tuple
    hair_color: tuple
    eye_color: tuple
    eye_size: float
    eye_spacing: float
    mouth: str
    blush: bool
    bangs: str
    bangs_count: int
    bangs_length: float  # 0 = forehead, 1 = down to the eyes
    side_locks: bool
    long_hair: bool
    hair_length: float  # where long hair ends, fraction of height from the top
    hair_locks: int
    tails: str
    tail_length: float
    hairband: bool
    accent_color: tuple
    top_color: tuple
    top_pattern: str
    trim_color: tuple
    sleeves: str
    bottom: str
    bottom_color: tuple
    skirt_length: float  # metres below the leg joints... fraction of thigh
    skirt_flare: float
    skirt_pleats: int
    skirt_pattern: str
    socks: str
    socks_color: tuple
    socks_stripes: bool
    shoe_color: tuple
    # (fields added later go last, so older seeds keep their other values)
    eye_tilt: float = 0.12  # radians, outer corners up
    eye_round: float = 1.3  # eye height / width
    ahoge: bool = False  # the single upright strand on the crown
    sailor: bool = False  # sailor collar (painted) with a bow at the chest
    build: str = "girl"  # "boy": flat chest, broader shoulders, short spiky hair, pants/shorts
    # Fine detail (drawn from their own stream, so every seed keeps the params above):
    buttons: int = 0  # buttons down the front of the top, 0..4
    emblem: bool = False  # a printed badge on the left chest (texture: a symbol in a ring)
    emblem_shape: str = "star"  # the badge's symbol, CHOICES["emblem_shape"]
    strings: bool = False  # two cords hanging from the collar, with aglets
    # Facial morph targets (blink lids over the painted eyes, an opening mouth; no rng draws):
    expressions: bool = True
    # Cut-out layers as real (VRoid) characters have them (no rng draws, off by default so every
    # seed keeps its mesh): a glTF MASK eye-highlight card over each eye (texture alpha cut-out,
    # double-sided) and a BLEND blush card on each cheek (alpha fading out, single-sided)
    layers: bool = False
    # The painted eyes (sclera, iris, pupil, highlights, lashes; no rng draws). False: the same
    # character with a face texture without them (brows, mouth, blush kept): the frames the eval's
    # eye score compares a prediction with (``training.losses.eyes_kept``)
    painted_eyes: bool = True


def _pick(rng, palette, hue_jitter: bool = True) -> tuple:
    c = np.asarray(palette[int(rng.integers(len(palette)))], np.float64) / 255.0
    # small jitter so two characters with the "same" colour still differ a bit
    # (skin: brightness only, a hue shift would look ill)
    c = np.clip(c + (rng.normal(0, 0.025, 3) if hue_jitter else rng.normal(0, 0.02)), 0, 1)
    return tuple(round(float(x), 4) for x in c)


def sample_params(seed: int) -> CharacterParams:
    """Draw a character's params from ``default_rng(seed)`` (deterministic)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    u = lambda a, b: round(float(rng.uniform(a, b)), 4)  # noqa: E731
    ch = lambda name, p=None: str(rng.choice(CHOICES[name], p=p))  # noqa: E731
    hair = _pick(rng, _HAIR)
    top = _pick(rng, _CLOTH)
    bottom = _pick(rng, _CLOTH)
    p = CharacterParams(
        height=u(1.5, 1.7),
        heads=u(5.0, 6.0),
        head_width=u(0.84, 0.95),
        shoulder=u(0.52, 0.62),
        hip=u(0.9, 1.1),
        leg=u(0.47, 0.52),
        bust=u(0.9, 1.15),
        limb=u(0.9, 1.1),
        skin_color=_pick(rng, _SKIN, hue_jitter=False),
        hair_color=hair,
        eye_color=_pick(rng, _EYES),
        eye_size=u(0.85, 1.15),
        eye_spacing=u(0.9, 1.1),
        mouth=ch("mouth"),
        blush=bool(rng.random() < 0.6),
        bangs=ch("bangs", [0.5, 0.3, 0.2]),
        bangs_count=int(rng.integers(5, 10)),
        bangs_length=u(0.3, 1.0),
        side_locks=bool(rng.random() < 0.7),
        long_hair=bool(rng.random() < 0.5),
        hair_length=u(0.35, 0.6),
        hair_locks=int(rng.integers(3, 6)),
        tails=ch("tails", [0.45, 0.3, 0.25]),
        tail_length=u(0.22, 0.45),
        hairband=bool(rng.random() < 0.35),
        accent_color=_pick(rng, _CLOTH),
        top_color=top,
        top_pattern=ch("top_pattern"),
        trim_color=_pick(rng, _CLOTH),
        sleeves=ch("sleeves", [0.2, 0.45, 0.35]),
        bottom=ch("bottom", [0.6, 0.2, 0.2]),
        bottom_color=bottom,
        skirt_length=u(0.35, 0.8),
        skirt_flare=u(0.25, 0.6),
        skirt_pleats=int(rng.integers(8, 17)),
        skirt_pattern=ch("skirt_pattern"),
        socks=ch("socks"),
        socks_color=_pick(rng, _CLOTH),
        socks_stripes=bool(rng.random() < 0.3),
        shoe_color=_pick(rng, _CLOTH),
        eye_tilt=u(0.0, 0.25),
        eye_round=u(1.1, 1.5),
        ahoge=bool(rng.random() < 0.3),
        sailor=bool(rng.random() < 0.25),
    )
    # Drawn last so the girls' params of every seed stay as they were.
    if rng.random() < 0.3:
        p = dataclasses.replace(
            p, build="boy", bust=u(0.62, 0.75), hip=u(0.85, 0.95), shoulder=min(p.shoulder + u(0.04, 0.08), 0.7),
            head_width=u(0.86, 0.92), long_hair=False, tails="none", hairband=False, sailor=False, blush=False,
            side_locks=False,
            bottom="pants" if rng.random() < 0.6 else "shorts", eye_round=u(0.95, 1.15), eye_size=u(0.8, 1.0),
            bangs=str(rng.choice(["full", "side"])), bangs_length=u(0.2, 0.7),
            socks="none" if rng.random() < 0.5 else "ankle", mouth=str(rng.choice(["small", "smile"])),
        )
    # Fine detail: a separate stream, so adding it kept every other param of every seed.
    fine = np.random.default_rng([int(seed), 15])
    p = dataclasses.replace(
        p, buttons=int(fine.choice([0, 0, 2, 3, 4])), emblem=bool(fine.random() < 0.45),
        emblem_shape=str(fine.choice(CHOICES["emblem_shape"])), strings=bool(fine.random() < 0.4) and not p.sailor)
    return p


def _apply_overrides(params: CharacterParams, overrides: dict) -> CharacterParams:
    fields = {f.name: f for f in dataclasses.fields(CharacterParams)}
    clean = {}
    for key, value in overrides.items():
        if key not in fields:
            raise ConfigError(f"unknown character param {key!r}; valid: {', '.join(fields)}")
        old = getattr(params, key)
        if key in CHOICES:
            if value not in CHOICES[key]:
                raise ConfigError(f"{key} must be one of {', '.join(CHOICES[key])}, got {value!r}")
        elif isinstance(old, bool):
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ConfigError(f"{key} must be true/false, got {value!r}")
                value = value.lower() in ("1", "true", "yes")
            value = bool(value)
        elif isinstance(old, int):
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be an integer, got {value!r}") from None
        elif isinstance(old, float):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be a number, got {value!r}") from None
            if not np.isfinite(value):
                raise ConfigError(f"{key} must be finite, got {value!r}")
        elif isinstance(old, tuple):
            try:
                value = tuple(float(x) for x in value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be an sRGB triple in 0..1, got {value!r}") from None
            if len(value) != 3 or not all(0 <= x <= 1 for x in value):
                raise ConfigError(f"{key} must be an sRGB triple in 0..1, got {value!r}")
        clean[key] = value
    p = dataclasses.replace(params, **clean)
    _check_ranges(p)
    return p


def _check_ranges(p: CharacterParams) -> None:
    ranges = {
        "height": (0.8, 2.5), "heads": (3.0, 8.0), "head_width": (0.6, 1.2), "shoulder": (0.3, 0.9),
        "hip": (0.6, 1.5), "leg": (0.35, 0.6), "bust": (0.6, 1.5), "limb": (0.6, 1.5),
        "eye_size": (0.5, 1.5), "eye_spacing": (0.7, 1.3), "bangs_count": (3, 14),
        "bangs_length": (0.0, 1.2), "hair_length": (0.2, 0.85), "hair_locks": (1, 6),
        "tail_length": (0.1, 0.6), "skirt_length": (0.15, 1.2), "skirt_flare": (0.0, 1.0),
        "skirt_pleats": (0, 32), "eye_tilt": (-0.3, 0.4), "eye_round": (0.8, 2.0), "buttons": (0, 4),
    }
    for key, (lo, hi) in ranges.items():
        v = getattr(p, key)
        if not lo <= v <= hi:
            raise ConfigError(f"{key}={v} is out of range [{lo}, {hi}]")


# ---------------------------------------------------------------------------
# Colour helpers


def _scale(c, k) -> tuple:
    return tuple(float(x) for x in np.clip(np.asarray(c) * k, 0, 1))


def _mix(a, b, t) -> tuple:
    return tuple(float(x) for x in np.asarray(a) * (1 - t) + np.asarray(b) * t)


# ---------------------------------------------------------------------------
# Geometry: every primitive is a grid of rings [R, C, 3] (seam column
# duplicated, so per-vertex colours/UVs never wrap) turned into triangles.


class _Builder:
    """Collects primitives: positions, per-vertex joints/weights, parts, colours, uvs."""

    def __init__(self):
        self.pos, self.tri, self.jnt, self.wgt, self.part, self.col, self.uv = [], [], [], [], [], [], []
        self.nrm = []
        self.count = 0

    def add(self, grid, joints, weights, part, colors, uv=None, center=None, wrap=False):
        """grid [R, C, 3]; joints/weights [R*C, 4]; part int or [R*C]; colors [R*C, 3] linear.

        ``wrap``: the last column repeats the first and is dropped, the
        triangles wrap around instead (one connected surface without a seam,
        what cloth simulation wants; colours/UVs must then be seam-free)."""
        R, C, _ = grid.shape
        if wrap:
            keep = np.tile(np.arange(C) < C - 1, R)
            grid = grid[:, :-1]
            joints, weights, colors = joints[keep], weights[keep], colors[keep]
            part = part[keep] if np.ndim(part) else part
            uv = uv[keep] if uv is not None else None
            C -= 1
        P = grid.reshape(-1, 3)
        i, j = np.meshgrid(np.arange(R - 1), np.arange(C if wrap else C - 1), indexing="ij")
        a = (i * C + j).ravel()
        jn = ((j + 1) % C).ravel()
        i = i.ravel()
        b, c, d = a + C, (i + 1) * C + jn, i * C + jn
        tri = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
        # drop degenerate triangles (pole rings collapse to one point)
        e1 = P[tri[:, 1]] - P[tri[:, 0]]
        e2 = P[tri[:, 2]] - P[tri[:, 0]]
        fn = np.cross(e1, e2)
        area = np.linalg.norm(fn, axis=1)
        keep = area > 1e-10
        tri, fn = tri[keep], fn[keep]
        # orient outward: away from the ring centre line
        if center is None:
            center = grid.mean(1)  # [R, 3]
        ring = tri[:, 0] // C
        out = P[tri].mean(1) - center[ring]
        if np.sum(np.einsum("ij,ij->i", fn, out)) < 0:
            tri = tri[:, ::-1]
            fn = -fn
        # smooth normals: area-weighted face normals, welded over coincident points
        n = np.zeros_like(P)
        for k in range(3):
            np.add.at(n, tri[:, k], fn)
        key = np.round(P / 1e-6).astype(np.int64)
        _, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.ravel()
        acc = np.zeros((inv.max() + 1, 3))
        np.add.at(acc, inv, n)
        n = acc[inv]
        ln = np.linalg.norm(n, axis=1, keepdims=True)
        fallback = P - center[np.arange(R * C) // C]
        n = np.where(ln > 1e-12, n / np.maximum(ln, 1e-12), fallback / np.maximum(np.linalg.norm(fallback, axis=1, keepdims=True), 1e-12))
        self.pos.append(P)
        self.nrm.append(n)
        self.tri.append(tri + self.count)
        self.jnt.append(joints)
        self.wgt.append(weights)
        self.part.append(np.broadcast_to(np.asarray(part, np.uint8), (R * C,)).copy())
        self.col.append(colors)
        self.uv.append(uv if uv is not None else np.tile(_WHITE_UV, (R * C, 1)))
        start = self.count
        self.count += R * C
        return np.arange(start, self.count)  # ring-major: ring r is [r*C, (r+1)*C)


def _frames(path: np.ndarray, up_hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-point frame (e1, e2) perpendicular to the path tangent; e1 ~ up_hint."""
    t = np.gradient(path, axis=0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    up = np.broadcast_to(up_hint, path.shape)
    e1 = up - np.einsum("ij,ij->i", up, t)[:, None] * t
    e1 /= np.maximum(np.linalg.norm(e1, axis=1, keepdims=True), 1e-12)
    e2 = np.cross(t, e1)
    return e1, e2


def _loft(path, ra, rb, e1, e2, segs, phase=0.0):
    """Tube around ``path`` [R, 3]: point = path + ra cos(phi) e1 + rb sin(phi) e2.
    ra/rb [R] or [R, C]. Returns grid [R, C, 3] and phi [C]."""
    phi = np.linspace(0, 2 * np.pi, segs + 1) + phase
    ra = np.asarray(ra, np.float64)
    rb = np.asarray(rb, np.float64)
    if ra.ndim == 1:
        ra = ra[:, None]
    if rb.ndim == 1:
        rb = rb[:, None]
    grid = (path[:, None, :] + (ra * np.cos(phi))[..., None] * e1[:, None, :]
            + (rb * np.sin(phi))[..., None] * e2[:, None, :])
    return grid, phi


def _with_breaks(s: np.ndarray, breaks) -> tuple[np.ndarray, np.ndarray]:
    """Ring parameters with every break in (0, 1) inserted twice, so colours and
    radii can change sharply there (a hem). Returns (s, s_col): s_col nudges
    the two copies to either side, for deciding which side a ring is on."""
    s = np.asarray(s, np.float64)
    eps = 1e-5
    extra = [b for b in breaks if 0.0 < b < 1.0]
    s = s[np.all(np.abs(s[:, None] - np.asarray(extra or [2.0])[None, :]) > 1e-4, axis=1)]
    s_all = np.concatenate([s, extra, extra])
    s_col = np.concatenate([s, np.asarray(extra) - eps, np.asarray(extra) + eps])
    order = np.argsort(s_col, kind="stable")
    return s_all[order], s_col[order]


def _end_profile(s, r0=0.08, r1=0.08):
    """Radius factor closing a tube at both ends smoothly (1 in the middle)."""
    a = np.clip(s / r0, 0, 1) if r0 > 0 else np.ones_like(s)
    b = np.clip((1 - s) / r1, 0, 1) if r1 > 0 else np.ones_like(s)
    return np.sqrt(1 - (1 - a) ** 2) * np.sqrt(1 - (1 - b) ** 2)


def _seg_weights(points, segs, power=4.0):
    """Skin weights by distance to bone segments. segs: list of (joint, a[3], b[3]).
    Returns joints [N, 4] u16, weights [N, 4] f32 (4 largest, normalised)."""
    N = len(points)
    d = np.empty((N, len(segs)))
    for k, (_, a, b) in enumerate(segs):
        ab = np.asarray(b) - np.asarray(a)
        t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-12), 0, 1)
        d[:, k] = np.linalg.norm(points - (a + t[:, None] * ab), axis=1)
    w = 1.0 / np.maximum(d, 1e-4) ** power
    return _top4(np.array([s[0] for s in segs]), w)


def _top4(joint_ids, w):
    """Keep the 4 largest weights per row and renormalise."""
    N, K = w.shape
    if K < 4:
        w = np.concatenate([w, np.zeros((N, 4 - K))], 1)
        joint_ids = np.concatenate([joint_ids, np.full(4 - K, joint_ids[0])])
        K = 4
    order = np.argsort(-w, axis=1)[:, :4]
    ww = np.take_along_axis(w, order, 1)
    ww = np.where(ww < 1e-3 * ww[:, :1], 0, ww)
    ww /= ww.sum(1, keepdims=True)
    return joint_ids[order].astype(np.uint16), ww.astype(np.float32)


def _chain_weights(s, chain, n):
    """Weights along a strand: arc-length fraction s [N] in 0..1 over the chain
    joints (tent functions between neighbours)."""
    f = np.clip(s, 0, 1) * (len(chain) - 1)
    k = np.minimum(np.floor(f).astype(int), len(chain) - 2) if len(chain) > 1 else np.zeros(len(s), int)
    t = f - k
    joints = np.zeros((n, 4), np.uint16)
    weights = np.zeros((n, 4), np.float32)
    ch = np.asarray(chain)
    if len(chain) == 1:
        joints[:, 0] = ch[0]
        weights[:, 0] = 1
        return joints, weights
    joints[:, 0] = ch[k]
    joints[:, 1] = ch[k + 1]
    weights[:, 0] = 1 - t
    weights[:, 1] = t
    joints[:, 2:] = ch[k][:, None]
    return joints, weights


def _rigid(joint, n):
    j = np.zeros((n, 4), np.uint16)
    j[:] = joint
    w = np.zeros((n, 4), np.float32)
    w[:, 0] = 1
    return j, w


def _smooth_path(ctrl: np.ndarray, n: int) -> np.ndarray:
    """Catmull-Rom through control points [K, 3], resampled to n points by arc length."""
    P = np.asarray(ctrl, np.float64)
    P = np.concatenate([2 * P[:1] - P[1:2], P, 2 * P[-1:] - P[-2:-1]])
    pts = []
    for i in range(1, len(P) - 2):
        t = np.linspace(0, 1, 16, endpoint=False)[:, None]
        p0, p1, p2, p3 = P[i - 1], P[i], P[i + 1], P[i + 2]
        pts.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    pts.append(P[-2:-1])
    pts = np.concatenate(pts)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    arc = np.concatenate([[0], np.cumsum(seg)])
    target = np.linspace(0, arc[-1], n)
    return np.stack([np.interp(target, arc, pts[:, k]) for k in range(3)], 1)


# ---------------------------------------------------------------------------
# Face texture (painted in UV space; the texture image is the face seen from
# the front: u -> character's left (+x, screen right), v -> down).

_TEX = 256
_WHITE_UV = np.array([8.0 / _TEX, 8.0 / _TEX])  # centre of a white 16x16 block at the top-left
_FACE_THETA = np.radians(64.0)  # polar angle (from +z) mapped to the face disk rim
_FACE_R = 0.46  # uv radius of the face disk


def _face_uv(theta, phi):
    """Azimuthal map of head directions to the face disk: theta from +z, phi about z."""
    r = _FACE_R * np.minimum(theta / _FACE_THETA, 1.0)
    return np.stack([0.5 + r * np.cos(phi), 0.5 - r * np.sin(phi)], -1)


def _dir_uv(d):
    d = np.asarray(d, np.float64)
    d = d / np.linalg.norm(d)
    return _face_uv(np.arccos(np.clip(d[2], -1, 1)), np.arctan2(d[1], d[0]))


def _chin(grid, head_c, rx, ry, rz):
    """Anime chin, in place: narrow the lower half of the head, pull it forward a little."""
    rel = (grid - head_c) / np.array([rx, ry, rz])
    low = np.clip(-rel[..., 1], 0, 1)
    grid[..., 0] *= 1 - 0.38 * low ** 1.6
    grid[..., 2] += 0.18 * rz * low ** 2 * np.clip(rel[..., 2] + 0.3, 0, 1)
    grid[..., 2] -= 0.06 * rz * low ** 2 * np.clip(-rel[..., 2], 0, 1)


def _paint_face(p: CharacterParams, feats: dict) -> np.ndarray:
    """[T, T, 4] u8 sRGB face texture."""
    T = _TEX
    # paint only the window holding the features (half the generation time
    # otherwise goes into full-texture passes)
    pts = np.array([*feats["eye_uv"].values(), *feats["brow_uv"].values(), feats["nose_uv"], feats["mouth_uv"]])
    pad = 2.2 * max(feats["eye_a"], feats["eye_b"])
    lo = np.clip(np.floor((pts.min(0) - pad) * T), 0, T).astype(int)
    hi = np.clip(np.ceil((pts.max(0) + pad) * T), 0, T).astype(int)
    yy, xx = np.mgrid[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32) + 0.5
    u, v = xx / T, yy / T
    px = 1.0 / T
    full = np.empty((T, T, 3), np.float32)
    full[:] = p.skin_color
    img = full[lo[1]:hi[1], lo[0]:hi[0]]  # a view: painting it paints the texture

    def put(mask, color, alpha=1.0):
        m = np.clip(mask, 0, 1)[..., None] * alpha
        img[:] = img * (1 - m) + np.asarray(color) * m

    def ellipse(cx, cy, a, b, rot=0.0):
        x, y = u - cx, v - cy
        c, s = np.cos(rot), np.sin(rot)
        xr, yr = c * x + s * y, -s * x + c * y
        k = np.sqrt((xr / a) ** 2 + (yr / b) ** 2)
        return np.clip((1 - k) * min(a, b) / px + 0.5, 0, 1)  # anti-aliased coverage

    eye_a, eye_b = feats["eye_a"], feats["eye_b"]
    iris = np.asarray(p.eye_color)
    dark = _scale(iris, 0.35)
    lash = _scale(p.hair_color, 0.25)
    lash = _mix(lash, (0.12, 0.08, 0.1), 0.6)
    for side in (-1, 1):
        cx, cy = feats["eye_uv"][side]
        # sclera (a slightly tilted, flattened ellipse)
        tilt = side * p.eye_tilt
        eye = ellipse(cx, cy, eye_a, eye_b, tilt) * p.painted_eyes
        put(eye, (1.0, 1.0, 1.0))
        # iris with a dark top (lid shadow) and a light bottom
        ix, iy = cx, cy + eye_b * 0.08
        iris_m = ellipse(ix, iy, eye_a * 0.72, eye_b * 0.9) * eye
        grad = np.clip((v - (iy - eye_b)) / (2 * eye_b), 0, 1)[..., None]
        col = np.asarray(dark) * (1 - grad) + np.clip(iris * 1.15 + 0.08, 0, 1) * grad
        m = iris_m[..., None]
        img[:] = img * (1 - m) + col * m
        put(ellipse(ix, iy + eye_b * 0.05, eye_a * 0.34, eye_b * 0.45) * eye, _scale(iris, 0.2))
        # upper lash: the band just above the eye, thick, with an outer flick
        upper = ellipse(cx, cy - eye_b * 0.08, eye_a * 1.12, eye_b * 1.02, tilt) * (1 - eye)
        upper *= np.clip((cy - v) / (eye_b * 0.15) + 1.2, 0, 1) * p.painted_eyes
        put(upper, lash)
        put(ellipse(cx + side * eye_a * 0.95, cy - eye_b * 0.55, eye_a * 0.32, eye_b * 0.12, side * 0.5), lash,
            float(p.painted_eyes))
        # lower lash hint
        lower = ellipse(cx + side * eye_a * 0.3, cy + eye_b * 0.98, eye_a * 0.45, eye_b * 0.06)
        put(lower, lash, 0.7 * p.painted_eyes)
        # highlights
        put(ellipse(ix - side * eye_a * 0.25, iy - eye_b * 0.4, eye_a * 0.22, eye_a * 0.22) * eye, (1, 1, 1))
        put(ellipse(ix + side * eye_a * 0.22, iy + eye_b * 0.45, eye_a * 0.1, eye_a * 0.1) * eye, (1, 1, 1), 0.9)
        # brow: a thin arc
        bx, by = feats["brow_uv"][side]
        brow = ellipse(bx, by, eye_a * 1.05, eye_b * 0.22, side * 0.08) * np.clip((by - v) / (eye_b * 0.05) + 1, 0, 1)
        put(brow, _scale(p.hair_color, 0.55))
        if p.blush:
            bx, by = cx + side * eye_a * 0.2, cy + eye_b * 1.55
            put(ellipse(bx, by, eye_a * 0.8, eye_b * 0.25), (1.0, 0.55, 0.6), 0.35)
    # nose: a tiny shade
    nx, ny = feats["nose_uv"]
    put(ellipse(nx, ny, px * 2.2, px * 1.6), _scale(p.skin_color, 0.75), 0.8)
    # mouth
    mx, my = feats["mouth_uv"]
    mw = eye_a * 0.7
    line = (0.35, 0.15, 0.15)
    if p.mouth == "open":
        put(ellipse(mx, my, mw * 0.8, mw * 0.55), (0.55, 0.15, 0.18))
        put(ellipse(mx, my + mw * 0.3, mw * 0.5, mw * 0.25) * ellipse(mx, my, mw * 0.8, mw * 0.55), (0.95, 0.45, 0.5))
        put(ellipse(mx, my - mw * 0.45, mw * 0.85, mw * 0.12), line, 0.9)
    elif p.mouth == "smile":
        arc = ellipse(mx, my - mw * 0.25, mw, mw * 0.5) * (1 - ellipse(mx, my - mw * 0.32, mw * 0.95, mw * 0.48))
        arc *= np.clip((v - my) / px + 0.5, 0, 1)
        put(arc, line)
    else:
        put(ellipse(mx, my, mw * 0.5, px * 1.2), line)
    tex = np.empty((T, T, 4), np.uint8)
    tex[..., :3] = np.round(np.clip(full, 0, 1) * 255)
    tex[..., 3] = 255
    tex[:16, :16, :3] = 255  # the white block every non-face vertex samples (outside the face disk)
    return tex


# ---------------------------------------------------------------------------
# The generator


def generate(seed: int, **overrides) -> Character:
    """A seeded anime character. ``overrides`` replace fields of
    ``CharacterParams`` (e.g. ``bottom="skirt", tails="twin", long_hair=True``)."""
    params = _apply_overrides(sample_params(seed), overrides)
    character = build(params, name=f"procedural_{seed}")
    meta = dict(character.meta)
    meta["seed"] = int(seed)
    meta["overrides"] = json.loads(json.dumps({k: getattr(params, k) for k in overrides}))
    return dataclasses.replace(character, meta=meta)


def build(p: CharacterParams, name: str = "procedural") -> Character:
    """Build the character for fixed params."""
    _check_ranges(p)
    H = p.height
    hh = H / p.heads  # head height (chin to crown)
    crown = H - 0.012  # hair sits a little above the crown
    chin = crown - hh
    ry = hh / 2
    rx = ry * p.head_width
    rz = ry * 0.98
    head_c = np.array([0.0, chin + ry, 0.0])
    shoulder_y = chin - 0.26 * hh
    hip_y = H * p.leg
    hips_y = hip_y + 0.045 * H / 1.6
    sw = p.shoulder * hh  # half shoulder width
    hw = 0.08 * p.hip * H / 1.6  # leg joint x
    s16 = H / 1.6
    limb = p.limb * s16

    # --- skeleton (identity rest rotations; rest_world = translations) ----------
    names: list[str] = []
    parents: list[int] = []
    pos: list[np.ndarray] = []

    def joint(nm, parent, xyz):
        names.append(nm)
        parents.append(-1 if parent is None else names.index(parent))
        pos.append(np.asarray(xyz, np.float64))
        return len(names) - 1

    T = shoulder_y - hips_y
    joint("hips", None, (0, hips_y, 0))
    joint("spine", "hips", (0, hips_y + 0.22 * T, -0.005))
    joint("chest", "spine", (0, hips_y + 0.5 * T, -0.005))
    joint("upperChest", "chest", (0, hips_y + 0.75 * T, -0.01))
    joint("neck", "upperChest", (0, shoulder_y, -0.01))
    joint("head", "neck", (0, chin + 0.08 * hh, -0.01))
    eye_dir = {}
    for side, nm in ((1, "left"), (-1, "right")):
        d = np.array([side * 0.36 * p.eye_spacing, -0.16, 0.0])
        d[2] = np.sqrt(max(1 - d[0] ** 2 - d[1] ** 2, 0.1))
        eye_dir[side] = d
        joint(f"{nm}Eye", "head", head_c + np.array([rx, ry, rz]) * d * 0.85)
    joint("jaw", "head", (0, chin + 0.25 * hh, 0.02))
    upper_len, lower_len, hand_len = 0.165 * H, 0.14 * H, 0.095 * H
    arm_y = shoulder_y - 0.035 * s16
    for side, nm in ((1, "left"), (-1, "right")):
        joint(f"{nm}Shoulder", "upperChest", (side * 0.025 * s16, shoulder_y - 0.02 * s16, -0.01))
        joint(f"{nm}UpperArm", f"{nm}Shoulder", (side * sw, arm_y, -0.01))
        joint(f"{nm}LowerArm", f"{nm}UpperArm", (side * (sw + upper_len), arm_y, -0.015))
        joint(f"{nm}Hand", f"{nm}LowerArm", (side * (sw + upper_len + lower_len), arm_y, -0.01))
    knee_y = hip_y * 0.53
    ankle_y = 0.07 * s16
    for side, nm in ((1, "left"), (-1, "right")):
        joint(f"{nm}UpperLeg", "hips", (side * hw, hip_y, 0))
        joint(f"{nm}LowerLeg", f"{nm}UpperLeg", (side * hw, knee_y, 0.01))
        joint(f"{nm}Foot", f"{nm}LowerLeg", (side * hw, ankle_y, -0.01))
        joint(f"{nm}Toes", f"{nm}Foot", (side * hw, 0.02 * s16, 0.11 * s16))
    J = {n: i for i, n in enumerate(names)}

    def P(n):
        return pos[J[n]]

    b = _Builder()
    skin_lin = srgb_to_linear(p.skin_color)

    # --- head (pole towards +z so the face is a clean disk in UV) -------------
    R, S = 30, 40
    th = np.linspace(0, np.pi, R)
    e1 = np.tile([1.0, 0, 0], (R, 1))
    e2 = np.tile([0, 1.0, 0], (R, 1))
    path = head_c + np.outer(np.cos(th) * rz, [0, 0, 1])
    grid, phi = _loft(path, rx * np.sin(th), ry * np.sin(th), e1, e2, S)
    # anime chin: narrow the lower half, pull it forward a little
    _chin(grid, head_c, rx, ry, rz)
    TH, PH = np.meshgrid(th, phi, indexing="ij")
    uv = _face_uv(TH, PH).reshape(-1, 2)
    n = R * (S + 1)
    # face features in UV (from the 3D directions of the eyes etc.)
    eye_a = 0.072 * p.eye_size
    feats = {
        "eye_uv": {s: _dir_uv(eye_dir[s]) for s in (1, -1)},
        "eye_a": eye_a * 0.85,
        "eye_b": eye_a * 0.85 * p.eye_round,
        "brow_uv": {s: _dir_uv(eye_dir[s] + np.array([s * 0.02, 0.3, 0])) for s in (1, -1)},
        "nose_uv": _dir_uv(np.array([0, -0.42, 0.9])),
        "mouth_uv": _dir_uv(np.array([0, -0.62, 0.78])),
    }
    tex = _paint_face(p, feats)
    # The eyes and mouth are painted, not modelled: the whole head is SKIN.
    # (Per-vertex EYES labels on a painted face would be coarse polygons, and
    # the toon pass inks part boundaries.)
    parts = np.full(n, Part.SKIN, np.uint8)
    jw = _rigid(J["head"], n)
    b.add(grid, *jw, parts, np.ones((n, 3)), uv=uv, center=path)

    # --- neck --------------------------------------------------------------------
    ny = np.linspace(shoulder_y - 0.02, chin + 0.25 * hh, 10)
    path = np.stack([np.zeros_like(ny), ny, np.full_like(ny, -0.012)], 1)
    e1, e2 = np.tile([1.0, 0, 0], (10, 1)), np.tile([0, 0, -1.0], (10, 1))
    rn = 0.026 * limb * np.ones(10)
    rn[:3] *= [1.5, 1.2, 1.05]
    grid, _ = _loft(path, rn, rn * 0.95, e1, e2, 20)
    pts = grid.reshape(-1, 3)
    segs = [(J["neck"], P("neck"), P("head")), (J["head"], P("head"), head_c), (J["upperChest"], P("upperChest"), P("neck"))]
    col = np.tile(skin_lin, (len(pts), 1))
    b.add(grid, *_seg_weights(pts, segs), Part.SKIN, col, center=path)

    # --- torso (the top is painted on it; below the waist: bottom colour) -------
    y0, y1 = hip_y - 0.07 * s16, shoulder_y + 0.012
    waist_y = hips_y + 0.3 * T
    brk = [(waist_y - y0) / (y1 - y0)]
    if p.top_pattern == "trim":
        brk.append((waist_y + 0.025 - y0) / (y1 - y0))
    elif p.top_pattern == "two_tone":
        brk.append((shoulder_y - 0.1 - y0) / (y1 - y0))
    s, s_col = _with_breaks(np.linspace(0, 1, 36), brk)
    R = len(s)
    ys = y0 + s * (y1 - y0)
    waist_s = (hips_y + 0.35 * T - y0) / (y1 - y0)
    k_s = np.array([0.0, 0.12, waist_s, 0.72, 0.88, 1.0])
    waist = 0.105 if p.build == "girl" else 0.118  # boys: less taper at the waist
    rx_k = np.array([0.11 * p.hip * s16, 0.145 * p.hip * s16, waist * s16, 0.125 * s16, sw * 0.8, 0.05 * s16])
    rz_k = np.array([0.075, 0.092, 0.072, 0.088 * p.bust, 0.075, 0.04]) * s16
    zo_k = np.array([0.0, -0.005, 0.0, 0.012 * p.bust, 0.0, -0.01]) * s16
    rxs = np.interp(s, k_s, rx_k) * _end_profile(s, 0.1, 0.1)
    rzs = np.interp(s, k_s, rz_k) * _end_profile(s, 0.1, 0.1)
    path = np.stack([np.zeros(R), ys, np.interp(s, k_s, zo_k) - 0.01], 1)
    e1, e2 = np.tile([1.0, 0, 0], (R, 1)), np.tile([0, 0, 1.0], (R, 1))
    grid, _ = _loft(path, rxs, rzs, e1, e2, 44)
    pts = grid.reshape(-1, 3)
    segs = [
        (J["hips"], P("hips") - [0, 0.06, 0], P("spine")), (J["spine"], P("spine"), P("chest")),
        (J["chest"], P("chest"), P("upperChest")), (J["upperChest"], P("upperChest"), P("neck")),
        (J["leftShoulder"], P("leftShoulder"), P("leftUpperArm")), (J["rightShoulder"], P("rightShoulder"), P("rightUpperArm")),
        (J["leftUpperLeg"], P("leftUpperLeg"), P("leftLowerLeg")), (J["rightUpperLeg"], P("rightUpperLeg"), P("rightLowerLeg")),
    ]
    col, parts = _torso_colors(p, pts, np.repeat(y0 + s_col * (y1 - y0), 45), waist_y, shoulder_y, sw)
    b.add(grid, *_seg_weights(pts, segs), parts, col, center=path)
    if p.sailor:
        v_y, _ = _sailor_v(shoulder_y, sw)
        near = pts[(np.abs(pts[:, 1] - v_y) < 0.02) & (np.abs(pts[:, 0]) < 0.03)]
        zf = float(near[:, 2].max()) if len(near) else 0.1 * s16
        _bow(b, np.array([0.0, v_y - 0.005, zf + 0.006]), J["chest"], p, s16)
    _fine_detail(b, p, pts, tex, J, shoulder_y, waist_y, s16)

    # --- arms + hands ---------------------------------------------------------------
    for side, nm in ((1, "left"), (-1, "right")):
        a0 = np.array([side * sw * 0.55, arm_y + 0.006, -0.01])
        hand = P(f"{nm}Hand")
        L = float(np.linalg.norm(hand - a0))
        elbow_s = float(np.linalg.norm(P(f"{nm}LowerArm") - a0)) / L
        sleeve_end = {"none": 0.08, "short": 0.5 * elbow_s, "long": 0.97}[p.sleeves]
        s, s_col = _with_breaks(np.linspace(0, 1, 40), [sleeve_end])
        R = len(s)
        path = a0 + np.outer(s, hand - a0)
        r = np.interp(s, [0, 0.12, elbow_s, 0.93, 1.0], np.array([0.05, 0.043, 0.03, 0.022, 0.02]) * limb)
        in_sleeve = s_col < sleeve_end
        puff = 1.0 + 0.18 * in_sleeve
        if p.sleeves == "long":
            puff = puff + 0.25 * np.clip((s - 0.8) / 0.2, 0, 1) * in_sleeve
        r = r * puff * _end_profile(s, 0.0, 0.0)
        e1, e2 = np.tile([0, 1.0, 0], (R, 1)), np.tile([0, 0, 1.0], (R, 1))
        grid, _ = _loft(path, r, r, e1, e2, 18)
        pts = grid.reshape(-1, 3)
        segs = [
            (J[f"{nm}Shoulder"], P(f"{nm}Shoulder"), P(f"{nm}UpperArm")),
            (J[f"{nm}UpperArm"], P(f"{nm}UpperArm"), P(f"{nm}LowerArm")),
            (J[f"{nm}LowerArm"], P(f"{nm}LowerArm"), hand),
            (J[f"{nm}Hand"], hand, hand + [side * hand_len, 0, 0]),
        ]
        sa = np.repeat(s_col, 19)
        col, parts = _sleeve_colors(p, pts, sa, sleeve_end, skin_lin)
        b.add(grid, *_seg_weights(pts, segs), parts, col, center=path)
        # hand: a flat mitten with a thumb bump
        R = 16
        s = np.linspace(0, 1, R)
        path = hand + np.outer(s, [side * hand_len, 0, 0]) - [side * 0.012, 0, 0]
        prof = np.interp(s, [0, 0.3, 0.7, 1.0], [0.02, 0.026, 0.024, 0.0]) * _end_profile(s, 0.0, 0.25) * limb
        grid, _ = _loft(path, prof * 0.55, prof * 1.25, np.tile([0, 1.0, 0], (R, 1)), np.tile([0, 0, 1.0], (R, 1)), 16)
        pts = grid.reshape(-1, 3)
        segs = [(J[f"{nm}LowerArm"], P(f"{nm}LowerArm"), hand), (J[f"{nm}Hand"], hand, hand + [side * hand_len, 0, 0])]
        b.add(grid, *_seg_weights(pts, segs), Part.SKIN, np.tile(skin_lin, (len(pts), 1)), center=path)

    # --- legs + shoes --------------------------------------------------------------
    for side, nm in ((1, "left"), (-1, "right")):
        top = P(f"{nm}UpperLeg") + [0, 0.06 * s16, 0]
        ank = P(f"{nm}Foot") + [0, -0.01, 0]
        sock_top = {"none": -1.0, "ankle": ank[1] + 0.05 * s16, "knee": knee_y - 0.04 * s16, "thigh": knee_y + 0.14 * s16}[p.socks]
        pant_bottom = {"skirt": 9.0, "shorts": hip_y - 0.14 * s16, "pants": ank[1] + 0.02}[p.bottom]
        s, s_col = _with_breaks(np.linspace(0, 1, 48), [(top[1] - y) / (top[1] - ank[1]) for y in (sock_top, pant_bottom)])
        R = len(s)
        path = top + np.outer(s, ank - top)
        ys = top[1] + s_col * (ank[1] - top[1])  # for deciding the side of a hem
        r = np.interp(ys, [ank[1], knee_y - 0.12 * s16, knee_y, knee_y + 0.1 * s16, hip_y, top[1]][::1],
                      np.array([0.03, 0.047, 0.043, 0.058, 0.078, 0.075]) * limb)
        r = r * np.where(ys < sock_top, 1.05, 1.0)
        r = r * np.where(ys > pant_bottom, 1.12, 1.0)
        r = r * _end_profile(s, 0.0, 0.0)
        e1, e2 = np.tile([1.0, 0, 0], (R, 1)), np.tile([0, 0, 1.0], (R, 1))
        grid, _ = _loft(path, r, r * 0.95, e1, e2, 22)
        pts = grid.reshape(-1, 3)
        segs = [
            (J["hips"], P("hips") - [0, 0.06, 0], P("spine")),
            (J[f"{nm}UpperLeg"], P(f"{nm}UpperLeg"), P(f"{nm}LowerLeg")),
            (J[f"{nm}LowerLeg"], P(f"{nm}LowerLeg"), P(f"{nm}Foot")),
            (J[f"{nm}Foot"], P(f"{nm}Foot"), P(f"{nm}Toes")),
        ]
        col, parts = _leg_colors(p, np.repeat(ys, 23), sock_top, pant_bottom, skin_lin)
        b.add(grid, *_seg_weights(pts, segs), parts, col, center=path)
        # shoe: a loft from heel to toe, flat sole
        R = 20
        s = np.linspace(0, 1, R)
        heel = np.array([side * hw, 0.035 * s16, -0.055 * s16])
        toe = np.array([side * hw, 0.03 * s16, 0.165 * s16])
        path = heel + np.outer(s, toe - heel)
        path[:, 1] += 0.012 * s16 * np.sin(np.pi * s)
        prof = _end_profile(s, 0.15, 0.3)
        grid, _ = _loft(path, 0.042 * s16 * prof * np.interp(s, [0, 0.5, 1], [1.1, 1.0, 0.7]), 0.046 * s16 * prof,
                        np.tile([0, 1.0, 0], (R, 1)), np.tile([1.0, 0, 0], (R, 1)), 18)
        grid[..., 1] = np.maximum(grid[..., 1], 0.0)  # flat sole at y = 0
        pts = grid.reshape(-1, 3)
        segs = [(J[f"{nm}Foot"], P(f"{nm}Foot"), P(f"{nm}Toes")), (J[f"{nm}Toes"], P(f"{nm}Toes"), toe)]
        shoe = srgb_to_linear(p.shoe_color)
        col = np.tile(shoe, (len(pts), 1))
        col[pts[:, 1] < 0.012 * s16] = srgb_to_linear(_scale(p.shoe_color, 0.45))
        b.add(grid, *_seg_weights(pts, segs), Part.SHOES, col, center=path)

    # --- skirt (cloth region) --------------------------------------------------------
    regions: list[SimRegion] = []
    if p.bottom == "skirt":
        R, S = 20, 64
        top_y = waist_y + 0.01
        hem_y = hip_y - p.skirt_length * (hip_y - knee_y)
        s = np.linspace(0, 1, R)
        ys = top_y + s * (hem_y - top_y)
        # torso radius at the waistband, then flaring out
        s_t = (top_y - y0) / (y1 - y0)
        rx0 = float(np.interp(s_t, k_s, rx_k)) * 1.06 + 0.004
        rz0 = float(np.interp(s_t, k_s, rz_k)) * 1.08 + 0.004
        hip_rx = 0.155 * p.hip * s16
        flare = 1 + p.skirt_flare * s ** 1.2
        rxs = np.maximum(rx0 + (hip_rx - rx0) * np.clip(s * 3, 0, 1), rx0) * flare
        rzs = np.maximum(rz0 + (hip_rx * 0.75 - rz0) * np.clip(s * 3, 0, 1), rz0) * flare
        phi = np.linspace(0, 2 * np.pi, S + 1)
        pleat = 1 + 0.05 * np.abs(np.sin(p.skirt_pleats * phi / 2))[None, :] * s[:, None] if p.skirt_pleats else 1
        path = np.stack([np.zeros(R), ys, np.full(R, -0.005)], 1)
        # clearance: below the waistband, every ring is widened until the hips and
        # thighs built so far are inside it (cloth must not start interpenetrating)
        body = np.concatenate(b.pos)
        dy = abs(ys[1] - ys[0])
        scale = np.ones(R)
        for r_i in range(1, R):
            band = body[np.abs(body[:, 1] - ys[r_i]) < dy * 0.5 + 0.005]
            if len(band):
                re = np.sqrt((band[:, 0] / rxs[r_i]) ** 2 + ((band[:, 2] - path[r_i, 2]) / rzs[r_i]) ** 2).max()
                scale[r_i] = max(1.0, re * 1.06 + 0.01 / rxs[r_i])
        scale[1:] = np.maximum.accumulate(scale[1:])
        rxs, rzs = rxs * scale, rzs * scale
        grid, _ = _loft(path, rxs[:, None] * pleat, rzs[:, None] * pleat, np.tile([1.0, 0, 0], (R, 1)),
                        np.tile([0, 0, 1.0], (R, 1)), S)
        pts = grid.reshape(-1, 3)
        segs = [
            (J["hips"], P("hips"), P("spine")),
            (J["leftUpperLeg"], P("leftUpperLeg"), P("leftLowerLeg")),
            (J["rightUpperLeg"], P("rightUpperLeg"), P("rightLowerLeg")),
        ]
        jj, ww = _seg_weights(pts, segs, power=2.0)
        ring = np.repeat(np.arange(R), S + 1)
        jj[ring == 0], ww[ring == 0] = _rigid(J["hips"], int((ring == 0).sum()))
        col = _skirt_colors(p, pts, ring / (R - 1), np.tile(phi, R), top_y, hem_y)
        idx = b.add(grid, jj, ww, Part.CLOTH, col, center=path, wrap=True)
        regions.append(SimRegion(
            name="skirt", kind="cloth", anchor_joint=J["hips"],
            vertices=idx.astype(np.int32), pinned=idx[:S].astype(np.int32),
        ))

    # --- hair ------------------------------------------------------------------------
    hair_lin = srgb_to_linear(p.hair_color)
    hair_dark = srgb_to_linear(_scale(p.hair_color, 0.7))
    hair_light = srgb_to_linear(np.clip(np.asarray(p.hair_color) * 1.15 + 0.12, 0, 1))

    def hair_col(pts, ring_y=None):
        """Darker at the roots, an 'angel ring' highlight band on the cap."""
        depth = np.clip((head_c[1] + ry - pts[:, 1]) / (0.1 * H), 0, 1)[:, None]  # 0 at the crown
        k = 0.4 * (1 - depth)  # up to 40 % of the darker tone near the crown
        c = hair_dark * k + hair_lin * (1 - k)
        if ring_y is not None:
            band = np.exp(-((pts[:, 1] - ring_y) / (0.035 * ry)) ** 2)[:, None]
            c = c * (1 - band * 0.8) + hair_light * band * 0.8
        return c

    # cap: rings from the crown down to a cut line that is high at the forehead
    # and low at the nape
    R, S = 22, 48
    phi = np.linspace(0, 2 * np.pi, S + 1)  # 0 = +z (front), about +y
    cut = np.radians(76 + 76 * ((1 - np.cos(phi)) / 2) ** 0.8)  # polar angle from +y
    # pointed locks along the sides/back edge (a zigzag cut), none at the forehead
    spikes = 2 * p.bangs_count + 2
    saw = 1 - np.abs(((phi * spikes / (2 * np.pi)) % 1.0) * 2 - 1)  # 0..1 triangle wave
    cut = cut + np.radians(14) * saw * np.clip((1 - np.cos(phi)) / 2 * 3, 0, 1)
    t = np.linspace(0, 1, R)[:, None]
    thp = t * cut[None, :]
    k = 1.07
    cap = np.empty((R, S + 1, 3))
    cap[..., 0] = head_c[0] + rx * k * np.sin(thp) * np.sin(phi)
    cap[..., 1] = head_c[1] + ry * k * np.cos(thp)
    cap[..., 2] = head_c[2] + rz * k * np.sin(thp) * np.cos(phi)
    cap[..., 1] += 0.02 * ry  # sit a bit higher, the crown a bit rounder
    # widen the lower back (hair volume behind the ears), flare the ends outwards
    cap[..., 0] *= 1 + 0.08 * np.clip(-np.cos(phi), 0, 1) * t
    cap[..., 2] -= 0.06 * rz * np.clip(-np.cos(phi), 0, 1) * t
    flare = 1 + 0.12 * t ** 4 * np.clip((1 - np.cos(phi)) / 2 * 3, 0, 1)
    cap[..., 0] = head_c[0] + (cap[..., 0] - head_c[0]) * flare
    cap[..., 2] = head_c[2] + (cap[..., 2] - head_c[2]) * flare
    pts = cap.reshape(-1, 3)
    center = np.tile(head_c, (R, 1))
    b.add(cap, *_rigid(J["head"], len(pts)), Part.HAIR, hair_col(pts, head_c[1] + 0.55 * ry), center=center)

    def strand(ctrl, width, thick, joints_or_head, n=20, segs=8, tip=0.35, part=Part.HAIR, color=None):
        """A flat tapered lock along control points; weights along the chain."""
        path = _smooth_path(np.asarray(ctrl), n)
        s = np.linspace(0, 1, n)
        taper = np.interp(s, [0, 0.15, 1 - tip, 1], [0.7, 1.0, 0.85, 0.02])
        outward = path - head_c
        outward /= np.linalg.norm(outward, axis=1, keepdims=True)
        e1, e2 = _frames(path, np.mean(outward, 0) if len(outward) else np.array([0, 0, 1.0]))
        # e1: thickness (away from the head), e2: width
        grid, _ = _loft(path, thick * taper, width * taper, e1, e2, segs)
        pts = grid.reshape(-1, 3)
        sa = np.repeat(s, segs + 1)
        if isinstance(joints_or_head, (list, np.ndarray)):
            jj, ww = _chain_weights(sa, joints_or_head, len(pts))
        else:
            jj, ww = _rigid(joints_or_head, len(pts))
        c = hair_col(pts) if color is None else np.tile(color, (len(pts), 1))
        return b.add(grid, jj, ww, part, c, center=path)

    # bangs: locks from the top-front of the cap over the forehead
    bl = p.bangs_length
    nb = p.bangs_count
    if p.bangs == "full":
        az = np.linspace(-62, 62, nb)
    elif p.bangs == "parted":
        az = np.concatenate([np.linspace(-64, -8, nb // 2 + 1), np.linspace(8, 64, nb - nb // 2 - 1 + 1)])
    else:
        az = np.linspace(-40, 70, nb)
    for i, a in enumerate(np.radians(az)):
        end_pol = np.radians(62 + 22 * bl) + 0.12 * abs(np.sin(a)) + 0.06 * np.sin(i * 2.7)
        pols = np.linspace(np.radians(12), end_pol, 5)
        kk = np.array([1.0, 1.09, 1.11, 1.13, 1.15])  # root buried under the cap
        ctrl = np.stack([
            head_c[0] + rx * kk * np.sin(pols) * np.sin(a),
            head_c[1] + 0.02 * ry + ry * kk * np.cos(pols),
            head_c[2] + rz * kk * np.sin(pols) * np.cos(a),
        ], 1)
        w = (0.55 + 0.2 * np.cos(i * 1.9)) * rx * 1.9 / nb
        spiky = p.build == "boy"  # narrower locks with long pointed tips
        strand(ctrl, w * (0.8 if spiky else 1.0), 0.012 * s16, J["head"], n=14, segs=8, tip=0.8 if spiky else 0.5)
    if p.side_locks:
        for side in (1, -1):
            a = side * np.radians(78)
            ctrl = [
                head_c + [rx * 1.05 * np.sin(a) * 0.9, ry * 0.5, rz * 0.3],
                head_c + [rx * 1.12 * np.sin(a), -ry * 0.1, rz * 0.3],
                head_c + [rx * 1.02 * np.sin(a), -ry * 0.8, rz * 0.35],
                head_c + [rx * 1.0 * np.sin(a), -ry * (1.1 + 0.4 * bl), rz * 0.3],
            ]
            strand(ctrl, 0.03 * s16, 0.01 * s16, J["head"], n=16, segs=8, tip=0.4)

    # chains: joints placed along the strand path, root first
    def chain_joints(prefix, path_pts, count):
        arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(path_pts, axis=0), axis=1))])
        idx = [int(np.argmin(np.abs(arc - arc[-1] * k / count))) for k in range(count)]
        ids = []
        parent = "head"
        for k, i in enumerate(idx):
            nm = f"{prefix}_{k}"
            joint(nm, parent, path_pts[i])
            parent = nm
            ids.append(len(names) - 1)
        return ids

    def chained_strand(prefix, ctrl, width, thick, up, count=6, n=36, segs=12, tip=0.3, bulge=None):
        """``up``: horizontal direction the lock's thickness faces (away from
        the body); hanging locks are vertical, so it cannot come from the path."""
        path = _smooth_path(np.asarray(ctrl), n)
        ids = chain_joints(prefix, path, count)
        J.update({names[i]: i for i in ids})
        arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
        s = arc / arc[-1]
        # joint k sits at arc fraction k/count; vertex chain coordinate accordingly
        chain_s = np.clip(s * count / (count - 1), 0, 1)
        taper = np.interp(s, [0, 0.1, 1 - tip, 1], [0.8, 1.0, 0.8, 0.02])
        if bulge is not None:
            taper = taper * (1 + bulge * np.sin(np.pi * np.clip(s / 0.6, 0, 1)))
        e1, e2 = _frames(path, np.asarray(up, np.float64) / np.linalg.norm(up))
        grid, _ = _loft(path, thick * taper, width * taper, e1, e2, segs)
        pts = grid.reshape(-1, 3)
        jj, ww = _chain_weights(np.repeat(chain_s, segs + 1), ids, len(pts))
        idx = b.add(grid, jj, ww, Part.HAIR, hair_col(pts), center=path)
        regions.append(SimRegion(name=prefix, kind="hair", anchor_joint=J["head"], vertices=idx.astype(np.int32),
                                 chain=np.asarray(ids, np.int32)))

    back_z = -0.1 * s16 * p.bust - 0.03
    if p.long_hair:
        end_y = H * (1 - p.hair_length)
        nl = p.hair_locks
        for kx in range(nl):
            f = (kx / (nl - 1) - 0.5) if nl > 1 else 0.0  # -0.5..0.5 across the back
            a = np.pi + f * np.radians(150)
            x0 = rx * 1.02 * np.sin(a)
            z0 = rz * 1.02 * np.cos(a)
            sx = f * 2 * (sw * 0.75)
            ctrl = [
                head_c + [x0 * 0.75, ry * 0.45, z0 * 0.75],  # root inside the cap
                head_c + [x0 * 1.1, -ry * 0.2, z0 * 1.12 - 0.01],
                [sx * 0.8, shoulder_y - 0.02, min(back_z, head_c[2] + z0 * 1.05) - 0.01],
                [sx * 0.95, (shoulder_y + end_y) / 2, back_z - 0.012],
                [sx, end_y, back_z - 0.01],
            ]
            width = (2.2 * rx / nl) * 1.15
            chained_strand(f"hair_back{kx}", ctrl, width, 0.016 * s16, [np.sin(a), 0, np.cos(a)], count=6, n=34, segs=10, tip=0.25)
    if p.tails == "twin":
        L = p.tail_length * H
        for side, tag in ((1, "L"), (-1, "R")):
            root = head_c + [side * rx * 0.9, ry * 0.55, -rz * 0.3]
            # hang behind the T-posed arms (clear of the sleeves for physics)
            ctrl = [
                root,
                root + [side * 0.07 * s16, 0.01, -0.03],
                root + [side * 0.11 * s16, -0.12 * L / 0.5, -0.07],
                root + [side * 0.12 * s16, -0.55 * L, -0.1 * s16],
                root + [side * 0.1 * s16, -L, -0.1 * s16],
            ]
            chained_strand(f"hair_{tag}", ctrl, 0.045 * s16, 0.04 * s16, [side, 0, -0.3], count=6, n=36, segs=14, tip=0.35, bulge=0.35)
            _tie(b, root + [side * 0.025, 0.005, -0.005], side, J["head"], p, s16)
    elif p.tails == "pony":
        L = p.tail_length * H
        root = head_c + [0, ry * 0.6, -rz * 0.85]
        ctrl = [
            root,
            root + [0, 0.03, -0.07 * s16],
            root + [0, -0.12 * L / 0.5, -0.11 * s16],
            root + [0, -0.6 * L, -0.1 * s16 + 0.02],
            root + [0, -L, back_z - root[2] - 0.03],
        ]
        chained_strand("hair_pony", ctrl, 0.05 * s16, 0.045 * s16, [0, 0, -1], count=6, n=36, segs=14, tip=0.35, bulge=0.3)
        _tie(b, root + [0, 0.0, -0.02], 0, J["head"], p, s16)
    if p.ahoge:
        lean = 1 if p.bangs_count % 2 else -1
        ctrl = [
            head_c + [0, ry * 0.98, 0.25 * rz],
            head_c + [0.01 * lean, ry * 1.2, 0.3 * rz],
            head_c + [0.035 * lean, ry * 1.32, 0.12 * rz],
            head_c + [0.06 * lean, ry * 1.25, -0.05 * rz],
        ]
        strand(ctrl, 0.014 * s16, 0.006 * s16, J["head"], n=16, segs=8, tip=0.5)
    if p.hairband:
        R, S = 6, 48
        phi = np.linspace(0, 2 * np.pi, S + 1)
        pol = np.radians(40)
        ang = np.linspace(-1, 1, R)[:, None] * np.radians(4)
        grid = np.empty((R, S + 1, 3))
        kk = 1.115
        th_b = pol + ang + 0.25 * np.clip(-np.cos(phi), 0, 1)
        grid[..., 0] = head_c[0] + rx * kk * np.sin(th_b) * np.sin(phi)
        grid[..., 1] = head_c[1] + 0.02 * ry + ry * kk * np.cos(th_b)
        grid[..., 2] = head_c[2] + rz * kk * np.sin(th_b) * np.cos(phi)
        pts = grid.reshape(-1, 3)
        b.add(grid, *_rigid(J["head"], len(pts)), Part.ACCESSORY, np.tile(srgb_to_linear(p.accent_color), (len(pts), 1)),
              center=np.tile(head_c, (R, 1)))

    # --- facial expressions (added last: the other vertices keep their indices) -------
    morphs = _face_morphs(b, p, feats, head_c, (rx, ry, rz), J["head"], s16) if p.expressions else {}
    alpha = _layer_cards(b, p, feats, head_c, (rx, ry, rz), J["head"], s16, tex, morphs) if p.layers else {}

    # --- assemble -----------------------------------------------------------------------
    positions = np.concatenate(b.pos).astype(np.float32)
    normals = np.concatenate(b.nrm).astype(np.float32)
    triangles = np.concatenate(b.tri).astype(np.uint32)
    joints = np.concatenate(b.jnt).astype(np.uint16)
    weights = np.concatenate(b.wgt).astype(np.float32)
    weights /= weights.sum(1, keepdims=True)
    colors = np.ones((len(positions), 4), np.float32)
    colors[:, :3] = np.concatenate(b.col)
    mesh = SkinnedMesh(
        positions=positions, normals=normals, joints=joints, weights=weights, triangles=triangles,
        parts=np.concatenate(b.part).astype(np.uint8), uv=np.concatenate(b.uv).astype(np.float32),
        colors=colors, material=Material(base_color_texture=tex),
        **_morph_arrays(morphs, len(positions)), **_alpha_arrays(alpha, len(positions)),
    )
    world = np.tile(np.eye(4, dtype=np.float32), (len(names), 1, 1))
    world[:, :3, 3] = np.asarray(pos, np.float32)
    par = np.asarray(parents, np.int32)
    local = world.copy()
    for j, pa in enumerate(par):
        if pa >= 0:
            local[j, :3, 3] = world[j, :3, 3] - world[pa, :3, 3]
    inv = world.copy()
    inv[:, :3, 3] = -world[:, :3, 3]
    skeleton = Skeleton(names=tuple(names), parents=par, rest_local=local, rest_world=world, inverse_bind=inv)
    params = json.loads(json.dumps(dataclasses.asdict(p)))
    return Character(
        name=name, skeleton=skeleton, mesh=mesh, box=CanonicalBox.from_rest(positions),
        regions=tuple(regions), humanoid={n: J[n] for n in HUMANOID_BONES},
        meta={"generator": "conrt.characters.procedural", "params": params},
        expressions=_face_expressions(tuple(morphs)),
    )


_EMBLEM_TEX = (_TEX - 44, _TEX - 4)  # texel rows/cols of the badge print (a corner outside the face disk)


def _front_z(torso_pts, x, y, tol=0.015):
    """z of the torso's front surface near (x, y) (rest pose)."""
    near = torso_pts[(np.abs(torso_pts[:, 1] - y) < tol) & (np.abs(torso_pts[:, 0] - x) < tol)]
    return float(near[:, 2].max()) if len(near) else float(torso_pts[:, 2].max())


def _fine_detail(b: "_Builder", p: CharacterParams, torso_pts, tex, J, shoulder_y, waist_y, s16):
    """Small things worth carrying from a sheet: buttons, a printed badge, collar
    cords. Modelled (vertex colours are ~2 cm apart, too coarse for them) and a
    few pixels wide at 256²."""
    trim, top = np.asarray(p.trim_color), np.asarray(p.top_color)
    contrast = trim if abs(float(trim.mean()) - float(top.mean())) > 0.2 else \
        ((0.95, 0.93, 0.88) if top.mean() < 0.5 else (0.15, 0.13, 0.18))
    chest_y = shoulder_y - 0.09 * s16

    def joint_at(y):
        return J["upperChest"] if y > chest_y else (J["chest"] if y > waist_y + 0.05 else J["spine"])

    def blob(center, radii, colour, joint, part=Part.ACCESSORY, uv=None, R=8, S=12):
        grid, path = _ellipsoid(np.asarray(center), np.asarray(radii), R, S)
        n = grid.shape[0] * grid.shape[1]
        b.add(grid, *_rigid(joint, n), part, np.tile(srgb_to_linear(colour), (n, 1)),
              uv=uv(grid.reshape(-1, 3)) if uv else None, center=path)

    if p.buttons:
        top_y, bottom_y = shoulder_y - (0.1 if p.sailor else 0.05) * s16, waist_y + 0.035 * s16
        for y in np.linspace(top_y, bottom_y, p.buttons + 1)[:p.buttons]:
            z = _front_z(torso_pts, 0.0, y)
            blob((0.0, y, z + 0.001), np.array([0.009, 0.009, 0.004]) * s16, contrast, joint_at(y), R=6, S=10)
    if p.emblem:
        x, y = 0.055 * s16, chest_y
        z = _front_z(torso_pts, x, y)
        r = 0.024 * s16
        (r0, r1), c = _EMBLEM_TEX, _paint_emblem(tex, p, contrast)
        half = (r1 - r0) / 2 / _TEX

        def badge_uv(pts, x=x, y=y, r=r):  # planar, front view: the print faces the camera
            return np.stack([c[0] + (pts[:, 0] - x) / r * half, c[1] - (pts[:, 1] - y) / r * half], 1)
        blob((x, y, z + 0.001), (r, r, 0.004 * s16), (1.0, 1.0, 1.0), J["upperChest"], uv=badge_uv, R=10, S=16)
    if p.strings:
        colour = contrast
        for side in (1, -1):
            ys = np.linspace(shoulder_y - 0.005, shoulder_y - 0.16 * s16, 12)
            xs = side * (0.028 + 0.006 * np.linspace(0, 1, 12)) * s16
            zs = np.array([_front_z(torso_pts, x, y) for x, y in zip(xs, ys)]) + 0.004 * s16
            path = np.stack([xs, ys, zs], 1)
            e1, e2 = _frames(path, np.array([0, 0, 1.0]))
            r = 0.0035 * s16 * np.ones(12)
            grid, _ = _loft(path, r, r, e1, e2, 8)
            n = grid.shape[0] * grid.shape[1]
            js = np.array([joint_at(y) for y in np.repeat(ys, 9)])
            b.add(grid, *_rigid_each(js), Part.ACCESSORY, np.tile(srgb_to_linear(colour), (n, 1)), center=path)
            blob(path[-1] + [0, -0.008 * s16, 0], np.array([0.006, 0.012, 0.006]) * s16,
                 _scale(colour, 0.55), joint_at(ys[-1]), R=6, S=10)


def _rigid_each(joint_ids):
    """(joints, weights) [n, 4] with each vertex fully on its own joint."""
    n = len(joint_ids)
    joints = np.zeros((n, 4), np.int64)
    joints[:, 0] = joint_ids
    weights = np.zeros((n, 4))
    weights[:, 0] = 1.0
    return joints, weights


def _paint_emblem(tex, p: CharacterParams, ring) -> np.ndarray:
    """Paint the badge print (a symbol inside a ring, anti-aliased) into the
    texture corner ``_EMBLEM_TEX``; returns its centre in uv."""
    r0, r1 = _EMBLEM_TEX
    n = r1 - r0
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / n * 2 - 1  # -1..1, y down
    rad = np.hypot(xx, yy)
    aa = lambda d: np.clip(d * n / 2 + 0.5, 0, 1)  # noqa: E731  signed distance (units of half-size) -> coverage
    img = np.ones((n, n, 3)) * np.asarray(p.accent_color if np.mean(p.accent_color) > 0.5 else (0.97, 0.96, 0.92))
    shape = p.emblem_shape
    sym = np.asarray(_scale(p.eye_color, 0.8))
    if shape == "star":
        ang = np.arctan2(yy, xx) + np.pi / 2
        k = 0.55 + 0.45 * np.cos(5 * ang) ** 2 * (np.cos(5 * ang) > 0)
        cover = aa(0.62 * k - rad)
    elif shape == "heart":
        x, y = xx * 1.25, -(yy * 1.25 - 0.15)
        cover = aa(-((x ** 2 + y ** 2 - 0.45) ** 3 - x ** 2 * y ** 3) * 3)
    elif shape == "cross":
        cover = aa(np.minimum(0.6 - np.maximum(np.abs(xx), np.abs(yy)), 0.16 - np.minimum(np.abs(xx), np.abs(yy))))
    else:
        cover = aa(0.3 - rad)
    img = img * (1 - cover[..., None]) + sym * cover[..., None]
    ring_m = aa(0.12 - np.abs(rad - 0.84))
    img = img * (1 - ring_m[..., None]) + np.asarray(ring) * ring_m[..., None]
    tex[r0:r1, r0:r1, :3] = np.round(np.clip(img, 0, 1) * 255)
    return np.array([(r0 + r1) / 2 / _TEX, (r0 + r1) / 2 / _TEX])


def _ellipsoid(center, radii, R=10, S=16):
    """Grid [R, S+1, 3] of an ellipsoid with its poles along x, and its axis path."""
    th = np.linspace(0, np.pi, R)
    path = center + np.outer(-np.cos(th) * radii[0], [1.0, 0, 0])
    grid, _ = _loft(path, radii[1] * np.sin(th), radii[2] * np.sin(th),
                    np.tile([0, 1.0, 0], (R, 1)), np.tile([0, 0, 1.0], (R, 1)), S)
    return grid, path


def _bow(b: _Builder, c, joint, p: CharacterParams, s16):
    """A ribbon bow (sailor scarf knot): two loops, a knot and two tails."""
    col = srgb_to_linear(p.accent_color)
    for side in (1, -1):
        grid, path = _ellipsoid(c + [side * 0.032 * s16, 0.004, 0.0], np.array([0.03, 0.02, 0.008]) * s16)
        b.add(grid, *_rigid(joint, grid.shape[0] * grid.shape[1]), Part.ACCESSORY,
              np.tile(col, (grid.shape[0] * grid.shape[1], 1)), center=path)
        tail = np.array([c + [side * 0.006, -0.005, 0.002], c + [side * 0.02 * s16, -0.045 * s16, 0.004],
                         c + [side * 0.03 * s16, -0.085 * s16, 0.004]])
        path = _smooth_path(tail, 8)
        s = np.linspace(0, 1, 8)
        e1, e2 = _frames(path, np.array([0, 0, 1.0]))
        grid, _ = _loft(path, 0.004 * s16 * _end_profile(s, 0.1, 0.1), 0.014 * s16 * _end_profile(s, 0.1, 0.15), e1, e2, 10)
        b.add(grid, *_rigid(joint, grid.shape[0] * grid.shape[1]), Part.ACCESSORY,
              np.tile(col, (grid.shape[0] * grid.shape[1], 1)), center=path)
    grid, path = _ellipsoid(c + [0, 0.002, 0.004], np.array([0.012, 0.014, 0.009]) * s16)
    b.add(grid, *_rigid(joint, grid.shape[0] * grid.shape[1]), Part.ACCESSORY,
          np.tile(srgb_to_linear(_scale(p.accent_color, 0.8)), (grid.shape[0] * grid.shape[1], 1)), center=path)


def _tie(b: _Builder, center, side, head_joint, p: CharacterParams, s16):
    """A small hair tie (ring) at a tail root."""
    R = 8
    s = np.linspace(0, 1, R)
    axis = np.array([side, -0.3, 0.0]) if side else np.array([0.0, -0.2, -1.0])
    axis /= np.linalg.norm(axis)
    path = center + np.outer(s - 0.5, axis * 0.02 * s16)
    e1, e2 = _frames(path, np.array([0, 0, 1.0]) if side else np.array([0, 1.0, 0]))
    r = 0.03 * s16 * _end_profile(s, 0.2, 0.2)
    grid, _ = _loft(path, r, r, e1, e2, 16)
    pts = grid.reshape(-1, 3)
    b.add(grid, *_rigid(head_joint, len(pts)), Part.ACCESSORY, np.tile(srgb_to_linear(p.accent_color), (len(pts), 1)), center=path)


# ---------------------------------------------------------------------------
# Procedural albedo (rest position + part -> COLOR_0)


def _torso_colors(p: CharacterParams, pts, y, waist_y, shoulder_y, sw):
    """y: per-vertex height for deciding hem sides (nudged at duplicated rings)."""
    n = len(pts)
    top = np.tile(srgb_to_linear(p.top_color), (n, 1))
    trim = srgb_to_linear(p.trim_color)
    if p.top_pattern == "stripes":
        band = (np.sin(y * 2 * np.pi / 0.045) > 0.35)[:, None]
        top = np.where(band, trim, top)
    elif p.top_pattern == "trim":
        hem = (y < waist_y + 0.025)[:, None]
        top = np.where(hem, trim, top)
    elif p.top_pattern == "two_tone":
        top = np.where((y > shoulder_y - 0.1)[:, None], trim, top)
    # collar: a band around the neck opening
    collar = (y > shoulder_y - 0.012) & (np.abs(pts[:, 0]) < 0.07)
    top[collar] = trim if p.top_pattern != "two_tone" else srgb_to_linear(p.top_color)
    if p.sailor:
        top[:] = _sailor_colors(p, pts, y, top, shoulder_y, sw)
    parts = np.full(n, Part.CLOTH, np.uint8)
    # bare shoulders/neck when sleeveless: a neckline in skin colour
    if p.sleeves == "none":
        bare = (y > shoulder_y - 0.03) & (np.abs(pts[:, 0]) > 0.06)
        top[bare] = srgb_to_linear(p.skin_color)
        parts[bare] = Part.SKIN
    below = y < waist_y
    bottom = srgb_to_linear(p.bottom_color) if p.bottom != "skirt" else srgb_to_linear(_scale(p.bottom_color, 0.6))
    top[below] = bottom
    return top, parts


def _sailor_v(shoulder_y, sw):
    """(y of the V's point, half-width growth per metre of height) of a sailor collar."""
    return shoulder_y - 0.95 * sw, 0.6 / 0.95


def _sailor_collar(p: CharacterParams) -> np.ndarray:
    """sRGB collar colour: the trim colour, or navy/white when it is too close to the top's."""
    collar = np.asarray(p.trim_color)
    if abs(float(collar.mean()) - float(np.mean(p.top_color))) < 0.25:
        collar = np.array([35, 45, 85]) / 255.0 if np.mean(p.top_color) > 0.4 else np.array([0.95, 0.95, 0.95])
    return collar


def _sailor_colors(p: CharacterParams, pts, y, top, shoulder_y, sw):
    """A sailor collar: square flap on the back, lapels forming a V in front,
    a light undershirt inside the V (edge lines would alias at vertex-colour
    resolution, so there are none)."""
    x, z = np.abs(pts[:, 0]), pts[:, 2]
    col = np.tile(srgb_to_linear(p.top_color), (len(pts), 1))  # no stripes under a sailor collar
    collar_c = srgb_to_linear(_sailor_collar(p))
    v_y, k = _sailor_v(shoulder_y, sw)
    lapel_w = 0.22 * sw
    front = z > 0.0

    def sm(d):  # soft edge over ~ one vertex spacing: straight edges, not staircases
        return np.clip(d / 0.012 + 0.5, 0, 1)

    edge = (y - v_y) * k  # |x| of the V's inner edge at height y
    above = sm(y - v_y)
    inside_v = front * above * sm(edge - x)
    lapel = front * above * sm(x - edge) * sm(edge + lapel_w - x)
    flap_y, flap_x = shoulder_y - 1.05 * sw, 0.8 * sw
    flap = ~front * sm(y - flap_y) * sm(flap_x - x)
    over = sm(y - (shoulder_y - 0.035)) * sm(flap_x - x)  # across the shoulders
    collar_s = _sailor_collar(p)
    under = (0.96, 0.96, 0.95) if np.mean(collar_s) < 0.5 else _scale(p.top_color, 0.6)  # contrast with the lapels
    for mask, c in ((inside_v, srgb_to_linear(under)), (np.maximum.reduce([lapel, flap, over]), collar_c)):
        col = col * (1 - mask[:, None]) + c * mask[:, None]
    return col


def _sleeve_colors(p, pts, s, sleeve_end, skin_lin):
    n = len(pts)
    col = np.tile(skin_lin, (n, 1))
    parts = np.full(n, Part.SKIN, np.uint8)
    cloth = s < sleeve_end
    top = srgb_to_linear(p.top_color)
    col[cloth] = top
    parts[cloth] = Part.CLOTH
    if p.sailor:  # plain sleeves, cuffs in the collar colour
        col[cloth & (s > sleeve_end - 0.035)] = srgb_to_linear(_sailor_collar(p))
        return col, parts
    if p.top_pattern in ("trim", "two_tone", "stripes"):
        cuff = cloth & (s > sleeve_end - 0.035)
        col[cuff] = srgb_to_linear(p.trim_color)
    if p.top_pattern == "stripes":
        band = cloth & (np.sin(s * 60) > 0.6)
        col[band] = srgb_to_linear(p.trim_color)
    return col, parts


def _leg_colors(p, y, sock_top, pant_bottom, skin_lin):
    n = len(y)
    col = np.tile(skin_lin, (n, 1))
    parts = np.full(n, Part.SKIN, np.uint8)
    sock = y < sock_top
    col[sock] = srgb_to_linear(p.socks_color)
    parts[sock] = Part.SOCKS
    if p.socks_stripes:
        band = sock & (np.sin(y * 2 * np.pi / 0.03) > 0.3)
        col[band] = srgb_to_linear(p.trim_color)
    elif p.socks != "none":
        col[sock & (y > sock_top - 0.015)] = srgb_to_linear(p.trim_color)
    pants = y > pant_bottom
    col[pants] = srgb_to_linear(p.bottom_color)
    parts[pants] = Part.CLOTH
    if p.bottom in ("shorts", "pants"):
        col[pants & (y < pant_bottom + 0.02)] = srgb_to_linear(_scale(p.bottom_color, 0.7))
    return col, parts


def _skirt_colors(p, pts, s, phi, top_y, hem_y):
    n = len(pts)
    base = srgb_to_linear(p.bottom_color)
    col = np.tile(base, (n, 1))
    trim = srgb_to_linear(p.trim_color)
    if p.skirt_pattern == "trim":
        col[s > 0.86] = trim
    elif p.skirt_pattern == "stripes":
        col[(s > 0.72) & (s < 0.78)] = trim
        col[(s > 0.84) & (s < 0.9)] = trim
    elif p.skirt_pattern == "plaid":
        # periods well above the vertex spacing (~2 cm), or the checks alias
        gx = (np.sin(pts[:, 0] * 2 * np.pi / 0.1) > 0.55) | (np.sin(pts[:, 2] * 2 * np.pi / 0.1) > 0.55)
        gy = np.sin(pts[:, 1] * 2 * np.pi / 0.1) > 0.55
        dark = srgb_to_linear(_scale(p.bottom_color, 0.6))
        col[gx | gy] = dark
        col[gx & gy] = trim
    col[s < 0.08] = srgb_to_linear(_scale(p.bottom_color, 0.75))  # waistband
    return col


# ---------------------------------------------------------------------------
# Facial morph targets: the face is painted, so expressions move painted
# geometry. Each eye gets a patch of the head surface (same UVs as the head
# beneath, lifted a few mm so it wins the depth test): blink stretches the
# skin above the eye down and moves the upper lash line onto the lower lid
# line, while the eye's own rows collapse onto that line. The mouth gets an interior (dark, with a tongue) that is a flat
# line at rest, so it draws nothing, and opens into each vowel's shape.

_MOUTH_SHAPES = {  # (half width, half height) in units of the painted mouth's half width
    "aa": (0.85, 0.75), "ih": (1.0, 0.3), "ou": (0.45, 0.5), "ee": (1.1, 0.4), "oh": (0.65, 0.7),
}


def _uv_to_head(uv, head_c, radii):
    """Face-disk UVs [..., 2] -> points on the (chinned) head surface and unit outward directions."""
    rx, ry, rz = radii
    x, y = uv[..., 0] - 0.5, -(uv[..., 1] - 0.5)
    th = np.hypot(x, y) / _FACE_R * _FACE_THETA
    phi = np.arctan2(y, x)
    pts = head_c + np.stack([rx * np.sin(th) * np.cos(phi), ry * np.sin(th) * np.sin(phi), rz * np.cos(th)], -1)
    _chin(pts, head_c, rx, ry, rz)
    out = pts - head_c
    return pts, out / np.linalg.norm(out, axis=-1, keepdims=True)


def _add_patch(b: _Builder, grid, normals, joint, part, colors, uv, orient) -> np.ndarray:
    """Add a [R, C] grid as triangles, keeping zero-area ones (a morph opens them);
    front faces point along ``normals`` in the ``orient`` shape."""
    R, C, _ = grid.shape
    i, j = np.meshgrid(np.arange(R - 1), np.arange(C - 1), indexing="ij")
    a = (i * C + j).ravel()
    tri = np.concatenate([np.stack([a, a + C, a + C + 1], 1), np.stack([a, a + C + 1, a + 1], 1)])
    Q, N = orient.reshape(-1, 3), normals.reshape(-1, 3)
    fn = np.cross(Q[tri[:, 1]] - Q[tri[:, 0]], Q[tri[:, 2]] - Q[tri[:, 0]])
    if np.sum(np.einsum("ij,ij->i", fn, N[tri[:, 0]])) < 0:
        tri = tri[:, ::-1]
    n = R * C
    b.pos.append(grid.reshape(-1, 3))
    b.nrm.append(N)
    b.tri.append(tri + b.count)
    jj, ww = _rigid(joint, n)
    b.jnt.append(jj)
    b.wgt.append(ww)
    b.part.append(np.full(n, part, np.uint8))
    b.col.append(colors)
    b.uv.append(uv)
    b.count += n
    return np.arange(b.count - n, b.count)


def _face_morphs(b: _Builder, p: CharacterParams, feats: dict, head_c, radii, head_joint, s16) -> dict:
    """Add the eye patches and the mouth interior; returns morph name -> (vertex indices, [K, 3] deltas)."""
    morphs = {}
    a, bb = feats["eye_a"], feats["eye_b"]
    for side, name in ((1, "blink_l"), (-1, "blink_r")):  # +x is the character's left
        cx, cy = feats["eye_uv"][side]
        c, s = np.cos(side * p.eye_tilt), np.sin(side * p.eye_tilt)
        X, Y1 = 1.3 * a, 1.3 * bb  # patch in the eye's frame (y down, like v)
        xs = np.linspace(-X, X, 19)
        h = bb * np.sqrt(np.clip(1 - (xs / a) ** 2, 0, 1))  # the sclera's half height per column
        L = 0.2 * bb  # the upper lash band just above the sclera: moved down whole, so the line keeps its width
        bx, by = np.subtract(feats["brow_uv"][side], (cx, cy))
        brow = -s * bx + c * by + 0.05 * bb + 0.12 * bb  # below the brow's lower edge (see _paint_face)
        Y0 = np.minimum(np.maximum(-h - L - 0.15 * bb, brow), -h - L - 0.02 * bb)  # a thin skin band, stretched
        lid = np.linspace(0, 1, 8)[:, None]
        lash = np.linspace(0, 1, 4)[1:, None]
        eye = np.linspace(0, 1, 7)[1:, None]
        low = np.linspace(0, 1, 5)[1:, None]
        rest = np.concatenate([Y0 + lid * (-h - L - Y0), -h - L + lash * L, -h + eye * 2 * h, h + low * (Y1 - h)])
        shut = np.concatenate([Y0 + lid * (h - L - Y0), h - L + lash * L, h + 0 * eye, h + low * (Y1 - h)])
        x = np.broadcast_to(xs, rest.shape)

        def place(y):
            uv = np.stack([cx + c * x - s * y, cy + s * x + c * y], -1)
            pts, out = _uv_to_head(uv, head_c, radii)
            return uv, pts, out

        uv, pts, out = place(rest)
        _, pts1, out1 = place(shut)
        # Lift over the head's chords, and over the sag of the straight path a moving vertex takes
        # mid-blink (d^2 / 8r for a move d on a sphere of radius r), so the head never shows through.
        travel = np.linalg.norm(pts1 - pts, axis=-1)
        lift = (0.0006 * s16 + 1.5 * travel ** 2 / (8 * min(radii)))[..., None]
        grid = pts + lift * out
        idx = _add_patch(b, grid, out, head_joint, Part.SKIN, np.ones((grid[..., 0].size, 3)), uv.reshape(-1, 2), grid)
        morphs[name] = (idx, (pts1 + lift * out1 - grid).reshape(-1, 3))

    mx, my = feats["mouth_uv"]
    mw = feats["eye_a"] * 0.7  # the painted mouth's half width (_paint_face)
    rho = np.linspace(0, 1, 6)[:, None]
    ang = np.linspace(0, 2 * np.pi, 25)[None, :]
    lift = 0.0008 * s16

    def mouth(xl, yl):
        pts, out = _uv_to_head(np.stack([mx + xl, my + yl], -1), head_c, radii)
        return pts + lift * out, out

    def shape(w, hgt):
        return rho * w * mw * np.cos(ang), rho * hgt * mw * np.sin(ang)

    x0, _ = shape(0.9, 0.0)
    _, out = mouth(x0, 0 * x0)
    ends = mouth(np.array([-0.9 * mw, 0.9 * mw]), np.zeros(2))[0]
    # at rest a straight segment between the corners: no area, nothing drawn
    rest = (ends[0] + ends[1]) / 2 + (x0 / (0.9 * mw))[..., None] * (ends[1] - ends[0]) / 2
    opened, _ = mouth(*shape(*_MOUTH_SHAPES["aa"]))
    depth = np.clip(rho * np.sin(ang), 0, 1)  # dark inside, a tongue towards the lower lip
    col = srgb_to_linear((0.3, 0.07, 0.09)) * (1 - depth[..., None]) + srgb_to_linear((0.85, 0.4, 0.45)) * depth[..., None]
    col = np.broadcast_to(col, rest.shape).reshape(-1, 3)
    idx = _add_patch(b, rest, out, head_joint, Part.MOUTH, col, np.tile(_WHITE_UV, (rest[..., 0].size, 1)), opened)
    for name, (w, hgt) in _MOUTH_SHAPES.items():
        morphs[name] = (idx, (mouth(*shape(w, hgt))[0] - rest).reshape(-1, 3))
    # joy: an open smile, flat top lifted at the corners, round bottom
    xs, ys = rho * mw * np.cos(ang), rho * mw * np.sin(ang)
    ys = np.where(ys > 0, 0.6 * ys, 0.08 * ys) - 0.3 * mw * (rho * np.cos(ang)) ** 2
    morphs["joy"] = (idx, (mouth(xs, ys)[0] - rest).reshape(-1, 3))
    return morphs


# texel tiles of the layer cards' textures: corners outside the face disk, 32-aligned so
# mipmaps up to 32 x 32 texels never mix them with the skin around them
_HIGHLIGHT_TILE = (0, 32, _TEX - 32, _TEX)  # rows r0:r1, cols c0:c1 (top right)
_BLUSH_TILE = (_TEX - 32, _TEX, 0, 32)  # bottom left


def _tile_uv(tile, x, y) -> np.ndarray:
    """Tile coordinates x, y in -1..1 (y down) -> uv in the face atlas."""
    r0, r1, c0, c1 = tile
    return np.stack([(c0 + (x + 1) / 2 * (c1 - c0)) / _TEX, (r0 + (y + 1) / 2 * (r1 - r0)) / _TEX], -1)


def _paint_layer_tiles(tex: np.ndarray, p: CharacterParams) -> None:
    """The layer cards' textures, in place: the highlight a white disc (and a small one) on
    alpha 0; the blush pink with alpha 0.8 at the centre fading to 0 at the rim (> 0.5, what
    covers in the UDP, inside ~0.6 of the radius)."""
    n = 32
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / n * 2 - 1
    r0, r1, c0, c1 = _HIGHLIGHT_TILE
    disc = np.clip((0.55 - np.hypot(xx + 0.2, yy + 0.2)) * n / 2 + 0.5, 0, 1)
    disc = np.maximum(disc, np.clip((0.22 - np.hypot(xx - 0.45, yy - 0.45)) * n / 2 + 0.5, 0, 1))
    tex[r0:r1, c0:c1, :3] = 255
    tex[r0:r1, c0:c1, 3] = np.round(disc * 255)
    r0, r1, c0, c1 = _BLUSH_TILE
    tex[r0:r1, c0:c1, :3] = np.round(np.array([1.0, 0.55, 0.6]) * 255)
    tex[r0:r1, c0:c1, 3] = np.round(0.8 * np.clip(1 - np.hypot(xx, yy), 0, 1) ** 0.7 * 255)


def _layer_cards(b: _Builder, p: CharacterParams, feats: dict, head_c, radii, head_joint, s16, tex,
                 morphs: dict) -> dict:
    """Add the cut-out cards over the painted face (last: the other vertices keep their indices)
    and paint their textures into ``tex``; returns ALPHA_MODES name -> (vertex indices, cutoff,
    double-sided). The highlight sinks under the lid with the blink morph (added to it)."""
    _paint_layer_tiles(tex, p)
    a, bb = feats["eye_a"], feats["eye_b"]
    t = np.linspace(-1, 1, 5)
    y, x = np.meshgrid(t, t, indexing="ij")
    lid_lift = 0.0006 * s16  # _face_morphs' least lift of the lids over the head
    cards = {"MASK": [], "BLEND": []}
    for side, blink in ((1, "blink_l"), (-1, "blink_r")):
        cx, cy = feats["eye_uv"][side]
        # highlight: over the iris, above the lids (their lift + its own), double-sided
        half = 0.55 * a
        pts, out = _uv_to_head(np.stack([cx + half * x, cy - 0.2 * bb + half * y], -1), head_c, radii)
        lift = 2.5 * lid_lift + 0.0004 * s16
        idx = _add_patch(b, pts + lift * out, out, head_joint, Part.SKIN, np.ones((x.size, 3)),
                         _tile_uv(_HIGHLIGHT_TILE, x, y).reshape(-1, 2), pts)
        cards["MASK"].append(idx)
        if blink in morphs:  # closing the lid takes the highlight under it
            lids, delta = morphs[blink]
            morphs[blink] = (np.concatenate([lids, idx]),
                             np.concatenate([delta, (-2 * lift * out).reshape(-1, 3)]).astype(np.float32))
        # blush: below the eye, over the lower lid rows, single-sided (faces out)
        bx, by = cx + side * a * 0.2, cy + bb * 1.55
        pts, out = _uv_to_head(np.stack([bx + 0.9 * a * x, by + 0.45 * bb * y], -1), head_c, radii)
        idx = _add_patch(b, pts + 1.5 * lid_lift * out, out, head_joint, Part.SKIN, np.ones((x.size, 3)),
                         _tile_uv(_BLUSH_TILE, x, y).reshape(-1, 2), pts)
        cards["BLEND"].append(idx)
    return {"MASK": (np.concatenate(cards["MASK"]), 0.5, True), "BLEND": (np.concatenate(cards["BLEND"]), 0.5, False)}


def _alpha_arrays(cards: dict, num_vertices: int) -> dict:
    """SkinnedMesh alpha fields from ALPHA_MODES name -> (vertex indices, cutoff, double-sided);
    every other vertex OPAQUE and double-sided (as the procedural body has always been drawn)."""
    if not cards:
        return {}
    mode = np.zeros(num_vertices, np.uint8)
    cutoff = np.full(num_vertices, 0.5, np.float32)
    double = np.ones(num_vertices, bool)
    for name, (idx, cut, two_sided) in cards.items():
        mode[idx], cutoff[idx], double[idx] = ALPHA_MODES.index(name), cut, two_sided
    return {"alpha_mode": mode, "alpha_cutoff": cutoff, "double_sided": double}


def _morph_arrays(morphs: dict, num_vertices: int) -> dict:
    """SkinnedMesh morph fields from name -> (indices, deltas)."""
    if not morphs:
        return {}
    dp = np.zeros((len(morphs), num_vertices, 3), np.float32)
    for t, (idx, delta) in enumerate(morphs.values()):
        dp[t, idx] = delta
    return {"morph_names": tuple(morphs), "morph_positions": dp}


def _face_expressions(names: tuple) -> dict:
    """Preset expressions over the face morphs (blink = both lids)."""
    if not names:
        return {}
    one = {n: np.eye(len(names), dtype=np.float32)[i] for i, n in enumerate(names)}
    out = dict(one)
    out["blink"] = np.clip(one["blink_l"] + one["blink_r"], 0, 1)
    return out
