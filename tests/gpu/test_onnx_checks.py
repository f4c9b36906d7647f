"""The pre-build checks on real ONNX graphs: what passes, and named problems for what TensorRT rejects."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conrt.errors import ConfigError
from conrt.runtime.backends.gpu.onnx_checks import MIN_OPSET, check_onnx_for_tensorrt, require_tensorrt_ready


def codes(problems):
    return sorted({p.code for p in problems})


def test_gridsample_instancenorm_opset17_passes(warpnet_onnx):
    model = onnx.load(str(warpnet_onnx))
    ops = {n.op_type for n in model.graph.node}
    assert {"GridSample", "InstanceNormalization"} <= ops  # the test graph really has them
    assert check_onnx_for_tensorrt(warpnet_onnx) == []
    require_tensorrt_ready(warpnet_onnx)  # no raise


def test_unsupported_ops_are_named(unsupported_onnx):
    problems = check_onnx_for_tensorrt(unsupported_onnx)
    assert codes(problems) == ["resize-mode", "unsupported-op"]
    det = [p for p in problems if p.code == "unsupported-op"]
    assert len(det) == 1 and "Det" in det[0].message and det[0].node
    assert "cubic" in str([p for p in problems if p.code == "resize-mode"][0])
    with pytest.raises(ConfigError, match=r"2 problem\(s\)[\s\S]*unsupported-op"):
        require_tensorrt_ready(unsupported_onnx)


def test_old_opset_is_named(old_opset_onnx):
    problems = check_onnx_for_tensorrt(old_opset_onnx)
    assert codes(problems) == ["opset"]
    assert "16" in problems[0].message and str(MIN_OPSET) in problems[0].message


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_dynamic_rank_is_named():
    # Reshape to a runtime shape of runtime length: the output rank is unknowable.
    model = _model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape_by_input")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4]),
         helper.make_tensor_value_info("shape", TensorProto.INT64, ["k"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    problems = check_onnx_for_tensorrt(model)
    assert "dynamic-rank" in codes(problems)
    assert any(p.node == "reshape_by_input" for p in problems if p.code == "dynamic-rank")


def test_input_without_shape_and_unnamed_dim():
    model = _model(
        [helper.make_node("Relu", ["a"], ["c"]), helper.make_node("Relu", ["b"], ["d"])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, None])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("d", TensorProto.FLOAT, [1, None])],
    )
    problems = check_onnx_for_tensorrt(model)
    assert {(p.code, p.node) for p in problems} >= {("dynamic-rank", "a"), ("unnamed-dynamic-dim", "b")}


def test_instancenorm_scale_must_be_an_initializer():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])
    bias = numpy_helper.from_array(np.zeros(2, np.float32), "bias")
    computed = _model([helper.make_node("Relu", ["s"], ["scale"]),
                       helper.make_node("InstanceNormalization", ["x", "scale", "bias"], ["y"], name="in0")],
                      [x, s], [y], [bias])
    problems = check_onnx_for_tensorrt(computed)
    assert [(p.code, p.node) for p in problems] == [("instancenorm-scale", "in0")]
    # Identity of an initializer (what the exporter emits for deduplicated weights) is fine.
    scale = numpy_helper.from_array(np.ones(2, np.float32), "scale0")
    via_identity = _model([helper.make_node("Identity", ["scale0"], ["scale"]),
                           helper.make_node("InstanceNormalization", ["x", "scale", "bias"], ["y"])],
                          [x], [y], [bias, scale])
    assert check_onnx_for_tensorrt(via_identity) == []


def test_gridsample_5d_and_float64_and_custom_domain():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4, 4])
    grid = helper.make_tensor_value_info("grid", TensorProto.FLOAT, [1, 4, 4, 4, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4, 4])
    d = helper.make_tensor_value_info("d", TensorProto.DOUBLE, [1, 2, 4, 4, 4])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2, 4, 4, 4])
    g = helper.make_graph(
        [helper.make_node("GridSample", ["x", "grid"], ["y"], name="gs3d"),
         helper.make_node("Cast", ["y"], ["d"], to=TensorProto.DOUBLE),
         helper.make_node("MyWarp", ["x"], ["z"], domain="com.example", name="plugin")],
        "g", [x, grid], [y, d, z])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("com.example", 1)])
    got = {(p.code, p.node) for p in check_onnx_for_tensorrt(model)}
    assert ("gridsample-rank", "gs3d") in got
    assert ("dtype", "d") in got
    assert ("custom-domain", "plugin") in got


def test_unreadable_file_is_a_config_error(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ConfigError, match="not a readable ONNX"):
        check_onnx_for_tensorrt(bad)
    with pytest.raises(ConfigError, match="not found"):
        check_onnx_for_tensorrt(tmp_path / "missing.onnx")


def test_real_per_frame_export_passes(real_export):
    path, _ = real_export
    model = onnx.load(str(path))
    assert "GridSample" in {n.op_type for n in model.graph.node}
    assert check_onnx_for_tensorrt(path) == []
