"""Draw docs/motion_gallery.png: every fixture character x every motion source
(a built-in clip, the CMU BVH capture, the character file's own glTF
animation), a few frames each, toon-shaded from the front (yaw 0) with the
render command's camera (framed from the motion's bounds).

    .venv/bin/python scripts/motion_gallery.py [-o docs/motion_gallery.png]
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from conrt.samples import SAMPLE_CHARACTER

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "fixtures" / "assets"
CHARACTERS = [  # (label, file)
    ("sample (procedural)", SAMPLE_CHARACTER),
    ("RobotExpressive", ASSETS / "gltf" / "RobotExpressive.glb"),
    ("RobotExpressive turned to -Z", None),  # built below: facing detection at work
    ("univrm sphere (VRM 0.x)", ASSETS / "gltf" / "univrm_sphere_vrm0.vrm"),
    ("Fox", ASSETS / "gltf" / "Fox.glb"),
]
MOTIONS = [  # (label, motion source; {own} = the character file's first animation)
    ("clip: wave", "wave"),
    ("clip: walk", "walk"),
    ("BVH: CMU capture", str(ASSETS / "bvh" / "cmu_npybvh_example.bvh")),
    ("glTF: own animation", "{own}"),
]
FRAMES, SIZE, LABEL_W, HEAD_H = 3, 96, 150, 18


def _turned_robot(tmp: Path) -> Path:
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "characters"))
    from gltf_edit import wrap_scene_roots  # the test suite's fixture builder

    return wrap_scene_roots(ASSETS / "gltf" / "RobotExpressive.glb", tmp / "robot_minus_z.glb",
                            rotation=(0.0, 1.0, 0.0, 0.0))


def _own_animation(path: Path) -> str | None:
    from conrt.physics.gltf_anim import list_gltf_animations

    try:
        names = list_gltf_animations(path)
    except Exception:
        return None
    prefer = [n for n in names if n.lower() in ("walking", "walk", "wave")]
    return f"animation:{(prefer or names or [None])[0]}" if names else None


def _cell(character, path, motion) -> list[np.ndarray] | str:
    from conrt.errors import ConrtError
    from conrt.physics.clips import Animator
    from conrt.physics.motion import motion_poses, resolve_motion
    from conrt.runtime.app.frame_loop import RasterStage

    try:
        clip = resolve_motion(motion, character, character_file=path)
    except ConrtError as exc:
        return str(exc).split(": ", 1)[-1].split(";")[0]  # the reason, without the file name
    raster = RasterStage(character, SIZE, context="egl", toon=True)
    try:
        raster.fit_motion(motion_poses(character, clip))
        anim = Animator(character, clip)
        out = []
        for t in np.linspace(0, clip.duration, FRAMES + 1)[:-1] + clip.duration / (2 * FRAMES):
            pose = anim.pose(float(t))
            raster.render(pose, raster.camera(pose))
            out.append(raster.read_toon())
        return out
    finally:
        raster.close()


def main() -> None:
    import tempfile

    from conrt.characters.gltf_io import load_character

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "motion_gallery.png")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp())
    cell_w = FRAMES * SIZE
    sheet = Image.new("RGB", (LABEL_W + cell_w * len(MOTIONS), HEAD_H + SIZE * len(CHARACTERS)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, (label, _) in enumerate(MOTIONS):
        draw.text((LABEL_W + c * cell_w + 4, 3), label, fill=(0, 0, 0))
    for r, (label, path) in enumerate(CHARACTERS):
        path = path or _turned_robot(tmp)
        character = load_character(path)
        y = HEAD_H + r * SIZE
        draw.text((4, y + SIZE // 2 - 12), label, fill=(0, 0, 0))
        draw.text((4, y + SIZE // 2 + 2), character.meta.get("facing", "")[:24], fill=(90, 90, 90))
        for c, (_, motion) in enumerate(MOTIONS):
            if motion == "{own}":
                motion = _own_animation(path)
            x = LABEL_W + c * cell_w
            frames = _cell(character, path, motion) if motion else "no animation in the file"
            if isinstance(frames, str):
                draw.rectangle([x + 2, y + 2, x + cell_w - 3, y + SIZE - 3], fill=(240, 240, 240))
                for i in range(0, min(len(frames), 3 * 48), 48):
                    draw.text((x + 6, y + SIZE // 2 - 14 + i // 4), frames[i:i + 48], fill=(120, 120, 120))
                continue
            for k, img in enumerate(frames):
                tile = Image.fromarray(img, "RGBA")
                bg = Image.new("RGBA", tile.size, (246, 246, 250, 255) if (r + c) % 2 else (236, 240, 246, 255))
                sheet.paste(Image.alpha_composite(bg, tile).convert("RGB"), (x + k * SIZE, y))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, optimize=True)
    print(f"wrote {args.output} ({sheet.size[0]}x{sheet.size[1]})")


if __name__ == "__main__":
    main()
