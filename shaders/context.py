"""OpenGL contexts for the render passes.

Two kinds, picked by name:

- ``"egl"``: headless, no display needed. Mesa's llvmpipe on CPU machines, the
  NVIDIA driver on GPU machines.
- ``"window"``: a glfw window (hidden unless ``visible=True``), for a live
  preview or machines without EGL. Needs a display (``DISPLAY``/Wayland).

``"auto"`` tries EGL first, then a hidden window. When nothing works a
:class:`~conrt.errors.ContextError` says what is missing and how to get it.
The environment variable ``CONRT_GL_CONTEXT`` overrides ``"auto"``.
"""
from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Literal

import moderngl

from conrt.errors import ConfigError, ContextError

log = logging.getLogger(__name__)

ContextKind = Literal["auto", "egl", "window"]
KINDS = ("auto", "egl", "window")
# GLSL 330 core is all the passes need (texelFetch, integer attributes,
# transform feedback); anything newer is a bonus.
REQUIRED_GL = 330

_EGL_HINT = (
    "install Mesa's EGL/GL drivers (Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1 "
    "libgl1-mesa-dri; or run scripts/setup.sh) or, on a GPU machine, the NVIDIA driver"
)


def create_context(
    kind: ContextKind = "auto",
    *,
    visible: bool = False,
    window_size: tuple[int, int] = (256, 256),
    title: str = "conrt",
) -> moderngl.Context:
    """Create a moderngl context of the given ``kind`` ("auto", "egl", "window").

    For ``"window"`` the glfw window is kept in ``ctx.extra["window"]``; call
    :func:`release_context` to close it together with the context.
    """
    if kind == "auto":
        kind = os.environ.get("CONRT_GL_CONTEXT", "auto") or "auto"  # type: ignore[assignment]
    if kind not in KINDS:
        raise ConfigError(f"unknown GL context kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "egl":
        return _create_egl()
    if kind == "window":
        return _create_window(visible, window_size, title)
    problems = []
    for make in (_create_egl, lambda: _create_window(visible, window_size, title)):
        try:
            return make()
        except ContextError as exc:
            problems.append(str(exc))
            log.debug("GL context attempt failed: %s", exc)
    raise ContextError("no OpenGL context could be created:\n  - " + "\n  - ".join(problems))


def release_context(ctx: moderngl.Context) -> None:
    """Release a context from :func:`create_context` (and its window, if any)."""
    extra = ctx.extra if isinstance(getattr(ctx, "extra", None), dict) else {}
    window = extra.get("window")
    ctx.release()
    if window is not None:
        import glfw  # lazy: optional [window] dependency

        glfw.destroy_window(window)
        extra["window"] = None


def make_current(ctx: moderngl.Context) -> None:
    """Make ``ctx`` the thread's current GL context (and leave it current).

    moderngl's ``with ctx:`` is not used: on exit it restores the context
    that was current before, which for a fresh standalone EGL context is
    "none", silently breaking later raw calls on it."""
    ctx.mglo.__enter__()


def current(method):
    """Decorator for render-pass methods: make the pass's ``self.ctx`` current
    first. moderngl does not switch contexts per call, so without this a pass
    would draw into another context's state after a second context (a GPU
    interop context, another tool's window) was made current in the thread.
    The pass's context stays current afterwards, like any GL make-current."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        ctx = getattr(self, "ctx", None)
        if ctx is None:  # __init__(self, ctx, ...): not stored yet
            ctx = args[0] if args else kwargs["ctx"]
        make_current(ctx)
        return method(self, *args, **kwargs)

    return wrapper


def describe(ctx: moderngl.Context) -> str:
    """One line naming the GL implementation (for logs and benchmark tables)."""
    info = ctx.info
    kind = (ctx.extra or {}).get("kind", "?") if isinstance(ctx.extra, dict) else "?"
    return f"{info.get('GL_RENDERER', '?')} / GL {ctx.version_code} ({kind})"


# ---------------------------------------------------------------------------


def _create_egl() -> moderngl.Context:
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=REQUIRED_GL)
    except Exception as exc:  # moderngl/glcontext raise plain Exceptions
        raise ContextError(f"headless EGL context failed ({exc}); {_EGL_HINT}") from exc
    ctx.extra = {"kind": "egl", "window": None}
    log.debug("EGL context: %s", ctx.info.get("GL_RENDERER"))
    return ctx


def _create_window(visible: bool, size: tuple[int, int], title: str) -> moderngl.Context:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ContextError(
            "a window context needs a display but DISPLAY/WAYLAND_DISPLAY is not set; "
            "run under a display (or xvfb-run) or use the headless kind 'egl'"
        )
    try:
        import glfw  # lazy: optional [window] dependency
    except ImportError as exc:
        raise ContextError("a window context needs glfw: pip install 'conrt[window]'") from exc
    if not glfw.init():
        raise ContextError(f"glfw could not initialise (display {os.environ.get('DISPLAY')!r} unreachable?)")
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
    glfw.window_hint(glfw.VISIBLE, bool(visible))
    window = glfw.create_window(int(size[0]), int(size[1]), title, None, None)
    if not window:
        raise ContextError("glfw could not create an OpenGL 3.3 core window on this display")
    glfw.make_context_current(window)
    try:
        ctx = moderngl.create_context(require=REQUIRED_GL)
    except Exception as exc:
        glfw.destroy_window(window)
        raise ContextError(f"the window's OpenGL context is unusable ({exc})") from exc
    ctx.extra = {"kind": "window", "window": window}
    log.debug("window context: %s", ctx.info.get("GL_RENDERER"))
    return ctx
