"""conr-rt speed: per-frame shading time with a cached sheet, three backends.

- ``torch``: the torch backend (the whole frame in torch);
- ``onnxruntime``: the full per-frame graph (lookup + sampling + fusion) in ONNX Runtime;
- ``gl-lookup``: the lookup and reference sampling in GL (``shaders.LookupPass``;
  Mesa llvmpipe here), only the FusionNet in ONNX Runtime
  (``runtime/backends/gl_lookup_backend.py``).

Per row (side S, M views) each backend gets the same sheet (encoded once) and
the same UDP frames; a "frame" is ``backend.shade(udp)`` (host UDP in, host
RGBA out: input checks, the GL upload and read-back included). The backends
are interleaved frame by frame, so load from other processes hits all of them
alike: compare the ratios of one run, not absolute numbers across runs. 2
threads for torch and ONNX Runtime; llvmpipe uses its default (one per CPU).
The gl-lookup row also splits the frame into the GL part and the fusion.

Configs: conr-rt and conr-rt-fast (each row once per config). Weights:
untrained (speed does not depend on the values). UDP:
the sample character (samples/sample_character.glb) walking, framed like
``conrt udp`` (yaw 30°), rasterized once per size by UdpPass: the GL pass
looks up only the bounding box of the occupancy, so the frame's content
matters there (the rest of the frame costs the same whatever it shows). Sheet:
synthetic RGBA views (its content does not change any cost).

``OMP_WAIT_POLICY=PASSIVE`` is set (unless given): torch's OpenMP workers
otherwise spin after each parallel region and slow whatever runs next on
the 2 cores (measured 5x on the torch backend itself, interleaved).

Usage: python benchmarks/lookup_bench.py [--frames N] [--rows 128x4 256x1 256x4 256x8 512x4]
       [--configs conr-rt conr-rt-fast]
       [--json benchmarks/results/lookup.json] [--docs docs/network.md]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

import numpy as np  # noqa: E402
from conrt.samples import SAMPLE_CHARACTER  # noqa: E402
from doc_table import write_marked_table  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("lookup_bench")

BACKENDS = ("torch", "onnxruntime", "gl-lookup")
DEFAULT_ROWS = ("128x4", "256x1", "256x4", "256x8", "512x4")
DEFAULT_CONFIGS = ("conr-rt", "conr-rt-fast")
THREADS = 2


def _sheet(size: int, views: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for v in range(views):
        im = (rng.random((size, size, 4)) * 255).astype(np.uint8)
        im[..., 3] = 0
        im[size // 10:-size // 10, size // 5 + v:-size // 5, 3] = 255  # a character-sized opaque block
        out.append(im)
    return out


def _udps(size: int, count: int = 4) -> tuple[list[np.ndarray], float]:
    """The sample character walking (``count`` poses, 0.25 s apart), framed
    at yaw 30°: UDP frames and the mean fraction of the frame in the
    occupancy's bounding box."""
    from conrt.characters.gltf_io import load_character
    from conrt.characters.posing import posed_positions
    from conrt.commands.udp import clip_pose
    from conrt.shaders import UdpPass, create_context, frame_character, release_context

    character = load_character(SAMPLE_CHARACTER)
    ctx = create_context()
    try:
        udp_pass = UdpPass(ctx, size, size)
        udp_pass.set_character(character)
        out = []
        for k in range(count):
            pose = clip_pose(character, "walk", 0.25 * k)
            camera = frame_character(posed_positions(character, pose), yaw=30, size=size)
            out.append(udp_pass.run(pose, camera).data)
        udp_pass.release()
    finally:
        release_context(ctx)
    boxes = []
    for u in out:
        rows, cols = np.flatnonzero(u[..., 3].any(1)), np.flatnonzero(u[..., 3].any(0))
        boxes.append((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1) / size ** 2)
    return out, float(np.mean(boxes))


def _ms(samples: list[float]) -> tuple[float, float]:
    return round(statistics.median(samples) * 1e3, 2), round(min(samples) * 1e3, 2)


def bench(frames: int, rows: list[tuple[int, int]], configs: list[str]) -> dict:
    import torch

    from conrt.runtime.backends import available_backends, create_backend
    from conrt.runtime.nn.model import create_model

    torch.set_num_threads(THREADS)
    models = {}
    for name in configs:
        torch.manual_seed(0)
        models[name] = create_model(name).eval()
    result = {
        "configs": configs, "weights": "untrained", "threads": THREADS, "frames": frames,
        "cpus": os.cpu_count(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "machine": platform.processor() or platform.machine(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "auto_for_conr_rt": available_backends(models[configs[0]])[:1],
        "rows": [],
    }
    for (size, views), config in ((r, c) for r in rows for c in configs):
        model = models[config]
        images = _sheet(size, views)
        udps, box_fraction = _udps(size)
        backends = {}
        for name in BACKENDS:
            b = create_backend(name, model, threads=THREADS)
            b.encode_sheet(images)  # once; the onnx graphs are exported here (not timed)
            for u in udps[:2]:
                b.shade(u)  # warm-up
            backends[name] = b
        if "gl" not in result:
            result["gl"] = backends["gl-lookup"].device
        times = {name: [] for name in BACKENDS}
        split = {"gl": [], "fusion": [], "fusion_torch": []}
        for i in range(frames):
            udp = udps[i % len(udps)]
            for name, b in backends.items():
                t0 = time.perf_counter()
                b.shade(udp)
                times[name].append(time.perf_counter() - t0)
            # the gl-lookup frame in two parts (same calls the backend makes)
            gl = backends["gl-lookup"]
            x = np.ascontiguousarray(udp.transpose(2, 0, 1)[None])
            t0 = time.perf_counter()
            sampled, cover = gl.sample(x)
            t1 = time.perf_counter()
            gl.session.run(["rgba"], {"sampled": sampled, "cover": cover, "udp": x})
            t2 = time.perf_counter()
            with torch.inference_mode():  # the same fusion as the torch module (fusion="torch")
                args = (torch.from_numpy(sampled), torch.from_numpy(cover), model.encode_pose(torch.from_numpy(x))[0])
                t3 = time.perf_counter()
                model.fusion(*args)
                t4 = time.perf_counter()
            split["gl"].append(t1 - t0)
            split["fusion"].append(t2 - t1)
            split["fusion_torch"].append(t4 - t3)
        row = {"config": config, "size": size, "views": views, "load_average": round(os.getloadavg()[0], 2),
               "occupancy_box_fraction": round(box_fraction, 3)}
        for name in BACKENDS:
            med, low = _ms(times[name])
            row[name] = {"median_ms": med, "min_ms": low, "fps": round(1000.0 / med, 1)}
        row["gl_lookup_split_ms"] = {k: _ms(v)[0] for k, v in split.items()}
        gl_ms = row["gl-lookup"]["median_ms"]
        row["torch_over_gl_lookup"] = round(row["torch"]["median_ms"] / gl_ms, 2)
        row["onnxruntime_over_gl_lookup"] = round(row["onnxruntime"]["median_ms"] / gl_ms, 2)
        result["rows"].append(row)
        log.info("%s %d² x %d views: %s", config, size, views,
                 ", ".join(f"{n} {row[n]['median_ms']} ms" for n in BACKENDS))
        backends["gl-lookup"].close()
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def table(result: dict) -> str:
    lines = [
        f"{', '.join(result['configs'])} ({result['weights']} weights), cached sheet, "
        f"`backend.shade(udp)` per frame (host in, host out), "
        f"{result['frames']} frames per row, backends interleaved frame by frame; {result['threads']} threads "
        f"(torch, ONNX Runtime), llvmpipe default threads; GL: {result['gl']}; "
        f"OMP_WAIT_POLICY={result.get('omp_wait_policy')}. Load = 1-min load average after the row.",
        f"Machine load (1/5/15-min load average on {result['cpus']} CPUs): "
        f"{result['load_average_start']} at the start, {result['load_average_end']} at the end.",
        "",
        "| config | side | views | torch ms (fps) | onnxruntime ms (fps) | gl-lookup ms (fps) | gl-lookup min ms | "
        "of which GL / fusion ms | torch / gl-lookup | onnxruntime / gl-lookup | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        cells = [f"{r[n]['median_ms']:.1f} ({r[n]['fps']:.1f})" for n in BACKENDS]
        s = r["gl_lookup_split_ms"]
        lines.append(f"| {r['config']} | {r['size']}² | {r['views']} | {' | '.join(cells)} | {r['gl-lookup']['min_ms']:.1f} | "
                     f"{s['gl']:.1f} / {s['fusion']:.1f} | {r['torch_over_gl_lookup']:.1f}× | "
                     f"{r['onnxruntime_over_gl_lookup']:.1f}× | {r['load_average']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), help="SIDExVIEWS, e.g. 256x4")
    ap.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), help="lookup-architecture configs")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "lookup.json")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs" / "network.md",
                    help="markdown file to put the table in, between the lookup-bench markers ('' = none)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = []
    for spec in args.rows:
        try:
            size, views = (int(x) for x in spec.lower().split("x"))
        except ValueError:
            ap.error(f"--rows {spec!r}: expected SIDExVIEWS, e.g. 256x4")
        rows.append((size, views))
    result = bench(args.frames, rows, args.configs)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    text = table(result)
    if str(args.docs) and args.docs.is_file():
        write_marked_table(args.docs, "lookup-bench", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
