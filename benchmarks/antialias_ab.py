"""Cost of the anti-aliased silhouette, this tree against an older commit,
on the shared machine: ``conrt bench --antialias off,on`` run in alternating
processes (this tree, the baseline, the baseline, this tree, ...), each
measuring AA off and on back to back under the same load. The number that
counts is each process's **CPU ms per frame with AA on / with AA off** (ratios
inside one process, so the load of other sessions cancels); absolute numbers
are reported beside them (medians over the rounds).

The baseline is extracted from git (``git archive REV``) into a temporary
folder and imported from there (a package folder of links, the layout of
pyproject's package-dir), so nothing in this checkout changes.

    python benchmarks/antialias_ab.py [--baseline-rev 87610d9] [--sizes 128,256] [--frames 20]
        [--warmup 4] [--rounds 3] [--json benchmarks/results/antialias_ab.json] [--docs docs/runtime.md]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script

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


def run_bench(path: Path, sizes: str, frames: int, warmup: int) -> dict:
    """One ``conrt bench --antialias off,on --json`` process importing conrt from ``path``."""
    env = dict(os.environ, PYTHONPATH=str(path))
    env.pop("DISPLAY", None)
    cmd = [sys.executable, "-m", "conrt", "bench", "--antialias", "off,on", "--sizes", sizes,
           "--frames", str(frames), "--warmup", str(warmup), "--json"]
    # cwd outside the checkout: the editable install must not shadow PYTHONPATH's conrt
    done = subprocess.run(cmd, env=env, cwd=path, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} (PYTHONPATH={path}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def summary(rounds: list[dict], sizes: list[str]) -> dict:
    out = {}
    for size in sizes:
        row = {}
        for version in ("baseline", "new"):
            offs = [r[version]["aa1"][size]["cpu_ms"] for r in rounds]
            ons = [r[version]["aa3"][size]["cpu_ms"] for r in rounds]
            ratios = [on / off for on, off in zip(ons, offs)]
            row[version] = {"off_cpu_ms": round(statistics.median(offs), 1), "on_cpu_ms": round(statistics.median(ons), 1),
                            "ratio_median": round(statistics.median(ratios), 3),
                            "ratios": [round(x, 3) for x in ratios],
                            "fps_off": round(statistics.median(r[version]["aa1"][size]["fps"] for r in rounds), 1),
                            "fps_on": round(statistics.median(r[version]["aa3"][size]["fps"] for r in rounds), 1)}
        out[size] = row
    return out


def table(result: dict) -> str:
    first = result["rounds"][0]["new"]["aa1"]
    meta = next(iter(first.values()))
    lines = [f"`python benchmarks/antialias_ab.py --rounds {len(result['rounds'])} --frames {meta['frames']}`: "
             f"`conrt bench --antialias off,on` in {2 * len(result['rounds'])} alternating processes, this tree "
             f"and the commit before the change ({result['baseline_rev']}), backend `{meta['backend']}`, character "
             f"{meta['character']}, 2-core CPU machine (llvmpipe) shared with other sessions (1-min load "
             f"{result['load_min']}–{result['load_max']}). CPU ms per frame, medians over the rounds; "
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
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the result here")
    ap.add_argument("--docs", type=Path, help="replace the table between the antialias-bench markers there")
    args = ap.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
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
                one[version] = run_bench(paths[version], args.sizes, args.frames, args.warmup)
            rounds.append(one)
    result = {"baseline_rev": args.baseline_rev, "sizes": sizes, "frames": args.frames, "warmup": args.warmup,
              "load_min": round(min(loads), 2), "load_max": round(max(loads), 2),
              "summary": summary(rounds, sizes), "rounds": rounds}
    text = table(result)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.docs:
        write_marked_table(args.docs, "antialias-bench", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
