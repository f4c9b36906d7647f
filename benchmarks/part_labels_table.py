"""The part labels' and skin rules' sessions against the code before them: the tables.

Each look is scored against its own ground truth on the same frames and weights (the embedded
default). The benchmarks ran once on the code before (a ``git archive`` of it, imported in place of the
checkout) and once after, into ``benchmarks/results/s13_godette/`` (session 13: Godette's labels, the
chin shadow; before = 4cb2517) and ``benchmarks/results/s14_real/`` (session 14: skin shaded in the
face's MToon shade colour, the neck's whole tube in the chin shadow; before = 292e8fc):

    python benchmarks/real_character_bench.py --looks toon unlit --sizes 256 128 --frames 6 \\
        --json .../godette_{before,after,...}.json
    python benchmarks/sheet_poses_eval.py --views 4 --styles toon,no-outline --json .../sheet_poses_{before,after}.json

(session 13 ``godette_part_lines``: the labels with the toon pass's part lines on them, not kept; session
14 ``godette_skin_shade`` and ``godette_neck_tube``: each rule alone.) This script only reads them:
``python benchmarks/part_labels_table.py [--session 13|14] [--docs]`` (session 13's tables go between the
``s13-godette`` markers of docs/real_character.md and ``s13-chin`` of docs/shaders.md, session 14's
between ``s14-godette`` and ``s14-chin``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = {13: ROOT / "benchmarks" / "results" / "s13_godette", 14: ROOT / "benchmarks" / "results" / "s14_real"}
GODETTE_ROWS = {"flat": "flat fill", "plain exact": "plain exact lookup", "table": "table 32³ + network",
                "exact": "**default** (exact + network)"}
# each session's Godette runs (file name, column head); the second is the one kept (bold). Session 14's
# changes move the fourth digit: its cells have four
GODETTE_RUNS = {13: (("godette_before", "before (SKIN all over)"),
                     ("godette_after", "**after** (labels, no part lines)"),
                     ("godette_part_lines", "labels with part lines (not kept)")),
                14: (("godette_before", "before (292e8fc)"), ("godette_after", "**after** (both rules)"),
                     ("godette_skin_shade", "skin in the face's shade colour alone"),
                     ("godette_neck_tube", "the neck's tube alone"))}


def _load(session: int, name: str) -> dict:
    return json.loads((RESULTS[session] / f"{name}.json").read_text())


def _cell(r: dict, digits: int = 3) -> str:
    return f"{r['l1_vs_flat']:.{digits}f} / {r['face_ssim']:.{digits}f} / {r['sharpness']:.2f}"


def godette_table(session: int) -> str:
    names, heads = zip(*GODETTE_RUNS[session])
    runs = [_load(session, n) for n in names]
    lines = ["| look | size | shading | " + " | ".join(heads) + " |", "|---|---|---|" + "---|" * len(runs)]
    for look in [k for k in runs[0]["rows"] if all(k in r["rows"] for r in runs)]:  # the looks every run has
        for size in runs[0]["rows"][look]:
            for row, label in GODETTE_ROWS.items():
                cells = [_cell(r["rows"][look][size][row], 3 if session == 13 else 4) for r in runs]
                cells[1] = f"**{cells[1]}**"
                lines.append(f"| {look} | {size}² | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chin_table(session: int) -> str:
    before, after = _load(session, "sheet_poses_before"), _load(session, "sheet_poses_after")
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
    ap.add_argument("--session", type=int, choices=sorted(RESULTS), default=max(RESULTS))
    ap.add_argument("--docs", action="store_true",
                    help="write the tables into docs/real_character.md and docs/shaders.md")
    args = ap.parse_args(argv)
    godette, chin = godette_table(args.session), chin_table(args.session)
    print(godette, "", chin, sep="\n")
    if args.docs:
        write_marked_table(ROOT / "docs" / "real_character.md", f"s{args.session}-godette", godette)
        write_marked_table(ROOT / "docs" / "shaders.md", f"s{args.session}-chin", chin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
