"""The ``lookup`` architecture: conrt's real-time CoNR variant.

CoNR learns where each target pixel's colour sits in each sheet view with a
pyramid of predicted flows; most of its FLOPs go into that search. The UDP
gives the answer more directly: a target pixel's UDP is a point on the
rest-pose surface, and a sheet pixel shows the same surface point when its
UDP is the same. So:

- once per character (``encode_sheet``): the sheet encoder's U-Net head
  predicts every sheet pixel's UDP xyz (the paper's auxiliary UDP detector;
  a caller who knows the sheet's true UDP can pass it instead). Sheet pixels
  are binned into a ``grid``³ table over the canonical box holding, per view,
  the mean sheet position of the pixels that landed in each voxel and
  whether any did; empty voxels next to full ones are filled in.
- per frame (``render``): every target pixel looks its UDP up in the table
  (trilinear, 8 gathers), each view's reference is sampled there, the views
  are fused with a softmax over per-view scores (CoNR's collaborative fusion,
  one level, at full size), and a small U-Net refines the fused image
  (holes no view covers, seams, shading).

The interface matches ``CoNR`` (``encode_sheet``, ``encode_pose``, ``render``,
``forward``), so backends, the ONNX export, training and eval take either.
The cached sheet "features" are one tensor: the table, [N, M, 3, grid³]
(u, v in -1..1 and coverage).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from conrt.errors import ConfigError
from conrt.shaders.sheet_ink import TOON_INK, SheetInk
from conrt.shaders.toon_pass import CONTOUR_DEPTH_STEP, default_line_width
from conrt.types import Part

from .architectures import register_model
from .config import CoNRConfig, LookupConfig
from .conr_v1 import ResEncUnet, normalize
from .model import ShaderNet
from .sheet import LUMA


# ---------------------------------------------------------------------------
# the table (once per character)
# ---------------------------------------------------------------------------
def build_table(xyz: torch.Tensor, occupancy: torch.Tensor, grid: int, fill_rounds: int) -> torch.Tensor:
    """Sheet UDP -> lookup table.

    xyz [N, M, 3, S, S] in 0..1 (rest-pose position of each sheet pixel),
    occupancy [N, M, 1, S, S] (pixels that show the character).
    Returns [N, M, 3, grid³]: mean sheet position (u, v in -1..1, as
    ``grid_sample`` takes it) and coverage (1 = pixels landed there, 0.5**k =
    filled in by the k-th hole-filling pass, 0 = empty).
    """
    n, m, _, h, w = xyz.shape
    b, g3 = n * m, grid ** 3
    xyz = xyz.detach().reshape(b, 3, h * w)
    occ = (occupancy.detach().reshape(b, h * w) > 0.5).to(xyz.dtype)
    cell = (xyz.clamp(0, 1) * grid).long().clamp_(0, grid - 1)
    index = cell[:, 0] * grid * grid + cell[:, 1] * grid + cell[:, 2]  # [B, HW]
    v, u = torch.meshgrid(torch.linspace(-1, 1, h, dtype=xyz.dtype, device=xyz.device),
                          torch.linspace(-1, 1, w, dtype=xyz.dtype, device=xyz.device), indexing="ij")
    sums = xyz.new_zeros(b, 3, g3)
    vals = torch.stack([u.reshape(-1).expand(b, -1) * occ, v.reshape(-1).expand(b, -1) * occ, occ], 1)
    sums.scatter_add_(2, index.unsqueeze(1).expand(b, 3, h * w), vals)
    count = sums[:, 2:3]
    pos = sums[:, :2] / count.clamp_min(1.0)
    cover = (count > 0).to(xyz.dtype)
    # fill empty voxels from full neighbours: a predicted UDP is noisy and
    # a sheet shows each surface point at one density only
    pos = pos.reshape(b, 2, grid, grid, grid)
    cover = cover.reshape(b, 1, grid, grid, grid)
    for k in range(fill_rounds):
        weight = F.avg_pool3d(cover, 3, 1, 1, count_include_pad=False)
        mean = F.avg_pool3d(pos * cover, 3, 1, 1, count_include_pad=False) / weight.clamp_min(1e-6)
        empty = (cover == 0) & (weight > 0)
        pos = torch.where(empty, mean, pos)
        cover = torch.where(empty, torch.full_like(cover, 0.5 ** (k + 1)), cover)
    return torch.cat([pos, cover], 1).reshape(n, m, 3, g3)


def look_up(table: torch.Tensor, udp: torch.Tensor, grid: int) -> torch.Tensor:
    """Trilinear lookup of target UDP xyz in the table.

    table [N, M, 3, grid³], udp [N, 4, H, W] -> [N, M, 3, H, W] (u, v, coverage).
    """
    n, m = table.shape[:2]
    _, _, h, w = udp.shape
    # voxel-major rows (all views side by side) with u, v pre-multiplied by
    # the coverage: the trilinear blend is then one weighted sum of gathered
    # rows (12 contiguous floats per corner for 4 views)
    cov = table[:, :, 2:3]
    rows = torch.cat([table[:, :, :2] * cov, cov], 2).permute(0, 3, 1, 2).reshape(n * grid ** 3, m * 3)
    p = udp[:, :3].clamp(0, 1) * grid - 0.5  # voxel centres at integer positions
    p0 = p.floor().clamp(0, grid - 2)
    f = (p - p0).clamp(0, 1).reshape(n, 3, 1, h * w)  # [N, 3, 1, HW]
    base = (p0[:, 0] * (grid * grid) + p0[:, 1] * grid + p0[:, 2]).long().reshape(n, 1, h * w)
    base = base + (torch.arange(n, device=udp.device) * grid ** 3).reshape(n, 1, 1)  # rows of sample k
    offsets = torch.tensor([dx * grid * grid + dy * grid + dz for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)],
                           device=udp.device).reshape(1, 8, 1)
    corner_bits = torch.tensor([[dx, dy, dz] for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)],
                               dtype=udp.dtype, device=udp.device).t().reshape(1, 3, 8, 1)
    weight = torch.where(corner_bits > 0, f, 1 - f).prod(1)  # [N, 8, HW] trilinear weights
    corners = F.embedding((base + offsets).reshape(-1), rows).reshape(n, 8, h * w, m * 3)  # a row gather
    acc = (corners * weight.unsqueeze(-1)).sum(1).reshape(n, h * w, m, 3)
    cover = acc[..., 2:3]
    out = torch.cat([acc[..., :2] / cover.clamp_min(1e-6), cover], -1)  # [N, HW, M, 3]
    return out.permute(0, 2, 3, 1).reshape(n, m, 3, h, w)


# ---------------------------------------------------------------------------
# per-frame fusion
# ---------------------------------------------------------------------------
EDGE_JUMP = 0.06  # a UDP (or occupancy) range over 3x3 pixels above this is an edge of the target (~10 cm)


def target_edges(udp: torch.Tensor) -> torch.Tensor:
    """udp [N, 4, H, W] (``encode_pose``'d) -> [N, 1, H, W] 1 on the pixels
    next to a jump of the target's surface (its silhouette, a limb over the
    body), 0 elsewhere."""
    spread = F.max_pool2d(udp, 3, 1, 1) + F.max_pool2d(-udp, 3, 1, 1)  # local max - local min
    # the max over the channels as elementwise Maxes of slices (exact, as any max): ONNX
    # Runtime's ReduceMax over the channels was slower (this function at 256²: 1.21 -> 0.94 ms)
    channels = spread.split(1, 1)
    most = channels[0]
    for c in channels[1:]:
        most = torch.maximum(most, c)
    return (most > EDGE_JUMP).to(udp.dtype)


# a view sees a surface point where its cover passes SEES (the plain lookup's rule);
# below TOUCHES its uv means nothing (the fusion's ``seen`` mask)
SEES, TOUCHES = 0.5, 0.01


def plain_lookup(sampled: torch.Tensor, cover: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain exact lookup, no network: sampled [N, M, 4, H, W] premultiplied, cover
    [N, M, 1, H, W], the target's alpha [N, 1, H, W] -> (premultiplied RGBA [N, 4, H, W]: the
    mean straight colour of the views past ``SEES`` (none: the best-covered view's, where
    it passes ``TOUCHES``) times the alpha; has [N, 1, H, W] bool: some view has the point).
    The runtime's rule on unlit sheets (``keep_plain_lookup``) and the eval's baseline
    (``training.evaluate.PlainLookup``)."""
    straight = sampled[:, :, :3] / sampled[:, :, 3:4].clamp_min(1e-6)
    sees = (cover > SEES).to(sampled.dtype)
    # no view past SEES: the best-covered one (the first of equals), where it has anything
    best = torch.zeros_like(cover).scatter_(1, cover.argmax(1, keepdim=True), 1.0) * (cover > TOUCHES)
    sees = torch.where(sees.sum(1, keepdim=True) > 0, sees, best)
    count = sees.sum(1)
    rgb = (sees * straight).sum(1) / count.clamp_min(1e-6)
    return torch.cat([rgb.clamp(0, 1) * alpha, alpha], 1), count > 0


def keep_plain_lookup(rgba: torch.Tensor, sampled: torch.Tensor, cover: torch.Tensor, udp: torch.Tensor,
                      ink: torch.Tensor) -> torch.Tensor:
    """On an unlit sheet (``ink`` 0) the plain exact lookup wherever a view has the point.

    rgba [N, 4, H, W] the fusion's output, sampled [N, M, 4, H, W] premultiplied,
    cover [N, M, 1, H, W], udp [N, 4, H, W] (``encode_pose``'d: alpha in channel 3),
    ink [N] -> rgba where, on unlit sheets, every pixel some view has (cover past
    ``TOUCHES``) takes the mean straight colour of the views past ``SEES`` (none:
    the best-covered view's) times the target's alpha (``plain_lookup``); the refinement
    keeps only what no view has. Inked sheets (``ink`` 1) unchanged
    to the bit (the kept part is 0 there). The learned view weights and the
    refinement lost to the plain mean on unlit sheets (docs/conr_rt.md, "Unlit
    sheets: the plain lookup where a view has the point").
    """
    plain, has = plain_lookup(sampled, cover, udp[:, 3:4])
    kept = has.to(rgba.dtype) * (1 - ink.reshape(-1, 1, 1, 1).to(rgba.dtype))
    return rgba + kept * (plain - rgba)


# inked sheets, on the target's edges: where a view has the point (past TOUCHES) and the
# darkest such view's colour is darker (luma) than the refinement's, that colour: the
# views' own outline ink where they draw it. The shipped refinement paints orange-brown
# dots on the edges where the sample demo's hair ring crosses the face (the toon pass draws
# a dark outline there). Measured on the sample demo's 5 frames against the toon pass
# (docs/conr_rt.md, "Inked sheets: a view's own contours and the target's edges"), L1 with
# the pass's contour weights: 256² 0.0493 -> 0.0406, 128² 0.0819 -> 0.0690 (without them
# 0.0517 -> 0.0435, 0.0814 -> 0.0707). Variants at 256²: views past SEES only 0.0425, always
# the darkest view 0.0437, the fused colour where darker 0.0485.


def luma(rgb: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The luma (``sheet.LUMA``) of the colour channels 0-2 along ``dim``, kept as a channel
    (products of slices: no ReduceSum in the exported graph, runtime/backends/fusion_graph.py)."""
    return LUMA[0] * rgb.narrow(dim, 0, 1) + LUMA[1] * rgb.narrow(dim, 1, 1) + LUMA[2] * rgb.narrow(dim, 2, 1)


def darkest_view(sampled: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
    """sampled [N, M, 4, H, W] premultiplied, cover [N, M, 1, H, W] -> [N, 4, H, W]: the
    straight colour of the darkest view (luma; the mean of equals) among those past
    ``TOUCHES``, and 1 where there is one (0 and colour 0 elsewhere)."""
    straight = sampled[:, :, :3] / sampled[:, :, 3:4].clamp_min(1e-6)
    touches = (cover > TOUCHES).to(sampled.dtype)
    dark = luma(straight, 2) + 4.0 * (1 - touches)  # (luma <= 1) views not touching are never the darkest
    pick = (dark <= dark.amin(1, keepdim=True)).to(sampled.dtype) * touches
    count = pick.sum(1)
    return torch.cat([(pick * straight).sum(1) / count.clamp_min(1e-6), (count > 0).to(sampled.dtype)], 1)


def ink_edges(rgba: torch.Tensor, darkest: torch.Tensor, edges: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """rgba [N, 4, H, W] premultiplied, ``darkest_view`` [N, 4, H, W], the target's edges
    [N, 1, H, W] (an inked sheet's), its alpha [N, 1, H, W] -> rgba with the darkest view's
    colour times the alpha on the edges where it is darker than rgba's: the rule where the
    target's G-buffer is not known (``FusionNet.forward``'s ``gbuf`` None; the exported graphs
    draw the lines instead, ``ink_lines``)."""
    ink = torch.cat([darkest[:, :3] * alpha, alpha], 1)
    darker = (luma(ink) < luma(rgba)).to(rgba.dtype)
    return rgba + edges * darkest[:, 3:] * darker * (ink - rgba)


def line_reach_max(x: torch.Tensor, radius: int) -> torch.Tensor:
    """[N, C, H, W] -> the greatest value within each pixel's ink line reach: the pixels (dx, dy)
    with dx² + dy² <= radius² (shaders/glsl/toon_outline.glsl; radius 1: the pixel and the 4
    beside it), the frame's border left out (a max pool per row band of the disc)."""
    out = None
    for dy in range(radius + 1):
        half = math.isqrt(radius * radius - dy * dy)
        band = F.max_pool2d(x, (2 * dy + 1, 2 * half + 1), 1, (dy, half))
        out = band if out is None else torch.maximum(out, band)
    return out


def toon_line(gbuf: torch.Tensor, alpha: torch.Tensor, sheet_ink: SheetInk = TOON_INK) -> torch.Tensor:
    """gbuf [N, 2, H, W] the target's G-buffer as the toon pass's ink step reads its own (the
    visibility buffer's, ``shaders.correspondence_pass.CorrespondencePass.read_gbuf``: eye depth
    in character heights, 0 off the target; part label, -1 off it), its alpha [N, 1, H, W] ->
    [N, 1, H, W] 1 on the pixels the toon pass inks (shaders/glsl/toon_outline.glsl, its line's
    radius ``default_line_width`` rounded: 1 px at 256²): covered pixels with, within the line's
    reach (the frame's border is not background), the background, a covered pixel nearer by more
    than ``CONTOUR_DEPTH_STEP`` of the character's height (an occlusion contour: its far side only)
    or a higher part label (hair over skin: the skin's side). Not its crease lines (those need the
    normals) nor its test that a part is resolved at the line's width (measured the same: L1
    5.62e-3 against 5.61e-3, turnaround toon sheets n = 4; docs/conr_rt.md, "The target's lines
    where the toon pass draws them").

    ``sheet_ink`` (``shaders.sheet_ink.SheetInk``, estimated once per sheet): the sheet's own line
    radius (``SheetInk.radius``) and, without its inner lines, the silhouette's line only; ours
    (``TOON_INK``) the rule above, to the bit."""
    radius = sheet_ink.radius(int(gbuf.shape[-2]))  # (an int: a constant of the exported graph)
    covered = (alpha > 0.5).to(gbuf.dtype)
    background = line_reach_max(1 - covered, radius)
    if not sheet_ink.inner:  # the artist draws the silhouette only
        return covered * background
    depth, part = gbuf[:, 0:1], gbuf[:, 1:2]
    nearest = -line_reach_max(-(depth + 1e6 * (1 - covered)), radius)  # the background is never nearer
    far = (depth - nearest > CONTOUR_DEPTH_STEP).to(gbuf.dtype)
    below = (line_reach_max(part, radius) > part).to(gbuf.dtype)  # (the background's label, -1, is never higher)
    return covered * torch.maximum(torch.maximum(background, far), below)


def srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    """sRGB 0..1 -> linear (the piecewise transfer function, shaders/glsl/include/color.glsl)."""
    return torch.where(c > 0.04045, ((c.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)


def linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    """Linear 0..1 -> sRGB (shaders/glsl/include/color.glsl)."""
    c = c.clamp(0, 1)
    return torch.where(c > 0.0031308, 1.055 * c.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, c * 12.92)


def ink_lines(rgba: torch.Tensor, fused: torch.Tensor, lines: torch.Tensor, alpha: torch.Tensor,
              sheet_ink: SheetInk = TOON_INK) -> torch.Tensor:
    """rgba [N, 4, H, W] premultiplied, the views' fused colour [N, 4, H, W] (premultiplied, 0..1),
    the target's lines (``toon_line``) and alpha [N, 1, H, W] -> rgba with the lines inked as the
    toon pass inks its own: the surface's colour (the fused views') times ``OUTLINE_INK`` in linear
    RGB, where the views cover the pixel (the fused alpha past 1/2; ``fill_unseen`` inks the rest from
    the lines beside). Per pixel: the exported fusion graph runs it on the lines' pixels only
    (runtime/backends/fusion_graph.py, ``ink_on_lines``). ``sheet_ink``: the sheet's own law
    (``SheetInk.terms``: the surface's colour times a scale plus a fixed colour, linear; ours
    ``OUTLINE_INK`` and nothing added)."""
    straight = fused[:, :3] / fused[:, 3:4].clamp_min(1e-6)
    scale, add = sheet_ink.terms()
    linear = srgb_to_linear(straight) * torch.tensor(scale, dtype=rgba.dtype).reshape(1, 3, 1, 1)
    if any(add):  # a fixed pen colour (the graph's constant; ours adds nothing: the same graph as before)
        linear = linear + torch.tensor(add, dtype=rgba.dtype).reshape(1, 3, 1, 1)
    ink = torch.cat([linear_to_srgb(linear) * alpha, alpha], 1)
    return rgba + lines * (fused[:, 3:4] > 0.5).to(rgba.dtype) * (ink - rgba)


def ink_edge_mask(edges: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """edges [N, 1, H, W] (``target_edges``), the target's alpha [N, 1, H, W] -> the edges the views'
    ink goes on (``ink_edges``) when the target's G-buffer is not known (``toon_line`` then): less the
    silhouette pixels that touch the background only at a corner. The toon pass inks a covered pixel
    with background within its line's radius (1 px per 256: the 4 beside it;
    shaders/glsl/toon_outline.glsl), the 3 x 3 edge test also those with background only diagonally:
    the darkest view's ink there made the outline 2 px on every staircase step. The frame's border is
    not background (as the toon pass's). From 384 px high the toon line is 2 px (its radius
    ``round(height / 256)``) and reaches those corners: the edges unchanged. Measured (turnaround toon
    sheets at 256², seeds 900000-900003, n = 4, L1 x flat / face SSIM; docs/conr_rt.md, "A view's
    contour ink, un-inked"): 0.283 / 0.780 -> 0.273 / 0.790."""
    if round(default_line_width(int(alpha.shape[-2]))) > 1:  # (an int: a constant of the exported graph)
        return edges
    background = (alpha <= 0.5).to(edges.dtype)
    around = F.max_pool2d(background, 3, 1, 1)
    beside = line_reach_max(background, 1)
    return edges * (1 - (1 - background) * around * (1 - beside))


def pull_push(weighted: torch.Tensor) -> torch.Tensor:
    """weighted [N, C + 1, H, W]: a colour times a weight (0..1) and, last, the weight ->
    [N, C, H, W]: the weighted colour where the weight is, spread from the nearest weighted
    pixels elsewhere (a pull-push pyramid: 2x2 means down to one pixel, each level's holes
    filled from the coarser one on the way up; a level trusts its own mean where its weight
    passes 1/4). Colour and weight pool together (one pool a level); ``ceil_mode`` only on
    odd sides, where it changes the windows: ONNX Runtime's AveragePool with it took ~5x as
    long on even ones."""
    levels = [weighted]
    while min(levels[-1].shape[-2:]) > 1:
        h, w = (int(x) for x in levels[-1].shape[-2:])
        levels.append(F.avg_pool2d(levels[-1], 2, ceil_mode=bool(h % 2 or w % 2)))
    estimate = levels[-1][:, :-1] / levels[-1][:, -1:].clamp_min(1e-6)
    for level in reversed(levels[:-1]):
        c, w = level[:, :-1], level[:, -1:]
        coarse = F.interpolate(estimate, size=c.shape[-2:], mode="bilinear", align_corners=False)
        trust = (4 * w).clamp(0, 1)
        estimate = trust * (c / w.clamp_min(1e-6)) + (1 - trust) * coarse
    return estimate


# fill_unseen's same-surface rule: a seen pixel's colour counts exp(-d² / 2 SAME_SURFACE²) at an
# unseen one, d the distance of their UDPs (the canonical box's 0..1). Measured on the sample
# demo's 5 frames against the toon pass (L1 on the unseen pixels off the target's edges, 256² /
# 128²; the frame's nearest seen colour 0.114 / 0.195): 0.01 0.132 / 0.199, 0.03 0.105 / 0.194,
# 0.05 0.099 / 0.171, 0.07 0.101 / 0.164, 0.1 0.105 / 0.172, 0.2 0.109 / 0.185
SAME_SURFACE = 0.05
# fill_unseen: pixels within this many px (at 256², scaled with the side) of the target's edges
# stay the refinement's (toon ink and shading run along them). Measured with the same-surface
# colour (session 11; L1 × flat on procedural toon sheets, seeds 900000-900002, n = 4, main
# 0.3588 / the demo's unseen pixels at 256², main 0.1685): 0 px 0.3713 / 0.0881, 2 px 0.3647 /
# 0.0929, 4 px 0.3580 / 0.0973, 6 px 0.3580 / 0.0979 (session 8, the frame's nearest colour:
# 6 px; session 10 dropped it, measured on the demo only)
FILL_MARGIN = 4
# fill_unseen fills the part of a pixel no view sees past this (rescaled: 1 stays 1): the fused
# coverage is a little under 1 on most of a seen surface (~8 000 pixels of a 256² demo frame
# had some part unseen, ~600 more than 0.1 of it), and the fill's per-pixel gathers on all of
# them took 1.18x the finish graph's CPU; past 0.1: 0.95x, the demo's L1 the same to 1e-4
# (docs/conr_rt.md, "What no view sees: the same surface's colour")
UNSEEN_FROM = 0.1
# fill_unseen with the target's part labels: a pyramid per group of labels (conrt.types.Part): skin,
# hair, the rest (clothes, shoes, socks, ...). One pyramid per label (9, and one of all parts for a
# part no view sees) cost 1.20x the CPU of a 256² demo frame (36.3 -> 43.7 ms, docs/runtime.md
# "Session 15"): each group's is another pull-push. Eyes and mouth are in no group: an unseen eye or
# mouth pixel keeps the refinement's colour (with the skin it took the skin's: a blank face). Only
# rigs that label them (glTF eye/mouth meshes): the procedural faces are painted on the skin
# (docs/runtime.md "Unseen eyes and mouths")
FILL_GROUPS = ((Part.SKIN,), (Part.HAIR,), (Part.CLOTH, Part.SHOES, Part.SOCKS, Part.ACCESSORY, Part.OTHER))
# same_surface_at's 3x3 half-size cells (dy, dx) and their weights by place: 1, sides 1/2, corners 1/4
_CELLS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
_PLACE = tuple(0.5 ** (abs(dy) + abs(dx)) for dy, dx in _CELLS)


def window_cells(y: torch.Tensor, x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Rows ``y`` and columns ``x`` [K] of pixels in an h x w frame, offsets dy, dx [k, 1] ->
    [k, K] flat indices of each pixel's window, the frame's border repeated."""
    return (y.reshape(1, -1) + dy).clamp(0, h - 1) * w + (x.reshape(1, -1) + dx).clamp(0, w - 1)


def same_surface_at(estimate: torch.Tensor, target_xyz: torch.Tensor, pixels: torch.Tensor,
                    size: tuple[int, int]) -> torch.Tensor:
    """estimate [N, C + 3, h, w] (a colour and the UDP it came from: ``pull_push`` at half of
    ``size``), target_xyz [N, 3, K] (the target's UDP at ``pixels``, flat indices [K] of a
    ``size`` frame) -> [N, C, K]: each pixel's colour from its own half-size cell and the 8
    around it, each weighted by its place (``_PLACE``) and by how near its UDP is to the
    pixel's (``SAME_SURFACE``): the hair's colour for a hair pixel between hair and skin, where
    a bilinear resize mixes the two. Only at ``pixels`` (what no view sees: ~600 of a 256²
    demo frame); the 9 cells in one gather (a loop of 9 put ~550 nodes in the exported graph)."""
    n, c, h, w = estimate.shape
    y, x = pixels // size[1] // 2, pixels % size[1] // 2  # the own cell (ceil_mode: h = ceil(H / 2))
    dy = torch.tensor([d[0] for d in _CELLS]).reshape(9, 1)
    dx = torch.tensor([d[1] for d in _CELLS]).reshape(9, 1)
    cells = window_cells(y, x, dy, dx, h, w)  # [9, K]
    near = torch.gather(estimate.reshape(n, c, h * w), 2, cells.reshape(1, 1, -1).expand(n, c, -1)).reshape(n, c, 9, -1)
    sq = (near[:, -3:] - target_xyz.reshape(n, 3, 1, -1)).square()
    d2 = sq[:, 0:1] + sq[:, 1:2] + sq[:, 2:3]  # slices, no ReduceSum over the channels
    # + 1e-6: a pixel far from every cell's UDP still takes their colours by place
    weight = (torch.exp(d2 * (-0.5 / SAME_SURFACE ** 2)) + 1e-6) * torch.tensor(_PLACE).reshape(9, 1)
    nine = torch.ones(1, 9, dtype=weight.dtype)  # sums over the cells as MatMuls: no ReduceSum in the graph
    return (torch.matmul(nine, weight * near[:, :-3]) / torch.matmul(nine, weight)).reshape(n, c - 3, -1)


# fill_unseen on the target's edges no view covers: the darkest colour of the covered edge pixels
# within this many px (a (2 INK_REACH + 1)² square). Measured on the sample demo's 5 frames against
# the toon pass (L1 on the pixels no view sees, 256² / 128²): the refinement's 0.159 / 0.141;
# 1 px 0.111 / 0.145, 2 px 0.107 / 0.144, 3 px 0.108 / 0.142 where darker than the refinement's;
# always (a covered edge pixel in reach) 2 px **0.088 / 0.131**
INK_REACH = 2


def nearest_ink_at(rgba: torch.Tensor, donors: torch.Tensor, pixels: torch.Tensor,
                   size: tuple[int, int]) -> torch.Tensor:
    """rgba [N, 4, H, W] premultiplied, donors [N, 1, H, W] (1: the edge pixels some view covers),
    pixels flat indices [K] of the ``size`` frame -> [N, 4, K]: at each pixel the straight
    colour of the darkest (luma; the mean of equals) donor within ``INK_REACH`` px, and 1 where
    there is one (0 and colour 0 elsewhere), as ``darkest_view`` picks among views."""
    n, _, h, w = rgba.shape
    r = INK_REACH
    span = torch.arange(-r, r + 1)
    dy, dx = span.repeat_interleave(2 * r + 1).reshape(-1, 1), span.repeat(2 * r + 1).reshape(-1, 1)
    y, x = pixels // w, pixels % w
    cells = window_cells(y, x, dy, dx, h, w).reshape(1, 1, -1)
    k = dy.shape[0]
    near = torch.gather(rgba.reshape(n, 4, h * w), 2, cells.expand(n, 4, -1)).reshape(n, 4, k, -1)
    donor = torch.gather(donors.reshape(n, 1, h * w), 2, cells.expand(n, 1, -1)).reshape(n, 1, k, -1)
    straight = near[:, :3] / near[:, 3:4].clamp_min(1e-6)
    dark = luma(straight) + 4.0 * (1 - donor)  # (luma <= 1) no donor is never the darkest
    pick = (dark <= dark.amin(2, keepdim=True)).to(rgba.dtype) * donor
    ones = torch.ones(1, k, dtype=rgba.dtype)  # sums over the square as MatMuls: no ReduceSum in the graph
    count = torch.matmul(ones, pick)
    colour = torch.matmul(ones, pick * straight) / count.clamp_min(1e-6)
    return torch.cat([colour, (count > 0).to(rgba.dtype)], 1).reshape(n, 4, -1)


class _PlaceColumns(torch.autograd.Function):
    """``place_columns`` as one op: in eager a pad, in the exported graph a Pad whose pads come
    from ``first`` (a graph input), so one graph serves a band of that width anywhere."""

    @staticmethod
    def forward(ctx, x, first, width: int, sizes: tuple):
        left = int(first.reshape(-1)[0])
        return F.pad(x, (left, width - int(x.shape[-1]) - left))

    @staticmethod
    def symbolic(g, x, first, width: int, sizes: tuple):
        first = g.op("Reshape", first, g.op("Constant", value_t=torch.tensor([1])))
        zeros = g.op("Constant", value_t=torch.zeros(3, dtype=torch.int64))
        right = g.op("Sub", g.op("Constant", value_t=torch.tensor([width - sizes[-1]])), first)
        padded = g.op("Pad", x, g.op("Concat", zeros, first, zeros, right, axis_i=0), mode_s="constant")
        return _static_shape(g, padded, list(sizes[:-1]) + [width])


class _NarrowColumns(torch.autograd.Function):
    """``narrow_columns`` as one op: a Slice from ``start`` (a tensor) and the static shape."""

    @staticmethod
    def forward(ctx, x, start, length: int, sizes: tuple):
        return x.narrow(-1, int(start.reshape(-1)[0]), length).clone()

    @staticmethod
    def symbolic(g, x, start, length: int, sizes: tuple):
        start = g.op("Reshape", start, g.op("Constant", value_t=torch.tensor([1])))
        end = g.op("Add", start, g.op("Constant", value_t=torch.tensor([length])))
        part = g.op("Slice", x, start, end, g.op("Constant", value_t=torch.tensor([-1])))
        return _static_shape(g, part, list(sizes[:-1]) + [length])


def _static_shape(g, x, sizes: list[int]):
    """x reshaped to ``sizes`` (its own): a Pad or Slice from a graph input has no static shape
    in ONNX shape inference, and without one ONNX Runtime keeps the convs and resizes after it
    out of its blocked (NCHWc) layout and the exporter computes their sizes at run time (a 256²
    band finish graph ran 1.0x the whole frame's CPU so, 0.x with the static shape)."""
    return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor(sizes, dtype=torch.int64)))


def place_columns(x: torch.Tensor, first: torch.Tensor, width: int) -> torch.Tensor:
    """x [N, C, H, w] -> [N, C, H, width]: x in the columns first .. first + w, 0 elsewhere
    (``first``: [1] int64, a tensor: the exported graph takes it as an input)."""
    return _PlaceColumns.apply(x, first, width, tuple(int(d) for d in x.shape))


def narrow_columns(x: torch.Tensor, start: torch.Tensor, length: int) -> torch.Tensor:
    """x [..., W] -> its columns start .. start + length (``start``: [1] int64, a tensor computed
    from a graph input), with the static shape in the exported graph."""
    return _NarrowColumns.apply(x, start, length, tuple(int(d) for d in x.shape))


def fill_unseen(rgba: torch.Tensor, fused: torch.Tensor, kept: torch.Tensor, edges: torch.Tensor | None,
                pose: torch.Tensor, band: tuple[torch.Tensor, int] | None = None,
                lines: torch.Tensor | None = None, parts: torch.Tensor | None = None) -> torch.Tensor:
    """The keep-seen rule's fill of what no view sees, off the target's edges.

    rgba [N, 4, H, W] the keep-seen blend (the fused colour where ``kept``, the refinement
    elsewhere), fused [N, 4, H, W] the views' fused colour (premultiplied, 0..1), kept
    [N, 1, H, W] where it is kept (coverage, 0 on the edges the refinement draws), edges
    [N, 1, H, W] those edges (``target_edges``; 0 or None on unlit sheets), pose [N, 4, H, W] the
    target's UDP as ``encode_pose`` gives it (xyz times alpha, alpha) -> rgba with the part not
    kept (past ``UNSEEN_FROM``) and more than ``FILL_MARGIN`` px off ``edges`` taken from the
    nearest kept colour **of the same surface** times the alpha: a ``pull_push`` of the fused colour where it is kept
    (weighted by its alpha: premultiplied, no division at full size) carrying the UDP of the
    half-size cells it came from (the target's own, pooled: where a cell is kept, the kept
    pixels'), brought back to full size by ``same_surface_at`` (the nearest seen pixel in the
    frame is often another surface: skin beside the hair, the skirt's hem above the thigh).
    The shipped refinement filled small unseen patches inside a seen surface with toon outlines
    (the sample demo's skirt: a patch no view shows, drawn as an orange ring; docs/conr_rt.md,
    "What no view sees"); it still draws the edges (their unseen pixels filled too: L1 0.23 on
    the demo's unseen pixels against 0.16: toon ink runs along them), except where no view
    covers an edge pixel at all: there it drew orange dots (the sample demo's face beside the
    hair ring), and such a pixel takes the darkest colour of the edges some view covers within
    ``INK_REACH`` px (``nearest_ink_at``: the views' ink, ``ink_edges``, reaching past the covered edges).
    ``lines`` [N, 1, H, W]: the target's lines where its G-buffer is known (``toon_line``, inked by
    ``ink_lines``): those take the place of the edges there (a blind line pixel takes the darkest
    covered line pixel's colour within ``INK_REACH``).
    ``parts`` [N, 1, H, W]: the target's part labels (its G-buffer's, ``conrt.types.Part``; -1 off
    it): each group of parts its own pyramid (``FILL_GROUPS``), a pixel's colour from the seen pixels
    of its own group (the thigh's from skin, not from the shorts beside it); where no view sees any
    pixel of its group in the frame, or its part is in no group (eyes, mouth), the refinement's colour
    stays.

    The pyramid starts at half size (a full-size level's own colour only mattered where a
    pixel is partly kept: the same L1 on the fill benchmark's frames, ~1 ms less of ONNX
    Runtime at 256² with its straight colour's division and slices).

    ``band`` (first, width): the inputs are the columns first .. first + w (even, a [1] int64
    tensor) of a frame ``width`` wide, and no view nor the target covers any other (the views'
    band, ``FusionFinishGraph`` with a band): the frame's fill on those columns, the same
    numbers (its pyramid on the frame's half-size cells, ``place_columns``; its margin the
    frame's)."""
    n, c, h, w = (int(x) for x in rgba.shape)  # ints: constants of the exported graph
    first, frame_w = (None, w) if band is None else band
    alpha = pose[:, 3:4]
    inside = (alpha > 0.5).to(rgba.dtype)
    weight = kept * inside
    ceil = bool(h % 2 or frame_w % 2)
    if band is not None and (ceil or w % 2):
        raise ValueError(f"fill_unseen on a band: even sides only (frame {frame_w}x{h}, band {w} wide)")
    half = F.avg_pool2d(fused * weight, 2, ceil_mode=ceil)  # [rgb a w, a w] at half size
    own = F.avg_pool2d(pose, 2, ceil_mode=ceil)  # the target's UDP: joined at half size, no full-size product
    seen = half[:, 3:4]
    half = torch.cat([half[:, :3], own[:, :3] / own[:, 3:4].clamp_min(1e-6) * seen, seen], 1)
    groups, member = 1, None
    if parts is not None:  # a pyramid per group of parts (the batch): a cell counts for its groups by share
        groups = len(FILL_GROUPS)
        member = torch.cat([sum((parts == float(p)).to(rgba.dtype) for p in g) for g in FILL_GROUPS], 1)  # [N, G, H, W]
        share = F.avg_pool2d(member, 2, ceil_mode=ceil)
        half = (half.unsqueeze(1) * share.unsqueeze(2)).reshape(n * groups, 7, *half.shape[-2:])
    if band is not None:  # the frame's half-size cells (0 off the band, as the frame's)
        half = place_columns(half, first // 2, frame_w // 2)
    rest = inside
    if edges is not None:
        k = max(1, round(FILL_MARGIN * frame_w / 256))
        # edges grown by k px (a max over rows, then over columns: 2(2k+1) compares, not (2k+1)^2)
        rest = rest - F.max_pool2d(F.max_pool2d(edges, (1, 2 * k + 1), 1, (0, k)), (2 * k + 1, 1), 1, (k, 0))
    # (1 - kept)(1 - near_edges) inside (the masks 0 or 1) past UNSEEN_FROM; off the target the
    # runtime clips the frame anyway
    rest = F.relu(rest - kept - UNSEEN_FROM)  # times 1 / (1 - UNSEEN_FROM) at the gathered pixels
    rest = rest * (weight.amax((2, 3), keepdim=True) > 0).to(rgba.dtype)  # no view sees anything: nothing is near
    todo = rest
    if edges is not None:  # the edges no view covers (the fused alpha is 0 where none does): the views' ink nearby
        covered = (fused[:, 3:4] > 0.5).to(rgba.dtype)
        inked = edges if lines is None else lines  # the target's lines, where known (toon_line): their ink
        blind = inked * inside * (1 - covered)
        todo = rest + blind  # (a line pixel off the grown edges may be both: filled, then inked)
    # the fill's pixels (any frame's of a batch), gathered and put back as the graphs' ink_on_edges
    # (a ReduceMax over the batch only where there is one: ORT's over a leading axis is slow)
    pixels = torch.nonzero((todo.amax(0) if n > 1 else todo[0]).reshape(-1)).reshape(-1)
    index = pixels.reshape(1, 1, -1)
    at = lambda x: torch.gather(x.reshape(*x.shape[:2], h * w), 2, index.expand(*x.shape[:2], -1))  # noqa: E731
    a = at(alpha)
    # (on a band, the pixels' place in the frame: the pyramid's cells are the frame's)
    in_frame = pixels if band is None else pixels // w * frame_w + pixels % w + first
    xyz = at(pose[:, :3]) / a.clamp_min(1e-6)
    part = at(rest) * (1 / (1 - UNSEEN_FROM))  # how much of each pixel the fill takes
    if groups == 1:
        near = same_surface_at(pull_push(half), xyz, in_frame, (h, frame_w)).clamp(0, 1)
    else:  # each pixel its own group's colour, where some pixel of that group is seen (else not filled)
        every = same_surface_at(pull_push(half), xyz.unsqueeze(1).expand(n, groups, 3, -1).reshape(n * groups, 3, -1),
                                in_frame, (h, frame_w))
        seen_groups = (half[:, 6].reshape(n, groups, -1).amax(2, keepdim=True) > 0).to(rgba.dtype)  # [N, G, 1]
        own = at(member) * seen_groups  # [N, G, K]: 1 in the pixel's group where that group is seen
        ones = torch.ones(1, groups, dtype=rgba.dtype)  # sums over the groups as MatMuls: no ReduceSum in the graph
        picked = (every.reshape(n, groups, 3, -1) * own.unsqueeze(2)).reshape(n, groups, -1)  # [N, G, 3 K]
        near = torch.matmul(ones, picked).reshape(n, 3, -1).clamp(0, 1)
        part = part * torch.matmul(ones, own)  # a group no view sees in the frame: the refinement's colour stays
    there = at(rgba)
    there = there + part * (torch.cat([near * a, a], 1) - there)
    if edges is not None:  # the blind edge pixels among them (~1/10; a NonZero over the gathered ones only)
        b = at(blind)
        which = torch.nonzero((b.amax(0) if n > 1 else b[0]).reshape(-1)).reshape(1, 1, -1)
        sub = lambda x: torch.gather(x, 2, which.expand(*x.shape[:2], -1))  # noqa: E731
        ink = nearest_ink_at(rgba, inked * covered, pixels[which.reshape(-1)], (h, w))
        blind_there = sub(there)
        blind_there = blind_there + sub(b) * ink[:, 3:] * (torch.cat([ink[:, :3] * sub(a), sub(a)], 1) - blind_there)
        there = there.scatter(2, which.expand(n, c, -1), blind_there)
    return rgba.reshape(n, c, h * w).scatter(2, index.expand(n, c, -1), there).reshape(n, c, h, w)


def _conv(cin, cout, stride=1, activation="prelu"):
    act = nn.PReLU(cout) if activation == "prelu" else nn.ReLU()
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), act)


class FusionNet(nn.Module):
    """Per-view scores -> softmax fusion over views -> U-Net refinement.

    Scores and refinement run below full size (``score_scale``,
    ``refine_scale``: they decide which view wins and fix what no view shows;
    both are smooth), the fusion itself at full size: the sharp detail comes
    from sampling the sheets at full resolution.
    """

    def __init__(self, cfg: LookupConfig):
        super().__init__()
        self.score_scale, self.refine_scale = cfg.score_scale, cfg.refine_scale
        # keep_seen: what no view sees off the target's edges takes the nearest seen colour
        # (``fill_unseen``); False: the refinement's, as before session 8 (benchmarks' baseline row)
        self.nearest_fill = True
        # with the target's G-buffer, the fill by part (``fill_unseen``'s ``parts``); False: of all parts,
        # as before session 15. Better on every look measured, a 256² demo frame's process CPU 1.01x
        # (docs/runtime.md "Session 15"; switching it changes the exported graphs: bump FUSION_FORMAT)
        self.part_fill = True
        act = cfg.activation
        # per view: sampled reference (4) + coverage (1) + its distance to the
        # views' consensus (4: a view whose predicted sheet UDP is wrong here
        # disagrees with the others) + target UDP (4, the same for every view)
        self.score = nn.Sequential(_conv(13, cfg.score_width, activation=act),
                                   nn.Conv2d(cfg.score_width, 1, 3, 1, 1))
        w = cfg.widths
        # fused reference (4) + summed coverage (1) + target UDP (4)
        self.inp = _conv(9, w[0], activation=act)
        self.down = nn.ModuleList(nn.Sequential(_conv(w[i], w[i + 1], 2, act), _conv(w[i + 1], w[i + 1], 1, act))
                                  for i in range(len(w) - 1))
        self.up = nn.ModuleList(_conv(w[i + 1] + w[i], w[i], 1, act) for i in range(len(w) - 1))
        self.out = nn.Conv2d(w[0], 4, 3, 1, 1)
        nn.init.zeros_(self.out.weight)  # start as the plain fused lookup
        nn.init.zeros_(self.out.bias)

    def view_scores(self, small: torch.Tensor, udp_small: torch.Tensor) -> torch.Tensor:
        """small [N, M, 5, h, w] (sampled + coverage, pooled), udp_small [N, 4, h, w] -> scores [N*M, 1, h, w]."""
        n, m, _, h, w = small.shape
        colour, seen = small[:, :, :4], small[:, :, 4:]
        consensus = (colour * seen).sum(1, keepdim=True) / seen.sum(1, keepdim=True).clamp_min(1e-6)
        own = torch.cat([small, (colour - consensus).abs()], 2).reshape(n * m, 9, h, w)
        # the first conv on cat(own, udp) = conv(own) + conv(udp) (linear per
        # input channel, zero padding): the target-UDP half runs once, not per view
        first, act = self.score[0]
        y = F.conv2d(own, first.weight[:, :9], first.bias, padding=1)
        shared = F.conv2d(udp_small, first.weight[:, 9:], None, padding=1)
        y = (y.reshape(n, m, -1, h, w) + shared.unsqueeze(1)).reshape(n * m, -1, h, w)
        return self.score[1](act(y))

    def forward(self, sampled: torch.Tensor, cover: torch.Tensor, udp: torch.Tensor,
                keep_seen: bool = False, ink: torch.Tensor | None = None,
                shaded: torch.Tensor | None = None, gbuf: torch.Tensor | None = None,
                sheet_ink: SheetInk | None = None) -> torch.Tensor:
        """sampled [N, M, 4, H, W] premultiplied, cover [N, M, 1, H, W], udp [N, 4, H, W]
        -> premultiplied RGBA [N, 4, H, W].

        ``keep_seen``: where the views see the point (the fused coverage), keep
        their fused colour, except on the target's edges (``target_edges``);
        the refinement does those and the rest. For exact correspondences
        (``shaders.CorrespondencePass``): the shipped weights' refinement
        learned to repair the table's blur and over-corrects exact samples
        (docs/conr_rt.md, "Exact correspondences").

        ``ink`` [N] (with ``keep_seen``): the sheet's look as judged once per
        sheet (``sheet.judge_look``): 1 = an inked sheet (toon, line art), the
        refinement draws the target's edges (where the ink goes), and the darkest
        view's colour where it is darker (``ink_edges``); 0 = an
        unlit one, the plain exact lookup is kept wherever a view has the point
        (``keep_plain_lookup``) and the refinement fills only what no view has.
        None = 1. ``shaded`` [N] (with ``ink`` 0): 1 = a shaded sheet without ink
        (``sheet.SheetLook.shaded``): the unlit rule without the plain lookup.
        ``gbuf`` [N, 2, H, W] (an inked sheet's): the target's G-buffer (``toon_line``: eye depth,
        part label): the target's lines drawn where the toon pass draws them, 1 px, in its ink
        (``ink_lines``); None: the views' ink on the target's edges (``ink_edges``), as before
        session 13. Not an input of the network itself. ``sheet_ink``: the sheet's own ink
        (``shaders.sheet_ink.estimate_ink``, once per sheet; one for the batch) the lines are drawn
        in: their radius, inner lines or not, the colour law; None: our toon pass's."""
        sheet_ink = TOON_INK if sheet_ink is None else sheet_ink
        n, m, _, h, w = sampled.shape
        s = self.score_scale
        # pooled apart and joined small: a full-size concat is a pass over the views
        small = torch.cat([F.avg_pool2d(sampled.reshape(n * m, 4, h, w), s),
                           F.avg_pool2d(cover.reshape(n * m, 1, h, w), s)], 1)
        udp_small = F.avg_pool2d(udp, s)
        score = self.view_scores(small.reshape(n, m, 5, h // s, w // s), udp_small)
        # one resize of an M-channel map (views as channels), not M of one channel
        score = F.interpolate(score.reshape(n, m, h // s, w // s), size=(h, w), mode="bilinear",
                              align_corners=False).reshape(n, m, 1, h, w)
        # views a voxel never saw lose the vote; the rest compete on their score
        weight = torch.softmax(score + 8.0 * (cover - 1.0), 1)
        # a view whose table had nothing near this point contributes nothing
        # (its uv is meaningless there); the others share its weight
        seen = weight * (cover > 0.01).to(cover.dtype)
        fused = (seen * sampled).sum(1) / seen.sum(1).clamp_min(1e-6)
        coverage = (weight * cover).sum(1)
        r = self.refine_scale
        udp_refine = udp_small if r == s else F.avg_pool2d(udp, r)
        y = self.inp(torch.cat([F.avg_pool2d(fused, r), F.avg_pool2d(coverage, r), udp_refine], 1))
        skips = []
        for down in self.down:
            skips.append(y)
            y = down(y)
        for up, skip in zip(reversed(self.up), reversed(skips)):
            y = up(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False),
                              skip], 1))
        delta = F.interpolate(self.out(y), size=(h, w), mode="bilinear", align_corners=False)
        rgba = (fused + delta).clamp(0, 1)
        if keep_seen:
            # the refinement keeps the target's edges (silhouette, a limb over the body: where the
            # toon look draws its outline; on an inked sheet whose target's lines are not known) and
            # what no view sees
            edges = target_edges(udp)
            if ink is not None:
                edges = edges * ink.reshape(-1, 1, 1, 1).to(edges.dtype)
            inked = ink is None or bool((ink > 0).any())
            lines = None  # the target's lines (toon_line), where its G-buffer is known
            if gbuf is not None and inked:
                lines = toon_line(gbuf, udp[:, 3:4], sheet_ink)
                if ink is not None:
                    lines = lines * ink.reshape(-1, 1, 1, 1).to(lines.dtype)
            # with the lines known the views' colour is kept on the edges too (the lines are inked over it)
            seen_part = coverage.clamp(0, 1) * (1 - edges) if lines is None else coverage.clamp(0, 1)
            rgba = seen_part * fused.clamp(0, 1) + (1 - seen_part) * rgba
            if inked and lines is None:  # on the edges the views' ink where darker
                rgba = ink_edges(rgba, darkest_view(sampled, cover), ink_edge_mask(edges, udp[:, 3:4]), udp[:, 3:4])
            elif inked:  # the target's lines where the toon pass draws them, in its ink
                rgba = ink_lines(rgba, fused.clamp(0, 1), lines, udp[:, 3:4], sheet_ink)
            if self.nearest_fill:  # what no view sees, off the edges: the nearest seen colour (of its part)
                parts = gbuf[:, 1:2] if gbuf is not None and self.part_fill else None
                rgba = fill_unseen(rgba, fused.clamp(0, 1), seen_part, edges, udp, lines=lines, parts=parts)
            plain_off = ink if ink is None or shaded is None else torch.maximum(ink, shaded.to(ink.dtype))
            if plain_off is not None and bool((plain_off < 1).any()):  # inked and shaded sheets skip its passes
                rgba = keep_plain_lookup(rgba, sampled, cover, udp, plain_off)
        # premultiplied: colour never exceeds alpha
        return torch.cat([torch.minimum(rgba[:, :3], rgba[:, 3:4]), rgba[:, 3:4]], 1)


# ---------------------------------------------------------------------------
# the whole network
# ---------------------------------------------------------------------------
@register_model
class LookupNet(ShaderNet):
    """A ``ShaderNet`` like ``CoNR``; see the module docstring."""

    architecture = "lookup"
    PARTS = ("udpparsernet", "fusion")
    FRAME_PARTS = ("fusion",)  # with ``lookup.table_fusion`` also "table_fusion" (set per model)
    CORRESPONDENCES = ("table", "exact", "udp-nn")  # what ``fusion_for`` takes
    takes_sheet_udp = True  # the table can come from the views' true UDPs
    takes_views = True  # FusionNet alone shades from exact sheet correspondences

    # -- the config -------------------------------------------------------------
    @classmethod
    def sheet_levels(cls, cfg: CoNRConfig) -> int:
        return 1  # the table

    @classmethod
    def size_multiple(cls, cfg: CoNRConfig) -> int:
        lk = cfg.lookup  # the sheet U-Net; the refinement U-Net and the scores below full size
        return max(cfg.sheet_encoder.coarsest_stride, lk.refine_scale * 2 ** (len(lk.widths) - 1), lk.score_scale)

    @classmethod
    def validate_config(cls, cfg: CoNRConfig) -> None:
        s, lk = cfg.sheet_encoder, cfg.lookup
        if len(s.widths) != len(s.depths):
            raise ConfigError(f"{cfg.name}: sheet_encoder.widths and depths differ in length")
        if len(s.decoder_filters) != len(s.depths) + 1 or s.classes != 4:
            raise ConfigError(f"{cfg.name}: the lookup architecture needs the sheet encoder's U-Net head "
                              f"(decoder_filters with {len(s.depths) + 1} entries, classes 4: xyz + mask)")
        if not 4 <= lk.grid <= 128:
            raise ConfigError(f"{cfg.name}: lookup.grid must be in 4..128, got {lk.grid}")
        if not 1 <= len(lk.widths) <= 5 or min(lk.widths) < 1:
            raise ConfigError(f"{cfg.name}: lookup.widths needs 1-5 positive widths, got {lk.widths}")
        for key in ("score_scale", "refine_scale"):
            if getattr(lk, key) not in (1, 2, 4, 8):
                raise ConfigError(f"{cfg.name}: lookup.{key} must be 1, 2, 4 or 8, got {getattr(lk, key)}")
        if lk.activation not in ("prelu", "relu"):
            raise ConfigError(f"{cfg.name}: lookup.activation must be 'prelu' or 'relu', got {lk.activation!r}")
        if not 0.0 <= lk.gt_sheet_udp <= 1.0:
            raise ConfigError(f"{cfg.name}: lookup.gt_sheet_udp is a probability, got {lk.gt_sheet_udp}")

    def __init__(self, cfg: CoNRConfig):
        super().__init__()
        self.cfg = cfg.validate()
        if cfg.architecture != self.architecture:
            raise ValueError(f"{cfg.name}: LookupNet needs architecture {self.architecture!r}")
        self.udpparsernet = ResEncUnet(cfg.sheet_encoder)
        self.fusion = FusionNet(cfg.lookup)
        # the table mode's own fusion net (``lookup.table_fusion``), None: ``fusion`` shades it too
        self.table_fusion = FusionNet(cfg.lookup) if cfg.lookup.table_fusion else None
        if self.table_fusion is not None:
            self.FRAME_PARTS = ("fusion", "table_fusion")

    def fusion_for(self, correspondence: str) -> FusionNet:
        """The fusion net that shades frames of this correspondence mode: "table" (the 32³
        table of the predicted sheet UDP, ``render``) -> ``table_fusion`` when the weights
        hold one, else ``fusion``; "exact" and "udp-nn" (the GL pass's samples,
        ``render_views``) -> ``fusion``. The one rule the torch, ONNX and gl-lookup paths use."""
        if correspondence not in self.CORRESPONDENCES:
            raise ConfigError(f"unknown correspondence mode {correspondence!r}; valid: "
                              f"{', '.join(self.CORRESPONDENCES)}")
        if correspondence == "table" and self.table_fusion is not None:
            return self.table_fusion
        return self.fusion

    # -- once per character ----------------------------------------------------
    def sheet_udp_logits(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb [N, M, 3, S, S] premultiplied -> raw head output [N*M, 4, S, S] (xyz logits, mask logit)."""
        return self.udpparsernet.decode(self.udpparsernet(normalize(rgb.flatten(0, 1))))

    def table(self, xyz: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lk = self.cfg.lookup
        return build_table(xyz, mask, lk.grid, lk.fill_rounds)

    def encode_sheet(self, rgb: torch.Tensor, mask: torch.Tensor, sheet_udp: torch.Tensor | None = None):
        """rgb [N, M, 3, S, S] premultiplied, mask [N, M, 1, S, S]; ``sheet_udp``
        [N, M, 4, S, S] the sheet's true UDP if known (else predicted).
        Returns ([table], reference = cat(rgb, mask))."""
        if sheet_udp is None:
            n, m = rgb.shape[:2]
            xyz = torch.sigmoid(self.sheet_udp_logits(rgb)[:, :3]).reshape(n, m, 3, *rgb.shape[-2:])
        else:
            xyz = sheet_udp[:, :, :3]
        return [self.table(xyz, mask)], torch.cat([rgb, mask], 2)

    # -- per frame -----------------------------------------------------------
    def encode_pose(self, udp: torch.Tensor) -> list[torch.Tensor]:
        """The target UDP itself (xyz zeroed off the character) is the pose input."""
        a = udp[:, 3:4]
        return [torch.cat([udp[:, :3] * a, a], 1)]

    def sample_views(self, udp: torch.Tensor, reference: torch.Tensor, table: torch.Tensor):
        """The non-learned half of a frame: look every target pixel up in the
        table and sample each view's reference there.

        udp [N, 4, H, W] (as ``encode_pose`` gives it), reference [N, M, 4, S, S],
        table [N, M, 3, grid³] -> (sampled [N, M, 4, H, W] premultiplied,
        cover [N, M, 1, H, W] in 0..1, 0 off the target's occupancy)."""
        n, m = reference.shape[:2]
        h, w = udp.shape[-2:]
        look = look_up(table, udp, self.cfg.lookup.grid)  # [N, M, 3, H, W]
        grid = look[:, :, :2].reshape(n * m, 2, h, w).permute(0, 2, 3, 1)
        sampled = F.grid_sample(reference.flatten(0, 1), grid, mode="bilinear", padding_mode="zeros",
                                align_corners=True).reshape(n, m, 4, h, w)
        return sampled, look[:, :, 2:3] * udp[:, 3:4].unsqueeze(1)

    def render(self, pose_feats, reference, sheet_feats, return_features=False):
        """The table mode (``sample_views`` from the table, ``fusion_for("table")``) -> premultiplied
        RGBA (N, 4, H, W)."""
        udp = pose_feats[0]
        sampled, cover = self.sample_views(udp, reference, sheet_feats[0])
        rgba = self.fusion_for("table")(sampled, cover, udp)
        return (rgba, None) if return_features else rgba

    def render_views(self, udp: torch.Tensor, sampled: torch.Tensor, cover: torch.Tensor,
                     ink: torch.Tensor | None = None, shaded: torch.Tensor | None = None,
                     gbuf: torch.Tensor | None = None, sheet_ink=None) -> torch.Tensor:
        """The correspondences already found (exact or udp-nn, by the GL pass): FusionNet alone
        (``fusion_for``: ``fusion``), keeping the seen colours as the weights' config says
        (``lookup.keep_seen``), on the target's edges too where the sheet has no ink (``ink``,
        ``shaded``, the target's ``gbuf``: ``FusionNet.forward``)."""
        return self.fusion_for("exact")(sampled, cover, self.encode_pose(udp)[0], keep_seen=self.cfg.lookup.keep_seen,
                                        ink=ink, shaded=shaded, gbuf=gbuf, sheet_ink=sheet_ink)

    def sheet_tensor_shapes(self, size: int, views: int) -> list[tuple[int, ...]]:
        return [(1, views, 3, self.cfg.lookup.grid ** 3)]

    def example_inputs(self, size: int, views: int = 2) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(0)
        udp = torch.rand(1, 4, size, size, generator=g)
        ref = torch.rand(1, views, 4, size, size, generator=g)
        table = torch.rand(*self.sheet_tensor_shapes(size, views)[0], generator=g)
        return (udp, ref, torch.cat([table[:, :, :2] * 2 - 1, table[:, :, 2:]], 2))  # u, v in -1..1, coverage
