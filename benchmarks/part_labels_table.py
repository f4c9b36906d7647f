"""Session 13's part labels (Godette) and chin shadow (procedural) against the code before: the tables.

Each look is scored against its own ground truth on the same frames and weights (the embedded
default). The benchmarks ran once on the code before (4cb2517's ``git archive``, imported through
benchmarks/e2e_ab.py's launcher, its ``python -m conrt`` subprocesses too) and once after, into
``benchmarks/results/s13_godette/``:

    python benchmarks/real_character_bench.py --looks toon unlit --sizes 256 128 --frames 6 \\
        --json .../godette_{before,after,part_lines}.json
    python benchmarks/sheet_poses_eval.py --views 4 --styles toon,no-outline --json .../sheet_poses_{before,after}.json

(``godette_part_lines``: the labels with the toon pass's part lines on them, not kept.) This script
only reads them: ``python benchmarks/part_labels_table.py [--docs]`` (the tables go between the
``s13-godette`` markers of docs/real_character.md and ``s13-chin`` of docs/shaders.md).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "s13_godette"
GODETTE_ROWS = {"flat": "flat fill", "plain exact": "plain exact lookup", "table": "table 32³ + network",
                "exact": "**default** (exact + network)"}


def _load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _cell(r: dict) -> str:
    return f"{r['l1_vs_flat']:.3f} / {r['face_ssim']:.3f} / {r['sharpness']:.2f}"


def godette_table() -> str:
    runs = [_load(n) for n in ("godette_before", "godette_after", "godette_part_lines")]
    lines = ["| look | size | shading | before (SKIN all over) | **after** (labels, no part lines) | "
             "labels with part lines (not kept) |", "|---|---|---|---|---|---|"]
    for look in runs[0]["rows"]:
        for size in runs[0]["rows"][look]:
            for row, label in GODETTE_ROWS.items():
                cells = [_cell(r["rows"][look][size][row]) for r in runs]
                lines.append(f"| {look} | {size}² | {label} | {cells[0]} | **{cells[1]}** | {cells[2]} |")
    return "\n".join(lines)


def chin_table() -> str:
    before, after = _load("sheet_poses_before"), _load("sheet_poses_after")
    lines = ["| look | sheet (n = 4) | shading | × flat before → after | face SSIM before → after | "
             "face L1 (head box) before → after |", "|---|---|---|---|---|---|"]
    for style in before["styles"]:
        for choice in before["styles"][style]:
            for row in ("flat", "plain exact lookup", "default"):
                a, b = (r["styles"][style][choice][row]["n=4"] for r in (before, after))
                faces = [r["faces"][style][choice].get(row, {}).get("face_l1") for r in (before, after)]
                face = "–" if row == "flat" else f"{faces[0]:.4f} → {faces[1]:.4f}"
                name = f"**{row}**" if row == "default" else row
                lines.append(f"| {style} | {choice} | {name} | {a['l1_vs_flat']:.4f} → {b['l1_vs_flat']:.4f} | "
                             f"{a['face_ssim']:.4f} → {b['face_ssim']:.4f} | {face} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", action="store_true",
                    help="write the tables into docs/real_character.md and docs/shaders.md")
    args = ap.parse_args(argv)
    godette, chin = godette_table(), chin_table()
    print(godette, "", chin, sep="\n")
    if args.docs:
        write_marked_table(ROOT / "docs" / "real_character.md", "s13-godette", godette)
        write_marked_table(ROOT / "docs" / "shaders.md", "s13-chin", chin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
