"""Training: loss goes down, checkpoints resume exactly, DDP ranks stay in sync, bad input."""
from __future__ import annotations

import dataclasses
import os
import socket

import pytest
import torch

from conrt.errors import CheckpointError, ConfigError, InputError
from conrt.runtime.nn.checkpoint import load_weights
from conrt.runtime.nn.conr_v1 import CoNR
from conrt.runtime.nn.model import create_model
from conrt.training.dataset import SheetDataset, load_split
from conrt.training.losses import training_loss
from conrt.training.trainer import TrainConfig, model_config, train


def _cfg(data, out, **kw) -> TrainConfig:
    base = dict(config="conr-xs", data=str(data), out=str(out), steps=2, batch=2, views=2, size=64,
                val_every=100, val_characters=1, log_every=1, warmup=1)
    return TrainConfig(**{**base, **kw})


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(tiny_data):
    torch.manual_seed(0)
    ds = SheetDataset(load_split(tiny_data, "train"), views=2, augment=None)
    b = ds.batch([0, 2], key=0)
    model = CoNR(model_config("conr-xs", 64))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    losses = []
    for _ in range(12):
        loss, _ = training_loss(model(b["sheet_rgb"], b["sheet_mask"], b["udp"]), b["target"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_resume_continues_from_the_saved_step(tiny_data, tmp_path):
    full = train(_cfg(tiny_data, tmp_path / "full", steps=3), progress=False)
    train(_cfg(tiny_data, tmp_path / "cut", steps=2), progress=False)
    resumed = train(_cfg(tiny_data, tmp_path / "cut", steps=3), resume=True, progress=False)
    assert resumed["step"] == 3
    rows = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    # same batches, same optimizer state: the resumed weights equal the uninterrupted run's
    for k, v in full["model"].state_dict().items():
        torch.testing.assert_close(resumed["model"].state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=k)
    # the checkpoint is a runtime-loadable model at the training size
    model = load_weights(tmp_path / "cut" / "last.safetensors")
    assert model.cfg.name == "conr-xs" and model.cfg.image_size == 64
    assert (tmp_path / "cut" / "val_latest.png").is_file() and (tmp_path / "cut" / "best.safetensors").is_file()


def test_bad_inputs(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="unknown config"):
        train(_cfg(tiny_data, tmp_path / "a", config="conr-huge"), progress=False)
    with pytest.raises(InputError, match="no such dataset"):
        train(_cfg(tmp_path / "nope", tmp_path / "b"), progress=False)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(_cfg(tiny_data, tmp_path / "c"), resume=True, progress=False)
    with pytest.raises(ConfigError, match="multiples of 64"):
        train(_cfg(tiny_data, tmp_path / "d", size=48), progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, cfg: TrainConfig, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    result = train(cfg, progress=False)
    torch.save(result["model"].state_dict(), os.path.join(out, f"rank{rank}.pt"))


def test_ddp_two_processes_stay_in_sync(tiny_data, tmp_path):
    cfg = _cfg(tiny_data, tmp_path / "run", steps=2, batch=2)
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True)
    a, b = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    torch.manual_seed(cfg.seed)  # the initial weights train() starts from
    init = CoNR(model_config("conr-xs", 64)).state_dict()
    changed = 0
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)  # bit-identical across ranks
        changed += not torch.equal(a[k], init[k])
    assert changed > 0  # and they did train
    assert (tmp_path / "run" / "last.safetensors").is_file()
    assert dataclasses.asdict(cfg)["batch"] == 2


def test_lookup_config_trains_and_resumes_exactly(tiny_data, tmp_path):
    """conr-rt through the same loop: the true/predicted-table draw is a function
    of (seed, step), so a resumed run equals the uninterrupted one."""
    full = train(_cfg(tiny_data, tmp_path / "full", config="conr-rt", steps=3), progress=False)
    train(_cfg(tiny_data, tmp_path / "cut", config="conr-rt", steps=2), progress=False)
    resumed = train(_cfg(tiny_data, tmp_path / "cut", config="conr-rt", steps=3), resume=True, progress=False)
    for k, v in full["model"].state_dict().items():
        torch.testing.assert_close(resumed["model"].state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=k)
    rows = (tmp_path / "full" / "log.csv").read_text().splitlines()
    assert rows[0].split(",")[7] == "udp" and all(r.split(",")[7] for r in rows[1:])  # the sheet head trains
    model = load_weights(tmp_path / "cut" / "last.safetensors")
    assert model.cfg.name == "conr-rt" and model.cfg.architecture == "lookup" and model.cfg.image_size == 64


def test_init_starts_from_given_weights_with_a_fresh_optimizer(tiny_data, tmp_path):
    first = train(_cfg(tiny_data, tmp_path / "a", steps=1), progress=False)
    weights = tmp_path / "a" / "last.safetensors"
    # zero steps of lr: the model stays exactly the initial weights
    again = train(_cfg(tiny_data, tmp_path / "b", steps=1, lr=0.0, init=str(weights)), progress=False)
    for k, v in first["model"].state_dict().items():
        torch.testing.assert_close(again["model"].state_dict()[k], v, msg=k)
    with pytest.raises(CheckpointError, match="another --config"):
        train(_cfg(tiny_data, tmp_path / "c", config="conr-rt", init=str(weights)), progress=False)
    with pytest.raises(CheckpointError, match="--init .*no such file"):
        train(_cfg(tiny_data, tmp_path / "d", init=str(tmp_path / "missing.safetensors")), progress=False)


def test_init_parts_loads_only_the_shared_part(tiny_data, tmp_path):
    """conr-rt-fast shares conr-rt's sheet encoder, not its FusionNet: --init-parts
    udpparsernet takes the one and leaves the other fresh."""
    rt = train(_cfg(tiny_data, tmp_path / "rt", config="conr-rt", steps=1), progress=False)
    weights = str(tmp_path / "rt" / "last.safetensors")
    with pytest.raises(CheckpointError, match="another --config"):  # the fusion nets differ
        train(_cfg(tiny_data, tmp_path / "a", config="conr-rt-fast", init=weights), progress=False)
    with pytest.raises(CheckpointError, match="--init-parts .*shader.*has the parts"):
        train(_cfg(tiny_data, tmp_path / "b", config="conr-rt-fast", init=weights, init_parts=("shader",)),
              progress=False)
    fast = train(_cfg(tiny_data, tmp_path / "c", config="conr-rt-fast", steps=1, lr=0.0, init=weights,
                      init_parts=("udpparsernet",)), progress=False)["model"].state_dict()
    torch.manual_seed(0)  # the fresh weights train() starts from (seed 0)
    fresh = create_model(model_config("conr-rt-fast", 64)).state_dict()
    for k, v in rt["model"].state_dict().items():
        if k.startswith("udpparsernet."):
            torch.testing.assert_close(fast[k], v, rtol=0, atol=0, msg=k)
    fusion = [k for k in fast if k.startswith("fusion.")]
    assert fusion and all(torch.equal(fast[k], fresh[k]) for k in fusion)


def test_cli_init_parts_without_init_is_named(tmp_path, caplog):
    from conrt.cli import main

    assert main(["train", "--data", str(tmp_path), "--init-parts", "udpparsernet"]) == 1
    assert "--init-parts needs --init" in caplog.text
