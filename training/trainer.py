"""The training loop: AdamW, L1 + gradient + alpha BCE on premultiplied RGBA,
CSV log, validation grids, checkpoints + resume, and DDP under ``torchrun``.

Run folder (``--out``)::

    train.json            the TrainConfig and model config of the run
    log.csv               one row per logged step (train losses; val metrics on validation rows)
    last.safetensors      latest weights (conrt format: config embedded, loadable by conrt.runtime)
    last.optim.pt         optimizer state + step + elapsed time (pairs with last.safetensors)
    best.safetensors      weights with the lowest validation L1 so far
    val_latest.png        validation grid (sheet view 0 | UDP | prediction | ground truth)

Batches are a pure function of (seed, step): every DDP rank draws the same
global batch and takes its own slice, and ``--resume`` continues with exactly
the batches the uninterrupted run would have seen.

Data with exact sheet samples (``conrt data make --exact``) and a lookup model
(conr-rt): only the ``FusionNet`` trains, on the samples the runtime's exact
correspondences give, under the runtime's rules (``shade_views``: the weights'
``keep_seen``, each sheet's look judged as the runtime judges it, the frame
clipped to the target's occupancy; ``runtime_rules=False``: the refinement on
every pixel, as session 5's fine-tune); a fraction ``table_mix`` of the steps
shades through the 32³ table instead (from the true or, per
``lookup.gt_sheet_udp``, the predicted sheet UDP), so the same weights still
serve sheets without view files.

``data`` may name several folders (e.g. the same recipe at 128² and 256²):
each step draws its batch from one of them (a pure function of (seed, step)),
at that folder's own frame size; ``size`` is then the saved ``image_size``.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from conrt.errors import CheckpointError, ConfigError, InputError

from .dataset import Augment, SheetDataset, load_split
from .losses import LossWeights, metrics, training_loss

log = logging.getLogger(__name__)

LOG_FIELDS = ("step", "elapsed_s", "lr", "loss", "l1", "grad", "bce", "udp", "face", "val_l1", "val_ssim", "val_psnr")


@dataclass(frozen=True)
class TrainConfig:
    config: str = "conr-xs"
    data: str | tuple[str, ...] = ""  # one dataset folder, or several (each trains at its own frame size)
    out: str = "out/train/run"
    steps: int = 1000
    batch: int = 4  # global batch (split over DDP ranks)
    views: int = 4  # m: sheet views per sample
    size: int = 128  # training image side (the saved config's image_size)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 50  # linear LR warm-up steps
    min_lr_ratio: float = 0.1  # cosine decay to lr * this at ``steps``
    log_every: int = 10
    val_every: int = 100
    val_characters: int = 8
    checkpoint_minutes: float = 5.0  # also checkpoints every val_every steps and at the end
    seed: int = 0
    # torch threads in total. 1 by default: on a shared, oversubscribed machine
    # intra-op threads spin-wait for each other (measured 2-8x slower with 2).
    threads: int = 1
    augment: bool = True
    loss: LossWeights = LossWeights()
    init: str = ""  # weights to start from (same config), fresh optimizer; ignored with --resume
    # with ``init``: only these top-level parts (e.g. ("udpparsernet",)) are
    # loaded, the rest starts fresh: a new config that shares a part
    init_parts: tuple[str, ...] = ()
    # data with exact samples: the fraction of steps that shade through the table instead
    table_mix: float = 0.25
    # data with exact samples: shade them as the runtime does (``shade_views``); False: refine every pixel
    runtime_rules: bool = True


def model_config(name: str, size: int):
    """The named config with ``image_size`` set to the training size (the
    runtime then crops/pads frames to the size the weights were trained at)."""
    from conrt.runtime.nn.config import get_config

    cfg = get_config(name)
    if size % cfg.size_multiple:
        raise ConfigError(f"--size {size}: {cfg.name} needs sides that are multiples of {cfg.size_multiple}")
    return dataclasses.replace(cfg, image_size=size).validate()


# ---------------------------------------------------------------------------
# distributed helpers
# ---------------------------------------------------------------------------
def _dist_env() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _init_dist(world: int) -> bool:
    if world <= 1:
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return True


def _freeze_unused(model, sheet_head: bool) -> None:
    """The pose encoder's U-Net head is not used (the rasterizer gives us the
    target UDP), nor is the sheet encoder's when the UDP-detector loss is off.
    Freezing them keeps DDP from waiting for gradients that never come. They
    stay in the state dict (and in the optimizer, which skips parameters
    without grads), so checkpoints keep the official layout."""
    if model.takes_sheet_udp:  # lookup: no pose encoder; the sheet head builds the table
        return
    encoders = (model.target_pose_encoder,) if sheet_head else (model.udpparsernet, model.target_pose_encoder)
    for enc in encoders:
        for name in ("upsample_blocks", "final_conv"):
            part = getattr(enc, name, None)
            if part is not None:
                part.requires_grad_(False)


class _TrainNet(torch.nn.Module):
    """Everything that needs gradients in one forward (what DDP wraps):
    the rendered RGBA and, optionally, the sheet head's UDP predictions."""

    def __init__(self, model, sheet_head: bool, true_tables: bool = False, runtime_rules: bool = True):
        super().__init__()
        self.model, self.sheet_head = model, sheet_head
        self.true_tables = true_tables  # fine-tuning the fusion for exact samples: tables from the true sheet UDP
        self.runtime_rules = runtime_rules

    def forward(self, sheet_rgb, sheet_mask, udp, sheet_udp=None, use_true_udp=None, sampled=None, cover=None,
                ink=None, shaded=None, gbuf=None):
        m = self.model
        if sampled is not None:  # exact sheet samples (the runtime's correspondence pass): FusionNet alone
            return shade_views(m, sampled, cover, udp, ink, shaded, self.runtime_rules, gbuf), None
        if m.takes_sheet_udp:  # lookup: the table from the predicted or the true sheet UDP
            return self._lookup_forward(sheet_rgb, sheet_mask, udp, sheet_udp, use_true_udp)
        feats, reference = m.encode_sheet(sheet_rgb, sheet_mask)
        rgba = m.render(m.encode_pose(udp), reference, feats)
        if not self.sheet_head:
            return rgba, None
        return rgba, m.udpparsernet.decode([f.flatten(0, 1) for f in feats])  # [N*M, 4, S, S]

    def _lookup_forward(self, sheet_rgb, sheet_mask, udp, sheet_udp, use_true_udp):
        """The lookup architecture: the table comes from the predicted sheet UDP
        (no gradient flows through the binning; the head learns from its own
        UDP loss) or, for the samples in ``use_true_udp`` [N] bool, from the
        true one, so the fusion also learns from clean correspondences."""
        m = self.model
        n, views = sheet_rgb.shape[:2]
        if self.true_tables and sheet_udp is not None:
            # the sheet head is frozen (fine-tuning the fusion): the table from the
            # sheet's true UDP (the head's prediction costs ~5 s per batch at 256²)
            reference = torch.cat([sheet_rgb, sheet_mask], 2)
            return m.render(m.encode_pose(udp), reference, [m.table(sheet_udp[:, :, :3], sheet_mask)]), None
        raw = m.sheet_udp_logits(sheet_rgb)  # [N*M, 4, S, S]
        xyz = torch.sigmoid(raw[:, :3]).detach().reshape(n, views, 3, *sheet_rgb.shape[-2:])
        if sheet_udp is not None and use_true_udp is not None:
            xyz = torch.where(use_true_udp.reshape(n, 1, 1, 1, 1), sheet_udp[:, :, :3], xyz)
        reference = torch.cat([sheet_rgb, sheet_mask], 2)
        rgba = m.render(m.encode_pose(udp), reference, [m.table(xyz, sheet_mask)])
        return rgba, raw


def shade_views(model, sampled, cover, udp, ink=None, shaded=None, runtime_rules: bool = True,
                gbuf=None) -> torch.Tensor:
    """A lookup model's fusion net on exact sheet samples as the runtime shades a sheet
    with view files (``LookupNet.render_views``): the weights' ``lookup.keep_seen``, the
    sheet's look (``ink``, ``shaded`` [N]: ``SheetDataset.look``) choosing where the
    refinement is used (kept seen colours, inked edges, the plain lookup on unlit
    sheets; the target's G-buffer ``gbuf``, ``SheetDataset``'s: where its lines are inked), the
    frame clipped to the target's occupancy (the runtime's ShadeStage).
    The loss then reaches the refinement only where the runtime shows it.
    ``runtime_rules=False``: the refinement on every pixel (session 5's fine-tune)."""
    if not runtime_rules:
        return model.fusion(sampled, cover, model.encode_pose(udp)[0])
    return model.render_views(udp, sampled, cover, ink, shaded, gbuf) * udp[:, 3:4]


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows past the checkpoint we resume from (they will be redone)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keep = [r for r in rows if int(r["step"]) <= step]
    if len(keep) == len(rows) and set(rows[0] if rows else LOG_FIELDS) == set(LOG_FIELDS):
        return
    keep = [{k: r.get(k, "") for k in LOG_FIELDS} for r in keep]  # also upgrades an older header
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, LOG_FIELDS)
        w.writeheader()
        w.writerows(keep)
    os.replace(tmp, path)


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def batch_indices(num: int, batch: int, seed: int, step: int) -> np.ndarray:
    return np.random.default_rng([seed, 99, step]).integers(0, num, batch)


# ---------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------
def save_checkpoint(run: Path, model, optimizer, step: int, elapsed: float, best: float, name: str = "last") -> None:
    from conrt.runtime.nn.checkpoint import save_weights

    tmp_w, tmp_o = run / f".{name}.tmp.safetensors", run / f".{name}.optim.tmp.pt"
    save_weights(model, tmp_w)
    torch.save({"optimizer": optimizer.state_dict(), "step": step, "elapsed_s": elapsed, "best_val_l1": best}, tmp_o)
    os.replace(tmp_w, run / f"{name}.safetensors")
    os.replace(tmp_o, run / f"{name}.optim.pt")


def load_checkpoint(run: Path, model, optimizer, name: str = "last") -> tuple[int, float, float]:
    """Restore weights + optimizer; returns (step, elapsed seconds, best val L1)."""
    from safetensors.torch import load_file

    wpath, opath = run / f"{name}.safetensors", run / f"{name}.optim.pt"
    if not (wpath.is_file() and opath.is_file()):
        raise CheckpointError(f"--resume: no checkpoint in {run} (need {wpath.name} and {opath.name})")
    try:
        sd = load_file(str(wpath))
        state = torch.load(opath, map_location="cpu", weights_only=True)  # plain tensors and numbers only
    except Exception as exc:  # safetensors/pickle raise their own types
        raise CheckpointError(f"{run}: cannot read the checkpoint ({exc})") from exc
    missing = set(model.state_dict()) ^ set(sd)
    if missing:
        raise CheckpointError(f"{wpath}: does not match the model ({len(missing)} differing keys, e.g. "
                              f"{sorted(missing)[:3]}); was it trained with another --config?")
    model.load_state_dict(sd)
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), float(state["elapsed_s"]), float(state.get("best_val_l1", float("inf")))


def _init_weights(model, path: Path, parts: tuple[str, ...] = ()) -> None:
    """Load ``path`` (conrt .safetensors) into ``model``: same architecture and
    parameter shapes; with ``parts``, only those top-level parts (each of them
    whole), the rest of ``model`` keeps its fresh weights."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"--init {path}: no such file")
    try:
        sd = load_file(str(path))
    except Exception as exc:  # safetensors raises its own types
        raise CheckpointError(f"--init {path}: cannot read the weights ({exc})") from exc
    own = model.state_dict()
    table = sorted(k for k in sd if k.startswith("table_fusion.") and k not in own)
    if table:  # the shipped default's table-mode fusion net: not trained here (scripts/add_table_fusion.py)
        log.info("--init %s: its table-mode fusion net (%d table_fusion.* tensors) is left out; add one to the "
                 "trained weights with scripts/add_table_fusion.py", path, len(table))
        sd = {k: v for k, v in sd.items() if k not in table}
    if parts:
        names = sorted({k.split(".", 1)[0] for k in own})
        unknown = [p for p in parts if p not in names]
        if unknown:
            raise CheckpointError(f"--init-parts {unknown}: {model.cfg.name} has the parts {names}")
        own = {k: v for k, v in own.items() if k.split(".", 1)[0] in parts}
        sd = {k: v for k, v in sd.items() if k.split(".", 1)[0] in parts}
    bad = sorted(set(own) ^ set(sd)) + sorted(k for k in set(own) & set(sd) if own[k].shape != sd[k].shape)
    if bad:
        what = f"the parts {list(parts)} of " if parts else ""
        raise CheckpointError(f"--init {path}: does not match {what}{model.cfg.name} ({len(bad)} differing keys, "
                              f"e.g. {bad[:3]}); was it trained with another --config?")
    model.load_state_dict(sd, strict=not parts)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
@torch.no_grad()
def validate(model, val: SheetDataset, samples: int = 8, batch: int = 4,
             runtime_rules: bool = True) -> tuple[dict[str, float], dict]:
    """Fixed validation samples (no augmentation) -> mean metrics, and the first batch for the grid.
    Exact samples are shaded as training shades them (``shade_views``)."""
    model.eval()
    idx = [(k * val.poses + (k * 5) % val.poses) % len(val) for k in range(samples)]
    sums, n, first = {"l1": 0.0, "ssim": 0.0, "psnr": 0.0}, 0, None
    for i in range(0, len(idx), batch):
        b = val.batch(idx[i:i + batch], key=0)
        if val.exact and getattr(model, "takes_views", False):  # as the runtime shades a sheet with view files
            pred = shade_views(model, b["sampled"], b["cover"], b["udp"], b["ink"], b["shaded"], runtime_rules,
                               b.get("gbuf"))
        else:
            pred = model(b["sheet_rgb"], b["sheet_mask"], b["udp"])
        for k, v in metrics(pred, b["target"]).items():
            if k in sums:  # the logged validation metrics
                sums[k] += float(v.sum())
        n += pred.shape[0]
        if first is None:
            first = {**b, "pred": pred}
    model.train()
    return {k: v / n for k, v in sums.items()}, first


def validate_sets(model, sets: list[SheetDataset], samples: int = 8,
                  runtime_rules: bool = True) -> tuple[dict[str, float], dict]:
    """``validate`` on each folder's validation set -> the metrics' mean over the folders
    (each folder weighs the same, as each is drawn as often in training), the first's grid."""
    results = [validate(model, ds, samples, runtime_rules=runtime_rules) for ds in sets]
    mean = {k: sum(r[0][k] for r in results) / len(results) for k in results[0][0]}
    return mean, results[0][1]


def save_grid(path, batch: dict, rows: int = 4) -> None:
    """PNG: per row sheet views | UDP | prediction | ground truth, on grey."""
    from PIL import Image

    def show(premul):  # [4,H,W] premultiplied -> [H,W,3] on grey
        x = premul.detach().float().clamp(0, 1).permute(1, 2, 0).numpy()
        return x[..., :3] + 0.75 * (1 - x[..., 3:4])

    lines = []
    for r in range(min(rows, batch["udp"].shape[0])):
        sheets = [show(torch.cat([batch["sheet_rgb"][r, v], batch["sheet_mask"][r, v]], 0))
                  for v in range(batch["sheet_rgb"].shape[1])]
        u = batch["udp"][r].float()
        udp = (u[:3] * u[3:4]).permute(1, 2, 0).numpy()
        lines.append(np.concatenate(sheets + [udp, show(batch["pred"][r]), show(batch["target"][r])], 1))
    img = (np.clip(np.concatenate(lines, 0), 0, 1) * 255).astype(np.uint8)
    Image.fromarray(img).save(path)


# ---------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------
def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Train; returns {"step", "elapsed_s", "last_loss", "l1", "val", "best_val_l1", "model"}.
    Works alone or under torchrun (env RANK/WORLD_SIZE)."""
    from tqdm import tqdm

    from conrt.runtime.nn.model import create_model

    rank, world = _dist_env()
    if cfg.batch % world:
        raise ConfigError(f"--batch {cfg.batch} must be divisible by the number of processes ({world})")
    if cfg.steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {cfg.steps}")
    torch.set_num_threads(max(1, cfg.threads // world if world > 1 else cfg.threads))
    mcfg = model_config(cfg.config, cfg.size)
    if mcfg.lookup.table_fusion:  # (False on every architecture but lookup's)
        raise ConfigError(f"--config {cfg.config}: lookup.table_fusion (a second fusion net for the table mode) is not "
                          "trained here; train a config without it and add a table-mode net to the weights file "
                          "with scripts/add_table_fusion.py")
    distributed = _init_dist(world)
    run = Path(cfg.out)
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)

    folders = (cfg.data,) if isinstance(cfg.data, str) else tuple(cfg.data)
    if not folders or not all(folders):
        raise ConfigError("--data: name at least one dataset folder (`conrt data make`)")
    # several folders: each at its own frame size (one alone: resized to --size, as before)
    train_sets, val_sets = [], []
    for folder in folders:
        chars = load_split(folder, "train")
        size = cfg.size if len(folders) == 1 else None
        train_sets.append(SheetDataset(chars, cfg.views, size, Augment() if cfg.augment else None, cfg.seed,
                                       head_boxes=cfg.loss.face > 0))
        try:
            val_chars = load_split(folder, "val", limit=cfg.val_characters)
        except InputError:
            val_chars = []
        val_sets.append(SheetDataset(val_chars or chars[:cfg.val_characters], cfg.views, size, None, cfg.seed + 1))
    train_set = train_sets[0]
    train_chars = [c for ds in train_sets for c in ds.characters]

    torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts them)
    model = create_model(mcfg)
    if len({ds.exact for ds in train_sets}) > 1:
        raise ConfigError(f"--data {' '.join(folders)}: mixes folders with and without exact samples "
                          "(`data make --exact`); give folders of one kind")
    exact = train_set.exact and getattr(model, "takes_views", False)
    if not 0.0 <= cfg.table_mix <= 1.0:
        raise ConfigError(f"--table-mix is a fraction of steps in 0..1, got {cfg.table_mix}")
    sheet_head = (cfg.loss.udp > 0 and mcfg.sheet_encoder.decoder_filters and mcfg.sheet_encoder.classes == 4
                  and not exact)
    _freeze_unused(model, bool(sheet_head))
    if exact:  # fine-tuning for exact correspondences: the sheet encoder is not on that path
        for name, part in model.named_children():
            if name != "fusion":
                part.requires_grad_(False)
        log.info("%s: exact sheet samples in the data: training the fusion only (%.0f %% of the steps "
                 "through the table)", cfg.data, 100 * cfg.table_mix)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                  weight_decay=cfg.weight_decay)
    step, elapsed, best = 0, 0.0, float("inf")
    if cfg.init and not resume:
        _init_weights(model, Path(cfg.init), tuple(cfg.init_parts))
        log.info("initialised %s from %s%s", mcfg.name, cfg.init,
                 f" (parts {', '.join(cfg.init_parts)}; the rest fresh)" if cfg.init_parts else "")
    if resume:
        step, elapsed, best = load_checkpoint(run, model, optimizer)
        log.info("resumed %s at step %d (%.0f s trained)", run, step, elapsed)
        if rank == 0:
            _truncate_log(run / "log.csv", step)
    elif rank == 0 and (run / "log.csv").exists():
        (run / "log.csv").unlink()  # a fresh run starts a fresh log
    net = _TrainNet(model, bool(sheet_head), true_tables=exact, runtime_rules=cfg.runtime_rules)
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(net)
    if rank == 0:
        (run / "train.json").write_text(json.dumps({"train": dataclasses.asdict(cfg), "model": mcfg.to_dict(),
                                                    "world_size": world, "train_characters": len(train_chars),
                                                    "val_characters": sum(len(v.characters) for v in val_sets),
                                                    "sizes": [ds.size for ds in train_sets]}, indent=1))
    log_file = None
    writer = None
    if rank == 0:
        new = not (run / "log.csv").exists()
        log_file = open(run / "log.csv", "a", newline="")
        writer = csv.DictWriter(log_file, LOG_FIELDS)
        if new:
            writer.writeheader()

    model.train()
    per_rank = cfg.batch // world
    last_ckpt = time.time()
    last = {}
    bar = tqdm(total=cfg.steps, initial=step, unit="step", desc=f"train {mcfg.name}",
               disable=not progress or rank != 0)
    try:
        while step < cfg.steps:
            t0 = time.time()
            lr = lr_at(cfg, step)
            for g in optimizer.param_groups:
                g["lr"] = lr
            # which folder this step draws from (a pure function of (seed, step), as the batch)
            train_set = train_sets[int(np.random.default_rng([cfg.seed, 13, step]).integers(len(train_sets)))]
            idx = batch_indices(len(train_set), cfg.batch, cfg.seed, step)[rank * per_rank:(rank + 1) * per_rank]
            b = train_set.batch(idx, key=step)
            true_udp = None
            if model.takes_sheet_udp:  # which samples build their table from the true sheet UDP
                draw = np.random.default_rng([cfg.seed, 7, step]).random(cfg.batch)[rank * per_rank:(rank + 1) * per_rank]
                true_udp = torch.from_numpy(draw < mcfg.lookup.gt_sheet_udp)
            views = {}
            if exact and np.random.default_rng([cfg.seed, 11, step]).random() >= cfg.table_mix:
                views = {k: b[k] for k in ("sampled", "cover", "ink", "shaded", "gbuf") if k in b}
            pred, udp_pred = net(b["sheet_rgb"], b["sheet_mask"], b["udp"], b["sheet_udp"], true_udp, **views)
            loss, parts = training_loss(pred, b["target"], cfg.loss, udp_pred, b["sheet_udp"].flatten(0, 1),
                                        b.get("head_box"))
            if not torch.isfinite(loss):
                raise InputError(f"step {step}: the loss is {float(loss)}; lower --lr or check the data")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            elapsed += time.time() - t0
            last = parts
            bar.update(1)
            bar.set_postfix(l1=f"{parts['l1']:.4f}", loss=f"{parts['loss']:.4f}")
            row = None
            if rank == 0 and (step % cfg.log_every == 0 or step == cfg.steps):
                row = {"step": step, "elapsed_s": round(elapsed, 1), "lr": f"{lr:.3g}",
                       **{k: f"{v:.5f}" for k, v in parts.items()}}
            do_val = step % cfg.val_every == 0 or step == cfg.steps
            if do_val and rank == 0:
                val, grid = validate_sets(model, val_sets, cfg.val_characters, cfg.runtime_rules)
                save_grid(run / "val_latest.png", grid)
                row = row or {"step": step, "elapsed_s": round(elapsed, 1), "lr": f"{lr:.3g}",
                              **{k: f"{v:.5f}" for k, v in parts.items()}}
                row.update({f"val_{k}": f"{v:.5f}" for k, v in val.items()})
                last["val"] = val
                if val["l1"] < best:
                    best = val["l1"]
                    save_checkpoint(run, model, optimizer, step, elapsed, best, "best")
                log.info("step %d: val l1 %.4f ssim %.4f psnr %.2f (best l1 %.4f)", step, val["l1"], val["ssim"],
                         val["psnr"], best)
            if row is not None:
                writer.writerow(row)
                log_file.flush()
            if rank == 0 and (do_val or time.time() - last_ckpt > cfg.checkpoint_minutes * 60):
                save_checkpoint(run, model, optimizer, step, elapsed, best)
                last_ckpt = time.time()
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
        if distributed:
            import torch.distributed as dist

            dist.destroy_process_group()
    return {"step": step, "elapsed_s": elapsed, "last_loss": last.get("loss"), "l1": last.get("l1"),
            "val": last.get("val"), "best_val_l1": best, "model": model}
