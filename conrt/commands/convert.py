"""``conrt convert``: an official CoNR folder (four .pth) -> one .safetensors file."""
from __future__ import annotations

import logging

from conrt.limits import check_output_file

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert", help="convert official CoNR weights (folder of four .pth) to one .safetensors file",
        description="Reads udpparsernet.pth, target_pose_encoder.pth, shader.pth and rgbadecodernet.pth "
                    "(torch.load weights_only, strict key/shape check) and writes a safetensors file "
                    "with the model config embedded.")
    p.add_argument("folder", help="folder with the four official .pth files")
    p.add_argument("-o", "--output", required=True, help="output .safetensors file")
    p.add_argument("--config", default="conr-paper", help="model config the folder matches (default conr-paper)")
    p.set_defaults(func=run)


def run(args) -> int:
    from conrt.runtime.nn.checkpoint import load_official, save_weights  # lazy: torch, not at CLI startup

    check_output_file(args.output, "-o", (".safetensors",))  # before loading 180 M parameters
    model = load_official(args.folder, args.config)
    path = save_weights(model, args.output)
    n = sum(p.numel() for p in model.parameters())
    print(f"conrt convert: {args.folder} -> {path} ({model.cfg.name}, {n:,} parameters)")
    return 0
