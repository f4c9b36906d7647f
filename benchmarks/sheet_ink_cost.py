"""The whole exact fusion graph's CPU per 256² frame with a sheet's own ink against ours (session 14).

The default runtime's 3 walk frames at 256² (the sample sheet's exact correspondences, the target's
G-buffer), the whole fusion graph (``export_fusion_onnx``, one thread) exported once per ink: ours
(``TOON_INK``), a fixed brown pen, a 3-px line, the silhouette only; the graphs run interleaved
(the order reversed every other round), process CPU per frame, the median of ``--rounds``.

Usage: python benchmarks/sheet_ink_cost.py [--rounds 8] [--json benchmarks/results/sheet_ink_cost_s14.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "sheet_ink_cost.json")
    args = ap.parse_args(argv)
    from conrt.runtime.app.frame_loop import open_runtime
    from conrt.runtime.backends.gl_lookup_backend import export_fusion_onnx
    from conrt.runtime.backends.onnx_backend import open_session
    from conrt.runtime.nn.sheet import prepare_udp
    from conrt.shaders.sheet_ink import TOON_INK, SheetInk
    from conrt.shaders.toon_pass import BROWN_INK

    inks = {"ours": TOON_INK, "brown pen": SheetInk("fixed", BROWN_INK, 1.0, True),
            "3 px": SheetInk(width=3.0), "silhouette only": SheetInk(inner=False)}
    with open_runtime(size=256, clip="walk", backend="gl-lookup") as rt:
        frames = []
        for _ in range(3):
            pose = rt.physics.step()
            rt.raster.render(pose, rt.raster.camera(pose))
            s, c, g = (x.copy() for x in rt.raster.read_views())
            frames.append({"sampled": s[None], "cover": c[None], "gbuf": g[None],
                           "udp": prepare_udp(rt.raster.read().copy(), 256, False)[0]})
        model, views = rt.shader.backend.model, frames[0]["sampled"].shape[1]
        with tempfile.TemporaryDirectory() as tmp:
            sessions = {k: open_session(export_fusion_onnx(model, Path(tmp) / f"{i}.onnx", 256, views, True, True,
                                                           sheet_ink=v), 1) for i, (k, v) in enumerate(inks.items())}
            cpu = {k: [] for k in inks}
            load = [os.getloadavg()[0]]
            for r in range(args.rounds):
                for k in (list(inks) if r % 2 == 0 else list(inks)[::-1]):
                    names = {i.name for i in sessions[k].get_inputs()}  # (silhouette only: no G-buffer)
                    t = time.process_time()
                    for f in frames:
                        sessions[k].run(None, {n: v for n, v in f.items() if n in names})
                    cpu[k].append((time.process_time() - t) / len(frames) * 1000)
            load.append(os.getloadavg()[0])
    base = float(np.median(cpu["ours"]))
    out = {"loads": [round(x, 2) for x in load], "rounds": args.rounds,
           "ink": {k: {"inks": str(inks[k]), "cpu_ms_median": round(float(np.median(v)), 2),
                       "ratio": round(float(np.median(v)) / base, 3), "cpu_ms": [round(x, 2) for x in v]}
                   for k, v in cpu.items()}}
    for k, v in out["ink"].items():
        print(f"{k}: {v['cpu_ms_median']} ms CPU / frame, x{v['ratio']}")
    args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
