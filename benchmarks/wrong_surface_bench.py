"""Wrong-surface rate of the exact sheet correspondences (issue #15, the picture).

The correspondence pass is a black box here. For every target foreground
pixel and every sheet view it declares visible (cover > 0):

- the UDP the colour came from: the pass is run a second time on the same
  frame with the views' OWN UDP (the sheet's true UDP, what ``conrt sheet
  --udp`` writes as ``view_NN_udp.npz``) as the reference, premultiplied by
  the colour reference's alpha, so it is sampled with the colour's weights;
- WRONG when that UDP is farther from the target pixel's own UDP (the UDP
  pass's) than 2 pixel steps of the view (``_pixel_step``: the median UDP
  distance between adjacent pixels of the view, its pixel footprint): more
  than a bilinear sample of one surface can be off, less than the gap
  between a surface and the one over it;
- ``wrong colour`` (unlit sheets only, where a surface point has the same
  colour in every view): the sampled colour differs from the ground truth's
  by more than 0.25 in a channel.

``dropped``: pairs the view shows (a pixel of the view within one pixel step
of the point's UDP, KD-tree) that the pass declared hidden: what a stricter
test costs in coverage. ``pixels_wrong``: target pixels with at least one
wrong view. ``pass_ms_median`` (JSON only): the pass's run (render + read
back); benchmarks/correspondence_bench.py measures the cost properly.

Usage: python benchmarks/wrong_surface_bench.py [--seeds 900000:900004] [--size 256] [--views 4]
       [--styles toon,unlit] [--json benchmarks/results/wrong_surface.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("wrong_surface_bench")

STEPS = 2.0  # wrong beyond this many view pixel steps (module docstring)
COLOUR_WRONG = 0.25


def wrong_surface(target_udp: np.ndarray, cover: np.ndarray, sampled_udp: np.ndarray, view_udp: np.ndarray,
                  colour: np.ndarray | None = None, truth: np.ndarray | None = None) -> dict:
    """One frame: ``target_udp`` [H, W, 4], ``cover`` [M, H, W] what the pass
    declared, ``sampled_udp`` [M, 3, H, W] the views' UDP it sampled with the
    colour's weights, ``view_udp`` [M, S, S, 4] the views' own UDP;
    ``colour`` [M, 3, H, W] and ``truth`` [H, W, 3] straight RGB for the
    colour check. Returns counts (summed over frames by the caller)."""
    from scipy.spatial import cKDTree

    from conrt.shaders.correspondence_pass import _pixel_step

    fg = target_udp[..., 3] > 0.5
    u_t = target_udp[fg][:, :3].astype(np.float64)
    out = dict(pairs=0, visible=0, wrong=0, truly=0, dropped=0, colour_wrong=0,
               pixels=int(fg.sum()), pixels_wrong=0)
    any_wrong = np.zeros(len(u_t), bool)
    for k in range(len(view_udp)):
        udp = view_udp[k].astype(np.float32)
        step = _pixel_step(udp)
        seen = cover[k][fg] > 0
        err = np.linalg.norm(sampled_udp[k][:, fg].T.astype(np.float64) - u_t, axis=1)
        wrong = seen & (err > STEPS * step)
        shown = udp[..., 3] > 0.5
        dist, _ = cKDTree(udp[shown][:, :3].astype(np.float64)).query(u_t, distance_upper_bound=2 * step)
        truly = dist <= step
        out["pairs"] += len(u_t)
        out["visible"] += int(seen.sum())
        out["wrong"] += int(wrong.sum())
        out["truly"] += int(truly.sum())
        out["dropped"] += int((truly & ~seen).sum())
        if colour is not None:
            diff = np.abs(colour[k][:, fg].T - truth[fg]).max(1)
            out["colour_wrong"] += int((seen & (diff > COLOUR_WRONG)).sum())
        any_wrong |= wrong
    out["pixels_wrong"] = int(any_wrong.sum())
    return out


def summarize(c: dict) -> dict:
    return {"wrong": round(c["wrong"] / max(c["visible"], 1), 4),
            "colour_wrong": round(c["colour_wrong"] / max(c["visible"], 1), 4),
            "pixels_wrong": round(c["pixels_wrong"] / max(c["pixels"], 1), 4),
            "dropped": round(c["dropped"] / max(c["truly"], 1), 4),
            "visible": round(c["visible"] / max(c["pairs"], 1), 4),
            "pairs": c["pairs"]}


def _add(total: dict, c: dict) -> None:
    for key, v in c.items():
        total[key] = total.get(key, 0) + v


def _measure(cp, c, t, order, style) -> tuple[dict, float]:
    """One job through one pass: its counts and the run's seconds."""
    from conrt.shaders.correspondence_pass import SheetView

    straight = c.rgba[order].astype(np.float32) / 255.0
    alpha = straight[..., 3:]
    views = [SheetView("exact", camera=c.cameras[v], pose=c.poses[v], name=f"pose {v}") for v in order]
    cp.set_sheet(views, np.concatenate([straight[..., :3] * alpha, alpha], -1).transpose(0, 3, 1, 2))
    t0 = time.perf_counter()
    sampled, cover = cp.run(c.poses[t], c.cameras[t])
    seconds = time.perf_counter() - t0
    colour, cover = sampled[:, :3].copy(), cover[:, 0].copy()
    own = c.udp[order].astype(np.float32)
    cp.set_sheet(views, np.concatenate([own[..., :3] * alpha, alpha], -1).transpose(0, 3, 1, 2))
    sampled_udp, _ = cp.run(c.poses[t], c.cameras[t])
    truth = c.rgba[t][..., :3].astype(np.float32) / 255.0
    counts = wrong_surface(c.udp[t].astype(np.float32), cover, sampled_udp[:, :3], own,
                           *((colour, truth) if style == "unlit" else ()))
    return counts, seconds


def procedural(style: str, args, passes: dict) -> dict:
    """The eval's jobs (``training.evaluate``: unseen seeds, 12 poses, ``--targets`` per character),
    every job through each of ``passes`` ({label: CorrespondencePass class}), interleaved."""
    from conrt.characters.procedural import generate
    from conrt.shaders import create_context, release_context
    from conrt.training.evaluate import characters_from_seeds, eval_jobs, parse_seeds

    chars = characters_from_seeds(parse_seeds(args.seeds), 12, args.size, progress=False, style=style)
    jobs = eval_jobs(chars, args.targets)
    ctx = create_context("auto")
    totals = {label: {} for label in passes}
    seconds = {label: [] for label in passes}
    try:
        made = {label: cls(ctx, args.size, args.size) for label, cls in passes.items()}
        current = None
        for ci, t, others in jobs:
            c = chars[ci]
            if current != ci:
                character = generate(int(c.seed))
                for cp in made.values():
                    cp.set_character(character)
                current = ci
            order = [int(v) for v in others[:args.views]]
            for label, cp in made.items():
                counts, sec = _measure(cp, c, t, order, style)
                _add(totals[label], counts)
                seconds[label].append(sec)
        for cp in made.values():
            cp.release()
    finally:
        release_context(ctx)
    rows = table_rows(totals, len(jobs))
    for label, row in rows.items():
        row["pass_ms_median"] = round(1000 * float(np.median(seconds[label])), 2)
    return rows


def real_character(look: str, args, passes: dict) -> dict:
    """Godette (benchmarks/real_character_bench.py's character): ``conrt sheet --views 6 --udp --size 256
    --style LOOK``; each view in turn is the target (its camera, pose, UDP and picture are known), the
    other 5 the sheet (leave one out), through each of ``passes``."""
    from types import SimpleNamespace

    from exact_bench import _conrt
    from PIL import Image

    from conrt.characters.gltf_io import load_character
    from conrt.runtime.app.session import load_sheet_udps
    from conrt.shaders import create_context, release_context
    from conrt.shaders.view_file import load_view_file
    from real_character_bench import CHARACTER

    with tempfile.TemporaryDirectory(prefix="conrt-wrong-surface-") as tmp:
        sheet = Path(tmp) / f"sheet_{look}"
        _conrt("sheet", CHARACTER, "--views", 6, "--udp", "--size", 256, "--style", look, "-o", sheet)
        paths = sorted(sheet.glob("view_??.png"))
        files = [load_view_file(p.with_name(p.stem + "_view.npz")) for p in paths]
        frames = SimpleNamespace(rgba=np.stack([np.asarray(Image.open(p).convert("RGBA")) for p in paths]),
                                 udp=np.stack(load_sheet_udps(paths)), cameras=[c for c, _ in files],
                                 poses=[q for _, q in files])
    character = load_character(CHARACTER)
    side = frames.rgba.shape[1]
    ctx = create_context("auto")
    totals = {label: {} for label in passes}
    try:
        for label, cls in passes.items():
            with cls(ctx, side, side) as cp:
                cp.set_character(character)
                for t in range(len(paths)):
                    counts, _ = _measure(cp, frames, t, [k for k in range(len(paths)) if k != t], look)
                    _add(totals[label], counts)
    finally:
        release_context(ctx)
    return table_rows(totals, len(paths))


def table_rows(totals: dict, frames: int) -> dict:
    """Per pass label its summarized counts and the frames they came from."""
    return {label: {**summarize(counts), "frames": frames} for label, counts in totals.items()}


def doc_table(result: dict) -> str:
    lines = ["| sheets | pass | wrong surface | pixels with a wrong view | wrong colour (unlit) | dropped | "
             "visible pairs |", "|---|---|---|---|---|---|---|"]
    for look, rows in result["looks"].items():
        for label, r in rows.items():
            colour = f"{100 * r['colour_wrong']:.1f} %" if look.endswith("unlit") else "-"
            lines.append(f"| {look} | {label} | {100 * r['wrong']:.1f} % | {100 * r['pixels_wrong']:.1f} % | {colour} "
                         f"| {100 * r['dropped']:.1f} % | {100 * r['visible']:.1f} % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="900000:900004")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--styles", default="toon,unlit")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--baseline", default=None, help="also the pass as of this git revision (e.g. 87610d9)")
    ap.add_argument("--real", action="store_true",
                    help="also Godette's 6-view sheets in each look, each view the target of the other 5")
    ap.add_argument("--docs", type=Path, default=None, help="write the table between this doc's wrong-surface markers")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("conrt").setLevel(logging.WARNING)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from conrt.shaders.correspondence_pass import CorrespondencePass

    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "seeds": args.seeds,
              "size": args.size, "views": args.views, "targets": args.targets, "baseline": args.baseline,
              "looks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        passes = {}
        if args.baseline:
            from correspondence_bench import _old_module

            passes[f"pass as of {args.baseline}"] = _old_module(args.baseline, Path(tmp)).CorrespondencePass
        passes["same-surface test"] = CorrespondencePass
        for style in args.styles.split(","):
            result["looks"][style] = procedural(style, args, passes)
            log.info("%s: %s", style, result["looks"][style])
        if args.real:
            for style in args.styles.split(","):
                result["looks"][f"Godette {style}"] = real_character(style, args, passes)
                log.info("Godette %s: %s", style, result["looks"][f"Godette {style}"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    text = doc_table(result)
    print(text)
    if args.docs:
        from doc_table import write_marked_table

        write_marked_table(args.docs, "wrong-surface", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
