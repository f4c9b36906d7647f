"""Loading official folders and our safetensors files; clear errors on bad files."""
from __future__ import annotations

import pickle

import pytest
import torch

from .conr_weights import layout
from conrt.errors import CheckpointError, ConfigError
from conrt.runtime.nn import checkpoint as ck
from conrt.runtime.nn.model import create_model


def test_paper_model_has_exactly_the_official_keys_and_shapes():
    model = create_model("conr-paper", empty=True)
    files = layout()["files"]
    for part, sd in model.part_state_dicts().items():
        want = {e["key"]: tuple(e["shape"]) for e in files[f"{part}.pth"]["keys"]}
        assert {k: tuple(v.shape) for k, v in sd.items()} == want
    assert sum(p.numel() for p in model.parameters()) == layout()["total_parameters"]


def _broken(sds, how):
    sd = dict(sds["shader.pth"])
    if how == "missing":
        del sd["decoder_blocks.3.conv0.0.bias"]
    elif how == "renamed":
        sd["decoder_blocks.3.conv0.0.biass"] = sd.pop("decoder_blocks.3.conv0.0.bias")
    elif how == "reshaped":
        sd["decoder_blocks.3.conv0.0.bias"] = torch.zeros(225)
    return sd


@pytest.mark.parametrize("how, words", [
    ("missing", ["missing", "decoder_blocks.3.conv0.0.bias [224]"]),
    ("renamed", ["missing", "unexpected", "decoder_blocks.3.conv0.0.biass [224]"]),
    ("reshaped", ["mismatched", "file [225], model [224]"]),
])
def test_bad_official_key_names_the_key_and_shapes(official_sds, how, words):
    model = create_model("conr-paper", empty=True)
    with pytest.raises(CheckpointError) as err:
        ck.load_parts(model, {"shader.pth": _broken(official_sds, how)})
    msg = str(err.value)
    assert "shader.pth" in msg
    for w in words:
        assert w in msg


def _write_official(folder, model):
    folder.mkdir(exist_ok=True)
    for part, sd in model.part_state_dicts().items():
        torch.save(sd, folder / f"{part}.pth")


def test_load_official_folder_roundtrip(tmp_path):
    src = create_model("conr-xs")
    _write_official(tmp_path / "w", src)
    got = ck.load_official(tmp_path / "w", "conr-xs")
    for (k, a), (_, b) in zip(src.state_dict().items(), got.state_dict().items()):
        assert torch.equal(a, b), k
    # the paper config refuses a folder of another layout, naming the file
    with pytest.raises(CheckpointError, match="udpparsernet.pth does not match"):
        ck.load_official(tmp_path / "w", "conr-paper")


def test_load_official_missing_file_and_not_a_folder(tmp_path):
    _write_official(tmp_path / "w", create_model("conr-xs"))
    (tmp_path / "w" / "shader.pth").unlink()
    with pytest.raises(CheckpointError, match="missing shader.pth"):
        ck.load_official(tmp_path / "w", "conr-xs")
    with pytest.raises(CheckpointError, match="not a folder"):
        ck.load_official(tmp_path / "nope", "conr-xs")


class Evil:  # a pickle that weights_only must refuse
    def __reduce__(self):
        return (print, ("should never run",))


@pytest.mark.parametrize("payload, match", [
    (lambda p: torch.save([torch.zeros(1)], p), "not a state dict"),
    (lambda p: torch.save(torch.nn.Linear(2, 2), p), "weights_only"),
    (lambda p: p.write_bytes(pickle.dumps({"x": Evil()})), "weights_only|corrupt"),
    (lambda p: p.write_bytes(b"\x00garbage" * 10), "corrupt|weights_only"),
    (lambda p: torch.save({"a": torch.zeros(1), "b": 3}, p), "not a state dict"),
])
def test_not_a_state_dict_is_refused(tmp_path, payload, match):
    _write_official(tmp_path / "w", create_model("conr-xs"))
    payload(tmp_path / "w" / "rgbadecodernet.pth")
    with pytest.raises(CheckpointError, match=match):
        ck.load_official(tmp_path / "w", "conr-xs")


def test_safetensors_roundtrip_embeds_the_config(tmp_path):
    src = create_model("conr-xs")
    path = ck.save_weights(src, tmp_path / "xs.safetensors")
    assert ck.read_config(path).name == "conr-xs"
    got = ck.load_model(path)
    assert got.cfg == src.cfg
    for (k, a), (_, b) in zip(src.state_dict().items(), got.state_dict().items()):
        assert torch.equal(a, b), k


def test_safetensors_without_config_or_corrupt(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="no conrt config"):
        ck.load_weights(tmp_path / "plain.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"nonsense")
    with pytest.raises(CheckpointError):
        ck.load_weights(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="no such file"):
        ck.load_model(tmp_path / "missing.safetensors")


def test_resolve_model_checks_config(tmp_path):
    path = ck.save_weights(create_model("conr-xs"), tmp_path / "xs.safetensors")
    assert ck.resolve_model(path).cfg.name == "conr-xs"
    with pytest.raises(CheckpointError, match="holds config 'conr-xs'"):
        ck.resolve_model(path, "conr-s")
    with pytest.raises(ConfigError, match="valid: conr-paper"):
        ck.resolve_model(None, "conr-nope")
