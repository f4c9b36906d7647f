"""The project's defaults, each defined once: the embedded default model, the
shipped weights folder, the untrained fallback, the sample character and sheet.

``runtime/weights/conr-default.safetensors`` is the small CoNR config trained
on synthetic procedural characters (how: docs/training.md); its config (with
the ``image_size`` it was trained at) is embedded in the file, so
``conrt.runtime.load_weights(default_weights_path())`` is all it takes.
``samples/sheet/*.png`` is the sample character's sheet drawn for it (the
sample's paths live in the light ``conrt.samples``; re-exported here).
"""
from __future__ import annotations

from pathlib import Path

from conrt.errors import CheckpointError
from conrt.limits import DEFAULT_SIZE  # the runtime's frame side, re-exported
from conrt.samples import SAMPLE_CHARACTER, SAMPLE_SHEET_DIR, SAMPLES_DIR

__all__ = ["DEFAULT_WEIGHTS", "FALLBACK_CONFIG", "SAMPLES_DIR", "SAMPLE_CHARACTER", "SAMPLE_SHEET_DIR",
           "DEFAULT_SIZE", "WEIGHTS_DIR", "default_sheet_paths", "default_weights_path", "find_default_weights"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # shipped weights, by name (checkpoint.embedded_weights)
DEFAULT_WEIGHTS = WEIGHTS_DIR / "conr-default.safetensors"
# the untrained model a runtime falls back to (loudly) when the default weights are missing
FALLBACK_CONFIG = "conr-xs"


def find_default_weights() -> Path | None:
    """The embedded default weights, or None when they are missing."""
    return DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.is_file() else None


def default_weights_path(must_exist: bool = True) -> Path:
    """Path of the embedded default weights (``CheckpointError`` if missing and ``must_exist``)."""
    if must_exist and find_default_weights() is None:
        raise CheckpointError(f"the embedded default weights are missing ({DEFAULT_WEIGHTS}); "
                              "reinstall conrt or pass --weights")
    return DEFAULT_WEIGHTS


def default_sheet_paths() -> list[Path]:
    """The sample character's sheet images (sorted), drawn for the default model."""
    paths = sorted(SAMPLE_SHEET_DIR.glob("*.png"))
    if not paths:
        raise CheckpointError(f"no sample sheet images in {SAMPLE_SHEET_DIR}")
    return paths
