"""conr-rt's per-frame FusionNet written for ONNX Runtime's CPU kernels.

``FusionNet.forward`` (runtime/nn/lookup_net.py) is the definition; this is
the same maths, float rounding aside, arranged so that ONNX Runtime runs it
in fewer and faster kernels (profiled on 256² exact frames, 6 views, one
thread, ``benchmarks/frame_cpu.py``; docs/runtime.md, "Session 6"):

- the score branch's first conv takes 9 channels per view: ORT's blocked
  (NCHWc) convolution needs a multiple of 8 or fewer than 8 input
  channels, so 9 ran the generic im2col path. Split by input channels
  (a conv is a sum over its inputs): pooled colour (4), pooled coverage (1),
  distance to the consensus (4) and the target UDP (4, once for all views)
  each take the fast path, and the pooled views are never concatenated;
- the refinement U-Net's input conv (9 channels) runs as one 8-channel conv
  on the fused colour and the target UDP concatenated (the blocked kernel;
  three separate 4/1/4-channel convs took ORT's slow path for inputs of
  fewer than 8 channels: 0.86-0.88x the graph's CPU with the sums below,
  session 7) plus a 1-channel conv on the coverage; its convs on
  concatenations (upsampled + skip) run as one conv per part, summed (ORT
  adds into the conv's output);
- the score's second conv (8 -> 1 per view) is a depthwise conv over the views'
  channels summed per view, instead of a batch of 1-output convs (ORT pads
  1 output to 8 and runs them on the generic path);
- the PReLUs (every slope <= 1 in the shipped weights) as ``y + relu((a - 1) y)``
  (``act_nchwc``), which ORT keeps in its blocked layout end to end: a PRelu
  took the plain layout, with a reorder out of the blocked convs and back
  in around each of the 11 (0.9x the graph's CPU, session 7);
- sums over the views (and the score's 8 channels) are MatMuls with a row
  of ones (``sum_views``): ORT's ReduceSum over a leading axis took ~3x as
  long; the max over the views (the softmax's shift) a Split and elementwise
  Maxes (``max_views``, the same bits); the seen mask multiplies instead of
  a Where (the same bits);
- the softmax over views is never normalised at full size: ``fused`` and
  ``coverage`` are ratios of weighted sums, so the exponentials' sum cancels
  (``fused = sum(e m s) / max(sum(e m), 1e-6 sum(e))`` is
  ``sum(w m s) / max(sum(w m), 1e-6)`` with ``w = e / sum(e)``);
- an inked sheet's target lines (``lookup_net.ink_lines``, where ``toon_line`` finds them in
  the target's G-buffer, the graph's input ``gbuf``) are inked on their pixels only, gathered
  and scattered back (``ink_on_lines``): ~5 % of a 256² frame, the same bits (the views'
  darkest colour on the edges did so since session 9, docs/runtime.md; session 13 drew the
  lines where the toon pass does, in its ink).

``tests/runtime/test_fusion_graph.py`` checks it against ``FusionNet.forward``
on real exact-correspondence frames. A change of FusionNet's maths must be
made here too (the test fails until it is).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from conrt.shaders.sheet_ink import TOON_INK, SheetInk

from ..nn.lookup_net import (SEES, TOUCHES, fill_unseen, ink_lines, narrow_columns, place_columns,
                             target_edges, toon_line)

# the views' half (``FusionViewsGraph``) runs on a band of whole columns: reaching this
# many of the scores' pooled pixels past every covered column (the score's two 3x3
# convs and its bilinear resize reach 3; one more for safety) and starting on the
# pooling grid, its fused colour and coverage are the full frame's, bit for bit
BAND_REACH = 4


def sum_views(x: torch.Tensor) -> torch.Tensor:
    """[M, C, H, W] -> [1, C, H, W], the sum over the first axis as a MatMul with a row of ones:
    ONNX Runtime's ReduceSum over a leading axis ran ~3x slower (one pass at a time)."""
    m, c, h, w = x.shape
    # -1, not h * w: on the edges' pixels (``at_pixels``) w is the graph's count of them, and
    # a Reshape to a computed 0 (no edges) would keep that axis's old size
    return torch.matmul(torch.ones(1, m, dtype=x.dtype), x.reshape(m, -1)).reshape(1, c, h, -1)


def act_nchwc(act: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """``act(y)``; a PReLU with every slope a <= 1 as ``y + relu((a - 1) y)`` (y > 0: y; y < 0:
    y + (a - 1) y = a y), the per-channel scale a BatchNormalization (mean 0, variance 1, eps 0):
    ORT runs that as a blocked depthwise conv with the Relu fused and the Add blocked too, where
    a PRelu takes the plain layout (a reorder out of the blocked convs and one back in)."""
    if not isinstance(act, nn.PReLU) or act.weight.numel() != y.shape[1] or bool((act.weight > 1).any()):
        return act(y)
    c = y.shape[1]
    zeros = torch.zeros(c, dtype=y.dtype)
    return y + F.relu(F.batch_norm(y, zeros, torch.ones(c, dtype=y.dtype), act.weight - 1, zeros, False, 0.0, 0.0))


def max_views(x: torch.Tensor) -> torch.Tensor:
    """[M, C, H, W] -> [1, C, H, W], the max over the first axis as a Split and a chain of
    elementwise Max (exact, as any max): ORT's ReduceMax over a leading axis took ~3x as long."""
    parts = x.split(1, 0)
    out = parts[0]
    for part in parts[1:]:
        out = torch.maximum(out, part)
    return out


# The target's lines (``lookup_net.ink_lines``) only change the frame on their pixels (~5 % of a 256²
# walk frame's pixels): the graphs gather those pixels, run the per-pixel maths there and scatter the
# result back. The same operations on the same values: the frame is the full-size rule's bit for bit.
# GatherElements, not Gather: ORT's Gather over the last axis copied element by element at ~2x its time.
def edge_pixels(edges: torch.Tensor) -> torch.Tensor:
    """edges [1, 1, H, W] (0 or 1) -> the flat indices [K] of its 1s (a NonZero)."""
    return torch.nonzero(edges.reshape(-1)).reshape(-1)


def at_pixels(x: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """x [N, C, H, W], ``edge_pixels`` [K] -> [N, C, 1, K]: x at those pixels."""
    n, c, h, w = x.shape
    return torch.gather(x.reshape(n, c, h * w), 2, pixels.reshape(1, 1, -1).expand(n, c, -1)).reshape(n, c, 1, -1)


def put_pixels(x: torch.Tensor, pixels: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """x [1, C, H, W] with ``values`` [1, C, 1, K] at the ``edge_pixels`` (a ScatterElements)."""
    _, c, h, w = x.shape
    flat = x.reshape(1, c, h * w).scatter(2, pixels.reshape(1, 1, -1).expand(1, c, -1), values.reshape(1, c, -1))
    return flat.reshape(1, c, h, w)


def ink_on_lines(rgba: torch.Tensor, fused: torch.Tensor, lines: torch.Tensor, alpha: torch.Tensor,
                 sheet_ink: SheetInk = TOON_INK) -> torch.Tensor:
    """``lookup_net.ink_lines`` on the lines' pixels only: rgba and fused [1, 4, H, W], lines and
    alpha [1, 1, H, W] (``sheet_ink``: the sheet's law, a constant of the graph) -> rgba."""
    pixels = edge_pixels(lines)
    inked = ink_lines(at_pixels(rgba, pixels), at_pixels(fused, pixels), at_pixels(lines, pixels),
                      at_pixels(alpha, pixels), sheet_ink)
    return put_pixels(rgba, pixels, inked)


def up_level(up: nn.Module, skip: torch.Tensor, y: torch.Tensor, columns=None, y_first=None) -> torch.Tensor:
    """One level up FusionNet's refinement U-Net: ``up(cat(upsampled y, skip))`` as a conv of
    each, summed (no concatenated copy; ORT adds into the conv's output). ``columns`` (start
    [1] int64, count): the conv on those columns only, of ``skip`` and of the upsampled ``y``:
    the whole coarser level, or (``y_first``: its first column) the columns of it that a band
    level computed (the upsampling on them; on a slice of the whole level ONNX Runtime would
    upsample with its plain Resize, which rounds differently from the blocked one the whole
    frame's graph runs)."""
    conv, act = up
    c = y.shape[1]
    size = skip.shape[-2:] if y_first is None else (skip.shape[-2], 2 * int(y.shape[-1]))
    y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    if columns is not None:
        start, count = columns
        y = narrow_columns(y, start if y_first is None else start - 2 * y_first, count)
        skip = narrow_columns(skip, start, count)
    return act_nchwc(act, F.conv2d(y, conv.weight[:, :c], conv.bias, padding=1)
                     + F.conv2d(skip, conv.weight[:, c:], None, padding=1))


# the refinement's top level on a band (``FastFusionGraph.refine``): its up conv and ``out`` (3x3
# each) reach a column each, the full-size resize one more: the columns the band's need
BAND_LEVEL_REACH = 3


def band_levels(first: torch.Tensor, width: int, sides: list[int]) -> list[tuple[torch.Tensor, int]]:
    """The columns (start [1] int64, count) each level of the refinement's up path computes for a
    band (first, width) of its top level (``FastFusionGraph.refine``), finest first, for the
    levels ``sides`` wide (finest first); it stops at the first level the columns would fill. The
    top level's: the band and ``BAND_LEVEL_REACH`` each side; each coarser level's: the finer
    one's through the 2x upsampling (its edge column and the conv's, 3 finer columns each side, and
    the rounding of either parity), all of them exact where their finer level reads them (or, where
    they reach the frame's edge, moved in: the frame's own edge there)."""
    out = []
    lo, count = first - BAND_LEVEL_REACH, width + 2 * BAND_LEVEL_REACH
    for side in sides:
        if count >= side:
            break
        start = lo.clamp(0, side - count)
        out.append((start, count))
        lo, count = torch.div(start - 3, 2, rounding_mode="floor"), -(-(count + 7) // 2)
    return out


class FastFusionGraph(nn.Module):
    """``FusionNet.forward(sampled, cover, encode_pose(udp), keep_seen, gbuf=gbuf)`` of
    ``model`` (a ``LookupNet``) for ONNX export; inputs as the gl-lookup
    backend has them: sampled [1, M, 4, H, W], cover [1, M, 1, H, W],
    udp [1, 4, H, W] prepared (not yet ``encode_pose``'d), gbuf [1, 2, H, W] the
    target's G-buffer (``CorrespondencePass.read_gbuf``: an inked look's lines; with keep_seen the
    fill's part labels, every look's; a graph exported without it fills as before session 15).

    ``inked`` (with ``keep_seen``): the sheet's look (``FusionNet.forward``'s ``ink``
    1 or 0, ``sheet.SheetCache.ink``) fixed in the graph, not an input: each graph
    holds only its look's rule (the unlit rule's full-size passes over the views
    cost ~13 ms of a 256² frame's graph, for nothing on inked sheets).

    ``table``: the table mode's graph (``LookupNet.fusion_for("table")``: the weights'
    ``table_fusion`` when they hold one); else the exact/udp-nn mode's (``fusion``).

    ``sheet_ink`` (an inked look's): the sheet's own ink (``shaders.sheet_ink.SheetInk``: the lines'
    radius, inner lines, colour law) fixed in the graph too (a graph per ink; ours the graph before)."""

    def __init__(self, model, keep_seen: bool = False, inked: bool = True, shaded: bool = False,
                 table: bool = False, sheet_ink: SheetInk = TOON_INK):
        super().__init__()
        self.model = model
        self.net = model.fusion_for("table" if table else "exact")  # the FusionNet this graph runs
        self.keep_seen = keep_seen
        self.inked = inked
        self.shaded = shaded  # not inked: FusionNet.forward's ``shaded`` 1, the unlit rule without the plain lookup
        self.sheet_ink = sheet_ink

    def scores(self, sampled_small: torch.Tensor, cover_small: torch.Tensor, udp_small: torch.Tensor) -> torch.Tensor:
        """``FusionNet.view_scores`` from the pooled views [M, 4|1, h, w] -> [1, M, h, w]."""
        f = self.net
        m, _, h, w = sampled_small.shape
        first, act = f.score[0]
        wt = first.weight  # [C, 13]: colour 0-3, coverage 4, |colour - consensus| 5-8, target UDP 9-12
        seen_sum = sum_views(cover_small)
        consensus = sum_views(sampled_small * cover_small) / seen_sum.clamp_min(1e-6)
        y = (F.conv2d(sampled_small, wt[:, :4], first.bias, padding=1)
             + F.conv2d(cover_small, wt[:, 4:5], None, padding=1)
             + F.conv2d((sampled_small - consensus).abs(), wt[:, 5:9], None, padding=1)
             + F.conv2d(udp_small, wt[:, 9:], None, padding=1))
        y = act_nchwc(act, y)
        # 8 -> 1 per view: a depthwise conv over the views' channels (blocked kernel), summed per view
        second = f.score[1]
        c = second.weight.shape[1]
        per_channel = F.conv2d(y.reshape(1, m * c, h, w), second.weight.reshape(c, 1, 3, 3).repeat(m, 1, 1, 1),
                               None, padding=1, groups=m * c)
        summed = torch.matmul(torch.ones(1, c, dtype=y.dtype), per_channel.reshape(m, c, h * w))  # [M, 1, h w]
        return summed.reshape(1, m, h, w) + second.bias

    def refine(self, fused_small: torch.Tensor, coverage_small: torch.Tensor, udp_small: torch.Tensor,
               band: tuple[torch.Tensor, int] | None = None):
        """FusionNet's refinement U-Net at 1/refine_scale -> delta [1, 4, h, w].

        ``band`` (first, width: a band of columns at this size, first a [1] int64 tensor): the
        U-Net's top level (its up conv and ``out``: ~1/3 of a 256² finish graph's CPU, the
        profile in docs/runtime.md "Session 13") only on the band's columns and the few its
        convs and the full-size resize reach (``BAND_LEVEL_REACH``), the levels below on the whole
        frame (they reach ~77 px at 256²) -> (delta on the columns start .. start + width + 2
        ``BAND_LEVEL_REACH`` (fewer at the frame's edges: start moves in), start [1] int64).
        The same numbers on the band as on the whole frame: each conv on those columns sees the
        frame's values, or the frame's edge where the columns reach it."""
        f = self.net
        conv, act = f.inp  # 9 input channels: split as in ``scores``
        wt = conv.weight
        y = act_nchwc(act, F.conv2d(torch.cat([fused_small, udp_small], 1), torch.cat([wt[:, :4], wt[:, 5:]], 1), conv.bias, padding=1)
                + F.conv2d(coverage_small, wt[:, 4:5], None, padding=1))
        skips = []
        for down in f.down:
            skips.append(y)
            for conv, act in down:
                y = act_nchwc(act, conv(y))
        ups = list(zip(reversed(f.up), reversed(skips)))  # coarse to fine
        if band is None:
            for up, skip in ups:
                y = up_level(up, skip, y)
            return f.out(y)
        first, width = band
        # the finest levels on the band's columns (the reach of the levels above), the rest whole
        plan = band_levels(first, width, [int(skip.shape[-1]) for _, skip in reversed(ups)])
        whole = len(ups) - len(plan)
        for up, skip in ups[:whole]:
            y = up_level(up, skip, y)
        y_first = None
        for (up, skip), columns in zip(ups[whole:], reversed(plan)):
            y = up_level(up, skip, y, columns, y_first)
            y_first = columns[0]
        if not plan:  # no narrower than the frame: the whole top level
            return f.out(y), torch.zeros(1, dtype=torch.int64)
        return f.out(y), plan[0][0]

    def keep_seen_part(self, coverage: torch.Tensor) -> torch.Tensor:
        """Where the fused views' colour is kept over the refinement (``FusionNet.forward``'s
        keep_seen rule; the target's lines known, an inked look's edges too): [1, 1, H, W] in 0..1."""
        return coverage.clamp(0, 1)

    def keep_plain_lookup(self, rgba, sampled4, cover4, udp):
        """``lookup_net.keep_plain_lookup`` with ``ink`` 0 (an unlit sheet: the plain exact
        lookup wherever a view sees the point), the views' sums as ``sum_views``."""
        straight = sampled4[:, :3] / sampled4[:, 3:4].clamp_min(1e-6)
        sees = (cover4 > SEES).to(rgba.dtype)
        best = torch.zeros_like(cover4).scatter_(0, cover4.argmax(0, keepdim=True), 1.0) * (cover4 > TOUCHES)
        sees = torch.where(sum_views(sees) > 0, sees, best)
        count = sum_views(sees)
        rgb = sum_views(sees * straight) / count.clamp_min(1e-6)
        alpha = udp[:, 3:4]
        plain = torch.cat([rgb.clamp(0, 1) * alpha, alpha], 1)
        kept = (count > 0).to(rgba.dtype)
        return rgba + kept * (plain - rgba)

    def fuse(self, sampled4, cover4, udp_small):
        """The views' softmax fusion: sampled4 [M, 4, H, W], cover4 [M, 1, H, W], udp_small the
        ``encode_pose``'d UDP pooled by ``score_scale`` -> (fused [1, 4, H, W], coverage [1, 1, H, W]). Where no view covers a
        pixel (cover 0 in every view) both are exactly 0 whatever the scores: what lets the
        cropped graph (``FusionViewsGraph``) run on the covered columns only."""
        m, _, h, w = sampled4.shape
        s = self.net.score_scale
        score = self.scores(F.avg_pool2d(sampled4, s), F.avg_pool2d(cover4, s), udp_small)
        # score + 8 (cover - 1), the constant moved before the (linear) resize
        score = F.interpolate(score - 8.0, size=(h, w), mode="bilinear", align_corners=False).reshape(m, 1, h, w)
        logits = score + 8.0 * cover4
        e = torch.exp(logits - max_views(logits))  # the softmax's numerators
        total = sum_views(e)
        seen = e * (cover4 > 0.01).to(e.dtype)
        fused = sum_views(seen * sampled4) / torch.maximum(sum_views(seen), 1e-6 * total)
        coverage = sum_views(e * cover4) / total
        return fused, coverage

    def finish(self, fused, coverage, udp, udp_refine, sampled4=None, cover4=None, edges=None, gbuf=None,
               band=None):
        """The refinement and the keep-seen rule on the fused views (``udp`` ``encode_pose``'d,
        ``udp_refine`` it pooled by ``refine_scale``) -> premultiplied RGBA [1, 4, H, W]
        (``sampled4``/``cover4``: the unlit rule takes them; ``edges``: ``target_edges(udp)`` when
        given, an inked look's; ``gbuf``: the target's G-buffer, an inked look's lines).

        ``band`` (first, frame width): the inputs are the columns first .. first + W of a frame
        that wide (first: [1] int64, on the ``refine_scale`` grid) and no view nor the target
        covers any other (the views' band, ``band_of_columns``): -> the frame's RGBA on those
        columns. The refinement's levels below its top one run on the whole frame (its inputs
        there 0 off the band, as the frame's), the rest on the band (``refine``, ``fill_unseen``)."""
        h, w = udp.shape[-2:]
        f = self.net
        r = f.refine_scale
        if band is None:
            delta = self.refine(F.avg_pool2d(fused, r), F.avg_pool2d(coverage, r), udp_refine)
            delta = F.interpolate(delta, size=(h, w), mode="bilinear", align_corners=False)
        else:
            first, frame_w = band
            place = lambda x: place_columns(x, first // r, frame_w // r)  # noqa: E731  (the frame's half size)
            delta, start = self.refine(place(F.avg_pool2d(fused, r)), place(F.avg_pool2d(coverage, r)),
                                       place(udp_refine), band=(first // r, int(w) // r))
            delta = F.interpolate(delta, size=(h, int(delta.shape[-1]) * r), mode="bilinear", align_corners=False)
            delta = narrow_columns(delta, (first // r - start) * r, int(w))  # the band's columns
        rgba = (fused + delta).clamp(0, 1)
        if self.keep_seen:
            lines = None
            if self.inked:  # once: the fill's edges, the lines
                edges = target_edges(udp) if edges is None else edges
                if gbuf is None:
                    raise ValueError("an inked look's fusion graph takes the target's G-buffer (gbuf)")
                lines = toon_line(gbuf, udp[:, 3:4], self.sheet_ink)
            else:
                edges = None
            seen_colour = fused.clamp(0, 1)
            kept = self.keep_seen_part(coverage)
            rgba = rgba + kept * (seen_colour - rgba)
            if self.inked:  # the target's lines where the toon pass draws them, in its ink (lookup_net.ink_lines)
                rgba = ink_on_lines(rgba, seen_colour, lines, udp[:, 3:4], self.sheet_ink)
            if f.nearest_fill:  # what no view sees, off the edges (lookup_net.fill_unseen), by the target's parts
                parts = gbuf[:, 1:2] if gbuf is not None and f.part_fill else None
                rgba = fill_unseen(rgba, seen_colour, kept, edges, udp, band, lines=lines, parts=parts)
            if not self.inked and not self.shaded:
                rgba = self.keep_plain_lookup(rgba, sampled4, cover4, udp)
        return torch.minimum(rgba, rgba[:, 3:4])  # premultiplied: colour never exceeds alpha (alpha: min(a, a))

    def forward(self, sampled, cover, udp, gbuf=None):
        n, m, _, h, w = sampled.shape
        udp = self.model.encode_pose(udp)[0]
        sampled4 = sampled.reshape(m, 4, h, w)
        cover4 = cover.reshape(m, 1, h, w)
        f = self.net
        udp_small = F.avg_pool2d(udp, f.score_scale)
        fused, coverage = self.fuse(sampled4, cover4, udp_small)
        udp_refine = udp_small if f.refine_scale == f.score_scale else F.avg_pool2d(udp, f.refine_scale)
        return self.finish(fused, coverage, udp, udp_refine, sampled4, cover4, gbuf=gbuf)


# what the views' half hands the finish, in order: (name, channels), each [1, C, H, W] (on the
# band for the views' graph, the whole frame for the finish's inputs; 0 outside the band); the finish
# also takes the target's G-buffer (FINISH_GBUF, the whole frame's: the lines)
BAND_HANDOVER = (("fused", 4), ("coverage", 1), ("pose", 4), ("edges", 1))
FINISH_GBUF = ("gbuf", 2)


class FusionViewsGraph(nn.Module):
    """The views' half of ``FastFusionGraph`` for ONNX export, on a band of columns:
    (sampled [1, M, 4, H, w], cover [1, M, 1, H, w], udp [1, 4, H, w]) -> (fused, coverage,
    pose, edges; pose: the ``encode_pose``'d udp, for the finish: its full-size Slices, Mul and Concat cost ~0.45 ms
    of ONNX Runtime a 256² frame there, ~1/3 of that on the band).
    Exact on the full frame's columns when the band starts at an even column (the
    score's pooling grid) and reaches ``BAND_REACH`` pooled pixels past every column any
    view or the target covers (or the frame's edge): the scores' convolutions and
    resize reach at most that far, and where no view covers, fused and coverage are 0
    (and the pose, where the target does not cover). The edges (``target_edges``, the last
    output) go to the finish."""

    def __init__(self, model):
        super().__init__()
        self.graph = FastFusionGraph(model, keep_seen=True, inked=True)

    def forward(self, sampled, cover, udp):
        n, m, _, h, w = sampled.shape
        model = self.graph.model
        pose = model.encode_pose(udp)[0]
        sampled, cover = sampled.reshape(m, 4, h, w), cover.reshape(m, 1, h, w)
        fused, coverage = self.graph.fuse(sampled, cover, F.avg_pool2d(pose, self.graph.net.score_scale))
        # the target's edges on the band (the frame's: the pose is 0 past the covered columns, as
        # outside the band), handed to the finish (~0.9 ms of a 256² frame there)
        return fused, coverage, pose, target_edges(pose)


class FusionFinishGraph(nn.Module):
    """The other half for ONNX export, on the full frame: (fused [1, 4, H, W],
    coverage [1, 1, H, W], pose [1, 4, H, W], the udp ``encode_pose``'d, edges [1, 1, H, W], its
    ``target_edges``, gbuf [1, 2, H, W], the target's G-buffer) -> rgba; an inked sheet's look
    only (the unlit rule takes the views).

    ``frame_width`` (not None): on the views' band instead, the handover as the views' graph
    gives it ([1, C, H, w]) and ``first`` ([1] int64, the band's first column) -> the whole
    frame's rgba on the band's columns, the same numbers (``FastFusionGraph.finish``'s band:
    ~0.6x the whole frame's CPU on a 256² walk frame's ~136 columns; docs/runtime.md
    "Session 13"). Off the band the frame's is the refinement's stray paint off the target,
    which the runtime clips (``ShadeStage``'s clip to the UDP's alpha)."""

    def __init__(self, model, keep_seen: bool = True, frame_width: int | None = None, sheet_ink: SheetInk = TOON_INK):
        super().__init__()
        self.graph = FastFusionGraph(model, keep_seen=keep_seen, inked=True, sheet_ink=sheet_ink)
        self.frame_width = frame_width

    def forward(self, fused, coverage, pose, edges, gbuf, first=None):
        band = None if self.frame_width is None else (first, self.frame_width)
        return self.graph.finish(fused, coverage, pose, F.avg_pool2d(pose, self.graph.net.refine_scale),
                                 edges=edges, gbuf=gbuf, band=band)


def band_columns(udp_alpha: np.ndarray, cover: np.ndarray, size: int, score_scale: int, step: int
                 ) -> tuple[int, int] | None:
    """(first column, width) of the band ``FusionViewsGraph`` runs on for a frame, or None
    (the whole frame): ``udp_alpha`` [H, W] and ``cover`` [M, H, W] of the frame; the band
    holds every column any of them covers plus ``BAND_REACH`` pooled pixels each side,
    starts on the pooling grid and is a multiple of ``step`` wide (a graph per width).
    None when that is the whole frame or nothing is covered."""
    return band_of_columns((udp_alpha > 0).any(0) | (cover > 0).any(1).any(0), size, score_scale, step)


def band_of_columns(covered: np.ndarray, size: int, score_scale: int, step: int) -> tuple[int, int] | None:
    """``band_columns`` from the [W] bool columns the target or any view covers."""
    cols = np.flatnonzero(covered)
    if cols.size == 0:
        return None
    reach = BAND_REACH * score_scale
    first, last = max(0, int(cols[0]) - reach), min(size, int(cols[-1]) + 1 + reach)  # [first, last)
    first -= first % score_scale
    width = -(-(last - first) // step) * step
    if width >= size:
        return None
    lo = -(-max(0, last - width) // score_scale) * score_scale  # on the grid, reaching `last`
    hi = min(first, size - width)  # both on the grid
    if lo > hi:
        return None
    centred = (first + last - width) // 2 // score_scale * score_scale  # room on both sides
    return min(max(centred, lo), hi), width
