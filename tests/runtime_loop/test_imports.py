"""One-way imports (STYLE "For conrt" 1): the frame loop and its helpers in
runtime/ use physics, shaders, characters and the boundary types, never the
later engine_bridge/ or the CLI."""
from __future__ import annotations

import ast
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
FILES = ("frame_loop.py", "session.py", "outputs.py", "profiling.py", "bridge_source.py")
LATER = ("conrt.engine_bridge", "conrt.commands", "conrt.cli")


def test_frame_loop_does_not_import_later_stages():
    offenders = []
    for name in FILES:
        for node in ast.walk(ast.parse((RUNTIME / name).read_text())):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            offenders += [f"{name}: {m}" for m in mods if m.startswith(LATER)]
    assert not offenders, offenders
