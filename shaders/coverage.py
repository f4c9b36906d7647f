"""Anti-aliased edges by supersampled coverage (``glsl/coverage_resolve.glsl``).

A pass with ``antialias=k`` (k > 1) draws at k x its output size and reduces
each k x k block: alpha = the fraction of covered samples (smooth silhouettes),
UDP landmarks from the covered sample nearest the pixel centre (never blended
with the background), toon colour as the mean of the covered samples. Use an
odd k: the centre sample then sits exactly on the pixel centre, so a fully
covered pixel keeps the value the pass writes without anti-aliasing.
"""
from __future__ import annotations

import moderngl

from conrt.errors import ConfigError
from conrt.shaders.program import load_program

MAX_FACTOR = 5
MODES = {"udp": 0, "color": 1}


def check_factor(antialias) -> int:
    """The supersampling factor, 1 (off) .. MAX_FACTOR."""
    if isinstance(antialias, bool) or int(antialias) != antialias or not 1 <= int(antialias) <= MAX_FACTOR:
        raise ConfigError(f"antialias must be an integer in 1..{MAX_FACTOR} (samples per pixel side; "
                          f"1 = off, 3 recommended), got {antialias!r}")
    return int(antialias)


class CoverageResolve:
    """``CoverageResolve(ctx, "udp" | "color", factor)``; ``run(samples, fbo)`` draws
    the reduced picture of the ``samples`` texture into ``fbo`` (the output size)."""

    def __init__(self, ctx: moderngl.Context, mode: str, factor: int):
        if mode not in MODES:
            raise ConfigError(f"unknown resolve mode {mode!r}; choose one of {', '.join(MODES)}")
        self.ctx = ctx
        self.factor = check_factor(factor)
        self.program = load_program(ctx, "coverage_resolve")
        self.program["u_mode"].value = MODES[mode]
        self.program["u_factor"].value = self.factor
        self._vao = ctx.vertex_array(self.program, [])

    def run(self, samples: moderngl.Texture, fbo: moderngl.Framebuffer, size: tuple[int, int]) -> None:
        fbo.use()
        fbo.viewport = (0, 0, *size)
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND)
        samples.use(0)
        self.program["u_samples"].value = 0
        self._vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        self._vao.release()
        self.program.release()
