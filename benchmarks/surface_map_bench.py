"""Do the exact correspondences' surface maps show what the sheet's UDP files show?

``conrt sheet --views V --udp`` draws each view's UDP with the UDP pass's
alpha rule (glTF MASK/BLEND texture alpha, single-sided faces culled). The
correspondence pass draws its own surface map of each view from the mesh
(``CorrespondencePass.set_sheet``) and judges a target point seen in a view
only where the map shows the point's own surface, so every pixel where the
map and the UDP file disagree is a pixel where the view's colour is judged
against the wrong surface. Per pass (``--baseline REV``: also the pass as of
that git revision, loaded from git, same sheets):

- ``differ``: sheet pixels where the map and the UDP file disagree (one covers,
  the other not, or their landmarks are more than ``LANDMARK_TOL`` apart, a
  tenth of a 256² pixel step), % of the UDP file's character pixels;
- ``hidden``: of those, pixels where the UDP file shows a surface the map
  hides behind another one (a cut-out, a culled back face in front of it).

``--picture PATH``: per view the sheet picture and its differing pixels
(red: the map hides the UDP's surface there; blue: other) for each pass.

Usage: python benchmarks/surface_map_bench.py [--character FILE] [--views 6] [--size 256]
       [--baseline 23c4424] [--json benchmarks/results/surface_map.json] [--picture docs/surface_map_alpha.png]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHARACTER = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "Godette_vrm_v4.vrm"
LANDMARK_TOL = 1e-4  # canonical box units; a 256² pixel step is ~1e-3
log = logging.getLogger("surface_map_bench")


def surface_maps(cp) -> np.ndarray:
    """The pass's surface maps [M, S, S, 4] (landmark xyz, w = shown), decoded
    from its packed sheet texture (``correspondence_pass.pack_sheet``)."""
    packed = np.frombuffer(cp._surface.read(), np.uint32).reshape(-1, cp.side, cp.side, 4)
    lo, hi = (packed & 0xFFFF).astype(np.float32) / 65535.0, (packed >> 16).astype(np.float32) / 65535.0
    return np.stack([lo[..., 0], hi[..., 0], lo[..., 1], hi[..., 3]], -1)


def compare(maps: np.ndarray, udps: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """Counts over all views, and per view the masks (differ, hidden) [M, S, S]."""
    shown, covered = maps[..., 3] > 0.5, udps[..., 3] > 0.5
    far = np.linalg.norm(maps[..., :3] - udps[..., :3], axis=-1) > LANDMARK_TOL
    differ = (shown != covered) | (shown & covered & far)
    # the map's surface is nearer the view than the UDP file's: it hides that surface
    hidden = covered & (~shown | far)
    hidden &= differ
    n = int(covered.sum())
    return {"differ": float(differ.sum()) / n, "hidden": float(hidden.sum()) / n, "pixels": n}, differ, hidden


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--character", type=Path, default=CHARACTER)
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--baseline", default=None, help="also the pass as of this git revision")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--picture", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from exact_bench import _conrt
    from PIL import Image

    from conrt.characters.gltf_io import load_character
    from conrt.runtime.app.session import load_sheet_udps
    from conrt.shaders import create_context, release_context
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView
    from conrt.shaders.view_file import load_view_file

    result = {"character": str(args.character.relative_to(ROOT)) if args.character.is_relative_to(ROOT)
              else str(args.character), "views": args.views, "size": args.size, "baseline": args.baseline,
              "passes": {}}
    with tempfile.TemporaryDirectory(prefix="conrt-surface-map-") as tmp:
        passes = {}
        if args.baseline:
            from correspondence_bench import _old_module

            passes[f"pass as of {args.baseline}"] = _old_module(args.baseline, Path(tmp)).CorrespondencePass
        passes["this tree"] = CorrespondencePass
        sheet = Path(tmp) / "sheet"
        _conrt("sheet", args.character, "--views", args.views, "--udp", "--size", args.size, "-o", sheet)
        paths = sorted(sheet.glob("view_??.png"))
        rgba = np.stack([np.asarray(Image.open(p).convert("RGBA")) for p in paths])
        udps = np.stack(load_sheet_udps(paths)).astype(np.float32)
        files = [load_view_file(p.with_name(p.stem + "_view.npz")) for p in paths]
        character = load_character(args.character)
        straight = rgba.astype(np.float32) / 255.0
        reference = np.concatenate([straight[..., :3] * straight[..., 3:], straight[..., 3:]], -1).transpose(0, 3, 1, 2)
        views = [SheetView("exact", camera=c, pose=q, name=p.name) for (c, q), p in zip(files, paths)]
        ctx = create_context("auto")
        masks = {}
        try:
            for label, cls in passes.items():
                with cls(ctx, args.size, args.size) as cp:
                    cp.set_character(character)
                    cp.set_sheet(views, reference)
                    counts, differ, hidden = compare(surface_maps(cp), udps)
                result["passes"][label] = counts
                masks[label] = (differ, hidden)
                log.info("%s: %s", label, counts)
        finally:
            release_context(ctx)
    lines = ["| pass | sheet pixels where the surface map differs from the UDP file | of which it hides the UDP's surface |",
             "|---|---|---|"]
    lines += [f"| {label} | {100 * r['differ']:.2f} % | {100 * r['hidden']:.2f} % |" for label, r in result["passes"].items()]
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.picture:
        picture(args.picture, rgba, masks)
    return 0


def picture(path: Path, rgba: np.ndarray, masks: dict) -> None:
    """Per pass a row of the views (faded, cropped to the characters), its differing
    pixels marked (grown by a pixel so they show): red where the map hides the UDP
    file's surface, blue elsewhere; the pass's label above the row."""
    from PIL import Image, ImageDraw
    from scipy.ndimage import binary_dilation

    rows_any, cols_any = np.nonzero((rgba[..., 3] > 0).any(0))
    r0, r1 = max(rows_any.min() - 4, 0), rows_any.max() + 5
    c0, c1 = max(cols_any.min() - 4, 0), cols_any.max() + 5
    rows = []
    for label, (differ, hidden) in masks.items():
        tiles = []
        for k in range(len(rgba)):
            img = rgba[k].astype(np.float32)
            a = img[..., 3:] / 255.0
            tile = 0.35 * (img[..., :3] * a + 255.0 * (1 - a)) + 0.65 * 255.0  # on white, faded
            tile[binary_dilation(differ[k] & ~hidden[k])] = (40, 90, 255)
            tile[binary_dilation(hidden[k])] = (230, 20, 20)
            tiles.append(tile[r0:r1, c0:c1])
        head = np.full((14, len(tiles) * (c1 - c0), 3), 255.0)
        rows.append(np.concatenate([head, np.concatenate(tiles, 1)], 0))
    out = Image.fromarray(np.concatenate(rows, 0).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    y = 0
    for label, row in zip(masks, rows):
        draw.text((4, y + 1), label, fill=(0, 0, 0))
        y += row.shape[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path)
    log.info("picture: %s (rows: %s)", path, ", ".join(masks))


if __name__ == "__main__":
    sys.exit(main())
