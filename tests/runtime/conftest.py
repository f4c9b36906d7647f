"""Session fixtures for the CoNR runtime tests: the official state dicts of
seed 0 (built once, ~5 s) and the paper model loaded strictly from them."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from .conr_weights import GOLDEN, official_state_dicts


# test_golden's ISA-capped child process reads the parent's state dicts (the same
# values on every CPU) instead of building them again
OFFICIAL_SDS_FILE = "CONRT_TEST_OFFICIAL_SDS"


@pytest.fixture(scope="session")
def official_sds():
    path = os.environ.get(OFFICIAL_SDS_FILE)
    return torch.load(path) if path else official_state_dicts(0)


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


@pytest.fixture(scope="session")
def default_walk_frames():
    """The default runtime at 128² (shipped conr-rt, the sample sheet's exact
    correspondences) and 3 walk frames [(udp [H, W, 4], (sampled, cover, gbuf))]: the
    fusion graph's and the banded fusion's tests shade the same frames (one
    runtime for both files instead of one each)."""
    from conrt.runtime.app.frame_loop import open_runtime

    with open_runtime(size=128, clip="walk", backend="gl-lookup") as rt:
        assert rt.raster.correspondence is not None, "the sample sheet should give exact correspondences"
        frames = []
        for _ in range(3):
            pose = rt.physics.step()
            rt.raster.render(pose, rt.raster.camera(pose))
            frames.append((rt.raster.read().copy(), tuple(x.copy() for x in rt.raster.read_views())))
        yield rt, frames


@pytest.fixture(scope="session")
def fusion_onnx(default_walk_frames, tmp_path_factory):
    """fusion_onnx(keep_seen, inked) -> the default model's whole fusion graph at
    128² for the sheet's views, exported once per variant for the session."""
    from conrt.runtime.backends.gl_lookup_backend import export_fusion_onnx

    rt, frames = default_walk_frames
    model, views = rt.shader.backend.model, frames[0][1][0].shape[0]
    folder, made = tmp_path_factory.mktemp("fusion_onnx"), {}

    def get(keep_seen: bool, inked: bool):
        key = (keep_seen, inked)
        if key not in made:
            made[key] = export_fusion_onnx(model, folder / f"fusion_{keep_seen}_{inked}.onnx", 128, views,
                                           keep_seen, inked)
        return made[key]

    return get
