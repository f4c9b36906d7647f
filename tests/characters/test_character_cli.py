"""``conrt character new|info`` as a real process."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from conrt.characters.gltf_io import load_character
from conrt.characters.procedural import generate


def _conrt(*args):
    return subprocess.run([sys.executable, "-m", "conrt.cli", *args], capture_output=True, text=True, timeout=120)


def test_new_and_info(tmp_path):
    out = tmp_path / "char.glb"
    r = _conrt("character", "new", "--seed", "7", "--set", "bottom=skirt", "--set", "tails=twin",
               "--set", "long_hair=true", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "triangles" in r.stdout
    c = load_character(out)
    ref = generate(7, bottom="skirt", tails="twin", long_hair=True)
    np.testing.assert_array_equal(c.mesh.positions, ref.mesh.positions)
    assert {r.name for r in c.regions} >= {"skirt", "hair_L", "hair_R"}
    r = _conrt("character", "info", str(out), "--joints")
    assert r.returncode == 0, r.stderr
    for word in ("vertices", "triangles", "joints", "regions", "box", "skirt", "hair_L_0", "leftUpperArm"):
        assert word in r.stdout, word


def test_errors_are_clear(tmp_path):
    r = _conrt("character", "new", "--seed", "1", "--set", "tails=braids", "-o", str(tmp_path / "x.glb"))
    assert r.returncode == 1 and "tails must be one of" in r.stderr
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"not a gltf at all")
    r = _conrt("character", "info", str(bad))
    assert r.returncode == 1 and "not a glTF" in r.stderr
    assert not (tmp_path / "x.glb").exists()


def test_new_many(tmp_path):
    r = _conrt("character", "new", "--seed", "3", "--count", "2", "-o", str(tmp_path / "many"))
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (tmp_path / "many").iterdir())
    assert files == ["char_000003.glb", "char_000004.glb"]
    c = load_character(tmp_path / "many" / "char_000004.glb")
    np.testing.assert_array_equal(c.mesh.positions, generate(4).mesh.positions)
    r = _conrt("character", "new", "--seed", "3", "--count", "2", "-o", str(tmp_path / "x.glb"))
    assert r.returncode == 1 and "must be a directory" in r.stderr
