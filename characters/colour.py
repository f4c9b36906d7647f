"""sRGB <-> linear RGB on the host (numpy): the piecewise transfer functions the shaders use
(shaders/glsl/include/color.glsl; the exported fusion graphs' torch copies are
``runtime.nn.lookup_net.srgb_to_linear`` / ``linear_to_srgb``)."""
from __future__ import annotations

import numpy as np


def srgb_to_linear(c) -> np.ndarray:
    """sRGB 0..1 -> linear, elementwise; a float array keeps its dtype, anything else becomes float64.
    Not clipped: callers with colours that may stray past 0..1 clip first."""
    c = np.asarray(c)
    if not np.issubdtype(c.dtype, np.floating):
        c = c.astype(np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c) -> np.ndarray:
    """Linear -> sRGB 0..1, elementwise, clipped to 0..1 first."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c > 0.0031308, 1.055 * np.power(np.maximum(c, 0.0031308), 1 / 2.4) - 0.055, c * 12.92)
