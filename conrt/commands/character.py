"""``conrt character new|info``: procedural characters and asset inspection."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from conrt.commands._motion_args import add_loading_arguments, loading_kwargs
from conrt.errors import ConfigError
from conrt.limits import check_output_file, check_output_folder, make_output_folder
from conrt.types import Part

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser("character", help="make a procedural anime character or inspect a glTF/VRM file")
    sub = p.add_subparsers(dest="character_command", metavar="ACTION")

    new = sub.add_parser("new", help="generate a seeded procedural anime character as .glb")
    new.add_argument("--seed", type=int, required=True, help="random seed (>= 0); same seed -> same character")
    new.add_argument("-o", "--output", required=True,
                     help="output .glb or .gltf; with --count > 1 a directory (files char_<seed>.glb)")
    new.add_argument("--count", type=int, default=1, help="make COUNT characters, seeds SEED .. SEED+COUNT-1")
    new.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a generator param, e.g. --set bottom=skirt --set tails=twin --set long_hair=true "
                          "(see conrt.characters.procedural.CharacterParams)")
    new.set_defaults(func=_new)

    info = sub.add_parser("info", help="print joints, vertices, triangles, regions and canonical box of a file")
    info.add_argument("file", help=".glb/.gltf/.vrm")
    info.add_argument("--joints", action="store_true", help="list every joint")
    info.add_argument("--allow-static", action="store_true", help="accept a mesh without a skin")
    add_loading_arguments(info)
    info.set_defaults(func=_info)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if "," in value:  # colours: r,g,b in 0..1
            value = tuple(v.strip() for v in value.split(","))
        out[key] = value
    return out


def _new(args: argparse.Namespace) -> int:
    from conrt.characters.gltf_io import save_character  # lazy: a stage (0.1-0.3 s), not at CLI startup
    from conrt.characters.procedural import generate  # lazy: a stage (0.1-0.3 s), not at CLI startup

    if args.count < 1:
        raise ConfigError(f"--count must be >= 1, got {args.count}")
    if args.count > 1:
        from tqdm import tqdm  # lazy: tqdm, not at CLI startup

        out = Path(args.output)
        if out.suffix.lower() in (".glb", ".gltf"):
            raise ConfigError(f"with --count {args.count}, -o must be a directory, got {out}")
        make_output_folder(check_output_folder(out))
        overrides = _parse_overrides(args.overrides)
        t0 = time.perf_counter()
        for seed in tqdm(range(args.seed, args.seed + args.count), desc="characters", unit="char"):
            save_character(generate(seed, **overrides), out / f"char_{seed:06d}.glb")
        dt = time.perf_counter() - t0
        print(f"{out}: {args.count} characters (seeds {args.seed}..{args.seed + args.count - 1}) "
              f"in {dt:.1f} s ({1000 * dt / args.count:.0f} ms each)")
        return 0
    check_output_file(args.output, "-o", (".glb", ".gltf"))  # before the work
    t0 = time.perf_counter()
    character = generate(args.seed, **_parse_overrides(args.overrides))
    t1 = time.perf_counter()
    save_character(character, args.output)
    m = character.mesh
    print(f"{args.output}: seed {args.seed}, {m.num_vertices} vertices, {m.num_triangles} triangles, "
          f"{character.skeleton.num_joints} joints, {len(character.regions)} regions, "
          f"height {character.height:.3f} m (generated in {1000 * (t1 - t0):.0f} ms)")
    return 0


def _toon_skin(character) -> str:
    """What the toon look's skin rules reach (shaders/material.py), one line; '' where the labels do not
    tell skin apart (the rules are off)."""
    from conrt.shaders.material import (face_region, neck_region, shade_colors,  # lazy: GL-side module, info only
                                        skin_shade_colors, skin_told_apart)

    if not skin_told_apart(character):
        return ""
    own, skin = shade_colors(character), skin_shade_colors(character)
    moved = int((own != skin).any(1).sum())
    shade = (f"skin in the face's MToon shade colour ({moved} skin vertices from their own material's)" if moved
             else "skin in its materials' MToon shade colours" if (own[:, 3] > 0.5).any() else "skin in the warm tint")
    return (f"face {int((face_region(character) > 0).sum())} vertices lit near flat, neck "
            f"{int((neck_region(character) > 0).sum())} in the chin shadow, {shade}")


def _info(args: argparse.Namespace) -> int:
    from conrt.characters.gltf_io import load_character  # lazy: a stage (0.1-0.3 s), not at CLI startup
    from conrt.characters.part_labels import PART_LINES_KEY, draws_part_lines  # lazy: with the loader above

    c = load_character(args.file, allow_static=args.allow_static, **loading_kwargs(args))
    m, sk = c.mesh, c.skeleton
    print(f"name       {c.name}")
    print(f"vertices   {m.num_vertices}")
    print(f"triangles  {m.num_triangles}")
    print(f"joints     {sk.num_joints}")
    print(f"humanoid   {len(c.humanoid)} bones" + (f" ({', '.join(sorted(c.humanoid))})" if c.humanoid else ""))
    lo, hi = m.positions.min(0), m.positions.max(0)
    print(f"bounds     min {np.round(lo, 4).tolist()} max {np.round(hi, 4).tolist()}")
    print(f"box        origin {np.round(c.box.origin, 4).tolist()} size {np.round(c.box.size, 4).tolist()}")
    counts = np.bincount(m.parts, minlength=len(Part))
    print("parts      " + ", ".join(f"{Part(i).name.lower()} {n}" for i, n in enumerate(counts) if n and i < len(Part)))
    if "part_labels" in c.meta:  # how the loader labelled them (characters/part_labels.py)
        lines = "" if draws_part_lines(c) else "; no part lines in the toon look (inferred labels shade only)"
        print(f"labels     {c.meta['part_labels']}{lines}")
    toon = _toon_skin(c)
    if toon:
        print(f"toon skin  {toon}")
    tex = m.material.base_color_texture
    print(f"material   factor {np.round(m.material.base_color_factor, 3).tolist()}, "
          f"texture {'%dx%d' % tex.shape[1::-1] if tex is not None else 'none'}, "
          f"uv {'yes' if m.uv is not None else 'no'}, colors {'yes' if m.colors is not None else 'no'}")
    print(f"regions    {len(c.regions)}")
    for r in c.regions:
        extra = f", chain {[sk.names[j] for j in r.chain]}" if len(r.chain) else ""
        print(f"  {r.name:12s} {r.kind:5s} anchor {sk.names[r.anchor_joint]}, {len(r.vertices)} vertices, "
              f"{len(r.pinned)} pinned{extra}")
    for k, v in c.meta.items():
        if k not in ("params", "part_labels", PART_LINES_KEY):
            print(f"meta       {k}: {v}")
    if args.joints:
        for j, name in enumerate(sk.names):
            parent = sk.names[sk.parents[j]] if sk.parents[j] >= 0 else "-"
            print(f"  {j:3d} {name:24s} parent {parent:20s} at {np.round(sk.rest_world[j, :3, 3], 4).tolist()}")
    return 0
