"""Imports go one way along the data flow (README "Layout"): a stage may use
the boundary types and the stages before it, never a later one; only the CLI
and the sample engine (apps) wire stages together. Every .py file of every
folder is checked, imports inside functions included."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# folder (as mapped into the package, pyproject package-dir) -> layer; a
# module may import its own layer and those below it
LAYERS = {
    "conrt": 0,  # boundary types, errors, limits (conrt.cli/commands: see APPS)
    "conrt.samples": 0,  # data files and their paths (the sample engine: see APPS)
    "conrt.characters": 1,
    "conrt.physics": 2,
    "conrt.shaders": 3,
    "conrt.runtime": 4,
    "conrt.engine_bridge": 5,
    "conrt.training": 6,
}
APPS = ("conrt.cli", "conrt.commands", "conrt.__main__", "conrt.samples.engine_sample")
FOLDERS = {"conrt": "conrt", "characters": "conrt.characters", "physics": "conrt.physics",
           "shaders": "conrt.shaders", "runtime": "conrt.runtime", "engine_bridge": "conrt.engine_bridge",
           "samples": "conrt.samples", "training": "conrt.training"}


def _layer(module: str) -> int | None:
    """The layer of a conrt module; None for apps (which may import anything)."""
    if module.startswith(APPS):
        return None
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return LAYERS[best]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:-1]]
    if path.stem != "__init__":
        parts.append(path.stem)
    return ".".join(parts)


def _imports(path: Path, module: str):
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            elif node.module:
                yield node.module


def _offenders(path: Path, module: str) -> list[str]:
    own = _layer(module)
    if own is None:
        return []
    return [name for name in _imports(path, module)
            if name.startswith("conrt") and (_layer(name) is None or _layer(name) > own)]


def test_every_folder_imports_only_earlier_stages():
    offenders, checked = [], 0
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            module = _module_name(path)
            checked += 1
            offenders += [f"{path.relative_to(ROOT)} imports {name}" for name in _offenders(path, module)]
    assert checked > 80  # every folder was walked
    assert not offenders, "\n".join(offenders)


def test_the_rule_catches_backwards_imports(tmp_path):
    """The checker itself: absolute, relative and in-function imports of a later stage are named."""
    src = tmp_path / "fake.py"
    src.write_text("from conrt.types import Pose\nfrom . import camera\n"
                   "def f():\n    from ..runtime import sheet\n    import conrt.engine_bridge.shm\n")
    assert _offenders(src, "conrt.shaders.fake") == ["conrt.runtime", "conrt.engine_bridge.shm"]
    assert _offenders(src, "conrt.commands.fake") == []  # apps wire stages together
