"""Add the table mode's fusion net to a conr-rt weights file (default: the shipped default).

Sheets with neither ``view_NN_view.npz`` nor ``view_NN_udp.npz`` files are shaded
through the 32³ table of the sheet encoder's own UDP prediction; the default's
``fusion`` net was fine-tuned for exact samples (sessions 5 and 11) and shades that
table worse than the net trained on it. This stores a second fusion net,
``table_fusion.*``, in the same file and sets the config's ``lookup.table_fusion``:
``LookupNet.fusion_for`` then picks it for the table mode on every backend (torch,
ONNX export, gl-lookup) and ``fusion`` for exact and udp-nn samples
(docs/training.md, "Session 12").

``--table-from``: a weights file, or a git revision whose
``runtime/weights/conr-default.safetensors`` is taken; its ``table_fusion`` when it
has one, else its ``fusion``. It must hold the same sheet encoder as the file changed
(checked). Re-running replaces the table net: after a new exact-mode fine-tune of the
default, run this again on the new file.

    .venv/bin/python scripts/add_table_fusion.py [runtime/weights/conr-default.safetensors]
        [--table-from 9cabc11] [-o OUT]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from conrt.errors import CheckpointError
from conrt.runtime.nn.checkpoint import add_table_fusion

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = "runtime/weights/conr-default.safetensors"
# session 5's default (the fusion net fine-tuned at 256² on exact samples in six looks, 10 % of the
# steps through the table): of the three fusion nets the default has shipped, the best on the table
# path on Godette (toon 256² 0.334x flat against 0.366x for session 11's and 0.484x for the table-only
# 13fdd8e; unlit 0.281x, 0.360x, 0.535x) and second on procedural toon sheets (0.754x; 0.776x, 0.681x)
# (docs/training.md, "Session 12", benchmarks/results/table_fusion_candidates.json)
TABLE_FROM = "9cabc11"


def source_file(source: str, work: Path) -> tuple[Path, str]:
    """``--table-from`` -> (a file, how the description names it)."""
    path = Path(source)
    if path.is_file():
        return path, path.name
    out = work / "source.safetensors"
    with open(out, "wb") as f:
        got = subprocess.run(["git", "-C", str(ROOT), "show", f"{source}:{DEFAULT_WEIGHTS}"], stdout=f,
                             stderr=subprocess.PIPE, text=True)
    if got.returncode:
        raise CheckpointError(f"--table-from {source}: neither a file nor a git revision holding {DEFAULT_WEIGHTS} "
                              f"({got.stderr.strip()})")
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", source], capture_output=True,
                         text=True).stdout.strip() or source
    return out, f"the default weights as of {rev}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="?", type=Path, default=ROOT / DEFAULT_WEIGHTS,
                    help="the conr-rt weights file to add the table net to")
    ap.add_argument("--table-from", default=TABLE_FROM,
                    help=f"weights file or git revision of {DEFAULT_WEIGHTS} (default {TABLE_FROM})")
    ap.add_argument("-o", "--out", type=Path, default=None, help="output file (default: WEIGHTS, in place)")
    args = ap.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="conrt-table-fusion-") as tmp:
            source, name = source_file(args.table_from, Path(tmp))
            out = add_table_fusion(args.weights, source, args.out or args.weights, name)
    except CheckpointError as exc:
        print(f"add_table_fusion: {exc}", file=sys.stderr)
        return 1
    print(f"{out}: table_fusion.* from {name} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
