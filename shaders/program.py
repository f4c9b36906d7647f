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
textually with its own ``#line`` markers; errors inside an include name the
include file.
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


def program_path(name: str) -> Path:
    path = GLSL_DIR / f"{name}.glsl"
    if not path.is_file():
        raise ConfigError(f"no GLSL program {name!r} in {GLSL_DIR}; available: {', '.join(available_programs())}")
    return path


def preprocess(path: Path, stage: str, defines: Mapping[str, object] | None = None) -> tuple[str, list[Path]]:
    """Source text for one ``stage`` of the file at ``path`` and the list of
    files indexed by GLSL source-string number (0 = the program file)."""
    files: list[Path] = [path]
    lines = path.read_text().splitlines()
    if not lines or not _VERSION.match(lines[0]):
        raise ShaderCompileError(path, 1, "the first line must be a #version directive")
    head = [lines[0], f"#define {stage} 1"]
    for key, value in (defines or {}).items():
        if not re.fullmatch(r"[A-Za-z_]\w*", str(key)):
            raise ConfigError(f"bad GLSL define name {key!r}")
        head.append(f"#define {key} {_glsl_value(value)}")
    head.append("#line 2 0")  # GLSL >= 3.30: the next line is numbered 2
    body = _expand(lines[1:], 0, 2, files, set())
    return "\n".join(head + body) + "\n", files


def load_program(
    ctx: moderngl.Context,
    name: str,
    defines: Mapping[str, object] | None = None,
    varyings: Sequence[str] = (),
) -> moderngl.Program:
    """Compile and link ``shaders/glsl/<name>.glsl``.

    ``varyings`` names vertex outputs to capture with transform feedback (a
    program with only a vertex stage is then allowed). Raises
    :class:`ShaderCompileError` naming the file and line on failure.
    """
    path = program_path(name)
    text = path.read_text()
    sources: dict[str, str] = {}
    files: list[Path] = [path]
    for stage, kw in STAGES.items():
        if re.search(rf"\bdefined\s*\(?\s*{stage}\b", text):
            sources[kw], files = preprocess(path, stage, defines)
    if "vertex_shader" not in sources:
        raise ShaderCompileError(path, 1, "no `#if defined VERTEX_SHADER` section")
    if "fragment_shader" not in sources and not varyings:
        raise ShaderCompileError(path, 1, "no `#if defined FRAGMENT_SHADER` section (and no transform-feedback varyings)")
    try:
        prog = ctx.program(**sources, varyings=list(varyings))
    except Exception as exc:  # moderngl raises a plain Error with the driver's log
        raise _compile_error(path, files, str(exc)) from exc
    log.debug("compiled %s with %s", path.name, dict(defines or {}))
    return prog


# ---------------------------------------------------------------------------


def _glsl_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _expand(lines: list[str], src: int, first_line: int, files: list[Path], stack: set[Path]) -> list[str]:
    out: list[str] = []
    for offset, line in enumerate(lines):
        m = _INCLUDE.match(line)
        if not m:
            out.append(line)
            continue
        inc = (GLSL_DIR / m.group(1)).resolve()
        here = files[src]
        if not inc.is_file():
            raise ShaderCompileError(here, first_line + offset, f"include file not found: {m.group(1)}")
        if inc in stack:
            raise ShaderCompileError(here, first_line + offset, f"recursive include of {m.group(1)}")
        files.append(inc)
        inc_id = len(files) - 1
        out.append(f"#line 1 {inc_id}")
        out.extend(_expand(inc.read_text().splitlines(), inc_id, 1, files, stack | {inc}))
        out.append(f"#line {first_line + offset + 1} {src}")
    return out


def _compile_error(path: Path, files: list[Path], log_text: str) -> ShaderCompileError:
    for raw in log_text.splitlines():
        for pattern in _LOG_LINE:
            m = pattern.search(raw)
            if m:
                src = int(m.group("src"))
                where = files[src] if src < len(files) else path
                return ShaderCompileError(where, int(m.group("line")), m.group("msg").strip() or log_text.strip())
    return ShaderCompileError(path, 0, log_text.strip())
