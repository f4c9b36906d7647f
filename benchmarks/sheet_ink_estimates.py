"""What ``shaders.sheet_ink.estimate_ink`` finds on sheets whose ink is known (session 14).

- procedural characters (``--seeds``), a 4-view turnaround at 256² in each ink of ``--styles`` (ours and
  ``shaders.toon_pass.INK_STYLE_NAMES``), their views' UDPs as the surface maps;
- the sample sheet (``samples/sheet``, ``conrt sheet``'s toon) and Godette's (``conrt sheet --views 6
  --udp``, our toon pass on her MToon materials): our ink, which the estimate should call ours;
- ``conrt fit-sheet``'s synthetic drawings (``training.fit_drawings.make_turnaround``: outlines 0.5-2.5 px
  per 256 px of the render, resampled to another size and aspect), each view alone, padded square:
  the true width (px per 256 px of the padded side) beside the estimate.

Each with the estimate's CPU time. Usage: python benchmarks/sheet_ink_estimates.py
[--json benchmarks/results/sheet_ink_estimates_s14.json]

``--frame-sizes 128,256,512`` (session 15) measures instead what the runtime's correspondence pass
estimates on the sample sheet (256² drawings, exact correspondences) at each frame size: before, on
the pass's own copy (``pass_sheet``: at 512² frames the drawings up-sampled to 512²); now, on the
drawings at their own side (``frame_loop.ink_sheet``, one more surface-map draw where that is not the
pass's). ``CorrespondencePass.set_sheet`` both ways, interleaved (the order reversed every other
round), ``--reps`` rounds: its process CPU (the sheet-load cost; llvmpipe's threads included), the
the median. Beside it the sample character drawn by ``conrt sheet --size 512`` (our toon pass at 512²,
the ground truth of a 512² frame) and its UDPs: the line width our toon look draws there. Where the
frames are larger than the drawings a third way, ``copy`` (s15-sharp): the pass's sheet as before
s15-sharp, the drawings up-sampled to the frame's side and the ink estimated on them as drawn
(``pass_sheet`` now gives the drawings' own side there, so ``before`` and ``now`` are the same); per
way the mean luma of the views' silhouette shells after un-inking (``shell_luma``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GODETTE = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "Godette_vrm_v4.vrm"


def premultiplied(rgba_u8: np.ndarray) -> np.ndarray:
    f = rgba_u8.astype(np.float32) / 255
    return np.concatenate([f[..., :3] * f[..., 3:], f[..., 3:]], -1)


def timed(surface, reference) -> dict:
    from conrt.shaders.sheet_ink import estimate_ink

    t = time.process_time()
    ink = estimate_ink(surface, reference)
    return {"ink": str(ink), "law": ink.law, "colour": list(ink.colour), "width": ink.width, "inner": ink.inner,
            "ours": ink.is_toon, "cpu_s": round(time.process_time() - t, 3)}


def shell_luma(cp, shells: int = 4) -> list[float]:
    """Mean luma (straight) of the pass's sheet colours in the views' silhouette shells, 1 px per 256 of
    the side each, outermost first: after un-inking (``uninked``) the ink left near the target's edges
    (s15-sharp; the pass's packed texture, ``correspondence_pass.pack_sheet``)."""
    from scipy.ndimage import distance_transform_cdt  # lazy: only this measurement needs scipy

    from conrt.shaders.correspondence_pass import _LUMA

    s = cp.side
    packed = np.frombuffer(cp._surface.read(), np.uint32).reshape(-1, s, s, 4)
    lo, hi = (packed & 0xFFFF).astype(np.float32) / 65535, (packed >> 16).astype(np.float32) / 65535
    rgb, alpha = np.stack([lo[..., 2], hi[..., 2], lo[..., 3]], -1), hi[..., 1]
    luma = (rgb / np.maximum(alpha, 1e-6)[..., None]) @ _LUMA
    inside = (hi[..., 3] > 0) & (alpha > 0.5)
    depth = np.stack([distance_transform_cdt(v, metric="chessboard") for v in inside])
    per = max(1, s // 256)
    return [round(float(luma[(depth > i * per) & (depth <= (i + 1) * per)].mean()), 3) for i in range(shells)]


def folder_sheet(folder: Path) -> dict:
    from PIL import Image

    from conrt.runtime.app.session import load_sheet_udps

    paths = sorted(p for p in folder.glob("*.png") if "_udp" not in p.name)
    images = np.stack([np.asarray(Image.open(p).convert("RGBA")) for p in paths])
    return timed(np.stack(load_sheet_udps(folder)).astype(np.float32), premultiplied(images))


def frame_sizes(sizes: list[int], reps: int) -> dict:
    """The sample sheet's ink as the correspondence pass estimates it per frame size, before and now."""
    import statistics

    from conrt.runtime.app.frame_loop import framed_reference, ink_sheet, pass_sheet, sheet_views
    from conrt.runtime.app.session import load_sheet, resolve_character
    from conrt.runtime.defaults import SAMPLE_CHARACTER
    from conrt.shaders.context import create_context
    from conrt.shaders.correspondence_pass import CorrespondencePass
    from conrt.shaders.sheet_ink import SheetInk

    character = resolve_character(None)[0]
    sheet = load_sheet(None)
    chosen = sheet.correspondences(character, "exact")
    ctx = create_context("egl")
    out = {"sizes": {}}
    for size in sizes:
        side, reference = pass_sheet(sheet.images, size, framed_reference(sheet.images, size))
        views, drawn = sheet_views(chosen, sheet.images, side), ink_sheet(chosen, sheet.images, side)
        cp = CorrespondencePass(ctx, size, size)
        cp.set_character(character)
        ways = {"before": (views, reference, None), "now": (views, reference, drawn)}
        if side < size:  # the rule before s15-sharp: the pass's copy at the frame's side
            ways["copy"] = (sheet_views(chosen, sheet.images, size), framed_reference(sheet.images, size),
                            ink_sheet(chosen, sheet.images, size))
        cpu, inks, shells = {w: [] for w in ways}, {}, {}
        for r in range(reps):
            for way in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
                t = time.process_time()
                cp.set_sheet(*ways[way][:2], True, ways[way][2])
                cpu[way].append(time.process_time() - t)
                inks[way] = cp.sheet_ink
                shells[way] = shell_luma(cp)
        cp.release()
        row = {"pass_side": side, "ink_side": side if drawn is None else drawn[1].shape[-1]}
        for way, ink in inks.items():
            row[way] = {"ink": str(ink), "law": ink.law, "colour": list(ink.colour), "width": ink.width,
                        "inner": ink.inner, "ours": ink.is_toon, "radius_px": ink.radius(size),
                        "shell_luma_after_unink": shells[way],
                        "set_sheet_cpu_s": round(statistics.median(cpu[way]), 3),
                        "set_sheet_cpu_s_all": [round(x, 3) for x in cpu[way]]}
        out["sizes"][str(size)] = row
        print(size, {w: (row[w]["ink"].split(";")[0], row[w]["radius_px"], row[w]["set_sheet_cpu_s"]) for w in ways},
              flush=True)
    ctx.release()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "conrt", "sheet", str(SAMPLE_CHARACTER), "--views", "6", "--udp",
                        "--size", "512", "-o", tmp], check=True, capture_output=True)
        out["sample_character_drawn_at_512"] = folder_sheet(Path(tmp))
    ink = out["sample_character_drawn_at_512"]  # its line radius in a 512² frame, as the fusion draws it
    ink["radius_px_at_512"] = SheetInk(ink["law"], tuple(ink["colour"]), ink["width"], ink["inner"]).radius(512)
    print("the sample character drawn at 512²:", ink["ink"], flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="900000:900004")
    ap.add_argument("--styles", default="toon,brown-ink,trace-ink,thick-ink,silhouette-ink")
    ap.add_argument("--fit-seeds", type=int, default=4)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "sheet_ink_estimates.json")
    ap.add_argument("--frame-sizes", default=None,
                    help="e.g. 128,256,512: the sample sheet's estimate per frame size, before and now (alone)")
    ap.add_argument("--reps", type=int, default=5, help="set_sheet rounds per way (--frame-sizes)")
    args = ap.parse_args(argv)
    if args.frame_sizes:
        out = {"load_before": round(os.getloadavg()[0], 2),
               **frame_sizes([int(x) for x in args.frame_sizes.split(",")], args.reps),
               "load_after": round(os.getloadavg()[0], 2)}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
        return 0
    from conrt.training.evaluate import characters_from_seeds, parse_seeds

    out = {"load_before": round(os.getloadavg()[0], 2), "procedural": {}, "fit_drawings": []}
    for style in args.styles.split(","):
        chars = characters_from_seeds(parse_seeds(args.seeds), 1, 256, progress=False, style=style,
                                      sheet_poses="turnaround", sheet_views=4)
        out["procedural"][style] = {str(c.seed): timed(c.udp[list(c.sheet)].astype(np.float32),
                                                       premultiplied(c.rgba[list(c.sheet)])) for c in chars}
        print(style, [v["ink"] for v in out["procedural"][style].values()], flush=True)
    out["sample_sheet"] = folder_sheet(ROOT / "samples" / "sheet")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "conrt", "sheet", str(GODETTE), "--views", "6", "--udp", "-o", tmp],
                       check=True, capture_output=True)
        out["godette"] = folder_sheet(Path(tmp))
    print("sample sheet", out["sample_sheet"]["ink"], "\nGodette", out["godette"]["ink"], flush=True)

    from conrt.characters.gltf_io import load_character
    from conrt.runtime.defaults import SAMPLE_CHARACTER
    from conrt.shaders.context import create_context
    from conrt.training.fit_drawings import make_turnaround

    ctx = create_context("egl")
    character = load_character(SAMPLE_CHARACTER)
    for seed in range(args.fit_seeds):
        for drawing, udp, truth in make_turnaround(ctx, character, (0, 90, 180, 270), seed):
            side = max(drawing.shape[:2])
            pad = [((side - n) // 2, side - n - (side - n) // 2) for n in drawing.shape[:2]] + [(0, 0)]
            k = truth["scale"] * 0.75 * min(truth["size"]) / 384  # drawing px per render px (fit_drawings)
            got = timed(np.pad(udp, pad)[None], premultiplied(np.pad(drawing, pad))[None])
            got["true_width"] = round(truth["line_width"] * k * 256 / side, 3)
            got["seed"], got["size"] = seed, truth["size"]
            out["fit_drawings"].append(got)
            print(f"fit drawing {seed} {truth['size']}: true {got['true_width']:.2f} px per 256; {got['ink']}",
                  flush=True)
    out["load_after"] = round(os.getloadavg()[0], 2)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
