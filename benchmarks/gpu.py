"""GPU benchmark: per-frame CoNR fps at 256²/512² × 1/4/8 sheet views for
TensorRT FP16, TensorRT FP32 and ONNX Runtime's CUDA provider.

What is timed: the per-frame graph only (pose encoder + collaborative
decoder + RGBA decoder), with the sheet tensors already on the device (they
are computed once per character) and the UDP already on the device — what
the interop path runs per frame. For TensorRT that is ``execute_async_v3``
on a stream; for ONNX Runtime, ``run_with_iobinding`` with CUDA-resident
inputs/outputs. Each case: warm-up runs, then ``--frames`` runs; median and
best ms are reported (wall clock around enqueue + stream synchronise).
TensorRT engines come from (and go into) the engine cache, so a second run
skips the builds. Weights are random (speed does not depend on them).

On a machine without an NVIDIA GPU/TensorRT/ORT-CUDA the benchmark still
runs: it says which parts it skipped and why, and exits 0.

Usage: python benchmarks/gpu.py [--config conr-paper] [--sizes 256 512]
       [--views 1 4 8] [--frames 50] [--warmup 10] [--cache-dir DIR]
       [--json benchmarks/results/gpu.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger("gpu_bench")


def _ort_cuda_status() -> tuple[bool, str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return False, "onnxruntime is not installed"
    providers = ort.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        return False, (f"this onnxruntime has no CUDAExecutionProvider (has {', '.join(providers)}); "
                       "install onnxruntime-gpu on a machine with an NVIDIA GPU")
    return True, f"onnxruntime {ort.__version__} CUDA"


def _time(fn, sync, frames: int, warmup: int) -> dict:
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(frames):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
    med = statistics.median(samples)
    return {"ms_median": round(med * 1e3, 3), "ms_best": round(min(samples) * 1e3, 3), "fps": round(1.0 / med, 1)}


def _feeds(model, size: int, views: int) -> dict[str, np.ndarray]:
    from conrt.runtime.backends.onnx_backend import example_inputs, input_names

    return {n: t.numpy() for n, t in zip(input_names(model), example_inputs(model, size, views))}


def bench_tensorrt(model, onnx_path: Path, size: int, views_list, precision: str, cache_dir, frames, warmup):
    from conrt.runtime.backends.gpu.build import build_engine
    from conrt.runtime.backends.gpu.engine import TrtEngine
    from conrt.runtime.backends.gpu.engine_cache import EngineCache
    from conrt.runtime.backends.gpu.profiles import make_profile

    profile = make_profile(views=(1, 8), sizes=[size], size_multiple=model.cfg.size_multiple)
    t0 = time.perf_counter()
    path = build_engine(onnx_path, precision=precision, profile=profile, cache=EngineCache(cache_dir),
                        report=lambda msg: print("  " + msg, flush=True))
    build_s = time.perf_counter() - t0
    rows = []
    with TrtEngine(path.read_bytes()) as engine:
        for views in views_list:
            feeds = _feeds(model, size, views)
            udp = feeds.pop("udp")
            engine.set_shapes({"udp_gl": (1, size, size, 4), **{k: v.shape for k, v in feeds.items()}})
            for name, arr in feeds.items():
                engine.upload(name, arr)
            engine.upload("udp_gl", np.ascontiguousarray(udp[0].transpose(1, 2, 0)[::-1])[None])
            r = _time(engine.execute, engine.synchronize, frames, warmup)
            rows.append({"backend": f"tensorrt-{precision}", "size": size, "views": views,
                         "engine_build_or_load_s": round(build_s, 1), **r})
            print(f"  {rows[-1]}", flush=True)
    return rows


def bench_ort_cuda(model, onnx_path: Path, size: int, views_list, frames, warmup):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CUDAExecutionProvider"])
    rows = []
    for views in views_list:
        binding = sess.io_binding()
        for name, arr in _feeds(model, size, views).items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr, "cuda", 0))
        binding.bind_output("rgba", "cuda")
        r = _time(lambda: sess.run_with_iobinding(binding), binding.synchronize_outputs, frames, warmup)
        rows.append({"backend": "onnxruntime-cuda", "size": size, "views": views, **r})
        print(f"  {rows[-1]}", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="conr-paper")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--views", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--cache-dir", default=None, help="engine cache (default ~/.cache/conrt/trt)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from conrt.runtime.backends.gpu.status import tensorrt_status

    trt_ok, trt_reason = tensorrt_status()
    ort_ok, ort_reason = _ort_cuda_status()
    result = {"machine": platform.platform(), "python": sys.version.split()[0], "config": args.config,
              "sizes": args.sizes, "views": args.views, "frames": args.frames,
              "tensorrt": trt_reason, "onnxruntime_cuda": ort_reason, "rows": [], "skipped": []}
    print(f"TensorRT:         {'yes' if trt_ok else 'SKIPPED'} — {trt_reason}")
    print(f"ONNX Runtime CUDA: {'yes' if ort_ok else 'SKIPPED'} — {ort_reason}")
    if not trt_ok:
        result["skipped"] += ["tensorrt-fp16", "tensorrt-fp32"]
    if not ort_ok:
        result["skipped"].append("onnxruntime-cuda")

    if trt_ok or ort_ok:
        from conrt.runtime.backends.onnx_backend import export_onnx
        from conrt.runtime.nn.model import create_model

        model = create_model(args.config).eval()
        with tempfile.TemporaryDirectory(prefix="conrt-gpu-bench-") as tmp:
            for size in args.sizes:
                onnx_path = Path(tmp) / f"{args.config}-{size}.onnx"
                print(f"{args.config} {size}x{size}: exporting the per-frame graph", flush=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    export_onnx(model, onnx_path, size)
                if trt_ok:
                    for precision in ("fp16", "fp32"):
                        result["rows"] += bench_tensorrt(model, onnx_path, size, args.views, precision,
                                                         args.cache_dir, args.frames, args.warmup)
                if ort_ok:
                    result["rows"] += bench_ort_cuda(model, onnx_path, size, args.views, args.frames, args.warmup)

        print(f"\n{'backend':18} {'size':>5} {'views':>5} {'ms (median)':>12} {'fps':>8}")
        for r in result["rows"]:
            print(f"{r['backend']:18} {r['size']:>5} {r['views']:>5} {r['ms_median']:>12.2f} {r['fps']:>8.1f}")
    else:
        print("\nNo GPU parts could run here: nothing measured. The expected numbers in docs/gpu.md "
              "stay UNMEASURED until someone runs this on an NVIDIA GPU (pip install conrt[gpu] onnxruntime-gpu).")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
