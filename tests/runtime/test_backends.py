"""Backends: registry, ONNX export, ONNX Runtime equals torch (<= 1e-4)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from .conr_weights import fill
from conrt.errors import ConfigError, InputError
from conrt.runtime.backends import (available_backends, backend_names, create_backend,
                                    get_backend_class)
from conrt.runtime.backends.onnx_backend import example_inputs, export_onnx, input_names
from conrt.runtime.nn.model import create_model

TOL = 1e-4


def float32_backends(model) -> list[str]:
    """Every backend that runs ``model`` here, but TensorRT (fp16 by default: tests/gpu
    compares it with its own tolerance)."""
    return [n for n in available_backends(model) if n != "tensorrt"]


@pytest.fixture(scope="module")
def small():
    model = create_model("conr-xs").eval()
    model.load_state_dict({k: torch.from_numpy(fill(k, v.shape, 2)) for k, v in model.state_dict().items()})
    return model


def test_registry():
    assert {"torch", "onnxruntime"} <= set(backend_names())
    assert set(available_backends()) >= {"torch", "onnxruntime"}
    assert get_backend_class("auto").name == available_backends()[0]
    with pytest.raises(ConfigError, match="valid: auto"):
        get_backend_class("cuda-magic")


@pytest.fixture(scope="module")
def small_onnx(small, tmp_path_factory):
    return export_onnx(small, tmp_path_factory.mktemp("onnx") / "xs.onnx", 128, views=2)


def test_export_graph_contract(small, small_onnx, tmp_path):
    m = onnx.load(str(small_onnx))
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert any(n.op_type == "GridSample" for n in m.graph.node)
    names = [i.name for i in m.graph.input]
    assert names == input_names(small)
    ref = next(i for i in m.graph.input if i.name == "reference")
    assert ref.type.tensor_type.shape.dim[1].dim_param == "views"
    with pytest.raises(InputError, match="multiple of 64"):
        export_onnx(small, tmp_path / "bad.onnx", 96)


def test_onnxruntime_equals_torch_on_small_config(small, small_onnx):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(small_onnx), providers=["CPUExecutionProvider"])
    for views in (1, 3):  # dynamic view axis: other counts than at export
        inp = example_inputs(small, 128, views)
        with torch.inference_mode():
            want = small.render(small.encode_pose(inp[0]), inp[1], list(inp[2:])).numpy()
        got = sess.run(["rgba"], {n: t.numpy() for n, t in zip(input_names(small), inp)})[0]
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


def test_backends_agree_through_shade(small, small_onnx):
    rng = np.random.default_rng(0)
    views = []
    for _ in range(2):
        img = rng.integers(0, 256, (128, 128, 4), dtype=np.uint8)
        img[..., 3] = 0
        img[20:100, 40:90, 3] = 255
        views.append(img)
    udp = rng.random((128, 128, 4), dtype=np.float32)
    out = {}
    names = float32_backends(small)
    assert {"torch", "onnxruntime"} <= set(names)
    for name in names:
        kwargs = {"onnx_path": small_onnx} if name == "onnxruntime" else {}
        with create_backend(name, small, **kwargs) as backend:
            backend.encode_sheet(views)
            out[name] = backend.shade(udp)
    for name in names:
        np.testing.assert_allclose(out[name], out["torch"], atol=TOL, rtol=0, err_msg=name)
    backend = create_backend("torch", small)
    with pytest.raises(InputError, match="no character sheet"):
        backend.shade(udp)


def test_golden_through_backends(paper_model, paper_onnx, golden):
    """Each backend with its default options (torch: channels_last + Winograd) reproduces
    the golden frame and leaves the caller's model as it was (the backends copy what they change)."""
    before = {k: v.clone() for k, v in paper_model.state_dict().items()}
    for name in float32_backends(paper_model):
        kwargs = {"onnx_path": paper_onnx} if name == "onnxruntime" else {}
        with create_backend(name, paper_model, **kwargs) as backend:
            backend.encode_sheet(list(golden["sheet_rgba_straight_u8"]), official=True)
            out = backend.shade(golden["udp_hwc_f32"])
        np.testing.assert_allclose(out.transpose(2, 0, 1)[None], golden["rgba"], atol=TOL, rtol=0, err_msg=name)
    after = paper_model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not any(type(m).__name__ == "WinogradConv2d" for m in paper_model.modules())


def test_phase_deconvs_equal_conv_transpose():
    """The export's ConvTranspose rewrite computes the same, including gradients' shapes."""
    from conrt.runtime.nn.conr_v1 import DecoderBlock, with_phase_deconvs
    import copy

    torch.manual_seed(0)
    block = DecoderBlock(6, 5, 8, 1, 2).eval()
    fast = with_phase_deconvs(copy.deepcopy(block))
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in fast.modules())
    x = torch.randn(3, 6, 16, 24)
    np.testing.assert_allclose(fast(x).detach().numpy(), block(x).detach().numpy(), atol=1e-5)


def test_onnxruntime_caches_the_exported_graph(small):
    import os
    from pathlib import Path

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    img[..., 3] = 0
    img[10:50, 20:40, 3] = 255
    first = create_backend("onnxruntime", small)
    first.encode_sheet([img])
    graphs = list((Path(os.environ["CONRT_CACHE_DIR"]) / "onnx").glob("conr-xs-64-*.onnx"))
    assert len(graphs) == 1
    # the same file (an export writes a new one in its place; a use only touches its time: GraphCache)
    stamp = graphs[0].stat().st_ino
    second = create_backend("onnxruntime", small)
    second.encode_sheet([img, img])  # another view count: the same graph (dynamic views)
    assert graphs[0].stat().st_ino == stamp
    udp = rng.random((64, 64, 4), dtype=np.float32)
    assert second.shade(udp).shape == (64, 64, 4)
