"""conrt.runtime.backends.gpu — the NVIDIA path: TensorRT engines and CUDA–OpenGL interop.

Everything here imports TensorRT and pycuda lazily, inside the functions that
need them, so this package imports (and its pure parts run) on any machine.
See docs/gpu.md.
"""
from conrt.runtime.backends.gpu.engine_cache import EngineCache, EngineKey, default_cache_dir, onnx_digest
from conrt.runtime.backends.gpu.onnx_checks import Problem, check_onnx_for_tensorrt, require_tensorrt_ready
from conrt.runtime.backends.gpu.profiles import MAX_VIEWS, ProfileSpec, ShapeRange, input_ranges, make_profile

__all__ = [
    "EngineCache", "EngineKey", "default_cache_dir", "onnx_digest",
    "Problem", "check_onnx_for_tensorrt", "require_tensorrt_ready",
    "MAX_VIEWS", "ProfileSpec", "ShapeRange", "input_ranges", "make_profile",
]
