"""What the docs' picture scripts share: tiles over the docs' grey, rows of tiles with a label column.

    from picture_grid import labelled_rows, over_grey  # scripts/ is on sys.path when run as a script
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from conrt.runtime.app.frame_loop import straight_over_background


def over_grey(rgba: np.ndarray, grey: int) -> np.ndarray:
    """[H, W, 4] u8 straight RGBA (the toon pass's) -> [H, W, 3] u8 over the flat grey ``grey`` (0-255):
    ``frame_loop.straight_over_background``, the runtime's compositing."""
    return straight_over_background(rgba, (grey / 255,) * 3)


def labelled_rows(rows: list[np.ndarray], labels: list[str], grey: int, label_width: int,
                  text_dy: int) -> Image.Image:
    """Rows of tiles ([h, W, 3] u8 each, the same size) stacked, a ``label_width`` column of ``grey``
    on their left with each row's label, ``text_dy`` px above the row's middle, in dark grey."""
    h = rows[0].shape[0]
    label = np.full((h * len(rows), label_width, 3), grey, np.uint8)
    image = Image.fromarray(np.concatenate([label, np.concatenate(rows, 0)], 1))
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(labels):
        draw.text((6, i * h + h // 2 - text_dy), text, fill=(40, 40, 40))
    return image
