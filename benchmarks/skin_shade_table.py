"""Session 12's toon look (warm skin shadow, face lit near flat) against session 11's: the tables.

Each look is scored against its own ground truth on the same seeds, frames and weights (the
embedded default): the three benchmarks below ran once on the code before the change (its
``git archive``, imported through benchmarks/e2e_ab.py's launcher) and once after, into
``benchmarks/results/s12_look/{sheet_poses,godette,demo}_{before,after}.json``:

    python benchmarks/sheet_poses_eval.py --views 1,4 --json .../sheet_poses_{before,after}.json
    python benchmarks/real_character_bench.py --looks toon --sizes 256 --frames 6 --json .../godette_{...}.json
    python benchmarks/fill_unseen_bench.py --demo --sizes 256 --styles "" --json .../demo_{...}.json

This script only reads them: ``python benchmarks/skin_shade_table.py [--docs docs/shaders.md]``
(the tables go between the ``skin-shade`` markers).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "s12_look"
SHEET_ROWS = ("flat", "plain exact lookup", "default")


def _load(name: str) -> tuple[dict, dict]:
    return tuple(json.loads((RESULTS / f"{name}_{when}.json").read_text()) for when in ("before", "after"))


def _ab(a: float, b: float, digits: int) -> str:
    return f"{a:.{digits}f} → {b:.{digits}f}"


def _cells(runs: tuple[dict, dict], row, fields) -> str:
    """The table cells 'before → after' of one row, ``row(run)`` the row's results in a run, for
    each (key, digits) of ``fields``: the one loop every table below makes."""
    a, b = (row(r) for r in runs)
    return " | ".join(_ab(a[key], b[key], digits) for key, digits in fields)


def sheet_table() -> str:
    runs = _load("sheet_poses")
    lines = ["| look | sheet | views | shading | L1 before → after | × flat before → after | "
             "face SSIM before → after | SSIM before → after |", "|---|---|---|---|---|---|---|---|"]
    for style in ("toon", "no-outline"):
        for choice in ("clip", "turnaround"):
            for views in ("n=1", "n=4"):
                for row in SHEET_ROWS:
                    cells = _cells(runs, lambda r: r["styles"][style][choice][row][views],
                                   (("l1", 4), ("l1_vs_flat", 3), ("face_ssim", 3), ("ssim", 4)))
                    name = f"**{row}**" if row == "default" else row
                    lines.append(f"| {style} | {choice} | {views} | {name} | {cells} |")
    return "\n".join(lines)


def faces_table() -> str:
    """Inside the head boxes at n = --face-views: each row's mean |error|, and the lighting part of the
    error (no-outline minus unlit: what the shading adds to the face's error)."""
    runs = _load("sheet_poses")
    lines = ["| sheet | shading | toon face L1 before → after | no-outline face L1 before → after | "
             "lighting part (no-outline − unlit) before → after |", "|---|---|---|---|---|"]
    for choice in ("clip", "turnaround"):
        for row in ("plain exact lookup", "default"):
            faces = [_cells(runs, lambda r: r["faces"][style][choice][row], (("face_l1", 4),))
                     for style in ("toon", "no-outline")]
            light = _cells(runs, lambda r: {"face_l1": r["faces"]["no-outline"][choice][row]["face_l1"]
                                            - r["faces"]["unlit"][choice][row]["face_l1"]}, (("face_l1", 4),))
            lines.append(f"| {choice} | {row} | {faces[0]} | {faces[1]} | {light} |")
    return "\n".join(lines)


def demo_and_godette_table() -> str:
    lines = ["| frames | shading | L1 before → after | × flat before → after | face SSIM before → after |",
             "|---|---|---|---|---|"]
    runs = _load("demo")
    for row in ("flat", "plain", "now"):
        name = {"plain": "plain exact lookup", "now": "**default**"}.get(row, row)
        cells = _cells(runs, lambda r: r["demo"]["256"]["rows"][row], (("l1", 4), ("l1_vs_flat", 3)))
        lines.append(f"| demo (sample, 5 walk frames, 256²) | {name} | {cells} | – |")
    runs = _load("godette")
    for row in ("flat", "plain exact", "exact"):
        name = {"exact": "**default**", "plain exact": "plain exact lookup"}.get(row, row)
        cells = _cells(runs, lambda r: r["rows"]["toon"]["256"][row], (("l1", 4), ("l1_vs_flat", 3), ("face_ssim", 3)))
        lines.append(f"| Godette toon (12 frames, 256²) | {name} | {cells} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=Path, default=None, help="write the tables between this doc's skin-shade markers")
    args = ap.parse_args(argv)
    text = "\n\n".join((sheet_table(), faces_table(), demo_and_godette_table()))
    print(text)
    if args.docs:
        write_marked_table(args.docs, "skin-shade", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
