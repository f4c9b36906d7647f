"""Fixtures of the fit-sheet tests (the EGL context is tests/conftest.py's gl_ctx): an unseen procedural
character (seed 900001) as a .glb, and synthetic drawings of it with their
true UDP (conrt.training.fit_drawings)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

SEED = 900001


@pytest.fixture(scope="session")
def character_file(tmp_path_factory):
    from conrt.characters.gltf_io import save_character
    from conrt.characters.procedural import generate

    path = tmp_path_factory.mktemp("fit_character") / f"char_{SEED}.glb"
    save_character(generate(SEED), path)
    return path


@pytest.fixture(scope="session")
def character(character_file):
    from conrt.commands.udp import load_character_file

    return load_character_file(character_file)


@pytest.fixture(scope="session")
def drawings(gl_ctx, character, tmp_path_factory):
    """A folder with two drawings (front labelled 0° in sheet.json, one from
    behind without a label) -> (folder, {stem: (drawing, true UDP, truth)})."""
    from conrt.training.fit_drawings import make_drawing

    folder = tmp_path_factory.mktemp("drawings")
    made = {}
    for stem, label, seed in (("front", 0.0, 11), ("pose_b", 180.0, 12)):
        drawing, true_udp, truth = make_drawing(gl_ctx, character, label, seed)
        Image.fromarray(drawing, "RGBA").save(folder / f"{stem}.png")
        made[stem] = (drawing, true_udp, truth)
    (folder / "sheet.json").write_text(json.dumps({"views": [{"file": "front.png", "yaw": 0.0}]}))
    return folder, made


def bad_drawing(drawing: np.ndarray, kind: str) -> np.ndarray:
    """``drawing`` made bad the way the bad-input tests need: ``opaque`` (no
    transparent background), ``blank`` (nothing drawn), ``tiny`` (30 x 48 px)."""
    if kind == "opaque":
        bad = drawing.copy()
        bad[..., 3] = 255
        return bad
    if kind == "blank":
        return np.zeros_like(drawing)
    if kind == "tiny":
        return np.asarray(Image.fromarray(drawing, "RGBA").resize((30, 48)))
    raise ValueError(f"unknown bad drawing {kind!r}")
