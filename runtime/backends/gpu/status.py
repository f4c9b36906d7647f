"""Can the TensorRT path run here? A probe that never raises and never
imports TensorRT/pycuda unless everything they need is present.

``tensorrt_status()`` answers ``(ok, reason)``; ``reason`` is one sentence
naming exactly what is missing and how to get it, suitable for a log line or
a ``BackendUnavailable`` message. The backend registry's ``auto`` choice and
``TensorRTBackend.is_available()`` both call it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import logging
from dataclasses import dataclass

from conrt.errors import BackendUnavailable

__all__ = ["tensorrt_status", "require_tensorrt", "INSTALL_HINT", "DeviceInfo", "cuda_device_info"]

log = logging.getLogger(__name__)

INSTALL_HINT = "install with `pip install conrt[gpu]` on a machine with an NVIDIA GPU and its driver"


def _have_driver() -> bool:
    # libcuda comes with the NVIDIA driver, not with any pip package.
    if ctypes.util.find_library("cuda"):
        return True
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def _status(device: int) -> tuple[bool, str]:
    missing = []
    if not _have_driver():
        missing.append("the NVIDIA driver (libcuda.so.1 not found)")
    if importlib.util.find_spec("tensorrt") is None:
        missing.append("the `tensorrt` Python package")
    if importlib.util.find_spec("pycuda") is None:
        missing.append("the `pycuda` Python package")
    if missing:
        return False, f"missing {', '.join(missing)}; {INSTALL_HINT}"
    try:
        import pycuda.driver as cuda  # lazy: optional [gpu] dependency
        import tensorrt as trt  # lazy: optional [gpu] dependency

        cuda.init()
        count = cuda.Device.count()
    except Exception as exc:  # broken installs raise anything from ImportError to cuda.Error
        return False, f"TensorRT/pycuda failed to load ({type(exc).__name__}: {exc}); {INSTALL_HINT}"
    if count == 0:
        return False, "the NVIDIA driver reports no CUDA device"
    if not 0 <= device < count:
        return False, f"CUDA device {device} does not exist (found {count})"
    dev = cuda.Device(device)
    major, minor = dev.compute_capability()
    return True, f"TensorRT {trt.__version__} on {dev.name()} (sm_{major}{minor})"


def tensorrt_status(device: int = 0, refresh: bool = False) -> tuple[bool, str]:
    """(ok, reason). Cached per process; ``refresh=True`` probes again."""
    if refresh:
        _status.cache_clear()
    return _status(device)


def require_tensorrt(device: int = 0):
    """Import and return the ``tensorrt`` module, or raise ``BackendUnavailable``."""
    ok, reason = tensorrt_status(device)
    if not ok:
        raise BackendUnavailable(f"TensorRT backend unavailable: {reason}")
    import tensorrt as trt  # lazy: optional [gpu] dependency

    return trt


@dataclass(frozen=True)
class DeviceInfo:
    """One CUDA device as the engine cache keys it."""

    ordinal: int
    name: str
    compute_capability: tuple[int, int]


def cuda_device_info(device: int = 0) -> DeviceInfo:
    require_tensorrt(device)
    import pycuda.driver as cuda  # lazy: optional [gpu] dependency

    dev = cuda.Device(device)
    return DeviceInfo(device, dev.name(), tuple(dev.compute_capability()))
