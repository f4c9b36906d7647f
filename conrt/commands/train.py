"""``conrt train``: train a CoNR config on a ``conrt data make`` folder (DDP under torchrun)."""
from __future__ import annotations

import logging
import os

from conrt.errors import ConfigError
from conrt.limits import check_output_folder

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a CoNR config on synthetic character sheets",
        description="AdamW (weight decay 1e-4), L1 + image-gradient L1 on premultiplied RGBA + alpha BCE; "
                    "m sheet views + 1 target per sample; CSV log, validation grid PNG, checkpoints "
                    "(last/best .safetensors + .optim.pt) in --out; --resume continues from last. "
                    "Multi-process: torchrun --nproc_per_node K -m conrt train ... (gloo on CPU, nccl on GPU).")
    p.add_argument("--config", default="conr-xs", help="model config (conr-xs, conr-s, conr-paper or a .json)")
    p.add_argument("--data", required=True, nargs="+", metavar="FOLDER",
                   help="dataset folder from `conrt data make`; several (e.g. 128² and 256²): each step draws "
                        "from one of them, at its own frame size (--size is then the saved image_size)")
    p.add_argument("--steps", type=int, default=1000, help="total optimizer steps (default 1000)")
    p.add_argument("--batch", type=int, default=4, help="global batch size (default 4)")
    p.add_argument("--views", type=int, default=4, help="m, sheet views per sample (default 4)")
    p.add_argument("--size", type=int, default=128, help="training image side (default 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--out", default="out/train/run", help="run folder (default out/train/run)")
    p.add_argument("--resume", action="store_true", help="continue from --out/last.safetensors + last.optim.pt")
    p.add_argument("--init", default="",
                   help="start from these weights (.safetensors of the same config, e.g. the embedded default) "
                        "with a fresh optimizer: fine-tuning / continuing without an optimizer state")
    p.add_argument("--init-parts", nargs="+", default=[], metavar="PART",
                   help="with --init: load only these top-level parts (e.g. udpparsernet) and start the "
                        "others fresh, for a new config that shares them")
    p.add_argument("--val-every", type=int, default=100, help="validate + checkpoint every N steps")
    p.add_argument("--log-every", type=int, default=10, help="log.csv row every N steps")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="also checkpoint this often")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads in total (default 1: fastest on a shared machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-augment", action="store_true", help="no sheet augmentation")
    p.add_argument("--udp-weight", type=float, default=0.5,
                   help="weight of the auxiliary UDP-detector loss on the sheet images (0 = off; default 0.5)")
    p.add_argument("--face-weight", type=float, default=0.0,
                   help="weight of the head-box loss (mean L1 + 1 - SSIM inside each target's head box, the box "
                        "the face score uses; procedural data only: the head is found from each character's "
                        "seed; 0 = off, the default)")
    p.add_argument("--table-mix", type=float, default=0.25,
                   help="data with exact sheet samples (conrt data make --exact): only the fusion net trains, "
                        "on those samples; this fraction of the steps shades through the 32³ table instead, so "
                        "sheets without view files keep working (default 0.25)")
    p.add_argument("--refine-everywhere", action="store_true",
                   help="exact samples: train the refinement on every pixel (session 5's fine-tune) instead of "
                        "where the runtime uses it (the weights' keep_seen and each sheet's look)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.face_weight < 0:
        raise ConfigError(f"--face-weight must be >= 0 (0 = off), got {args.face_weight}")
    if args.init_parts and not args.init:
        raise ConfigError("--init-parts needs --init WEIGHTS (the file the parts come from)")
    from conrt.training.losses import LossWeights  # lazy: torch, not at CLI startup
    from conrt.training.trainer import TrainConfig, train  # lazy: torch, not at CLI startup

    check_output_folder(args.out, "--out")  # before the work
    data = args.data[0] if len(args.data) == 1 else tuple(args.data)
    cfg = TrainConfig(config=args.config, data=data, out=args.out, steps=args.steps, batch=args.batch,
                      views=args.views, size=args.size, lr=args.lr, val_every=args.val_every,
                      log_every=args.log_every, checkpoint_minutes=args.checkpoint_minutes, seed=args.seed,
                      threads=args.threads, augment=not args.no_augment,
                      loss=LossWeights(udp=args.udp_weight, face=args.face_weight), init=args.init,
                      init_parts=tuple(args.init_parts), table_mix=args.table_mix,
                      runtime_rules=not args.refine_everywhere)
    result = train(cfg, resume=args.resume)

    if int(os.environ.get("RANK", 0)) == 0:
        val = result["val"] or {}
        print(f"conrt train: {args.out}: step {result['step']}, {result['elapsed_s']:.0f} s, "
              f"last l1 {result['l1']:.4f}" + (f", val l1 {val['l1']:.4f} ssim {val['ssim']:.4f} "
                                                f"psnr {val['psnr']:.2f}" if val else ""))
    return 0
