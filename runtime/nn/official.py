"""The official CoNR input conventions, and its auto-centring crop/pad.

Official mode (``official=True``) reproduces what the published loader
feeds the network, quirks included:

- sheet RGB premultiplied by alpha in uint8 with truncation,
  ``uint8(rgb * (a / 255))``, then /255; the encoder sees that RGB and the
  collaborative decoder's reference is ``cat(a * rgb_premul, a)`` (alpha
  applied twice);
- the pose visibility mask quantised, ``uint8(v * 255) / 255`` (truncation);
- sides the network cannot take are auto-centred: a square crop on the alpha
  bounding box (side = its larger side), zero padded outside the image,
  resized to the model size, and the result pasted back.

The default mode computes the same in float (no uint8 truncation, no mask
quantisation); the double premultiplication is kept because the trained
weights expect it.

All arrays here are NumPy, row 0 = top.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conrt.errors import InputError

# The official shader asserts mean(mask) < 0.95 for every view.
MAX_MEAN_ALPHA = 0.95


# ---------------------------------------------------------------------------
# per-image conventions
# ---------------------------------------------------------------------------
def sheet_rgb_mask(rgba: np.ndarray, official: bool) -> tuple[np.ndarray, np.ndarray]:
    """Straight RGBA (H,W,4) uint8 or float 0..1 -> (rgb_premul (H,W,3), mask (H,W,1)) f32 in 0..1."""
    if rgba.dtype == np.uint8:
        a8 = rgba[..., 3:4]
        if official:
            rgb = (rgba[..., :3] * (a8 / 255.0)).clip(0, 255).astype(np.uint8).astype(np.float32) / 255.0
        else:
            rgb = rgba[..., :3].astype(np.float32) / 255.0 * (a8.astype(np.float32) / 255.0)
        return rgb.astype(np.float32), a8.astype(np.float32) / 255.0
    rgba = rgba.astype(np.float32)
    if official:  # quantise as if it had been read from an 8-bit PNG
        return sheet_rgb_mask((rgba * 255.0 + 0.5).clip(0, 255).astype(np.uint8), True)
    return rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4].copy()


def udp_input(udp: np.ndarray, official: bool) -> np.ndarray:
    """UDP (H,W,4) f32 (xyz + visibility) -> what the pose encoder is fed (before cat/normalise)."""
    out = udp.astype(np.float32, copy=True)
    if official:
        out[..., 3] = (udp[..., 3] * 255).clip(0, 255).astype(np.uint8).astype(np.float32) / 255.0
    return out


# ---------------------------------------------------------------------------
# resizing like OpenCV (INTER_LINEAR up, INTER_AREA down, INTER_NEAREST_EXACT)
# ---------------------------------------------------------------------------
def _linear_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights of half-pixel bilinear sampling (cv2 INTER_LINEAR)."""
    m = np.zeros((dst, src), np.float64)
    x = (np.arange(dst) + 0.5) * (src / dst) - 0.5
    x = np.clip(x, 0, src - 1)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, src - 1)
    f = x - i0
    np.add.at(m, (np.arange(dst), i0), 1 - f)
    np.add.at(m, (np.arange(dst), i1), f)
    return m


def _area_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights of box averaging over the covered area (cv2 INTER_AREA, shrinking)."""
    scale = src / dst
    m = np.zeros((dst, src), np.float64)
    for i in range(dst):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), src)):
            m[i, j] = (min(hi, j + 1) - max(lo, j)) / scale
    return m


def resize(img: np.ndarray, size: int, kind: str = "smooth") -> np.ndarray:
    """Resize a square (S,S,C) image to (size,size,C). kind: 'smooth' or 'nearest'.

    'smooth' is bilinear when enlarging and area averaging when shrinking (the
    official loader's INTER_LINEAR / INTER_AREA); uint8 input is rounded back.
    """
    s = img.shape[0]
    if s == size:
        return img.copy()
    if kind == "nearest":  # INTER_NEAREST_EXACT
        idx = np.minimum(np.floor((np.arange(size) + 0.5) * (s / size)).astype(int), s - 1)
        return img[idx][:, idx]
    m = _linear_matrix(s, size) if size > s else _area_matrix(s, size)
    x = img.astype(np.float64)
    out = np.tensordot(m, x, axes=(1, 0))  # rows: (size, S, C)
    out = np.tensordot(m, out, axes=(1, 1)).transpose(1, 0, 2)  # columns: (size, size, C)
    if img.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(img.dtype)


# ---------------------------------------------------------------------------
# auto-centred square crop / pad
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Crop:
    """A square window (may stick out of the frame) and the frame it came from."""

    top: int
    left: int
    side: int
    frame_h: int
    frame_w: int


def find_crop(alpha: np.ndarray) -> Crop:
    """Square crop centred on the ``alpha > 0`` bounding box; side = its larger side."""
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0)
    if len(ys) == 0:
        raise InputError("the image is fully transparent: nothing to centre the crop on")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = int(max(y1 - y0, x1 - x0))
    return Crop(int(y0 + (y1 - y0 - side) // 2), int(x0 + (x1 - x0 - side) // 2), side, h, w)


def apply_crop(img: np.ndarray, crop: Crop, size: int, kind: str = "smooth") -> np.ndarray:
    """Cut the crop window out of (H,W,C) ``img`` (zero padded) and resize it to ``size``."""
    out = np.zeros((crop.side, crop.side, img.shape[2]), img.dtype)
    y0, x0 = max(crop.top, 0), max(crop.left, 0)
    y1, x1 = min(crop.top + crop.side, crop.frame_h), min(crop.left + crop.side, crop.frame_w)
    out[y0 - crop.top:y1 - crop.top, x0 - crop.left:x1 - crop.left] = img[y0:y1, x0:x1]
    return resize(out, size, kind)


def paste_back(img: np.ndarray, crop: Crop) -> np.ndarray:
    """Inverse of ``apply_crop``: (S,S,C) model output -> (frame_h, frame_w, C), zeros outside."""
    win = resize(img, crop.side, "smooth")
    out = np.zeros((crop.frame_h, crop.frame_w, img.shape[2]), img.dtype)
    y0, x0 = max(crop.top, 0), max(crop.left, 0)
    y1, x1 = min(crop.top + crop.side, crop.frame_h), min(crop.left + crop.side, crop.frame_w)
    out[y0:y1, x0:x1] = win[y0 - crop.top:y1 - crop.top, x0 - crop.left:x1 - crop.left]
    return out
