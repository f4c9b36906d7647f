"""``conrt export``: the per-frame CoNR graph as ONNX (opset 17, GridSample)."""
from __future__ import annotations

from conrt.limits import check_output_file, runtime_side


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export the per-frame CoNR graph (pose encoder + decoders) to ONNX",
        description="Inputs: udp [1,4,S,S], reference [1,views,4,S,S], sheet_feature_i [1,views,C,h,w] "
                    "(the cached sheet); output rgba [1,4,S,S] premultiplied. 'views' is dynamic.")
    p.add_argument("--weights", help="official folder, .safetensors or shipped weights by name (conr-rt-fast); "
                                     "default: the embedded conr-default (conr-rt), or the embedded weights of --config")
    p.add_argument("--config", default=None, help="model config (default: the one in --weights, else conr-rt)")
    p.add_argument("--size", type=runtime_side, default=None, help="image side S (default: the config's image_size)")
    p.add_argument("-o", "--output", required=True, help="output .onnx file")
    trt = p.add_argument_group("TensorRT (NVIDIA GPUs; needs `pip install conrt[gpu]`)")
    trt.add_argument("--tensorrt", action="store_true",
                     help="also build TensorRT engines from the ONNX file ahead of time (engine cache)")
    trt.add_argument("--precision", default="fp16", choices=("fp16", "fp32", "both"))
    trt.add_argument("--views", type=int, nargs=2, default=(1, 8), metavar=("MIN", "MAX"),
                     help="view-count range of the optimisation profile (default 1 8)")
    trt.add_argument("--cache-dir", default=None, help="engine cache (default ~/.cache/conrt/trt)")
    p.set_defaults(func=run)


def run(args) -> int:
    from conrt.runtime.backends.onnx_backend import export_onnx  # lazy: torch, not at CLI startup
    from conrt.runtime.nn.checkpoint import resolve_model  # lazy: torch, not at CLI startup

    check_output_file(args.output, "-o", (".onnx",))
    model = resolve_model(args.weights, args.config)
    path = export_onnx(model, args.output, args.size)
    print(f"conrt export: {model.cfg.name} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if args.tensorrt:
        from conrt.runtime.backends.gpu.build import build_engine_cli  # lazy: torch, not at CLI startup

        engines = build_engine_cli(path, args.precision, tuple(args.views), [args.size or model.cfg.image_size],
                                   args.cache_dir, size_multiple=model.cfg.size_multiple)
        for engine in engines:
            print(f"conrt export: TensorRT engine {engine}")
    return 0
