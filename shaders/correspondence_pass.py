"""Exact sheet correspondences on the rasterizer (``glsl/correspondence.glsl``).

conr-rt's table lookup (``LookupPass``) finds a target pixel's sheet position
through a grid³ table of mean sheet positions: a voxel is ~3 % of the body,
so eyes, stripes and strings are averaged away. This pass finds it exactly,
by projective texturing:

- once per sheet (``set_sheet``), every mesh vertex gets, per view, its pixel
  position in the view as the network sees it (after the sheet's
  re-framing) and its depth there: :func:`camera_view_attributes` for views
  whose camera and pose are known (``view_NN_view.npz``), or
  :func:`udp_nn_view_attributes` for views that bring only their UDP (the
  sheet pixel whose UDP is nearest to the vertex's, visible when it is
  within ``NN_RADIUS`` of the canonical box). Views with a camera also get
  their surface map drawn once (per sheet pixel the rest-pose landmark of
  the nearest surface: the view's own UDP, with the UDP pass's glTF alpha
  rule, so a cut-out or a culled back face shows what is behind it); views
  with only a UDP bring it.
- per frame (``run(pose, camera)``), the target pose is rasterized once
  into a visibility buffer (the UDP pass's skinning, so the same pixels are
  covered): per pixel the nearest triangle and its perspective-correct
  barycentrics. A full-screen resolve interpolates each view's position from
  the triangle's 3 vertices' texels (what the rasterizer would interpolate)
  and samples the view's reference there from only the texels whose surface
  map shows the target point's own surface: their rest-pose landmark where
  the point's triangle predicts it, within a pixel step of the view
  (``SAME_SURFACE_STEPS``; ``same_surface`` in the GLSL; the depth test with
  a pixel's slack it replaced let a surface about a pixel behind another
  take its colour: a face under the fringe, the scalp under hair, legs
  under a skirt): ``sampled [M, 4, H, W]`` and ``cover [M, 1, H, W]``, what
  ``LookupPass`` gives (and ``FusionNet`` takes). The target is skinned and
  rasterized once whatever the number of views (each view's texel as a
  varying took a draw per 4 views; on llvmpipe a 6-view sheet's raster cost
  ~2.9x this one); the resolve pays instead 3 texel fetches per view and 4
  packed sheet texels (``pack_sheet``) (benchmarks/correspondence_bench.py).
  The clear, the resolve (scissor) and the read-back cover only the box of
  the pixels the visibility buffer covers (``_covered_box``; the outputs
  are 0 outside it): ~0.7x the per-frame CPU at 256² (docs/shaders.md,
  "Performance of the runtime's correspondences").
- the visibility buffer also holds each pixel's eye depth (in character
  heights, ``glsl/include/eye_depth.glsl``), read back with the triangle
  ids, and each triangle's part label is looked up on the host
  (``read_gbuf``, ``ViewsRead.gbuf``: the toon pass's G-buffer's depth and
  part): the fusion draws the target's inner lines on the pixels the toon
  pass inks from them (``runtime.nn.lookup_net.toon_line``; session 13).

Sheet positions are in the sheet's pixels (S x S, row 0 = top, pixel
centres at +0.5); ``Framing`` maps a view's own image pixels to them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import moderngl
import numpy as np

from conrt.characters.colour import srgb_to_linear
from conrt.characters.part_labels import draws_part_lines
from conrt.errors import ConfigError, InputError
from conrt.shaders.camera import eye_depth_coefficients, raster_view_proj
from conrt.shaders.context import current
from conrt.shaders.geometry import SkinnedGeometry
from conrt.shaders.lookup_pass import MAX_VIEWS, _as_numpy, _check_finite
from conrt.shaders.material import albedo_image, albedo_texture, base_color, face_region
from conrt.shaders.program import load_program
from conrt.shaders.toon_pass import ToonStyle
from conrt.types import Camera, Character, Pose

log = logging.getLogger(__name__)

# views per resolve draw, an attachment each (colour + coverage): a whole sheet
# of up to 8 views at once (the per-pixel fetches are shared). Coverage rides
# in the alpha (the network's sampled alpha is 1 exactly where it is > 0):
# separate coverage attachments cost a quarter more to clear, write and read.
GROUP = 8
OUTPUTS = GROUP  # colour attachments the pass needs
NN_RADIUS = 0.01  # UDP-NN: a match farther than this (canonical box units) is "not seen in this view"
# exact: the mesh seen through a view's camera must cover the view's drawing
# (measured IoU: 1.0 with the right file, <= 0.65 with another view's)
MIN_SILHOUETTE_IOU = 0.8
# exact views: a sheet texel shows the target point's own surface when its
# landmark is where the point's triangle predicts (its affine map view pixel
# -> landmark) within SAME_SURFACE_STEPS pixel steps of the view (the median
# landmark distance between adjacent pixels) + half a pixel of the
# triangle's own footprint, and no farther from the point's landmark than
# that many steps + a step per pixel of distance (glsl same_surface): the
# second-order rest (curvature, the next triangle) stays under it, a surface
# over or under the point's (fringe over a face, hair over the scalp, skirt
# over legs) is farther. Measured on 2 unseen seeds at 256², n = 4: half a
# step without the footprint term dropped coverage (unlit 0.182x flat vs
# 0.168x); the footprint term alone, without the distance bound, took
# colours of grazing views whose pixels show nothing near the point.
# EXACT_SLACK: float32 rounding of the interpolations, with margin.
SAME_SURFACE_STEPS = 1.0
EXACT_SLACK = 1e-5
# Inked sheets (set_sheet(..., inked=True)): a view draws its outline ink on its own contour
# pixels (its silhouette, either side of a surface jump), which show the point's own surface
# and pass same_surface; where the target has no edge that ink is wrong (the demo's neck: sheet
# view 0's ink, kept by the fusion's keep-seen rule where the toon pass draws skin; a turnaround's
# faces, whose sides the side views see only along their silhouettes: 17.5 % of the face pixels).
# So each view's texels within a pixel (per 256 px of the side) of its contours (the fusion's
# target_edges rule on the view's surface map, the same threshold TARGET_EDGE_JUMP: a pixel next
# to nothing or to a landmark jump) are un-inked once per sheet (``uninked``: the colour of the
# same surface beside the band) and sampled as that colour at full weight; until session 13 only
# off the target's edges, as drawn on them (where the refinement and lookup_net.ink_edges drew the
# target's lines from it): since, the fusion draws them from the target's G-buffer in the toon
# pass's ink (lookup_net.toon_line, ink_lines) and the views' colour is un-inked there too. A
# contour texel with no same-surface colour beside it keeps its ink and counts CONTOUR_WEIGHT of
# its colour and coverage (session 9's rule for every contour texel). Measured (docs/conr_rt.md, "A view's contour ink, un-inked"; turnaround toon
# sheets, seeds 900000-900003, n = 4, L1 x flat of the default / the plain lookup): session 9's
# weights 0.297 / 0.459; un-inked (UNINK_DARKER) at full weight 0.283 / 0.386; every band texel
# un-inked, ink or not: at full weight 0.284 / 0.386, at weight 0.5 0.294, at 0.25 0.302
# (un-inked or not, the weight only hid a right colour); weight ~0 without un-inking 0.315; un-inked
# on the target's edges too 0.310 (sharpness 0.81: the edges lost their ink) before the lines were
# drawn from the G-buffer, with them (session 13) 0.215 -> 0.193 (face SSIM 0.874 -> 0.881,
# sharpness 1.13 -> 1.08; the plain lookup, which draws no lines, 0.379 -> 0.415); a band of 2 px 0.288.
# Session 9 on the sample demo's 5 frames (L1 256² / 128², with the edge ink rule): without the
# weights 0.0435 / 0.0707, 0.25 0.0406 / 0.0690, 0.5 0.0411 / 0.0691.
CONTOUR_WEIGHT = 0.25
# uninked: a contour texel is ink when its luma is below this x its own surface's colour beside the
# band (a toon outline is the colour darkened; a lighter or equal texel is a rim light or the texture's
# own detail, kept as drawn). Measured (L1 x flat, default; procedural turnaround toon n = 4 / Godette
# toon 256² / 128², 6 frames a clip; before un-inking 0.297 / 0.2195 / 0.3327): every band texel
# un-inked 0.2837 / 0.2207 / 0.3345, below 0.9 x 0.2832 / 0.2201 / 0.3335, below 0.7 x 0.2837 / 0.2199 /
# 0.3369
UNINK_DARKER = 0.9
# The light agreement (session 15, docs/runtime.md "the light a view saw"; set_sheet(lit=True): sheets
# judged inked or shaded, every view exact): a view keeps the tone its own pose and camera gave a point,
# the target is lit for its pose. Where a view that sees the point (coverage > 0.5) drew it in the target's
# tone band, the other seeing views' coverage x LIGHT_OTHER_WEIGHT (the fusion's softmax takes
# 8 (cover - 1): -6 for them); where none agrees nothing changes. Bands: ToonStyle's thresholds on N.L,
# the per-vertex N.L interpolated (the skinned normal, unit, in each camera's eye space, with its key
# light, which turns with the camera): the light `conrt sheet` and the evals draw with; a user sheet's
# is unknown (a wrong band only chooses among views that see the point, as without the rule). Measured
# by benchmarks/light_agreement_probe.py (selection seeds, n = 4, toon clip 0.2312 -> 0.2252 x flat;
# x 0.5: 0.2257); unlit sheets got worse there, so they never take it.
LIGHT_OTHER_WEIGHT = 0.25
# ... and where no seeing view agrees (relit): each seeing view drawn in a LIGHTER band than the target's
# takes its colour x ratio(target's band) / ratio(its band) in linear RGB, ratio(lit) = 1, ratio(shade),
# ratio(deep) per part label from the sheet itself, once per sheet (``tone_ratios``: same-surface pixels two
# views draw lit and in shade, the median shaded / lit colour, at most 1). Only towards darker: brightening
# (the probe's (a) + (c)) painted near-white patches on faces the look lights near flat (their plain N.L says
# shade where the views drew them lit). A part with fewer than RELIGHT_MIN_PAIRS pairs keeps its colours.
# Measured in the runtime (docs/runtime.md, session 15): toon clip 0.2150 -> 0.1886 x flat, face SSIM
# 0.840 -> 0.850 (report seeds, n = 4; (a) alone 0.2095, 0.842).
RELIGHT_MIN_PAIRS = 20
RELIGHT_GAMMA = 2.2  # the relight's multiply in sRGB: linear gain ^ (1 / 2.2) (relight_gains)
_PARTS = 9  # conrt.types.Part's labels: the resolve's ratio table (u_ratio)
# the part label (+ _PARTS on the face) rides above corner 2's vertex index: sheets of < 2^19 vertices
_PART_SHIFT = float(1 << 19)
_LIGHT_STYLE = ToonStyle()
_NDL_LEVELS = 4095  # a view's corners 0 and 1 N.L share a texel's float: 12 bits each, exact below 2^24
_LUMA = np.array((0.299, 0.587, 0.114), np.float32)  # = runtime.nn.sheet.LUMA (shaders do not import runtime)
TARGET_EDGE_JUMP = 0.06  # = runtime.nn.lookup_net.EDGE_JUMP (tests/shaders check): shaders do not import runtime
_ATTR_WIDTH = 4096  # texels per row of the per-vertex and per-triangle textures (= texel_of() in the GLSL)
_MAX_TRIANGLES = 1 << 24  # the visibility buffer holds triangle id + 1 as an exact float32
# the albedo's texture unit in the surface and raster draws (0, 1: attributes and landmarks; 3: joints;
# the resolve rebinds 2 for the sheet); SkinnedGeometry.MORPH_UNITS are 6, 7
_ALBEDO_UNIT = 2


@dataclass(frozen=True)
class Framing:
    """A view image's pixels -> the sheet's pixels: ``x_s = x * scale + dx``
    (continuous coordinates, pixel edges at integers), as ``runtime.nn.official.apply_crop``
    re-frames the image."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0


def camera_view_attributes(positions: np.ndarray, camera: Camera, framing: Framing = Framing()) -> np.ndarray:
    """Posed vertices [V, 3] seen through the view's camera -> [V, 4] f32
    (x·w, y·w, w, eye depth), x, y in sheet pixels (row 0 = top)."""
    p = np.c_[np.asarray(positions, np.float64), np.ones(len(positions))]
    clip = p @ raster_view_proj(camera, flip_y=False).astype(np.float64).T
    w = clip[:, 3]
    if not np.all(w > 1e-9):
        raise InputError("a sheet view's camera has vertices behind it (clip w <= 0); "
                         "its view file does not fit this character")
    # project(): x = (ndc_x + 1) / 2 * W, y = (1 - ndc_y) / 2 * H, times w
    xw = (clip[:, 0] + w) * 0.5 * camera.width
    yw = (w - clip[:, 1]) * 0.5 * camera.height
    depth = -(p @ camera.view.astype(np.float64).T)[:, 2]
    out = np.stack([xw * framing.scale + framing.dx * w, yw * framing.scale + framing.dy * w, w, depth], 1)
    return out.astype(np.float32)


def light_eye() -> np.ndarray:
    """The light agreement's key light, unit, in a camera's eye space (``ToonStyle.light``)."""
    light = np.asarray(_LIGHT_STYLE.light, np.float64)
    return light / np.linalg.norm(light)


def tone_band(ndl: np.ndarray) -> np.ndarray:
    """N.L -> the toon pass's tone band: 0 deep shade, 1 shade, 2 lit (``ToonStyle``'s thresholds;
    ``tone_band`` in glsl/correspondence.glsl)."""
    return (ndl > _LIGHT_STYLE.lit_threshold).astype(np.int8) + (ndl > _LIGHT_STYLE.deep_threshold).astype(np.int8)


def tone_ratios(lit: np.ndarray, shaded: np.ndarray, bands: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """A sheet's own shading per part label from same-surface pairs of two views' pixels, one drawn lit
    and one in shade or deep shade: ``lit``, ``shaded`` [N, 3] straight linear RGB, ``bands`` [N] (the
    second's, 0 deep or 1 shade), ``parts`` [N] -> [_PARTS, 2, 3] (deep, shade) colour / lit colour, the
    median over the pairs (lit colours above 0.01), at most 1 (only darker) and deep at most shade; 1
    where a part has fewer than ``RELIGHT_MIN_PAIRS``; a band missing from a part's pairs is the other's
    x or / ``ToonStyle.deep_multiplier`` (as the probe, benchmarks/light_agreement_probe.py)."""
    out = np.ones((_PARTS, 2, 3), np.float64)
    ok = lit.min(1) > 0.01
    deep = _LIGHT_STYLE.deep_multiplier
    for part in np.unique(parts):
        if not 0 <= part < _PARTS:
            continue
        found = {}
        for b in (1, 0):
            here = ok & (parts == part) & (bands == b)
            if here.sum() >= RELIGHT_MIN_PAIRS:
                found[b] = np.median(shaded[here] / lit[here], 0)
        if 1 in found and 0 not in found:
            found[0] = found[1] * deep
        if 0 in found and 1 not in found:
            found[1] = found[0] / deep
        if found:
            out[part, 1] = np.minimum(found[1], 1.0)
            out[part, 0] = np.minimum(found[0], out[part, 1])
    return out


def relight_gains(ratios: np.ndarray) -> np.ndarray:
    """``tone_ratios`` [_PARTS, 2, 3] -> the resolve's table [_PARTS, 3, 3]: per part the gain of a colour
    drawn lit to deep shade, lit to shade and shade to deep shade, applied to the sampled (sRGB) colour as
    (linear gain) ^ (1 / RELIGHT_GAMMA): a multiply (the exact transfer's pow per view and pixel, both
    ways, cost ~4 ms a frame at 256² on llvmpipe)."""
    deep, shade = ratios[:, 0], ratios[:, 1]
    linear = np.stack([deep, shade, deep / np.maximum(shade, 1e-3)], 1)
    return np.clip(linear, 0.0, 1.0) ** (1.0 / RELIGHT_GAMMA)


def _pixel_step(udp: np.ndarray) -> float:
    """Median UDP distance between horizontally adjacent character pixels:
    how far apart the sheet's samples of the surface are."""
    both = (udp[:, 1:, 3] > 0.5) & (udp[:, :-1, 3] > 0.5)
    if not both.any():
        return 0.0
    return float(np.median(np.linalg.norm(udp[:, 1:, :3][both] - udp[:, :-1, :3][both], axis=1)))


def udp_nn_view_attributes(landmarks: np.ndarray, sheet_udp: np.ndarray, radius: float = NN_RADIUS) -> np.ndarray:
    """Vertex landmarks [V, 3] (their UDP) and a view's UDP [S, S, 4] in the
    sheet's framing -> [V, 4] f32 (x, y, 1, visible): the sheet pixel whose
    UDP is nearest (a KD-tree per view), visible when within ``radius`` (or
    1.5 pixel steps, when the sheet's pixels are coarser than that)."""
    from scipy.spatial import cKDTree  # lazy: scipy only on this path

    udp = np.asarray(sheet_udp, np.float32)
    if udp.ndim != 3 or udp.shape[2] != 4:
        raise InputError(f"sheet UDP: expected (S, S, 4), got shape {udp.shape}")
    rows, cols = np.nonzero(udp[..., 3] > 0.5)
    out = np.zeros((len(landmarks), 4), np.float32)
    out[:, 2] = 1.0
    if len(rows) == 0:
        return out  # a view showing nothing matches nothing
    radius = nn_radius(udp, radius)
    tree = cKDTree(udp[rows, cols, :3].astype(np.float64))
    dist, idx = tree.query(np.asarray(landmarks, np.float64), k=1, distance_upper_bound=radius)
    hit = np.isfinite(dist)
    out[hit, 0] = cols[idx[hit]] + 0.5
    out[hit, 1] = rows[idx[hit]] + 0.5
    out[hit, 3] = 1.0
    return out


def nn_radius(udp: np.ndarray, radius: float = NN_RADIUS) -> float:
    """The UDP distance within which a udp-nn view's pixel matches a vertex."""
    return max(radius, 1.5 * _pixel_step(udp))


def _unorm16(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0.0, 1.0) * 65535.0).astype(np.uint32)


def contour_band(surface: np.ndarray, reach: int = 1) -> np.ndarray:
    """``surface`` [M, S, S, 4] (landmark xyz, w > 0.5 where shown) -> [M, S, S] bool: the
    shown pixels within ``reach`` pixels of a contour of their view, the fusion's
    ``target_edges`` rule on the view (a landmark or coverage range above
    ``TARGET_EDGE_JUMP`` over the pixels around): where a toon sheet draws its ink. A
    view seen from its own camera has its contours on the target's edges, pixel for pixel."""
    shown = surface[..., 3] > 0.5
    r, s = int(reach), surface.shape[1]
    values = np.concatenate([surface[..., :3] * shown[..., None], shown[..., None]], -1)  # nothing: 0, as the target
    padded = np.pad(values, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge")  # the border: the pixels inside only
    lo, hi = values.copy(), values.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            other = padded[:, r + dy:r + dy + s, r + dx:r + dx + s]
            np.minimum(lo, other, out=lo)
            np.maximum(hi, other, out=hi)
    return ((hi - lo).max(-1) > TARGET_EDGE_JUMP) & shown


def uninked(surface: np.ndarray, reference: np.ndarray, band: np.ndarray, reach: int = 1
            ) -> tuple[np.ndarray, np.ndarray]:
    """An inked sheet's colours without its contour ink, once per sheet: ``surface`` [M, S, S, 4]
    (landmark xyz, w > 0.5 where shown), ``reference`` [M, S, S, 4] premultiplied, ``band`` [M, S, S]
    (``contour_band(surface, reach)``: where a toon sheet draws its outlines) -> (the reference with
    each band texel's straight colour, where it is ink (luma below ``UNINK_DARKER`` x that colour's),
    the alpha-weighted mean of its 8 neighbours' off the band **on its own surface** (landmarks
    within ``TARGET_EDGE_JUMP`` of its own: not across the jump the band marks), its alpha kept;
    filled [M, S, S] bool: the band texels with such neighbours, ink or not). ``reach`` rounds, a
    texel filled in one a neighbour in the next (the band reaches ``reach`` px from a contour); a
    texel with no same-surface texel off the band that near (a lock of hair all contour) keeps its
    colour. From the sheet's colours and surface map only: no ink mask of the rig's (a drawn sheet
    has none)."""
    shown = surface[..., 3] > 0.5
    known = shown & ~band
    colour = reference.astype(np.float32)  # a copy
    filled = np.zeros_like(band)
    s = band.shape[1]
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    for _ in range(reach):
        k, y, x = np.nonzero(shown & ~known)  # only the band's texels (a few % of the sheet)
        if not len(k):
            break
        total = np.zeros((len(k), 4), np.float32)
        for dy, dx in offsets:
            ny, nx = y + dy, x + dx
            inside = (ny >= 0) & (ny < s) & (nx >= 0) & (nx < s)
            ny, nx = np.clip(ny, 0, s - 1), np.clip(nx, 0, s - 1)
            same = inside & known[k, ny, nx] & (
                np.abs(surface[k, ny, nx, :3] - surface[k, y, x, :3]).max(-1) <= TARGET_EDGE_JUMP)
            total += colour[k, ny, nx] * same[:, None]
        new = total[:, 3] > 1e-6
        beside = total[:, :3] / np.maximum(total[:, 3:], 1e-6)  # straight
        own = colour[k, y, x, :3] / np.maximum(colour[k, y, x, 3:], 1e-6)
        ink = new & (own @ _LUMA < UNINK_DARKER * (beside @ _LUMA))
        colour[k[ink], y[ink], x[ink], :3] = beside[ink] * colour[k[ink], y[ink], x[ink], 3:]
        known[k[new], y[new], x[new]] = True
        filled[k[new], y[new], x[new]] = True
    return colour, filled


def pack_sheet(surface: np.ndarray, reference: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """The resolve's one fetch per texel: ``surface`` [M, S, S, 4] (landmark
    xyz in 0..1, w > 0.5 where the pixel shows the character) and the
    premultiplied ``reference`` [M, S, S, 4] in 0..1 -> [M, S, S, 4] uint32 of
    16-bit unorm pairs (low, high): (x, y), (z, alpha), (r, g), (b, shown).
    16 bits: 1.5e-5 of the box (a pixel step is ~1e-3 or more), 1.5e-5 of a colour.
    ``shown``: 0 = nothing, else the texel's ``weight`` [M, S, S] in (0, 1] (an inked
    sheet's contour texels, read by the INKED resolve; None = 1). An inked sheet's reference
    is its colours without the contour ink (``uninked``; until session 13 beside them the
    colours as drawn, for the target's edges)."""
    w = 1.0 if weight is None else np.maximum(_unorm16(weight), 1)  # shown: never 0
    shown = (surface[..., 3] > 0.5).astype(np.uint32) * (np.uint32(65535) if weight is None else w)
    lm, ref = _unorm16(surface[..., :3]), _unorm16(reference)
    return np.stack([lm[..., 0] | lm[..., 1] << 16, lm[..., 2] | ref[..., 3] << 16,
                     ref[..., 0] | ref[..., 1] << 16, ref[..., 2] | shown << 16], -1).astype(np.uint32)


@dataclass(frozen=True)
class SheetView:
    """How one sheet view is matched: ``camera`` + ``pose`` (exact,
    ``mode="exact"``) or ``udp`` [S, S, 4] in the sheet's framing (``"udp-nn"``)."""

    mode: str
    camera: Camera | None = None
    pose: Pose | None = None
    framing: Framing = Framing()
    udp: np.ndarray | None = None
    name: str = ""  # for messages, e.g. the view's file name

    MODES = ("exact", "udp-nn")

    def __post_init__(self):
        if self.mode not in self.MODES:
            raise ConfigError(f"unknown correspondence mode {self.mode!r}; valid: {', '.join(self.MODES)}")
        if self.mode == "exact" and (self.camera is None or self.pose is None):
            raise InputError("an exact sheet view needs its camera and pose")
        if self.mode == "udp-nn" and self.udp is None:
            raise InputError("a udp-nn sheet view needs its UDP")


class CorrespondencePass:
    """``CorrespondencePass(ctx, w, h)``; ``set_character(c)``;
    ``set_sheet(views, reference)`` once per sheet; ``run(pose, camera) ->
    (sampled [M, 4, H, W], cover [M, 1, H, W])`` float32 per frame."""

    @current
    def __init__(self, ctx: moderngl.Context, width: int = 256, height: int = 256):
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise ConfigError(f"correspondence pass size must be positive, got {width}x{height}")
        if ctx.info["GL_MAX_COLOR_ATTACHMENTS"] < OUTPUTS or ctx.info["GL_MAX_DRAW_BUFFERS"] < OUTPUTS:
            raise ConfigError(f"the correspondence pass needs {OUTPUTS} colour attachments; this GL has "
                              f"{ctx.info['GL_MAX_COLOR_ATTACHMENTS']}")
        self.ctx = ctx
        self.width, self.height = width, height
        self.program = load_program(ctx, "correspondence_vbuf")
        self._resolves: dict[tuple[int, bool, bool], tuple[moderngl.Program, moderngl.VertexArray]] = {}  # per views
        # per draw and look
        self.inked = False
        self.sheet_ink = None  # an inked sheet's own ink (set_sheet: sheet_ink.estimate_ink)
        self._resolve = self._resolve_vao = None  # the current sheet's (set_sheet)
        self._surface_program = load_program(ctx, "correspondence", defines={"SURFACE_MAP": 1})
        self.geometry: SkinnedGeometry | None = None
        self._vao = self._surface_vao = None
        self._albedo: moderngl.Texture | None = None  # the UDP pass's alpha rule's texture (geometry.alpha_rule)
        self._attrs: moderngl.Texture | None = None
        self._triangles: np.ndarray | None = None  # [T, 3] per triangle its vertex indices (as drawn)
        self._landmarks: np.ndarray | None = None  # [V, 3] f32 per vertex its rest-pose landmark (the UDP)
        self._tri_parts = np.full(1, -1.0, np.float32)  # per triangle id + 1 its part label (set_character)
        self._tri_attrs: moderngl.Texture | None = None  # the resolve's: per triangle and view its corners' texels
        # per view and sheet pixel the landmark it shows and the reference's colour (pack_sheet)
        self._surface: moderngl.Texture | None = None
        self._targets: list[moderngl.Texture] = []  # OUTPUTS attachments, one group of views per H rows
        self._vbuf: moderngl.Texture | None = None  # the raster: (triangle + 1, eye depth, b0, b1) per pixel
        self._depth: moderngl.Renderbuffer | None = None
        self.fbo: moderngl.Framebuffer | None = None
        self._raster_fbo: moderngl.Framebuffer | None = None
        # the visibility buffer's rows and columns with a covered pixel (the last render's): the clear,
        # the resolve and the read-back stay inside (outside it every output is 0)
        self._box: tuple[slice, slice] = (slice(0, 0), slice(0, 0))
        self._vis_fbo: moderngl.Framebuffer | None = None  # reads the visibility buffer's triangle ids
        self._vis_of: moderngl.Texture | None = None  # the texture _vis_fbo reads
        # its first two channels as last read: triangle + 1 and the eye depth (read_gbuf)
        self._vis_ids = np.empty((height, width, 2), np.float32)
        self.views = 0
        self.modes: list[str] = []
        self.side = 0
        # transform feedback (the sheet poses' GPU skinning) needs a complete framebuffer bound on Mesa
        self._scratch_tex = ctx.texture((1, 1), 4)
        self._scratch = ctx.framebuffer(color_attachments=[self._scratch_tex])
        # the light agreement (set_sheet(lit=True)): whether the current sheet takes it; the skinned normals'
        # transform feedback (program, per-vertex VAO); per frame the target's normals per vertex, the
        # feedback's buffer and the RGB32F texture it is copied into (on the GL side; the resolve fetches a
        # triangle's 3 by their vertex indices, in its landmark texels' w)
        self.light_rule = False
        self.tone_ratios: np.ndarray | None = None  # the light rule's sheet shading (tone_ratios), None: off
        self._normal_feedback: tuple[moderngl.Program, moderngl.VertexArray] | None = None
        self._vertex_buffer: moderngl.Buffer | None = None
        self._vertex_normals: moderngl.Texture | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def groups(self) -> int:
        return -(-self.views // GROUP)

    # -- once per character / sheet -------------------------------------------
    @current
    def set_character(self, character: Character) -> None:
        t = len(character.mesh.triangles)
        rows = -(-t // _ATTR_WIDTH)
        if t >= _MAX_TRIANGLES or rows > self.ctx.info["GL_MAX_TEXTURE_SIZE"]:
            raise InputError(f"character {character.name!r}: {t} triangles exceed the correspondence pass's "
                             f"limit ({min(_MAX_TRIANGLES - 1, _ATTR_WIDTH * self.ctx.info['GL_MAX_TEXTURE_SIZE'])})")
        self._release_sheet()
        self._release_geometry()
        self.character = character
        self.geometry = SkinnedGeometry(self.ctx, character)
        self._vao = self.geometry.vertex_array(self.program)
        # the surface maps read the view positions and landmarks from textures (by gl_VertexID), and the
        # alpha rule's inputs (uv, colour, mode) from the mesh's buffers
        self._surface_vao = self.geometry.vertex_array(self._surface_program)
        self._set_alpha_rule(character)
        # the index buffer as drawn (gl_PrimitiveID order): set_sheet lays the resolve's texels out by triangle
        self._triangles = np.frombuffer(self.geometry.index_buffer.read(), np.uint32).reshape(-1, 3).copy()
        self._landmarks = character.box.landmarks(character.mesh.positions).astype(np.float32)
        # per triangle id + 1 of the visibility buffer its part label (0: none, -1), as the toon pass's flat
        # varying takes it: from the triangle's last vertex (GL's provoking vertex), for read_gbuf; 0 where the
        # toon pass draws no part lines (labels inferred from colour: its G-buffer's part is 0 there too)
        parts = character.mesh.parts[self._triangles[:, 2]]
        if not draws_part_lines(character):
            parts = np.zeros_like(parts)
        self._tri_parts = np.concatenate([[-1.0], parts]).astype(np.float32)

    def _set_alpha_rule(self, character: Character) -> None:
        """The UDP pass's coverage rule (glsl/include/alpha.glsl: MASK/BLEND
        texels, single-sided faces) in the surface maps and the visibility
        buffer, with the same texture (shaders/material.py), so both cover
        the pixels the UDP pass covers: a sheet pixel behind a cut-out shows
        the surface behind it, as in the sheet's own UDP."""
        rule = self.geometry.alpha_rule
        if rule:
            self._albedo = albedo_texture(self.ctx, albedo_image(character), character.mesh.material.mipmaps)
        for program in (self._surface_program, self.program):
            program["u_has_alpha"].value = rule
            if rule:
                program["u_texture"].value = _ALBEDO_UNIT
                program["u_base_alpha"].value = float(base_color(character)[3])

    @current
    def set_sheet(self, views: list[SheetView], reference, inked: bool = False,
                  ink_sheet: tuple[list[SheetView], object] | None = None, lit: bool = False) -> None:
        """Per-vertex view positions, surface maps and the reference, once per sheet.

        ``reference``: [M, 4, S, S] (or [1, M, 4, S, S]) premultiplied RGBA in
        the sheet's framing (``SheetCache.reference``). ``inked``: the sheet's
        look (``SheetCache.look.inked``): its views' contour texels
        (``contour_band``) give their colour without the ink (``uninked``;
        ``CONTOUR_WEIGHT`` where none is beside them), on the target's edges too
        since session 13 (the fusion draws the target's lines from its G-buffer,
        ``read_gbuf``); False: every texel as drawn (the resolve without the
        INKED weights, to the bit). A sheet's own ink is estimated here once
        (``sheet_ink.judge_ink``: ``self.sheet_ink``, None when not inked), and a
        sheet not ``inked`` whose estimate finds a line (a lighter pen than the
        ink fraction sees) is inked after all (``self.inked``: the look the pass
        took; the runtime's ``ShadeStage.set_sheet_ink`` follows it). ``ink_sheet``: (views,
        reference) of the same drawings at another side, the one the ink is estimated at
        (``frame_loop.ink_sheet``: the drawings as drawn where the pass's side is larger, whose
        copy bilinear up-sampling blurred); its surface maps are drawn there once more (None: the
        pass's own). ``lit``: the sheet's look is judged lit (inked or shaded, never unlit): with every
        view exact the resolve prefers the views that drew a point in the target's tone band (the light
        agreement, ``LIGHT_OTHER_WEIGHT``; ``self.light_rule``); False: the resolve without it, to the bit."""
        if self.geometry is None:
            raise InputError("CorrespondencePass.set_sheet called before set_character")
        reference, m, side = self._checked_reference(views, reference)
        if ink_sheet is not None:  # checked before anything is drawn
            ink_reference, ink_m, ink_side = self._checked_reference(ink_sheet[0], ink_sheet[1])
            if ink_m != m:
                raise InputError(f"the ink's sheet has {ink_m} views, the sheet {m}: the same drawings are needed")
        attrs, seen, slack = self._view_attributes(views, side)
        # the light agreement needs each view's normals (its camera and pose): exact views only, all in one draw
        light_rule = (bool(lit) and all(v.mode == "exact" for v in views) and m <= GROUP
                      and self.geometry.num_vertices <= _PART_SHIFT)  # vertex indices below the part label
        ndl = np.stack([self._view_ndl(v) for v in views]) if light_rule else None
        tex, rows = self._attr_texture(attrs, side)
        if ink_sheet is not None:
            ink_attrs = self._view_attributes(ink_sheet[0], ink_side)[0]
            try:
                ink_tex, ink_rows = self._attr_texture(ink_attrs, ink_side)
            except BaseException:
                tex.release()
                raise
        self._release_sheet()
        self._attrs = tex
        self.views, self.side, self.modes = m, side, [v.mode for v in views]
        surface = self._draw_surface_maps(attrs, self._attrs, rows, views, side)
        self._check_silhouettes(views, reference[:, 3], surface[..., 3])
        # the sheet's own ink, and whether it is inked at all: by its ink fraction (``inked``) or, a lighter
        # pen, by the line the estimate finds (``sheet_ink.judge_ink``), from the views' contour band
        from .sheet_ink import judge_ink  # lazy: sheet_ink imports this module

        reach = max(1, round(side / 256))
        drawn = reference.transpose(0, 2, 3, 1)  # [M, S, S, 4], row 0 = top
        band = contour_band(surface, reach)
        colour_uninked, filled = uninked(surface, drawn, band, reach)
        if ink_sheet is None:
            self.sheet_ink = judge_ink(bool(inked), surface, drawn, band, (colour_uninked, filled))
        else:  # on the drawings at the ink's side, their surface maps drawn there (the same framing rule)
            try:
                ink_surface = self._draw_surface_maps(ink_attrs, ink_tex, ink_rows, ink_sheet[0], ink_side)
            finally:
                ink_tex.release()
            self.sheet_ink = judge_ink(bool(inked), ink_surface, ink_reference.transpose(0, 2, 3, 1))
        self.inked = self.sheet_ink is not None
        self.light_rule = light_rule
        self._resolve, self._resolve_vao = self._resolve_program(min(m, GROUP), self.inked, light_rule)
        for k, view in enumerate(views):
            if view.mode == "exact":  # the view's pixel step (glsl same_surface), over float rounding
                step = max(_pixel_step(surface[k]), EXACT_SLACK)
                seen[k], slack[k] = step, EXACT_SLACK + SAME_SURFACE_STEPS * step
        self._tri_attrs = self._triangle_texture(attrs, seen, ndl)
        weight = None
        reference = drawn
        if self.inked:  # the views' own contours (where their ink is): their colour without it off the edges
            # (the fusion draws the target's lines in the sheet's ink); a pen wider than the band's reach is
            # un-inked at its width
            reference = colour_uninked
            wide = self.sheet_ink.radius(side)
            if wide > reach:
                band = contour_band(surface, wide)
                reference, filled = uninked(surface, drawn, band, wide)
            weight = np.where(band & ~filled, CONTOUR_WEIGHT, 1.0)  # no same-surface colour near: less weight
        packed = pack_sheet(surface, reference, weight)  # the float map folded into the sheet texture
        self._surface = self.ctx.texture((side, side * m), 4, np.ascontiguousarray(packed).tobytes(), dtype="u4")
        self._surface.filter = (moderngl.NEAREST, moderngl.NEAREST)
        r = self._resolve
        r["u_side"].value = float(side)
        self._slack = np.zeros(self.groups * GROUP, np.float32)
        self._slack[:m] = slack
        r["u_sheet"].value = 2
        r["u_vbuf"].value = 4
        r["u_tri_attrs"].value = 5
        r["u_views"].value = m
        if light_rule:
            self._make_vertex_normals()
            r["u_target_normals"].value = 1
            r["u_bands"].value = (_LIGHT_STYLE.lit_threshold, _LIGHT_STYLE.deep_threshold)
            r["u_other_weight"].value = LIGHT_OTHER_WEIGHT
            ratios = self._sheet_tone_ratios(surface, reference, band, ndl)
            self.tone_ratios = ratios
            r["u_gain"].write(relight_gains(ratios).reshape(-1, 3).astype(np.float32).tobytes())
        self._make_targets()

    def _checked_reference(self, views: list[SheetView], reference) -> tuple[np.ndarray, int, int]:
        """``set_sheet``'s reference checked -> ([M, 4, S, S], M, S)."""
        reference = _as_numpy(reference, "reference")
        if reference.ndim == 5 and reference.shape[0] == 1:
            reference = reference[0]
        if reference.ndim != 4 or reference.shape[1] != 4 or reference.shape[2] != reference.shape[3]:
            raise InputError(f"reference: expected [M, 4, S, S] premultiplied RGBA, got shape {reference.shape}")
        m, side = reference.shape[0], reference.shape[2]
        if len(views) != m:
            raise InputError(f"{len(views)} sheet view correspondences for {m} reference views")
        if not 1 <= m <= MAX_VIEWS:
            raise InputError(f"the correspondence pass takes 1..{MAX_VIEWS} views, got {m}")
        _check_finite(reference, "reference")
        return reference, m, side

    def _view_attributes(self, views: list[SheetView], side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per view and vertex its sheet position (``camera_view_attributes`` / ``udp_nn_view_attributes``)
        -> (attrs [M, V, 4], seen [M, T]: per triangle the view's pixel step, 0 = not seen (udp-nn; exact
        views' set after their surface maps), slack [M])."""
        m = len(views)
        attrs = np.zeros((m, self.geometry.num_vertices, 4), np.float32)
        seen = np.zeros((m, len(self._triangles)), np.float32)  # per view and triangle: 0 = not seen
        slack = np.zeros(m, np.float32)
        self._scratch.use()
        for k, view in enumerate(views):
            if view.mode == "exact":
                positions = self.geometry.skinned_positions(view.pose)  # the GPU skinning the sheet was drawn with
                attrs[k] = camera_view_attributes(positions, view.camera, view.framing)
            else:
                if view.udp.shape[:2] != (side, side):
                    raise InputError(f"sheet view {k}: its UDP is {view.udp.shape[1]}x{view.udp.shape[0]}, "
                                     f"the sheet {side}x{side}")
                _check_finite(view.udp, f"sheet view {view.name or k}'s UDP")  # it becomes the surface map
                attrs[k] = udp_nn_view_attributes(self._landmarks, view.udp)
                # positions snapped to pixel centres (no affine map): within the match radius plus the
                # view's pixel step per pixel from the point; a triangle with an unmatched corner is not seen
                matched = attrs[k, :, 3][self._triangles].min(1) > 0.5
                seen[k] = np.where(matched, max(_pixel_step(view.udp), 1e-6), 0.0)
                slack[k] = nn_radius(view.udp)
        _check_finite(attrs, "sheet view positions")
        return attrs, seen, slack

    def _normals_program(self) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The skinned normals' transform feedback (``skin_feedback.glsl`` with NORMALS: the toon pass's
        normal, character space), once per character: (program, per-vertex VAO)."""
        if self._normal_feedback is None:
            prog = load_program(self.ctx, "skin_feedback", defines={"NORMALS": 1}, varyings=["out_normal"])
            self._normal_feedback = (prog, self.geometry.vertex_array(prog, indexed=False))
        return self._normal_feedback

    def _view_ndl(self, view: SheetView) -> np.ndarray:
        """An exact view's N.L per vertex [V] f64: its pose's skinned normal, unit, in its camera's eye
        space, dotted with the key light there (``light_eye``), once per sheet."""
        prog, per_vertex = self._normals_program()
        g = self.geometry
        g.update(view.pose)
        g.bind_joints(prog, 3)
        buf = self.ctx.buffer(reserve=g.num_vertices * 12)
        try:
            self._scratch.use()
            per_vertex.transform(buf, mode=moderngl.POINTS, vertices=g.num_vertices)
            n = np.frombuffer(buf.read(), np.float32).reshape(-1, 3).astype(np.float64)
        finally:
            buf.release()
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return n @ view.camera.view[:3, :3].astype(np.float64).T @ light_eye()

    def _sheet_tone_ratios(self, surface: np.ndarray, reference: np.ndarray, band: np.ndarray, ndl: np.ndarray
                           ) -> np.ndarray:
        """``tone_ratios`` of this sheet from its pixels: each view's pixels its surface map shows off its
        contour ``band`` [M, S, S], opaque in ``reference`` [M, S, S, 4] premultiplied (as packed:
        un-inked where inked), their straight colour in linear RGB; a pixel's band and part those of the
        vertex nearest its landmark (``ndl`` [M, V] of that view); two views' pixels are the same surface
        point within a pixel step of the second view (its landmarks' nearest)."""
        from scipy.spatial import cKDTree  # lazy: scipy only for lit sheets

        vertices = cKDTree(self._landmarks.astype(np.float64))
        parts = self.character.mesh.parts.astype(np.int64)
        shown = (surface[..., 3] > 0.5) & ~band & (reference[..., 3] > 0.5)
        pixels = []  # per view: (landmarks [P, 3], colours [P, 3], bands [P], parts [P], step)
        for k in range(len(surface)):
            lm = surface[k][shown[k], :3].astype(np.float64)
            texel = reference[k][shown[k]]
            colour = srgb_to_linear(np.clip(texel[:, :3] / texel[:, 3:], 0.0, 1.0))
            v = vertices.query(lm)[1]
            pixels.append((lm, colour, tone_band(ndl[k, v]), parts[v], max(_pixel_step(surface[k]), EXACT_SLACK)))
        lit, shaded, part_of, band_of = [], [], [], []
        for k1, (lm1, c1, b1, p1, _) in enumerate(pixels):
            on = b1 == 2
            if not on.any():
                continue
            for k2, (lm2, c2, b2, _, step) in enumerate(pixels):
                if k2 == k1 or not len(lm2):
                    continue
                dist, j = cKDTree(lm2).query(lm1[on], distance_upper_bound=step)
                hit = np.isfinite(dist)
                j = j[hit]
                darker = b2[j] < 2
                lit.append(c1[on][hit][darker])
                shaded.append(c2[j][darker])
                part_of.append(p1[on][hit][darker])
                band_of.append(b2[j][darker])
        if not lit:
            return np.ones((_PARTS, 2, 3))
        return tone_ratios(np.concatenate(lit), np.concatenate(shaded), np.concatenate(band_of),
                           np.concatenate(part_of))

    def _make_vertex_normals(self) -> None:
        """The per-frame target normals' buffer and texture (``_ATTR_WIDTH`` vertices a row), once per character.
        (Per triangle corner, adjacent for the resolve, the feedback skinned 5x the vertices: ~4x its CPU.)"""
        if self._vertex_normals is not None:
            return
        rows = -(-self.geometry.num_vertices // _ATTR_WIDTH)
        self._vertex_buffer = self.ctx.buffer(reserve=rows * _ATTR_WIDTH * 12)
        self._vertex_normals = self.ctx.texture((_ATTR_WIDTH, rows), 3, dtype="f4")
        self._vertex_normals.filter = (moderngl.NEAREST, moderngl.NEAREST)

    def _target_normals(self, pose: Pose, camera: Camera) -> None:
        """The target pose's skinned normals per vertex, into ``_vertex_normals`` (no read-back), and the key
        light in character space for the resolve (the normals are unit there: N.L = n . R^T l)."""
        prog, per_vertex = self._normals_program()
        g = self.geometry
        g.update(pose)
        g.bind_joints(prog, 3)
        self._scratch.use()
        per_vertex.transform(self._vertex_buffer, mode=moderngl.POINTS, vertices=g.num_vertices)
        self._vertex_normals.write(self._vertex_buffer)
        light = camera.view[:3, :3].astype(np.float64).T @ light_eye()
        if not np.isfinite(light).all():
            raise InputError("camera matrices contain NaN/inf")
        self._resolve["u_light"].value = tuple(float(x) for x in light)

    def _attr_texture(self, attrs: np.ndarray, side: int) -> tuple[moderngl.Texture, int]:
        """The views' per-vertex attributes [M, V, 4] as one texture (``_ATTR_WIDTH`` texels a row,
        rows per view) -> (texture, rows per view)."""
        m, nv = attrs.shape[:2]
        limit = self.ctx.info["GL_MAX_TEXTURE_SIZE"]
        rows = -(-nv // _ATTR_WIDTH)
        if rows * m > limit or side * m > limit:
            raise InputError(f"{m} views of {nv} vertices / {side} px exceed this GL's texture size {limit}")
        texels = np.zeros((m, rows * _ATTR_WIDTH, 4), np.float32)
        texels[:, :nv] = attrs
        tex = self.ctx.texture((_ATTR_WIDTH, rows * m), 4, texels.tobytes(), dtype="f4")
        tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        return tex, rows

    def _triangle_texture(self, attrs: np.ndarray, seen: np.ndarray, ndl: np.ndarray | None = None
                          ) -> moderngl.Texture:
        """The resolve's per-triangle texels: triangle t's 3 corner landmarks
        at (t * (M + 1)) * 3 + c, then its corners in view k, (x * w, y * w, w,
        ``seen[k, t]``: the view's pixel step, 0 = not seen), at (t * (M + 1) +
        1 + k) * 3 + c (the landmarks' w: the corner's vertex index), so a pixel's 3 x (M + 1) fetches are adjacent in memory
        and need no index lookup first (scattered vertex fetches were most of
        the resolve's time on llvmpipe). ``ndl`` [M, V] (the light agreement: per view and vertex N.L):
        corners 1 and 2's w (free: the resolve reads the pixel step from corner 0's) hold the view's
        corners' N.L, corner 1 corners 0 and 1 at 12 bits each (``_NDL_LEVELS``), corner 2 corner 2's."""
        m = attrs.shape[0]
        tri = self._triangles
        corners = attrs[:, tri].copy()  # [M, T, 3, 4]
        corners[..., 3] = seen[:, :, None]
        if ndl is not None:
            q = np.rint((np.clip(ndl, -1.0, 1.0) + 1.0) * (0.5 * _NDL_LEVELS)).astype(np.int64)
            corners[:, :, 1, 3] = q[:, tri[:, 0]] + (_NDL_LEVELS + 1) * q[:, tri[:, 1]]  # < 2^24: exact
            corners[:, :, 2, 3] = ndl[:, tri[:, 2]]
        own = np.zeros((1, len(tri), 3, 4), np.float32)
        own[0, :, :, :3] = self._landmarks[tri]
        own[0, :, :, 3] = tri  # the corners' vertex indices (exact below 2^24): the target's normals (LIGHT)
        # corner 2's also carries the triangle's part label (its provoking vertex's: relit), above 2^20 vertices
        # on the face (shaders.material.face_region, any corner): the part label + _PARTS, which the light rule
        # leaves as it is: anime faces are lit near flat (the toon look's face rule), their plain N.L bands
        # are not the tones drawn (the probe's white cheeks; a turnaround's eyes taken from a grazing view)
        face = face_region(self.character)[tri].max(1) > 0.0
        code = self.character.mesh.parts[tri[:, 2]].astype(np.float32) + _PARTS * face
        own[0, :, 2, 3] += code * _PART_SHIFT
        texels = np.ascontiguousarray(np.concatenate([own, corners]).transpose(1, 0, 2, 3)).reshape(-1, 4)
        rows = -(-len(texels) // _ATTR_WIDTH)
        if rows > self.ctx.info["GL_MAX_TEXTURE_SIZE"]:
            raise InputError(f"{m} views of {len(self._triangles)} triangles exceed this GL's texture size "
                             f"{self.ctx.info['GL_MAX_TEXTURE_SIZE']}")
        padded = np.zeros((rows * _ATTR_WIDTH, 4), np.float32)
        padded[:len(texels)] = texels
        tex = self.ctx.texture((_ATTR_WIDTH, rows), 4, padded.tobytes(), dtype="f4")
        tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        return tex

    def _resolve_program(self, views: int, inked: bool = False, light: bool = False
                         ) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The resolve for ``views`` views per draw (``inked``: with the contour weights; ``light``:
        with the light agreement), compiled once per count and look."""
        key = (views, inked, light)
        if key not in self._resolves:
            prog = load_program(self.ctx, "correspondence", defines={
                "RESOLVE": views, **({"INKED": 1} if inked else {}), **({"LIGHT": 1} if light else {})})
            self._resolves[key] = (prog, self.ctx.vertex_array(prog, []))
        return self._resolves[key]

    def _draw_surface_maps(self, attrs: np.ndarray, attrs_tex: moderngl.Texture, rows: int,
                           views: list[SheetView], side: int) -> np.ndarray:
        """Per view the landmark of the surface each sheet pixel shows (w = 1;
        0 = nothing): drawn from the mesh for exact views (what the UDP pass
        drew for the sheet: the view's own UDP), the view's UDP for udp-nn.
        ``attrs`` [M, V, 4] and their texture (``_attr_texture``, ``rows`` per
        view) at the sheet side ``side`` -> [M, S, S, 4] f32, row 0 = top."""
        m = len(views)
        program = self._surface_program
        program["u_attrs"].value = 0  # the resolve reads the triangle texture instead
        program["u_landmarks"].value = 1
        program["u_attr_rows"].value = rows
        program["u_side"].value = float(side)
        surface = self.ctx.texture((side, side * m), 4, dtype="f4")
        surface.filter = (moderngl.NEAREST, moderngl.NEAREST)
        texels = np.zeros((rows * _ATTR_WIDTH, 4), np.float32)
        texels[:len(self._landmarks), :3] = self._landmarks
        landmarks = self.ctx.texture((_ATTR_WIDTH, rows), 4, texels.tobytes(), dtype="f4")
        landmarks.filter = (moderngl.NEAREST, moderngl.NEAREST)
        depth = self.ctx.depth_renderbuffer((side, side * m))
        fbo = self.ctx.framebuffer(color_attachments=[surface], depth_attachment=depth)
        try:
            fbo.use()
            fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            self.ctx.enable_only(moderngl.DEPTH_TEST)
            self.ctx.depth_func = "<"
            self.ctx.front_face = "cw"  # rows are top-first (as the UDP pass's y flip): the winding mirrors
            attrs_tex.use(0)
            landmarks.use(1)
            if self._albedo is not None:
                self._albedo.use(_ALBEDO_UNIT)
            for k, view in enumerate(views):
                if view.mode != "exact":
                    udp = np.ascontiguousarray(view.udp, np.float32)
                    surface.write(np.where(udp[..., 3:] > 0.5, udp, 0.0).astype(np.float32).tobytes(),
                                  viewport=(0, k * side, side, side))
                    continue
                d = attrs[k, :, 3]
                program["u_view"].value = k
                program["u_depth_range"].value = (float(d.min()), float(d.max()))
                self.ctx.viewport = (0, k * side, side, side)
                self._surface_vao.render(moderngl.TRIANGLES, vertices=self.geometry.num_indices)
            return np.frombuffer(surface.read(), np.float32).reshape(m, side, side, 4)
        finally:
            self.ctx.front_face = "ccw"  # leave the GL default for whoever draws next
            fbo.release()
            depth.release()
            landmarks.release()
            surface.release()

    def _check_silhouettes(self, views: list[SheetView], alpha: np.ndarray, covered: np.ndarray) -> None:
        """A view file of another view or character draws the mesh elsewhere
        than the view's drawing: a named error, not wrong colours."""
        for k, view in enumerate(views):
            if view.mode != "exact":
                continue
            mesh, drawn = covered[k] > 0.5, alpha[k] > 0.5
            iou = float((mesh & drawn).sum()) / max(float((mesh | drawn).sum()), 1.0)
            if iou < MIN_SILHOUETTE_IOU:
                raise InputError(f"sheet view {view.name or k}: the character seen through its camera and pose "
                                 f"overlaps the drawing's silhouette by IoU {iou:.2f} < {MIN_SILHOUETTE_IOU} "
                                 "(a view file of another view or character?)")

    def _make_targets(self) -> None:
        w, h, g = self.width, self.height, self.groups
        n = min(self.views, GROUP)  # views per draw
        self._release_targets()
        self._targets = [self.ctx.texture((w, h * g), 4, dtype="f4") for _ in range(n)]
        self._vbuf = self.ctx.texture((w, h), 4, dtype="f4")
        self._vbuf.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._depth = self.ctx.depth_renderbuffer((w, h))
        self.fbo = self.ctx.framebuffer(color_attachments=self._targets)
        self._raster_fbo = self.ctx.framebuffer(color_attachments=[self._vbuf], depth_attachment=self._depth)
        self._planes = np.empty((len(self._targets), h * g, w, 4), np.float32)

    # -- per frame ------------------------------------------------------------
    @current
    def render(self, pose: Pose, camera: Camera, visibility: moderngl.Texture | None = None) -> None:
        """Rasterize the target pose (no read-back). ``visibility``: the
        visibility buffer the UDP pass already drew for this pose and camera
        (``UdpPass(visibility=True).visibility``): the target is then not
        rasterized again (``pose`` and ``camera`` give only the light agreement's
        target normals and light, ``light_rule``)."""
        if self._attrs is None:
            raise InputError("CorrespondencePass.run called before set_sheet")
        if visibility is not None:
            if visibility.size != self.size or visibility.components != 4 or visibility.dtype != "f4":
                raise InputError(f"visibility buffer: expected a {self.width}x{self.height} RGBA32F texture, got "
                                 f"{visibility.size[0]}x{visibility.size[1]} x{visibility.components} {visibility.dtype}")
        else:
            self._rasterize(pose, camera)
            visibility = self._vbuf
        if self.light_rule:
            self._target_normals(pose, camera)
        self._resolve_views(visibility)

    def _rasterize(self, pose: Pose, camera: Camera) -> None:
        """The visibility buffer: nearest triangle and its barycentrics, once for all views."""
        if (camera.width, camera.height) != self.size:
            raise InputError(f"camera is {camera.width}x{camera.height} but the pass is {self.width}x{self.height}")
        mvp = raster_view_proj(camera)  # the UDP pass's matrix: the same pixels covered
        if not np.isfinite(mvp).all():
            raise InputError("camera matrices contain NaN/inf")
        self.geometry.update(pose)
        self._raster_fbo.use()
        self._raster_fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.ctx.enable_only(moderngl.DEPTH_TEST)
        self.ctx.depth_func = "<"
        self.program["u_view_proj"].write(np.ascontiguousarray(mvp.T))
        self.program["u_eye_depth"].value = eye_depth_coefficients(camera, self.geometry.character.height)
        self.geometry.bind_joints(self.program, 3)
        if self._albedo is not None:
            self._albedo.use(_ALBEDO_UNIT)
        self.ctx.front_face = "cw"  # the y-flipped projection mirrors the winding (as the UDP pass)
        self._vao.render(moderngl.TRIANGLES, vertices=self.geometry.num_indices)
        self.ctx.front_face = "ccw"

    def _covered_box(self, visibility: moderngl.Texture) -> tuple[slice, slice]:
        """The rows and columns of ``visibility`` with a triangle (two floats a pixel read back:
        the triangle ids and the eye depth, ``read_gbuf``)."""
        if self._vis_of is not visibility:
            if self._vis_fbo is not None:
                self._vis_fbo.release()
            self._vis_fbo = self.ctx.framebuffer(color_attachments=[visibility])
            self._vis_of = visibility
        self._vis_fbo.read_into(self._vis_ids, components=2, dtype="f4", alignment=1)
        covered = self._vis_ids[..., 0] > 0.5
        rows, cols = np.flatnonzero(covered.any(1)), np.flatnonzero(covered.any(0))
        if not len(rows):
            return slice(0, 0), slice(0, 0)
        return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)

    def _resolve_views(self, visibility: moderngl.Texture) -> None:
        # The resolve's outputs are 0 wherever no triangle is (it discards there), so the clear,
        # the resolve and the read-back cover only the box of the covered pixels: at 256² the
        # character's box is ~1/3-2/3 of the frame (the clear and read-back of 6 RGBA32F planes,
        # llvmpipe's tiles outside it)
        self._box = rows, cols = self._covered_box(visibility)
        self.ctx.enable_only(moderngl.NOTHING)
        self._attrs.use(0)
        self._surface.use(2)
        visibility.use(4)
        self._tri_attrs.use(5)
        if self.light_rule:
            self._vertex_normals.use(1)
        # 2) the resolve, once per covered pixel and group of GROUP views
        if rows.stop == rows.start:
            return  # nothing covered: read() gives zeros
        self.fbo.use()
        r = self._resolve
        for g in range(self.groups):
            first = g * GROUP
            count = min(GROUP, self.views - first)
            r["u_first"].value = first
            r["u_count"].value = count
            r["u_row0"].value = g * self.height
            n = r["u_exact"].array_length  # the views per draw of this resolve (the GLSL trims the arrays)
            exact = [i < count and self.modes[first + i] == "exact" for i in range(n)]
            r["u_exact"].write(np.array(exact, np.float32).tobytes())  # write(): also a 1-view "array"
            r["u_slack"].write(self._slack[first:first + n].tobytes())
            self.ctx.viewport = (0, g * self.height, self.width, self.height)
            box = (cols.start, g * self.height + rows.start, cols.stop - cols.start, rows.stop - rows.start)
            self.fbo.clear(0.0, 0.0, 0.0, 0.0, viewport=box)
            self.ctx.scissor = box
            self._resolve_vao.render(moderngl.TRIANGLES, vertices=3)
        self.ctx.scissor = None

    @current
    def read(self, out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The last render -> (sampled [M, 4, H, W], cover [M, 1, H, W]) float32."""
        m, h, w = self.views, self.height, self.width
        sampled, cover = out if out is not None else (np.empty((m, 4, h, w), np.float32),
                                                      np.empty((m, 1, h, w), np.float32))
        if sampled.shape != (m, 4, h, w) or cover.shape != (m, 1, h, w) or not sampled.flags.c_contiguous:
            raise InputError(f"read(out=...): expected arrays [{m}, 4, {h}, {w}] (C-contiguous) and [{m}, 1, {h}, {w}]")
        return self._read_box(self._planes).arrays((sampled, cover))

    @current
    def read_box(self) -> "ViewsRead":
        """The last render's covered box as read back, in arrays of its own (a frame shaded on
        another thread while the next one is read), laid out only when asked for
        (``ViewsRead.arrays`` / ``ViewsRead.columns``): no full-frame zeroing nor transpose on
        the reading thread, and a banded fusion lays out only its band's columns."""
        return self._read_box(None)

    def _read_box(self, into: np.ndarray | None) -> "ViewsRead":
        rows, cols = self._box  # outside it every output is 0 (the resolve's discards)
        bh, bw = rows.stop - rows.start, cols.stop - cols.start
        n, h = len(self._planes), self.height
        if into is None:
            planes = np.empty((n, self.groups, bh, bw, 4), np.float32)
        else:
            planes = into.reshape(-1)[:n * self.groups * bh * bw * 4].reshape(n, self.groups, bh, bw, 4)
        if bh * bw:
            for g in range(self.groups):
                for c in range(n):
                    self.fbo.read_into(planes[c, g], viewport=(cols.start, g * h + rows.start, bw, bh), components=4,
                                       attachment=c, dtype="f4", alignment=1)
        return ViewsRead(planes, rows, cols, self.views, h, self.width, self._gbuf(rows, cols))

    def _gbuf(self, rows: slice, cols: slice) -> np.ndarray:
        """[2, rows, cols] of the last render: the eye depth and the part label (``read_gbuf``)."""
        vis = self._vis_ids[rows, cols]
        return np.stack([vis[..., 1], self._tri_parts[vis[..., 0].astype(np.intp)]])

    def read_gbuf(self) -> np.ndarray:
        """The last render's target G-buffer, as the toon pass's ink step reads its own: [2, H, W]
        f32, per pixel the eye depth in character heights (the visibility buffer's,
        ``glsl/include/eye_depth.glsl``; 0 off the target) and the part label of its triangle
        (``conrt.types.Part``; -1 off the target): what the fusion's ink rule takes
        (``runtime.nn.lookup_net.toon_line``)."""
        return self._gbuf(slice(0, self.height), slice(0, self.width))

    def run(self, pose: Pose, camera: Camera, out=None, visibility=None) -> tuple[np.ndarray, np.ndarray]:
        self.render(pose, camera, visibility)
        return self.read(out)

    # -- lifetime ---------------------------------------------------------------
    def _release_targets(self) -> None:
        for obj in self._targets + [self._vbuf, self.fbo, self._raster_fbo, self._depth]:
            if obj is not None:
                obj.release()
        self._targets, self._vbuf, self.fbo, self._raster_fbo, self._depth = [], None, None, None, None

    def _release_sheet(self) -> None:
        for obj in (self._attrs, self._tri_attrs, self._surface):
            if obj is not None:
                obj.release()
        self._attrs = self._tri_attrs = self._surface = None
        self.views = 0
        self.light_rule = False
        self.tone_ratios = None

    def _release_geometry(self) -> None:
        """The character's buffers and triangle texture (a new character, or release)."""
        if self.geometry is not None:
            self._vao.release()
            self._surface_vao.release()
            self.geometry.release()
            self.geometry = None
        if self._albedo is not None:
            self._albedo.release()
            self._albedo = None
        for obj in (*(self._normal_feedback or ())[::-1], self._vertex_buffer, self._vertex_normals):
            if obj is not None:
                obj.release()
        self._normal_feedback = self._vertex_buffer = self._vertex_normals = None
        self._triangles = self._landmarks = None

    @current
    def release(self) -> None:
        self._release_sheet()
        self._release_targets()
        self._release_geometry()
        for vao_prog in self._resolves.values():
            for obj in vao_prog[::-1]:
                obj.release()
        self._resolves = {}
        if self._vis_fbo is not None:
            self._vis_fbo.release()
            self._vis_fbo = self._vis_of = None
        for obj in (self.program, self._surface_program,
                    self._scratch, self._scratch_tex):
            obj.release()

    def __enter__(self) -> "CorrespondencePass":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


@dataclass(frozen=True)
class ViewsRead:
    """One frame's correspondences as the pass read them back: the covered box's planes
    (``planes`` [targets, groups, box rows, box columns, (colour, coverage)]; every output is 0
    outside the box, the resolve's discards), laid out as the network takes them on demand."""
    planes: np.ndarray
    rows: slice
    cols: slice
    views: int
    height: int
    width: int
    # the target's G-buffer on the box [2, box rows, box columns] (``CorrespondencePass.read_gbuf``),
    # None: not read (the fusion's ink rule then takes both sides of an inner jump)
    gbuf: np.ndarray | None = None

    def arrays(self, out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(sampled [M, 4, H, W], cover [M, 1, H, W]): ``CorrespondencePass.read``'s arrays."""
        return self.columns(0, self.width, out)

    def __iter__(self):
        """``sampled, cover, gbuf = read``: as ``RasterStage.read_views`` gives them (callers of
        ``Runtime.last_produced.views``; gbuf None when not read)."""
        return iter((*self.arrays(), self.gbuf_columns(0, self.width)))

    def columns(self, first: int, end: int, out: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """The frame columns [first, end) of ``arrays()``, C-contiguous: (sampled [M, 4, H, w],
        cover [M, 1, H, w]); only what the band holds is zeroed and transposed."""
        m, h, w = self.views, self.height, end - first
        if not 0 <= first < end <= self.width:
            raise InputError(f"ViewsRead.columns({first}, {end}): expected 0 <= first < end <= {self.width}")
        sampled, cover = out if out is not None else (np.empty((m, 4, h, w), np.float32),
                                                      np.empty((m, 1, h, w), np.float32))
        rows = self.rows
        lo, hi = max(self.cols.start, first), min(self.cols.stop, end)  # the box's columns in the band
        if rows.stop == rows.start or lo >= hi:
            sampled.fill(0.0)
        else:
            sampled[..., :rows.start, :] = 0.0
            sampled[..., rows.stop:, :] = 0.0
            sampled[..., rows, :lo - first] = 0.0
            sampled[..., rows, hi - first:] = 0.0
            box = slice(lo - self.cols.start, hi - self.cols.start)
            for g in range(self.planes.shape[1]):  # [views, rows, cols, (colour, coverage)] -> [views, 4, rows, cols]
                at, count = g * GROUP, min(GROUP, m - g * GROUP)
                part = self.planes[:count, g, :, box].transpose(0, 3, 1, 2)
                sampled[at:at + count, :, rows, lo - first:hi - first] = part
        cover[:, 0] = sampled[:, 3]
        np.greater(cover[:, 0], 0.0, out=sampled[:, 3], casting="unsafe")  # opaque where seen
        return sampled, cover

    def gbuf_columns(self, first: int, end: int) -> np.ndarray | None:
        """The frame columns [first, end) of the target's G-buffer (``CorrespondencePass.read_gbuf``)
        as [2, H, w] f32, C-contiguous, (0, -1) off the box; None when not read."""
        if self.gbuf is None:
            return None
        if not 0 <= first < end <= self.width:
            raise InputError(f"ViewsRead.gbuf_columns({first}, {end}): expected 0 <= first < end <= {self.width}")
        out = np.zeros((2, self.height, end - first), np.float32)
        out[1] = -1.0
        lo, hi = max(self.cols.start, first), min(self.cols.stop, end)
        if lo < hi and self.rows.stop > self.rows.start:
            out[:, self.rows, lo - first:hi - first] = self.gbuf[:, :, lo - self.cols.start:hi - self.cols.start]
        return out

    def covered_columns(self) -> np.ndarray:
        """[W] bool: the covered box's columns (the target's triangles): every column any view
        covers (``cover`` > 0) lies in it, as every output is 0 outside the box. A band holding
        them is exact (``fusion_graph.band_of_columns``), with no pass over the read-back's
        coverage (~0.4 ms of the shading thread at 256²)."""
        covered = np.zeros(self.width, bool)
        covered[self.cols] = True
        return covered
