"""Physics cost per 60 fps frame: body, hair, cloth (Verlet and PyBullet), extra characters.

    .venv/bin/python benchmarks/physics_bench.py [--frames 120] [--out benchmarks/results/physics.json]
    .venv/bin/python benchmarks/physics_bench.py --baseline af80fc7 [--rounds 4] [--frames 120] [--parts]
    .venv/bin/python benchmarks/physics_bench.py --parts     # where a runtime frame's physics CPU goes

The character is ``samples/sample_character.glb`` (skirt + twin tails + long
hair) when it loads, else the procedural one with the same parts. Each row
runs the ``walk`` clip for ``--frames`` frames after a short warm-up and
reports the median CPU time (``time.process_time``: less sensitive than wall
time to the other jobs sharing the machine) and wall time per frame; each
config runs ``--repeats`` times (interleaved) and the lowest median is kept. Ratios
are against the body-only row of the same run; the load average is recorded
because the 2 cores are shared.

With ``--baseline REV``: the runtime's own setting (the full character at
30 fps, 4 substeps: ``PhysicsStage``'s world) and body + hair, each round one
fresh process of REV's code (``git archive``) and one of this checkout's
(ABBA...), this script's measuring code for both; the ratio this / REV per
round and its median (the load hits both alike), written to ``--out``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from conrt.physics.world import PhysicsWorld
from conrt.samples import SAMPLE_CHARACTER

log = logging.getLogger("physics_bench")
ROOT = Path(__file__).resolve().parents[1]


def load_character():
    path = SAMPLE_CHARACTER
    try:
        from conrt.characters.gltf_io import load_character as load

        return load(path), str(path.relative_to(ROOT))
    except Exception as exc:  # the sample is optional: fall back to the generator
        log.warning("sample character unavailable (%s); using the procedural one", exc)
        from conrt.characters.procedural import generate

        return generate(0, bottom="skirt", tails="twin", long_hair=True), "procedural seed 0 (skirt, twin tails, long hair)"


def run(character, frames: int, count: int = 1, clip: str = "walk", fps: float = 60, **world_kw) -> dict:
    with PhysicsWorld(fps=fps, **world_kw) as world:
        for _ in range(count):
            world.add(character, clip)
        for _ in range(10):  # warm-up: first contacts, caches
            world.step()
        cpu, wall = [], []
        for _ in range(frames):
            c0, w0 = time.process_time(), time.perf_counter()
            world.step()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        resets = sum(world.resets(h) for h in range(count))
        substeps = world.substeps
    return {"cpu_ms": 1000 * float(np.median(cpu)), "wall_ms": 1000 * float(np.median(wall)),
            "cpu_p90_ms": 1000 * float(np.percentile(cpu, 90)), "substeps": substeps, "resets": resets}


# --baseline's rows: (name, regions kept, PhysicsWorld arguments)
COMPARED = [("full character, runtime (30 fps, 4 substeps)", ("hair", "cloth"), {"fps": 30, "substeps": 4}),
            ("body + hair chains, runtime (30 fps, 4 substeps)", ("hair",), {"fps": 30, "substeps": 4})]


# --parts: where a runtime frame's CPU goes, each part timed by wrapping it (module, attribute, label);
# the names exist in every checkout since session 9, so --baseline can time the baseline's parts too
PARTS = [("cloth", "VerletCloth.step", "Verlet skirt (VerletCloth.step)"),
         ("world", "p.stepSimulation", "PyBullet step (p.stepSimulation)"),
         ("world", "PhysicsWorld._read", "reading the frame (PhysicsWorld._read)"),
         ("hair", "HairChain.drive", "hair drive (HairChain.drive)"),
         ("world", "PhysicsWorld._target", "clip + forward kinematics (PhysicsWorld._target)"),
         ("world", "_AnchorPath.at", "anchor paths (_AnchorPath.at)")]


def verlet_step_ms(character, frames: int = 120, settle: int = 20, **world_kw) -> float:
    """CPU ms per frame of the Verlet cloth's substeps alone (``VerletCloth.step`` timed on its
    own thread's clock: less of the other jobs on a shared machine than the wall clock), the
    character walking in a fresh world (``world_kw``: fps, substeps) after ``settle`` frames."""
    from conrt.physics.cloth import VerletCloth

    step, spent = VerletCloth.step, [0.0]

    def timed(self, dt):
        t = time.thread_time()
        step(self, dt)
        spent[0] += time.thread_time() - t

    VerletCloth.step = timed
    try:
        with PhysicsWorld(**world_kw) as world:
            world.add(character, "walk")
            for _ in range(settle):
                world.step()
            spent[0] = 0.0
            for _ in range(frames):
                world.step()
    finally:
        VerletCloth.step = step
    return spent[0] / frames * 1e3


def parts(character, frames: int) -> dict:
    """CPU ms per frame of each of PARTS in the runtime's world (30 fps, 4 substeps), the
    rest of ``world.step()`` and the total; the wrappers add ~1 µs a call (their two clock
    reads), so the total here is a little above ``run``'s."""
    import importlib

    spent: dict[str, float] = {}
    undo = []
    for module, attr, label in PARTS:
        owner = importlib.import_module(f"conrt.physics.{module}")
        *path, name = attr.split(".")
        for step in path:
            owner = getattr(owner, step)
        inner = getattr(owner, name)

        def timed(*a, _inner=inner, _label=label, **k):
            t = time.process_time()
            try:
                return _inner(*a, **k)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.process_time() - t

        setattr(owner, name, timed)
        undo.append((owner, name, inner))
    try:
        with PhysicsWorld(fps=30, substeps=4) as world:
            world.add(character, "walk")
            for _ in range(10):
                world.step()
            spent.clear()
            t = time.process_time()
            for _ in range(frames):
                world.step()
            total = time.process_time() - t
    finally:
        for owner, name, inner in undo:
            setattr(owner, name, inner)
    out = {label: round(1000 * spent.get(label, 0.0) / frames, 3) for _, _, label in PARTS}
    out["the rest of world.step()"] = round(1000 * total / frames - sum(out.values()), 3)
    out["total"] = round(1000 * total / frames, 3)
    return out


def child(frames: int, out: Path, with_parts: bool = False) -> None:
    """One measuring process of --baseline: COMPARED's rows with the conrt it imports."""
    character, _ = load_character()
    rows = {}
    for name, kinds, kw in COMPARED:
        ch = dataclasses.replace(character, regions=tuple(r for r in character.regions if r.kind in kinds))
        rows[name] = run(ch, frames, **kw)
    result = {"rows": rows, "load_1min": os.getloadavg()[0]}
    if with_parts:
        result["parts"] = parts(character, frames)
    out.write_text(json.dumps(result))


def compare(args) -> int:
    import statistics
    import subprocess
    import sys
    import tempfile

    from e2e_ab import _LAUNCH  # benchmarks/ is on sys.path when run as a script

    launch = _LAUNCH.replace("from conrt.cli import main\nsys.exit(main())",
                             "import runpy\nsys.argv.pop(0)\nrunpy.run_path(sys.argv[0], run_name='__main__')")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    runs = {"baseline": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="conrt-physics-ab-") as tmp:
        base = Path(tmp) / "src"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        for r in tqdm(range(args.rounds), desc="physics A/B", unit="round"):
            for name in ("baseline", "head") if r % 2 == 0 else ("head", "baseline"):
                out = Path(tmp) / f"{name}{r}.json"
                proc = subprocess.run([sys.executable, "-c", launch, str(base if name == "baseline" else ROOT),
                                       str(Path(__file__).resolve()), "--child", "--frames", str(args.frames),
                                       "--out", str(out), *(["--parts"] if args.parts else [])],
                                      capture_output=True, text=True, timeout=1800)
                if proc.returncode != 0:
                    raise SystemExit(f"{name} run failed:\n{proc.stderr[-3000:]}")
                runs[name].append(json.loads(out.read_text()))
    summary = {}
    for name, *_ in COMPARED:
        base_ms = [r["rows"][name]["cpu_ms"] for r in runs["baseline"]]
        head_ms = [r["rows"][name]["cpu_ms"] for r in runs["head"]]
        ratios = [h / b for h, b in zip(head_ms, base_ms)]
        summary[name] = {"baseline_cpu_ms": round(statistics.median(base_ms), 2),
                         "head_cpu_ms": round(statistics.median(head_ms), 2),
                         "ratio_median": round(statistics.median(ratios), 3), "ratios": [round(x, 3) for x in ratios],
                         "resets": [r["rows"][name]["resets"] for r in runs["baseline"] + runs["head"]]}
    if args.parts:  # per part: the median over rounds of each version's CPU ms per frame
        for label in runs["head"][0]["parts"]:
            base_ms = statistics.median(r["parts"][label] for r in runs["baseline"])
            head_ms = statistics.median(r["parts"][label] for r in runs["head"])
            summary[f"part: {label}"] = {"baseline_cpu_ms": round(base_ms, 3), "head_cpu_ms": round(head_ms, 3),
                                         "ratio_median": round(head_ms / max(base_ms, 1e-9), 3), "ratios": []}
    result = {"what": f"benchmarks/physics_bench.py --baseline {args.baseline} --rounds {args.rounds} --frames "
                      f"{args.frames}: {head} against {args.baseline}, alternating fresh processes, median CPU ms "
                      "per frame of each process; ratio = this / baseline per round",
              "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
              "load_1min": [round(r["load_1min"], 2) for r in runs["baseline"] + runs["head"]],
              "summary": summary, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for name, row in summary.items():
        print(f"{name:50s} {row['baseline_cpu_ms']:7.2f} -> {row['head_cpu_ms']:7.2f} ms  x{row['ratio_median']:.3f} "
              f"{row['ratios']}")
    print(f"load {result['load_1min']}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3, help="runs per config; the least disturbed (lowest median) is kept")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "physics.json"))
    ap.add_argument("--baseline", default=None, help="a commit to compare with (the runtime's rows, alternating)")
    ap.add_argument("--rounds", type=int, default=4, help="with --baseline: process pairs")
    ap.add_argument("--parts", action="store_true",
                    help="the runtime's world (full character, 30 fps, 4 substeps): CPU ms per frame of each part "
                         "(alone, or with --baseline: both versions' parts, medians over rounds)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one measuring process of --baseline
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        child(args.frames, Path(args.out), args.parts)
        return 0
    if args.parts and not args.baseline:
        character, source = load_character()
        for label, ms in parts(character, args.frames).items():
            print(f"{label:50s} {ms:7.3f} ms")
        print(f"{source}, walk, 30 fps x 4 substeps, CPU ms per frame; load {os.getloadavg()[0]:.2f}")
        return 0
    if args.baseline:
        return compare(args)

    character, source = load_character()
    hair_only = dataclasses.replace(character, regions=tuple(r for r in character.regions if r.kind == "hair"))
    body_only = dataclasses.replace(character, regions=())
    cloth_only = dataclasses.replace(character, regions=tuple(r for r in character.regions if r.kind == "cloth"))
    rows = [
        ("body only (kinematic capsules)", body_only, 1, {}),
        ("body + hair chains", hair_only, 1, {}),
        ("body + skirt, Verlet 16x8, 2 substeps", cloth_only, 1, {}),
        ("body + skirt, PyBullet 16x8, 4 substeps", cloth_only, 1, {"cloth_backend": "bullet"}),
        ("body + skirt, PyBullet 12x6, 4 substeps", cloth_only, 1,
         {"cloth_backend": "bullet", "cloth_segments": 12, "cloth_rings": 6}),
        ("full character, Verlet (default)", character, 1, {}),
        ("full character, PyBullet cloth", character, 1, {"cloth_backend": "bullet"}),
        ("2 full characters, Verlet", character, 2, {}),
    ]
    load_before = os.getloadavg()
    results = []
    best: dict[str, dict] = {}
    # repeats interleave the configs, so a burst of load from the other jobs hits them alike
    for _ in tqdm(range(args.repeats), desc="physics bench", unit="round"):
        for name, ch, count, kw in rows:
            r = run(ch, args.frames, count, **kw)
            if name not in best or r["cpu_ms"] < best[name]["cpu_ms"]:
                best[name] = dict(r, config=name, characters=count, **kw)
    results = [best[name] for name, *_ in rows]
    base = results[0]["cpu_ms"]
    for r in results:
        r["cpu_vs_body_only"] = round(r["cpu_ms"] / base, 2)
    one = next(r for r in results if r["config"] == "full character, Verlet (default)")
    two = next(r for r in results if r["config"] == "2 full characters, Verlet")
    report = {
        "character": source,
        "vertices": character.mesh.num_vertices,
        "joints": character.skeleton.num_joints,
        "regions": {r.name: r.kind for r in character.regions},
        "clip": "walk",
        "frames": args.frames,
        "repeats": args.repeats,
        "frame_rate": 60,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
        "load_average_before_after": [round(x, 2) for x in load_before + os.getloadavg()],
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "rows": results,
        "added_character_cpu_ms": round(two["cpu_ms"] - one["cpu_ms"], 3),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"{'config':45s} {'cpu ms':>8s} {'wall ms':>8s} {'x body':>7s} {'resets':>6s}")
    for r in results:
        print(f"{r['config']:45s} {r['cpu_ms']:8.2f} {r['wall_ms']:8.2f} {r['cpu_vs_body_only']:7.2f} {r['resets']:6d}")
    print(f"per added character: {report['added_character_cpu_ms']:.2f} ms cpu; load {report['load_average_before_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
