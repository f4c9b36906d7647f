"""Backends as one seam: close() / context manager (gl-lookup's GL thread and
context freed, ShadeStage and Runtime free theirs), options that reach a
backend (and wrong ones named), ``auto`` by priority, one graph cache
(one root rule, owner-only files). Loops over ``available_backends()``."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from conrt.commands._backend_args import parse_backend_options
from conrt.errors import ConfigError, InputError
from conrt.runtime.backends import (Backend, available_backends, backend_names, create_backend, preference,
                                    registered_backend)
from conrt.runtime.backends import base
from conrt.runtime.backends.cache import GRAPHS_KEPT, GraphCache, cache_root
from conrt.runtime.nn.model import create_model

S = 64


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    """Graphs exported here stay here (other tests count the session cache's);
    one cache for the module, so the same model's graph is exported once (the
    tests that check the cache itself point CONRT_CACHE_DIR at their own folder)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONRT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {"conr-xs": create_model("conr-xs").eval(), "conr-rt": create_model("conr-rt").eval()}


def _sheet(views=2):
    rng = np.random.default_rng(0)
    out = []
    for v in range(views):
        im = (rng.random((S, S, 4)) * 255).astype(np.uint8)
        im[..., 3] = 0
        im[8 + v:-8, 12:-12, 3] = 255
        out.append(im)
    return out


def _udp():
    rng = np.random.default_rng(1)
    udp = rng.random((S, S, 4)).astype(np.float32)
    udp[..., 3] = (udp[..., 3] > 0.3).astype(np.float32)
    return udp


def _threads(prefix: str) -> int:
    return sum(t.name.startswith(prefix) and t.is_alive() for t in threading.enumerate())


def test_every_backend_closes_and_is_a_context_manager(models):
    images, udp = _sheet(), _udp()
    seen = set()
    for model in models.values():
        for name in available_backends(model):
            with create_backend(name, model) as backend:
                backend.encode_sheet(images)
                assert backend.shade(udp).shape == (S, S, 4)
                assert backend.source_model is model
            seen.add(name)
            with pytest.raises(InputError, match="no character sheet"):
                backend.shade(udp)  # closed: nothing left to shade with
            backend.close()  # twice is fine
    assert {"torch", "onnxruntime"} <= seen


def test_gl_lookup_close_frees_its_thread_and_context(models):
    if "gl-lookup" not in available_backends(models["conr-rt"]):
        pytest.skip("no GL context here")
    before = _threads("conrt-gl-lookup")
    backend = create_backend("gl-lookup", models["conr-rt"])
    backend.encode_sheet(_sheet())
    assert backend.ctx is not None and _threads("conrt-gl-lookup") == before + 1
    backend.close()
    assert backend.ctx is None and backend.lookup is None and backend.session is None
    for t in threading.enumerate():
        if t.name.startswith("conrt-gl-lookup"):
            t.join(timeout=10)
    assert _threads("conrt-gl-lookup") == before


def test_shade_stage_close_frees_the_backend(models):
    from conrt.runtime.app.frame_loop import ShadeStage

    name = available_backends(models["conr-rt"])[0]
    with ShadeStage(models["conr-rt"], _sheet(), S, name) as stage:
        assert stage.shade(_udp()).shape == (S, S, 4)
        backend = stage.backend
    assert backend.cache is None
    if name == "gl-lookup":
        assert backend.ctx is None


def test_options_reach_the_backend_and_wrong_ones_are_named(models):
    from conrt.runtime.app.frame_loop import ShadeStage

    xs = models["conr-xs"]
    with create_backend("onnxruntime", xs, threads=1) as backend:
        assert backend.threads == 1
    with ShadeStage(xs, _sheet(), S, "onnxruntime", backend_options={"threads": 1}) as stage:
        assert stage.backend.threads == 1 and stage.shade(_udp()).shape == (S, S, 4)
    for name in available_backends(xs):
        valid = registered_backend(name).option_names()
        assert "self" not in valid
        with pytest.raises(ConfigError, match=rf"backend '{name}' has no option 'bogus'; valid: "):
            create_backend(name, xs, bogus=1)
    assert "threads" in registered_backend("torch").option_names()


def test_backend_opt_parsing():
    assert parse_backend_options(["threads=2", "fusion=torch", "providers=A,B", "x=0.5", "winograd=false",
                                  "onnx_path=none"]) == {
        "threads": 2, "fusion": "torch", "providers": ["A", "B"], "x": 0.5, "winograd": False, "onnx_path": None}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_backend_options(["threads"])


def test_cli_backend_opt_errors_in_one_line(tmp_path):
    from PIL import Image

    Image.fromarray(_sheet(1)[0]).save(tmp_path / "view.png")
    np.savez(tmp_path / "udp.npz", i=_udp())
    r = subprocess.run([sys.executable, "-m", "conrt", "shade", "--config", "conr-xs", "--sheet", tmp_path / "view.png",
                        "--udp", tmp_path / "udp.npz", "-o", tmp_path / "out.png", "--backend", "torch",
                        "--backend-opt", "bogus=1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no option 'bogus'" in r.stderr and "threads" in r.stderr
    assert not (tmp_path / "out.png").exists()


class _Toy(Backend):
    """A toy backend: the torch model itself."""

    name = "toy-test-backend"
    priority = 10_000

    @classmethod
    def is_available(cls) -> bool:
        return True

    @property
    def device(self) -> str:
        return "cpu"

    def load(self, model) -> None:
        self.model = model

    def infer(self, udp):
        from conrt.runtime.nn.sheet import render_prepared

        return render_prepared(self.model, torch.from_numpy(udp), self.cache).numpy()


def test_auto_goes_by_priority_and_a_toy_backend_registers_in_one_line(models, monkeypatch):
    for model in models.values():
        names = available_backends(model)
        prios = [registered_backend(n).priority for n in names]
        assert prios == sorted(prios, reverse=True)
    assert "gl-lookup" not in preference(models["conr-xs"])
    assert preference()[-1] == "gl-lookup"  # without a model: those for some models only, last
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # the toy leaves with the test
    base.register_backend(_Toy)
    assert "toy-test-backend" in backend_names()
    xs = models["conr-xs"]
    with create_backend("auto", xs) as toy, create_backend("torch", xs) as ref:
        assert toy.name == "toy-test-backend"
        for b in (toy, ref):
            b.encode_sheet(_sheet())
        np.testing.assert_allclose(toy.shade(_udp()), ref.shade(_udp()), atol=1e-4)


def test_cache_root_rule(monkeypatch, tmp_path):
    monkeypatch.setenv("CONRT_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv("CONRT_CACHE_DIR")
    assert cache_root() == tmp_path / "xdg" / "conrt"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "conrt"
    monkeypatch.setenv("CONRT_CACHE_DIR", "")
    assert cache_root() is None


def test_graph_cache_writes_owner_only_once_and_prunes(monkeypatch, tmp_path):
    monkeypatch.setenv("CONRT_CACHE_DIR", str(tmp_path / "c"))
    cache, calls = GraphCache("onnx"), []

    def export(part):
        calls.append(part)
        part.write_bytes(b"graph")

    path = cache.get("a.onnx", export)
    assert cache.get("a.onnx", export) == path and len(calls) == 1 and path.read_bytes() == b"graph"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not list(path.parent.glob("*.part"))
    os.utime(path, (1, 1))  # the oldest
    assert cache.get("a.onnx", export) == path and path.stat().st_mtime > 1  # a hit is a use: touched
    os.utime(path, (1, 1))
    for k in range(GRAPHS_KEPT + 3):
        p = cache.get(f"g{k}.onnx", export)
        os.utime(p, (k + 10, k + 10))  # distinct ages
    assert len(list(path.parent.glob("*.onnx"))) == GRAPHS_KEPT and not path.exists()
    # least recently used goes first: g3, the oldest left, used again outlives g4
    assert cache.get("g3.onnx", export).exists() and len(calls) == GRAPHS_KEPT + 4
    cache.get("new.onnx", export)
    assert (path.parent / "g3.onnx").exists() and not (path.parent / "g4.onnx").exists()
    monkeypatch.setenv("CONRT_CACHE_DIR", "")
    off = GraphCache("onnx")
    tmp = off.get("x.onnx", export).parent
    assert off.temporary and tmp.is_dir()
    off.close()
    assert not tmp.exists()


def test_onnx_graphs_of_both_backends_land_in_one_cache(models, monkeypatch, tmp_path):
    monkeypatch.setenv("CONRT_CACHE_DIR", str(tmp_path))
    model = models["conr-rt"]
    names = [n for n in available_backends(model) if n in ("onnxruntime", "gl-lookup")]
    for name in names:
        with create_backend(name, model) as backend:
            backend.encode_sheet(_sheet())
            backend.shade(_udp())
    graphs = sorted(p.name for p in (tmp_path / "onnx").glob("*.onnx"))
    assert len(graphs) == len(names) and all(g.startswith("conr-rt-") for g in graphs)
    assert all(stat.S_IMODE((tmp_path / "onnx" / g).stat().st_mode) == 0o600 for g in graphs)
