"""Issue #16's time aim as a user meets it: ``conrt fit-sheet --jobs 2`` on a
4-view sheet, the whole command (Python start, imports, the worker processes,
the written files), wall and CPU seconds of the command and its workers.

The drawings are the fit-sheet benchmark's turnaround sheet 0
(``fit_drawings.make_turnaround``, seed 900001, labels 0, 45, 90, 180, as
``fit_sheet_bench.py``), written as PNG files; ``--poses per-view``: the
benchmark's per-view folder instead (each drawing its own pose,
``make_drawing``, seeds 1000 * sheet + k: what the default's one-pose check
sends to separate fits). ``--character godette`` (or a file): drawings of the real character
instead, the same deviations (``--drawing-look toon``: in ``conrt sheet``'s look).
``--separate``: ``conrt fit-sheet --separate`` (the baseline's runs too). ``--baseline-pythonpath DIR``
also runs another checkout's ``conrt`` (``DIR`` holding its ``conrt`` package
tree, e.g. a ``git archive`` copy with the package folders linked under
``conrt/``) the same way, the two interleaved round by round, so both meet the
same load. The machine is shared: the load average before and after each run
is recorded beside it (wall seconds mean little above a load of 2).

``--also-separate``: this checkout's ``--separate`` as a third way, interleaved too.
Each run also records the fit's toon renders (``renders``; ``check_renders``: auto's one-pose check),
summed from ``fit.json``'s stages: the work, counted, where the CPU seconds move with the load.

Usage: python benchmarks/fit_sheet_cli_wall.py [--rounds 3] [--jobs 2] [--joint | --separate] [--also-separate]
       [--poses turnaround|per-view] [--character godette|FILE] [--drawing-look toon]
       [--baseline-pythonpath DIR] [--baseline-joint] [--limb-starts NAMES]
       [--json benchmarks/results/fit_sheet_cli_wall.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = (0.0, 45.0, 90.0, 180.0)


def write_sheet(folder: Path, seed: int, sheet: int, poses: str = "turnaround", character_file: Path | None = None,
                look: str | None = None) -> Path:
    """The benchmark's turnaround sheet (``poses`` "per-view": its per-view folder) as PNG drawings in
    ``folder/drawings``, of the procedural character ``seed`` or of ``character_file`` (then written
    nowhere: its own path is returned), drawn in ``look`` (``fit_drawings``' default: the fitter's);
    -> the character file."""
    from PIL import Image

    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.shaders import create_context, release_context
    from conrt.training.fit_drawings import make_drawing, make_turnaround

    if character_file is None:
        path = folder / f"char_{seed}.glb"
        save_character(generate(seed), path)
    else:
        path = Path(character_file).resolve()
    character = load_character(path)
    (folder / "drawings").mkdir()
    ctx = create_context("auto")
    try:
        drawings = (make_turnaround(ctx, character, LABELS, sheet, look=look) if poses == "turnaround" else
                    [make_drawing(ctx, character, label, 1000 * sheet + k, look=look)
                     for k, label in enumerate(LABELS)])
        for k, (drawing, _, _) in enumerate(drawings):
            Image.fromarray(drawing).save(folder / "drawings" / f"v{k}.png")
    finally:
        release_context(ctx)
    return path


def run_once(character: Path, folder: Path, jobs: int, joint: bool, pythonpath: str | None,
             extra: tuple[str, ...] = (), separate: bool = False) -> dict:
    """One ``conrt fit-sheet`` into a fresh output folder -> wall, CPU (the command and its workers), load."""
    out = folder / "out"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath  # ahead of the venv's editable install: the other checkout's conrt
    cmd = [sys.executable, "-m", "conrt", "fit-sheet", str(character), str(folder / "drawings"), "-o", str(out),
           "--yaws", ",".join(f"{y:g}" for y in LABELS), "--jobs", str(jobs)]
    cmd += (["--joint"] if joint else ["--separate"] if separate else []) + list(extra)
    load0 = os.getloadavg()[0]
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder)
    wall = time.perf_counter() - w0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    report = json.loads((out / "fit.json").read_text())
    views = report["views"]
    return {"mode": report.get("mode"), "mode_why": report.get("mode_why"),
            "wall_s": round(wall, 2), "cpu_s": round(c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime, 2),
            "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "views_iou_pose": [v["iou_pose"] for v in views.values()],
            # toon renders of the whole fit (each view's stages; a joint stage is split between the views):
            # counted, so the same on any machine and load, unlike the CPU seconds
            "renders": round(sum(st["renders"] for v in views.values() for st in v["stages"].values())),
            "check_renders": round(sum(v["stages"].get("one_pose_check", {}).get("renders", 0)
                                       for v in views.values())),
            "views_cpu_s": [v.get("cpu_s") for v in views.values()]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--joint", action="store_true", help="conrt fit-sheet --joint")
    ap.add_argument("--separate", action="store_true", help="conrt fit-sheet --separate (this checkout's runs)")
    ap.add_argument("--also-separate", action="store_true",
                    help="also this checkout's `conrt fit-sheet --separate` (way this_separate), interleaved: "
                         "auto against the fits it picks, in the same run")
    ap.add_argument("--poses", choices=("turnaround", "per-view"), default="turnaround",
                    help="the benchmark's turnaround sheet (one pose) or its per-view folder (each drawing its own)")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--character", default=None,
                    help="drawings of this character file instead of the procedural --seed ('godette': the real "
                         "character, fit_sheet_bench.GODETTE)")
    ap.add_argument("--drawing-look", default=None, choices=("toon", "before_skin_rule"),
                    help="the toon look the drawings are made in (default: FIT_LOOK of sheet_fit.py)")
    ap.add_argument("--sheet", type=int, default=0)
    ap.add_argument("--baseline-pythonpath", default=None,
                    help="also run the conrt found on this PYTHONPATH (another checkout), interleaved")
    ap.add_argument("--baseline-joint", action="store_true",
                    help="the baseline's runs with --joint (this checkout's default is auto: the joint fit and its "
                         "one-pose check; main's default was separate fits)")
    ap.add_argument("--limb-starts", default=None,
                    help="this checkout's runs with `--limb-starts NAMES` (the baseline's without)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_cli_wall.json")
    args = ap.parse_args(argv)
    if args.joint and args.separate:
        ap.error("--joint and --separate exclude each other")
    extra = {"this": ("--limb-starts", args.limb_starts) if args.limb_starts is not None else (),
             "this_separate": ("--separate",), "baseline": ("--joint",) if args.baseline_joint else ()}
    ways = {"this": None, **({"this_separate": None} if args.also_separate else {}),
            **({"baseline": args.baseline_pythonpath} if args.baseline_pythonpath else {})}
    runs: dict[str, list] = {k: [] for k in ways}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        from fit_sheet_bench import GODETTE  # lazy: benchmarks/ on sys.path when run as a script

        character_file = None if args.character is None else GODETTE if args.character == "godette" else \
            Path(args.character)
        character = write_sheet(folder, args.seed, args.sheet, args.poses, character_file, args.drawing_look)
        for r in range(args.rounds):
            for key in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
                runs[key].append(run_once(character, folder, args.jobs, args.joint, ways[key], extra[key],
                                          args.separate and key in ("this", "baseline")))
                print(key, runs[key][-1], flush=True)
    result = {"what": f"conrt fit-sheet --jobs N on the fit-sheet benchmark's {args.poses} sheet (4 views), the whole "
                      "command (benchmarks/fit_sheet_cli_wall.py)",
              "poses": args.poses, "separate": args.separate,
              "seed": args.seed, "character": args.character, "drawing_look": args.drawing_look,
              "sheet": args.sheet, "jobs": args.jobs, "joint": args.joint, "cpus": os.cpu_count(),
              "also_separate": args.also_separate,
              "baseline_pythonpath": args.baseline_pythonpath, "baseline_joint": args.baseline_joint,
              "limb_starts": args.limb_starts, "runs": runs,
              "median_wall_s": {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items()},
              "median_cpu_s": {k: statistics.median(r["cpu_s"] for r in v) for k, v in runs.items()}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("median_wall_s", "median_cpu_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
