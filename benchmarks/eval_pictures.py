"""Drawing helpers shared by the evaluation benchmarks' grids (finetune_eval.py,
sheet_poses_eval.py): a premultiplied prediction shown over the grids' grey, and a
face box enlarged to a tile."""
from __future__ import annotations

import numpy as np

GREY = 0.75  # the grids' background under transparent pixels
EMPTY = 191  # a tile where the box is empty


def show(premul) -> np.ndarray:
    """[4, H, W] premultiplied RGBA tensor -> [H, W, 3] u8 over the grids' grey."""
    x = premul.detach().float().clamp(0, 1).permute(1, 2, 0).numpy()
    return ((x[..., :3] + GREY * (1 - x[..., 3:4])) * 255).astype(np.uint8)


def crop(img: np.ndarray, box, size: int) -> np.ndarray:
    """The square around ``box`` (y0, y1, x0, x1) of ``img`` [size, size, 3], kept inside the
    frame, enlarged to size x size with nearest sampling (the pixels a face score sees)."""
    from PIL import Image

    y0, y1, x0, x1 = (int(v) for v in box)
    if y1 <= y0 or x1 <= x0:
        return np.full((size, size, 3), EMPTY, np.uint8)
    side = max(y1 - y0, x1 - x0)
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    top, left = max(0, min(size - side, cy - side // 2)), max(0, min(size - side, cx - side // 2))
    return np.asarray(Image.fromarray(img[top:top + side, left:left + side]).resize((size, size), Image.NEAREST))
