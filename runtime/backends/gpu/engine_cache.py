"""On-disk cache of built TensorRT engines.

A serialized engine (a "plan") is only valid for the exact TensorRT version
and GPU architecture that built it, and it bakes in the precision and the
optimisation profile. So an engine is looked up by the key

    (ONNX hash, TensorRT version, GPU name, compute capability, precision, profile)

and any change in one of them builds a new engine instead of loading a stale
one (TensorRT would refuse a plan from another version, and silently give a
different speed/precision for the others).

Layout (``default_cache_dir()``, ``~/.cache/conrt/trt`` unless
``CONRT_CACHE_DIR`` or ``XDG_CACHE_HOME`` say otherwise)::

    <gpu-slug>-sm<major><minor>-<precision>-<digest>.engine   the plan
    <same stem>.json                                           the key, readable
    timing-<gpu-slug>-sm<..>-trt<version>.cache                TensorRT timing cache

Writes go to a temporary file and are renamed into place, so a crashed or
concurrent build never leaves a truncated plan behind.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from conrt.errors import ConfigError

from ..cache import cache_root, default_cache_root, private_folder

__all__ = ["EngineKey", "EngineCache", "onnx_digest", "default_cache_dir", "PRECISIONS"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp16", "fp32")
KEY_VERSION = 1  # bump when the key's meaning changes, to orphan old entries


def default_cache_dir() -> Path:
    """``trt/`` under the cache root (runtime/backends/cache.py); engines are cached even
    when ``CONRT_CACHE_DIR=""`` turns graph caching off (a build takes minutes)."""
    return (cache_root() or default_cache_root()) / "trt"


def _external_data_files(path: Path) -> list[Path]:
    """Files holding the graph's weights when exported with external data."""
    import onnx  # lazy: onnx (a core dependency) kept out of this light module

    model = onnx.load(str(path), load_external_data=False)
    locations = set()
    tensors = list(model.graph.initializer)
    for node in model.graph.node:  # Constant nodes can be external too
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    for t in tensors:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            for entry in t.external_data:
                if entry.key == "location":
                    locations.add(entry.value)
    return [path.parent / loc for loc in sorted(locations)]


def onnx_digest(path: str | os.PathLike) -> str:
    """SHA-256 over the .onnx file and its external-data files (weights)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ONNX file not found: {path}")
    h = hashlib.sha256()
    for i, f in enumerate([path, *_external_data_files(path)]):
        if not f.is_file():
            raise ConfigError(f"{path} refers to external data {f.name} which is missing next to it")
        # The graph file's own name does not matter (same bytes, same engine);
        # external files are referenced by name, so theirs does.
        h.update((f.name if i else "").encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


@dataclass(frozen=True)
class EngineKey:
    """Everything a TensorRT plan depends on. ``profile`` is ``ProfileSpec.key()``."""

    onnx_sha256: str
    trt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: Literal["fp16", "fp32"]
    profile: str

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        cc = self.compute_capability
        if len(cc) != 2 or not all(isinstance(c, int) and c >= 0 for c in cc):
            raise ConfigError(f"compute capability must be (major, minor) ints, got {cc!r}")
        for name in ("onnx_sha256", "trt_version", "gpu_name", "profile"):
            if not getattr(self, name):
                raise ConfigError(f"engine cache key field {name} is empty")

    def canonical(self) -> str:
        fields = asdict(self)
        fields["compute_capability"] = list(self.compute_capability)
        fields["key_version"] = KEY_VERSION
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:20]

    @property
    def device_tag(self) -> str:
        major, minor = self.compute_capability
        return f"{_slug(self.gpu_name)}-sm{major}{minor}"

    def stem(self) -> str:
        return f"{self.device_tag}-{self.precision}-{self.digest()}"


def _atomic_write(path: Path, data: bytes) -> None:
    private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EngineCache:
    """A directory of plans keyed by ``EngineKey``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def engine_path(self, key: EngineKey) -> Path:
        return self.root / f"{key.stem()}.engine"

    def timing_cache_path(self, key: EngineKey) -> Path:
        # Timing results depend on the GPU and TensorRT, not on the graph, so
        # one file is shared by every engine built on this device.
        return self.root / f"timing-{key.device_tag}-trt{_slug(key.trt_version)}.cache"

    def load(self, key: EngineKey) -> bytes | None:
        """The cached plan, or None. A sidecar that disagrees with the key (a
        digest collision or a hand-copied file) counts as a miss."""
        path = self.engine_path(key)
        meta = path.with_suffix(".json")
        if not path.is_file() or not meta.is_file():
            return None
        try:
            stored = json.loads(meta.read_text())
        except (OSError, ValueError):
            log.warning("ignoring unreadable engine cache entry %s", meta)
            return None
        if stored != json.loads(key.canonical()):
            log.warning("engine cache entry %s does not match its key; rebuilding", path.name)
            return None
        return path.read_bytes()

    def store(self, key: EngineKey, plan: bytes) -> Path:
        if not plan:
            raise ConfigError("refusing to cache an empty TensorRT plan")
        path = self.engine_path(key)
        _atomic_write(path, bytes(plan))
        _atomic_write(path.with_suffix(".json"), key.canonical().encode())
        log.info("cached TensorRT engine %s (%.1f MB)", path, len(plan) / 1e6)
        return path

    def load_timing_cache(self, key: EngineKey) -> bytes:
        path = self.timing_cache_path(key)
        return path.read_bytes() if path.is_file() else b""

    def store_timing_cache(self, key: EngineKey, data: bytes) -> Path:
        path = self.timing_cache_path(key)
        _atomic_write(path, bytes(data))
        return path

    def entries(self) -> list[dict]:
        """The readable keys of every cached engine (for `conrt` listings)."""
        out = []
        for meta in sorted(self.root.glob("*.json")):
            try:
                out.append(json.loads(meta.read_text()) | {"path": str(meta.with_suffix(".engine"))})
            except (OSError, ValueError):
                continue
        return out
