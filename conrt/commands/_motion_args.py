"""The motion and character-loading arguments every command shares.

``--motion`` (alias ``--clip``) takes any motion source (a clip name, a .bvh
file, ``animation:NAME`` of the character's own glTF file, ``FILE.glb#NAME``;
resolved in one place, :mod:`conrt.physics.motion`), ``--name-map FILE.json``
maps joint names the conventions do not cover, ``--facing`` overrides the
detected facing of a loaded character."""
from __future__ import annotations

import argparse

FACINGS = ("auto", "+z", "-z")
MOTION_HELP = ("motion: a clip (idle, walk, run, turn, wave, jump, dance), a .bvh or .vrma file, animation:NAME|INDEX "
               "(an animation stored in the character's glTF file) or FILE.glb#NAME|INDEX")


def add_motion_argument(p: argparse.ArgumentParser, default: str | None = "walk", help_extra: str = "") -> None:
    p.add_argument("--motion", "--clip", dest="clip", default=default, metavar="MOTION",
                   help=f"{MOTION_HELP} (default {default}){help_extra}")


def add_loading_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--facing", choices=FACINGS, default="auto",
                   help="which way the character file faces: auto (detected from its skeleton, logged), +z or -z "
                        "(turned to face +Z either way)")
    p.add_argument("--name-map", dest="name_map", metavar="FILE.json",
                   help='JSON object of joint name -> humanoid bone (e.g. {"LeftHip": "leftUpperLeg"}) for the '
                        "motion file's and the character's joints the built-in conventions do not recognise")


def loading_kwargs(args) -> dict:
    """facing and name_map for open_runtime / load_character_source from parsed arguments."""
    from conrt.physics.motion import load_name_map  # lazy: a stage (0.1-0.3 s), not at CLI startup

    return {"facing": getattr(args, "facing", "auto"), "name_map": load_name_map(getattr(args, "name_map", None))}
