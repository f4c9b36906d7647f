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


@pytest.fixture(scope="session")
def turnaround(gl_ctx, character):
    """A front and a side view of the rig drawn in ONE pose (a turnaround,
    ``make_turnaround``: arms and legs turned about random axes, each view
    off its label, rescaled, shifted, limbs stretched, its own ink and size)
    -> ([(framed drawing 256², true UDP framed)], labels)."""
    from conrt.runtime.app.session import fit_sheet_udps
    from conrt.runtime.app.sheet_fit import prepare_drawing
    from conrt.training.fit_drawings import make_turnaround

    labels = [0.0, 90.0]
    views = [(prepare_drawing(d, f"v{k}", 256), fit_sheet_udps([t], [d], 256)[0])
             for k, (d, t, _) in enumerate(make_turnaround(gl_ctx, character, labels, 0))]
    return views, labels


@pytest.fixture(scope="session")
def both_fits(gl_ctx, character, turnaround):
    """The turnaround fitted jointly (with the one-pose check of ``conrt
    fit-sheet``'s auto mode, recorded: ``joint.one_pose_check``) and each view
    separately (256/128): the joint-fit tests compare them, the view-file test
    re-renders them (one set of fits for the session instead of a fit per test)."""
    from conrt.runtime.app.sheet_fit import SheetFitter

    views, labels = turnaround
    names = ["front", "side"]
    with SheetFitter(gl_ctx, character, 256) as fitter:
        joint = JointFits(fitter.fit_joint([d for d, _ in views], names, labels, one_pose="record"))
        joint.one_pose_check = fitter.one_pose_check
        separate = [fitter.fit(d, n, lab) for (d, _), n, lab in zip(views, names, labels)]
    return joint, separate


class JointFits(list):
    """A joint fit's views, with the fitter's ``one_pose_check`` beside them."""

    one_pose_check: dict | None = None


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
