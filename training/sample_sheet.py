"""Render the sample character's sheet (``samples/sheet/*.png``) for the default model.

    python -m conrt.training.sample_sheet [--size 256] [-o samples/sheet]

The sample character (``samples/sample_character.glb``) is never in the
training data (that is procedural seeds 0..N-1 only). Its sheet shows it in
an idle pose (arms down, hair and skirt settled after 1.5 s of the ``idle``
clip by the runtime's own physics stage, so the hem hangs where the demo's
frames draw it: ``settled_pose``) from six yaw angles around it, slight pitch from
above, straight alpha, at the demo's default frame size, 256² (the runtime
samples the sheet's own pixels with exact correspondences: a 128² sheet has
eyes ~3 px wide, and the 256² frames showed a blank face), each with its own
UDP (``view*_udp.npz``) and its camera and pose (``view*_view.npz``,
``shaders/view_file.py``) beside it, so the runtime finds exact sheet
correspondences for the default demo.
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
SETTLE_S = 1.5  # idle time before the views: hair and cloth settle


def settled_pose(character, fps: float = 30.0):
    """The character after ``SETTLE_S`` of ``idle`` in the runtime's physics stage
    (``runtime.app.frame_loop.PhysicsStage``: its substep rate, its cloth solver).
    Why the runtime's stage and not a world of its own: the sheet hid the thighs the
    walking frames show under the hem (a cream band there in every demo frame) while
    its world stepped the skirt at 60 Hz and the runtime at 120 Hz (docs/physics.md)."""
    from conrt.runtime.app.frame_loop import PhysicsStage

    stage = PhysicsStage(character, "idle", fps=fps)
    try:
        for _ in range(round(SETTLE_S * fps)):
            pose = stage.step()
    finally:
        stage.close()
    return pose


def render_sheet(glb, out, size: int = 256, yaws=YAWS) -> list[Path]:
    from PIL import Image

    from conrt.characters.gltf_io import load_character
    from conrt.characters.posing import posed_positions
    from conrt.shaders import frame_character
    from conrt.shaders.view_file import save_view_file, view_file_for

    from .datagen import Renderer

    character = load_character(glb)
    pose = settled_pose(character)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with Renderer(size) as renderer:
        renderer.set_character(character)
        for k, yaw in enumerate(yaws):
            # the camera Renderer.render frames the view with (same call, same numbers)
            camera = frame_character(posed_positions(character, pose), yaw=float(yaw), pitch=PITCH, roll=0.0,
                                     size=size, margin=MARGIN)
            rgba, udp = renderer.render(character, pose, float(yaw), PITCH, 0.0, MARGIN)
            path = out / f"view{k}_yaw{yaw:03d}.png"
            Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(path)  # straight alpha
            # the view's own UDP (official key 'i'): lookup models (conr-rt) take exact
            # correspondences from it instead of predicting them
            np.savez_compressed(path.with_name(path.stem + "_udp.npz"), i=np.asarray(udp, np.float32))
            # its camera and pose: exact correspondences (projective texturing, docs/conr_rt.md)
            save_view_file(view_file_for(path), camera, pose)
            paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--glb", default=str(SAMPLE_CHARACTER))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("-o", "--out", default=str(SAMPLE_SHEET_DIR))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    for p in render_sheet(args.glb, args.out, args.size):
        log.info("wrote %s", p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
