"""The texture-layout adapter must not change what the graph computes:
checked with ONNX Runtime on the CPU, on the real per-frame export too."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conrt.errors import ConfigError
from conrt.runtime.gpu.onnx_checks import check_onnx_for_tensorrt
from conrt.runtime.gpu.texture_io import add_texture_io

from .conftest import warpnet_inputs


def to_gl(nchw: np.ndarray) -> np.ndarray:
    """[N, C, H, W] row 0 = top  ->  [N, H, W, C] rows bottom-up (a GL texture's memory)."""
    return np.ascontiguousarray(nchw.transpose(0, 2, 3, 1)[:, ::-1])


def from_gl(nhwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(nhwc[:, ::-1].transpose(0, 3, 1, 2))


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_adapter_is_exact_on_warpnet(warpnet_onnx):
    plain = onnx.load(str(warpnet_onnx))
    gl = add_texture_io(plain)
    onnx.checker.check_model(gl, full_check=True)
    assert [i.name for i in gl.graph.input] == ["udp_gl", "reference"]
    assert [o.name for o in gl.graph.output] == ["rgba_gl"]
    dims = [d.dim_value or d.dim_param for d in gl.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 64, 64, 4]
    assert check_onnx_for_tensorrt(gl) == []  # the added Slice/Transpose are TensorRT-friendly

    udp, ref = (t.numpy() for t in warpnet_inputs())
    want = session(plain).run(None, {"udp": udp, "reference": ref})[0]
    got = session(gl).run(None, {"udp_gl": to_gl(udp), "reference": ref})[0]
    assert got.shape == (1, 64, 64, 4)
    np.testing.assert_array_equal(from_gl(got), want)
    assert not np.array_equal(got, to_gl(want)[:, ::-1])  # the flip really happens (image not symmetric)


def test_adapter_without_flip_only_transposes(warpnet_onnx):
    plain = onnx.load(str(warpnet_onnx))
    gl = add_texture_io(plain, flip_rows=False)
    udp, ref = (t.numpy() for t in warpnet_inputs())
    want = session(plain).run(None, {"udp": udp, "reference": ref})[0]
    got = session(gl).run(None, {"udp_gl": np.ascontiguousarray(udp.transpose(0, 2, 3, 1)), "reference": ref})[0]
    np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), want)


def test_adapter_on_the_real_export(real_export):
    from conrt.runtime.backends.onnx_backend import example_inputs, input_names

    path, model = real_export
    plain = onnx.load(str(path))
    gl = add_texture_io(plain)
    assert check_onnx_for_tensorrt(gl) == []
    feeds = {n: t.numpy() for n, t in zip(input_names(model), example_inputs(model, model.cfg.size_multiple))}
    want = session(plain).run(["rgba"], feeds)[0]
    feeds["udp_gl"] = to_gl(feeds.pop("udp"))
    got = session(gl).run(["rgba_gl"], feeds)[0]
    np.testing.assert_allclose(from_gl(got), want, rtol=0, atol=1e-6)


def test_adapter_errors_name_the_graph(warpnet_onnx):
    plain = onnx.load(str(warpnet_onnx))
    with pytest.raises(ConfigError, match="no input 'pose'.*udp, reference"):
        add_texture_io(plain, udp_input="pose")
    with pytest.raises(ConfigError, match="no output 'image'"):
        add_texture_io(plain, rgba_output="image")
    with pytest.raises(ConfigError, match="must be 4D NCHW"):
        add_texture_io(plain, udp_input="reference", rgba_output=None)
