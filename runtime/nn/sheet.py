"""Preloaded character sheet and per-frame shading.

``encode_sheet(model, images) -> SheetCache`` runs the sheet encoder once per
character; ``shade(model, udp, cache)`` runs only the pose encoder, the
collaborative decoder and the RGBA decoder per frame.

Sizes: sheets whose sides are all equal and a multiple of the config's
``size_multiple`` (128 for ``conr-paper``) are used as they are; anything else
is auto-centred on its alpha bounding box, padded/resized to the config's
``image_size`` (the official loader's transform), and the shaded frame is
pasted back into the UDP frame's original size.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from conrt.errors import InputError
from conrt.limits import MIN_SHEET_VIEW_SIDE, check_npz_array, decode_rgba, open_image

from ..limits import check_size
from . import official as off
from .model import ShaderNet

log = logging.getLogger(__name__)

Matting = Literal["uniform"]


# ---------------------------------------------------------------------------
# the sheet's look (once per sheet)
# ---------------------------------------------------------------------------
# An inked sheet (toon, line art) draws dark lines along its silhouettes; an
# unlit or inkless one shows there about the colour a few pixels inside.
# Measured per sheet at 128²/256²/512² (docs/conr_rt.md, "The sheet's look decides the edges"):
# ink fraction 0.37-0.77 on inked sheets (16 procedural characters in toon,
# flat, soft, thick-outline; Godette toon), 0.01-0.23 on inkless ones (unlit,
# no-outline; Godette unlit); single views 0.32-0.84 and 0.00-0.27. The
# threshold sits in the gap. (Darkness measured relative to the colour inside:
# an absolute luma difference is small on dark clothes and left no gap.)
INK_THRESHOLD = 0.30  # ink fraction at or above this: the sheet is inked
INK_DARKER = 0.5  # a band pixel is ink when its luma is below this x the colour inside
INK_BAND = 2  # px at 256² (scaled with the side): the silhouette band an outline covers
LUMA = (0.299, 0.587, 0.114)


def _erode(a: torch.Tensor, k: int) -> torch.Tensor:
    return -F.max_pool2d(-a, 2 * k + 1, 1, k)


def ink_fraction(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """rgb [N, M, 3, S, S] premultiplied, mask [N, M, 1, S, S] -> [N]: the
    fraction of the sheet's silhouette band (``INK_BAND`` px inside the alpha
    edge, all views) drawn darker than ``INK_DARKER`` x the colour a few
    pixels further inside (luma, local mean)."""
    n, m, _, h, w = rgb.shape
    rgb, mask = rgb.reshape(n * m, 3, h, w).float(), mask.reshape(n * m, 1, h, w).float()
    inside = (mask > 0.5).to(rgb.dtype)
    luma = (rgb / mask.clamp_min(1e-6) * inside * rgb.new_tensor(LUMA).reshape(1, 3, 1, 1)).sum(1, keepdim=True)
    band = max(1, round(INK_BAND * h / 256))
    edge = inside - _erode(inside, band)  # the band along the silhouette
    deep = _erode(inside, band + 2)  # pixels a few px inside it
    k = 2 * (band + 4) + 1
    near = F.avg_pool2d(deep, k, 1, k // 2)
    interior = F.avg_pool2d(luma * deep, k, 1, k // 2) / near.clamp_min(1e-6)  # the local colour inside
    valid = (edge * (near > 0).to(rgb.dtype)).reshape(n, -1)
    ink = (luma < INK_DARKER * interior).to(rgb.dtype).reshape(n, -1)
    return (ink * valid).sum(1) / valid.sum(1).clamp_min(1.0)


# Shading: the same surface point, matched across views by its UDP landmark, keeps its
# colour on an unlit sheet (the texture as authored) and changes it with the light on a
# shaded one. The shading fraction is the share of landmark cells (SHADE_CELLS per axis of
# the canonical box: ~1 % of the character's height) seen solid in two or more views whose
# mean luma differs between the views by more than SHADE_DIFFERS. Measured per sheet
# (docs/conr_rt.md, "The sheet's look decides the edges"; 8 unseen procedural characters
# x 4 poses at 128² and 256², Godette's 4- and 6-view sheets): unlit 0.009-0.053 (Godette
# 0.037-0.057), no-outline 0.120-0.418 (Godette 0.21-0.39); the inked styles 0.16-0.65,
# which ink decides first. SHADED_FROM sits in the gap.
SHADE_CELLS = 128
SHADE_DIFFERS = 0.05  # luma (sRGB 0..1)
SHADED_FROM = 0.085  # shading fraction at or above this: an inkless sheet is shaded


def shading_fraction(images: Sequence, udps: Sequence) -> float | None:
    """A sheet's straight-RGBA views and their own UDPs (each the view's size) -> the
    share of surface points seen by two or more views whose luma differs between them
    by more than ``SHADE_DIFFERS``; None when no point is seen twice (one view, or views
    that share nothing). Pixels on or next to the silhouette (ink, anti-aliasing) and
    not fully covered are left out."""
    from scipy import ndimage  # lazy: only sheets with UDPs are judged this way

    images = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
    udps = [udps] if isinstance(udps, np.ndarray) and udps.ndim == 3 else list(udps)
    if len(udps) != len(images):
        raise InputError(f"{len(udps)} sheet UDPs for {len(images)} sheet views")
    keys, lumas = [], []
    n = SHADE_CELLS
    for k, (img, udp) in enumerate(zip(images, udps)):
        img, data = np.asarray(img), check_udp(udp)
        if data.shape[:2] != img.shape[:2]:
            raise InputError(f"sheet view {k}: its UDP is {data.shape[1]}x{data.shape[0]}, "
                             f"the image {img.shape[1]}x{img.shape[0]}")
        scale = 255.0 if img.dtype == np.uint8 else 1.0
        alpha = img[..., 3] / scale if img.shape[-1] == 4 else np.ones(img.shape[:2])
        solid = ndimage.binary_erosion((alpha >= 0.99) & (data[..., 3] >= 0.99), iterations=1)
        cell = np.clip((data[solid, :3] * n).astype(np.int64), 0, n - 1)
        keys.append(((cell[:, 0] * n + cell[:, 1]) * n + cell[:, 2]) * len(images) + k)
        lumas.append(img[solid, :3].astype(np.float64) @ np.asarray(LUMA) / scale)
    key, luma = np.concatenate(keys), np.concatenate(lumas)
    # the mean luma of each (cell, view), then its spread over the views that see the cell
    pair, inverse = np.unique(key, return_inverse=True)
    mean = np.bincount(inverse, luma) / np.bincount(inverse)
    _, first = np.unique(pair // len(images), return_index=True)  # each cell's first (cell, view) pair
    views = np.diff(np.append(first, len(pair)))
    spread = np.maximum.reduceat(mean, first) - np.minimum.reduceat(mean, first)
    matched = views >= 2
    if not matched.any():
        return None
    return float((spread[matched] > SHADE_DIFFERS).mean())


@dataclass(frozen=True)
class SheetLook:
    """What the sheet tells about its look, judged once per sheet.

    ``inked``: the sheet draws ink at its silhouettes (toon, line art): the
    ink follows the target's own edges, so the refinement draws those.
    Otherwise (unlit: textures as authored, flat colours, no ink) the views'
    exact colours are the answer wherever they see the point, edges
    included, and the refinement fills only what no view sees."""

    ink_fraction: float
    inked: bool
    # ``shading_fraction`` of the views with their UDPs; None: not judged (no view UDPs)
    shading: float | None = None
    # an inked sheet's own ink (``shaders.sheet_ink.estimate_ink``: line colour law, width, inner
    # lines), estimated where the views' surface maps are drawn (the correspondence pass's
    # ``set_sheet``, ``SheetCache.with_ink``); None: not estimated, our toon pass's
    ink: object | None = None

    @property
    def shaded(self) -> bool:
        """An inkless sheet whose colours change with the light across views (the
        no-outline style): the seen colour is kept, edges included, as on unlit sheets,
        but not the plain lookup (``FusionNet.forward``'s ``shaded``: there the fused
        views beat it, docs/conr_rt.md)."""
        return not self.inked and self.shading is not None and self.shading >= SHADED_FROM

    @property
    def label(self) -> str:
        return "inked" if self.inked else "shaded" if self.shaded else "unlit"

    def __str__(self) -> str:
        light = "" if self.shading is None else \
            f"; light changes {self.shading:.0%} of the points views share, shaded from {SHADED_FROM:.1%}"
        own = "" if self.ink is None or not self.inked else f"; {self.ink}"
        by_line = "; inked by its line" if self.inked and self.ink_fraction < INK_THRESHOLD else ""
        return (f"{self.label} (ink on {self.ink_fraction:.0%} of the silhouette band; inked from "
                f"{INK_THRESHOLD:.0%}{by_line}{light}{own})")


def judge_inks(rgb: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """rgb [N, M, 3, S, S] premultiplied, mask [N, M, 1, S, S] -> (ink fraction [N],
    FusionNet's ``ink`` [N]: 1 inked, 0 unlit)."""
    fraction = ink_fraction(rgb, mask)
    return fraction, (fraction >= INK_THRESHOLD).to(fraction.dtype)


def judge_look(rgb: torch.Tensor, mask: torch.Tensor) -> SheetLook:
    """One sheet ([1, M, 3, S, S], [1, M, 1, S, S]) -> its ``SheetLook`` (``judge_inks``' rule;
    its shading is not judged here: ``judge_sheet_look`` with the views' UDPs)."""
    fraction, ink = judge_inks(rgb, mask)
    return SheetLook(round(float(fraction[0]), 4), bool(ink[0]))


# The look is the drawing's, not the working size's: judged at the views' own
# side, so the runtime size does not change it (the sample sheet, drawn at
# 256², was inked at 256² and unlit at 128², where its 2-px outline resampled
# to 1 px blended with the colour beside it). Views larger than this are
# judged at it (the rule was measured at 128²-512²; the band scales with the side).
LOOK_MAX_SIDE = 512


def look_side(images: Sequence) -> int:
    """The side a sheet's look is judged at (``judge_sheet_look``) and its ink estimated at
    (``frame_loop.ink_sheet``): the views' own largest side, at most ``LOOK_MAX_SIDE``, whatever
    the frame size."""
    return min(max(max(np.asarray(im).shape[:2]) for im in images), LOOK_MAX_SIDE)


def judge_sheet_look(images: Sequence, official: bool = False, matting: Matting | None = None,
                     prepared: tuple[torch.Tensor, torch.Tensor] | None = None,
                     shading: tuple[Sequence, Sequence] | None = None) -> SheetLook:
    """A sheet's straight-RGBA views -> its ``SheetLook``, judged at the views' own (largest)
    side, at most ``LOOK_MAX_SIDE``, whatever the side the network works at. ``prepared``: the (rgb, mask) tensors ``prepare_sheet``
    made of them, reused when they already are at that side. ``shading``: (views, their
    UDPs) in one framing (the views' own, or both re-framed): an inkless sheet is then
    told shaded or unlit (``shading_fraction``); without it its shading is not judged."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    largest = max(max(np.asarray(im).shape[:2]) for im in images)
    side = look_side(images)
    if prepared is not None and prepared[0].shape[-1] == side:
        look = judge_look(*prepared)
    else:
        # square views up to LOOK_MAX_SIDE as they are; others re-framed as the network's are
        rgb, mask = prepare_sheet(images, 1, side, official, matting, side if largest > side else None)
        look = judge_look(torch.from_numpy(rgb), torch.from_numpy(mask))
    if shading is None or look.inked:  # ink decides first: an inked sheet takes the inked rule, lit or not
        return look
    fraction = shading_fraction(*shading)
    return look if fraction is None else dataclasses.replace(look, shading=round(fraction, 4))


@dataclass(frozen=True)
class SheetCache:
    """Everything the per-frame pass needs from the character sheet."""

    features: tuple[torch.Tensor, ...]  # L x [1, M, C, h, w] f32, coarse to fine
    reference: torch.Tensor  # [1, M, 4, S, S] f32, cat(a * rgb_premul, a)
    size: int  # S, the side the network runs at
    official: bool
    config_name: str
    look: SheetLook | None = None  # judged once (judge_look); None: not judged, shaded as inked

    @property
    def views(self) -> int:
        return self.reference.shape[1]

    def ink(self) -> torch.Tensor | None:
        """[1] FusionNet's ``ink`` for this sheet (1 inked, 0 unlit or shaded), None when not judged."""
        return None if self.look is None else torch.tensor([float(self.look.inked)])

    def shaded(self) -> torch.Tensor | None:
        """[1] FusionNet's ``shaded`` for this sheet (1 shaded without ink), None when not judged."""
        return None if self.look is None else torch.tensor([float(self.look.shaded)])

    def sheet_ink(self):
        """The sheet's own ink (``shaders.sheet_ink.SheetInk``) its target's lines are drawn in: the
        estimate (``with_ink``) on an inked sheet, else our toon pass's (``TOON_INK``)."""
        from conrt.shaders.sheet_ink import TOON_INK  # lazy: the sheet module stays free of the shaders

        look = self.look
        return TOON_INK if look is None or look.ink is None or not look.inked else look.ink

    def with_ink(self, ink) -> "SheetCache":
        """This cache with the sheet's estimated ink (``SheetLook.ink``), judged inked: by its ink fraction
        or, a lighter pen, by the line the estimate found (``shaders.sheet_ink.judge_ink``); a sheet not
        judged: judged inked, as it is shaded."""
        look = self.look if self.look is not None else SheetLook(1.0, True)
        return dataclasses.replace(self, look=dataclasses.replace(look, ink=ink, inked=True))

    def numpy_inputs(self) -> dict[str, np.ndarray]:
        """The cached tensors by the ONNX graph's input names."""
        out = {"reference": self.reference.detach().cpu().numpy()}
        for i, f in enumerate(self.features):
            out[f"sheet_feature_{i}"] = f.detach().cpu().numpy()
        return out


# ---------------------------------------------------------------------------
# input checks and preparation (NumPy)
# ---------------------------------------------------------------------------
def _uniform_matte(img: np.ndarray) -> np.ndarray:
    """Alpha from a uniform background colour: the median of the border pixels."""
    rgb = img[..., :3].astype(np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    bg = np.median(border, axis=0)
    alpha = (np.abs(rgb - bg).max(-1) > 12 / 255).astype(np.float32)
    if img.dtype == np.uint8:
        return np.concatenate([img[..., :3], (alpha * 255).astype(np.uint8)[..., None]], -1)
    return np.concatenate([rgb, alpha[..., None]], -1)


def check_sheet_image(img, index: int, matting: Matting | None = None) -> np.ndarray:
    """Validate one sheet image -> straight RGBA (H,W,4), uint8 or float32 0..1."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise InputError(f"sheet image {index}: expected (H, W, 4) RGBA, got shape {img.shape}")
    if min(img.shape[:2]) < MIN_SHEET_VIEW_SIDE:
        raise InputError(f"sheet image {index} is {img.shape[1]}x{img.shape[0]}: views need at least "
                         f"{MIN_SHEET_VIEW_SIDE} pixels a side to show the character")
    if img.dtype != np.uint8:
        img = img.astype(np.float32)
        if not np.isfinite(img).all():
            raise InputError(f"sheet image {index}: contains NaN/inf")
        if img.min() < 0 or img.max() > 1:
            raise InputError(f"sheet image {index}: float images must be in 0..1")
    opaque = img.shape[2] == 3 or float(img[..., 3].mean()) / (255.0 if img.dtype == np.uint8 else 1.0) >= off.MAX_MEAN_ALPHA
    if opaque:
        if matting is None:
            raise InputError(
                f"sheet image {index} has no transparent background (mean alpha >= {off.MAX_MEAN_ALPHA}); "
                "CoNR needs cut-out RGBA sheets. Cut the character out, or pass matting='uniform' "
                "(--matting uniform) to key out a uniform background colour")
        if matting != "uniform":
            raise InputError(f"unknown matting {matting!r}; valid: 'uniform'")
        img = _uniform_matte(img)
        if float(img[..., 3].mean()) / (255.0 if img.dtype == np.uint8 else 1.0) >= off.MAX_MEAN_ALPHA:
            raise InputError(f"sheet image {index}: matting found no uniform background")
    if not (img[..., 3] > 0).any():
        raise InputError(f"sheet image {index} is fully transparent")
    return img


def prepare_sheet(images: Sequence, size_multiple: int, image_size: int, official: bool,
                  matting: Matting | None = None, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sheet images -> (rgb (1,M,3,S,S), mask (1,M,1,S,S)) float32, as the network takes them.

    ``size`` forces the working side S (e.g. a lower internal resolution for
    speed; frames of any size are then cropped to it and pasted back).
    """
    if size is not None:
        check_size(size, size_multiple)  # the shading runtime's sides (runtime/limits.py)
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    images = [check_sheet_image(im, i, matting) for i, im in enumerate(images)]
    if not images:
        raise InputError("a character sheet needs at least one view")
    shapes = {im.shape[:2] for im in images}
    (h, w), = shapes if len(shapes) == 1 else ((0, 1),)
    direct = h == w and (h == size if size else h % size_multiple == 0)
    image_size = size or image_size
    if not direct:
        log.info("sheet sizes %s: auto-centred crop to %d", sorted(shapes), image_size)
    rgbs, masks = [], []
    for im in images:
        rgb, mask = off.sheet_rgb_mask(im, official)
        if not direct:
            crop = off.find_crop(im[..., 3])
            if official:  # the official loader crops 8-bit images
                rgb8 = np.concatenate([(rgb * 255 + 0.5).astype(np.uint8), im[..., 3:4] if im.dtype == np.uint8
                                       else (mask * 255 + 0.5).astype(np.uint8)], -1)
                out = off.apply_crop(rgb8, crop, image_size).astype(np.float32) / 255.0
            else:
                out = off.apply_crop(np.concatenate([rgb, mask], -1), crop, image_size)
            rgb, mask = out[..., :3], out[..., 3:4]
        rgbs.append(rgb.transpose(2, 0, 1))
        masks.append(mask.transpose(2, 0, 1))
    return np.stack(rgbs)[None].astype(np.float32), np.stack(masks)[None].astype(np.float32)


def prepare_sheet_udps(udps: Sequence, images: Sequence, side: int) -> np.ndarray:
    """The sheet views' UDPs -> (1, M, 4, S, S) float32, framed like ``prepare_sheet``
    frames their images (the same auto-centred crop when it re-frames; nearest)."""
    if len(udps) != len(images):
        raise InputError(f"{len(udps)} sheet UDPs for {len(images)} sheet views")
    out = []
    for k, (udp, img) in enumerate(zip(udps, images)):
        data = check_udp(udp)
        img = np.asarray(img)
        if data.shape[:2] != img.shape[:2]:
            raise InputError(f"sheet view {k}: its UDP is {data.shape[1]}x{data.shape[0]}, "
                             f"the image {img.shape[1]}x{img.shape[0]}")
        if data.shape[:2] != (side, side):
            alpha = img[..., 3] if img.shape[-1] == 4 else np.ones(img.shape[:2])
            data = off.apply_crop(data, off.find_crop(alpha), side, "nearest")
        out.append(data.transpose(2, 0, 1))
    return np.stack(out)[None].astype(np.float32)


# UDP coordinates and visibility live in 0..1; a little slack for resampling.
UDP_RANGE_SLACK = 1e-3


def check_udp(udp) -> np.ndarray:
    data = getattr(udp, "data", udp)  # UdpFrame or ndarray
    data = np.asarray(data)
    if data.ndim != 3 or data.shape[2] != 4:
        raise InputError(f"UDP frame: expected (H, W, 4) xyz + visibility, got shape {data.shape}")
    if data.shape[0] < 1 or data.shape[1] < 1:
        raise InputError(f"UDP frame is empty (shape {data.shape})")
    if data.dtype.kind != "f":  # ints/bools/complex are not coordinates (an 8-bit image goes through read_udp)
        raise InputError(f"UDP frame: expected floating-point xyz + visibility in 0..1, got dtype {data.dtype}")
    data = np.asarray(data, np.float32)  # no copy of a float32 frame: every caller copies what it keeps
    lo, hi = float(data.min()), float(data.max())  # NaN propagates into min/max, inf is the min or max
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("UDP frame contains NaN/inf")
    if lo < -UDP_RANGE_SLACK or hi > 1 + UDP_RANGE_SLACK:
        raise InputError(f"UDP frame values span {lo:.3g}..{hi:.3g}; UDP coordinates and visibility are in 0..1")
    return data


def prepare_udp(udp, size: int, official: bool) -> tuple[np.ndarray, off.Crop | None]:
    """UDP (H,W,4) -> ((1,4,S,S) float32 network input, crop or None if used as is)."""
    data = check_udp(udp)
    h, w = data.shape[:2]
    crop = None
    if (h, w) != (size, size):
        crop = off.find_crop(data[..., 3]) if (data[..., 3] > 0).any() else off.Crop(0, 0, max(h, w), h, w)
        # xyz: nearest (no blended coordinates); visibility: smooth, as the official loader
        mask8 = (data[..., 3:4] * 255).clip(0, 255).astype(np.uint8)
        label = off.apply_crop(data, crop, size, "nearest")
        if official:
            vis = off.apply_crop(mask8, crop, size).astype(np.float32) / 255.0
        else:
            vis = off.apply_crop(data[..., 3:4], crop, size)
        data = np.concatenate([label[..., :3], vis], -1)
    elif official:
        data = off.udp_input(data, True)
    return data.transpose(2, 0, 1)[None].copy(), crop


def finish_frame(rgba: np.ndarray, crop: off.Crop | None) -> np.ndarray:
    """(1,4,S,S) network output -> (H,W,4) premultiplied RGBA in the UDP frame's size, an array of
    its own (the frame loop scales it in place). An output that is a [1, 4, S, S] view of an
    [S, S, 4] frame (gl-lookup's band, pasted into one) is handed on as that frame: no copy."""
    img = rgba[0].transpose(1, 2, 0)
    frame = img.base
    if not (img.flags.c_contiguous and isinstance(frame, np.ndarray) and frame.flags.owndata
            and frame.flags.c_contiguous and frame.shape == img.shape and frame.dtype == img.dtype):
        frame = np.ascontiguousarray(img)  # a copy: the usual [1, 4, S, S] array
    return frame if crop is None else off.paste_back(frame, crop)


# ---------------------------------------------------------------------------
# the torch path
# ---------------------------------------------------------------------------
def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def encode_sheet(model: ShaderNet, images: Sequence, official: bool = False,
                 matting: Matting | None = None, size: int | None = None,
                 sheet_udp: Sequence | None = None, look_from: Sequence | None = None,
                 look_udps: Sequence | None = None) -> SheetCache:
    """Run the sheet encoder once for a character. ``images``: M straight-RGBA views.

    ``size``: the side the network works at (default: the sheet's own side if
    the model can take it, else the config's ``image_size``).
    ``sheet_udp``: the views' own UDPs (H, W, 4), if known: a lookup model
    (conr-rt) takes its correspondences from them instead of predicting them;
    CoNR models do not use them.
    ``look_from``: the views as drawn when ``images`` are already re-framed to the working
    size (the runtime's ``fit_sheet``): the look is the drawing's (``judge_sheet_look``);
    ``look_udps``: their own UDPs (each its view's size), so that the shading is judged on
    the drawings too (else on ``images`` and ``sheet_udp``: at 128² Godette's unlit 256²
    drawings, area-averaged, judged shaded, 0.16 against 0.06 as drawn).
    """
    cfg = model.cfg
    rgb, mask = prepare_sheet(images, cfg.size_multiple, cfg.image_size, official, matting, size)
    dev = _model_device(model)
    rgb_t, mask_t = torch.from_numpy(rgb).to(dev), torch.from_numpy(mask).to(dev)
    if sheet_udp is not None and model.takes_sheet_udp:
        udp_t = torch.from_numpy(prepare_sheet_udps(sheet_udp, images, rgb.shape[-1])).to(dev)
        feats, reference = model.encode_sheet(rgb_t, mask_t, sheet_udp=udp_t)
    else:
        if sheet_udp is not None:
            log.debug("%s does not use sheet UDPs; ignoring them", cfg.name)
        feats, reference = model.encode_sheet(rgb_t, mask_t)
    # the ink from the drawings; the shading from the drawings and their own UDPs when given,
    # else from the views and their UDPs as given (one framing)
    if look_from is not None and look_udps is not None:
        shading = (look_from, look_udps)
    else:
        shading = (images, sheet_udp) if sheet_udp is not None else None
    if look_from is not None:
        look = judge_sheet_look(look_from, official, matting, shading=shading)
    else:
        look = judge_sheet_look(images, official, matting, (rgb_t, mask_t), shading=shading)
    log.debug("sheet look: %s", look)
    return SheetCache(tuple(feats), reference, rgb.shape[-1], official, cfg.name, look)


@torch.inference_mode()
def render_prepared(model: ShaderNet, udp: torch.Tensor, cache: SheetCache) -> torch.Tensor:
    """(1,4,S,S) prepared UDP -> (1,4,S,S) premultiplied RGBA."""
    return model.render(model.encode_pose(udp), cache.reference, list(cache.features))


def shade(model: ShaderNet, udp, cache: SheetCache) -> np.ndarray:
    """Shade one UDP frame (H,W,4) with a cached sheet -> (H,W,4) f32 premultiplied RGBA."""
    x, crop = prepare_udp(udp, cache.size, cache.official)
    out = render_prepared(model, torch.from_numpy(x).to(_model_device(model)), cache)
    return finish_frame(out.float().cpu().numpy(), crop)


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def is_udp_preview(path) -> bool:
    """``view_00_udp.png`` (``conrt udp``/``conrt sheet --udp`` previews): a UDP
    picture, not a drawing; known by its name or by the same-stem ``.npz`` beside it."""
    path = Path(path)
    return path.stem.endswith("_udp") or path.with_suffix(".npz").is_file()


def read_sheet_image(path) -> np.ndarray:
    """An RGBA image file -> (H,W,4) uint8 straight RGBA (images without alpha get alpha 255)."""
    if is_udp_preview(path):
        raise InputError(f"{path}: a UDP preview (its .npz is beside it), not a drawing of the character; "
                         "give the views themselves (view_NN.png) or the sheet folder")
    return decode_rgba(path, f"{path}: sheet image")  # pixels capped before decoding


def read_udp(path) -> np.ndarray:
    """A UDP pose file -> (H,W,4) f32: ``.npz`` (key 'i' as the official files, or 'udp') or a 4-channel image."""
    path = str(path)
    if path.endswith(".npz"):
        try:
            with np.load(path) as z:
                key = "i" if "i" in z.files else "udp" if "udp" in z.files else None
                if key is None:
                    raise InputError(f"{path}: no key 'i' (or 'udp') in the .npz; found {z.files}")
                check_npz_array(path, key)  # the declared shape, before NumPy allocates it
                data = z[key]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
            # truncated, empty or not a zip at all
            raise InputError(f"{path}: cannot read the UDP .npz ({type(exc).__name__}: {exc})") from None
        try:
            return check_udp(data)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    with open_image(path, path) as im:
        if "A" not in im.getbands():
            raise InputError(f"{path}: a UDP image needs 4 channels (xyz + visibility as RGBA), got {im.mode}")
    return decode_rgba(path, path).astype(np.float32) / 255.0
