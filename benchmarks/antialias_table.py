"""docs/runtime.md table of the anti-aliasing cost: ``conrt bench --antialias off,on``'s JSON
(both settings at every size, back to back) as on/off rows with the ratios.

    conrt bench --antialias off,on --sizes 128,256,512 --frames 20 --warmup 4 --json \\
        > benchmarks/results/runtime_antialias.json
    python benchmarks/antialias_table.py benchmarks/results/runtime_antialias.json [--docs docs/runtime.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script


def table(result: dict) -> str:
    off, on = result["aa1"], result["aa3"]
    first = next(iter(off.values()))
    lines = [f"Backend `{first['backend']}`, weights {first['weights']}, character {first['character']}, "
             f"{first['frames']} timed frames per size and setting, 2-core CPU machine (llvmpipe), 1-min load "
             f"{min(r['load_average_1min'] for r in (*off.values(), *on.values()))}–"
             f"{max(r['load_average_1min'] for r in (*off.values(), *on.values()))} (other sessions running).",
             "",
             "| size | antialias | CPU ms / frame | × off | fps | × off | raster ms | read-back ms | shade ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size in off:
        for name, r in (("off", off[size]), ("on (3×3)", on[size])):
            lines.append(f"| {size}² | {name} | {r['cpu_ms']:.0f} | {r['cpu_ms'] / off[size]['cpu_ms']:.2f} | "
                         f"{r['fps']:.1f} | {r['fps'] / off[size]['fps']:.2f} | {r['raster_ms']:.1f} | "
                         f"{r['readback_ms']:.2f} | {r['shade_ms']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", type=Path, help="conrt bench --antialias off,on --json output")
    ap.add_argument("--docs", type=Path, help="replace the table between the antialias-bench markers there")
    args = ap.parse_args(argv)
    text = table(json.loads(args.result.read_text()))
    print(text)
    if args.docs:
        write_marked_table(args.docs, "antialias-bench", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
