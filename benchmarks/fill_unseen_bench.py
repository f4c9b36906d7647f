"""What no view sees: the nearest seen colour (``lookup_net.fill_unseen``) against the
refinement's fill (before session 8) and the plain exact lookup, on the same frames.

Two sets of frames, every row scoring the same samples:

- ``--demo``: the sample demo as ``conrt demo`` shades it (sample character and sheet,
  walk clip, exact correspondences, the default weights), frames ``--keep`` of
  ``--frames``, at each ``--sizes``; the ground truth is the toon pass at the
  target pose (the sample sheet is drawn by it). L1 on the target and on the
  pixels no view sees; ``flat`` = the target's silhouette × the frame's mean colour.
- ``--styles``: unseen procedural characters ``--seeds`` (12 poses, 4 targets, n =
  ``--views``) as ``finetune_eval.py`` scores them (``training.evaluate``; L1 ×
  flat, SSIM, face SSIM), the sheet's judged look.
- ``--godette``: Low-Poly Godette (real_character_bench.py's character, sheet and
  frames: ``conrt sheet --views 6 --udp --size 256``, walk and wave at yaw 30°,
  ``--godette-frames`` per clip every 4th physics frame, exact correspondences) at
  each ``--sizes``, the toon pass as ground truth; its metrics (L1, SSIM, face SSIM,
  sharpness).

Rows: ``flat``, ``plain`` (no network), ``before`` (``FusionNet.nearest_fill``
off: the refinement fills what no view sees), ``baseline`` (with ``--baseline REV``:
the fill as of that git revision, its ``pull_push`` .. ``fill_unseen`` source, in this
checkout's network on the same samples), ``now`` (as shipped).

Usage: python benchmarks/fill_unseen_bench.py [--demo] [--godette] [--sizes 256 128] [--styles toon,unlit]
       [--seeds 900000:900002] [--views 1,4,8] [--baseline 9cabc11] [--json benchmarks/results/fill_unseen.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _fusion(model, sampled, cover, udp, ink, fill: bool, gbuf=None):
    import torch

    model.fusion.nearest_fill = fill
    try:
        with torch.inference_mode():
            return model.fusion(sampled, cover, model.encode_pose(udp)[0], keep_seen=True, ink=ink,
                                gbuf=gbuf) * udp[:, 3:4]
    finally:
        model.fusion.nearest_fill = True


def baseline_fill(rev: str):
    """``lookup_net.fill_unseen`` as of git revision ``rev``: its source from ``def pull_push``
    to the next ``def _conv`` (the fill, its pyramid and their constants) run on their own,
    taking this checkout's arguments (before session 10 it took the target's alpha, not the
    ``encode_pose``'d UDP)."""
    import inspect
    import subprocess

    import torch
    import torch.nn.functional as F

    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:runtime/nn/lookup_net.py"], capture_output=True,
                         text=True, check=True).stdout
    space = {"torch": torch, "F": F, "__name__": f"fill_unseen_{rev}"}
    exec(compile("from __future__ import annotations\n" + src[src.index("def pull_push"):src.index("def _conv(")],
                 f"{rev}:runtime/nn/lookup_net.py", "exec"), space)
    fill = space["fill_unseen"]
    if "alpha" in inspect.signature(fill).parameters:
        return lambda rgba, fused, kept, edges, pose: fill(rgba, fused, kept, edges, pose[:, 3:4])
    return fill


class _Fill:
    """``with _Fill(fill):`` the network's fill of what no view sees is ``fill`` (None: as shipped)."""

    def __init__(self, fill):
        self.fill = fill

    def __enter__(self):
        from conrt.runtime.nn import lookup_net

        self.kept = lookup_net.fill_unseen
        if self.fill is not None:
            lookup_net.fill_unseen = self.fill

    def __exit__(self, *exc):
        from conrt.runtime.nn import lookup_net

        lookup_net.fill_unseen = self.kept


def demo_frames(size: int, frames: int, keep: list[int]):
    """The sample demo's frames ``keep``: (model, ink, [(sampled, cover, udp, toon ground truth premultiplied,
    the target's G-buffer)])."""
    import torch

    from conrt.runtime.app.frame_loop import open_runtime
    from conrt.runtime.nn.sheet import prepare_udp

    out = []
    with open_runtime(size=size, clip="walk", backend="torch", toon=True) as rt:
        if rt.raster.correspondence is None:
            raise RuntimeError("the sample sheet should give exact correspondences")
        model, look = rt.shader.backend.source_model, rt.shader.backend.cache.look
        for index in range(frames):
            pose = rt.physics.step()
            if index not in keep:
                continue
            rt.raster.render(pose, rt.raster.camera(pose))
            sampled, cover, gbuf = rt.raster.read_views()
            udp, _ = prepare_udp(rt.raster.read(), size, False)
            toon = rt.raster.read_toon().astype(np.float32) / 255
            gt = np.concatenate([toon[..., :3] * toon[..., 3:], toon[..., 3:]], -1).transpose(2, 0, 1)[None]
            out.append(tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in (sampled[None], cover[None], udp, gt,
                                                                                 gbuf[None])))
    return model, torch.tensor([float(look.inked)]), str(look), out


def demo_rows(size: int, frames: int, keep: list[int], baseline=None) -> dict:
    import torch

    from conrt.runtime.nn.lookup_net import plain_lookup

    model, ink, look, shots = demo_frames(size, frames, keep)
    sums: dict[str, list[float]] = {}
    count = unseen_count = 0
    for sampled, cover, udp, gt, gbuf in shots:
        alpha = udp[:, 3:4]
        target = (alpha > 0.5) | (gt[:, 3:] > 0.5)
        unseen = (cover.amax(1) <= 0.01) & (alpha > 0.5)
        mean = gt[:, :3].sum((2, 3), keepdim=True) / gt[:, 3:].sum((2, 3), keepdim=True)
        rows = {"flat": torch.cat([mean * alpha, alpha], 1), "plain": plain_lookup(sampled, cover, alpha)[0],
                "before": _fusion(model, sampled, cover, udp, ink, False, gbuf)}
        if baseline is not None:
            with _Fill(baseline):
                rows["baseline"] = _fusion(model, sampled, cover, udp, ink, True, gbuf)
        rows["now"] = _fusion(model, sampled, cover, udp, ink, True, gbuf)
        for name, pred in rows.items():
            err = (pred - gt).abs().mean(1, keepdim=True)
            s = sums.setdefault(name, [0.0, 0.0])
            s[0] += float(err[target].sum())
            s[1] += float(err[unseen].sum())
        count += int(target.sum())
        unseen_count += int(unseen.sum())
    flat = sums["flat"][0] / count
    return {"look": look, "frames": keep, "target_pixels": count, "unseen_pixels": unseen_count,
            "rows": {name: {"l1": s[0] / count, "l1_vs_flat": s[0] / count / flat,
                            "l1_unseen": s[1] / max(unseen_count, 1)} for name, s in sums.items()}}


def procedural_rows(style: str, args) -> dict:
    from conrt.runtime.nn.checkpoint import find_weights, load_weights
    from conrt.training.evaluate import (FlatColourBaseline, PlainLookup, ViewsShader, characters_from_seeds,
                                         eval_jobs, evaluate, parse_seeds, procedural_head_boxes, view_samples)

    views = [int(v) for v in args.views.split(",")]
    chars = characters_from_seeds(parse_seeds(args.seeds), 12, args.size, progress=False, style=style)
    common = dict(views=views, targets=4, progress=False, size=args.size, head_boxes=procedural_head_boxes(chars))
    samples = view_samples(chars, eval_jobs(chars, 4), max(views), "exact", args.size, progress=False)
    model = load_weights(find_weights("conr-default"))
    rows = {"flat": evaluate(FlatColourBaseline(args.size), chars, **common)[0],
            "plain": evaluate(PlainLookup(args.size), chars, samples=samples, **common)[0]}
    runs = [("before", False, None)] + ([("baseline", True, args.baseline_fill)] if args.baseline else [])
    for name, fill, how in runs + [("now", True, None)]:
        model.fusion.nearest_fill = fill
        try:
            with _Fill(how):
                shader = ViewsShader(model, True, judge_look=True)
                rows[name] = evaluate(shader, chars, samples=samples, **common)[0]
        finally:
            model.fusion.nearest_fill = True
        rows[name]["look"] = shader.look_summary()
    for row in rows.values():
        for n, r in row.items():
            if n.startswith("n="):
                r["l1_vs_flat"] = r["l1"] / rows["flat"][n]["l1"]
    return rows


def godette_rows(size: int, frames: int, baseline=None) -> dict:
    """Godette's toon sheet and frames as real_character_bench.py draws them (exact
    correspondences) -> {row: its metrics}, the rows recomputed from each frame's samples."""
    import tempfile

    import torch
    from real_character_bench import CHARACTER, _collect, _fusion as _godette_fusion, score  # noqa: E402

    from conrt.characters.gltf_io import load_character
    from conrt.runtime.app.session import load_model_source
    from exact_bench import _conrt, _flat, _head_box, _plain  # noqa: E402

    model, _ = load_model_source(None)
    character = load_character(CHARACTER)
    with tempfile.TemporaryDirectory(prefix="conrt-fill-godette-") as tmp:
        sheet = Path(tmp) / "sheet"
        _conrt("sheet", CHARACTER, "--views", 6, "--udp", "--size", 256, "--style", "toon", "-o", sheet)
        run = _collect(model, CHARACTER, sheet, size, "exact", frames, 4, "toon")
    preds: dict[str, list] = {}
    for fr in run:
        ink = torch.tensor([float(fr["look"].inked)])
        flat = _flat(fr["shader"], fr["udp"])
        preds.setdefault("flat", []).append(flat)
        preds.setdefault("plain", []).append(_plain(fr["views"], flat, fr["udp"]))
        preds.setdefault("before", []).append(_godette_fusion(model, fr, ink, nearest_fill=False))
        if baseline is not None:
            with _Fill(baseline):
                preds.setdefault("baseline", []).append(_godette_fusion(model, fr, ink))
        preds.setdefault("now", []).append(_godette_fusion(model, fr, ink))
    gts = [fr["gt"] for fr in run]
    boxes = [_head_box(character, fr["pose"], fr["camera"], size) for fr in run]
    table = {name: score(ps, gts, boxes) for name, ps in preds.items()}
    for row in table.values():
        row["l1_vs_flat"] = row["l1"] / table["flat"]["l1"]
    return {"look": str(run[0]["look"]), "frames": len(run), "rows": table}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", action="store_true", help="score the sample demo's frames")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--keep", default="10,40,75,110,149")
    ap.add_argument("--styles", default="", help="procedural looks, e.g. toon,unlit (empty: none)")
    ap.add_argument("--seeds", default="900000:900002")
    ap.add_argument("--size", type=int, default=256, help="procedural frames' side")
    ap.add_argument("--views", default="1,4,8")
    ap.add_argument("--godette", action="store_true", help="score Godette's toon frames (real_character_bench.py)")
    ap.add_argument("--godette-frames", type=int, default=15, help="Godette's shaded frames per clip (walk, wave)")
    ap.add_argument("--baseline", default=None, help="git revision: also its fill (row 'baseline') on the same samples")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    args.baseline_fill = baseline_fill(args.baseline) if args.baseline else None
    import torch

    torch.set_num_threads(1)
    result = {}
    t = time.time()
    if args.demo:
        keep = [int(k) for k in args.keep.split(",")]
        result["demo"] = {str(size): demo_rows(size, args.frames, keep, args.baseline_fill) for size in args.sizes}
        for size, r in result["demo"].items():
            print(f"sample demo {size}², frames {args.keep}, {r['look']}; {r['unseen_pixels']} of "
                  f"{r['target_pixels']} target pixels seen by no view")
            for name, row in r["rows"].items():
                print(f"  {name:8s} L1 {row['l1']:.4f} ({row['l1_vs_flat']:.3f}x flat), "
                      f"on the unseen pixels {row['l1_unseen']:.4f}")
    if args.godette:
        result["godette"] = {str(size): godette_rows(size, args.godette_frames, args.baseline_fill)
                             for size in args.sizes}
        for size, r in result["godette"].items():
            print(f"Godette {size}², toon sheet, {r['frames']} frames, {r['look']}")
            for name, row in r["rows"].items():
                print(f"  {name:8s} L1 {row['l1']:.4f} ({row['l1_vs_flat']:.3f}x flat), SSIM {row['ssim']:.4f}, "
                      f"face SSIM {row['face_ssim']:.4f}, sharpness {row['sharpness']:.3f}")
    for style in filter(None, args.styles.split(",")):
        rows = result.setdefault("procedural", {})[style] = procedural_rows(style, args)
        print(f"{style}, seeds {args.seeds}, {args.size}²; L1 x flat (SSIM, face SSIM)")
        for name, row in rows.items():
            print(f"  {name:8s}", "  ".join(f"{n}: {r['l1_vs_flat']:.4f} ({r['ssim']:.4f}, "
                                          f"{r.get('face_ssim') or float('nan'):.3f})"
                                          for n, r in row.items() if n.startswith("n=")), row.get("look", ""))
    print(f"{time.time() - t:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"seeds": args.seeds, "size": args.size, "baseline": args.baseline, **result},
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
