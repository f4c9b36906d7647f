"""Each default is written once: the sample's paths in conrt.samples, the
embedded weights' in runtime/defaults.py (and everything else imports them)."""
from __future__ import annotations

import re
from pathlib import Path

from conrt import samples
from conrt.runtime import defaults
from conrt.runtime.app import session
from conrt.runtime.nn import checkpoint

ROOT = Path(__file__).resolve().parents[1]
CODE = ("conrt", "characters", "physics", "shaders", "runtime", "engine_bridge", "samples", "training",
        "benchmarks", "scripts")
LITERALS = {  # a quoted file name -> the one module that may spell it out
    "sample_character.glb": "samples/__init__.py",
    "conr-default.safetensors": "runtime/defaults.py",
}


def test_each_default_path_is_spelled_out_once():
    hits = {name: [] for name in LITERALS}
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for name in LITERALS:
                if re.search(rf"[\"']{re.escape(name)}[\"']", text):
                    hits[name].append(str(path.relative_to(ROOT)))
    assert hits == {name: [where] for name, where in LITERALS.items()}


def test_everyone_uses_the_same_defaults():
    assert session.SAMPLE_CHARACTER == defaults.SAMPLE_CHARACTER == samples.SAMPLE_CHARACTER
    assert session.SAMPLE_SHEET_DIR == defaults.SAMPLE_SHEET_DIR == samples.SAMPLE_SHEET_DIR
    assert checkpoint.DEFAULT_WEIGHTS == session.DEFAULT_WEIGHTS == defaults.DEFAULT_WEIGHTS
    assert checkpoint.WEIGHTS_DIR == defaults.WEIGHTS_DIR
    assert samples.SAMPLE_CHARACTER.is_file() and defaults.find_default_weights() == defaults.DEFAULT_WEIGHTS
    assert defaults.default_sheet_paths()[0].parent == samples.SAMPLE_SHEET_DIR
