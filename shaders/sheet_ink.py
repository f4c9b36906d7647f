"""A sheet's own ink, estimated once per sheet from its views (session 14).

Our toon pass inks its lines as the surface's colour times ``OUTLINE_INK`` (linear RGB), 1 px per
256 px of height, on the silhouette and the inner (occlusion, part) contours. A user's drawings or
a third-party sheet have the artist's ink: a fixed pen colour (black, dark brown) or the fill
darkened ("colour trace"), thinner or thicker lines, maybe no inner lines. The fusion draws the
target's lines (runtime/nn/lookup_net.py ``toon_line`` / ``ink_lines``) with what this finds.

From the views' colours and their surface maps (landmark xyz, w > 0.5 where shown: the
correspondence pass's, or a view's own UDP), numpy only:

- the **colour law**: the silhouette's first pixel layer (a covered pixel beside the background:
  where every line width inks) against the fill, the colour of the nearest pixel of the same
  surface deeper inside, on the pixels darker than it (``UNINK_DARKER``); fitted both ways in
  linear RGB (``ink = a x fill``, per channel; ``ink = a fixed colour``) and the one with the
  smaller squared sRGB residual kept: first against the fill ``FILL_DEPTH`` px inside, then again
  against the fill just past the line's width (found in between);
- the **width**: the silhouette's pixels by their distance to the background (the toon line's
  radius r inks those within r), each counted as ink where it is nearer the law's ink of its fill
  than the fill: per 1-px shell the ink share less the last shell's, over the first shell's,
  summed (a radius-r line: r); in px per 256 px of the view's side;
- **inner lines**: the views' inner contour band (``contour_band``, pixels not beside the
  background) whose texels ``correspondence_pass.uninked`` un-inks and that are ink by the law
  against the colour beside on their own surface, as a share of the silhouette band's: drawn
  from ``INNER_FROM``.

Our toon pass's own ink within the estimate's error snaps to ``TOON_INK`` (the rule before, to
the bit). Whether a sheet is inked at all (``judge_ink``): its ink fraction (runtime/nn/sheet.py
``judge_look``: ink darker than half the fill) or, a lighter pen, the line the estimate finds (the
first shell's ink share above the deep shell's, ``LINE_FROM``). docs/runtime.md, "Session 14: the
sheet's own ink" and "light pens judged inked".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from conrt.characters.colour import linear_to_srgb, srgb_to_linear

from .correspondence_pass import UNINK_DARKER, _LUMA, contour_band, uninked
from .toon_pass import OUTLINE_INK, default_line_width, ink_terms

FILL_DEPTH = 6  # px per 256 of the view: the fill is the colour this far inside (past a 3-px line and its shade)
SAME_SURFACE = 0.08  # landmark distance (box units) within which the fill pixel is the line pixel's surface
WIDTH_SHELLS = 5  # px per 256: the widest line measured (a 3-px pen and its anti-aliasing)
# inner-band ink share / silhouette-band ink share at or above this: inner lines drawn (turnaround and
# clip sheets of seeds 900000-900003: silhouette-ink 0.01-0.05, the other inks 0.15-0.41, Godette 0.28)
INNER_FROM = 0.1
# a darkening law within this (per channel, linear) of OUTLINE_INK is our toon pass's (its estimate on
# our sheets: 0.01-0.02 darker, the fill beside a silhouette pixel often lit where the pixel is shaded)
SNAP_LAW = 0.03
# a sheet is inked (``judge_ink``) where its ink fraction says so (runtime/nn/sheet.py ``INK_THRESHOLD``: ink
# darker than half the fill) or, a lighter pen, where the estimate finds a line: the first 1-px shell's ink
# share less the 5-px shell's at or above this. Turnaround and clip sheets of seeds 900000-900003 at 256²,
# the views' UDPs as surface maps: every inked style (toon, flat, soft, thick-outline, and the four other
# inks, brown and trace pens included) 0.76-0.95; no-outline (shade tones along the silhouette, no ink)
# 0.23-0.37, unlit 0.02-0.12
LINE_FROM = 0.55


def _linear(c: np.ndarray) -> np.ndarray:
    """A straight colour (premultiplied / alpha: may stray past 1 by rounding) clipped, to linear."""
    return srgb_to_linear(np.clip(c, 0.0, 1.0))


@dataclass(frozen=True)
class SheetInk:
    """A sheet's ink: ``law`` "darken" (the ink is the surface's colour times ``colour``, linear RGB,
    as our toon pass's ``OUTLINE_INK``) or "fixed" (the ink is ``colour``, sRGB 0..1); ``width``: the
    line's radius in px per 256 px of height (ours: 1); ``inner``: occlusion and part lines drawn
    inside the silhouette (False: the silhouette's line only). What the fusion draws the target's
    lines with (``lookup_net.toon_line``'s radius, ``ink_lines``' law)."""

    law: str = "darken"
    colour: tuple[float, float, float] = OUTLINE_INK
    width: float = 1.0
    inner: bool = True
    # how it was found (for the log; not part of the rule): pixels fitted, the two fits' residuals
    pixels: int = dataclasses.field(default=0, compare=False)
    residuals: tuple[float, float] = dataclasses.field(default=(0.0, 0.0), compare=False)
    inner_share: float = dataclasses.field(default=1.0, compare=False)
    # the line's evidence (``judge_ink``): the first shell's ink share less the last shell's (0: no line
    # found), and the share of the silhouette's first pixel layer darker than its fill (``UNINK_DARKER``)
    line: float = dataclasses.field(default=1.0, compare=False)
    coverage: float = dataclasses.field(default=0.0, compare=False)

    LAWS = ("darken", "fixed")

    def __post_init__(self):
        if self.law not in self.LAWS:
            raise ValueError(f"unknown ink law {self.law!r}; valid: {', '.join(self.LAWS)}")
        if len(self.colour) != 3 or not all(0.0 <= float(c) <= 1.0 for c in self.colour):
            raise ValueError(f"ink colour must be 3 numbers in 0..1, got {self.colour}")
        if not 0.0 < float(self.width) <= 16.0:
            raise ValueError(f"ink width must be in (0, 16] px per 256 px, got {self.width}")

    @property
    def is_toon(self) -> bool:
        """Our toon pass's own ink (the fusion's rule before session 14, to the bit)."""
        return self == TOON_INK

    def radius(self, height: int) -> int:
        """The line's radius in pixels of a ``height``-pixel frame (``toon_line``), at least 1: our toon
        pass's ``default_line_width`` rounded for ours."""
        if self.is_toon:
            return int(round(default_line_width(height)))
        # rounded down below 3/4 of a pixel: a measured width is at least the line's (anti-aliasing spreads
        # it: fit-sheet drawings of 0.9-1.1 px per 256 measure 1.5, docs/runtime.md "Session 14")
        return max(1, int(self.width * max(1.0, height / 256) + 0.25))

    def terms(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """(scale, add): the ink in linear RGB = the surface's colour x scale + add (``toon_pass.ink_terms``)."""
        return ink_terms(self.colour) if self.law == "darken" else ink_terms(None, self.colour)

    def key(self) -> str:
        """A short name of the rule for graph file names ("" for ours)."""
        if self.is_toon:
            return ""
        c = "".join(f"{round(x * 100):02d}" for x in self.colour)
        return f"ink{self.law[0]}{c}w{self.width:g}{'' if self.inner else 's'}"

    def __str__(self) -> str:
        what = ("our toon pass's" if self.is_toon else
                f"the fill x ({', '.join(f'{c:.2f}' for c in self.colour)}) linear" if self.law == "darken" else
                f"fixed ({', '.join(f'{round(c * 255)}' for c in self.colour)})")
        fit = "" if not self.pixels else \
            f"; {self.pixels} px fitted, residual darken {self.residuals[0]:.4f} / fixed {self.residuals[1]:.4f}; " \
            f"line {self.line:.2f} (a line from {LINE_FROM}), {self.coverage:.0%} of the first layer darker"
        return (f"ink {what}, {self.width:g} px per 256, "
                f"{'inner lines' if self.inner else 'the silhouette only'} (inner share {self.inner_share:.2f}){fit}")


TOON_INK = SheetInk()


def _round_ink(law: str, colour, width: float, inner: bool) -> SheetInk:
    """The estimate rounded (a constant of the exported graphs, part of their names: near sheets share them)."""
    colour = tuple(float(np.clip(round(float(c), 2), 0.0, 1.0)) for c in colour)
    return SheetInk(law, colour, max(0.5, int(float(width) * 2 + 0.5) / 2), bool(inner))


def estimate_ink(surface: np.ndarray, reference: np.ndarray, band: np.ndarray | None = None,
                 filled: tuple[np.ndarray, np.ndarray] | None = None) -> SheetInk:
    """An inked sheet's views -> its ``SheetInk``. ``surface`` [M, S, S, 4] (landmark xyz, w > 0.5 where
    shown), ``reference`` [M, S, S, 4] premultiplied RGBA 0..1 (row 0 = top, as the correspondence pass
    holds them); ``band`` (``contour_band``) and ``filled`` (``uninked``'s (colour, filled) of that band)
    when the caller has them. Our toon pass's own ink (``TOON_INK``) where the estimate is within
    ``SNAP_LAW`` of it with its width and inner lines (a sheet ``conrt sheet`` drew: the rule before, to
    the bit)."""
    from scipy import ndimage  # lazy: once per inked sheet

    m, s = surface.shape[:2]
    scale = s / 256
    reach = max(1, round(scale))
    shown = surface[..., 3] > 0.5
    alpha = reference[..., 3:4]
    straight = np.where(alpha > 1e-6, reference[..., :3] / np.maximum(alpha, 1e-6), 0.0)
    if band is None:
        band = contour_band(surface, reach)
    if filled is None:
        filled = uninked(surface, reference, band, reach)
    # each shown pixel's distance to the background (the frame's border is background)
    dist_maps = [ndimage.distance_transform_edt(np.pad(shown[k], 1))[1:-1, 1:-1] for k in range(m)]

    def pairs(depth: float):
        """(own colour, fill colour, distance to the background in px per 256) of the shown pixels within
        ``WIDTH_SHELLS`` of the background whose nearest pixel deeper than ``depth`` is of their surface."""
        lines, fills, dists = [], [], []
        for k in range(m):
            d = dist_maps[k]
            deep = shown[k] & (d > depth * scale)
            if not deep.any():
                continue
            _, (iy, ix) = ndimage.distance_transform_edt(~deep, return_indices=True)
            y, x = np.nonzero(shown[k] & (d <= WIDTH_SHELLS * scale))
            fy, fx = iy[y, x], ix[y, x]
            same = np.abs(surface[k, y, x, :3] - surface[k, fy, fx, :3]).max(-1) <= SAME_SURFACE
            y, x, fy, fx = y[same], x[same], fy[same], fx[same]
            lines.append(straight[k, y, x])
            fills.append(straight[k, fy, fx])
            dists.append(d[y, x] / scale)
        if not lines:
            return None
        return np.concatenate(lines), np.concatenate(fills), np.concatenate(dists)

    def fit(own, fill, dist):
        """The law on the first pixel layer's ink-ish pixels -> (law, a, fixed, residuals, count) or None."""
        first = (dist <= 1.0) & (own @ _LUMA < UNINK_DARKER * (fill @ _LUMA)) & (fill @ _LUMA > 0.1)
        covered[0] = float(first.sum() / max(1, (dist <= 1.0).sum()))
        if first.sum() < 16:
            return None
        o, f = _linear(own[first]), _linear(fill[first])
        a = np.clip((o * f).sum(0) / np.maximum((f * f).sum(0), 1e-9), 0.0, 1.0)
        fixed = np.clip(o.mean(0), 0.0, 1.0)
        res_darken = float(((linear_to_srgb(f * a) - own[first]) ** 2).sum(-1).mean())
        res_fixed = float(((linear_to_srgb(np.broadcast_to(fixed, o.shape)) - own[first]) ** 2).sum(-1).mean())
        return "darken" if res_darken <= res_fixed else "fixed", a, fixed, (res_darken, res_fixed), int(first.sum())

    covered = [0.0]  # fit's share of the first layer darker than its fill (for the log)
    got = pairs(FILL_DEPTH)
    found = None if got is None else fit(*got)
    if found is None:  # no line found (line 0): ours, for a sheet judged inked by its ink fraction
        return dataclasses.replace(TOON_INK, coverage=covered[0], line=0.0)
    own, fill, dist = got
    law, a, fixed, (res_darken, res_fixed), count = found

    def predicted(fill_srgb):
        return linear_to_srgb(_linear(fill_srgb) * a) if law == "darken" else \
            np.broadcast_to(linear_to_srgb(fixed), fill_srgb.shape)

    # the width: per distance shell the share of pixels nearer the law's ink than their fill
    is_ink = ((own - predicted(fill)) ** 2).sum(-1) < ((own - fill) ** 2).sum(-1)
    shares = [float(is_ink[(dist > j - 1) & (dist <= j)].mean()) if ((dist > j - 1) & (dist <= j)).any() else 0.0
              for j in range(1, WIDTH_SHELLS + 1)]
    # less the share of pixels past any line (the last shell: shade tones, details nearer the ink), over
    # the first shell's (where every line inks; below 1 where the silhouette has no line, e.g. the frame's
    # border): a radius-r line sums to r (procedural sheets: 1.0-1.1 ours, 3.0-3.1 thick-ink's 3)
    base = shares[-1]
    line, coverage = shares[0] - base, covered[0]  # the line's evidence (``LINE_FROM``)
    width = 1.0 if shares[0] - base < 0.2 else sum(max(0.0, x - base) for x in shares) / (shares[0] - base)
    # the law again against the fill just past the line (the silhouette's pixels face away from the light:
    # 6 px inside the fill is often lit where they are shaded, a darker law than drawn; Godette's sheet,
    # our toon pass's ink, fitted (0.07, 0.06, 0.09) against (0.12, 0.08, 0.10) from 6 px)
    near = pairs(width + 1.0)
    refit = None if near is None else fit(*near)
    if refit is not None:
        law, a, fixed, (res_darken, res_fixed), count = refit
    # inner lines: the contour band's ink share inside the silhouette against its share on it
    colour_uninked, band_filled = filled
    changed = band_filled & (np.abs(colour_uninked - reference).max(-1) > 1e-6)  # un-inked: darker than beside
    # ink by the law: nearer the law's ink of the colour beside than that colour (shading and texture that
    # is only darker, a lock of hair against the scalp, are not)
    k, y, x = np.nonzero(changed)
    a_b = np.maximum(reference[k, y, x, 3:], 1e-6)
    own_b, beside_b = reference[k, y, x, :3] / a_b, colour_uninked[k, y, x, :3] / a_b
    changed[k, y, x] = ((own_b - predicted(beside_b)) ** 2).sum(-1) < ((own_b - beside_b) ** 2).sum(-1)
    beside_bg = np.zeros_like(shown)
    for k in range(m):
        beside_bg[k] = shown[k] & ndimage.binary_dilation(~shown[k], iterations=reach)
    sil, inner_band = band_filled & beside_bg, band_filled & ~beside_bg
    sil_share = changed[sil].mean() if sil.any() else 0.0
    inner_share = float(changed[inner_band].mean() / max(sil_share, 1e-6)) if inner_band.any() else 0.0
    colour = a if law == "darken" else linear_to_srgb(fixed)
    ink = dataclasses.replace(_round_ink(law, colour, width, inner_share >= INNER_FROM),
                              pixels=count, residuals=(round(res_darken, 5), round(res_fixed, 5)),
                              inner_share=round(inner_share, 3), line=round(line, 3), coverage=round(coverage, 3))
    if (ink.law == "darken" and np.abs(np.asarray(ink.colour) - OUTLINE_INK).max() <= SNAP_LAW
            and ink.radius(256) == 1 and ink.inner):
        return dataclasses.replace(TOON_INK, pixels=ink.pixels, residuals=ink.residuals, inner_share=ink.inner_share,
                                   line=ink.line, coverage=ink.coverage)
    return ink


def judge_ink(inked: bool, surface: np.ndarray, reference: np.ndarray, band: np.ndarray | None = None,
              filled: tuple[np.ndarray, np.ndarray] | None = None) -> SheetInk | None:
    """Is the sheet inked, and in what ink: ``estimate_ink`` (same arguments) where ``inked`` (the sheet's
    look by its ink fraction, ``SheetLook.inked``) or where the estimate finds a line (``LINE_FROM``: a
    lighter pen than half the fill's luma, which the ink fraction misses); None: not inked. The one rule
    of "inked" once the views' surface maps are drawn (``CorrespondencePass.set_sheet``,
    ``training.evaluate.ViewsShader``)."""
    ink = estimate_ink(surface, reference, band, filled)
    return ink if inked or ink.line >= LINE_FROM else None
