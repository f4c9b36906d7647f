"""End-to-end runtime benchmark: fps and per-stage ms (physics, raster,
read-back, shading, output) at 128^2, 256^2 and 512^2 for the embedded model
(or, until it exists, an untrained conr-xs) and the sample character, plus the
shading-only speed-up of the chosen backend against the straightforward eager
PyTorch baseline measured in the same run. The work is
``conrt.runtime.app.profiling.measure`` (also behind ``conrt bench``).

With ``--modes auto,table`` (what docs/runtime.md's default table uses)
every size runs with each correspondence mode, interleaved (size by size,
mode after mode) so the machine's load hits both alike: ``auto`` is the new
default (exact sheet correspondences from the sample sheet's view files,
seen colours kept), ``table`` the old one (the 32³ lookup table).

Usage: python benchmarks/e2e_bench.py [--sizes 128,256,512] [--frames N] [--backend auto] [--weights W]
       [--modes auto,table] [--json benchmarks/results/e2e.json] [--docs docs/runtime.md] [--table-only]
       (--docs replaces the table between the e2e-bench markers; --table-only
       rebuilds it from the JSON without measuring)
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="128,256,512")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--weights", default=None, help="weights file or shipped name (default: the embedded default)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "e2e.json")
    ap.add_argument("--docs", type=Path, default=None)
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--marker", default="e2e-bench", help="docs marker name (one table per backend run)")
    ap.add_argument("--modes", default="auto", help="comma-separated correspondence modes, each measured at "
                                                    "every size (e.g. auto,table: the new default vs the old)")
    args = ap.parse_args(argv)
    if args.table_only:
        write_docs(json.loads(args.json.read_text()), args.docs or ROOT / "docs" / "runtime.md", args.marker)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from conrt.commands.bench import parse_sizes
    from conrt.runtime.app.profiling import measure_size
    from conrt.runtime.app.session import load_model_source

    t0 = time.time()
    modes = [m for m in args.modes.replace(" ", "").split(",") if m]
    model, _ = load_model_source(args.weights)
    by_mode: dict = {m: {} for m in modes}
    for size in parse_sizes(args.sizes):  # interleaved: each size runs every mode back to back
        for m in modes:
            logging.info("bench %d px, correspondence %s, %d frames", size, m, args.frames)
            by_mode[m][str(size)] = measure_size(size, args.frames, backend=args.backend, model=model,
                                                 correspondence=m)
    result = by_mode[modes[0]]
    meta = {"machine": f"{platform.machine()} {platform.processor()} python {platform.python_version()}",
            "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "seconds": round(time.time() - t0, 1), "weights_arg": args.weights,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "note": "2-core CPU machine (no GPU, llvmpipe GL); absolute ms are load-dependent, "
                    "ratios within one run are comparable"}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "sizes": result}
    if len(modes) > 1:
        data["modes"] = by_mode
    args.json.write_text(json.dumps(data, indent=1))
    json.dump(by_mode, sys.stdout, indent=1)
    print()
    if args.docs:
        write_docs(json.loads(args.json.read_text()), args.docs, args.marker)
    return 0


def modes_table(data: dict) -> str:
    """Correspondence modes side by side per size (a ``--modes`` run)."""
    meta, modes = data["meta"], data["modes"]
    first = next(iter(next(iter(modes.values())).values()))
    names = {"auto": "exact (new default)", "table": "32³ table (old default)"}
    lines = [
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, 1/5/15-min load average "
        f"{meta['load_average']} at the end), backend `{first['backend']}`, weights {first['weights']}, "
        f"sample sheet (6 views), character {first['character']}, walk clip, {first['frames']} timed frames "
        f"per size and mode, modes interleaved size by size (`python benchmarks/e2e_bench.py --modes "
        f"{','.join(modes)} --docs docs/runtime.md`). Raster and read-back include the correspondence pass.",
        "",
        "| size | correspondences | fps | × table fps | CPU ms / frame | physics ms | raster ms | read-back ms "
        "| shade ms | output ms | stage sum / frame time | shade-only ms | 1-min load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ref = modes.get("table")
    for size in next(iter(modes.values())):
        for m, rows in modes.items():
            r = rows[size]
            ratio = f"{r['fps'] / ref[size]['fps']:.2f}" if ref and size in ref else "—"
            lines.append(
                f"| {size}² | {names.get(m, m)} | {r['fps']:.1f} | {ratio} | {_cpu(r)} | {r['physics_ms']:.1f} "
                f"| {r['raster_ms']:.1f} | {r['readback_ms']:.2f} | {r['shade_ms']:.0f} | {r['output_ms']:.1f} "
                f"| {r['pipeline_gain']:.2f}x | {r['shade_only_ms']:.0f} | {r.get('load_average_1min', '—')} |")
    lines += ["", "CPU ms / frame: the process's CPU time (all threads) per delivered frame; it depends far less "
                  "than the wall times on the machine's load: on n otherwise idle cores the frame rate is at most "
                  "n × 1000 / CPU ms. " + meta["note"] + "."]
    return "\n".join(lines)


def _cpu(row: dict) -> str:
    return f"{row['cpu_ms']:.0f}" if "cpu_ms" in row else "—"  # runs before the column existed


def table(data: dict) -> str:
    if "modes" in data:
        return modes_table(data)
    meta, sizes = data["meta"], data["sizes"]
    first = next(iter(sizes.values()))
    lines = [
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, "
        f"{'1/5/15-min load average ' + str(meta['load_average']) + ' at the end' if 'load_average' in meta else 'shared'}), backend "
        f"`{first['backend']}`, weights {first['weights']}, sheet: {first['sheet']}, character "
        f"{first['character']}, walk clip, {first['frames']} timed frames per size "
        f"(`python benchmarks/e2e_bench.py{' --weights ' + meta['weights_arg'] if meta.get('weights_arg') else ''} "
        "--docs docs/runtime.md`).",
        "",
        "| size | fps | physics ms | raster ms | read-back ms | shade ms | output ms | stage sum / frame time "
        "| shade-only ms | eager baseline ms | shading speed-up | torch model, cached sheet ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, r in sizes.items():
        lines.append(
            f"| {size}² | {r['fps']:.2f} | {r['physics_ms']:.1f} | {r['raster_ms']:.1f} | {r['readback_ms']:.2f} "
            f"| {r['shade_ms']:.0f} | {r['output_ms']:.1f} | {r['pipeline_gain']:.2f}x | {r['shade_only_ms']:.0f} "
            f"| {r['baseline_ms']:.0f} | {r['shade_speedup_vs_baseline']:.1f}x | {r['torch_cached_sheet_ms']:.0f} |")
    lines += ["", f"Baseline: {first['baseline']}; speed-up = baseline ms / shade-only ms (the `{first['backend']}` "
                  "backend) on the same UDP frames in the same run; the last column is the torch model with the "
                  "sheet cached (`render_prepared`), also in the same run. " + meta["note"] + "."]
    return "\n".join(lines)


def write_docs(data: dict, path: Path, marker: str = "e2e-bench") -> None:
    """The table of ``data`` between ``marker``'s comments in ``path`` (doc_table.write_marked_table)."""
    if not write_marked_table(path, marker, table(data)):
        raise SystemExit(f"{path}: no <!-- {marker}:begin/end --> markers")


if __name__ == "__main__":
    sys.exit(main())
