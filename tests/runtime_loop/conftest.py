"""Fixtures for the runtime frame-loop tests: a small untrained conr-xs (real
network, fast at 64-128 px), a procedural character saved as .glb, a sheet
folder of toon drawings written by the test, headless EGL for GL."""
from __future__ import annotations

import os

import numpy as np
import pytest

SIZE = 64


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    # the CLI picks its GL context from here; tests never need a display
    # (the window test starts its own Xvfb)
    monkeypatch.setenv("CONRT_GL_CONTEXT", "egl")


@pytest.fixture(scope="session")
def xs_model():
    import torch

    from conrt.runtime.nn.model import create_model

    torch.manual_seed(0)
    model = create_model("conr-xs").eval()
    model.conrt_description = "conr-xs (UNTRAINED test model)"
    return model


@pytest.fixture(scope="session")
def xs_weights(xs_model, tmp_path_factory):
    """The same model as a .safetensors file, for the CLI's --weights."""
    from conrt.runtime.nn.checkpoint import save_weights

    return save_weights(xs_model, tmp_path_factory.mktemp("weights") / "xs.safetensors")


@pytest.fixture(scope="session")
def user_character(tmp_path_factory):
    """A user-supplied character: procedural (pants, short hair: cheap physics), saved as .glb."""
    from conrt.characters.gltf_io import save_character
    from conrt.characters.procedural import generate

    path = tmp_path_factory.mktemp("character") / "hero.glb"
    save_character(generate(3, bottom="pants", tails="none", long_hair=False), path)
    return path


@pytest.fixture(scope="session")
def user_sheet(user_character, tmp_path_factory):
    """A sheet folder written by the test: 4 toon views (96 px, not the frame size) as RGBA PNGs."""
    from PIL import Image

    from conrt.runtime.app.frame_loop import RasterStage
    from conrt.runtime.app.session import load_character_source

    folder = tmp_path_factory.mktemp("sheet")
    raster = RasterStage(load_character_source(user_character), 96, context="egl")
    try:
        views = raster.draw_sheet(4)
    finally:
        raster.close()
    for k, v in enumerate(views):
        Image.fromarray(v, "RGBA").save(folder / f"view_{k:02d}.png")
    return folder


def coverage(rgba_u8: np.ndarray) -> float:
    return float((rgba_u8[..., 3] > 0).mean())
