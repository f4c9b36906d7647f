"""`conrt export --tensorrt` on a machine without TensorRT: the ONNX file is
written, then the engine build fails with one clear error naming what is missing."""
import pytest

from conrt.cli import main
from conrt.runtime.backends.gpu.status import tensorrt_status


@pytest.mark.skipif(tensorrt_status()[0], reason="TensorRT is available here; the GPU tests build real engines")
def test_export_tensorrt_without_tensorrt_says_what_is_missing(tmp_path, caplog):
    out = tmp_path / "xs.onnx"
    rc = main(["export", "--config", "conr-xs", "-o", str(out), "--tensorrt", "--precision", "fp32"])
    assert rc == 1
    assert out.is_file() and out.stat().st_size > 0
    assert "pip install conrt[gpu]" in caplog.text
