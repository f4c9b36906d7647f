"""CUDA–OpenGL interop: UDP texture -> TensorRT -> display texture, no host copy.

Per frame (all on the engine's CUDA stream)::

    map(udp texture, rgba texture)              cuGraphicsMapResources: waits for GL's draws
    udp cudaArray  --Memcpy2D-->  engine "udp_gl" buffer
    execute_async_v3
    engine "rgba_gl" buffer  --Memcpy2D-->  rgba cudaArray
    unmap                                        GL may sample the texture again

The engine was built with texture I/O (``texture_io.add_texture_io``), so
its UDP input and RGBA output are [1, H, W, 4] float32 in the texture's row
order (``UdpPass(rows=...)``, top-first by default) — byte-for-byte the
texture's layout — and each copy is one pitched 2D copy of H rows of W*16
bytes.

Requirements (checked, with clear errors): both textures RGBA32F
(``components=4, dtype="f4"``), the same size as the engine's shapes; the GL
context current on this thread and created on the *same GPU* as the CUDA
context. Headless, that means choosing the EGL device whose
``EGL_CUDA_DEVICE_NV`` is our CUDA ordinal — :func:`egl_device_index_for_cuda`
and :func:`create_gl_context_for_cuda` do that. Mesa (llvmpipe) exposes no
CUDA devices, so on CPU machines they raise ``ContextError`` saying so.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass

import moderngl

from conrt.errors import BackendUnavailable, ConfigError, ContextError, InputError
from conrt.runtime.backends.gpu.status import tensorrt_status

__all__ = [
    "interop_status", "EglDevice", "egl_devices", "egl_device_index_for_cuda", "create_gl_context_for_cuda",
    "check_texture", "TextureInterop",
]

log = logging.getLogger(__name__)

GL_TEXTURE_2D = 0x0DE1
RGBA32F_BYTES = 16  # 4 channels x float32

# EGL enums (EGL_EXT_device_query, EGL_EXT_device_drm, EGL_NV_device_cuda).
EGL_EXTENSIONS = 0x3055
EGL_DRM_DEVICE_FILE_EXT = 0x3233
EGL_CUDA_DEVICE_NV = 0x323A


PYCUDA_GL_HINT = (
    "pycuda's pip build has no OpenGL support; build it from source with GL: "
    "`git clone https://github.com/inducer/pycuda && cd pycuda && python configure.py --cuda-enable-gl "
    "&& pip install .`")


def interop_status() -> tuple[bool, str]:
    """(ok, reason) for the zero-copy path: TensorRT must run and pycuda must
    have been built with OpenGL support (``pycuda.gl``). Never raises."""
    ok, reason = tensorrt_status()
    if not ok:
        return False, reason
    try:
        import pycuda.gl  # noqa: F401  lazy: optional [gpu] (raises ImportError when built without GL)
    except ImportError as exc:
        return False, f"{exc}; {PYCUDA_GL_HINT}"
    return True, "pycuda.gl available"


# ---------------------------------------------------------------------------
# EGL device selection


@dataclass(frozen=True)
class EglDevice:
    index: int  # position in eglQueryDevicesEXT (what glcontext's device_index means)
    extensions: tuple[str, ...]
    drm_file: str | None
    cuda_ordinal: int | None  # EGL_CUDA_DEVICE_NV, NVIDIA driver only


def _egl_lib():
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        return ctypes.CDLL(name)
    except OSError as exc:
        raise ContextError(f"libEGL not found ({exc}); install libegl1 (Mesa) or the NVIDIA driver") from exc


def egl_devices() -> list[EglDevice]:
    """Every EGL device the loader (libglvnd) enumerates, with its CUDA ordinal if any."""
    egl = _egl_lib()
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]

    def proc(name: str, restype, *argtypes):
        addr = egl.eglGetProcAddress(name.encode())
        if not addr:
            raise ContextError(f"{name} is missing: this EGL has no device enumeration (EGL_EXT_device_base)")
        return ctypes.CFUNCTYPE(restype, *argtypes)(addr)

    query_devices = proc("eglQueryDevicesEXT", ctypes.c_uint, ctypes.c_int,
                         ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int))
    query_string = proc("eglQueryDeviceStringEXT", ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)
    query_attrib = proc("eglQueryDeviceAttribEXT", ctypes.c_uint, ctypes.c_void_p, ctypes.c_int,
                        ctypes.POINTER(ctypes.c_ssize_t))
    count = ctypes.c_int(0)
    if not query_devices(0, None, ctypes.byref(count)):
        raise ContextError("eglQueryDevicesEXT failed")
    handles = (ctypes.c_void_p * max(count.value, 1))()
    if not query_devices(count.value, handles, ctypes.byref(count)):
        raise ContextError("eglQueryDevicesEXT failed")
    out = []
    for i in range(count.value):
        ext_raw = query_string(handles[i], EGL_EXTENSIONS) or b""
        exts = tuple(ext_raw.decode(errors="replace").split())
        drm = query_string(handles[i], EGL_DRM_DEVICE_FILE_EXT) if "EGL_EXT_device_drm" in exts else None
        cuda = None
        if "EGL_NV_device_cuda" in exts:
            value = ctypes.c_ssize_t(-1)
            if query_attrib(handles[i], EGL_CUDA_DEVICE_NV, ctypes.byref(value)):
                cuda = int(value.value)
        out.append(EglDevice(i, exts, drm.decode() if drm else None, cuda))
    return out


def egl_device_index_for_cuda(cuda_ordinal: int, devices: list[EglDevice] | None = None) -> int:
    """The EGL device index on the same GPU as CUDA device ``cuda_ordinal``.

    EGL's enumeration order is not CUDA's (and contains software devices),
    so "device 0" in both is a common way to end up with GL on one GPU and
    CUDA on another — interop then fails to register the texture.
    """
    devices = egl_devices() if devices is None else devices
    for d in devices:
        if d.cuda_ordinal == cuda_ordinal:
            return d.index
    seen = "; ".join(f"#{d.index} {d.drm_file or 'no DRM node'} cuda={d.cuda_ordinal}" for d in devices) or "none"
    raise ContextError(
        f"no EGL device is CUDA device {cuda_ordinal} (EGL devices: {seen}); CUDA–GL interop needs the "
        "NVIDIA driver's EGL (EGL_NV_device_cuda) — Mesa/llvmpipe cannot share textures with CUDA")


def create_gl_context_for_cuda(cuda_ordinal: int = 0, require: int = 330):
    """A headless moderngl context on the GPU that CUDA device ``cuda_ordinal`` is."""
    index = egl_device_index_for_cuda(cuda_ordinal)
    try:
        ctx = moderngl.create_context(standalone=True, backend="egl", device_index=index, require=require)
    except Exception as exc:  # moderngl/glcontext raise plain Exceptions
        raise ContextError(f"EGL context on device #{index} (CUDA {cuda_ordinal}) failed: {exc}") from exc
    ctx.extra = {"kind": "egl", "window": None, "egl_device": index, "cuda_device": cuda_ordinal}
    return ctx


# ---------------------------------------------------------------------------
# textures


def check_texture(texture, what: str, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """Raise ConfigError unless ``texture`` is a 2D RGBA32F moderngl texture
    (of ``size`` = (width, height) when given). Returns its (width, height)."""
    components = getattr(texture, "components", None)
    dtype = getattr(texture, "dtype", None)
    if components != 4 or dtype != "f4":
        raise ConfigError(f"the {what} texture must be RGBA32F (components=4, dtype='f4'), "
                          f"got components={components} dtype={dtype!r}")
    if getattr(texture, "samples", 0):
        raise ConfigError(f"the {what} texture is multisampled; CUDA cannot map MSAA textures, resolve it first")
    w, h = texture.size
    if size is not None and (w, h) != tuple(size):
        raise ConfigError(f"the {what} texture is {w}x{h}, expected {size[0]}x{size[1]}")
    return w, h


class TextureInterop:
    """Runs ``engine`` from ``udp_texture`` into ``rgba_texture`` with no host copy.

    ``engine``: a ``TrtEngine`` built with texture I/O whose other inputs
    (sheet features, reference) are already uploaded. The GL context that
    owns the textures must be current, on the engine's GPU.
    """

    def __init__(self, engine, udp_texture, rgba_texture, udp_tensor: str = "udp_gl", rgba_tensor: str = "rgba_gl"):
        w, h = check_texture(udp_texture, "UDP")
        check_texture(rgba_texture, "output", (w, h))
        for name, pool in ((udp_tensor, engine.inputs), (rgba_tensor, engine.outputs)):
            if name not in pool:
                raise ConfigError(f"the engine has no tensor {name!r} ({', '.join(pool)}); "
                                  "build it with texture I/O (build_engine(texture_io=True))")
        shape = engine.shapes.get(udp_tensor)
        if shape is None or tuple(shape[1:]) != (h, w, 4):
            raise InputError(f"engine input {udp_tensor!r} is set to {shape}, the texture needs (1, {h}, {w}, 4); "
                             "call engine.set_shapes() for this size first")
        ok, reason = interop_status()
        if not ok:
            raise BackendUnavailable(f"CUDA–OpenGL interop unavailable: {reason}")
        import pycuda.driver as cuda  # lazy: optional [gpu] dependency
        import pycuda.gl as cudagl  # lazy: optional [gpu] dependency

        self._cuda = cuda
        self.engine, self.size = engine, (w, h)
        self.udp_tensor, self.rgba_tensor = udp_tensor, rgba_tensor
        flags = cudagl.graphics_map_flags
        # READ_ONLY / WRITE_DISCARD let the driver skip syncing data we never read.
        self._udp = cudagl.RegisteredImage(int(udp_texture.glo), GL_TEXTURE_2D, flags.READ_ONLY)
        self._rgba = cudagl.RegisteredImage(int(rgba_texture.glo), GL_TEXTURE_2D, flags.WRITE_DISCARD)
        self._copy_in = self._make_copy(w, h)
        self._copy_out = self._make_copy(w, h)

    def _make_copy(self, w: int, h: int):
        c = self._cuda.Memcpy2D()
        c.width_in_bytes = c.src_pitch = c.dst_pitch = w * RGBA32F_BYTES
        c.height = h
        return c

    def run(self) -> None:
        """One frame: map, copy in, execute, copy out, unmap (all enqueued; GL
        sees the result once it next uses the texture after unmap)."""
        stream = self.engine.stream
        udp_map = self._udp.map(stream)
        try:
            rgba_map = self._rgba.map(stream)
            try:
                self._copy_in.set_src_array(udp_map.array(0, 0))
                self._copy_in.set_dst_device(self.engine.device_ptr(self.udp_tensor))
                self._copy_in(stream)
                self.engine.execute()
                self._copy_out.set_src_device(self.engine.device_ptr(self.rgba_tensor))
                self._copy_out.set_dst_array(rgba_map.array(0, 0))
                self._copy_out(stream)
            finally:
                rgba_map.unmap(stream)
        finally:
            udp_map.unmap(stream)

    def release(self) -> None:
        for reg in (getattr(self, "_udp", None), getattr(self, "_rgba", None)):
            if reg is not None:
                reg.unregister()
        self._udp = self._rgba = None
