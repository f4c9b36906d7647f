"""Engine build: everything before TensorRT (argument and graph validation,
progress reporting, cache keys) runs here; the build itself is a GPU test."""
from __future__ import annotations

import onnx
import pytest

from conrt.errors import BackendUnavailable, ConfigError
from conrt.runtime.backends.gpu.build import (BuildProgress, build_engine_cli, check_profile_fits_graph, engine_key,
                                     graph_input_dims, prepare_graph)
from conrt.runtime.backends.gpu.profiles import make_profile
from conrt.runtime.backends.gpu.status import DeviceInfo, tensorrt_status

from .conftest import GPU_REASON


def test_progress_reports_top_level_phases_in_10_percent_steps():
    lines = []
    p = BuildProgress(report=lines.append)
    p.phase_start("Building engine", None, 20)
    p.phase_start("Tactic timing", "Building engine", 7)
    for i in range(7):
        assert p.step_complete("Tactic timing", i) is True
    p.phase_finish("Tactic timing")
    for i in range(20):
        p.step_complete("Building engine", i)
    p.phase_finish("Building engine")
    text = [line.split("] ", 1)[1] for line in lines]
    assert text[0] == "Building engine (20 steps)"
    assert text[1:11] == [f"Building engine: {pct}%" for pct in range(10, 101, 10)]
    assert text[-1] == "Building engine done"
    assert not any("Tactic" in t for t in text)  # nested phases stay quiet
    assert p.lines == lines


def test_progress_cancel_asks_tensorrt_to_stop():
    p = BuildProgress(report=lambda _: None)
    p.phase_start("Building engine", None, 3)
    assert p.step_complete("Building engine", 0)
    p.cancel()
    assert p.step_complete("Building engine", 1) is False


def test_prepare_graph_tags_the_transformation(warpnet_onnx):
    tex, tag = prepare_graph(warpnet_onnx)
    _, gl_tag = prepare_graph(warpnet_onnx, rows="gl")
    plain, plain_tag = prepare_graph(warpnet_onnx, texture_io=False)
    assert len({tag, gl_tag, plain_tag}) == 3
    assert list(graph_input_dims(tex)) == ["udp_gl", "reference"]
    assert graph_input_dims(plain) == {"udp": [1, 4, 64, 64], "reference": [1, "views", 4, 64, 64]}


def test_engine_key_differs_with_texture_io(warpnet_onnx):
    dev = DeviceInfo(0, "NVIDIA L4", (8, 9))
    prof = make_profile(sizes=[64], size_multiple=64)
    a = engine_key(warpnet_onnx, "plain", "fp16", prof, "10.3.0", dev)
    b = engine_key(warpnet_onnx, "texture_io:udp,rgba,top-first", "fp16", prof, "10.3.0", dev)
    c = engine_key(warpnet_onnx, "texture_io:udp,rgba,gl", "fp16", prof, "10.3.0", dev)
    assert len({a.digest(), b.digest(), c.digest()}) == 3
    assert a == engine_key(warpnet_onnx, "plain", "fp16", prof, "10.3.0", dev)


def test_fixed_size_graph_rejects_other_sizes(warpnet_onnx):
    dims = graph_input_dims(onnx.load(str(warpnet_onnx)))
    check_profile_fits_graph(dims, make_profile(sizes=[64], size_multiple=64))
    with pytest.raises(ConfigError, match="exported at 64x64.*128x128"):
        check_profile_fits_graph(dims, make_profile(sizes=[64, 128], size_multiple=64))


@pytest.mark.parametrize("kwargs, match", [
    (dict(precision="int8"), "int8"),
    (dict(views=(1, 12)), r"outside 1\.\.8"),
    (dict(sizes=[128]), "exported at 64x64"),
    (dict(rows="upside-down"), "row order"),
])
def test_cli_validates_before_touching_tensorrt(warpnet_onnx, tmp_path, kwargs, match):
    args = dict(precision="fp16", views=(1, 8), sizes=[64], cache_dir=tmp_path) | kwargs
    with pytest.raises(ConfigError, match=match):
        build_engine_cli(warpnet_onnx, **args)


def test_cli_rejects_graphs_tensorrt_cannot_parse(unsupported_onnx, tmp_path):
    with pytest.raises(ConfigError, match="unsupported-op.*Det"):
        build_engine_cli(unsupported_onnx, "fp16", 1, [128], tmp_path)


def test_cli_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        build_engine_cli(tmp_path / "nope.onnx", "fp16", (1, 8), [256], tmp_path)


@pytest.mark.skipif(not GPU_REASON, reason="this machine has TensorRT; the GPU tests cover the build")
def test_cli_without_tensorrt_says_what_is_missing(warpnet_onnx, tmp_path):
    with pytest.raises(BackendUnavailable, match=r"pip install conrt\[gpu\]"):
        build_engine_cli(warpnet_onnx, "both", (1, 8), [64], tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written
    assert tensorrt_status()[0] is False


def test_reexporting_the_same_model_hits_the_same_cache_key(real_export, tmp_path):
    """TensorRTBackend re-exports the graph on every start; the engine cache
    only helps if that export is byte-stable."""
    import warnings

    from conrt.runtime.backends.onnx_backend import export_onnx
    from conrt.runtime.backends.gpu.engine_cache import onnx_digest

    path, model = real_export
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = export_onnx(model, tmp_path / "again.onnx", model.cfg.size_multiple)
    assert onnx_digest(again) == onnx_digest(path)


@pytest.mark.skipif(not GPU_REASON, reason="this machine has TensorRT; the GPU tests cover the build")
def test_cli_on_the_real_export_gets_as_far_as_tensorrt(real_export, tmp_path):
    """What `conrt export --tensorrt` will call: every GPU-free step passes on
    the real graph (checks, texture I/O, profile), then TensorRT is missing."""
    path, model = real_export
    side = model.cfg.size_multiple
    with pytest.raises(BackendUnavailable, match=r"pip install conrt\[gpu\]"):
        build_engine_cli(path, "both", (1, 8), [side], tmp_path, size_multiple=model.cfg.size_multiple)
    with pytest.raises(ConfigError, match="exported at"):
        build_engine_cli(path, "fp16", (1, 8), [side * 2], tmp_path, size_multiple=model.cfg.size_multiple)
