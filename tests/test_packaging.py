"""The pyproject package list must cover every code folder (a wheel built from
it would otherwise silently miss modules)."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_code_folder_is_a_listed_package():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir = cfg["package-dir"]
    listed = set(cfg["packages"])
    found = set()
    for pkg, folder in package_dir.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if any(part.startswith((".", "_")) or part == "tests" for part in rel.parts):
                continue
            found.add(".".join([pkg, *rel.parts]))
    assert found <= listed, f"add these to [tool.setuptools] packages: {sorted(found - listed)}"


def test_cli_lists_commands():
    from conrt.cli import build_parser

    help_text = build_parser().format_help()
    assert "COMMAND" in help_text
