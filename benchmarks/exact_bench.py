"""Exact sheet correspondences vs conr-rt's 32³ table: quality and cost on the same frames.

Per unseen procedural seed: ``conrt character new --seed S`` and ``conrt sheet
--views 4 --udp --size 256`` (toon views with each view's camera, pose and
UDP). Frames: ``open_runtime`` (torch backend, shipped conr-rt weights, kinematic
clips ``walk`` and ``wave``, camera yaw 30°), ground truth = the toon pass from
the same camera (``RasterStage(toon=True)``, what ``conrt sheet`` draws with).
Every mode renders the same frames (checked: identical UDPs).

Rows (L1 on premultiplied RGBA over the frame, as ``conrt eval``; ratio to the
flat fill; edge sharpness = mean gradient magnitude of the prediction / the
ground truth on the foreground; face L1 inside the head's box):

- ``flat``: the UDP silhouette × the sheet's mean colour (no correspondences);
- ``plain exact`` / ``plain udp-nn``: no network, each pixel takes the colour of
  its best visible view (highest coverage); the flat colour where no view sees it;
- ``table``: the network with the 32³ table built from the sheet's TRUE UDPs
  (the best the table can do; as shipped with ``view_NN_udp.npz``);
- ``exact, refined everywhere``: the network on exact correspondences with its
  refinement on every pixel, as it was trained (``FusionNet(keep_seen=False)``);
- ``udp-nn`` / ``exact``: the runtime's exact modes: correspondences by nearest
  sheet UDP per vertex / from the views' cameras and poses; the network keeps
  the views' fused colour where they see the point, except on the target's
  edges (``keep_seen=True``).

Cost (same process, interleaved, medians; llvmpipe here): per frame, the UDP
pass (reference), the table lookup on GL (``LookupPass``) and on torch
(``LookupNet.sample_views``), and the correspondence pass (exact, udp-nn);
once per sheet, the table build and the correspondence pass's ``set_sheet``.

Usage: python benchmarks/exact_bench.py [--seeds 900001 900002] [--sizes 256 128]
       [--frames 6] [--json benchmarks/results/exact.json] [--docs docs/conr_rt.md]
       [--picture docs/exact_correspondences.png]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

import numpy as np  # noqa: E402
from doc_table import publish  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("exact_bench")

NETWORK_MODES = ("table", "udp-nn", "exact")
CLIPS = ("walk", "wave")
YAW = 30.0
TIMING_REPS = 40


def _conrt(*args) -> None:
    subprocess.run([sys.executable, "-m", "conrt", "-q", *map(str, args)], check=True, capture_output=True)


def _premul(u8: np.ndarray) -> np.ndarray:
    f = u8.astype(np.float32) / 255.0
    return np.concatenate([f[..., :3] * f[..., 3:], f[..., 3:]], -1)


def _sharpness(pred: np.ndarray, gt: np.ndarray) -> float:
    fg = gt[..., 3] > 0.5

    def grad(img):
        rgb = img[..., :3]
        gx, gy = np.zeros_like(rgb), np.zeros_like(rgb)
        gx[:, 1:] = rgb[:, 1:] - rgb[:, :-1]
        gy[1:] = rgb[1:] - rgb[:-1]
        return np.sqrt((gx ** 2 + gy ** 2).sum(-1))[fg].mean()

    return float(grad(pred) / max(grad(gt), 1e-9))


def _head_box(character, pose, camera, size: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): a square around the projected vertices skinned mostly to the head."""
    from conrt.characters.posing import posed_positions
    from conrt.shaders import project

    head = character.humanoid.get("head")
    mesh = character.mesh
    mask = (mesh.joints[:, 0] == head) & (mesh.weights[:, 0] > 0.5) if head is not None else None
    if mask is None or not mask.any():
        return 0, 0, size, size
    px = project(camera, posed_positions(character, pose)[mask])
    lo, hi = px.min(0), px.max(0)
    half = int(np.ceil(0.6 * (hi - lo).max()))
    cx, cy = (lo + hi) / 2
    x0 = int(np.clip(round(cx) - half, 0, max(0, size - 2 * half)))
    y0 = int(np.clip(round(cy) - half, 0, max(0, size - 2 * half)))
    return x0, y0, x0 + 2 * half, y0 + 2 * half


def _flat(shader, udp: np.ndarray) -> np.ndarray:
    sheet = np.stack(shader.sheet_images).astype(np.float32) / 255.0
    a = sheet[..., 3:]
    mean = (sheet[..., :3] * a).sum((0, 1, 2)) / max(float(a.sum()), 1.0)
    occ = udp[..., 3:4]
    return np.concatenate([mean * occ, occ], -1)


def _plain(views, flat: np.ndarray, udp: np.ndarray) -> np.ndarray:
    """No network: the best visible view's sample, the flat colour where none sees the point."""
    sampled, cover = tuple(views)[:2]  # (the target's G-buffer beside them since session 13)
    best = cover[:, 0].argmax(0)
    seen = cover[:, 0].max(0) > 0
    pick = np.take_along_axis(sampled, best[None, None], 0)[0].transpose(1, 2, 0)
    return np.where(seen[..., None], pick * udp[..., 3:4], flat)


def quality(args, seed: int, work: Path, timings: dict) -> tuple[dict, dict]:
    from conrt.characters.gltf_io import load_character
    from conrt.shaders.view_file import load_view_file

    char_path, sheet = work / f"c{seed}.glb", work / f"sheet{seed}"
    _conrt("character", "new", "--seed", seed, "-o", char_path)
    _conrt("sheet", char_path, "--views", 4, "--udp", "--size", 256, "-o", sheet)
    character = load_character(char_path)
    rows, pictures = {}, {}
    for size in args.sizes:
        runs = {}
        for mode in NETWORK_MODES:
            t = time.perf_counter()
            runs[mode] = _collect(char_path, sheet, size, mode, args.frames, args.weights)
            log.info("seed %d, %d px, %s: %d frames in %.1f s", seed, size, mode, len(runs[mode]),
                     time.perf_counter() - t)
        ref = runs["table"]
        for mode in NETWORK_MODES[1:]:
            for a, b in zip(ref, runs[mode]):
                if not np.array_equal(a["udp"], b["udp"]):
                    raise RuntimeError(f"seed {seed} {size}: mode {mode} rendered other frames than the table")
        preds = {"flat": [], "plain udp-nn": [], "plain exact": []} | {m: [] for m in NETWORK_MODES} \
            | {"exact, refined everywhere": []}
        for i, fr in enumerate(ref):
            flat = _flat(fr["shader"], fr["udp"])
            preds["flat"].append(flat)
            for mode in NETWORK_MODES:
                preds[mode].append(runs[mode][i]["rgba"])
            preds["plain udp-nn"].append(_plain(runs["udp-nn"][i]["views"], flat, fr["udp"]))
            preds["plain exact"].append(_plain(runs["exact"][i]["views"], flat, fr["udp"]))
            preds["exact, refined everywhere"].append(_refined_everywhere(runs["exact"][i], fr["udp"]))
        gts = [fr["gt"] for fr in ref]
        boxes = [_head_box(character, runs["exact"][i]["pose"], runs["exact"][i]["camera"], size)
                 for i in range(len(ref))]
        table = {}
        for name, ps in preds.items():
            l1 = [float(np.abs(p - g).mean()) for p, g in zip(ps, gts)]
            face = [float(np.abs(p[y0:y1, x0:x1] - g[y0:y1, x0:x1]).mean()) for p, g, (x0, y0, x1, y1)
                    in zip(ps, gts, boxes)]
            table[name] = {"l1": float(np.mean(l1)), "face_l1": float(np.mean(face)),
                           "sharpness": float(np.mean([_sharpness(p, g) for p, g in zip(ps, gts)]))}
        for name in table:
            table[name]["l1_vs_flat"] = table[name]["l1"] / table["flat"]["l1"]
        rows[str(size)] = table
        k = len(ref) // 2
        sheet_camera, sheet_pose = load_view_file(sheet / "view_00_view.npz")
        pictures[str(size)] = {"sheet": _sheet_view(sheet), "box": boxes[k], "gt": gts[k],
                               "sheet_box": _head_box(character, sheet_pose, sheet_camera, sheet_camera.width),
                               **{m: preds[m][k] for m in ("table", "udp-nn", "exact", "plain exact")}}
        if seed == args.seeds[0] and not args.no_cost:
            timings[str(size)] = cost(character, sheet, size, runs["exact"][k], args)
    return rows, pictures


def _refined_everywhere(record: dict, udp: np.ndarray) -> np.ndarray:
    """The network on the exact samples as trained: its refinement on every
    pixel (``keep_seen=False``; the runtime keeps the seen views' colours)."""
    import torch

    model = record["shader"].backend.model
    sampled, cover = tuple(record["views"])[:2]  # (keep_seen off: no lines, no G-buffer)
    x = torch.from_numpy(np.ascontiguousarray(udp.transpose(2, 0, 1)[None]))
    with torch.inference_mode():
        out = model.fusion(torch.from_numpy(sampled[None]), torch.from_numpy(cover[None]), model.encode_pose(x)[0])
    return out[0].numpy().transpose(1, 2, 0) * udp[..., 3:4]


def _collect(char_path, sheet, size, mode, frames, weights=None):
    """Shade the frames of one mode, one at a time; each record keeps the
    frame's pose and correspondences (the runtime's job for that frame)."""
    from conrt.runtime.app.frame_loop import open_runtime

    out = []
    for clip in CLIPS:
        with open_runtime(str(char_path), str(sheet), weights, backend="torch", size=size, clip=clip, toon=True,
                          yaw=YAW, correspondence=mode) as rt:
            for _ in range(frames):
                rt.produce()
                rt.produce()  # every other physics frame: more distinct poses for the same shading time
                job = rt.last_produced
                f = None
                while f is None or f.index != job.index:
                    f = rt.next(timeout=None)
                out.append({"clip": clip, "udp": f.udp, "rgba": f.rgba, "gt": _premul(f.toon), "camera": f.camera,
                            "pose": job.pose, "views": job.views, "shader": rt.shader})
    return out


def _sheet_view(sheet: Path):
    from PIL import Image

    return Image.open(sheet / "view_00.png").convert("RGBA")


def cost(character, sheet: Path, size: int, frame: dict, args) -> dict:
    """Per-frame and once-per-sheet cost of the table and the correspondence pass, interleaved."""
    import torch

    from conrt.runtime.app.frame_loop import ShadeStage, sheet_views
    from conrt.runtime.app.session import choose_correspondences, load_model_source, load_sheet_source
    from conrt.shaders import LookupPass, UdpPass, create_context, release_context
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView

    model, _ = load_model_source(None)
    images, _ = load_sheet_source(str(sheet))
    from conrt.runtime.app.session import load_sheet

    shader = ShadeStage(model, load_sheet(str(sheet)), size, "torch")  # with the views' UDPs if the model takes them
    chosen = choose_correspondences(str(sheet), images, character, "exact")
    exact_views = sheet_views(chosen, images, size)
    nn_views = [SheetView("udp-nn", udp=u) for u in shader.sheet_udps]
    reference = shader.cache.reference
    table = shader.cache.features[0]
    pose, camera = frame["pose"], frame["camera"]
    ctx = create_context()
    times: dict[str, list[float]] = {}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        ctx.finish()
        times.setdefault(name, []).append((time.perf_counter() - t) * 1e3)
        return out

    try:
        with UdpPass(ctx, size, size) as udp_pass, LookupPass(ctx, size, size, len(images)) as lookup, \
                CorrespondencePass(ctx, size, size) as exact, CorrespondencePass(ctx, size, size) as nn:
            udp_pass.set_character(character)
            exact.set_character(character)
            nn.set_character(character)
            once = {}
            sheet_xyz = torch.from_numpy(np.stack([u.transpose(2, 0, 1) for u in shader.sheet_udps])[None, :, :3])
            for _ in range(3):
                once.setdefault("table build (torch)", []).append(
                    _timed_ms(lambda: model.table(sheet_xyz, reference[:, :, 3:])))
                once.setdefault("table upload (GL)", []).append(_timed_ms(lambda: lookup.set_sheet(table, reference)))
                once.setdefault("exact set_sheet", []).append(_timed_ms(lambda: exact.set_sheet(exact_views, reference)))
                once.setdefault("udp-nn set_sheet (KD-tree)", []).append(
                    _timed_ms(lambda: nn.set_sheet(nn_views, reference)))
            udp = udp_pass.run(pose, camera).data
            x = torch.from_numpy(udp.transpose(2, 0, 1)[None].copy())
            for rep in range(TIMING_REPS + 2):
                timed("UDP pass (render + read)", lambda: udp_pass.run(pose, camera))
                timed("table lookup, GL (LookupPass)", lambda: lookup.run(udp))
                with torch.inference_mode():
                    timed("table lookup, torch (sample_views)", lambda: model.sample_views(model.encode_pose(x)[0],
                                                                                         reference, table))
                timed("correspondence pass, exact", lambda: exact.run(pose, camera))
                timed("correspondence pass, udp-nn", lambda: nn.run(pose, camera))
    finally:
        release_context(ctx)
        shader.backend.close() if hasattr(shader.backend, "close") else None
    per_frame = {k: statistics.median(v[2:]) for k, v in times.items()}
    base = per_frame["UDP pass (render + read)"]
    return {"per_frame_ms": per_frame, "per_frame_vs_udp_pass": {k: v / base for k, v in per_frame.items()},
            "once_per_sheet_ms": {k: statistics.median(v) for k, v in once.items()}}


def _timed_ms(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


ROW_ORDER = ("flat", "plain udp-nn", "plain exact", "table", "exact, refined everywhere", "udp-nn", "exact")


def doc_table(result: dict) -> str:
    lines = ["| size | correspondences | L1 | × flat | face L1 | sharpness |", "|---|---|---|---|---|---|"]
    for size in result["sizes"]:
        for name in ROW_ORDER:
            vals = [result["seeds"][str(s)][str(size)][name] for s in result["seed_list"]]
            l1 = np.mean([v["l1"] for v in vals])
            ratio = np.mean([v["l1_vs_flat"] for v in vals])
            face = np.mean([v["face_l1"] for v in vals])
            sharp = np.mean([v["sharpness"] for v in vals])
            label = {"table": "table 32³ (true sheet UDP) + network",
                     "exact, refined everywhere": "exact + network, refinement everywhere (as trained)",
                     "udp-nn": "**UDP-NN + network** (seen colours kept inside)",
                     "exact": "**exact + network** (seen colours kept inside)"}.get(name, name)
            lines.append(f"| {size}² | {label} | {l1:.4f} | {ratio:.2f} | {face:.4f} | {sharp:.2f} |")
    lines.append("")
    lines.append("| size | per frame (median ms) | ms | × UDP pass |")
    lines.append("|---|---|---|---|")
    for size, t in result["cost"].items():
        for k, v in t["per_frame_ms"].items():
            lines.append(f"| {size}² | {k} | {v:.1f} | {t['per_frame_vs_udp_pass'][k]:.2f} |")
    lines.append("")
    lines.append("| size | once per sheet (median ms) | ms |")
    lines.append("|---|---|---|")
    for size, t in result["cost"].items():
        for k, v in t["once_per_sheet_ms"].items():
            lines.append(f"| {size}² | {k} | {v:.0f} |")
    return "\n".join(lines)


def grid_picture(path: Path, frames: list, size: int, cols: tuple, background=(255, 255, 255, 255)) -> None:
    """One row per frame: sheet view, then ``frames[i][c]`` for each column c (premultiplied RGBA);
    under it the face crops of the same tiles (``box`` on the frame, ``sheet_box`` on the sheet), nearest-scaled."""
    from PIL import Image

    from conrt.runtime.app.frame_loop import to_straight_u8

    s = int(size)
    rows = []
    for p in frames:
        sheet = p["sheet"]
        tiles = [sheet.resize((s, s), Image.BILINEAR)] + [Image.fromarray(to_straight_u8(p[c])) for c in cols]
        x0, y0, x1, y1 = p["box"]
        faces = [sheet.crop(p["sheet_box"]).resize((s, s), Image.NEAREST)]
        faces += [t.crop((x0, y0, x1, y1)).resize((s, s), Image.NEAREST) for t in tiles[1:]]
        rows += [tiles, faces]
    out = Image.new("RGBA", (s * (len(cols) + 1), s * len(rows)), background)
    for r, tiles in enumerate(rows):
        for c, t in enumerate(tiles):
            out.alpha_composite(t.convert("RGBA"), (c * s, r * s))
    out.convert("RGB").save(path)


def picture(path: Path, pictures: dict, size: str) -> None:
    """Rows per seed: sheet view | table | udp-nn | exact | plain exact | ground truth, then face crops (3×)."""
    grid_picture(path, [pics[size] for pics in pictures.values()], int(size),
                 ("table", "udp-nn", "exact", "plain exact", "gt"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[900001, 900002])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    ap.add_argument("--frames", type=int, default=4, help="frames per clip (clips: walk, wave)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "exact.json")
    ap.add_argument("--docs", type=Path, default=None, help="write the table into this doc's exact-bench markers")
    ap.add_argument("--picture", type=Path, default=None, help="side-by-side PNG (first size)")
    ap.add_argument("--weights", default=None, help="weights file or shipped name (default: the embedded default)")
    ap.add_argument("--no-cost", action="store_true", help="quality only (no per-frame / per-sheet timings)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("conrt", "conrt.physics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(2)
    timings: dict = {}
    seeds, pictures = {}, {}
    with tempfile.TemporaryDirectory(prefix="conrt-exact-bench-") as tmp:
        for seed in args.seeds:
            seeds[str(seed)], pictures[str(seed)] = quality(args, seed, Path(tmp), timings)
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "backend": f"torch (2 threads), weights {args.weights or 'conr-default (embedded)'}", "views": 4, "clips": list(CLIPS),
              "frames_per_clip": args.frames, "yaw": YAW, "sizes": args.sizes, "seed_list": args.seeds,
              "seeds": seeds, "cost": timings}
    publish(result, args.json, doc_table(result), args.docs, "exact-bench")
    if args.picture:
        picture(args.picture, pictures, str(args.sizes[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
