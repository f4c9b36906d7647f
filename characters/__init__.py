"""conrt.characters: the character asset model's io and makers.

- ``posing``: forward kinematics, rest pose, NumPy linear-blend skinning.
- ``gltf_io``: ``load_character`` / ``save_character`` (glTF 2.0, GLB, VRM 0.x/1.0).
- ``procedural``: ``generate(seed, **overrides)``, seeded anime characters.
"""
from conrt.characters.gltf_io import load_character, save_character
from conrt.characters.procedural import generate

__all__ = ["load_character", "save_character", "generate"]
