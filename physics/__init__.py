"""conrt.physics: animation drivers (procedural clips, BVH, glTF) and the PyBullet
world that turns a character + motion into a :class:`conrt.types.Pose` per frame
(kinematic or PD-driven body, cloth proxies, hair spring chains).

Names are imported lazily so ``conrt.physics.clips`` users do not load PyBullet.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "PhysicsWorld": "world",
    "Clip": "clips", "Animator": "clips", "get_clip": "clips", "list_clips": "clips", "register_clip": "clips",
    "Bvh": "bvh", "load_bvh": "bvh", "parse_bvh": "bvh", "write_bvh": "bvh", "bvh_to_clip": "bvh",
    "clip_to_bvh": "bvh",
    "load_gltf_clip": "gltf_anim", "list_gltf_animations": "gltf_anim",
    "ClothParams": "cloth", "build_proxy": "cloth",
    "HairParams": "hair", "spring_params": "hair",
    "resolve_motion": "motion", "check_motion": "motion", "load_name_map": "motion", "motion_poses": "motion",
    "stick_character": "stick",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
