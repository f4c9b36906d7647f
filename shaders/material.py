"""The character's material on the GPU, shared by the passes that read it.

One place for the albedo texture rules (upload, mipmaps, wrap) so the UDP
pass, which samples texture alpha for glTF MASK/BLEND coverage, sees exactly
the texels the toon pass shades with: both then cover the same pixels.
"""
from __future__ import annotations

import moderngl
import numpy as np

from conrt.errors import InputError
from conrt.types import Character


def albedo_image(character: Character) -> np.ndarray | None:
    """The base-colour texture as [H, W, 4] u8 (RGB gets alpha 255), or None when
    the material has none or the mesh has no uv (glTF: then it is not used)."""
    mat, mesh = character.mesh.material, character.mesh
    if mat.base_color_texture is None or mesh.uv is None:
        return None
    tex = np.asarray(mat.base_color_texture)
    if tex.ndim != 3 or tex.shape[2] not in (3, 4) or tex.dtype != np.uint8:
        raise InputError(f"base_color_texture must be [H, W, 4] u8, got {tex.shape} {tex.dtype}")
    if tex.shape[2] == 3:
        tex = np.concatenate([tex, np.full(tex.shape[:2] + (1,), 255, np.uint8)], 2)
    return tex


def albedo_texture(ctx: moderngl.Context, image: np.ndarray | None, mipmaps: bool = True) -> moderngl.Texture:
    """Upload :func:`albedo_image`'s result (1x1 white when None): wrapping; mipmapped
    unless the material's samplers ask for none (``Material.mipmaps``)."""
    if image is None:
        return ctx.texture((1, 1), 4, bytes([255, 255, 255, 255]))
    # Row 0 of the image is v = 0, which is also the first row GL stores: no flip.
    tex = ctx.texture((image.shape[1], image.shape[0]), 4, np.ascontiguousarray(image))
    if mipmaps:
        tex.build_mipmaps()
        tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    else:
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    tex.repeat_x = tex.repeat_y = True  # glTF default sampler wraps
    return tex


def base_color(character: Character) -> np.ndarray:
    """[4] f32 baseColorFactor, checked."""
    base = np.asarray(character.mesh.material.base_color_factor, np.float32).reshape(-1)
    if base.shape != (4,) or not np.isfinite(base).all():
        raise InputError(f"base_color_factor must be 4 finite floats, got {character.mesh.material.base_color_factor}")
    return base
