"""Where Godette's 128² blur came from: the same frames with the sheet's drawings reaching the
correspondence pass in other ways (session 12; docs/real_character.md, "Session 12").

Every variant runs ``real_character_bench.quality`` (6-view sheets, walk and wave, yaw 30°,
torch backend; rows flat, plain exact, table, exact before the look / before the fill, the
default) at 128² on one of:

- ``default``: today's runtime (the pass samples the drawings at up to 2x the frame side,
  ``frame_loop.PASS_SHEET_SCALE``);
- ``frame-size``: the pass samples the frame-size copy, as before session 12 (scale 1):
  the 256² drawings area-averaged to 128², then sampled bilinearly there;
- ``sheet128``: the sheet drawn at 128² (``conrt sheet --size 128``), used as drawn;
- ``nearest`` / ``linear`` / ``cubic``: scale 1, the drawings re-framed to 128² by nearest,
  bilinear or Keys-cubic sampling instead of area averaging (no prefilter).

Usage: python benchmarks/sheet_resolution_bench.py [--variants default frame-size ...]
       [--looks toon unlit] [--frames 6] [--json benchmarks/results/sheet_resolution.json]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

import numpy as np  # noqa: E402
import real_character_bench as rcb  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("default", "frame-size", "sheet128", "nearest", "linear", "cubic")


def _cubic_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights of half-pixel Keys cubic (a = -0.5) sampling, rows summing to 1."""
    m = np.zeros((dst, src))
    x = (np.arange(dst) + 0.5) * (src / dst) - 0.5
    i0 = np.floor(x).astype(int)
    for k in (-1, 0, 1, 2):
        t = np.abs(x - (i0 + k))
        w = np.where(t <= 1, 1.5 * t ** 3 - 2.5 * t ** 2 + 1, np.where(t < 2, -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2, 0))
        np.add.at(m, (np.arange(dst), np.clip(i0 + k, 0, src - 1)), w)
    return m / m.sum(1, keepdims=True)


@contextlib.contextmanager
def variant(name: str):
    """The runtime and the bench as ``name`` has them, restored after."""
    import conrt.runtime.app.frame_loop as frame_loop
    import conrt.runtime.nn.official as off

    kept = (frame_loop.PASS_SHEET_SCALE, rcb._conrt, off.apply_crop, off._area_matrix)
    try:
        if name != "default":
            frame_loop.PASS_SHEET_SCALE = 1
        if name == "sheet128":
            def drawn_at_128(*args):
                args = list(args)
                if args[0] == "sheet":
                    args[args.index("--size") + 1] = 128
                return kept[1](*args)
            rcb._conrt = drawn_at_128
        elif name == "nearest":  # fit_sheet leaves the kind to the default; the UDP crops say "nearest"
            off.apply_crop = lambda img, crop, size, kind="nearest": kept[2](img, crop, size, kind)
        elif name in ("linear", "cubic"):  # the shrinking matrix of apply_crop's "smooth"
            off._area_matrix = off._linear_matrix if name == "linear" else _cubic_matrix
        yield
    finally:
        frame_loop.PASS_SHEET_SCALE, rcb._conrt, off.apply_crop, off._area_matrix = kept


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--looks", nargs="+", default=["toon", "unlit"], choices=rcb.LOOKS)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "sheet_resolution.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("conrt", "conrt.physics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    from conrt.runtime.app.passes import pass_names, register_pass
    from conrt.runtime.app.session import load_model_source

    torch.set_num_threads(2)
    if "unlit" not in pass_names():
        register_pass("unlit", rcb._unlit_pass)
    model, described = load_model_source(args.weights)
    bench = argparse.Namespace(character=rcb.CHARACTER, views=6, sizes=[128], frames=args.frames, stride=4,
                               baseline_pass=None)
    rows = {}
    for name in args.variants:
        rows[name] = {}
        with variant(name), tempfile.TemporaryDirectory(prefix="conrt-sheet-resolution-") as tmp:
            for look in args.looks:
                rows[name][look] = rcb.quality(bench, model, Path(tmp), look)[0]["128"]
    result = {"commit": rcb._commit(), "weights": described, "frames_per_clip": args.frames, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print("| variant | look | shading | L1 × flat | face SSIM | sharpness |\n|---|---|---|---|---|---|")
    for name, per_look in rows.items():
        for look, table in per_look.items():
            for row in ("plain exact", "table", "exact"):
                r = table[row]
                print(f"| {name} | {look} | {row} | {r['l1_vs_flat']:.3f} | {r['face_ssim']:.3f} | {r['sharpness']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
