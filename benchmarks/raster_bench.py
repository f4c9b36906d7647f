"""Raster benchmark: UdpPass and ToonPass ms/frame at 256^2 and 512^2 for the
sample character, headless, with the GPU->host read-back timed separately.

Each frame uploads a new pose (pre-generated random poses, cycling), draws and
waits for the GL to finish (the two passes interleaved frame by frame) (``ctx.finish()``: on llvmpipe the draw happens on
the CPU); then the read-back (``fbo.read`` + flip) is timed on its own. The
baseline, measured in the same run, is the NumPy reference skinning of the
same mesh (``characters.posing.posed_positions``) that the GPU skinning
replaces, timed in the same loop (one skinning per rendered frame) so load
from other processes hits both alike: ratios against it are comparable across
machines and busy periods, the absolute numbers much less. Medians and
minimums are reported.

Usage: python benchmarks/raster_bench.py [--frames N] [--sizes 256 512]
       [--character path.glb] [--json benchmarks/results/raster.json]
       [--antialias 1 3]   (rows for each supersampling factor, interleaved in the same loop)
       [--docs docs/shaders.md]   (the table between the raster-bench markers is replaced)
       [--stages --sizes 128 256]   (the runtime's UDP pass by stage instead, see stages())
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

from conrt.samples import SAMPLE_CHARACTER
from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("raster_bench")


def _load_character(path: Path | None):
    from conrt.characters.gltf_io import load_character
    from conrt.characters.procedural import generate

    path = path or SAMPLE_CHARACTER
    if path.is_file():
        return load_character(path), str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    log.warning("%s not found: using procedural character seed 0", path)
    return generate(0), "procedural seed 0"


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e3, 3)


def bench(frames: int, sizes: list[int], character_path: Path | None, antialias=(1,)) -> dict:
    from tqdm import tqdm

    from conrt.characters.posing import posed_positions
    from conrt.commands.udp import random_pose
    from conrt.shaders import ToonPass, UdpPass, create_context, frame_character, release_context
    from conrt.shaders.context import describe

    character, source = _load_character(character_path)
    poses = [random_pose(character, seed, 0.3) for seed in range(8)]
    ctx = create_context("egl")
    result = {
        "character": source,
        "vertices": character.mesh.num_vertices,
        "triangles": character.mesh.num_triangles,
        "joints": character.skeleton.num_joints,
        "gl": describe(ctx),
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "frames": frames,
        "cpus": os.cpu_count(),
        "load_average_start": round(os.getloadavg()[0], 2),
        "rows": [],
    }
    try:
        for size in sizes:
            cameras = [frame_character(posed_positions(character, p), yaw=30.0 * i, size=size) for i, p in enumerate(poses)]
            passes = {}
            for k in antialias:  # "udp", "toon"; "udp aa3", "toon aa3" with antialias=3
                tag = "" if k == 1 else f" aa{k}"
                passes[f"udp{tag}"] = UdpPass(ctx, size, size, antialias=k)
                passes[f"toon{tag}"] = ToonPass(ctx, size, size, antialias=k)
            times = {name: {"draw": [], "read": [], "base": []} for name in passes}
            try:
                for rpass in passes.values():
                    rpass.set_character(character)
                    for k in range(3):  # warm-up: shader JIT, first allocations
                        rpass.run(poses[k], cameras[k])
                # Interleaved (udp, toon, udp, ...) so load from other processes hits both alike.
                for k in tqdm(range(frames), desc=f"{size}px", leave=False):
                    pose, camera = poses[k % len(poses)], cameras[k % len(cameras)]
                    for name, rpass in passes.items():
                        t = times[name]
                        tb = time.perf_counter()
                        posed_positions(character, pose)  # baseline: NumPy LBS
                        t0 = time.perf_counter()
                        rpass.render(pose, camera)
                        ctx.finish()
                        t1 = time.perf_counter()
                        rpass.read()
                        t2 = time.perf_counter()
                        t["base"].append(t0 - tb)
                        t["draw"].append(t1 - t0)
                        t["read"].append(t2 - t1)
            finally:
                for rpass in passes.values():
                    rpass.release()
            for name, t in times.items():
                total = [a + b for a, b in zip(t["draw"], t["read"])]
                row = {
                    "pass": name,
                    "size": size,
                    "draw_ms": _median_ms(t["draw"]),
                    "readback_ms": _median_ms(t["read"]),
                    "total_ms": _median_ms(total),
                    "total_min_ms": round(min(total) * 1e3, 3),
                    "numpy_skinning_ms": _median_ms(t["base"]),
                }
                row["total_vs_numpy_skinning"] = round(row["total_ms"] / row["numpy_skinning_ms"], 2)
                result["rows"].append(row)
                log.info("%s", row)
    finally:
        release_context(ctx)
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    return result


def stages(frames: int, sizes: list[int], character_path: Path | None) -> dict:
    """The runtime's UdpPass frame by stage, CPU ms per frame (medians): the calling
    thread's (llvmpipe runs the vertex and geometry stages and the triangle set-up
    there) and the process's (its rasterizer threads too), ``ctx.finish()`` after
    each stage. Configurations: plain (``UdpPass()``), with the visibility buffer
    (the runtime's), and with it and ``coverage=3`` (anti-aliasing on), interleaved
    frame by frame. Stages: ``update`` (joint texture, sim and morph uploads),
    ``skin`` (transform feedback), ``draw`` (the UDP draw), ``coverage`` (the 3x
    occupancy: masks, cull, draw), ``coverage_read`` (read_coverage), ``read``.
    Uses only what UdpPass had before session 9 too (run it with an older checkout's
    interpreter to compare)."""
    import moderngl

    from conrt.characters.posing import posed_positions
    from conrt.commands.udp import random_pose
    from conrt.shaders import UdpPass, create_context, frame_character, release_context
    from conrt.shaders.camera import raster_view_proj

    character, source = _load_character(character_path)
    poses = [random_pose(character, seed, 0.3) for seed in range(8)]
    ctx = create_context("egl")
    configs = {"plain": {}, "visibility": {"visibility": True}, "visibility + coverage 3": {"visibility": True, "coverage": 3}}
    rows = []
    try:
        for size in sizes:
            cameras = [frame_character(posed_positions(character, p), yaw=30.0 * i, size=size) for i, p in enumerate(poses)]
            passes = {name: UdpPass(ctx, size, size, **kw) for name, kw in configs.items()}
            times = {name: {} for name in passes}
            try:
                for rpass in passes.values():
                    rpass.set_character(character)
                    for k in range(3):
                        rpass.run(poses[k], cameras[k])
                for k in range(frames):
                    pose, camera = poses[k % len(poses)], cameras[k % len(cameras)]
                    for name, u in passes.items():
                        t = times[name]

                        def timed(stage, fn):
                            t0, c0 = time.thread_time(), time.process_time()
                            fn()
                            ctx.finish()
                            t.setdefault(stage, []).append(((time.thread_time() - t0) * 1e3,
                                                            (time.process_time() - c0) * 1e3))

                        mvp = raster_view_proj(camera, flip_y=True)

                        def skin():
                            u.fbo.use()
                            u.geometry.bind_joints(u._skin_program, 0)
                            u._skin_vao.transform(u._skinned, mode=moderngl.POINTS, vertices=u.geometry.num_vertices)

                        def draw():
                            u.fbo.viewport = (0, 0, size, size)
                            u.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                            ctx.enable_only(moderngl.DEPTH_TEST)
                            ctx.depth_func = "<"
                            ctx.front_face = "cw"
                            u._draw(u.program, u._vao, mvp)

                        timed("update", lambda: u.geometry.update(pose))
                        timed("skin", skin)
                        timed("draw", draw)
                        if u.coverage > 1:
                            timed("coverage", lambda: u._draw_coverage(mvp))
                            timed("coverage_read", u.read_coverage)
                        ctx.front_face = "ccw"
                        timed("read", u.read)
            finally:
                for u in passes.values():
                    u.release()
            for name, t in times.items():
                row = {"config": name, "size": size}
                for stage, v in t.items():
                    row[stage] = [round(statistics.median(a for a, _ in v), 2), round(statistics.median(b for _, b in v), 2)]
                row["total"] = [round(sum(row[st][i] for st in t), 2) for i in (0, 1)]
                rows.append(row)
    finally:
        release_context(ctx)
    return {"character": source, "frames": frames, "load_1min": round(os.getloadavg()[0], 2),
            "what": "CPU ms per frame, [calling thread, process], medians", "rows": rows}


def table(result: dict) -> str:
    lines = [
        f"Character: {result['character']} ({result['vertices']} vertices, {result['triangles']} triangles, "
        f"{result['joints']} joints); GL: {result['gl']}; {result['frames']} frames per row, new pose each frame.",
        "Baseline, timed in the same loop: NumPy reference skinning of the mesh (what the GPU skinning replaces).",
        f"Machine load during the run (1-min load average on {result['cpus']} CPUs): "
        f"{result['load_average_start']} -> {result['load_average_end']}.",
        "",
        "| pass | size | draw (ms, median) | read-back (ms) | total (ms, median) | total (ms, min) | NumPy skinning (ms) | total / NumPy skinning |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['pass']} | {r['size']}² | {r['draw_ms']:.2f} | {r['readback_ms']:.2f} | "
                     f"{r['total_ms']:.2f} | {r['total_min_ms']:.2f} | {r['numpy_skinning_ms']:.2f} | "
                     f"{r['total_vs_numpy_skinning']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--character", type=Path, default=None)
    ap.add_argument("--antialias", type=int, nargs="+", default=[1], help="supersampling factors to time (1 = off)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "raster.json")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs" / "shaders.md", help="markdown file to put the table in ('' = none)")
    ap.add_argument("--stages", action="store_true", help="the runtime's UDP pass by stage (thread / process CPU)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.stages:
        result = stages(args.frames, args.sizes, args.character)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        for row in result["rows"]:
            print(f"{row['size']}² {row['config']:25s} " + "  ".join(f"{k} {v[0]:.2f}/{v[1]:.2f}" for k, v in row.items()
                                                                 if k not in ("config", "size")))
        print(f"load {result['load_1min']} ({result['what']})")
        return 0
    result = bench(args.frames, args.sizes, args.character, args.antialias)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    text = table(result)
    if str(args.docs) and args.docs.is_file():
        write_marked_table(args.docs, "raster-bench", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
