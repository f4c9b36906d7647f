"""benchmarks/gpu.py runs on any machine and says what it skipped."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from .conftest import GPU_REASON

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not GPU_REASON, reason="GPU machine: the benchmark would really run (minutes)")
def test_benchmark_skips_gpu_parts_clearly(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "benchmarks" / "gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--json", str(tmp_path / "gpu.json"), "--sizes", "256", "--views", "1"]) == 0
    out = capsys.readouterr().out
    assert "TensorRT:         SKIPPED" in out and "pip install conrt[gpu]" in out
    assert "nothing measured" in out
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert result["rows"] == [] and "tensorrt-fp16" in result["skipped"]
