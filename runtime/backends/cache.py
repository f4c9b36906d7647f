"""conrt's on-disk cache: one root, one rule, owner-only files.

The root is ``$CONRT_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/conrt``,
else ``~/.cache/conrt``; ``CONRT_CACHE_DIR=""`` turns caching of exported
graphs off (a temporary folder per user of the cache, removed on close).
Sub-folders: ``onnx/`` (exported graphs: ``GraphCache``), ``trt/`` (TensorRT
engines: runtime/backends/gpu/engine_cache.py). Folders are created ``0700`` and
files written ``0600``: a graph holds the user's weights.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

# exported graphs kept in the onnx folder, the least recently used pruned beyond: an exact sheet's
# gl-lookup takes ~5 graphs a frame size (the whole graph, the finish, the band widths its clip
# reaches: gl_lookup_backend.BAND_STEPS), so `conrt bench`'s 128, 256 and 512 alone are ~15-20;
# with 16 kept, each such run pruned graphs the next one exported again (~2 s of CPU each, some
# inside its timed frames)
GRAPHS_KEPT = 64


def default_cache_root() -> Path:
    """The root without ``$CONRT_CACHE_DIR``: ``$XDG_CACHE_HOME/conrt`` or ``~/.cache/conrt``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "conrt"


def cache_root() -> Path | None:
    """Where conrt caches (see the module docstring); None when ``CONRT_CACHE_DIR`` is ``""``."""
    env = os.environ.get("CONRT_CACHE_DIR")
    if env is not None:
        return Path(env).expanduser() if env else None
    return default_cache_root()


def private_folder(path: Path) -> Path:
    """``path`` created (parents too) and made owner-only."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        path.chmod(0o700)
    except OSError as exc:  # e.g. a folder another user made; the files stay 0600
        log.debug("cannot make %s owner-only: %s", path, exc)
    return path


class GraphCache:
    """Exported ONNX graphs by file name, each written once (atomically, owner-only),
    the oldest pruned beyond ``GRAPHS_KEPT``. ``close()`` removes a temporary folder."""

    def __init__(self, kind: str = "onnx"):
        self.kind = kind
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._folder: Path | None = None

    @property
    def folder(self) -> Path:
        if self._folder is None:
            root = cache_root()
            if root is None:  # caching off: a folder of our own, gone on close
                self._tmp = tempfile.TemporaryDirectory(prefix=f"conrt-{self.kind}-")
                self._folder = Path(self._tmp.name)
            else:
                self._folder = private_folder(root / self.kind)
        return self._folder

    @property
    def temporary(self) -> bool:
        return self._tmp is not None

    def get(self, name: str, export: Callable[[Path], object]) -> Path:
        """The cached file ``name``, made by ``export(part_path)`` if missing; a file found is
        touched, so ``prune`` drops the least recently used, not the first exported."""
        path = self.folder / name
        if path.exists():
            try:
                os.utime(path)
            except OSError:  # a read-only cache still serves the graph
                pass
        else:
            part = path.with_name(path.name + ".part")
            export(part)
            part.chmod(0o600)
            part.replace(path)  # never leave a half-written graph under its name
            self.prune()
        return path

    def prune(self) -> None:
        """Keep only the ``GRAPHS_KEPT`` most recently used graphs (not in a temporary folder)."""
        if self.temporary:
            return
        graphs = sorted(self.folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in graphs[GRAPHS_KEPT:]:
            try:
                old.unlink()
            except OSError:
                pass

    def close(self) -> None:
        if self._tmp is not None:
            try:
                self._tmp.cleanup()
            except OSError:
                pass
            self._tmp = None
            self._folder = None
