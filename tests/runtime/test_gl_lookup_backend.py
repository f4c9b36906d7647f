"""The gl-lookup backend (runtime/backends/gl_lookup_backend.py): conr-rt with
the table lookup on GL and only FusionNet on the CPU, equal to the torch
backend; registry rules (lookup models only, 'auto' prefers it for them)."""
from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from conrt.errors import ConfigError, InputError
from conrt.runtime.backends import available_backends, create_backend, get_backend_class, preference
from conrt.runtime.backends.gl_lookup_backend import GlLookupBackend
from conrt.runtime.nn.model import create_model

from .nudged import nudged_model

S = 64


@pytest.fixture(scope="module")
def rt_model():
    return nudged_model("conr-rt")


def _sheet(views: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    images = []
    for v in range(views):
        im = (rng.random((S, S, 4)) * 255).astype(np.uint8)
        im[..., 3] = 0
        im[6 + v:-8, 10:-12 + v, 3] = 255
        images.append(im)
    return images


def _udp(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    udp = rng.random((S, S, 4)).astype(np.float32)
    udp[..., 3] = (udp[..., 3] > 0.3).astype(np.float32)
    udp[..., :3] *= udp[..., 3:]
    return udp


@pytest.fixture(scope="module")
def torch_backend(rt_model):
    return create_backend("torch", rt_model)


@pytest.mark.parametrize("fusion", ["onnxruntime", "torch"])
@pytest.mark.parametrize("views", [1, 4, 8])
def test_equals_the_torch_backend(rt_model, torch_backend, fusion, views):
    images = _sheet(views, seed=views)
    ref = torch_backend.encode_sheet(images)
    backend = create_backend("gl-lookup", rt_model, fusion=fusion, threads=2)
    try:
        backend.set_sheet(ref)  # the same cache: only the per-frame path differs
        for seed in range(2):
            want = torch_backend.shade(_udp(seed))
            got = backend.shade(_udp(seed))
            assert got.shape == want.shape == (S, S, 4) and got.dtype == np.float32
            err = np.abs(got - want)
            assert err.max() <= 1e-3 and err.mean() <= 1e-5, (err.max(), err.mean())
        assert float(np.abs(want[..., :3] - ref.reference[0, 0, :3].permute(1, 2, 0).numpy()).mean()) > 0.01
    finally:
        backend.close()


def test_fast_config_equals_the_torch_backend():
    """conr-rt-fast (scores and refinement at a quarter, ReLU) through the exported fusion graph."""
    model = nudged_model("conr-rt-fast", seed=2)
    reference = create_backend("torch", model)
    cache = reference.encode_sheet(_sheet(4, seed=4))
    backend = create_backend("gl-lookup", model, threads=2)
    try:
        backend.set_sheet(cache)
        want, got = reference.shade(_udp(3)), backend.shade(_udp(3))
        err = np.abs(got - want)
        assert err.max() <= 1e-3 and err.mean() <= 1e-5, (err.max(), err.mean())
    finally:
        backend.close()


def test_exact_filtering_equals_the_torch_backend(rt_model, torch_backend):
    ref = torch_backend.encode_sheet(_sheet(3, seed=9))
    backend = create_backend("gl-lookup", rt_model, filtering="exact")
    try:
        backend.set_sheet(ref)
        err = np.abs(backend.shade(_udp(4)) - torch_backend.shade(_udp(4)))
        assert err.max() <= 1e-3 and err.mean() <= 1e-5, (err.max(), err.mean())
    finally:
        backend.close()


def test_sheet_encoded_by_the_backend_and_frames_of_another_size(rt_model, torch_backend):
    backend = create_backend("gl-lookup", rt_model)
    try:
        images = _sheet(3, seed=5)
        backend.encode_sheet(images)
        torch_backend.encode_sheet(images)
        big = np.zeros((80, 96, 4), np.float32)
        big[8:72, 16:80] = _udp(3)  # cropped, shaded and pasted back like every backend does
        err = np.abs(backend.shade(big) - torch_backend.shade(big))
        assert err.max() <= 1e-3
    finally:
        backend.close()


def test_shades_from_other_threads(rt_model, torch_backend):
    """The frame loop encodes the sheet on one thread and shades on another;
    the GL context lives on the backend's own thread."""
    backend = create_backend("gl-lookup", rt_model)
    try:
        images = _sheet(2, seed=7)
        worker = threading.Thread(target=backend.encode_sheet, args=(images,))
        worker.start()
        worker.join()
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault("rgba", backend.shade(_udp(1))))
        worker.start()
        worker.join()
        torch_backend.encode_sheet(images)
        assert np.abs(out["rgba"] - torch_backend.shade(_udp(1))).max() <= 1e-3
        assert np.abs(backend.shade(_udp(1)) - out["rgba"]).max() == 0.0  # and from this thread again
    finally:
        backend.close()


def test_registry_lookup_models_only():
    assert GlLookupBackend.is_available(), GlLookupBackend.unavailable_reason()
    rt, xs = create_model("conr-rt"), create_model("conr-xs")
    assert "gl-lookup" in available_backends(rt)
    assert available_backends(rt)[0] == "gl-lookup" or available_backends(rt)[0] == "tensorrt"
    assert get_backend_class("auto", rt).name == available_backends(rt)[0]
    # CoNR models: never offered, 'auto' keeps the existing order
    assert "gl-lookup" not in available_backends(xs)
    assert get_backend_class("auto", xs).name == next(n for n in preference(xs) if n in available_backends())
    assert get_backend_class("auto").name == available_backends()[0] != "gl-lookup"
    with pytest.raises(ConfigError, match="lookup-architecture models .*conr-xs"):
        create_backend("gl-lookup", xs)


def test_bad_use_names_the_problem(rt_model):
    with pytest.raises(ConfigError, match="unknown fusion runner 'cuda'"):
        GlLookupBackend(fusion="cuda")
    with pytest.raises(ConfigError, match="unknown filtering 'nearest'"):
        GlLookupBackend(filtering="nearest")
    backend = create_backend("gl-lookup", rt_model)
    try:
        assert backend.device.startswith("gl:") and backend.device.endswith("+ cpu")  # e.g. gl:llvmpipe (...) + cpu
        with pytest.raises(InputError, match="no character sheet"):
            backend.shade(_udp())
        with pytest.raises(InputError, match="takes 1..8 sheet views; this sheet has 9"):
            backend.encode_sheet(_sheet(9))
        backend.encode_sheet(_sheet(2))
        with pytest.raises(InputError, match="takes 1..8 sheet views; this sheet has 9"):
            backend.encode_sheet(_sheet(9))
        assert backend.cache.views == 2  # the rejected sheet left the current one in place
        bad = _udp()
        bad[3, 3, 1] = np.nan
        with pytest.raises(InputError, match="NaN"):
            backend.shade(bad)
        assert backend.shade(_udp()).shape == (S, S, 4)  # still usable
    finally:
        backend.close()
    backend.close()  # twice is fine


def test_a_backend_collected_in_a_reference_cycle_does_not_hang():
    """GC clears the executor's weakref (its worker exits) before running the
    backend's finalizer; a finalizer that waited for the GL thread hung forever."""
    code = (
        "import gc, sys\n"
        "from conrt.runtime.backends.gl_lookup_backend import GlLookupBackend\n"
        "from conrt.runtime.nn.model import create_model\n"
        "b = GlLookupBackend(fusion='torch')\n"
        "b.load(create_model('conr-rt'))\n"
        "b.cycle = b\n"  # only the cycle collector can free it
        "del b\n"
        "gc.collect()\n"
        "print('collected')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "collected" in proc.stdout, proc.stderr[-2000:]


def test_the_fusion_graph_runs_on_half_the_cores_unless_told(rt_model, monkeypatch):
    """The shading shares the machine with the frame loop's physics and
    rasterizer: the fusion graph's ONNX Runtime session gets half the cores
    (at least one) unless ``threads`` says otherwise."""
    from conrt.runtime.backends import gl_lookup_backend

    for cores, want in ((1, 1), (2, 1), (16, 8)):
        monkeypatch.setattr(gl_lookup_backend.os, "cpu_count", lambda cores=cores: cores)
        assert gl_lookup_backend.default_threads() == want
    monkeypatch.setattr(gl_lookup_backend.os, "cpu_count", lambda: 2)
    for threads, want in ((None, 1), (2, 2)):
        with create_backend("gl-lookup", rt_model, threads=threads) as backend:
            backend.encode_sheet(_sheet(2))
            assert backend.threads == want
            assert backend._table_session().get_session_options().intra_op_num_threads == want
