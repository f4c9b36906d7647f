"""Expression benchmark: what morph targets cost per frame in the UDP and toon
passes, as a ratio against the same passes drawing the same character with
its morph targets stripped, measured in the same loop.

Rows (each pass, each frame, interleaved so load from other processes hits
all alike; new pose and new weights each frame, ``ctx.finish()`` after the
draw, read-back included):
- ``no morphs``: the character without morph targets (the baseline);
- ``morphs, weights 0``: the same mesh with its targets, nothing active (the
  shader skips the morph loop);
- ``blink + aa``: two expressions on (every lid and mouth vertex reads its deltas);
- ``all targets 0.5``: every target active;
- ``52 synthetic targets``: a heavy case like an ARKit "perfect sync" face:
  52 targets that each move every vertex bound to the head (face, hair
  cap, bangs), all active at 0.5.
The CPU side (expression names -> ``Pose.morph_weights`` with the idle blink,
``ExpressionState.morph_weights``) is timed on its own.

Usage: python benchmarks/expression_bench.py [--frames 60] [--size 256] [--seed 0]
       [--json benchmarks/results/expressions.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def _ms(samples) -> float:
    return round(statistics.median(samples) * 1e3, 3)


def bench(frames: int, size: int, seed: int) -> dict:
    import numpy as np
    from tqdm import tqdm

    from conrt.characters.expressions import ExpressionState, morph_weights
    from conrt.characters.posing import posed_positions
    from conrt.characters.procedural import generate
    from conrt.commands.udp import random_pose
    from conrt.shaders import ToonPass, UdpPass, create_context, frame_character, release_context
    from conrt.shaders.context import describe

    character = generate(seed)
    plain = dataclasses.replace(character, expressions={}, mesh=dataclasses.replace(
        character.mesh, morph_names=(), morph_positions=None, morph_normals=None))
    t = character.mesh.num_morphs
    head = (character.mesh.joints[:, 0] == character.skeleton.index("head")) & (character.mesh.weights[:, 0] > 0.5)
    rng = np.random.default_rng(0)
    heavy_d = np.zeros((52, character.mesh.num_vertices, 3), np.float32)
    heavy_d[:, head] = rng.normal(0, 0.001, (52, int(head.sum()), 3))
    heavy = dataclasses.replace(plain, mesh=dataclasses.replace(
        plain.mesh, morph_names=tuple(f"s{k}" for k in range(52)), morph_positions=heavy_d))
    poses = [random_pose(character, k, 0.3) for k in range(8)]
    cameras = [frame_character(posed_positions(character, p), yaw=30.0 * i, size=size) for i, p in enumerate(poses)]
    cases = {
        "no morphs": (plain, None),
        "morphs, weights 0": (character, np.zeros(t, np.float32)),
        "blink + aa": (character, morph_weights(character, {"blink": 1.0, "aa": 1.0})),
        "all targets 0.5": (character, np.full(t, 0.5, np.float32)),
        "52 synthetic targets": (heavy, np.full(52, 0.5, np.float32)),
    }
    ctx = create_context("egl")
    result = {"character": f"procedural seed {seed}", "vertices": character.mesh.num_vertices,
              "synthetic_head_vertices": int(head.sum()),
              "morph_targets": t, "size": size, "frames": frames, "gl": describe(ctx),
              "machine": f"{platform.machine()} python {platform.python_version()}", "cpus": os.cpu_count(),
              "load_average_start": round(os.getloadavg()[0], 2), "rows": []}
    passes = {}
    try:
        for case, (ch, _) in cases.items():
            for kind, cls in (("udp", UdpPass), ("toon", ToonPass)):
                p = cls(ctx, size, size)
                p.set_character(ch)
                passes[(kind, case)] = p
        times = {key: [] for key in passes}
        for k in range(3 + frames):
            pose, camera = poses[k % len(poses)], cameras[k % len(cameras)]
            for (kind, case), p in passes.items():
                w = cases[case][1]
                # new weights every frame (as from VMC or the idle blink), so the per-vertex sum runs each frame
                q = dataclasses.replace(pose, morph_weights=None if w is None else w * (0.6 + 0.4 * (k % 7) / 7))
                t0 = time.perf_counter()
                p.render(q, camera)
                ctx.finish()
                p.read()
                if k >= 3:  # warm-up frames: shader JIT, first allocations
                    times[(kind, case)].append(time.perf_counter() - t0)
            if k == 3:
                bar = tqdm(total=frames, desc=f"{size}px", leave=False)
            if k >= 3:
                bar.update()
        bar.close()
        state = ExpressionState(character)
        state.set({"aa": 0.5, "joy": 0.3})
        cpu = []
        for k in range(2000):
            t0 = time.perf_counter()
            state.morph_weights(k / 60)
            cpu.append(time.perf_counter() - t0)
    finally:
        for p in passes.values():
            p.release()
        release_context(ctx)
    for kind in ("udp", "toon"):
        base = _ms(times[(kind, "no morphs")])
        for case in cases:
            ms = _ms(times[(kind, case)])
            result["rows"].append({"pass": kind, "case": case, "ms": ms, "extra_ms": round(ms - base, 3),
                                   "ratio_vs_no_morphs": round(ms / base, 3)})
    result["cpu_expression_state_ms"] = _ms(cpu)
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    return result


def table(result: dict) -> str:
    lines = [f"{result['character']}: {result['vertices']} vertices, {result['morph_targets']} morph targets, "
             f"{result['size']}² (52 synthetic targets on {result['synthetic_head_vertices']} head vertices), "
             f"{result['frames']} frames per row; GL: {result['gl']}; "
             f"load {result['load_average_start']} -> {result['load_average_end']} on {result['cpus']} CPUs.", "",
             "| pass | case | ms/frame (median) | extra ms | ratio vs no morphs |", "| --- | --- | ---: | ---: | ---: |"]
    for r in result["rows"]:
        lines.append(f"| {r['pass']} | {r['case']} | {r['ms']} | {r['extra_ms']} | {r['ratio_vs_no_morphs']} |")
    lines.append(f"\nCPU, names -> morph weights with the idle blink (ExpressionState.morph_weights): "
                 f"{result['cpu_expression_state_ms']} ms/frame.")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    result = bench(args.frames, args.size, args.seed)
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
