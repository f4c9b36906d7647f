"""Run a TensorRT 10 engine on a CUDA stream (pycuda for memory and streams).

``TrtEngine`` owns one execution context, one stream and one device buffer
per I/O tensor. The per-character tensors (sheet features, reference RGBA)
are uploaded once with :meth:`upload` and stay on the device; per frame only
the UDP changes (from the host with :meth:`upload`, or from a GL texture via
``interop.TextureInterop`` without touching the host).

Everything is enqueued on ``self.stream``: ``execute_async_v3`` then returns
immediately and the copies around it are ordered by the stream alone.
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np

from conrt.errors import BackendUnavailable, InputError
from conrt.runtime.backends.gpu.profiles import ShapeRange, check_shapes_in_profile
from conrt.runtime.backends.gpu.status import require_tensorrt

__all__ = ["TrtEngine"]

log = logging.getLogger(__name__)


class TrtEngine:
    """A deserialized plan ready to run. Use as a context manager or call :meth:`release`."""

    def __init__(self, plan: bytes, device: int = 0):
        trt = require_tensorrt(device)
        import pycuda.driver as cuda  # lazy: optional [gpu] dependency

        self._trt, self._cuda = trt, cuda
        cuda.init()
        # The primary context is the one TensorRT (CUDA runtime API) uses, so
        # pycuda allocations and TensorRT share one context.
        self._ctx = cuda.Device(device).retain_primary_context()
        self._ctx.push()
        try:
            self._logger = trt.Logger(trt.Logger.WARNING)
            self.runtime = trt.Runtime(self._logger)
            self.engine = self.runtime.deserialize_cuda_engine(plan)
            if self.engine is None:
                raise BackendUnavailable(
                    "TensorRT could not load the cached engine (built by another TensorRT version or GPU?); "
                    "delete it or rebuild with `conrt export --tensorrt`")
            self.context = self.engine.create_execution_context()
            self.stream = cuda.Stream()
        except BaseException:
            self._ctx.pop()
            raise
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.inputs = [n for n in names if is_input[n]]
        self.outputs = [n for n in names if not is_input[n]]
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        # Profile 0 is the only one conrt builds.
        self.ranges = {
            n: ShapeRange(*(tuple(s) for s in self.engine.get_tensor_profile_shape(n, 0))) for n in self.inputs
        }
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._buffers: dict[str, tuple[object, int]] = {}  # name -> (DeviceAllocation, capacity bytes)
        self._host_out: dict[str, np.ndarray] = {}
        self._host_in: dict[str, np.ndarray] = {}

    # -- shapes and buffers ----------------------------------------------------
    def set_shapes(self, shapes: Mapping[str, Sequence[int]]) -> None:
        """Fix the input shapes (views, size); (re)allocates buffers only when they grow."""
        shapes = {k: tuple(int(d) for d in v) for k, v in shapes.items()}
        if shapes == {k: self.shapes.get(k) for k in shapes} and len(shapes) == len(self.inputs):
            return
        check_shapes_in_profile(shapes, self.ranges)
        for name, shape in shapes.items():
            if not self.context.set_input_shape(name, shape):
                raise InputError(f"TensorRT rejected shape {shape} for input {name!r}")
            self.shapes[name] = shape
        for name in self.outputs:
            self.shapes[name] = tuple(self.context.get_tensor_shape(name))
        for name in self.inputs + self.outputs:
            nbytes = int(np.prod(self.shapes[name])) * self.dtypes[name].itemsize
            buf, cap = self._buffers.get(name, (None, 0))
            if nbytes > cap:
                if buf is not None:
                    buf.free()
                buf, cap = self._cuda.mem_alloc(max(nbytes, 1)), nbytes
                self._buffers[name] = (buf, cap)
            self.context.set_tensor_address(name, int(buf))

    def device_ptr(self, name: str) -> int:
        if name not in self._buffers:
            raise InputError(f"no device buffer for {name!r} yet; call set_shapes() first")
        return int(self._buffers[name][0])

    # -- host transfers (the non-interop path) -----------------------------------
    def upload(self, name: str, array: np.ndarray) -> None:
        """Copy a host array into an input buffer (async on the stream)."""
        if name not in self.inputs:
            raise InputError(f"{name!r} is not an engine input; inputs: {', '.join(self.inputs)}")
        want = self.shapes.get(name)
        if want is None or tuple(array.shape) != want:
            raise InputError(f"{name!r} has shape {tuple(array.shape)}, set_shapes() fixed it to {want}")
        # Async copies need page-locked sources that live until the stream
        # reaches them: one staging buffer per input, reused every frame.
        # (The host path is synchronous per frame anyway; the interop path
        # never comes here.)
        self.stream.synchronize()  # an earlier copy out of the buffer must be done
        staging = self._host_in.get(name)
        if staging is None or staging.shape != want:
            staging = self._cuda.pagelocked_empty(want, self.dtypes[name])
            self._host_in[name] = staging
        np.copyto(staging, array, casting="same_kind")
        self._cuda.memcpy_htod_async(self.device_ptr(name), staging, self.stream)

    def execute(self) -> None:
        """Enqueue one inference on the stream (returns before it finishes)."""
        if not self.context.execute_async_v3(self.stream.handle):
            raise BackendUnavailable("TensorRT execute_async_v3 failed (see the TensorRT log)")

    def download(self, name: str) -> np.ndarray:
        """Copy an output to the host and wait for the stream."""
        if name not in self.outputs:
            raise InputError(f"{name!r} is not an engine output; outputs: {', '.join(self.outputs)}")
        shape = self.shapes[name]
        host = self._host_out.get(name)
        if host is None or host.shape != shape:
            host = self._cuda.pagelocked_empty(shape, self.dtypes[name])
            self._host_out[name] = host
        self._cuda.memcpy_dtoh_async(host, self.device_ptr(name), self.stream)
        self.stream.synchronize()
        return host.copy()

    def synchronize(self) -> None:
        self.stream.synchronize()

    # -- lifetime --------------------------------------------------------------
    def release(self) -> None:
        if getattr(self, "_ctx", None) is None:
            return
        self.stream.synchronize()
        for buf, _ in self._buffers.values():
            buf.free()
        self._buffers.clear()
        self.context = self.engine = self.runtime = None
        self._ctx.pop()
        self._ctx.detach()
        self._ctx = None

    def __enter__(self) -> "TrtEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
