"""Without CUDA/TensorRT: `auto` falls back to ONNX Runtime with one clear log
line, and asking for `tensorrt` explicitly says what is missing and how to
install it. These run on every machine without a GPU."""
from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from conrt.errors import BackendUnavailable, ConfigError
from conrt.runtime.backends import available_backends, backend_names, create_backend, get_backend_class
from conrt.runtime.backends.tensorrt_backend import TensorRTBackend
from conrt.runtime.backends.gpu.status import require_tensorrt, tensorrt_status

from .conftest import GPU_REASON

no_gpu = pytest.mark.skipif(not GPU_REASON, reason="this machine has CUDA + TensorRT; fallback not exercised")
LOGGER = "conrt.runtime.backends.tensorrt_backend"


@pytest.fixture
def fresh_probe():
    TensorRTBackend.reset_probe()
    yield
    TensorRTBackend.reset_probe()


@pytest.fixture(scope="module")
def xs_model():
    from conrt.runtime.nn.model import create_model

    return create_model("conr-xs")


def test_tensorrt_is_registered():
    assert "tensorrt" in backend_names()


def test_registry_import_does_not_import_tensorrt_or_pycuda():
    code = ("import sys, conrt.runtime.backends, conrt.runtime.backends.gpu; "
            "print('tensorrt' in sys.modules, 'pycuda' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


@no_gpu
def test_status_names_what_is_missing_and_how_to_install():
    ok, reason = tensorrt_status(refresh=True)
    assert ok is False
    assert "pip install conrt[gpu]" in reason and "NVIDIA" in reason
    assert any(part in reason for part in ("libcuda", "`tensorrt`", "`pycuda`"))
    assert tensorrt_status() == (ok, reason)  # cached, same answer


@no_gpu
def test_auto_falls_back_to_the_next_backend_with_one_log_line(fresh_probe, caplog, xs_model):
    from conrt.runtime.backends.base import preference
    from conrt.runtime.backends.tensorrt_backend import _DISPLAY_NAMES

    expected = next(n for n in preference() if n != "tensorrt" and n in available_backends())
    TensorRTBackend.reset_probe()  # available_backends() probed (and announced) already
    with caplog.at_level(logging.DEBUG):
        assert get_backend_class("auto").name == expected
        backend = create_backend("auto", xs_model)
        get_backend_class("auto")
    assert backend.name == expected
    records = [r for r in caplog.records if r.name == LOGGER]
    lines = [r.getMessage() for r in records]
    assert len(lines) == 1, lines
    assert records[0].levelno == logging.DEBUG  # said once, quietly: TensorRT was not asked for
    assert "TensorRT backend unavailable" in lines[0] and _DISPLAY_NAMES[expected] in lines[0] and "'auto'" in lines[0]
    assert "pip install conrt[gpu]" in lines[0]


@no_gpu
def test_explicit_tensorrt_raises_backend_unavailable(fresh_probe, xs_model):
    with pytest.raises(BackendUnavailable, match=r"tensorrt.*pip install conrt\[gpu\].*NVIDIA"):
        get_backend_class("tensorrt")
    with pytest.raises(BackendUnavailable, match=r"pip install conrt\[gpu\]"):
        create_backend("tensorrt", xs_model)
    with pytest.raises(BackendUnavailable, match=r"pip install conrt\[gpu\]"):
        TensorRTBackend().load(xs_model)  # bypassing the registry still fails clearly
    with pytest.raises(BackendUnavailable):
        require_tensorrt()


def test_bad_precision_or_row_order_is_a_config_error():
    with pytest.raises(ConfigError, match="fp16, fp32"):
        TensorRTBackend(precision="int8")
    with pytest.raises(ConfigError, match="top-first, gl"):
        TensorRTBackend(rows="bottom-up")
