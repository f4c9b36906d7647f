"""Where the embedded default model and its sample sheet live.

``runtime/weights/conr-default.safetensors`` is the small CoNR config trained
on synthetic procedural characters (how: docs/training.md); its config (with
the ``image_size`` it was trained at) is embedded in the file, so
``conrt.runtime.load_weights(default_weights_path())`` is all it takes.
``samples/sheet/*.png`` is the sample character's sheet drawn for it.
"""
from __future__ import annotations

from pathlib import Path

from conrt.errors import CheckpointError

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = "conr-default.safetensors"
# conrt/samples is a data folder mapped beside us (pyproject package-dir).
SAMPLE_SHEET_DIR = Path(__file__).resolve().parent.parent / "samples" / "sheet"


def default_weights_path(must_exist: bool = True) -> Path:
    """Path of the embedded default weights (``CheckpointError`` if missing and ``must_exist``)."""
    path = WEIGHTS_DIR / DEFAULT_WEIGHTS
    if must_exist and not path.is_file():
        raise CheckpointError(f"the embedded default weights are missing ({path}); "
                              "reinstall conrt or pass --weights")
    return path


def default_sheet_paths() -> list[Path]:
    """The sample character's sheet images (sorted), drawn for the default model."""
    try:
        import conrt.samples as samples

        folder = Path(samples.__file__).parent / "sheet"
    except ImportError:
        folder = SAMPLE_SHEET_DIR
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise CheckpointError(f"no sample sheet images in {folder}")
    return paths
