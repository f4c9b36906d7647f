"""The picture on a real third-party character: exact correspondences vs the old table default.

The character is Low-Poly Godette (``tests/fixtures/assets/gltf/Godette_vrm_v4.vrm``,
CC-BY 3.0, see the CREDITS.md beside it): a textured VRM 0.x anime character
with MToon materials, not one of our procedural ones. ``conrt sheet --views 6
--udp --size 256`` draws its sheet (each view's camera and pose beside it);
frames come from ``open_runtime`` (torch backend, kinematic clips ``walk`` and
``wave``, camera yaw 30°); the ground truth is the same toon pass at the
target pose (``toon=True``, what ``conrt sheet`` draws with). Every row scores
the same frames (checked: identical UDPs).

Rows (metrics of ``training.losses.metrics`` on premultiplied RGBA; face SSIM
inside the head's box on screen, as ``conrt eval``):

- ``flat``: the UDP silhouette × the sheet's mean colour (no correspondences);
- ``plain exact``: no network, each pixel takes its best visible view's colour;
- ``table + network``: the old default's correspondences (``correspondence="table"``, 32³ table), same weights;
- ``exact + network, before the look``: the same exact samples through the
  rule before the sheet's look was judged (seen colour kept, the target's
  edges refined, on every sheet), recomputed from each frame's samples;
- ``exact + network, the refinement's fill``: the same samples with what no view
  sees (off the target's edges) left to the refinement, as before session 8
  (``FusionNet.nearest_fill`` off), recomputed from each frame's samples;
- ``exact + network``: the new default (``correspondence="auto"`` picks exact
  when the sheet has ``view_NN_view.npz``; the sheet's judged look, printed
  in the table, decides where the refinement draws).

Usage: python benchmarks/real_character_bench.py [--character FILE] [--weights FILE] [--sizes 256 128]
       [--frames 15] [--stride 4] [--json benchmarks/results/real_character.json]
       [--docs docs/real_character.md] [--picture docs/real_character.png]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

import numpy as np  # noqa: E402
from doc_table import publish  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from exact_bench import _conrt, _flat, _head_box, _plain, _premul, grid_picture  # noqa: E402  (same rules as the procedural bench)

ROOT = Path(__file__).resolve().parents[1]
CHARACTER = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "Godette_vrm_v4.vrm"
log = logging.getLogger("real_character_bench")

MODES = ("table", "exact")
CLIPS = ("walk", "wave")
YAW = 30.0
ROWS = {"flat": "flat fill", "plain exact": "plain exact lookup (no network)",
        "table": "table 32³ + network (the old default's correspondences)",
        "exact before look": "exact + network, before the look (seen colour kept, edges refined)",
        "exact before fill": "exact + network, the refinement's fill of what no view sees (before session 8)",
        "exact": "**exact + network (the default, look: {look})**"}
BASELINE_ROWS = {"plain exact baseline": "plain exact lookup, pass as of {rev}",
                 "exact baseline": "exact + network, pass as of {rev}"}


LOOKS = ("toon", "unlit")  # the sheet's and the ground truth's look (``conrt sheet --style``)


def _unlit_pass(ctx, size: int, character):
    """Ground truth for unlit sheets: the texture as authored, no lighting, no ink."""
    from conrt.shaders import ToonPass
    from conrt.shaders.toon_pass import named_style

    unlit = ToonPass(ctx, size, size, named_style("unlit", size))
    try:
        unlit.set_character(character)
    except BaseException:
        unlit.release()
        raise
    return unlit


def _params(method) -> set:
    import inspect  # lazy: --baseline only

    return set(inspect.signature(inspect.unwrap(method)).parameters)


def _collect(model, char_path, sheet, size, mode, frames, stride, look, baseline_pass=None):
    """Shade every ``stride``-th physics frame of each clip (``frames`` of them) in one
    correspondence mode; each record keeps the frame's pose and samples. ``baseline_pass``:
    the runtime's CorrespondencePass replaced by this class (--baseline)."""
    import conrt.runtime.app.frame_loop as frame_loop
    from conrt.runtime.app.frame_loop import open_runtime

    if baseline_pass is not None:
        kept, frame_loop.CorrespondencePass = frame_loop.CorrespondencePass, baseline_pass
        try:
            return _collect(model, char_path, sheet, size, mode, frames, stride, look)
        finally:
            frame_loop.CorrespondencePass = kept

    out = []
    for clip in CLIPS:
        with open_runtime(str(char_path), str(sheet), model=model, backend="torch", size=size, clip=clip,
                          passes=(look,), yaw=YAW, correspondence=mode) as rt:
            for _ in range(frames):
                for _ in range(stride):  # more of the clip for the same shading time
                    rt.produce()
                job = rt.last_produced
                f = None
                while f is None or f.index != job.index:
                    f = rt.next(timeout=None)
                out.append({"udp": f.udp, "rgba": f.rgba, "gt": _premul(f.buffers[look]), "camera": f.camera,
                            "pose": job.pose, "views": job.views, "shader": rt.shader,
                            "look": rt.shader.cache.look})
    return out


def _fusion(model, fr, ink, nearest_fill: bool = True, shaded=None) -> np.ndarray:
    """The default's fusion on a frame's exact samples with ``ink`` and ``shaded`` (None: the rule
    before the look), clipped to the UDP's occupancy as the runtime's ShadeStage clips it.
    ``nearest_fill`` False: what no view sees left to the refinement (``FusionNet.nearest_fill``,
    before session 8)."""
    import torch

    sampled, cover, gbuf = fr["views"]  # the target's G-buffer: where an inked look draws its lines
    udp = torch.from_numpy(fr["udp"].transpose(2, 0, 1)[None].copy())
    model.fusion.nearest_fill = nearest_fill
    try:
        with torch.inference_mode():
            # the lines in the sheet's own ink, as the runtime drew them (ours on a sheet our toon pass drew)
            out = model.render_views(udp, torch.from_numpy(sampled[None]), torch.from_numpy(cover[None]), ink,
                                     shaded, None if gbuf is None else torch.from_numpy(gbuf[None]),
                                     sheet_ink=fr["shader"].cache.sheet_ink())
    finally:
        model.fusion.nearest_fill = True
    return out[0].numpy().transpose(1, 2, 0) * fr["udp"][..., 3:4]


def score(preds: list[np.ndarray], gts: list[np.ndarray], boxes) -> dict:
    import torch

    from conrt.training.losses import metrics

    def t(xs):
        return torch.from_numpy(np.stack(xs).transpose(0, 3, 1, 2).copy())

    hb = torch.tensor([[y0, y1, x0, x1] for x0, y0, x1, y1 in boxes], dtype=torch.float32)
    m = metrics(t(preds), t(gts), hb)
    return {k: float(np.nanmean(v.numpy())) for k, v in m.items()}


def quality(args, model, work: Path, look: str) -> tuple[dict, dict]:
    import torch
    from PIL import Image

    from conrt.characters.gltf_io import load_character
    from conrt.shaders.view_file import load_view_file

    sheet = work / f"sheet_{look}"
    _conrt("sheet", args.character, "--views", args.views, "--udp", "--size", 256, "--style", look, "-o", sheet)
    character = load_character(args.character)
    rows, pictures = {}, {}
    for size in args.sizes:
        runs = {}
        for mode in MODES:
            t = time.perf_counter()
            runs[mode] = _collect(model, args.character, sheet, size, mode, args.frames, args.stride, look)
            log.info("%s, %d px, %s: %d frames in %.1f s", look, size, mode, len(runs[mode]), time.perf_counter() - t)
        if args.baseline_pass is not None:
            runs["exact baseline"] = _collect(model, args.character, sheet, size, "exact", args.frames, args.stride,
                                              look, args.baseline_pass)
        ref = runs["table"]
        for mode, run in runs.items():
            for a, b in zip(ref, run):
                if not np.array_equal(a["udp"], b["udp"]):
                    raise RuntimeError(f"{size}: {mode} rendered other frames than the table")
        preds = {name: [] for name in ROWS}
        if "exact baseline" in runs:
            preds.update({name: [] for name in BASELINE_ROWS})
        for i, fr in enumerate(ref):
            flat = _flat(fr["shader"], fr["udp"])
            preds["flat"].append(flat)
            preds["plain exact"].append(_plain(runs["exact"][i]["views"], flat, fr["udp"]))
            for mode in MODES:
                preds[mode].append(runs[mode][i]["rgba"])
            if "exact baseline" in runs:
                preds["plain exact baseline"].append(_plain(runs["exact baseline"][i]["views"], flat, fr["udp"]))
                preds["exact baseline"].append(runs["exact baseline"][i]["rgba"])
            ex = runs["exact"][i]
            preds["exact before look"].append(_fusion(model, ex, None))
            # the sheet's judged look, as the runtime passes it (an unlit-textured sheet may judge shaded)
            ink, shaded = (torch.tensor([float(v)]) for v in (ex["look"].inked, ex["look"].shaded))
            preds["exact before fill"].append(_fusion(model, ex, ink, nearest_fill=False, shaded=shaded))
            again = _fusion(model, ex, ink, shaded=shaded)  # the runtime's frame, recomputed here
            if np.abs(again - ex["rgba"]).max() > 1e-4:  # same torch maths; float rounding only
                raise RuntimeError(f"{look}, {size}: recomputed exact frame {i} differs from the runtime's")
        gts = [fr["gt"] for fr in ref]
        boxes = [_head_box(character, fr["pose"], fr["camera"], size) for fr in ref]
        table = {name: score(ps, gts, boxes) for name, ps in preds.items()}
        for name in table:
            table[name]["l1_vs_flat"] = table[name]["l1"] / table["flat"]["l1"]
        table["exact"]["look"] = str(runs["exact"][0]["look"])
        rows[str(size)] = table
        picks = [len(ref) // 4, 3 * len(ref) // 4]  # one walk frame, one wave frame
        cam0, pose0 = load_view_file(sheet / "view_00_view.npz")
        pictures[str(size)] = [{"sheet": Image.open(sheet / "view_00.png").convert("RGBA"), "box": boxes[k],
                                "sheet_box": _head_box(character, pose0, cam0, cam0.width),
                                "udp": np.concatenate([ref[k]["udp"][..., :3] * ref[k]["udp"][..., 3:],
                                                       ref[k]["udp"][..., 3:]], -1),
                                "gt": gts[k], **{m: preds[m][k] for m in ("table", "exact", "plain exact")}}
                               for k in picks]
    return rows, pictures


def doc_table(result: dict) -> str:
    lines = ["| sheet look | size | shading | L1 | × flat | SSIM | face SSIM | sharpness |",
             "|---|---|---|---|---|---|---|---|"]
    for look in result["looks"]:
        for size in result["sizes"]:
            for name, label in {**BASELINE_ROWS, **ROWS}.items():
                r = result["rows"][look][str(size)].get(name)
                if r is None:
                    continue
                label = label.format(look=r.get("look", "?").split(" (")[0], rev=result.get("baseline"))
                lines.append(f"| {look} | {size}² | {label} | {r['l1']:.4f} | {r['l1_vs_flat']:.2f} | {r['ssim']:.3f} | "
                             f"{r['face_ssim']:.3f} | {r['sharpness']:.2f} |")
    return "\n".join(lines)


def picture(path: Path, pictures: dict, size: str) -> None:
    """Per frame: sheet view | UDP | table | default (exact) | plain exact | ground truth, then face crops (3×)."""
    grid_picture(path, pictures[size], int(size), ("udp", "table", "exact", "plain exact", "gt"),
                 background=(235, 235, 235, 255))


def _commit() -> str:
    """HEAD's short hash, "+dirty" when tracked files differ from it (numbers tied to the code measured)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"]).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--character", type=Path, default=CHARACTER)
    ap.add_argument("--weights", default=None, help="weights file (default: the shipped default weights)")
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--looks", nargs="+", default=list(LOOKS), choices=LOOKS,
                    help="sheet and ground-truth look: toon (lit, inked) and/or unlit (texture as authored)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    ap.add_argument("--frames", type=int, default=15, help="shaded frames per clip (clips: walk, wave)")
    ap.add_argument("--stride", type=int, default=4,
                    help="physics frames (30 fps) per shaded frame: 15 x 4 = 2 s of each clip")
    ap.add_argument("--json", type=Path, default=None,
                    help="results file (default benchmarks/results/real_character[_NAME].json, NAME for another character)")
    ap.add_argument("--docs", type=Path, default=None,
                    help="write the table into this doc's real-character-bench[-NAME] markers (one section per character)")
    ap.add_argument("--picture", type=Path, default=None, help="picture grid PNG (first size)")
    ap.add_argument("--baseline", default=None,
                    help="git revision: also the exact rows through the correspondence pass as of it (same frames)")
    args = ap.parse_args(argv)
    args.baseline_pass = None
    commit = _commit()  # before the run writes its json/doc/picture
    # Godette keeps the plain names; another character gets its own results file and doc section
    suffix = "" if args.character.resolve() == CHARACTER.resolve() else args.character.stem.lower()
    args.json = args.json or ROOT / "benchmarks" / "results" / f"real_character{'_' + suffix if suffix else ''}.json"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("conrt", "conrt.physics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    from conrt.runtime.app.session import load_model_source

    torch.set_num_threads(2)
    from conrt.runtime.app.passes import pass_names, register_pass

    if "unlit" not in pass_names():
        register_pass("unlit", _unlit_pass)
    model, described = load_model_source(args.weights)
    rows, pictures = {}, {}
    with tempfile.TemporaryDirectory(prefix="conrt-real-character-") as tmp:
        if args.baseline:
            from correspondence_bench import _old_module  # noqa: E402  (benchmarks/ is on sys.path)

            old = _old_module(args.baseline, Path(tmp)).CorrespondencePass

            class Baseline(old):
                def set_sheet(self, *a, lit=False, **k):  # a revision before the light agreement (session 15)
                    return super().set_sheet(*a, **k, **({"lit": lit} if "lit" in _params(old.set_sheet) else {}))

            args.baseline_pass = Baseline
        for look in args.looks:
            rows[look], pictures[look] = quality(args, model, Path(tmp), look)
    result = {"commit": commit, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "character": str(args.character.relative_to(ROOT)) if args.character.is_relative_to(ROOT)
              else str(args.character), "weights": described, "backend": "torch (2 threads)",
              "views": args.views, "clips": list(CLIPS), "frames_per_clip": args.frames, "stride": args.stride,
              "seconds_per_clip": args.frames * args.stride / 30.0, "yaw": YAW,
              "looks": args.looks, "sizes": args.sizes, "baseline": args.baseline, "rows": rows}
    publish(result, args.json, doc_table(result), args.docs, "real-character-bench" + (f"-{suffix}" if suffix else ""))
    if args.picture:
        for look in args.looks:  # the toon look at --picture, the others beside it (NAME_unlit.png)
            path = args.picture if look == "toon" else args.picture.with_name(f"{args.picture.stem}_{look}.png")
            picture(path, pictures[look], str(args.sizes[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
