"""The table path (sheets with neither view nor UDP files) with several fusion nets, same frames.

A sheet without ``view_NN_view.npz`` / ``view_NN_udp.npz`` files is shaded through
the 32³ table of the sheet encoder's own UDP prediction (``correspondence="table"``,
``LookupNet.render``). Every candidate (``--candidates``: weights files, or git
revisions of ``runtime/weights/conr-default.safetensors``) shades that path with its
table-mode fusion net (``LookupNet.fusion_for("table")``: its ``table_fusion`` when
the file has one, else its only ``fusion``); all candidates must hold the same sheet
encoder (checked), so every row samples the same tables:

- Godette (docs/real_character.md): ``conrt sheet --views 6 --size 256 --style LOOK``
  without its files' use (``correspondence="table"``), frames from ``open_runtime``
  (torch backend, walk and wave, yaw 30°, as ``real_character_bench.py``); the first
  candidate's frames are the runtime's own, the others recomputed from the same
  tables and UDPs (the first recomputed too: it must match the runtime's frame);
- procedural characters (``--seeds``, the first ``--table-check`` of them at n = 4,
  4 targets each, 256², as ``finetune_eval.py --table-check``): ``training.evaluate``.

Rows sit beside the flat fill (UDP silhouette x the sheet's mean colour).

Usage: python benchmarks/table_fusion_bench.py --candidates 9b5985f 9cabc11 13fdd8e
       [--looks toon unlit] [--sizes 256 128] [--frames 6] [--seeds 900000:900002 --table-check 2]
       [--json benchmarks/results/table_fusion.json] [--picture docs/table_fusion.png]
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
from exact_bench import _conrt, _flat, _head_box, grid_picture  # noqa: E402
from real_character_bench import CHARACTER, _collect, _commit, _unlit_pass, score  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = "runtime/weights/conr-default.safetensors"
log = logging.getLogger("table_fusion_bench")


def load_candidate(source: str, work: Path):
    """A weights file, or a git revision's ``runtime/weights/conr-default.safetensors`` -> model."""
    from conrt.runtime.nn.checkpoint import load_weights

    path = Path(source)
    if not path.is_file():
        path = work / f"{source}.safetensors"
        with open(path, "wb") as f:
            got = subprocess.run(["git", "-C", str(ROOT), "show", f"{source}:{WEIGHTS}"], stdout=f)
        if got.returncode:
            raise SystemExit(f"--candidates {source}: neither a file nor a git revision holding {WEIGHTS}")
    return load_weights(path)


def same_sheet_encoder(models: dict) -> None:
    first_name, first = next(iter(models.items()))
    ref = first.udpparsernet.state_dict()
    for name, m in models.items():
        sd = m.udpparsernet.state_dict()
        if any(not np.array_equal(sd[k].numpy(), ref[k].numpy()) for k in ref):
            raise SystemExit(f"{name}'s sheet encoder differs from {first_name}'s: the tables would differ")


def table_frame(model, fr) -> np.ndarray:
    """The table path's frame of ``fr`` (the runtime's UDP and its shader's cached table and
    sheet) through ``model``'s table-mode fusion net, clipped to the occupancy as the runtime's."""
    import torch

    cache = fr["shader"].cache
    udp = torch.from_numpy(fr["udp"].transpose(2, 0, 1)[None].copy())
    with torch.inference_mode():
        out = model.render(model.encode_pose(udp), cache.reference, [cache.features[0]])
    return out[0].numpy().transpose(1, 2, 0) * fr["udp"][..., 3:4]


def godette(args, models: dict, work: Path, look: str, pictures: list) -> dict:
    """Rows per size; ``pictures`` gets a walk and a wave frame of the first size."""
    from PIL import Image

    from conrt.characters.gltf_io import load_character
    from conrt.shaders.view_file import load_view_file

    sheet = work / f"sheet_{look}"
    _conrt("sheet", args.character, "--views", args.views, "--udp", "--size", 256, "--style", look, "-o", sheet)
    character = load_character(args.character)
    first = next(iter(models))
    rows = {}
    for size in args.sizes:
        t = time.perf_counter()
        frames = _collect(models[first], args.character, sheet, size, "table", args.frames, args.stride, look)
        log.info("Godette %s %d px: %d table frames in %.0f s", look, size, len(frames), time.perf_counter() - t)
        preds = {"flat": [_flat(fr["shader"], fr["udp"]) for fr in frames]}
        for name, model in models.items():
            preds[name] = [table_frame(model, fr) for fr in frames]
        for i, fr in enumerate(frames):
            if np.abs(preds[first][i] - fr["rgba"]).max() > 1e-4:  # same torch maths; float rounding only
                raise RuntimeError(f"{look}, {size}: recomputed table frame {i} differs from the runtime's")
        gts = [fr["gt"] for fr in frames]
        boxes = [_head_box(character, fr["pose"], fr["camera"], size) for fr in frames]
        table = {name: score(ps, gts, boxes) for name, ps in preds.items()}
        for r in table.values():
            r["l1_vs_flat"] = r["l1"] / table["flat"]["l1"]
        rows[str(size)] = table
        if size == args.sizes[0]:
            cam0, pose0 = load_view_file(sheet / "view_00_view.npz")
            for k in (len(frames) // 4, 3 * len(frames) // 4):  # a walk frame, a wave frame
                udp = frames[k]["udp"]
                pictures.append({"sheet": Image.open(sheet / "view_00.png").convert("RGBA"), "box": boxes[k],
                                 "sheet_box": _head_box(character, pose0, cam0, cam0.width),
                                 "udp": np.concatenate([udp[..., :3] * udp[..., 3:], udp[..., 3:]], -1),
                                 "gt": gts[k], **{name: preds[name][k] for name in models}})
    return rows


def procedural(args, models: dict, style: str) -> dict:
    from conrt.training.evaluate import (FlatColourBaseline, characters_from_seeds, evaluate, parse_seeds,
                                         procedural_head_boxes)

    t = time.perf_counter()
    chars = characters_from_seeds(parse_seeds(args.seeds), 12, 256, progress=False, style=style,
                                  sheet_views=4)[:args.table_check]
    common = dict(views=[4], targets=4, progress=False, size=256, head_boxes=procedural_head_boxes(chars))
    rows = {"flat": evaluate(FlatColourBaseline(256), chars, **common)[0]["n=4"]}
    for name, model in models.items():
        rows[name] = evaluate(model, chars, **common)[0]["n=4"]
    for r in rows.values():
        r["l1_vs_flat"] = r["l1"] / rows["flat"]["l1"]
    log.info("procedural %s: %d characters in %.0f s", style, len(chars), time.perf_counter() - t)
    return rows


def doc_table(result: dict) -> str:
    lines = ["| frames | look | size | table-mode fusion net | L1 | × flat | SSIM | face SSIM | sharpness |",
             "|---|---|---|---|---|---|---|---|---|"]
    for what, per_look in result["rows"].items():
        for look, per_size in per_look.items():
            for size, table in per_size.items():
                for name, r in table.items():
                    label = name if name == "flat" else f"{name} ({result['candidates'][name]})"
                    lines.append(f"| {what} | {look} | {size}² | {label} | {r['l1']:.4f} | {r['l1_vs_flat']:.3f} | "
                                 f"{r['ssim']:.4f} | {r.get('face_ssim', float('nan')):.3f} | "
                                 f"{r['sharpness']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", nargs="+", required=True,
                    help="weights files or git revisions (their conr-default.safetensors); the first one's "
                         "frames are the runtime's")
    ap.add_argument("--character", type=Path, default=CHARACTER)
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--looks", nargs="+", default=["toon", "unlit"], choices=("toon", "unlit"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    ap.add_argument("--frames", type=int, default=6, help="shaded frames per clip (clips: walk, wave)")
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--seeds", default="900000:900002")
    ap.add_argument("--table-check", type=int, default=2, help="procedural characters scored (0: none)")
    ap.add_argument("--styles", nargs="+", default=["toon"], help="procedural sheets' looks")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "table_fusion.json")
    ap.add_argument("--docs", type=Path, default=None, help="write the table between this doc's table-fusion markers")
    ap.add_argument("--picture", type=Path, default=None,
                    help="PNG: per look a walk and a wave frame of the first size, sheet | UDP | each candidate | "
                         "ground truth, face crops below")
    args = ap.parse_args(argv)
    commit = _commit()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("conrt", "conrt.physics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    from conrt.runtime.app.passes import pass_names, register_pass

    if "unlit" not in pass_names():
        register_pass("unlit", _unlit_pass)
    rows, pictures = {"Godette": {}, "procedural": {}}, []
    with tempfile.TemporaryDirectory(prefix="conrt-table-fusion-") as tmp:
        models = {src: load_candidate(src, Path(tmp)) for src in args.candidates}
        same_sheet_encoder(models)
        described = {name: "its table_fusion" if getattr(m, "table_fusion", None) is not None else "its fusion"
                     for name, m in models.items()}
        for look in args.looks:
            rows["Godette"][look] = godette(args, models, Path(tmp), look, pictures)
        if args.table_check:
            for style in args.styles:
                rows["procedural"][style] = {"256": procedural(args, models, style)}
    result = {"commit": commit, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "threads": args.threads, "candidates": described, "frames_per_clip": args.frames,
              "stride": args.stride, "seeds": args.seeds, "table_check": args.table_check, "rows": rows}
    publish(result, args.json, doc_table(result), args.docs, "table-fusion")
    if args.picture and pictures:
        grid_picture(args.picture, pictures, args.sizes[0], ("udp", *models, "gt"), background=(235, 235, 235, 255))
    return 0


if __name__ == "__main__":
    sys.exit(main())
