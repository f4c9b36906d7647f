"""conrt.characters: the character asset model's io and makers.

- ``posing``: forward kinematics, rest pose, NumPy linear-blend skinning.
- ``gltf_io``: ``load_character`` / ``save_character`` (glTF 2.0, GLB, VRM 0.x/1.0).
- ``procedural``: ``generate(seed, **overrides)``, seeded anime characters.

The names below are imported lazily, so ``import conrt.characters.posing``
does not pay for pygltflib.
"""
from __future__ import annotations

import importlib

__all__ = ["load_character", "save_character", "generate"]

_WHERE = {"load_character": "gltf_io", "save_character": "gltf_io", "generate": "procedural"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"conrt.characters.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'conrt.characters' has no attribute {name!r}")
