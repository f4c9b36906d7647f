"""Imports go one way along the data flow (README "Layout"): a stage may use
the boundary types and the stages before it, never a later one; only the CLI
and the sample engine (apps) wire stages together. Every .py file of every
folder is checked, imports inside functions included.

runtime/ is layered inside too (docs/architecture.md): its limits and
defaults, then the networks (nn/), the inference backends (backends/), and
the assembly of a runtime (app/); each may import only the ones before it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# package (as mapped into the package, pyproject package-dir) -> layer; a
# module may import its own layer and those below it (the longest prefix decides)
LAYERS = {
    "conrt": (0,),  # boundary types, errors, limits (conrt.cli/commands: see APPS)
    "conrt.samples": (0,),  # data files and their paths (the sample engine: see APPS)
    "conrt.characters": (1,),
    "conrt.physics": (2,),
    "conrt.shaders": (3,),
    "conrt.runtime.limits": (4, 0),  # runtime/: its limits and defaults,
    "conrt.runtime.defaults": (4, 0),
    "conrt.runtime.nn": (4, 1),  # the shader networks, weights, the sheet encoder,
    "conrt.runtime": (4, 1),  # (the package's facade re-exports nn)
    "conrt.runtime.backends": (4, 2),  # inference backends (and their TensorRT helpers, backends/gpu/),
    "conrt.runtime.app": (4, 3),  # a runtime put together: spec, builder, stages, sessions, bridge source
    "conrt.engine_bridge": (5,),
    "conrt.training": (6,),
}
APPS = ("conrt.cli", "conrt.commands", "conrt.__main__", "conrt.samples.engine_sample")
FOLDERS = {"conrt": "conrt", "characters": "conrt.characters", "physics": "conrt.physics",
           "shaders": "conrt.shaders", "runtime": "conrt.runtime", "engine_bridge": "conrt.engine_bridge",
           "samples": "conrt.samples", "training": "conrt.training"}


def _layer(module: str) -> tuple | None:
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
                module_ = ".".join(base + ([node.module] if node.module else []))
            else:
                module_ = node.module
            # each imported name, which may be a module ("from .. import limits")
            yield from (f"{module_}.{a.name}" for a in node.names)


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
    assert _offenders(src, "conrt.shaders.fake") == ["conrt.runtime.sheet", "conrt.engine_bridge.shm"]
    assert _offenders(src, "conrt.commands.fake") == []  # apps wire stages together


def test_runtime_layers_are_checked(tmp_path):
    """Inside runtime/: nn must not import backends or app, backends must not import app."""
    src = tmp_path / "fake.py"
    src.write_text("from ..backends import create_backend\nfrom ..app.session import load_sheet\n"
                   "from .. import limits\nfrom .model import ShaderNet\n"
                   "def f():\n    from conrt.runtime.app import frame_loop\n")
    assert _offenders(src, "conrt.runtime.nn.fake") == [
        "conrt.runtime.backends.create_backend", "conrt.runtime.app.session.load_sheet", "conrt.runtime.app.frame_loop"]
    assert _offenders(src, "conrt.runtime.backends.fake") == [
        "conrt.runtime.app.session.load_sheet", "conrt.runtime.app.frame_loop"]
    assert _offenders(src, "conrt.runtime.app.fake") == []
    assert _layer("conrt.runtime.limits") < _layer("conrt.runtime.nn.sheet") < _layer("conrt.runtime.backends.gpu.build") \
        < _layer("conrt.runtime.app.frame_loop") < _layer("conrt.engine_bridge.server")


# imports inside functions hide the graph; one stays only where it must be lazy
# (torch/moderngl/pybullet off `conrt --help`, optional dependencies, a path that
# does not need a heavy module) and says so on its line: `# lazy: why`.
# training/ and runtime/nn/lookup_net.py were being reworked in parallel (#14).
LAZY_EXEMPT = ("training/", "runtime/nn/lookup_net.py")


def _function_imports(path: Path):
    tree = ast.parse(path.read_text())
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node.lineno


def test_every_import_inside_a_function_says_why_it_is_lazy():
    unexplained = set()
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            if rel.startswith(LAZY_EXEMPT):
                continue
            lines = path.read_text().split("\n")
            unexplained |= {f"{rel}:{n}: {lines[n - 1].strip()}" for n in _function_imports(path)
                            if "lazy:" not in lines[n - 1]}
    assert not unexplained, "move these to the module's top, or say `# lazy: why`:\n" + "\n".join(sorted(unexplained))
