"""Cost of the anti-aliased silhouette, this tree against an older commit,
on the shared machine. Each process (this tree, the baseline, the baseline,
this tree, ...) opens two default runtimes as ``conrt bench`` does (sample
character and sheet, embedded weights, walk clip, physics a frame ahead), one
with ``antialias="off"``, one ``"on"``, and pulls their frames in alternating
blocks (5 off, 5 on, 5 on, 5 off, ...), timing each block's process CPU. The
number that counts is each process's **CPU ms per frame with AA on / with AA
off** (interleaved in one process, so the load of other sessions hits both
alike); absolute numbers are reported beside them (medians over the rounds).

The baseline is extracted from git (``git archive REV``) into a temporary
folder and imported from there (a package folder of links, the layout of
pyproject's package-dir), so nothing in this checkout changes.

    python benchmarks/antialias_ab.py [--baseline-rev 87610d9] [--sizes 128,256] [--frames 20]
        [--warmup 4] [--rounds 3] [--json benchmarks/results/antialias_ab.json] [--docs docs/runtime.md]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doc_table import publish  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
# pyproject.toml's package-dir: import name under conrt -> top-level folder
FOLDERS = {"characters": "characters", "physics": "physics", "shaders": "shaders", "runtime": "runtime",
           "engine_bridge": "engine_bridge", "samples": "samples", "training": "training"}


def package_dir(tree: Path, into: Path) -> Path:
    """A folder holding ``conrt/`` as links into ``tree`` (what the editable install maps)."""
    pkg = into / "conrt"
    pkg.mkdir(parents=True)
    for entry in (tree / "conrt").iterdir():
        (pkg / entry.name).symlink_to(entry)
    for name, folder in FOLDERS.items():
        (pkg / name).symlink_to(tree / folder)
    return into


BLOCK = 5  # frames per block


def interleaved(size: int, frames: int, warmup: int) -> dict:
    """In this process: CPU ms per frame of the default runtime with AA off and on,
    their frames pulled in alternating blocks. Uses only API both trees have."""
    from conrt.runtime.app.frame_loop import RuntimeSpec, build_runtime, to_straight_u8
    from conrt.runtime.app.profiling import BENCH_CLIP

    blocks = max(1, frames // (2 * BLOCK))  # 2 * blocks blocks of each setting: `frames` timed frames each
    runtimes, iters = {}, {}
    try:
        for aa in ("off", "on"):
            runtimes[aa] = build_runtime(RuntimeSpec(motion=BENCH_CLIP, size=size, context="egl", lookahead=True,
                                                     antialias=aa))
            iters[aa] = runtimes[aa].frames(warmup + 2 * blocks * BLOCK, sink=lambda f: to_straight_u8(f.rgba))
            for _ in range(warmup):
                next(iters[aa])
        cpu = {"off": [], "on": []}
        for b in range(2 * blocks):
            for aa in (("off", "on") if b % 2 == 0 else ("on", "off")):
                t = time.process_time()
                for _ in range(BLOCK):
                    next(iters[aa])
                cpu[aa].append((time.process_time() - t) / BLOCK * 1e3)
        info = runtimes["on"].info
    finally:
        for rt in runtimes.values():
            rt.close()
    return {"off_cpu_ms": statistics.median(cpu["off"]), "on_cpu_ms": statistics.median(cpu["on"]),
            "ratio": statistics.median(cpu["on"]) / statistics.median(cpu["off"]),
            "blocks_off": [round(x, 2) for x in cpu["off"]], "blocks_on": [round(x, 2) for x in cpu["on"]],
            "backend": info.backend, "weights": info.weights, "character": info.character, "frames": 2 * blocks * BLOCK}


def run_child(path: Path, sizes: str, frames: int, warmup: int) -> dict:
    """This script's --child in a process importing conrt from ``path``: {size: interleaved(...)}."""
    env = dict(os.environ, PYTHONPATH=str(path))
    env.pop("DISPLAY", None)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--sizes", sizes, "--frames", str(frames),
           "--warmup", str(warmup)]
    # cwd outside the checkout: the editable install must not shadow PYTHONPATH's conrt
    done = subprocess.run(cmd, env=env, cwd=path, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} (PYTHONPATH={path}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(rounds: list[dict], sizes: list[str]) -> dict:
    out = {}
    for size in sizes:
        row = {}
        for version in ("baseline", "new"):
            runs = [r[version][size] for r in rounds]
            row[version] = {"off_cpu_ms": round(statistics.median(x["off_cpu_ms"] for x in runs), 1),
                            "on_cpu_ms": round(statistics.median(x["on_cpu_ms"] for x in runs), 1),
                            "ratio_median": round(statistics.median(x["ratio"] for x in runs), 3),
                            "ratios": [round(x["ratio"], 3) for x in runs]}
        out[size] = row
    return out


def table(result: dict) -> str:
    meta = next(iter(result["rounds"][0]["new"].values()))
    lines = [f"`python benchmarks/antialias_ab.py --rounds {len(result['rounds'])} --frames {result['frames']}`: "
             f"{2 * len(result['rounds'])} alternating processes, this tree and the commit before the change "
             f"({result['baseline_rev']}), each with AA off and on interleaved in blocks of {BLOCK} frames "
             f"({meta['frames']} frames each), backend `{meta['backend']}`, character {meta['character']}, "
             f"2-core CPU machine (llvmpipe) shared with other sessions (1-min load "
             f"{result['load_min']}–{result['load_max']}). CPU ms per frame, medians; "
             "× off = AA on / AA off inside each process (the load-robust number), median and each round's.",
             "",
             "| size | AA off, before | AA on (3×3), before | × off before | AA off, now | AA on (3×3), now | "
             "× off now | rounds now |",
             "|---|---|---|---|---|---|---|---|"]
    for size, row in result["summary"].items():
        b, n = row["baseline"], row["new"]
        lines.append(f"| {size}² | {b['off_cpu_ms']:.0f} | {b['on_cpu_ms']:.0f} | **{b['ratio_median']:.2f}** | "
                     f"{n['off_cpu_ms']:.0f} | {n['on_cpu_ms']:.0f} | **{n['ratio_median']:.2f}** | "
                     f"{', '.join(f'{x:.2f}' for x in n['ratios'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from tqdm import tqdm

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-rev", default="87610d9", help="git revision to compare with (default 87610d9)")
    ap.add_argument("--sizes", default="128,256")
    ap.add_argument("--frames", type=int, default=20, help="timed frames per setting (blocks of 5)")
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the result here")
    ap.add_argument("--docs", type=Path, help="replace the table between the antialias-bench markers there")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one measuring process
    args = ap.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if args.child:
        logging.disable(logging.WARNING)
        print(json.dumps({s: interleaved(int(s), args.frames, args.warmup) for s in sizes}))
        return 0
    rounds, loads = [], []
    with tempfile.TemporaryDirectory(prefix="conrt-aa-ab-") as tmp:
        tmp = Path(tmp)
        base_tree = tmp / "tree"
        base_tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline_rev], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base_tree)], input=archive.stdout, check=True)
        paths = {"baseline": package_dir(base_tree, tmp / "baseline"), "new": package_dir(ROOT, tmp / "new")}
        for r in tqdm(range(args.rounds), desc="rounds", unit="round"):
            order = ("new", "baseline") if r % 2 == 0 else ("baseline", "new")
            one = {}
            for version in order:
                loads.append(os.getloadavg()[0])
                one[version] = run_child(paths[version], args.sizes, args.frames, args.warmup)
            rounds.append(one)
    result = {"baseline_rev": args.baseline_rev, "sizes": sizes, "frames": args.frames, "warmup": args.warmup,
              "load_min": round(min(loads), 2), "load_max": round(max(loads), 2),
              "summary": summary(rounds, sizes), "rounds": rounds}
    text = table(result)
    publish(result, args.json, text, args.docs, "antialias-bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
