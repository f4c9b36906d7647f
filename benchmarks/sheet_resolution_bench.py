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
  bilinear or Keys-cubic sampling instead of area averaging (no prefilter);
- ``ink-on-copy`` (session 15): the sheet's ink estimated on the pass's own copy of the drawings,
  as before session 15 (at frames larger than the drawings, their copy up-sampled), not on the
  drawings as drawn (``frame_loop.ink_sheet``);
- ``pass-on-copy`` (session 15, s15-sharp): at frames larger than the drawings the pass holds
  them up-sampled to the frame's side, as before s15-sharp (``frame_loop.pass_sheet`` never below
  the frame's side; the ink still estimated on the drawings as drawn), not at their own side.

``--character`` / ``--size`` another character and frame size (session 15: the sample character
at 512², its 256² sheet); ``--picture`` the face of two frames (walk, wave) per variant's default
(exact) frame, and the ground truth's, 2x nearest.

Usage: python benchmarks/sheet_resolution_bench.py [--variants default frame-size ...]
       [--looks toon unlit] [--frames 6] [--character FILE] [--size 128] [--picture FILE.png]
       [--json benchmarks/results/sheet_resolution.json]
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
VARIANTS = ("default", "frame-size", "sheet128", "nearest", "linear", "cubic", "ink-on-copy", "pass-on-copy")


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

    kept = (frame_loop.PASS_SHEET_SCALE, rcb._conrt, off.apply_crop, off._area_matrix, frame_loop.ink_sheet,
            frame_loop.pass_sheet)
    try:
        if name == "ink-on-copy":  # the rule before session 15: no drawings of their own side for the ink
            frame_loop.ink_sheet = lambda *args: None
        elif name == "pass-on-copy":  # the rule before s15-sharp: the pass's side never below the frame's
            def frame_side_floor(images, size, reference):
                side, framed = kept[5](images, size, reference)
                return (size, reference) if side < size else (side, framed)
            frame_loop.pass_sheet = frame_side_floor
        elif name != "default":
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
        (frame_loop.PASS_SHEET_SCALE, rcb._conrt, off.apply_crop, off._area_matrix, frame_loop.ink_sheet,
         frame_loop.pass_sheet) = kept


def face_picture(path: Path, faces: dict) -> None:
    """Rows: each variant's default (exact) frame, then the ground truth; columns: the picked frames'
    head boxes (``real_character_bench``'s), 2x nearest, over the docs' grey, a label column."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from picture_grid import labelled_rows, over_grey  # lazy: scripts/ put on sys.path only for the picture
    from PIL import Image

    from conrt.runtime.app.frame_loop import to_straight_u8

    def crop(p, key):
        x0, y0, x1, y1 = p["box"]
        tile = Image.fromarray(over_grey(to_straight_u8(p[key][y0:y1, x0:x1]), 235))
        return np.asarray(tile.resize((2 * (x1 - x0), 2 * (y1 - y0)), Image.NEAREST))

    first = next(iter(faces.values()))
    h = max(2 * (p["box"][3] - p["box"][1]) for p in first)

    def row(pics, key):
        tiles = [crop(p, key) for p in pics]
        tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 4), (0, 0)), constant_values=235) for t in tiles]
        return np.concatenate(tiles, 1)

    rows = [row(pics, "exact") for pics in faces.values()] + [row(first, "gt")]
    labels = [f"{name}" for name in faces] + ["ground truth"]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=235) for r in rows]
    labelled_rows(rows, labels, 235, 90, 6).save(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--looks", nargs="+", default=["toon", "unlit"], choices=rcb.LOOKS)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--character", type=Path, default=rcb.CHARACTER)
    ap.add_argument("--size", type=int, default=128, help="frame size (the sheet is drawn at 256²)")
    ap.add_argument("--picture", type=Path, default=None, help="face crops per variant (the first look)")
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
    size = str(args.size)
    bench = argparse.Namespace(character=args.character, views=6, sizes=[args.size], frames=args.frames, stride=4,
                               baseline_pass=None)
    rows, faces = {}, {}
    for name in args.variants:
        rows[name] = {}
        with variant(name), tempfile.TemporaryDirectory(prefix="conrt-sheet-resolution-") as tmp:
            for look in args.looks:
                table, pictures = rcb.quality(bench, model, Path(tmp), look)
                rows[name][look] = table[size]
                if look == args.looks[0]:
                    faces[name] = pictures[size]
    if args.picture:
        face_picture(args.picture, faces)
    result = {"commit": rcb._commit(), "weights": described, "frames_per_clip": args.frames,
              "character": args.character.name, "size": args.size, "rows": rows}
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
