"""conrt eval: Table 1 keys, the nested view sets, --seeds, bad input."""
from __future__ import annotations

import json

import pytest
import torch

from conrt.cli import main
from conrt.errors import ConfigError
from conrt.runtime.nn.checkpoint import save_weights
from conrt.runtime.nn.conr_v1 import CoNR
from conrt.training.dataset import load_split
from conrt.training.evaluate import evaluate, parse_seeds
from conrt.training.trainer import model_config


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "xs64.safetensors"
    save_weights(CoNR(model_config("conr-xs", 64)).eval(), path)
    return path


def test_eval_json_on_the_test_split(weights, tiny_data, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["eval", "--weights", str(weights), "--data", str(tiny_data), "--views", "1,2,3",
                 "--targets", "2", "--json", "--grid", str(grid)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["n=1", "n=2", "n=3"]
    for row in out.values():
        assert set(row) >= {"l1", "ssim", "psnr"} and 0 < row["l1"] < 1 and row["samples"] == 2
    assert grid.is_file() and grid.stat().st_size > 1000
    from PIL import Image

    # 3 sheet views | UDP | prediction | ground truth | face of the prediction | face of the ground truth
    assert Image.open(grid).size == (8 * 64, 2 * 64)


def test_two_models_nest_under_their_names(weights, tiny_data, tmp_path, capsys):
    other = tmp_path / "other.safetensors"
    other.write_bytes(weights.read_bytes())
    assert main(["eval", "--weights", str(weights), str(other), "--data", str(tiny_data), "--views", "1",
                 "--targets", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"xs64", "other"} and out["xs64"] == out["other"]  # same weights, same numbers


def test_more_views_change_the_input(tiny_data, weights):
    from conrt.runtime.nn.checkpoint import load_weights

    chars = load_split(tiny_data, "test")
    table, grids = evaluate(load_weights(weights), chars, views=(1, 3), targets=1, progress=False)
    assert grids[1]["sheet_rgb"].shape[1] == 1 and grids[3]["sheet_rgb"].shape[1] == 3
    # nested view sets: the single view is the first of the three
    assert torch.equal(grids[1]["sheet_rgb"][:, 0], grids[3]["sheet_rgb"][:, 0])


def test_seeds_generate_unseen_characters(weights, capsys):
    assert main(["eval", "--weights", str(weights), "--seeds", "900000:900001", "--poses", "3",
                 "--views", "1,2", "--targets", "1", "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["n=1", "n=2"]


def test_bad_inputs(weights, tiny_data, tmp_path, caplog):
    with pytest.raises(ConfigError):
        parse_seeds("12")
    with pytest.raises(ConfigError):
        parse_seeds("5:5")
    assert main(["eval", "--weights", str(weights), "--data", str(tmp_path / "none")]) == 1
    assert "no such dataset" in caplog.text
    assert main(["eval", "--weights", str(weights), "--data", str(tiny_data), "--views", "1,8"]) == 1
    assert "view counts" in caplog.text
    assert main(["eval", "--weights", str(tmp_path / "missing.safetensors"), "--data", str(tiny_data)]) == 1


def test_flat_colour_baseline_row(weights, tiny_data, capsys):
    assert main(["eval", "--weights", str(weights), "--data", str(tiny_data), "--views", "1",
                 "--targets", "1", "--json", "--baseline"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"xs64", "flat-colour-baseline", "exact-lookup-baseline"}
    # the baseline paints exactly the UDP silhouette, so its alpha error is 0: it beats an untrained net
    assert out["flat-colour-baseline"]["n=1"]["l1"] < out["xs64"]["n=1"]["l1"]
    # the exact lookup copies real sheet pixels: sharper than the flat fill
    assert out["exact-lookup-baseline"]["n=1"]["sharpness"] > out["flat-colour-baseline"]["n=1"]["sharpness"]


def test_size_shades_at_that_size(weights, capsys, monkeypatch):
    """--size 128 with a 64² model: rendered AND shaded at 128 (was: rendered at
    128, then downsampled to the model's 64 before shading)."""
    import conrt.training.evaluate as ev

    seen = []
    real = ev.metrics

    def spy(pred, target, boxes=None):
        seen.append(pred.shape[-1])
        return real(pred, target, boxes)

    monkeypatch.setattr(ev, "metrics", spy)
    assert main(["eval", "--weights", str(weights), "--seeds", "900000:900001", "--poses", "2",
                 "--views", "1", "--targets", "1", "--size", "128"]) == 0
    assert seen == [128]
    assert "at 128x128" in capsys.readouterr().out
    assert main(["eval", "--weights", str(weights), "--seeds", "900000:900001", "--size", "100"]) == 1


def test_lookup_model_scores_with_true_and_predicted_sheet_udp(tiny_data, tmp_path, capsys):
    """conr-rt: an untrained UDP head gives poor tables; the true sheet UDP gives
    the lookup the right correspondences, so it must score better."""
    torch.manual_seed(0)
    path = tmp_path / "rt64.safetensors"
    from conrt.runtime.nn.model import create_model

    save_weights(create_model(model_config("conr-rt", 64)).eval(), path)
    assert main(["eval", "--weights", str(path), "--data", str(tiny_data), "--views", "1,3", "--targets", "2",
                 "--true-sheet-udp", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"rt64", "rt64 (true sheet UDP)"}
    assert out["rt64 (true sheet UDP)"]["n=3"]["l1"] < out["rt64"]["n=3"]["l1"]
