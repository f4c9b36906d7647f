"""A fusion net per correspondence mode (conr-rt's ``lookup.table_fusion``): the table mode
(sheets without view/UDP files, ``LookupNet.render``) takes ``table_fusion``, exact and
udp-nn samples (``render_views``) take ``fusion``, on the torch, ONNX Runtime and gl-lookup
paths alike; ``checkpoint.add_table_fusion`` / scripts/add_table_fusion.py write it."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conrt.errors import CheckpointError, ConfigError
from conrt.runtime.backends import create_backend
from conrt.runtime.backends.fusion_graph import FastFusionGraph
from conrt.runtime.defaults import default_weights_path
from conrt.runtime.nn import checkpoint as ck
from conrt.runtime.nn.config import get_config
from conrt.runtime.nn.model import create_model

from .nudged import nudged_model
from .test_gl_lookup_backend import _sheet, _udp

ROOT = Path(__file__).resolve().parents[2]
S = 64


def _with_table_net(seed: int = 3):
    """conr-rt with ``lookup.table_fusion``: untrained (torch seed 0), both fusion nets nudged
    by N(0, 0.05) (one draw after the other: two different nets)."""
    cfg = get_config("conr-rt")
    cfg = dataclasses.replace(cfg, lookup=dataclasses.replace(cfg.lookup, table_fusion=True))
    torch.manual_seed(0)
    model = create_model(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (*model.fusion.parameters(), *model.table_fusion.parameters()):
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def _one_net(model, part: str):
    """A plain conr-rt (one fusion net) holding ``model``'s sheet encoder and its ``part`` net."""
    plain = create_model("conr-rt").eval()
    plain.udpparsernet.load_state_dict(model.udpparsernet.state_dict())
    plain.fusion.load_state_dict(getattr(model, part).state_dict())
    return plain


@pytest.fixture(scope="module")
def two_nets():
    model = _with_table_net()
    return model, _one_net(model, "table_fusion"), _one_net(model, "fusion")


def test_each_mode_takes_its_fusion_net(two_nets):
    model, table_only, exact_only = two_nets
    assert model.fusion_for("table") is model.table_fusion
    assert model.fusion_for("exact") is model.fusion_for("udp-nn") is model.fusion
    assert exact_only.fusion_for("table") is exact_only.fusion  # one net: it shades every mode
    with pytest.raises(ConfigError, match="unknown correspondence mode 'auto'; valid: table, exact, udp-nn"):
        model.fusion_for("auto")
    g = torch.Generator().manual_seed(1)
    rgb, mask = torch.rand(1, 2, 3, S, S, generator=g), torch.ones(1, 2, 1, S, S)
    udp = torch.rand(1, 4, S, S, generator=g)
    with torch.no_grad():
        table = model(rgb, mask, udp)
        assert torch.equal(table, table_only(rgb, mask, udp))  # the same module, weights and inputs
        assert float((table - exact_only(rgb, mask, udp)).abs().mean()) > 1e-3  # the nets do differ
        sampled, cover = torch.rand(1, 2, 4, S, S, generator=g), torch.rand(1, 2, 1, S, S, generator=g)
        assert torch.equal(model.render_views(udp, sampled, cover), exact_only.render_views(udp, sampled, cover))
    assert FastFusionGraph(model, table=True).net is model.table_fusion
    assert FastFusionGraph(model, keep_seen=True).net is model.fusion


@pytest.mark.parametrize("backend, options", [("gl-lookup", {"fusion": "onnxruntime", "threads": 2}),
                                              ("gl-lookup", {"fusion": "torch"}), ("onnxruntime", {})],
                         ids=["gl-lookup onnxruntime", "gl-lookup torch", "onnxruntime"])
def test_backends_shade_the_table_with_the_table_net(two_nets, backend, options):
    """The exported graphs and gl-lookup's torch fusion take the table net as the torch
    backend does (the bounds of test_gl_lookup_backend: float rounding of one graph)."""
    model, _, exact_only = two_nets
    reference = create_backend("torch", model)
    cache = reference.encode_sheet(_sheet(3, seed=11))
    other = create_backend(backend, model, **options)
    try:
        other.set_sheet(cache)
        want, got = reference.shade(_udp(5)), other.shade(_udp(5))
        err = np.abs(got - want)
        assert err.max() <= 1e-3 and err.mean() <= 1e-5, (err.max(), err.mean())
    finally:
        other.close()
    exact_net = create_backend("torch", exact_only)
    exact_net.set_sheet(cache)
    assert float(np.abs(exact_net.shade(_udp(5)) - want).mean()) > 1e-3  # it would show the wrong net


def _saved(model, path: Path) -> Path:
    return ck.save_weights(model, path)


def test_add_table_fusion_writes_the_table_net_and_replaces_it(tmp_path):
    weights = _saved(nudged_model("conr-rt", seed=1), tmp_path / "w.safetensors")  # the exact-mode file
    source = _saved(nudged_model("conr-rt", seed=2), tmp_path / "s.safetensors")  # its fusion: the table net
    out = ck.add_table_fusion(weights, source, tmp_path / "out.safetensors", "session 5's")
    got, w, s = (ck.load_weights(p) for p in (out, weights, source))
    assert got.cfg.lookup.table_fusion and got.FRAME_PARTS == ("fusion", "table_fusion")
    for part, want in (("udpparsernet", w.udpparsernet), ("fusion", w.fusion), ("table_fusion", s.fusion)):
        mine = getattr(got, part).state_dict()
        assert all(torch.equal(mine[k], v) for k, v in want.state_dict().items()), part
    assert got.cfg.description.count(ck.TABLE_NOTE) == 1 and "fusion.* of session 5's" in got.cfg.description
    # again, from a file that has a table net (its table_fusion.* is taken), in place: replaced, one note
    third = _saved(nudged_model("conr-rt", seed=4), tmp_path / "t.safetensors")
    ck.add_table_fusion(out, ck.add_table_fusion(third, source, tmp_path / "t2.safetensors"), out, "t2")
    again = ck.load_weights(out)
    assert all(torch.equal(a, b) for a, b in zip(again.table_fusion.state_dict().values(),
                                                 s.fusion.state_dict().values()))
    assert again.cfg.description.count(ck.TABLE_NOTE) == 1 and "table_fusion.* of t2" in again.cfg.description


def test_add_table_fusion_refuses_another_sheet_encoder_or_architecture(tmp_path):
    weights = _saved(nudged_model("conr-rt", seed=1), tmp_path / "w.safetensors")
    torch.manual_seed(5)
    other = _saved(create_model("conr-rt"), tmp_path / "other.safetensors")  # another encoder
    with pytest.raises(CheckpointError, match=r"sheet encoder \(udpparsernet\.\*\) differs"):
        ck.add_table_fusion(weights, other, tmp_path / "out.safetensors")
    xs = _saved(create_model("conr-xs"), tmp_path / "xs.safetensors")
    with pytest.raises(CheckpointError, match="architecture 'conr'.*lookup-architecture"):
        ck.add_table_fusion(weights, xs, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_script_adds_the_table_net(tmp_path):
    weights = _saved(nudged_model("conr-rt", seed=1), tmp_path / "w.safetensors")
    source = _saved(nudged_model("conr-rt", seed=2), tmp_path / "s.safetensors")
    script = ROOT / "scripts" / "add_table_fusion.py"
    ok = subprocess.run([sys.executable, str(script), str(weights), "--table-from", str(source)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ck.read_config(weights).lookup.table_fusion  # in place
    bad = subprocess.run([sys.executable, str(script), str(weights), "--table-from", "no-such-revision"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "neither a file nor a git revision" in bad.stderr


def test_shipped_default_holds_a_table_net():
    model = ck.load_weights(default_weights_path())
    assert model.cfg.lookup.table_fusion and ck.TABLE_NOTE in model.cfg.description
    table, exact = model.fusion_for("table").state_dict(), model.fusion_for("exact").state_dict()
    assert any(not torch.equal(table[k], exact[k]) for k in table)


def test_training_leaves_the_table_net_out(tmp_path):
    """--init from a file with a table net trains the one-net config (the table net is not
    trained: scripts/add_table_fusion.py adds one after); a config with it is refused."""
    from conrt.training.trainer import TrainConfig, _init_weights, train

    model = create_model("conr-rt")
    _init_weights(model, default_weights_path())
    shipped = ck.load_weights(default_weights_path())
    assert all(torch.equal(a, b) for a, b in zip(model.fusion.state_dict().values(),
                                                 shipped.fusion.state_dict().values()))
    cfg = get_config("conr-rt")
    path = tmp_path / "two-nets.json"
    path.write_text(dataclasses.replace(cfg, lookup=dataclasses.replace(cfg.lookup, table_fusion=True)).to_json())
    with pytest.raises(ConfigError, match="table_fusion .* is not trained here"):
        train(TrainConfig(config=str(path), data=str(tmp_path), out=str(tmp_path / "run")), progress=False)
