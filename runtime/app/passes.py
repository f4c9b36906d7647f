"""Render passes the raster stage runs besides the UDP: one protocol, one registry.

A render pass rasterizes the posed character into a buffer of its own every
frame (the toon reference today; normals, depth or per-view coordinates
tomorrow). The frame loop knows passes only by this protocol and by name: a
:class:`~conrt.runtime.app.frame_loop.RasterStage` made with ``passes=("toon",)``
runs each named pass after the UDP pass and the frame carries its buffer as
``frame.buffers["toon"]``.

Adding a pass is its own file plus one registration line::

    register_pass("normals", lambda ctx, size, character: NormalsPass(ctx, size, character))

The UDP pass is not in the registry: it is the network's input and always
runs. The exact-correspondence pass is set up from the encoded sheet
(``RasterStage.set_correspondences``), not by name.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import numpy as np

from conrt.errors import ConfigError
from conrt.shaders import ToonPass
from conrt.types import Camera, Character, Pose


@runtime_checkable
class RenderPass(Protocol):
    """What the raster stage calls on a pass, in this order, on the GL thread."""

    def render(self, pose: Pose, camera: Camera) -> None:
        """Draw the character in ``pose`` seen by ``camera`` into the pass's target."""

    def read(self) -> np.ndarray:
        """The last render's buffer, [H, W, C] (row 0 = top)."""

    def release(self) -> None:
        """Free the pass's GL objects."""


# ``factory(ctx, size, character) -> RenderPass`` by name
PassFactory = Callable[[object, int, Character], RenderPass]
_PASSES: dict[str, PassFactory] = {}


def register_pass(name: str, factory: PassFactory) -> None:
    """Make ``name`` a render pass a raster stage (and ``open_runtime(passes=)``) can run."""
    if not isinstance(name, str) or not name or name == "udp":
        raise ConfigError(f"a render pass needs a name other than 'udp' (the network's input), got {name!r}")
    _PASSES[name] = factory


def pass_names() -> list[str]:
    return sorted(_PASSES)


def check_passes(names) -> tuple[str, ...]:
    """The names, in order, each registered and given once (ConfigError naming the valid ones)."""
    names = tuple(names)
    unknown = [n for n in names if n not in _PASSES]
    if unknown:
        raise ConfigError(f"unknown render pass {unknown[0]!r}; valid: {', '.join(pass_names())}")
    if len(set(names)) != len(names):
        raise ConfigError(f"render passes named twice: {', '.join(names)}")
    return names


def create_pass(name: str, ctx, size: int, character: Character) -> RenderPass:
    check_passes([name])
    return _PASSES[name](ctx, size, character)


def _toon(ctx, size: int, character: Character) -> RenderPass:
    """The toon-shaded reference: [H, W, 4] u8 straight RGBA."""
    toon = ToonPass(ctx, size, size)
    try:
        toon.set_character(character)
    except BaseException:
        toon.release()
        raise
    return toon


register_pass("toon", _toon)
