"""CPU per toon render in the sheet and ground-truth look (the default ``ToonStyle``), by character.

Sheets, ``conrt sheet`` and the runtime's ground truth draw the default look (the face rule's
FACE_RULE variant where a character has a face region); toon_render_bench.py times the fit's look
(no face rule). This renders a procedural character (seed 900001) and Low-Poly Godette in the rest pose
from 24 yaws at 256², ``--repeats`` times, and prints the median CPU ms per render (GL finished in
each repeat) and the shader variant. For a before/after, run it under both versions' code in turns
(e.g. each version's ``git archive`` imported through benchmarks/e2e_ab.py's launcher) and compare the
medians; session 13's: benchmarks/results/s13_godette/toon_look_cost.json.

Usage: python benchmarks/toon_look_cost.py [--repeats 5] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GODETTE = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "Godette_vrm_v4.vrm"
SIZE, YAWS = 256, 24


def main(argv=None) -> int:
    from conrt.characters import generate
    from conrt.characters.gltf_io import load_character
    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.shaders import ToonPass, create_context, frame_character

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    ctx = create_context("egl")
    out = {}
    for name, c in (("procedural", generate(900001)), ("godette", load_character(GODETTE))):
        pose = rest_pose(c)
        pts = posed_positions(c, pose)
        cams = [frame_character(pts, yaw=y, size=SIZE) for y in np.linspace(0, 360, YAWS, endpoint=False)]
        with ToonPass(ctx, SIZE, SIZE) as toon:
            toon.set_character(c)
            for cam in cams[:4]:  # warm up: the program, the buffers
                toon.run(pose, cam)
            ctx.finish()
            times = []
            for _ in range(args.repeats):
                t0 = time.process_time()
                for cam in cams:
                    toon.run(pose, cam)
                ctx.finish()
                times.append(1000 * (time.process_time() - t0) / len(cams))
            out[name] = {"median_cpu_ms": float(np.median(times)), "cpu_ms": times, "variant": sorted(toon.defines)}
        print(f"{name}: {out[name]['median_cpu_ms']:.2f} ms CPU per render ({', '.join(out[name]['variant'])})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
