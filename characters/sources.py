"""Character sources: the one place a ``--character`` argument becomes a
:class:`~conrt.types.Character` (the runtime, the bridge, ``conrt physics``,
``conrt udp``/``sheet``/``fit-sheet`` all resolve through here).

    character, path = resolve_character(None)             # the sample (samples/), and its file
    character, path = resolve_character("procedural:7")   # a procedural character, seed 7 (no file)
    character, path = resolve_character("hero.vrm")       # a file, loaded by its suffix

File formats are loaders chosen by suffix (``CHARACTER_LOADERS``); a new
format is its loader plus one ``register_character_loader(".ext", loader)``
line. Light: no torch, no GL (the raster-only commands use it too).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from conrt.errors import AssetError, ConfigError
from conrt.samples import SAMPLE_CHARACTER
from conrt.types import Character

from .gltf_io import load_character
from .procedural import generate

log = logging.getLogger(__name__)

PROCEDURAL_PREFIX = "procedural"
# generated instead (loudly) when the sample character's file is missing
FALLBACK_SEED = 5

# ``loader(path, facing=, name_map=) -> Character`` by lower-case suffix
CharacterLoader = Callable[..., Character]
CHARACTER_LOADERS: dict[str, CharacterLoader] = {}


def register_character_loader(suffix: str, loader: CharacterLoader) -> None:
    CHARACTER_LOADERS[suffix.lower()] = loader


def _gltf(path: Path, facing: str = "auto", name_map: dict | None = None) -> Character:
    return load_character(path, facing=facing, name_map=name_map)


for _suffix in (".glb", ".gltf", ".vrm"):
    register_character_loader(_suffix, _gltf)


def resolve_character(source=None, facing: str = "auto", name_map: dict | None = None) -> tuple[Character, Path | None]:
    """-> (Character, the file it was loaded from or None).

    ``None`` (or "sample") -> the sample character (a procedural one, with a
    warning, if its file is missing); ``"procedural:SEED"`` -> a procedural
    character; a path -> a file, loaded by its suffix; a Character passes
    through. ``facing``/``name_map``: see :func:`conrt.characters.gltf_io.load_character`."""
    if isinstance(source, Character):
        return source, None
    if source is None or str(source) == "sample":
        if not SAMPLE_CHARACTER.is_file():
            log.warning("sample character %s is missing: generating procedural character %d instead",
                        SAMPLE_CHARACTER, FALLBACK_SEED)
            return resolve_character(f"{PROCEDURAL_PREFIX}:{FALLBACK_SEED}")
        source = SAMPLE_CHARACTER
    text = str(source)
    if text.startswith(PROCEDURAL_PREFIX):
        _, _, seed = text.partition(":")
        try:
            seed_i = int(seed or 0)
        except ValueError:
            raise ConfigError(f"procedural character seed must be an integer, got {seed!r} "
                              "(use procedural:SEED, e.g. procedural:7)") from None
        return generate(seed_i), None
    path = Path(source)
    valid = ", ".join(CHARACTER_LOADERS)
    if not path.exists():
        raise AssetError(f"no character file at {path} (expected a {valid} file, or {PROCEDURAL_PREFIX}:SEED)")
    if path.is_dir():
        raise AssetError(f"{path} is a folder; --character takes a {valid} file")
    loader = CHARACTER_LOADERS.get(path.suffix.lower())
    if loader is None:
        raise AssetError(f"{path}: unsupported character format {path.suffix!r}; valid: {valid}")
    return loader(path, facing=facing, name_map=name_map), path


def load_character_source(source=None, facing: str = "auto", name_map: dict | None = None) -> Character:
    """The Character of :func:`resolve_character`."""
    return resolve_character(source, facing, name_map)[0]
