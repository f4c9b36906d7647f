"""One-way imports (STYLE "For conrt" 1): shaders/ may use characters, physics
and the boundary types, never the later stages runtime/ or engine_bridge/."""
from __future__ import annotations

import ast
from pathlib import Path

SHADERS = Path(__file__).resolve().parents[2] / "shaders"
LATER = ("conrt.runtime", "conrt.engine_bridge", "conrt.commands", "conrt.cli")


def test_shaders_do_not_import_later_stages():
    offenders = []
    for path in SHADERS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(LATER)]
    assert not offenders, offenders
