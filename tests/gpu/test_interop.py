"""Interop checks that run without a GPU: EGL device matching (on the real EGL
here, which is Mesa) and texture validation on real moderngl textures."""
from __future__ import annotations

import pytest

from conrt.errors import ConfigError, ContextError
from conrt.runtime.backends.gpu.interop import (EglDevice, check_texture, create_gl_context_for_cuda, egl_device_index_for_cuda,
                                       egl_devices)


def _devices():
    try:
        return egl_devices()
    except ContextError as exc:
        pytest.skip(f"no EGL device enumeration here: {exc}")


def test_egl_devices_enumerate_with_extensions():
    devices = _devices()
    assert devices, "EGL reported zero devices"
    assert [d.index for d in devices] == list(range(len(devices)))
    assert all(d.extensions for d in devices)


def test_cuda_match_picks_the_right_index_not_the_first():
    # EGL order differs from CUDA order on multi-GPU machines (and software devices come along).
    devices = [EglDevice(0, ("EGL_MESA_device_software",), None, None),
               EglDevice(1, ("EGL_NV_device_cuda",), "/dev/dri/card1", 1),
               EglDevice(2, ("EGL_NV_device_cuda",), "/dev/dri/card0", 0)]
    assert egl_device_index_for_cuda(0, devices) == 2
    assert egl_device_index_for_cuda(1, devices) == 1
    with pytest.raises(ContextError, match="no EGL device is CUDA device 3"):
        egl_device_index_for_cuda(3, devices)


def test_mesa_has_no_cuda_device_and_says_so():
    devices = _devices()
    if any(d.cuda_ordinal is not None for d in devices):
        pytest.skip("this machine has an NVIDIA EGL device")
    with pytest.raises(ContextError, match="EGL_NV_device_cuda"):
        egl_device_index_for_cuda(0, devices)
    with pytest.raises(ContextError, match="no EGL device is CUDA device 0"):
        create_gl_context_for_cuda(0)


@pytest.fixture(scope="module")
def gl():
    moderngl = pytest.importorskip("moderngl")
    try:
        ctx = moderngl.create_standalone_context(backend="egl")
    except Exception as exc:  # no EGL/GL here
        pytest.skip(f"no headless GL context: {exc}")
    yield ctx
    ctx.release()


def test_rgba32f_textures_pass(gl):
    tex = gl.texture((64, 32), 4, dtype="f4")
    assert check_texture(tex, "UDP") == (64, 32)
    assert check_texture(tex, "output", (64, 32)) == (64, 32)
    tex.release()


@pytest.mark.parametrize("components, dtype", [(4, "f1"), (3, "f4"), (4, "f2")])
def test_other_formats_are_rejected(gl, components, dtype):
    tex = gl.texture((16, 16), components, dtype=dtype)
    with pytest.raises(ConfigError, match="RGBA32F"):
        check_texture(tex, "UDP")
    tex.release()


def test_size_mismatch_and_msaa_are_rejected(gl):
    tex = gl.texture((64, 64), 4, dtype="f4")
    with pytest.raises(ConfigError, match="64x64, expected 32x32"):
        check_texture(tex, "output", (32, 32))
    tex.release()
    if gl.max_samples >= 2:
        ms = gl.texture((16, 16), 4, dtype="f4", samples=2)
        with pytest.raises(ConfigError, match="multisampled"):
            check_texture(ms, "UDP")
        ms.release()


def test_interop_status_without_gpu_gives_the_tensorrt_reason():
    from conrt.runtime.backends.gpu.interop import interop_status
    from conrt.runtime.backends.gpu.status import tensorrt_status

    ok, reason = interop_status()
    if tensorrt_status()[0]:
        pytest.skip("TensorRT runs here; interop status depends on the pycuda build")
    assert ok is False and reason == tensorrt_status()[1]
