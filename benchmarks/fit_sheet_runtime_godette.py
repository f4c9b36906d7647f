"""What ``conrt render --sheet`` makes of a fitted sheet of the real character: Godette's
fit-sheet output shaded by the runtime itself (``open_runtime``, its default correspondences:
``udp-nn`` for a sheet with UDP files and no view files), beside the same drawings with their
true UDPs (``--also-table``: both also through the network's table path, the UDP files as its
sheet UDPs), the drawings alone (no UDP file: the network's own guess) and the flat fill, on the
same frames.

The sheets: ``--fitted DIR`` (a ``conrt fit-sheet`` output of drawings made by
``fit_sheet_bench.py --character godette`` / ``fit_sheet_cli_wall.py --character godette``, whose
true UDPs ``--true-udps DIR`` holds as ``<view>_true.npy`` beside ``--drawings DIR``'s
``<view>.png``). Frames: clips walk and wave, ``--frames`` each (every ``--stride``-th physics
frame), camera yaw 30°, torch backend, 256²; ground truth the toon pass; metrics and the flat
fill as ``real_character_bench.py`` (its ``_collect``, ``score``; ``exact_bench``'s ``_flat``,
``_head_box``). ``--character FILE``: another character's fitted sheet (e.g. the procedural
benchmark character's, for comparison).

Usage: python benchmarks/fit_sheet_runtime_godette.py --fitted out/fit --drawings out/drawings
       --true-udps out/true [--frames 6] [--json benchmarks/results/fit_sheet_runtime_godette_s15.json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from exact_bench import _flat, _head_box  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from real_character_bench import CHARACTER, _collect, score  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--character", type=Path, default=CHARACTER,
                    help="the character file the sheet shows (default: Godette; e.g. the procedural benchmark's .glb)")
    ap.add_argument("--fitted", type=Path, required=True)
    ap.add_argument("--drawings", type=Path, required=True)
    ap.add_argument("--true-udps", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--also-table", nargs="*", default=[], choices=("fitted", "true"),
                    help="also these sheets with correspondence 'table' (the network's, the UDP files as its sheet "
                         "UDPs) instead of the runtime's default (udp-nn for UDP files without view files)")
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet_runtime_godette.json")
    args = ap.parse_args(argv)
    import torch
    from PIL import Image

    from conrt.characters.gltf_io import load_character
    from conrt.runtime.app.session import fit_sheet_udps, load_model_source

    torch.set_num_threads(2)
    model, desc = load_model_source(None)
    character = load_character(args.character)
    views = sorted(p.stem for p in args.fitted.glob("*.png") if not p.stem.endswith("_udp"))
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        sheets = {"fitted": args.fitted}
        for name in ("true", "none"):  # the framed drawings the fit wrote, with the true UDPs or none
            d = sheets[name] = Path(tmp) / name
            d.mkdir()
            for v in views:
                shutil.copy(args.fitted / f"{v}.png", d / f"{v}.png")
                if name == "true":
                    drawing = np.asarray(Image.open(args.drawings / f"{v}.png").convert("RGBA"))
                    true = np.load(args.true_udps / f"{v}_true.npy")
                    size = Image.open(args.fitted / f"{v}.png").size[0]
                    np.savez_compressed(d / f"{v}_udp.npz", i=fit_sheet_udps([true], [drawing], size)[0])
        for name, sheet in sheets.items():
            runs[name] = _collect(model, args.character, sheet, 256, "auto", args.frames, args.stride, "toon")
        for name in args.also_table:  # the sheet's UDP files through the network's table path instead
            runs[f"{name} table"] = _collect(model, args.character, sheets[name], 256, "table", args.frames,
                                             args.stride, "toon")
    ref = runs["fitted"]
    for name, run in runs.items():
        if any(not np.array_equal(a["udp"], b["udp"]) for a, b in zip(ref, run)):
            raise RuntimeError(f"{name}: other frames than the fitted sheet's")
    gts = [fr["gt"] for fr in ref]
    boxes = [_head_box(character, fr["pose"], fr["camera"], 256) for fr in ref]
    preds = {name: [fr["rgba"] for fr in run] for name, run in runs.items()}
    preds["flat"] = [_flat(fr["shader"], fr["udp"]) for fr in ref]
    table = {name: score(p, gts, boxes) for name, p in preds.items()}
    for name in table:
        table[name]["l1_vs_flat"] = round(table[name]["l1"] / table["flat"]["l1"], 3)
    result = {"what": "conrt render's shading of Godette from a fitted sheet (runtime default correspondences), "
                      "true UDPs, no UDP files, flat fill; benchmarks/fit_sheet_runtime_godette.py",
              "character": str(args.character), "fitted": str(args.fitted), "views": views, "model": desc,
              "size": 256, "clips": ["walk", "wave"],
              "frames_per_clip": args.frames, "stride": args.stride, "rows": table,
              "fitted_vs_true": round(table["fitted"]["l1"] / table["true"]["l1"], 3)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: {m: round(v[m], 4) for m in ("l1", "l1_vs_flat", "face_ssim")} for k, v in table.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
