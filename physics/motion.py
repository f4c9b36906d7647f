"""Motion sources: the one place a motion argument becomes a :class:`Clip`.

Every command and the Python API take the same motion source (``--motion``,
alias ``--clip``; ``open_runtime(clip=...)``):

- a built-in clip name: ``idle``, ``walk``, ``run``, ``turn``, ``wave``, ``jump``, ``dance``;
- a BVH file: ``dance.bvh`` (retargeted onto the character, see ``bvh.py``);
- a VRM animation: ``dance.vrma`` (humanoid bone rotations, see ``gltf_anim.load_vrma_clip``);
- a glTF animation of the character's own file: ``animation:NAME`` or
  ``animation:INDEX`` (``animation`` alone = the first one);
- a glTF animation of another file with the same joint names:
  ``other.glb#NAME`` / ``other.glb#INDEX`` (``other.glb`` alone = the first).

``check_motion`` validates the text before any slow loading; ``resolve_motion``
turns it into a Clip for one character. ``load_name_map`` reads a ``--name-map``
JSON file (joint name -> humanoid bone) used by BVH retargeting and by
characters whose joint names are not recognised.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conrt.errors import ConfigError
from conrt.types import HUMANOID_BONES, Character

from .bvh import bvh_to_clip, load_bvh
from .clips import Animator, Clip, get_clip, list_clips
from .gltf_anim import load_gltf_clip, load_vrma_clip

log = logging.getLogger(__name__)

GLTF_SUFFIXES = (".glb", ".gltf", ".vrm")
ANIMATION_PREFIX = "animation"

# Motion files by suffix: ``loader(path, character, name_map=) -> Clip``. A new
# format is its loader plus one ``register_motion_format(".ext", loader)`` line.
MOTION_LOADERS: dict = {}


def register_motion_format(suffix: str, loader) -> None:
    MOTION_LOADERS[suffix.lower()] = loader


def _bvh(path: Path, character: Character, name_map: dict[str, str] | None = None) -> Clip:
    return bvh_to_clip(load_bvh(path), character, name_map=name_map)


def _vrma(path: Path, character: Character, name_map: dict[str, str] | None = None) -> Clip:
    return load_vrma_clip(path, character)


register_motion_format(".bvh", _bvh)
register_motion_format(".vrma", _vrma)


@dataclass(frozen=True)
class MotionSpec:
    """A parsed motion source."""

    kind: str  # "clip", "gltf", or a motion file's suffix without the dot ("bvh", "vrma", see MOTION_LOADERS)
    text: str  # what the user gave
    name: str = ""  # clip name
    path: Path | None = None  # BVH / glTF file (None: the character's own file)
    animation: str | int = 0  # glTF animation name or index


def describe_choices() -> str:
    return (f"valid clips: {', '.join(list_clips())}; or a {' or '.join(MOTION_LOADERS)} file, animation:NAME|INDEX (the "
            f"character file's own glTF animations) or FILE.glb#NAME|INDEX")


def parse_motion(text) -> MotionSpec:
    """Parse a motion source (no file is read, but named files must exist)."""
    if isinstance(text, MotionSpec):
        return text
    if isinstance(text, os.PathLike):
        text = os.fspath(text)
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{'empty motion source' if isinstance(text, str) else f'not a motion source: {text!r}'}; "
                          f"{describe_choices()}")
    text = text.strip()
    if text in list_clips():
        return MotionSpec("clip", text, name=text)
    head, sep, tail = text.partition(":")
    if head == ANIMATION_PREFIX:
        return MotionSpec("gltf", text, animation=_anim_key(tail) if sep else 0)
    if text == ANIMATION_PREFIX:
        return MotionSpec("gltf", text)
    file_part, _, anim = text.partition("#")
    path = Path(file_part)
    suffix = path.suffix.lower()
    if suffix in MOTION_LOADERS or suffix in GLTF_SUFFIXES:
        if not path.is_file():
            raise ConfigError(f"motion file {path} does not exist")
        if suffix in MOTION_LOADERS:
            return MotionSpec(suffix[1:], text, path=path)
        return MotionSpec("gltf", text, path=path, animation=_anim_key(anim) if anim else 0)
    raise ConfigError(f"unknown clip {text!r}; {describe_choices()}")


check_motion = parse_motion


def _anim_key(s: str) -> str | int:
    return int(s) if s.isdigit() else s


def resolve_motion(motion, character: Character, *, character_file=None,
                   name_map: dict[str, str] | None = None) -> Clip:
    """A motion source (text, MotionSpec or Clip) -> a Clip for ``character``.

    ``character_file``: the file the character was loaded from (for
    ``animation:...``); ``name_map``: BVH joint name -> humanoid bone."""
    if isinstance(motion, Clip):
        return motion
    spec = parse_motion(motion)
    if spec.kind == "clip":
        return get_clip(spec.name, character)
    if "." + spec.kind in MOTION_LOADERS:
        return MOTION_LOADERS["." + spec.kind](spec.path, character, name_map=name_map)

    path = spec.path
    if path is None:
        if character_file is None or Path(str(character_file)).suffix.lower() not in GLTF_SUFFIXES:
            raise ConfigError(f"motion {spec.text!r} plays an animation of the character's own file, but the "
                              f"character was not loaded from a glTF/VRM file; give FILE.glb#NAME instead")
        path = Path(character_file)
    return load_gltf_clip(path, character.skeleton, spec.animation, character=character)


def load_name_map(path) -> dict[str, str] | None:
    """Read a ``--name-map`` JSON object {joint name: humanoid bone}; None passes through."""
    if path is None:
        return None
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read name map {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"name map {path} is not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(f"name map {path} must be a JSON object of joint name -> humanoid bone name, "
                          f'e.g. {{"LeftHip": "leftUpperLeg"}}')
    bad = sorted({v for v in data.values() if v not in HUMANOID_BONES})
    if bad:
        raise ConfigError(f"name map {path}: {', '.join(bad)} are not humanoid bones; valid: {', '.join(HUMANOID_BONES)}")
    return data


def motion_poses(character: Character, clip: Clip, count: int = 24) -> list:
    """``count`` poses spread over one cycle of the clip (for framing)."""
    anim = Animator(character, clip)
    return [anim.pose(float(t)) for t in np.linspace(0.0, clip.duration, max(1, count))]
