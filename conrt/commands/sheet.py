"""``conrt sheet``: draw a character sheet: toon-shaded RGBA PNGs (straight
alpha, transparent background) of the character from several views (front,
side, back, other side, then the 3/4s; ``--order artist``: front, 3/4, side,
back, ...) in mild pose variations. Writes ``view_NN.png`` and
``sheet.json`` (view angles, pose seeds) and each view's camera and pose
(``view_NN_view.npz``) into the output folder; with
``--udp`` also each view's UDP (``view_NN_udp.npz``, official format).
``--style unlit`` draws the texture as authored (no lighting, no ink): a
sheet whose colours do not depend on where the light was (docs/real_character.md)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from conrt.commands._motion_args import add_loading_arguments, loading_kwargs
from conrt.commands.udp import add_view_arguments, load_character_file, make_pose, random_pose, save_udp
from conrt.errors import ConfigError
from conrt.limits import MAX_SHEET_VIEWS, check_output_folder, make_output_folder

log = logging.getLogger(__name__)

# --udp previews (pictures of the UDPs) go here, away from the views
PREVIEW_DIR = "previews"
MAX_VIEWS = MAX_SHEET_VIEWS  # what a sheet may hold


def sheet_yaws(views: int, order: str | None = None) -> list[float]:
    """Yaw angles (degrees) of ``views`` sheet views in ``order`` (one of
    ``shaders.camera.SHEET_YAW_ORDERS``; None: ``SHEET_ORDER``, front, side, back,
    other side first); a ConfigError naming the orders for another."""
    from conrt.shaders.camera import SHEET_ORDER, sheet_yaws as yaws_in_order  # lazy: moderngl with the command

    if not 1 <= views <= MAX_VIEWS:
        raise ConfigError(f"--views must be within 1..{MAX_VIEWS}, got {views}")
    return yaws_in_order(views, order or SHEET_ORDER)


def register(subparsers) -> None:
    p = subparsers.add_parser("sheet", help="draw a toon character sheet (RGBA PNGs of several views)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("character", type=Path, help="character file (.glb/.gltf/.vrm)")
    p.add_argument("--views", type=int, default=4, help="number of views (default 4; in --order)")
    p.add_argument("--order", default=None,
                   help="the order views are added in: spread (the default: front, side left, back, side right, "
                        "then the 3/4s; 4 views see both sides, which the shading needs), artist (front, 3/4 left, "
                        "side left, back, then the right side: the classic turnaround), even (evenly around)")
    add_view_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the pose variations")
    p.add_argument("--strength", type=float, default=0.12, help="pose variation: max joint turn in radians (0 = rest pose)")
    p.add_argument("--style", default="toon",
                   help="look of the views: toon (default), unlit (the texture as authored: no lighting, no ink), "
                        "flat, soft, no-outline (toon shading without ink: with --udp the runtime judges it "
                        "shaded), thick-outline; another artist's ink (the runtime estimates a sheet's own): "
                        "brown-ink (a fixed dark-brown pen), trace-ink (the fill darkened less), thick-ink "
                        "(3 px per 256), silhouette-ink (no inner lines)")
    p.add_argument("--udp", action="store_true",
                   help=f"also write each view's UDP (view_NN_udp.npz; PNG previews in {PREVIEW_DIR}/)")
    p.add_argument("-o", "--output", type=Path, default=Path("sheet"), help="output folder")
    add_loading_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from PIL import Image  # lazy: Pillow, not at CLI startup
    from tqdm import tqdm  # lazy: tqdm, not at CLI startup

    from conrt.characters.posing import posed_positions  # lazy: a stage (0.1-0.3 s), not at CLI startup
    from conrt.shaders import ToonPass, UdpPass, create_context, release_context  # lazy: moderngl, not at CLI startup
    from conrt.shaders.camera import SHEET_ORDER, sheet_view_camera  # lazy: moderngl, not at CLI startup
    from conrt.shaders.toon_pass import named_style  # lazy: moderngl, not at CLI startup
    from conrt.shaders.view_file import save_view_file, view_file_for  # lazy: moderngl, not at CLI startup

    style = named_style(args.style, args.size)  # ConfigError naming the styles, before any work
    yaws = sheet_yaws(args.views, args.order)  # ConfigError naming the orders, before any work
    order = args.order or SHEET_ORDER
    out = check_output_folder(args.output)  # before the work; created once the character loaded
    character = load_character_file(args.character, **loading_kwargs(args))
    ctx = create_context(args.context)
    make_output_folder(out)
    views = []
    try:
        with ToonPass(ctx, args.size, args.size, style) as toon, UdpPass(ctx, args.size, args.size) as udp:
            toon.set_character(character)
            if args.udp:
                udp.set_character(character)
            for k in tqdm(range(len(yaws)), desc="sheet", unit="view", disable=len(yaws) < 4):
                seed = args.seed * 1000 + k
                pose = random_pose(character, seed, args.strength) if args.strength > 0 else make_pose(character, "rest")
                yaw, camera = sheet_view_camera(posed_positions(character, pose), k, len(yaws), args.size,
                                                yaw=args.yaw, pitch=args.pitch, roll=args.roll, margin=args.margin,
                                                projection=args.projection, fov=args.fov, order=order)
                rgba = toon.run(pose, camera)
                name = f"view_{k:02d}"
                Image.fromarray(rgba, "RGBA").save(out / f"{name}.png")
                if args.udp:
                    # previews in their own folder: a glob of the views (sheet/*.png) must not pick them up
                    save_udp(out / f"{name}_udp.npz", udp.run(pose, camera).data, preview_dir=out / PREVIEW_DIR)
                # the camera and pose this view was drawn with: exact correspondences
                save_view_file(view_file_for(out / f"{name}.png"), camera, pose)
                views.append({"file": f"{name}.png", "yaw": yaw, "pitch": args.pitch, "roll": args.roll,
                              "pose_seed": seed, "pose_strength": args.strength,
                              "coverage": float((rgba[..., 3] > 0).mean())})
    finally:
        release_context(ctx)
    meta = {"character": str(args.character), "size": args.size, "projection": args.projection,
            "alpha": "straight", "style": args.style, "order": order, "views": views}
    (out / "sheet.json").write_text(json.dumps(meta, indent=1))
    print(f"wrote {len(views)} views to {out}/")
    return 0
