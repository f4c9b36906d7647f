"""``conrt shade``: one UDP frame + a character sheet -> premultiplied RGBA."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from conrt.limits import check_output_file, make_parents

from ._backend_args import add_backend_option_argument, backend_options

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "shade", help="shade a UDP pose frame with a character sheet (CoNR)",
        description="Runs CoNR: the sheet is encoded once, then the UDP frame is shaded. "
                    "-o out.npz writes float32 key 'rgba' (4 x H x W, premultiplied); "
                    "-o out.png writes an RGBA PNG (premultiplied, as the official code saves).")
    p.add_argument("--weights", help="official folder (four .pth) or .safetensors "
                                     "(default: the embedded weights of --config)")
    p.add_argument("--config", default=None, help="model config (default conr-paper, or the one in --weights)")
    p.add_argument("--sheet", nargs="+", required=True,
                   help="character sheet: a folder of RGBA views (as render/demo take) or the view images")
    p.add_argument("--udp", required=True, help="UDP pose: .npz (key 'i', H x W x 4) or a 4-channel image")
    p.add_argument("-o", "--output", required=True, help="out.png or out.npz")
    p.add_argument("--official", action="store_true",
                   help="reproduce the official input conventions exactly (uint8 quirks)")
    p.add_argument("--backend", default="auto", help="auto (default), torch, onnxruntime, gl-lookup or tensorrt")
    add_backend_option_argument(p)
    p.add_argument("--onnx", help="onnxruntime: use/write this exported graph instead of a temporary one")
    p.add_argument("--matting", choices=("uniform",), default=None,
                   help="make an alpha mask for opaque sheets by keying out a uniform background colour")
    p.add_argument("--size", type=int, default=None,
                   help="side the network works at (default: the sheet's side if usable, else the config's); "
                        "frames of other sizes are auto-centred, shaded and pasted back")
    p.set_defaults(func=run)


def run(args) -> int:
    from conrt.runtime.backends import create_backend, get_backend_class  # lazy: torch, not at CLI startup
    from conrt.runtime.nn.checkpoint import resolve_model  # lazy: torch, not at CLI startup
    from conrt.runtime.app.session import load_sheet  # lazy: torch, not at CLI startup
    from conrt.runtime.nn.sheet import read_udp  # lazy: torch, not at CLI startup

    out = check_output_file(args.output, "-o", (".png", ".npz"), create_parents=False)  # before the work
    source = args.sheet[0] if len(args.sheet) == 1 and Path(args.sheet[0]).is_dir() else args.sheet
    # the sheet as the runtime loads it (view count, cut-out views, their *_udp.npz), before the model
    sheet = load_sheet(source, matting=args.matting)
    udp = read_udp(args.udp)
    model = resolve_model(args.weights, args.config)
    options = backend_options(args)
    # auto: the fastest backend that runs this model and takes this many sheet views
    name = get_backend_class(args.backend, model, sheet.views).name
    if args.onnx and name == "onnxruntime":
        options.setdefault("onnx_path", args.onnx)
    with create_backend(name, model, sheet_views=sheet.views, **options) as backend:
        # framed as the official loader frames it (not the runtime's fit_sheet): --official reproduces it
        backend.encode_sheet(list(sheet.images), official=args.official, matting=args.matting, size=args.size,
                             sheet_udp=sheet.udps_for(model))
        rgba = backend.shade(udp)  # (H, W, 4) premultiplied
    make_parents(out)
    if out.suffix.lower() == ".npz":
        np.savez(out, rgba=np.ascontiguousarray(rgba.transpose(2, 0, 1), dtype=np.float32))
    else:
        from PIL import Image  # lazy: Pillow, not at CLI startup

        Image.fromarray((np.clip(rgba, 0, 1) * 255).astype(np.uint8), "RGBA").save(out)
    print(f"conrt shade: {out} ({rgba.shape[1]}x{rgba.shape[0]}, {model.cfg.name}, backend {backend.name})")
    return 0
