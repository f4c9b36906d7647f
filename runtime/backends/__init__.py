"""Inference backends: ``create_backend(name, model, **options)``; ``auto`` = the
available backend of highest priority that runs the model.

Each backend module registers itself (``@register_backend``); adding one is a
new module here plus its import line below (docs/architecture.md).
"""
from .base import (Backend, available_backends, backend_names, create_backend, get_backend_class,
                   preference, register_backend, registered_backend)
from . import onnx_backend as _onnx  # noqa: F401,E402  (registers 'onnxruntime')
from . import torch_backend as _torch  # noqa: F401,E402  (registers 'torch')
from . import gl_lookup_backend as _gl_lookup  # noqa: F401,E402  (registers 'gl-lookup', lookup models only)
from . import tensorrt_backend as _trt  # noqa: F401,E402  (registers 'tensorrt'; imports TensorRT lazily)

__all__ = ["Backend", "available_backends", "backend_names", "create_backend", "get_backend_class",
           "preference", "register_backend", "registered_backend"]
