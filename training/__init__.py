"""conrt.training: synthetic character-sheet data, training and evaluation of
the CoNR configs (see docs/training.md)."""
from __future__ import annotations

import importlib

_EXPORTS = {
    "DataSpec": "datagen", "make_dataset": "datagen", "read_manifest": "datagen", "render_character": "datagen",
    "SheetDataset": "dataset", "load_split": "dataset",
    "TrainConfig": "trainer", "train": "trainer",
    "evaluate": "evaluate",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):  # lazy: `conrt data make` does not import torch, training does not import GL
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
