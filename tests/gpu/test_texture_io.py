"""The texture-layout adapter must not change what the graph computes:
checked with ONNX Runtime on the CPU, on the real per-frame export too."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conrt.errors import ConfigError
from conrt.runtime.backends.gpu.onnx_checks import check_onnx_for_tensorrt
from conrt.runtime.backends.gpu.texture_io import add_texture_io

from .conftest import warpnet_inputs


def to_tex(nchw: np.ndarray, rows: str = "top-first") -> np.ndarray:
    """[N, C, H, W] row 0 = top  ->  [N, H, W, C] texture memory (rows="gl": bottom row first)."""
    nhwc = nchw.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(nhwc[:, ::-1] if rows == "gl" else nhwc)


def from_tex(nhwc: np.ndarray, rows: str = "top-first") -> np.ndarray:
    return np.ascontiguousarray((nhwc[:, ::-1] if rows == "gl" else nhwc).transpose(0, 3, 1, 2))


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("rows", ["top-first", "gl"])
def test_adapter_is_exact_on_warpnet(warpnet_onnx, rows):
    plain = onnx.load(str(warpnet_onnx))
    tex = add_texture_io(plain, rows=rows)
    onnx.checker.check_model(tex, full_check=True)
    assert [i.name for i in tex.graph.input] == ["udp_gl", "reference"]
    assert [o.name for o in tex.graph.output] == ["rgba_gl"]
    dims = [d.dim_value or d.dim_param for d in tex.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 64, 64, 4]
    assert check_onnx_for_tensorrt(tex) == []  # the added Slice/Transpose are TensorRT-friendly
    assert ("Slice" in {n.op_type for n in tex.graph.node[:5]}) == (rows == "gl")

    udp, ref = (t.numpy() for t in warpnet_inputs())
    want = session(plain).run(None, {"udp": udp, "reference": ref})[0]
    got = session(tex).run(None, {"udp_gl": to_tex(udp, rows), "reference": ref})[0]
    assert got.shape == (1, 64, 64, 4)
    np.testing.assert_array_equal(from_tex(got, rows), want)
    # The row order really matters (the picture is not symmetric): feeding the other order differs.
    other = "gl" if rows == "top-first" else "top-first"
    wrong = session(tex).run(None, {"udp_gl": to_tex(udp, other), "reference": ref})[0]
    assert not np.allclose(from_tex(wrong, rows), want)


def test_adapter_on_the_real_export(real_export):
    from conrt.runtime.backends.onnx_backend import example_inputs, input_names

    path, model = real_export
    plain = onnx.load(str(path))
    tex = add_texture_io(plain)
    assert check_onnx_for_tensorrt(tex) == []
    feeds = {n: t.numpy() for n, t in zip(input_names(model), example_inputs(model, model.cfg.size_multiple))}
    want = session(plain).run(["rgba"], feeds)[0]
    feeds["udp_gl"] = to_tex(feeds.pop("udp"))
    got = session(tex).run(["rgba_gl"], feeds)[0]
    np.testing.assert_allclose(from_tex(got), want, rtol=0, atol=1e-6)


def test_adapter_errors_name_the_graph(warpnet_onnx):
    plain = onnx.load(str(warpnet_onnx))
    with pytest.raises(ConfigError, match="no input 'pose'.*udp, reference"):
        add_texture_io(plain, udp_input="pose")
    with pytest.raises(ConfigError, match="no output 'image'"):
        add_texture_io(plain, rgba_output="image")
    with pytest.raises(ConfigError, match="must be 4D NCHW"):
        add_texture_io(plain, udp_input="reference", rgba_output=None)
    with pytest.raises(ConfigError, match="row order 'bottom'.*top-first, gl"):
        add_texture_io(plain, rows="bottom")
