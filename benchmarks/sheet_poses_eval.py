"""Issue #15's quality aims as a user has the sheet: clip-frame sheets vs a turnaround, same targets.

For each look (``--styles``, default toon, unlit, no-outline) the unseen
procedural characters ``--seeds`` are rendered at ``--size``: 12 clip frames
each (as ``conrt eval --seeds``) and the views ``conrt sheet --strength 0
--views N`` draws (the rest pose: front, 3/4, side, back, ...; N = the
largest of ``--views``). Two sheet-pose choices shade the SAME target frames
(``training.evaluate``, ``conrt eval --sheet-poses``):

- ``clip``: each sheet is n random other frames of the clip (the paper's protocol);
- ``turnaround``: each sheet is the first n turnaround views (n = 1 the front).

Rows, on the runtime's exact samples (the GL correspondence pass; ``--correspondence udp-nn``: from
the views' UDPs only, as a sheet without camera files): the flat
fill, the plain exact lookup (no network) and the default (the embedded
weights with the runtime's rules: the sheet's judged look decides). Scores:
L1, × flat, SSIM, face SSIM, sharpness, and the eye score (``eyes_kept``,
``training.losses.eyes_kept``: every target is drawn again with the painted
eyes left off its face texture; where the two differ are its eye pixels, and a
pixel is kept when the prediction is nearer the ground truth than the eyeless
frame: a blank face scores 0, the ground truth 1; over the targets that show
at least ``EYE_MIN_PIXELS`` eye pixels, ``eye_samples``).

The pictures show, per character, the target with the most ground-truth eye
pixels (the face most turned to the camera; the same target in every column),
each face crop with its eye score.

Where the face's error comes from (``faces``, n = ``--face-views``): inside
each target's head box, the default's mean |error| (premultiplied RGBA) and
the share of it on pixels no sheet view sees (coverage), on the toon pass's
lines (ink: where the toon and no-outline ground truths differ; both looks
draw the same frames) and the whole face's error of each look (lighting:
no-outline minus unlit; ink: toon minus no-outline); on toon and no-outline
the error on and off the toon lines split by where the fusion draws
(``l1_by_fusion_edges``: on its edges, ``target_edges``; in the fill's
margin around them; inside).

Usage: python benchmarks/sheet_poses_eval.py [--seeds 900000:900004] [--size 256] [--views 1,4,8]
       [--json benchmarks/results/sheet_poses_eval.json] [--picture docs/sheet_poses_faces.png]
       [--docs docs/training.md]
One row set of it: conrt eval --seeds 900000:900004 --size 256 --views 1,4,8 --baseline --sheet-poses turnaround
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("sheet_poses_eval")
CHOICES = ("clip", "turnaround")
ROWS = ("flat", "plain exact lookup", "default")
SEEN = 0.01  # cover above this: some sheet view sees the point (an inked view's contour texels: 0.25)
INK_STEP = 0.1  # |toon - no-outline| ground truth above this (any channel, premultiplied): an ink pixel


def run_style(style: str, args, model) -> tuple[dict, dict, dict]:
    """-> ({choice: {row: table}}, {choice: {row: grids}}, {choice: per-job face data at --face-views})."""
    import torch

    from conrt.training.evaluate import (FlatColourBaseline, PlainLookup, ViewsShader, characters_from_seeds,
                                         clip_sheets, eval_jobs, evaluate, parse_seeds, procedural_head_boxes,
                                         view_samples_per_count)

    views = [int(v) for v in args.views.split(",")]
    t0 = time.time()
    turn = characters_from_seeds(parse_seeds(args.seeds), 12, args.size, progress=False, style=style,
                                 sheet_poses="turnaround", sheet_views=max(views), sheet_order=args.turnaround_order,
                                 eyeless=True)
    heads = procedural_head_boxes(turn)
    tables, grids, faces = {}, {}, {}
    for choice in args.sheet_poses.split(","):
        chars = turn if choice == "turnaround" else clip_sheets(turn)
        jobs = eval_jobs(chars, args.targets)
        samples = view_samples_per_count(chars, jobs, views, args.correspondence, args.size, progress=False)
        log.info("%s, %s sheets: %d jobs, samples in %.0f s", style, choice, len(jobs), time.time() - t0)
        common = dict(views=views, targets=args.targets, progress=False, size=args.size, head_boxes=heads,
                      grid_rows=len(jobs))
        shader = ViewsShader(model, True)
        rows, shown = {}, {}
        for row, m in zip(ROWS, (FlatColourBaseline(args.size), PlainLookup(args.size), shader)):
            t = time.time()
            rows[row], g = evaluate(m, chars, samples=None if row == "flat" else samples, **common)
            shown[row] = {n: g[n] for n in g if n == args.face_views}  # all jobs at n = --face-views only
            log.info("%s, %s, %s: %.0f s", style, choice, row, time.time() - t)
        for row, table in rows.items():
            for n, r in table.items():
                r["l1_vs_flat"] = round(r["l1"] / rows["flat"][n]["l1"], 4)
        rows["default"]["look"] = shader.look_summary()
        tables[choice], grids[choice] = rows, shown
        n = args.face_views
        cover = torch.stack([s[1][:n].float().amax(0)[0] for s in samples[n]])  # [J, S, S]
        g = shown["default"][n]
        faces[choice] = {"pred": {row: shown[row][n]["pred"] for row in ROWS[1:]}, "target": g["target"],
                         "eyes_kept": {row: shown[row][n]["eyes_kept"] for row in ROWS},
                         "eye_pixels": g["eye_pixels"],
                         "box": g["head_box"], "seen": cover > SEEN, "edges": fusion_edges(g["udp"]),
                         "jobs": [{"seed": chars[ci].seed, "target": t, **orbit(chars[ci].cameras[t])}
                                  for ci, t, _ in jobs]}
        t0 = time.time()
    return tables, grids, faces


def fusion_edges(udp) -> tuple:
    """Targets' UDP [J, 4, S, S] (xyz, alpha) -> (the fusion's edges, ``lookup_net.target_edges``: where
    the refinement and ``ink_edges`` draw the target's lines; those grown by ``FILL_MARGIN`` px: the
    fill's margin) [J, S, S] bool each."""
    import torch
    import torch.nn.functional as F

    from conrt.runtime.nn.lookup_net import FILL_MARGIN, target_edges

    u = udp.float()
    edges = target_edges(torch.cat([u[:, :3] * u[:, 3:4], u[:, 3:4]], 1))
    k = max(1, round(FILL_MARGIN * u.shape[-1] / 256))
    return edges[:, 0] > 0.5, F.max_pool2d(edges, 2 * k + 1, 1, k)[:, 0] > 0.5


def orbit(camera) -> dict:
    """A camera's orbit yaw and pitch (degrees; shaders/camera.py: yaw 0 = the front, 90 = the character's
    left side, pitch > 0 from above), from its view matrix."""
    z = camera.view[2, :3].astype(np.float64)  # towards the camera
    z /= np.linalg.norm(z)
    return {"yaw": round(float(np.degrees(np.arctan2(z[0], z[2]))), 1),
            "pitch": round(float(np.degrees(np.arcsin(np.clip(z[1], -1, 1)))), 1)}


def face_errors(faces: dict) -> dict:
    """{style: {choice: face data}} -> per look, sheet-pose choice and row (plain lookup,
    default): the mean |error| inside the head boxes (covered target pixels), the
    fraction of those pixels no sheet view sees and their share of the error, and
    on toon (with no-outline run too) the same for the ink pixels."""
    out = {}
    for style, by_choice in faces.items():
        out[style] = {}
        for choice, f in by_choice.items():
            inside = torch_box_mask(f["box"], f["target"].shape[-1]) & (f["target"][:, 3] > 0.5)
            pixels = max(1, int(inside.sum()))
            unseen = inside & ~f["seen"]
            ink = None
            if style == "toon" and "no-outline" in faces:
                plain = faces["no-outline"][choice]["target"].float()
                ink = inside & ((f["target"].float() - plain).abs().amax(1) > INK_STEP)
            out[style][choice] = {"pixels": pixels, "unseen_pixels": round(float(unseen.sum()) / pixels, 4)}
            if ink is not None:
                out[style][choice]["ink_pixels"] = round(float(ink.sum()) / pixels, 4)
            for row, pred in f["pred"].items():
                err = (pred.float().clamp(0, 1) - f["target"].float()).abs().mean(1)  # [J, S, S]
                total = float(err[inside].sum())
                r = {"face_l1": round(total / pixels, 5),
                     "unseen_error_share": round(float(err[unseen].sum()) / max(total, 1e-9), 4)}
                if ink is not None:
                    r["ink_error_share"] = round(float(err[ink].sum()) / max(total, 1e-9), 4)
                if "toon" in faces and "no-outline" in faces and style in ("toon", "no-outline"):
                    # the same pixels in both looks: the toon ground truth's lines and the rest
                    lines = inside & ((faces["toon"][choice]["target"].float()
                                       - faces["no-outline"][choice]["target"].float()).abs().amax(1) > INK_STEP)
                    r["l1_on_toon_lines"] = round(float(err[lines].sum()) / pixels, 5)
                    r["l1_off_toon_lines"] = round(float(err[inside & ~lines].sum()) / pixels, 5)
                    # the same per face pixel by where the fusion draws: its edges (the target's lines:
                    # refinement + ink_edges), the fill's margin around them, the rest
                    edges, margin = f["edges"]
                    off = inside & ~lines
                    parts = {"lines, on the edges": lines & edges, "lines, off the edges": lines & ~edges,
                             "off lines, on the edges": off & edges, "off lines, margin": off & margin & ~edges,
                             "off lines, inside": off & ~margin}
                    r["l1_by_fusion_edges"] = {k: round(float(err[m].sum()) / pixels, 5) for k, m in parts.items()}
                    r["fusion_edges_pixels"] = {k: round(float(m.sum()) / pixels, 4) for k, m in parts.items()}
                if row == "default":  # per job: which faces are worst, and why
                    r["jobs"] = []
                    for j, job in enumerate(f["jobs"]):
                        m = inside[j]
                        e, px = float(err[j][m].sum()), max(1, int(m.sum()))
                        one = {**job, "l1": round(float(err[j].mean()), 5),  # the whole frame's (paired A/B)
                               "pixels": int(m.sum()), "face_l1": round(e / px, 5),
                               "unseen_pixels": round(float((m & unseen[j]).sum()) / px, 4),
                               "unseen_error_share": round(float(err[j][m & unseen[j]].sum()) / max(e, 1e-9), 4)}
                        if ink is not None:
                            one["ink_error_share"] = round(float(err[j][m & ink[j]].sum()) / max(e, 1e-9), 4)
                        one["eye_pixels"] = int(f["eye_pixels"][j])
                        one["eyes_kept"] = {k: None if np.isnan(float(v[j])) else round(float(v[j]), 4)
                                            for k, v in f["eyes_kept"].items()}  # every row's, this target's
                        r["jobs"].append(one)
                out[style][choice][row] = r
    return out


def face_jobs(g: dict, targets: int) -> list[int]:
    """Per character (``targets`` consecutive jobs): the job whose ground truth shows the most eye
    pixels (the face most turned to the camera), from the ground truth alone: every column shows it."""
    if "eye_pixels" not in g:
        return list(range(0, g["udp"].shape[0], targets))
    px = g["eye_pixels"]
    return [r + int(px[r:r + targets].argmax()) for r in range(0, px.shape[0], targets)]


def torch_box_mask(boxes, size: int):
    import torch

    mask = torch.zeros(len(boxes), size, size, dtype=torch.bool)
    for j, (y0, y1, x0, x1) in enumerate(boxes.tolist()):
        mask[j, y0:y1, x0:x1] = True
    return mask


def picture(path: Path, grids: dict, n: int, targets: int, columns: tuple[tuple[str, str, str], ...]) -> None:
    """Per character (its target that shows the most eyes, :func:`face_jobs`): sheet (the n views,
    tiled) | target UDP | the ``columns`` ((title, choice, row)) | ground truth, then the head box of
    each enlarged (nearest: the pixels the face score sees) with its eye score."""
    from PIL import Image, ImageDraw

    from eval_pictures import crop, show  # benchmarks/ is on sys.path when run as a script

    g0 = grids["turnaround"]["default"][n]
    size = g0["udp"].shape[-1]

    def sheet_tiles(r):
        side = int(np.ceil(np.sqrt(n)))
        small = size // side
        tile = np.full((size, size, 3), 255, np.uint8)
        for k in range(n):
            v = show(torch_cat(g0["sheet_rgb"][r, k], g0["sheet_mask"][r, k]))
            v = np.asarray(Image.fromarray(v).resize((small, small), Image.BILINEAR))
            y, x = divmod(k, side)
            tile[y * small:(y + 1) * small, x * small:(x + 1) * small] = v
        return tile

    def labelled(tile, score):
        if score is None:
            return tile
        im = Image.fromarray(np.ascontiguousarray(tile))
        text = "eyes: -" if np.isnan(score) else f"eyes {score:.2f}"
        ImageDraw.Draw(im).rectangle((0, size - 16, 8 + 7 * len(text), size), fill=(255, 255, 255))
        ImageDraw.Draw(im).text((4, size - 14), text, fill=(0, 0, 0))
        return np.asarray(im)

    lines = []
    for r in face_jobs(g0, targets):  # one target per character
        u = g0["udp"][r].float()
        udp = ((u[:3] * u[3:4]).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        shaded = [show(grids[choice][row][n]["pred"][r]) for _, choice, row in columns]
        gt = show(g0["target"][r])
        lines.append(np.concatenate([sheet_tiles(r), udp, *shaded, gt], 1))
        box = g0["head_box"][r]
        blank = np.full((size, size, 3), 255, np.uint8)
        scores = [float(grids[choice][row][n]["eyes_kept"][r]) if "eyes_kept" in grids[choice][row][n] else None
                  for _, choice, row in columns] + [None]
        lines.append(np.concatenate([blank, blank] + [labelled(crop(t, box, size), e)
                                                      for t, e in zip((*shaded, gt), scores)], 1))
    img = np.concatenate(lines, 0)
    header = Image.new("RGB", (img.shape[1], 18), (255, 255, 255))
    draw = ImageDraw.Draw(header)
    for k, text in enumerate([f"turnaround sheet, n = {n}", "target UDP", *(t for t, _, _ in columns),
                              "ground truth"]):
        draw.text((k * size + 4, 3), text, fill=(0, 0, 0))
    Image.fromarray(np.concatenate([np.asarray(header), img], 0)).save(path, optimize=True)


def torch_cat(rgb, mask):
    import torch

    return torch.cat([rgb, mask], 0)


def doc_table(result: dict) -> str:
    """One line per look, sheet-pose choice and row: L1 × flat (face SSIM, sharpness, eyes kept) per view count."""
    counts = [n for n in next(iter(next(iter(result["styles"].values())).values()))["flat"] if n.startswith("n=")]
    lines = ["| sheets | sheet poses | row | " + " | ".join(f"n = {n[2:]}: × flat (face SSIM, sharpness, eyes)"
                                                          for n in counts) + " |",
             "|---|---|---|" + "---|" * len(counts)]
    for style, by_choice in result["styles"].items():
        for choice, rows in by_choice.items():
            for label, table in rows.items():
                if label == "flat":
                    cells = [f"L1 {table[n]['l1']:.4f} (face {table[n]['face_ssim']:.3f}{eyes(table[n])})"
                             for n in counts]
                else:
                    cells = [f"{table[n]['l1_vs_flat']:.2f} ({table[n]['face_ssim']:.3f}, {table[n]['sharpness']:.2f}"
                             f"{eyes(table[n])})" for n in counts]
                name = f"**default** ({table['look']})" if label == "default" else label
                lines.append(f"| {style} | {choice} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def eyes(row: dict) -> str:
    """", eyes 0.93" (the eye score, ``evaluate``'s ``eyes_kept``), or "" for a run without it."""
    return f", eyes {row['eyes_kept']:.2f}" if row.get("eyes_kept") is not None else ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="weights (default: the embedded default)")
    ap.add_argument("--seeds", default="900000:900004")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--views", default="1,4,8")
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--styles", default="toon,unlit,no-outline")
    ap.add_argument("--sheet-poses", default="clip,turnaround", help="the sheet-pose choices scored")
    ap.add_argument("--turnaround-order", default=None,
                    help="the turnaround's yaws (shaders.camera.SHEET_YAW_ORDERS): spread (default, as `conrt sheet` "
                         "draws since session 11: front, side left, back, side right, ...) or artist (front, 3/4 "
                         "left, side left, back, ...: the docs' table, session 11)")
    ap.add_argument("--face-views", type=int, default=4, help="view count of the face analysis and pictures")
    ap.add_argument("--correspondence", choices=("exact", "udp-nn"), default="exact",
                    help="the views' correspondences: their cameras (exact) or their UDPs only (udp-nn)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "sheet_poses_eval.json")
    ap.add_argument("--picture", type=Path, default=None,
                    help="grid PNG per look: this path for the first, the look's name appended for the others")
    ap.add_argument("--docs", type=Path, default=None, help="write the table between this doc's sheet-poses markers")
    args = ap.parse_args(argv)
    from conrt.shaders.camera import SHEET_ORDER

    args.turnaround_order = args.turnaround_order or SHEET_ORDER  # recorded in the JSON as drawn
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("conrt", "conrt.physics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    from conrt.runtime.defaults import default_weights_path
    from conrt.runtime.nn.checkpoint import find_weights, load_weights

    torch.set_num_threads(args.threads)
    if args.face_views not in [int(v) for v in args.views.split(",")]:
        ap.error(f"--face-views {args.face_views} must be one of --views {args.views}")
    path = find_weights(args.weights) if args.weights else default_weights_path()
    model = load_weights(path)
    t0 = time.time()
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "load_before": round(os.getloadavg()[0], 2), "weights": path.name, "seeds": args.seeds,
              "size": args.size, "targets": args.targets, "threads": args.threads,
              "correspondence": args.correspondence,
              "turnaround_order": args.turnaround_order, "styles": {}}
    pictures, faces = {}, {}
    for style in args.styles.split(","):
        result["styles"][style], pictures[style], faces[style] = run_style(style, args, model)
    result["faces"] = face_errors(faces)
    result["faces"]["views"] = args.face_views
    result["seconds"] = round(time.time() - t0, 1)
    result["load_after"] = round(os.getloadavg()[0], 2)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from doc_table import publish

    publish(result, args.json, doc_table(result), args.docs, "sheet-poses")
    for style, f in result["faces"].items():
        if style != "views":
            print(style, f)
    if args.picture:
        columns = [c for c in (("plain lookup", "turnaround", "plain exact lookup"),
                               ("default", "turnaround", "default"), ("default, clip sheet", "clip", "default"))
                   if c[1] in args.sheet_poses.split(",")]
        for k, (style, grids) in enumerate(pictures.items()):
            out = args.picture if k == 0 else args.picture.with_name(f"{args.picture.stem}_{style}.png")
            picture(out, grids, args.face_views, args.targets, columns)
            print(f"picture: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
