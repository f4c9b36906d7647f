"""Render the sample character's sheet (``samples/sheet/*.png``) for the default model.

    python -m conrt.training.sample_sheet [--size 128] [-o samples/sheet]

The sample character (``samples/sample_character.glb``) is never in the
training data (that is procedural seeds 0..N-1 only). Its sheet shows it in
an idle pose (arms down, hair and skirt settled by the physics world after
1.5 s of the ``idle`` clip) from six yaw angles around it, slight pitch from
above, straight alpha, at the size the default model was trained at (so the
runtime uses the images as they are, without re-cropping), each with its own
UDP beside it (``view*_udp.npz``).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from conrt.samples import SAMPLE_CHARACTER, SAMPLE_SHEET_DIR
from conrt.shaders.camera import sheet_yaws

log = logging.getLogger(__name__)

# front, front-left, back-left, back, back-right, front-right (whole degrees: they name the files)
YAWS = tuple(int(y) for y in sheet_yaws(6, "even"))
PITCH = 8.0
MARGIN = 0.08


def render_sheet(glb, out, size: int = 128, yaws=YAWS) -> list[Path]:
    from PIL import Image

    from conrt.characters.gltf_io import load_character
    from conrt.physics import PhysicsWorld

    from .datagen import Renderer

    character = load_character(glb)
    with PhysicsWorld(fps=30) as world:
        h = world.add(character, "idle")
        for _ in range(45):  # 1.5 s: hair and cloth settle
            pose = world.step()[h]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with Renderer(size) as renderer:
        renderer.set_character(character)
        for k, yaw in enumerate(yaws):
            rgba, udp = renderer.render(character, pose, float(yaw), PITCH, 0.0, MARGIN)
            path = out / f"view{k}_yaw{yaw:03d}.png"
            Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(path)  # straight alpha
            # the view's own UDP (official key 'i'): lookup models (conr-rt) take exact
            # correspondences from it instead of predicting them
            np.savez_compressed(path.with_name(path.stem + "_udp.npz"), i=np.asarray(udp, np.float32))
            paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--glb", default=str(SAMPLE_CHARACTER))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("-o", "--out", default=str(SAMPLE_SHEET_DIR))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    for p in render_sheet(args.glb, args.out, args.size):
        log.info("wrote %s", p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
