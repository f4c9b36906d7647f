"""GPU tests: real TensorRT builds and CUDA–GL interop. They skip (with the
reason) on machines without an NVIDIA GPU, the driver, TensorRT and pycuda.

Tolerances against ONNX Runtime / torch (the reference, STYLE item 7):
FP32 engines 1e-4 absolute, FP16 engines 2e-2 absolute on 0..1 outputs.
"""
from __future__ import annotations

import numpy as np
import pytest

from conrt.runtime.backends.gpu.build import build_engine
from conrt.runtime.backends.gpu.engine_cache import EngineCache
from conrt.runtime.backends.gpu.profiles import make_profile

from .conftest import requires_gpu, warpnet_inputs

pytestmark = [pytest.mark.gpu, requires_gpu]

TOL = {"fp32": 1e-4, "fp16": 2e-2}


def _to_tex(nchw):  # default rows="top-first": texture memory is NHWC, row 0 = top
    return np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))


def _from_tex(nhwc):
    return np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))


def _ort(path, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["rgba"], feeds)[0]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_matches_onnxruntime_and_is_cached(warpnet_onnx, tmp_path, precision):
    from conrt.runtime.backends.gpu.engine import TrtEngine

    cache = EngineCache(tmp_path)
    profile = make_profile(views=(1, 8), sizes=[64], size_multiple=64)
    lines = []
    path = build_engine(warpnet_onnx, precision=precision, profile=profile, cache=cache, report=lines.append)
    assert path.is_file() and lines, "a first build reports progress"
    lines.clear()
    assert build_engine(warpnet_onnx, precision=precision, profile=profile, cache=cache, report=lines.append) == path
    assert len(lines) == 1 and "cache hit" in lines[0]  # second call: no build
    assert list(tmp_path.glob("timing-*.cache"))

    with TrtEngine(path.read_bytes()) as engine:
        assert engine.inputs == ["udp_gl", "reference"] and engine.outputs == ["rgba_gl"]
        for views in (1, 3, 8):
            udp, ref = (t.numpy() for t in warpnet_inputs(64, views))
            engine.set_shapes({"udp_gl": (1, 64, 64, 4), "reference": ref.shape})
            engine.upload("reference", ref)
            engine.upload("udp_gl", _to_tex(udp))
            engine.execute()
            got = _from_tex(engine.download("rgba_gl"))
            want = _ort(warpnet_onnx, {"udp": udp, "reference": ref})
            np.testing.assert_allclose(got, want, atol=TOL[precision], rtol=0)


def test_tensorrt_backend_matches_onnxruntime_backend(tmp_path):
    from conrt.runtime.backends import create_backend
    from conrt.runtime.nn.model import create_model

    model = create_model("conr-xs").eval()
    rng = np.random.default_rng(0)
    size = model.cfg.image_size
    views = []
    for _ in range(2):
        img = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
        img[..., 3] = 0
        img[size // 8:-size // 8, size // 4:-size // 4, 3] = 255
        views.append(img)
    udp = rng.random((size, size, 4), dtype=np.float32)
    ref = create_backend("onnxruntime", model)
    ref.encode_sheet(views)
    trt_backend = create_backend("tensorrt", model, precision="fp32", cache_dir=tmp_path)
    trt_backend.encode_sheet(views)
    try:
        np.testing.assert_allclose(trt_backend.shade(udp), ref.shade(udp), atol=TOL["fp32"], rtol=0)
    finally:
        trt_backend.release()


def test_texture_interop_equals_host_path(warpnet_onnx, tmp_path):
    from conrt.runtime.backends.gpu.engine import TrtEngine
    from conrt.runtime.backends.gpu.interop import TextureInterop, create_gl_context_for_cuda, interop_status

    ok, reason = interop_status()
    if not ok:
        pytest.skip(reason)

    path = build_engine(warpnet_onnx, precision="fp32", profile=make_profile(views=(1, 8), sizes=[64], size_multiple=64),
                        cache=EngineCache(tmp_path))
    ctx = create_gl_context_for_cuda(0)  # GL on the CUDA device's GPU, current on this thread
    udp, ref = (t.numpy() for t in warpnet_inputs(64, 2))
    with TrtEngine(path.read_bytes()) as engine:
        engine.set_shapes({"udp_gl": (1, 64, 64, 4), "reference": ref.shape})
        engine.upload("reference", ref)
        udp_tex = ctx.texture((64, 64), 4, _to_tex(udp)[0].tobytes(), dtype="f4")  # as UdpPass(rows="top-first")
        out_tex = ctx.texture((64, 64), 4, dtype="f4")
        interop = TextureInterop(engine, udp_tex, out_tex)
        try:
            interop.run()
            engine.synchronize()
            got = np.frombuffer(out_tex.read(), np.float32).reshape(1, 64, 64, 4)
        finally:
            interop.release()
    want = _ort(warpnet_onnx, {"udp": udp, "reference": ref})
    np.testing.assert_allclose(_from_tex(got), want, atol=TOL["fp32"], rtol=0)
    ctx.release()
