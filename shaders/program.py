"""Loading GLSL programs from ``shaders/glsl/``.

One file per program. Stages are selected by the preprocessor:

    #version 330 core
    #if defined VERTEX_SHADER
    ...
    #elif defined FRAGMENT_SHADER
    ...
    #endif

The loader compiles every stage whose name appears in the file, putting
``#define <STAGE>`` and the caller's defines right after ``#version`` followed
by a ``#line`` reset, so compiler messages keep the file's own line numbers.
``#include "include/x.glsl"`` (path relative to ``shaders/glsl/``) is expanded
textually; compiler messages are mapped back, so an error inside an include
names the include file and its line.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Mapping, Sequence

import moderngl

from conrt.errors import ConfigError, ShaderCompileError

log = logging.getLogger(__name__)

GLSL_DIR = Path(__file__).parent / "glsl"
STAGES = {
    "VERTEX_SHADER": "vertex_shader",
    "GEOMETRY_SHADER": "geometry_shader",
    "FRAGMENT_SHADER": "fragment_shader",
}
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')
_VERSION = re.compile(r"^\s*#\s*version\b")
# Compiler log formats: Mesa "0:12(5): error: ...", NVIDIA "0(12) : error C...",
# ANGLE/others "ERROR: 0:12: ...".
_LOG_LINE = [
    re.compile(r"(?P<src>\d+):(?P<line>\d+)\(\d+\)\s*:\s*(?P<msg>.*)"),
    re.compile(r"(?P<src>\d+)\((?P<line>\d+)\)\s*:\s*(?P<msg>.*)"),
    re.compile(r"ERROR:\s*(?P<src>\d+):(?P<line>\d+):\s*(?P<msg>.*)"),
]


def available_programs() -> list[str]:
    return sorted(p.stem for p in GLSL_DIR.glob("*.glsl"))


def program_path(name: str | Path) -> Path:
    """``shaders/glsl/<name>.glsl``; a ``Path`` (or a name ending in .glsl) is used as given."""
    if isinstance(name, Path) or str(name).endswith(".glsl"):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"no GLSL file at {path}")
        return path
    path = GLSL_DIR / f"{name}.glsl"
    if not path.is_file():
        raise ConfigError(f"no GLSL program {name!r} in {GLSL_DIR}; available: {', '.join(available_programs())}")
    return path


def preprocess(
    path: Path, stage: str, defines: Mapping[str, object] | None = None
) -> tuple[str, list[tuple[Path, int]]]:
    """Source text for one ``stage`` of the file at ``path``, and where each
    body line came from: ``origin[k]`` is the (file, line) of compiler line
    ``k + 2`` (the ``#line 2`` reset follows the header)."""
    lines = path.read_text().splitlines()
    if not lines or not _VERSION.match(lines[0]):
        raise ShaderCompileError(path, 1, "the first line must be a #version directive")
    head = [lines[0], f"#define {stage} 1"]
    for key, value in (defines or {}).items():
        if not re.fullmatch(r"[A-Za-z_]\w*", str(key)):
            raise ConfigError(f"bad GLSL define name {key!r}")
        head.append(f"#define {key} {_glsl_value(value)}")
    head.append("#line 2")  # GLSL >= 3.30: the next line is numbered 2
    body: list[str] = []
    origin: list[tuple[Path, int]] = []
    _expand(path, lines[1:], 2, body, origin, set())
    return "\n".join(head + body) + "\n", origin


def load_program(
    ctx: moderngl.Context,
    name: str | Path,
    defines: Mapping[str, object] | None = None,
    varyings: Sequence[str] = (),
) -> moderngl.Program:
    """Compile and link ``shaders/glsl/<name>.glsl`` (or the file ``name`` if a Path).

    ``varyings`` names vertex outputs to capture with transform feedback (a
    program with only a vertex stage is then allowed). Raises
    :class:`ShaderCompileError` naming the file and line on failure.
    """
    path = program_path(name)
    text = path.read_text()
    sources: dict[str, str] = {}
    origins: dict[str, list[tuple[Path, int]]] = {}  # per stage: compiler line -> (file, line)
    for stage, kw in STAGES.items():
        if re.search(rf"\bdefined\s*\(?\s*{stage}\b", text):
            sources[kw], origins[kw] = preprocess(path, stage, defines)
    if "vertex_shader" not in sources:
        raise ShaderCompileError(path, 1, "no `#if defined VERTEX_SHADER` section")
    if "fragment_shader" not in sources and not varyings:
        raise ShaderCompileError(path, 1, "no `#if defined FRAGMENT_SHADER` section (and no transform-feedback varyings)")
    try:
        prog = ctx.program(**sources, varyings=list(varyings))
    except Exception as exc:  # moderngl raises a plain Error with the driver's log
        raise _compile_error(path, origins, str(exc)) from exc
    log.debug("compiled %s with %s", path.name, dict(defines or {}))
    return prog


# ---------------------------------------------------------------------------


def _glsl_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _expand(path: Path, lines: list[str], first_line: int, body: list[str],
            origin: list[tuple[Path, int]], stack: set[Path]) -> None:
    # Includes are spliced in without #line markers: a #line inside a group the
    # preprocessor skips (the other stage's #if branch) would be ignored and
    # shift every later number, so lines are mapped back through `origin`.
    for offset, line in enumerate(lines):
        m = _INCLUDE.match(line)
        if not m:
            body.append(line)
            origin.append((path, first_line + offset))
            continue
        inc = (GLSL_DIR / m.group(1)).resolve()
        if not inc.is_file():
            raise ShaderCompileError(path, first_line + offset, f"include file not found: {m.group(1)}")
        if inc in stack:
            raise ShaderCompileError(path, first_line + offset, f"recursive include of {m.group(1)}")
        _expand(inc, inc.read_text().splitlines(), 1, body, origin, stack | {inc})


def _compile_error(path: Path, origins: dict[str, list[tuple[Path, int]]], log_text: str) -> ShaderCompileError:
    # moderngl heads each stage's log with its keyword ("vertex_shader", ...).
    origin: list[tuple[Path, int]] = []
    for raw in log_text.splitlines():
        if raw.strip() in origins:
            origin = origins[raw.strip()]
            continue
        for pattern in _LOG_LINE:
            m = pattern.search(raw)
            if m:
                k = int(m.group("line")) - 2
                where, line = origin[k] if 0 <= k < len(origin) else (path, int(m.group("line")))
                return ShaderCompileError(where, line, m.group("msg").strip() or log_text.strip())
    return ShaderCompileError(path, 0, log_text.strip())
