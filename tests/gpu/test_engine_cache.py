"""Engine cache keys: stable, and different whenever anything a plan depends on changes."""
from __future__ import annotations

import dataclasses
import json

import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
import numpy as np

from conrt.errors import ConfigError
from conrt.runtime.backends.gpu.engine_cache import EngineCache, EngineKey, default_cache_dir, onnx_digest
from conrt.runtime.backends.gpu.profiles import make_profile

BASE = dict(
    onnx_sha256="ab" * 32,
    trt_version="10.3.0",
    gpu_name="NVIDIA GeForce RTX 4090",
    compute_capability=(8, 9),
    precision="fp16",
    profile=make_profile(views=(1, 8), sizes=[256, 512]).key(),
)


def test_key_is_stable_and_readable():
    a, b = EngineKey(**BASE), EngineKey(**dict(BASE))
    assert a.digest() == b.digest() and a.stem() == b.stem()
    # Pinned: a change here orphans every user's cached engines (bump KEY_VERSION on purpose).
    assert a.digest() == "3c994aec975d923eb2f5"
    assert a.stem().startswith("nvidia-geforce-rtx-4090-sm89-fp16-")
    assert json.loads(a.canonical())["compute_capability"] == [8, 9]


@pytest.mark.parametrize("field, value", [
    ("onnx_sha256", "cd" * 32),
    ("trt_version", "10.4.0"),
    ("gpu_name", "NVIDIA RTX A6000"),
    ("compute_capability", (8, 6)),
    ("precision", "fp32"),
    ("profile", make_profile(views=(1, 4), sizes=[256, 512]).key()),
])
def test_key_changes_with_every_component(field, value):
    changed = EngineKey(**{**BASE, field: value})
    assert changed.digest() != EngineKey(**BASE).digest()
    assert changed.stem() != EngineKey(**BASE).stem()


def test_profile_key_ignores_request_order_but_not_opt_size():
    a = make_profile(sizes=[256, 512]).key()
    assert make_profile(sizes=[256, 512, 256]).key() == a
    assert make_profile(sizes=[512, 256]).key() != a  # opt size differs: a different engine


@pytest.mark.parametrize("field, value", [("precision", "int8"), ("compute_capability", (8,)), ("gpu_name", "")])
def test_bad_key_fields_are_config_errors(field, value):
    with pytest.raises(ConfigError):
        EngineKey(**{**BASE, field: value})


def test_store_load_roundtrip_and_mismatched_sidecar(tmp_path):
    cache = EngineCache(tmp_path)
    key = EngineKey(**BASE)
    assert cache.load(key) is None
    path = cache.store(key, b"plan-bytes")
    assert path.parent == tmp_path and path.suffix == ".engine"
    assert cache.load(key) == b"plan-bytes"
    assert [e["precision"] for e in cache.entries()] == ["fp16"]
    # A sidecar describing a different key (hand-copied file) is a miss, not a wrong engine.
    other = dataclasses.replace(key, trt_version="9.9.9")
    path.with_suffix(".json").write_text(other.canonical())
    assert cache.load(key) is None
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes left nothing behind


def test_timing_cache_is_per_device_and_version(tmp_path):
    cache = EngineCache(tmp_path)
    key = EngineKey(**BASE)
    assert cache.load_timing_cache(key) == b""
    cache.store_timing_cache(key, b"timing")
    assert cache.load_timing_cache(dataclasses.replace(key, precision="fp32", onnx_sha256="ef" * 32)) == b"timing"
    assert cache.load_timing_cache(dataclasses.replace(key, trt_version="10.4.0")) == b""
    assert cache.load_timing_cache(dataclasses.replace(key, compute_capability=(8, 6))) == b""


def test_empty_plan_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        EngineCache(tmp_path).store(EngineKey(**BASE), b"")


def test_default_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.delenv("CONRT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "conrt" / "trt"
    monkeypatch.setenv("CONRT_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" / "trt"


def _tiny_model(weight: np.ndarray):
    w = numpy_helper.from_array(weight, "w")
    node = helper.make_node("Mul", ["x", "w"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_digest_covers_external_weights(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_tiny_model(np.arange(4, dtype=np.float32)), str(path), save_as_external_data=True,
              all_tensors_to_one_file=True, location="m.weights", size_threshold=0)
    before = onnx_digest(path)
    assert before == onnx_digest(path)
    data = bytearray((tmp_path / "m.weights").read_bytes())
    data[0] ^= 0xFF  # same graph file, different weights
    (tmp_path / "m.weights").write_bytes(bytes(data))
    assert onnx_digest(path) != before
    (tmp_path / "m.weights").unlink()
    with pytest.raises(ConfigError, match="m.weights"):
        onnx_digest(path)


def test_onnx_digest_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        onnx_digest(tmp_path / "nope.onnx")


def test_onnx_digest_ignores_the_file_name_but_not_the_bytes(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(_tiny_model(np.arange(4, dtype=np.float32)), str(a))
    b.write_bytes(a.read_bytes())
    assert onnx_digest(a) == onnx_digest(b)
    onnx.save(_tiny_model(np.arange(4, dtype=np.float32) + 1), str(b))
    assert onnx_digest(a) != onnx_digest(b)
