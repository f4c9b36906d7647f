"""Inference backends: ``create_backend(name, model)``; ``auto`` = fastest available."""
from .base import (LOOKUP_PREFERENCE, PREFERENCE, Backend, available_backends, backend_names, create_backend,
                   get_backend_class, register_backend)
from . import onnx_backend as _onnx  # noqa: F401  (registers 'onnxruntime')
from . import torch_backend as _torch  # noqa: F401  (registers 'torch')
from . import gl_lookup_backend as _gl_lookup  # noqa: F401  (registers 'gl-lookup', lookup models only)

# A TensorRT backend registers itself here as 'tensorrt' (first in PREFERENCE):
from . import tensorrt_backend as _trt  # noqa: F401,E402  (registers 'tensorrt')

__all__ = ["Backend", "LOOKUP_PREFERENCE", "PREFERENCE", "available_backends", "backend_names", "create_backend",
           "get_backend_class", "register_backend"]
