"""How many threads should shade? One `conrt bench` row (the default runtime,
exact correspondences, walk clip, physics a frame ahead) per configuration,
each in a fresh process, the configurations interleaved round by round (the
order reversed every other round):

- ``one``:  one shading thread, ONNX Runtime on one intra-op thread (the default);
- ``two``:  two shading threads, two frames shaded at once (``RuntimeSpec.shade_workers=2``);
- ``ort2``: one shading thread, ONNX Runtime on two intra-op threads (no spinning);
- ``two-nice``: two shading threads, the physics thread (stepping a frame ahead) at nice +10,
  so that it yields a core to the shading (session 11's question: does it help?).

Reported per configuration: the medians over the rounds of the CPU ms per
delivered frame (all threads of the process), the fps, the shade stage's ms,
and each run's 1-min load. On a shared host the fps are the host's share;
the CPU per frame is the comparable figure.

Usage: python benchmarks/shade_threads_ab.py [--size 256] [--frames 60] [--rounds 3]
       [--configs one,two,ort2] [--json benchmarks/results/shade_threads_ab.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"one": {"shade_workers": 1}, "two": {"shade_workers": 2},
           "ort2": {"shade_workers": 1, "backend_options": {"threads": 2}},
           "two-nice": {"shade_workers": 2, "physics_nice": 10}}

# one bench row for a configuration (argv: size, frames, config as JSON), as JSON on stdout
_CHILD = r"""
import json, os, sys
from conrt.runtime.app.profiling import measure_size
size, frames, cfg = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
nice = cfg.pop("physics_nice", 0)
if nice:  # the physics thread renices itself on its first step (Linux: a thread's own nice value)
    import threading
    from conrt.runtime.app.frame_loop import PhysicsStage
    step, niced = PhysicsStage._step_world, set()
    def _step_world(self):
        if threading.get_native_id() not in niced:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
            niced.add(threading.get_native_id())
        return step(self)
    PhysicsStage._step_world = _step_world
row = measure_size(size, frames=frames, warmup=3, baseline_frames=1, **cfg)
print(json.dumps({k: row[k] for k in ("fps", "cpu_ms", "shade_ms", "raster_ms", "frame_ms")}
                 | {"load_1min": round(os.getloadavg()[0], 2)}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--configs", default="one,two,ort2")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "shade_threads_ab.json")
    args = ap.parse_args(argv)
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; valid: {', '.join(CONFIGS)}")
    runs: dict = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(args.size), str(args.frames),
                                   json.dumps(CONFIGS[name])], capture_output=True, text=True,
                                  env={**os.environ, "DISPLAY": ""}, timeout=1800)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(name, runs[name][-1], flush=True)
    medians = {n: {k: statistics.median(r[k] for r in rows) for k in ("cpu_ms", "fps", "shade_ms")}
               | {"loads": [r["load_1min"] for r in rows]} for n, rows in runs.items()}
    base = medians[names[0]]
    for n, m in medians.items():
        m["x_cpu"] = round(m["cpu_ms"] / base["cpu_ms"], 3)
        m["x_fps"] = round(m["fps"] / base["fps"], 3)
    result = {"what": f"benchmarks/shade_threads_ab.py --size {args.size} --frames {args.frames} "
                      f"--rounds {args.rounds} --configs {args.configs}",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "configs": CONFIGS,
              "runs": runs, "medians": medians}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps(medians, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
