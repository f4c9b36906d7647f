"""The embedded default model and its sample sheet work through the runtime API."""
from __future__ import annotations

import numpy as np

from conrt.runtime import encode_sheet, load_weights, read_sheet_image, shade
from conrt.runtime.defaults import default_sheet_paths, default_weights_path
from conrt.runtime.app.session import load_sheet_udps


def test_default_weights_and_sheet_shade_a_udp_frame():
    path = default_weights_path()
    assert path.stat().st_size <= 20 * 1024 * 1024
    model = load_weights(path)
    assert model.cfg.name == "conr-rt" and model.cfg.architecture == "lookup" and model.cfg.image_size == 128
    sheet = [read_sheet_image(p) for p in default_sheet_paths()]
    assert 4 <= len(sheet) <= 8
    for img in sheet:  # straight alpha, cut out, at the demo's frame size (256²; re-framed to 128² here)
        assert img.shape == (256, 256, 4) and img.dtype == np.uint8
        assert 0.02 < (img[..., 3] > 0).mean() < 0.6
    cache = encode_sheet(model, sheet)
    udp = np.zeros((128, 128, 4), np.float32)
    udp[30:100, 50:78] = (0.5, 0.6, 0.5, 1.0)  # a block of body
    out = shade(model, udp, cache)
    assert out.shape == (128, 128, 4) and np.isfinite(out).all()
    assert (out[..., :3] <= out[..., 3:4] + 1e-5).all()  # premultiplied


def test_default_sheet_ships_its_udps_and_they_improve_the_default_model():
    """The sample sheet was rendered from the sample character, so its views'
    UDPs are exact; with them the default (lookup) model reproduces a view
    posed like the sheet better than from its own UDP prediction."""
    model = load_weights(default_weights_path())
    sheet = [read_sheet_image(p) for p in default_sheet_paths()]
    udps = load_sheet_udps(default_sheet_paths()[0].parent)
    assert udps is not None and len(udps) == len(sheet)
    target = udps[0]
    want = sheet[0].astype(np.float32) / 255
    want = np.concatenate([want[..., :3] * want[..., 3:], want[..., 3:]], -1)
    exact = shade(model, target, encode_sheet(model, sheet, sheet_udp=udps))
    predicted = shade(model, target, encode_sheet(model, sheet))
    assert np.abs(exact - want).mean() < np.abs(predicted - want).mean()
    assert np.abs(exact - want).mean() < 0.02


def test_shipped_fast_model_loads_by_name_and_shades_the_sample_view():
    """`--weights conr-rt-fast` resolves to runtime/weights/conr-rt-fast.safetensors
    everywhere a weights path is taken; it is trained (reproduces a sheet view
    posed like the sheet from the sheet's UDPs), and a wrong name lists the shipped ones."""
    import pytest

    from conrt.errors import CheckpointError
    from conrt.runtime.nn.checkpoint import embedded_weights, list_embedded_weights, resolve_model
    from conrt.runtime.nn.config import get_config
    from conrt.runtime.app.session import load_model_source

    assert {"conr-default", "conr-rt-fast"} <= set(list_embedded_weights())
    assert embedded_weights("conr-rt-fast").stat().st_size <= 20 * 1024 * 1024
    assert embedded_weights("runtime/weights/conr-rt-fast") is None  # names only, never paths
    model, desc = load_model_source("conr-rt-fast")
    assert model.cfg.name == "conr-rt-fast" and "conr-rt-fast" in desc
    assert model.cfg.lookup == get_config("conr-rt-fast").lookup  # the shipped file fits the shipped config
    assert resolve_model("conr-rt-fast").cfg.name == "conr-rt-fast"
    with pytest.raises(CheckpointError, match="conr-rt-fast"):
        load_model_source("conr-rt-fastest")
    sheet = [read_sheet_image(p) for p in default_sheet_paths()]
    udps = load_sheet_udps(default_sheet_paths()[0].parent)
    want = sheet[0].astype(np.float32) / 255
    want = np.concatenate([want[..., :3] * want[..., 3:], want[..., 3:]], -1)
    out = shade(model, udps[0], encode_sheet(model, sheet, sheet_udp=udps))
    assert np.abs(out - want).mean() < 0.02


def test_an_existing_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    """find_weights is the one rule behind --weights: a file or folder that
    exists is taken as given; only otherwise is the argument a shipped name."""
    from pathlib import Path

    from conrt.runtime.nn.checkpoint import embedded_weights, find_weights

    monkeypatch.chdir(tmp_path)
    assert find_weights("conr-rt-fast") == embedded_weights("conr-rt-fast")
    (tmp_path / "conr-rt-fast").mkdir()  # e.g. a folder of official .pth files the user named so
    assert find_weights("conr-rt-fast") == Path("conr-rt-fast")
    assert find_weights("missing.safetensors") == Path("missing.safetensors")
