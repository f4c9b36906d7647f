"""Session fixtures for the CoNR runtime tests: the official state dicts of
seed 0 (built once, ~5 s) and the paper model loaded strictly from them."""
from __future__ import annotations

import numpy as np
import pytest

from .conr_weights import GOLDEN, official_state_dicts


@pytest.fixture(scope="session")
def official_sds():
    return official_state_dicts(0)


@pytest.fixture(scope="session")
def paper_model(official_sds):
    from conrt.runtime.nn.checkpoint import load_parts
    from conrt.runtime.nn.model import create_model

    return load_parts(create_model("conr-paper", empty=True), official_sds).eval()


@pytest.fixture(scope="session")
def golden():
    return dict(np.load(GOLDEN))


@pytest.fixture(scope="session")
def paper_onnx(paper_model, tmp_path_factory):
    """The paper model's per-frame graph at 128 (exported once, ~15 s)."""
    from conrt.runtime.backends.onnx_backend import export_onnx

    return export_onnx(paper_model, tmp_path_factory.mktemp("onnx") / "paper128.onnx", 128)


@pytest.fixture(scope="session")
def paper_safetensors(paper_model, tmp_path_factory):
    """The seed-0 weights in our single-file format (what `conrt convert` writes)."""
    from conrt.runtime.nn.checkpoint import save_weights

    return save_weights(paper_model, tmp_path_factory.mktemp("weights") / "paper.safetensors")


@pytest.fixture(scope="session")
def golden_files(golden, tmp_path_factory):
    """The golden inputs as files: two sheet PNGs and the UDP .npz (key 'i')."""
    from PIL import Image

    d = tmp_path_factory.mktemp("golden")
    sheets = []
    for i, img in enumerate(golden["sheet_rgba_straight_u8"]):
        Image.fromarray(img, "RGBA").save(d / f"view{i}.png")
        sheets.append(d / f"view{i}.png")
    np.savez(d / "pose.npz", i=golden["udp_hwc_f32"])
    return sheets, d / "pose.npz"
