"""Interleaved A/B of ``conrt bench`` between a baseline commit and this checkout.

The machine is shared and its load moves by the minute, so the two versions
run alternately (baseline, this, this, baseline, ...), each in a fresh
process with the same arguments, and the table reports per version the
median over rounds of the process's CPU ms per delivered frame (the
load-robust figure) and of the fps, with the 1-min load average of each
run. The baseline's source comes from ``git archive`` into a temporary
folder and is imported from there (its own package layout, read from its
pyproject.toml), with this checkout's Python environment.

Both versions also shade the same frames once, unpipelined (the default
runtime at 256², exact correspondences, ``--compare-frames`` walk frames),
and the largest difference of their premultiplied RGBA is reported: the
speed work must change the pictures by float rounding only (the fusion
graph's own test bounds it at 4x FusionNet's float32 error, ~1e-6).

Usage: python benchmarks/e2e_ab.py [--baseline ab8cd6d] [--sizes 128,256,512] [--frames 30]
       [--rounds 3] [--modes auto] [--warmup 10] [--compare-frames 8] [--json benchmarks/results/e2e_ab.json]
       [--docs docs/runtime.md --marker e2e-ab] [--table-only]
       (--docs replaces the table between the marker's begin/end comments;
       --table-only rebuilds it from the JSON without measuring)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]

# run `conrt bench` with the conrt packages of the folder in argv[1] (its pyproject's package-dir)
_LAUNCH = r"""
import sys, tomllib
from importlib.machinery import PathFinder
from pathlib import Path
root = Path(sys.argv.pop(1))
dirs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
class Finder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name in dirs:  # e.g. conrt.runtime -> ROOT/runtime
            return PathFinder.find_spec(name, [str(root / Path(dirs[name]).parent)])
        return None
sys.meta_path.insert(0, Finder)
import conrt, conrt.runtime
assert Path(conrt.__file__).resolve().is_relative_to(root.resolve()), conrt.__file__
from conrt.cli import main
sys.exit(main())
"""


# the default runtime's first N frames (256², exact), unpipelined, to an .npz (argv: N, path)
_FRAMES = r"""
import sys, numpy as np
from conrt.runtime.app.frame_loop import RuntimeSpec, build_runtime
n, path = int(sys.argv[1]), sys.argv[2]
rt = build_runtime(RuntimeSpec(motion="walk", size=256, context="egl", lookahead=False))
try:
    out = []
    for _ in range(n):
        pose = rt.physics.step()
        rt.raster.render(pose, rt.raster.camera(pose))
        out.append(rt.shader.shade(rt.raster.read(), rt.raster.read_views()))
    np.savez(path, rgba=np.stack(out))
finally:
    rt.close()
"""


def _run_in(source: Path, code: str, *argv) -> subprocess.CompletedProcess:
    launch = _LAUNCH.replace("from conrt.cli import main\nsys.exit(main())", code)
    return subprocess.run([sys.executable, "-c", launch, str(source), *map(str, argv)], capture_output=True,
                          text=True, timeout=1800, env={**os.environ, "DISPLAY": ""})


def compare_frames(base: Path, n: int, tmp: Path) -> dict:
    """Max |RGBA difference| between the baseline's and this checkout's first ``n`` default frames."""
    got = {}
    for name, source in (("baseline", base), ("head", ROOT)):
        path = tmp / f"frames_{name}.npz"
        proc = _run_in(source, _FRAMES, n, path)
        if proc.returncode != 0:
            raise SystemExit(f"frames of {source} failed:\n{proc.stderr[-3000:]}")
        got[name] = np.load(path)["rgba"]
    diff = np.abs(got["head"].astype(np.float64) - got["baseline"])
    return {"frames": n, "size": 256, "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "alpha_coverage": float((got["baseline"][..., 3] > 0).mean())}


def run_bench(source: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-c", _LAUNCH, str(source), "-q", "bench", "--json", "--sizes", args.sizes,
           "--frames", str(args.frames), "--modes", args.modes] + \
        (["--warmup", str(args.warmup)] if args.warmup is not None else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env={**os.environ, "DISPLAY": ""})
    if proc.returncode != 0:
        raise SystemExit(f"bench of {source} failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    return data if len(args.modes.split(",")) > 1 else {args.modes: data}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="ab8cd6d")
    ap.add_argument("--sizes", default="256")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default="auto")
    ap.add_argument("--warmup", type=int, default=None,
                    help="untimed frames per size (default: the bench's, 2); gl-lookup exports its band graphs "
                         "on a thread of its own while the first frames run (~2 s of CPU each, the bench's "
                         "export_cpu_ms): ~10 keeps most of them out of the timed frames")
    ap.add_argument("--compare-frames", type=int, default=8,
                    help="frames shaded by both versions and compared (0: skip)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "e2e_ab.json")
    ap.add_argument("--docs", type=Path, default=None)
    ap.add_argument("--marker", default="e2e-ab")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args(argv)
    if args.table_only:
        write_docs(json.loads(args.json.read_text()), args.docs or ROOT / "docs" / "runtime.md", args.marker)
        return 0
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    runs: dict = {"baseline": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="conrt-ab-") as tmp:
        base = Path(tmp)
        (base / "src").mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base / "src")], input=archive.stdout, check=True)
        same = compare_frames(base / "src", args.compare_frames, base) if args.compare_frames else None
        if same:
            print(f"same frames: max |RGBA head - baseline| = {same['max_abs_diff']:.2e} over {same['frames']} "
                  f"frames at 256²")
        base = base / "src"
        order = []
        for r in range(args.rounds):  # ABBA...: neither version always runs first
            order += [("baseline", base), ("head", ROOT)] if r % 2 == 0 else [("head", ROOT), ("baseline", base)]
        for name, source in tqdm(order, desc="A/B", unit="run"):
            row = run_bench(source, args)
            for by_size in row.values():
                for r in by_size.values():
                    r["load_average_1min"] = round(os.getloadavg()[0], 2)
            runs[name].append(row)
    summary: dict = {}
    for name, rows in runs.items():
        for mode in rows[0]:
            for size in rows[0][mode]:
                vals = [x[mode][size] for x in rows]
                summary.setdefault(mode, {}).setdefault(size, {})[name] = {
                    "fps_median": round(statistics.median(v["fps"] for v in vals), 2),
                    "cpu_ms_median": round(statistics.median(v["cpu_ms"] for v in vals), 1),
                    "fps": [v["fps"] for v in vals], "cpu_ms": [v["cpu_ms"] for v in vals],
                    "shade_ms": [v["shade_ms"] for v in vals], "raster_ms": [v["raster_ms"] for v in vals],
                    "readback_ms": [v["readback_ms"] for v in vals],
                    # frames shaded at once (the bench row says so since session 11; before: always 1)
                    "shade_workers": [v.get("shade_workers", 1) for v in vals],
                    # of cpu_ms: a band graph exported during the timed frames (this checkout's bench
                    # says so since session 11; None: the version's bench does not)
                    "export_cpu_ms": [v.get("export_cpu_ms") for v in vals],
                    "load_1min": [v["load_average_1min"] for v in vals]}
    for mode, by_size in summary.items():
        for size, s in by_size.items():
            s["cpu_ratio"] = round(s["head"]["cpu_ms_median"] / s["baseline"]["cpu_ms_median"], 3)
            s["fps_ratio"] = round(s["head"]["fps_median"] / s["baseline"]["fps_median"], 3)
            print(f"{mode} {size}²: CPU ms/frame {s['baseline']['cpu_ms_median']} -> {s['head']['cpu_ms_median']} "
                  f"({s['cpu_ratio']}x), fps {s['baseline']['fps_median']} -> {s['head']['fps_median']} "
                  f"({s['fps_ratio']}x), loads {s['baseline']['load_1min']} / {s['head']['load_1min']}")
    out = {"what": f"interleaved conrt bench --sizes {args.sizes} --frames {args.frames} --modes {args.modes}"
                   f"{f' --warmup {args.warmup}' if args.warmup is not None else ''}, "
                   f"{args.rounds} rounds: {args.baseline} (baseline) vs {head}{' + uncommitted' if dirty else ''}",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{platform.machine()} python {platform.python_version()}, {os.cpu_count()} CPUs",
           "same_frames": same, "summary": summary, "runs": runs}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    if args.docs:
        write_docs(out, args.docs, args.marker)
    return 0


def table(data: dict) -> str:
    """The summary as a markdown table: per mode and size, baseline vs this checkout."""
    lines = [f"Measured {data['date']} on {data['machine']}: {data['what']} "
             "(`python benchmarks/e2e_ab.py`). Medians over the rounds; loads are each run's 1-min load average.",
             "", "| size | mode | CPU ms / frame, baseline | CPU ms / frame, this | × CPU | fps, baseline | fps, this "
                 "| × fps | 1-min loads (baseline / this) |", "|---|---|---|---|---|---|---|---|---|"]
    for mode, by_size in data["summary"].items():
        for size, s in by_size.items():
            b, h = s["baseline"], s["head"]
            loads = f"{'–'.join(f'{x:.1f}' for x in (min(b['load_1min']), max(b['load_1min'])))} / " \
                    f"{'–'.join(f'{x:.1f}' for x in (min(h['load_1min']), max(h['load_1min'])))}"
            lines.append(f"| {size}² | {mode} | {b['cpu_ms_median']:.1f} | {h['cpu_ms_median']:.1f} | "
                         f"{s['cpu_ratio']:.2f} | {b['fps_median']:.1f} | {h['fps_median']:.1f} | {s['fps_ratio']:.2f} "
                         f"| {loads} |")
    same = data.get("same_frames")
    if same:
        lines += ["", f"Same frames: the default runtime's first {same['frames']} walk frames at {same['size']}² "
                      f"shaded by both versions differ by at most {same['max_abs_diff']:.1e} (premultiplied RGBA, "
                      "0..1): float rounding."]
    return "\n".join(lines)


def write_docs(data: dict, path: Path, marker: str) -> None:
    """The table of ``data`` between ``marker``'s comments in ``path`` (doc_table.write_marked_table)."""
    if not write_marked_table(path, marker, table(data)):
        raise SystemExit(f"{path}: no <!-- {marker}:begin/end --> markers")


if __name__ == "__main__":
    sys.exit(main())
