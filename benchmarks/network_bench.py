"""Per-frame CoNR timing with a cached sheet: our backends vs a straightforward eager run.

    .venv/bin/python benchmarks/network_bench.py [--sizes 128 256] [--views 4] [--reps 2]
        [--configs conr-paper conr-s conr-xs] [--out benchmarks/results/network.json]

For every config and size, side by side in one process:

- ``straightforward``: plain eager PyTorch written the way the official code
  runs it: a Python loop over the views at every pyramid level (batch of one
  view per DecoderBlock call), then stack and fuse (the baseline, conr-paper only
  unless --baseline-all);
- ``torch``: our torch backend (views batched into one call per level,
  inference_mode): with contiguous weights, with channels_last, with
  channels_last + Winograd F(4x4, 3x3) convs (``runtime/nn/fast_conv.py``), and
  the default = channels_last + Winograd + the view-shared inputs of each
  block's first conv computed once (``runtime/nn/fast_cinn.py``); all the same
  maths (checked to 1e-4 against the first variant before timing);
- ``onnxruntime``: the exported per-frame graph on ONNX Runtime (CPU).

The sheet is encoded once beforehand and is not timed. FLOPs are counted with
``torch.utils.flop_counter`` (conv/matmul; multiply-add = 2 FLOPs) on one
run of the plain network (the "GFLOP/s" column is that count over the time,
so for the variants that skip multiplies it is an effective rate); every op
scales with the pixel count, so the paper model is counted at 128 and scaled.
Results: the run is appended to ``runs`` in the JSON file (older runs kept,
each with its date, git commit and load average) + a markdown table
(docs/network.md).
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from conrt.runtime.backends import create_backend
from conrt.runtime.backends.onnx_backend import OnnxRuntimeBackend, example_inputs, export_onnx
from conrt.runtime.nn.conr_v1 import CINN, CoNR, _rescale_flow, _resize, group_warp, warp
from conrt.runtime.nn.fast_conv import release_workspaces, winograd_layer_count
from conrt.runtime.nn.model import create_model
from conrt.runtime.nn.sheet import SheetCache

log = logging.getLogger("network_bench")


# ---------------------------------------------------------------------------
# the baseline: the official way of running the collaborative decoder
# ---------------------------------------------------------------------------
def straightforward_cinn(cinn: CINN, pose_feats, reference, sheet_feats):
    """Same maths as ``CINN.forward``, but one DecoderBlock call per view in a
    Python loop (as the official code does), fusing the stacked outputs."""
    m = reference.shape[1]
    full = reference.shape[-2:]
    levels = len(sheet_feats)
    groups = cinn.cfg.flow_groups

    def fuse_all(masks, xs, lo, hi=None):
        mask = torch.stack(masks, 1)
        w = mask * torch.softmax(mask, 1)
        w = w[:, :, lo:hi] if hi is not None else w[:, :, lo:]
        return (w * torch.stack(xs, 1)).sum(1)

    size = sheet_feats[0].shape[-2:]
    flows = [reference.new_zeros(reference.shape[0], 2, *size) for _ in range(m)]
    wrefs = [_resize(reference[:, v], size) for v in range(m)]
    feats = [sheet_feats[0][:, v] for v in range(m)]
    w_flows, w_refs = list(flows), list(wrefs)
    w_msg, locs = None, [None] * m
    for p, block in enumerate(cinn.decoder_blocks):
        outs = []
        for v in range(m):
            parts = [flows[v]]
            if p < levels:
                parts.append(pose_feats[p])
            parts.append(wrefs[v])
            if p < levels:
                parts.append(feats[v])
            parts += [w_flows[v], w_refs[v]]
            if p > 0:
                parts += [w_msg, locs[v]]
            outs.append(cinn._split(block(torch.cat(parts, 1)), p))
        if p == levels:
            msgs = [group_warp(o[1], o[2], groups) for o in outs]
            return fuse_all([o[5] for o in outs], msgs, 2)
        size = sheet_feats[p + 1].shape[-2:] if p + 1 < levels else full
        scale = int(size[-1]) / int(flows[0].shape[-1])
        msgs, masks = [], []
        for v, (d_flow, msg, msg_flow, loc, loc_flow, mask) in enumerate(outs):
            flows[v] = _rescale_flow(flows[v] + d_flow, scale)
            msgs.append(group_warp(_resize(msg, size), _rescale_flow(msg_flow, scale), groups))
            locs[v] = group_warp(_resize(loc, size), _rescale_flow(loc_flow, scale), groups)
            masks.append(_resize(mask, size))
            ref = reference[:, v]
            wrefs[v] = warp(_resize(ref, size) if p + 1 < levels else ref, flows[v])
            if p + 1 < levels:
                feats[v] = warp(sheet_feats[p + 1][:, v], flows[v])
        w_flow = fuse_all(masks, flows, 0, 1)
        w_ref = fuse_all(masks, wrefs, 0, 1)
        w_msg = fuse_all(masks, msgs, 2)
        w_flows, w_refs = [w_flow] * m, [w_ref] * m
    raise AssertionError("unreachable")


def straightforward_frame(model: CoNR, udp, reference, sheet_feats):
    with torch.no_grad():  # the official test loop: no_grad, not inference_mode
        pose = model.encode_pose(udp)
        y = straightforward_cinn(model.shader, pose, reference, sheet_feats)
        dec = model.rgbadecodernet(y)
        return torch.cat([dec[:, :3] * dec[:, 3:4], dec[:, 3:4]], 1)


# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------
def count_flops(model: CoNR, size: int, views: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    inp = example_inputs(model, size, views)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model.render(model.encode_pose(inp[0]), inp[1], list(inp[2:]))
    return float(fc.get_total_flops())


def time_round_robin(fns: dict, reps: int) -> dict:
    """Warm every variant once, then time them in turns (rep by rep), so a
    change of machine load hits all variants alike. -> {variant: [seconds]}."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return times


def bench_config(name: str, size: int, views: int, reps: int, baseline: bool, flops: float,
                 threads: int) -> list[dict]:
    torch.manual_seed(0)
    model = create_model(name).eval()
    inp = example_inputs(model, size, views)
    udp = inp[0].numpy()
    cache = SheetCache(tuple(inp[2:]), inp[1], size, False, model.cfg.name)
    fns = {}
    torch_b = create_backend("torch", model, channels_last=False)
    torch_b.set_sheet(cache)
    want = torch_b.infer(udp)
    if baseline:
        got = straightforward_frame(model, inp[0], inp[1], list(inp[2:])).numpy()
        assert np.abs(got - want).max() < 1e-4, "baseline differs from the model"
        fns["straightforward"] = lambda: straightforward_frame(model, inp[0], inp[1], list(inp[2:]))
    fns["torch contiguous"] = lambda: torch_b.infer(udp)
    variants = {"torch channels_last": dict(winograd=False, split_shared=False)}
    if winograd_layer_count(model.shader):
        variants["torch channels_last + winograd"] = dict(winograd=True, split_shared=False)
    variants["torch default"] = {}  # channels_last + winograd (where it pays) + shared inputs once
    for label, kwargs in variants.items():
        b = create_backend("torch", model, channels_last=True, **kwargs)
        b.set_sheet(cache)
        assert np.abs(b.infer(udp) - want).max() < 1e-4, f"{label} differs from the model"
        fns[label] = (lambda bb: lambda: bb.infer(udp))(b)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "m.onnx", size)
        ort_b = OnnxRuntimeBackend(onnx_path=path, threads=threads)
        ort_b.load(model)
        ort_b.set_sheet(cache)
        assert np.abs(ort_b.infer(udp) - want).max() < 1e-4, "onnxruntime differs from torch"
        fns["onnxruntime"] = lambda: ort_b.infer(udp)
        log.info("%s %d: timing %s x %d ...", name, size, ", ".join(fns), reps)
        load0 = os.getloadavg()[0]
        times = time_round_robin(fns, reps)
    rows = []
    for variant, ts in times.items():
        best = min(ts)
        rows.append({"config": name, "size": size, "views": views, "variant": variant, "threads": threads,
                     "best_s": best, "median_s": statistics.median(ts), "reps": reps,
                     "load_avg_1min": (load0 + os.getloadavg()[0]) / 2,
                     "fps": 1 / best, "gflop": flops / 1e9, "gflops_per_s": flops / 1e9 / best})
        log.info("  %-32s best %.3f s", variant, best)
    base = times.get("straightforward")
    for r in rows:
        r["speedup_vs_straightforward"] = min(base) / r["best_s"] if base else None
    return rows


def table(rows: list[dict]) -> str:
    out = ["| config | size | views | threads | variant | ms/frame (best) | frames/s | GFLOP/frame | GFLOP/s "
           "| vs straightforward | load avg |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sp = f"{r['speedup_vs_straightforward']:.2f}x" if r.get("speedup_vs_straightforward") else ""
        out.append(f"| {r['config']} | {r['size']} | {r['views']} | {r['threads']} | {r['variant']} | "
                   f"{r['best_s'] * 1e3:.1f} | {r['fps']:.2f} | {r['gflop']:.1f} | {r['gflops_per_s']:.1f} | {sp} "
                   f"| {r['load_avg_1min']:.1f} |")
    return "\n".join(out)


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["conr-paper", "conr-s", "conr-xs"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3, help="timed runs per variant (the paper model at 256: 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--baseline-all", action="store_true", help="also run the baseline for the small configs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "network.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.configs:
        model = create_model(name).eval()
        count_size = min(args.sizes) if name == "conr-paper" else None
        base_flops = count_flops(model, count_size, args.views) if count_size else None
        del model
        for size in args.sizes:
            flops = base_flops * (size / count_size) ** 2 if base_flops else count_flops(create_model(name), size,
                                                                                           args.views)
            reps = min(args.reps, 2) if (name == "conr-paper" and size >= 256) else args.reps
            rows += bench_config(name, size, args.views, reps, name == "conr-paper" or args.baseline_all, flops,
                                 args.threads)
            release_workspaces()  # the Winograd scratch buffers of this size
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git_commit(),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "cores_visible": os.cpu_count(), "load_avg_at_end": os.getloadavg(),
                    "torch": torch.__version__},
        "note": "per-frame time with a cached sheet; best (and median) of the timed runs, variants timed in turns; the machine is shared (see load_avg_1min)",
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(out.read_text()) if out.exists() else {}
    if "runs" not in data:  # a file with a single run (older format) becomes the first of the list
        data = {"note": "benchmarks/network_bench.py runs, oldest first", "runs": [data] if data else []}
    data["runs"].append(result)
    out.write_text(json.dumps(data, indent=1))
    print(table(rows))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
