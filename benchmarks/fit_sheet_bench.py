"""fit-sheet benchmark: how well ``conrt fit-sheet`` registers drawings of an
unseen procedural character (seed 900001 by default) whose true UDP is known;
``--character godette`` (or a character file): drawings of the real character
Low-Poly Godette instead, made the same way (``--drawing-look toon``: in the
look ``conrt sheet`` draws her, textured).

Drawings come from ``conrt.training.fit_drawings``: toon views off their
labelled angle (yaw ±25°), scaled ±15 %, shifted ±10 %, arms and legs turned
±25° about random axes on an A-pose, limbs stretched ±10 % in 2D,
thicker/thinner ink, another size and aspect; the true UDP goes through the
same transformation. Each sheet has 4 views labelled 0, 45, 90, 180°. Two
modes, same seeds every run:
- ``per_view`` (the issue's benchmark, ``make_drawing``): each drawing its
  own pose;
- ``turnaround`` (``make_turnaround``, what an artist's turnaround is): ONE
  pose per sheet, shared by its views, each view still with its own yaw,
  scale, offset, limb stretch, ink and size; fitted both separately
  (``conrt fit-sheet``) and jointly (``conrt fit-sheet --joint``, its views
  split over ``--jobs`` processes).
``--methods separate,joint,auto`` fits both folders both ways (the joint fit
also on the per-view folders, which are drawings in different poses) and
adds ``conrt fit-sheet``'s default, auto: per sheet the joint rows where the
joint fit's one-pose check (``one_pose="record"``, its gains per sheet in
``per_sheet``) passes ``ONE_POSE_MEAN_GAIN``, else the separate rows;
``--reauto JSON --one-pose-bar X`` recomputes them for another bar, no fit.

Per view, on the drawing's foreground in the framed output (256²):
- silhouette IoU of the fitted rig (``iou_pose``) and after the residual warp
  (``iou_warped``);
- mean |xyz| UDP error (Euclidean, canonical-box units) of the written UDP,
  beside two baselines in the same run: the rig at the labelled angle with
  moment-matched scale/offset in an A-pose (no search), and the fitted rig
  without the residual warp; both get the same nearest fill so every drawn
  pixel has a UDP;
- fit time per 4-view sheet: wall and process CPU seconds, with the load
  average (the machine is shared), and the time to draw the same 4 views
  with the toon and UDP passes (``conrt sheet``'s work) as the same-run
  baseline; per stage of the fit, seconds and toon renders; and the first
  sheet again as ``conrt fit-sheet --jobs 2`` fits it (two worker processes,
  their start included).

Per stage of the fit, the UDP error of the rig alone (nearest fill) shows
where the error comes from (camera, pose, legs, fine pose, then the warp);
per view ``iou_true_pose``: the rig in the drawing's own pose at its own yaw
(camera searched), the ceiling of ``iou_pose``; per mode ``true_pose``: the
fit's last step (residual warp) from that pose and camera, the floor of the
UDP error that finding the true pose would leave (``true_pose_fit``). Per view ``error_where`` (and
``error_where_rig_no_warp``, the fitted rig alone): where the UDP error lies,
by body region of the true surface point (head, torso, arms, legs) and by the
distance to the drawn outline (``ErrorWhere``); their means in the summary.

Usage: python benchmarks/fit_sheet_bench.py [--sheets 2] [--first-sheet 0] [--seed 900001 | --character godette]
       [--jobs 2] [--shading-pictures DIR]
       [--modes per_view,turnaround] [--json benchmarks/results/fit_sheet.json]
       [--methods separate,joint,auto] [--recolour] [--palette auto|keep|match]
       [--reauto JSON [--one-pose-bar X]]
       [--picture docs/fit_sheet_views.png] [--turnaround-picture docs/fit_sheet_turnaround.png]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = (0.0, 45.0, 90.0, 180.0)
GODETTE = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "Godette_vrm_v4.vrm"  # the real character (CC-BY)


def _nearest_fill(fitter, params, drawing):
    from conrt.runtime.app.sheet_fit import warp_udp

    rig = fitter.render_udp(params)
    return warp_udp(rig, np.zeros((2, *drawing.shape[:2]), np.float32), drawing[..., 3] > 0)[0]


def _own_pose(character, seed: int):
    """The pose ``make_drawing(..., seed)`` draws in (its rng draws the yaw first)."""
    from conrt.training.fit_drawings import Deviation, drawing_pose

    rng = np.random.default_rng(seed)
    rng.uniform(-Deviation().yaw_deg, Deviation().yaw_deg)
    return drawing_pose(character, rng, Deviation())


@contextlib.contextmanager
def loaded_procedural(seed: int, size: int = 256):
    """The benchmark's unseen character (``generate(seed)``, saved as a glTF file and
    loaded back, as a user's character file is), a GL context and a ``SheetFitter``
    on it (``size``: the framed drawings' side) -> (character, ctx, fitter); the
    probes' and pictures' shared setup."""
    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.runtime.app.sheet_fit import SheetFitter
    from conrt.shaders import create_context, release_context

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"char_{seed}.glb"
        save_character(generate(seed), path)
        character = load_character(path)
    ctx = create_context("auto")
    try:
        with SheetFitter(ctx, character, size) as fitter:
            yield character, ctx, fitter
    finally:
        release_context(ctx)


def bench_view(ctx, character, mode: str, sheet: int, k: int, size: int = 256):
    """View ``k`` (label ``LABELS[k]``) of the benchmark's sheet ``sheet`` in ``mode``
    (``per_view``: its own pose, seed 1000 * sheet + k; ``turnaround``: the sheet's
    pose) as ``bench`` makes it -> (framed drawing, framed true UDP, truth dict, the
    drawing's pose), the drawing named ``s{sheet}v{k}``."""
    from conrt.runtime.app.session import fit_sheet_udps
    from conrt.runtime.app.sheet_fit import prepare_drawing
    from conrt.training.fit_drawings import Deviation, drawing_pose, make_drawing, make_turnaround

    if mode == "turnaround":
        drawing, true, truth = make_turnaround(ctx, character, LABELS, sheet)[k]
        pose = drawing_pose(character, np.random.default_rng(sheet), Deviation())
    elif mode == "per_view":
        drawing, true, truth = make_drawing(ctx, character, LABELS[k], 1000 * sheet + k)
        pose = _own_pose(character, 1000 * sheet + k)
    else:
        raise ValueError(f"mode {mode!r}: per_view or turnaround")
    return (prepare_drawing(drawing, f"s{sheet}v{k}", size), fit_sheet_udps([true], [drawing], size)[0],
            truth, pose)


VIEW_SPEC_MODES = {"p": "per_view", "t": "turnaround"}


def view_spec(spec: str) -> tuple[str, int, int]:
    """A probe's view name (``p`` per-view / ``t`` turnaround, the sheet digit, the view index into
    ``LABELS``: ``p22`` is the per-view sheet 2's 90-degree view) -> (mode, sheet, k) for ``bench_view``."""
    if len(spec) != 3 or spec[0] not in VIEW_SPEC_MODES or not spec[1].isdigit() or not spec[2].isdigit() \
            or int(spec[2]) >= len(LABELS):
        raise SystemExit(f"view {spec!r}: p or t (per-view / turnaround), a sheet digit, a view index 0-"
                         f"{len(LABELS) - 1} (labels {', '.join(f'{a:g}' for a in LABELS)}), e.g. p22")
    return VIEW_SPEC_MODES[spec[0]], int(spec[1]), int(spec[2])


def true_pose_fit(fitter, drawing, pose, yaw: float, yaw_off: float | None = None):
    """The fit's last step (the rig's UDP, the residual warp: ``SheetFitter._finish``)
    from the rig in the drawing's own pose at its true yaw, the camera's scale and
    offset moment-matched and searched (yaw ±10°): what the fit would write had
    its searches found the truth. Its ``iou_pose`` (full mesh, output size) is the
    ceiling of the fit's; its UDP error the floor the drawing's 2D limb stretch
    and the warp leave. ``yaw_off``: the yaw held that many degrees off the truth
    instead (scale and offset searched): how much a yaw error alone costs.
    -> (ViewFit, the camera's FitParams, the fit's cost there at the fine size)."""
    from conrt.runtime.app.sheet_fit import FitParams, _Clock, _Coarse, downsample_drawing, search_bounds

    fitter.pose = lambda p: pose  # the true pose for every trial (the instance attribute shadows the method)
    try:
        work, fine = downsample_drawing(drawing, fitter.work), downsample_drawing(drawing, fitter.fine)
        start = yaw if yaw_off is None else yaw + yaw_off
        p = fitter.moment_match(fitter.moment_match(FitParams(start), work[0]), work[0])
        steps = np.array([2.0, 0.02, 0.02, 0.02, 0.0, 0.0])
        free = np.array([yaw_off is None] + [True] * 3 + [False] * 2)
        p, cost = fitter._search_bones(p, fine, steps, free, search_bounds(start, 10.0, 0), [], levels=3)[:2]
        coarse = _Coarse(work, [], 0.0, 0.0, yaw, len(fitter.bones))
        return fitter._finish(p, drawing, "true_pose", yaw, coarse, _Clock(fitter)), p, cost
    finally:
        del fitter.pose


@contextlib.contextmanager
def _start_at(fitter, yaw: float):
    """A probe (``--start-at-true-yaw``): the separate fit's pose search starts from one
    candidate, the coarse stage's best camera and arms turned to ``yaw`` (the drawing's
    true yaw) and moment-matched, instead of the two best coarse candidates."""
    from conrt.runtime.app.sheet_fit import FitParams

    coarse = fitter._coarse

    def at_yaw(*args, **kw):
        found = coarse(*args, **kw)
        q = found.candidates[0][0]
        q = FitParams(float(yaw), q.scale, q.offset, q.arms_lowered, dict(q.turns))
        q = fitter.moment_match(fitter.moment_match(q, found.target[0]), found.target[0])
        found.candidates = [(q, *fitter._cost(q, *found.target))]
        return found

    fitter._coarse = at_yaw  # the instance attribute shadows the method
    try:
        yield
    finally:
        del fitter._coarse


def shade_l1(character, toon, udp_pass, sheet, targets: int = 4, frames: list | None = None) -> dict:
    """Shading L1 (premultiplied RGBA, 256², n = 4 views = the first sheet's
    drawings) of ``targets`` new poses of the character with the default
    weights, the sheet's correspondences taken from the fitted UDPs, the true
    UDPs, or the model's own prediction (no sheet UDP); and the flat-colour
    baseline (the target silhouette filled with the sheet's mean colour).
    Face SSIM inside the head's box on screen (``exact_bench._head_box``, as
    ``real_character_bench``). ``frames``: a list that receives per target
    (ground truth, from fitted, from true) [256, 256, 4] f32 premultiplied."""
    import torch
    from exact_bench import _head_box  # lazy: benchmarks/ on sys.path when run as a script

    from conrt.commands.udp import random_pose
    from conrt.runtime.app.session import load_model_source
    from conrt.shaders import frame_character
    from conrt.characters.posing import posed_positions
    from conrt.training.dataset import rgba_to_premul, udp_tensor
    from conrt.training.evaluate import FlatColourBaseline
    from conrt.training.losses import metrics

    model, desc = load_model_source(None)
    imgs = np.stack([img for img, _, _ in sheet])
    prem = rgba_to_premul(imgs)[None]  # [1, M, 4, S, S]
    sheet_rgb, sheet_mask = prem[:, :, :3].contiguous(), prem[:, :, 3:4].contiguous()
    sheet_udps = {"fitted": udp_tensor(np.stack([u for _, u, _ in sheet]))[None],
                  "true": udp_tensor(np.stack([t for _, _, t in sheet]))[None]}
    rows = ("fitted", "true", "predicted", "flat")
    sums: dict[str, list[float]] = {k: [] for k in rows}
    faces: dict[str, list[float]] = {k: [] for k in rows}
    flat = FlatColourBaseline(256)
    with torch.no_grad():
        for k in range(targets):
            pose = random_pose(character, 7000 + k, 0.3)
            cam = frame_character(posed_positions(character, pose), yaw=float(20 + 97 * k), size=256)
            target = rgba_to_premul(toon.run(pose, cam))[None]
            udp = udp_tensor(udp_pass.run(pose, cam).data)[None]
            x0, y0, x1, y1 = _head_box(character, pose, cam, 256)
            box = torch.tensor([[y0, y1, x0, x1]], dtype=torch.float32)
            preds = {name: model(sheet_rgb, sheet_mask, udp, sheet_udp=sheet_udps[name]) for name in ("fitted", "true")}
            preds["predicted"] = model(sheet_rgb, sheet_mask, udp)
            preds["flat"] = flat(sheet_rgb, sheet_mask, udp)
            for name, pred in preds.items():
                m = metrics(pred, target, box)
                sums[name].append(float(m["l1"][0]))
                faces[name].append(float(m["face_ssim"][0]))
            if frames is not None:
                frames.append(tuple(x[0].numpy().transpose(1, 2, 0) for x in (target, preds["fitted"], preds["true"])))
    l1 = {k: round(statistics.fmean(v), 5) for k, v in sums.items()}
    face = {k: round(float(np.nanmean(v)), 4) for k, v in faces.items()}
    return {"model": desc, "views": len(sheet), "size": 256, "targets": targets, "l1": l1,
            "vs_flat": {k: round(v / l1["flat"], 3) for k, v in l1.items()},
            "fitted_vs_true": round(l1["fitted"] / l1["true"], 3), "face_ssim": face}


def shading_picture(sheet, frames, path: Path) -> None:
    """Per row k: drawing k (framed) | its fitted UDP | target k shaded from the
    fitted sheet UDPs | from the true ones | the ground truth (toon pass), over
    the docs' grey (``scripts/picture_grid.py``)."""
    from PIL import Image

    from conrt.runtime.app.frame_loop import over_background, udp_preview

    grey = (235 / 255,) * 3
    rows = []
    for (img, fitted, _), (target, from_fitted, from_true) in zip(sheet, frames):
        a = img[..., 3:4].astype(np.float32) / 255
        drawing = np.concatenate([img[..., :3].astype(np.float32) / 255 * a, a], -1)
        u = udp_preview(fitted).astype(np.float32) / 255
        tiles = [drawing, np.concatenate([u[..., :3] * u[..., 3:], u[..., 3:]], -1), from_fitted, from_true, target]
        rows.append(np.concatenate([over_background(t, grey) for t in tiles], 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(crop_tiles(np.concatenate(rows, 0), len(tiles))).save(path, optimize=True)


def crop_tiles(picture: np.ndarray, tiles: int, pad: int = 6) -> np.ndarray:
    """[H, tiles * W, 3] u8 of equal tiles side by side on a flat background -> each
    tile cut to the columns where any tile shows something (+ ``pad``): a slim
    character's picture without its empty sides (the docs' pictures stay small)."""
    w = picture.shape[1] // tiles
    cut = picture.reshape(picture.shape[0], tiles, w, 3)
    used = np.nonzero((cut != picture[0, 0]).any(-1).any((0, 1)))[0]
    x0, x1 = max(0, used.min() - pad), min(w, used.max() + 1 + pad)
    return cut[:, :, x0:x1].reshape(picture.shape[0], -1, 3)


def jobs_wall(character_path: Path, framed, jobs: int) -> dict:
    """Wall time of fitting ``framed`` as ``conrt fit-sheet --jobs N`` does (N
    worker processes, each its own GL context; their start included), the load
    average before and after, and the workers' CPU seconds."""
    import argparse
    import resource

    from conrt.commands.fit_sheet import fit_views

    args = argparse.Namespace(jobs=jobs, size=256, work=128, context="auto", separate=True)
    load0 = os.getloadavg()[0]
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    fits = fit_views(character_path, None, framed, [f"v{k}" for k in range(len(framed))], list(LABELS), args)[0]
    wall = time.perf_counter() - w0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime
    views_cpu = [f.cpu_seconds for f in fits]
    # on idle cores, each worker on a core of its own: its start (the workers' CPU beyond their
    # fits, shared alike), then the views in order, each to the worker free first (as the pool hands them)
    start = max(0.0, workers_cpu - sum(views_cpu)) / jobs
    free = [start] * jobs
    for t in views_cpu:
        free[free.index(min(free))] += t
    return {"jobs": jobs, "wall_s": round(wall, 2), "workers_cpu_s": round(workers_cpu, 2),
            "views_cpu_s": [round(t, 2) for t in views_cpu], "worker_start_cpu_s": round(start, 2),
            "idle_cores_wall_estimate_s": round(max(free), 2),
            "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]}


# Where a view's UDP error lies (error_where): body regions by the dominant joint of the
# surface point the true UDP names, and bands by the distance to the drawn outline.
REGIONS = {"head": ("neck", "head", "leftEye", "rightEye", "jaw"),
           "torso": ("hips", "spine", "chest", "upperChest"),
           "arms": ("leftShoulder", "leftUpperArm", "leftLowerArm", "leftHand",
                    "rightShoulder", "rightUpperArm", "rightLowerArm", "rightHand"),
           "legs": ("leftUpperLeg", "leftLowerLeg", "leftFoot", "leftToes",
                    "rightUpperLeg", "rightLowerLeg", "rightFoot", "rightToes")}
CONTOUR_BANDS_PX = (2.0, 6.0)  # at 256²: the outline and a line or two inside it, the band beyond, the interior


def vertex_regions(character, regions: dict) -> tuple:
    """(a KD-tree over the vertices' UDP landmarks, each vertex's region index):
    the region of ``regions`` (name -> humanoid bones) holding the vertex's
    dominant joint; a joint outside the humanoid map (hair, skirt) takes its
    nearest mapped ancestor's region, -1 where none is mapped."""
    from scipy.spatial import cKDTree  # lazy: scipy only where regions are asked for

    mesh = character.mesh
    dominant = mesh.joints[np.arange(mesh.num_vertices), np.argmax(mesh.weights, 1)]
    region_of_joint = np.full(len(character.skeleton.names), -1)
    for r, bones in enumerate(regions.values()):
        for b in bones:
            if b in character.humanoid:
                region_of_joint[character.humanoid[b]] = r
    parents = character.skeleton.parents
    for j in range(len(region_of_joint)):
        a = j
        while region_of_joint[a] < 0 and parents[a] >= 0:
            a = parents[a]
        region_of_joint[j] = region_of_joint[a]
    return cKDTree(character.box.landmarks(mesh.positions)), region_of_joint[dominant]


class ErrorWhere:
    """Splits a view's UDP error (``udp_error``'s foreground and norm) by where it
    lies: the body region of each drawn pixel's true surface point (the nearest
    vertex in UDP space to the true UDP, its dominant joint, ``REGIONS``) and its
    distance to the drawn outline (``CONTOUR_BANDS_PX``)."""

    def __init__(self, character):
        self.tree, self.vertex_region = vertex_regions(character, REGIONS)

    def __call__(self, fitted: np.ndarray, true: np.ndarray, drawing: np.ndarray) -> dict:
        from scipy.ndimage import distance_transform_edt

        fg = (drawing[..., 3] >= 128) & (true[..., 3] > 0)
        norm = np.linalg.norm(fitted[fg, :3] - true[fg, :3], axis=-1)
        total = float(norm.sum()) or 1.0
        region = self.vertex_region[self.tree.query(true[fg, :3])[1]]
        inside = distance_transform_edt(drawing[..., 3] >= 128)[fg]  # 1 on the outline's pixels
        bands = np.digitize(inside, CONTOUR_BANDS_PX, right=True)
        lo, hi = CONTOUR_BANDS_PX
        groups = {**{f"region_{name}": region == r for r, name in enumerate(REGIONS)},
                  f"outline_le_{lo:g}px": bands == 0, f"outline_{lo:g}_{hi:g}px": bands == 1,
                  f"interior_gt_{hi:g}px": bands == 2}
        return {k: {"share_px": round(float(m.mean()), 4),
                    "udp_error": round(float(norm[m].mean()), 4) if m.any() else None,
                    "share_error": round(float(norm[m].sum()) / total, 4)} for k, m in groups.items()}


def _where_summary(views: list[dict], key: str = "error_where") -> dict:
    """Per group of :class:`ErrorWhere`, over the views: mean share of the pixels,
    mean UDP error and the share of the summed error (views weighted alike)."""
    out = {}
    for k in views[0][key]:
        rows = [v[key][k] for v in views]
        errs = [r["udp_error"] for r in rows if r["udp_error"] is not None]
        out[k] = {"share_px": round(statistics.fmean(r["share_px"] for r in rows), 4),
                  "udp_error": round(statistics.fmean(errs), 4) if errs else None,
                  "share_error": round(statistics.fmean(r["share_error"] for r in rows), 4)}
    return out


def auto_rows(rows: dict, bar: float) -> dict:
    """``conrt fit-sheet``'s auto mode from the same run's rows: per sheet the joint
    fit's where its one-pose check's mean gain is <= ``bar``, else the separate
    fits' (``rows[method]``: views, per_sheet, pictures, shading, as ``bench`` keeps them)."""
    out = {"views": [], "per_sheet": [], "pictures": [], "shading": []}
    n = len(LABELS)
    for i, joint_row in enumerate(rows["joint"]["per_sheet"]):
        check = joint_row["one_pose_check"]
        mean = check.get("mean_gain", float(np.mean(list(check["gains"].values()))))  # (s14 rows: gains only)
        picked = "joint" if mean <= bar else "separate"
        out["per_sheet"].append({**rows[picked]["per_sheet"][i], "picked": picked, "bar": bar,
                                 "one_pose_check": check})
        out["views"] += rows[picked]["views"][i * n:(i + 1) * n]
        if i == 0:
            out["pictures"] += rows[picked]["pictures"]
            out["shading"] += rows[picked]["shading"]
    return out


def _stat(values, worst=max) -> dict:
    return {"median": round(statistics.median(values), 4), "mean": round(statistics.fmean(values), 4),
            "worst": round(worst(values), 4)}


def _summary(views: list[dict], sheet_rows: list[dict]) -> dict:
    stages = [k for k in views[0]["stage_udp_error"] if all(k in v["stage_udp_error"] for v in views)]  # auto: mixed
    return {
        "iou_pose": _stat([v["fit"]["iou_pose"] for v in views], min),
        "iou_true_pose": _stat([v["iou_true_pose"] for v in views], min),
        "iou_warped": _stat([v["fit"]["iou_warped"] for v in views], min),
        "udp_error_fitted": _stat([v["fitted"]["udp_error"] for v in views]),
        "udp_error_rig_no_warp": _stat([v["baseline_rig_no_warp"]["udp_error"] for v in views]),
        "udp_error_label_moments": _stat([v["baseline_label_moments"]["udp_error"] for v in views]),
        # where the error comes from: the rig (nearest fill, no warp) after each stage of the fit
        "udp_error_by_stage": {k: round(statistics.fmean([v["stage_udp_error"][k] for v in views]), 4)
                               for k in stages},
        "yaw_error_deg": _stat([v["yaw_error"] for v in views]),
        "error_where": _where_summary(views),
        "error_where_rig_no_warp": _where_summary(views, "error_where_rig_no_warp"),
        "sheet_wall_s": [r["wall_s"] for r in sheet_rows], "sheet_cpu_s": [r["cpu_s"] for r in sheet_rows],
        "fit_vs_draw_ratio": [round(r["wall_s"] / r["draw_4_views_s"], 1) for r in sheet_rows],
        "sheet_jobs_wall_s": [r["jobs"]["wall_s"] for r in sheet_rows if "jobs" in r],
    }


def bench(sheets: int, seed: int, picture: Path | None, shading: bool = True, jobs: int = 2,
          modes=("per_view", "turnaround"), turnaround_picture: Path | None = None,
          part_weight: float | None = None, methods=("separate", "joint"), colour_weight: float | None = None,
          joint_part_weight: float | None = None, joint_fine_levels: int | None = None,
          recoloured: bool = False, palette: str | None = None, joint_min_gain: float | None = None,
          first_sheet: int = 0, true_pose_yaw_offsets=(), start_at_true_yaw: bool = False,
          limb_starts=None, yaw_line: float | None = None, drawing_look: str | None = None,
          fitter_look: str | None = None, front_pose_candidates: int | None = None, fine_restart: str | None = None,
          character_file: Path | None = None, shading_pictures: Path | None = None,
          side_orders=None, other_orders=None) -> dict:
    """Per mode (``per_view``: each drawing its own pose, the issue's
    benchmark; ``turnaround``: one pose per sheet, shared by its 4 views) and
    per method (``separate``: ``conrt fit-sheet``; ``joint``: ``conrt
    fit-sheet --joint``, turnarounds only) the per-view errors, per-stage
    errors, times and shading L1, all on the same drawings (same seeds).
    ``recoloured``: every drawing in another palette (``fit_drawings.recolour``,
    seed = the sheet: its views alike, as one artist draws them; the true UDP
    unchanged), as an artist's colours differ from the rig's; ``palette``: the
    fitter's palette mode. ``character_file``: drawings of this character file
    (e.g. Godette) instead of the procedural character ``seed``;
    ``shading_pictures``: a folder for the shading pictures
    (:func:`shading_picture`), one per mode and method."""
    from PIL import Image
    from tqdm import tqdm

    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.runtime.app.session import fit_sheet_udps
    from conrt.runtime.app.sheet_fit import (COLOUR_WEIGHT, JOINT_FINE_LEVELS, JOINT_MIN_GAIN, JOINT_PART_WEIGHT,
                                             FINE_RESTART, MIN_IOU, ONE_POSE_MEAN_GAIN, PALETTE, PART_WEIGHT, SEPARATE_LIMB_STARTS,
                                             FIT_LOOK, JOINT_YAW_LINE_DEG, FRONT_POSE_CANDIDATES,
                                             SEPARATE_SIDE_ORDERS, OTHER_VIEW_ORDERS, FitParams, SheetFitter,
                                             downsample_drawing, fit_picture, prepare_drawing)
    from conrt.shaders import ToonPass, UdpPass, create_context, frame_character, release_context
    from conrt.training.fit_drawings import (Deviation, drawing_pose, make_drawing, make_turnaround, recolour,
                                             udp_error)

    tmp = tempfile.TemporaryDirectory()
    if character_file is None:
        path = Path(tmp.name) / f"char_{seed}.glb"  # kept for the --jobs 2 workers
        save_character(generate(seed), path)
    else:
        path = Path(character_file)
    character = load_character(path)
    ctx = create_context("auto")
    out: dict = {}
    part_weight = PART_WEIGHT if part_weight is None else part_weight
    colour_weight = COLOUR_WEIGHT if colour_weight is None else colour_weight
    joint_part_weight = JOINT_PART_WEIGHT if joint_part_weight is None else joint_part_weight
    joint_fine_levels = JOINT_FINE_LEVELS if joint_fine_levels is None else joint_fine_levels
    palette = PALETTE if palette is None else palette
    joint_min_gain = JOINT_MIN_GAIN if joint_min_gain is None else joint_min_gain
    limb_starts = SEPARATE_LIMB_STARTS if limb_starts is None else limb_starts
    yaw_line = JOINT_YAW_LINE_DEG if yaw_line is None else yaw_line
    fitter_look = FIT_LOOK if fitter_look is None else fitter_look
    drawing_look = FIT_LOOK if drawing_look is None else drawing_look
    front_pose_candidates = FRONT_POSE_CANDIDATES if front_pose_candidates is None else front_pose_candidates
    fine_restart = FINE_RESTART if fine_restart is None else fine_restart
    try:
        with SheetFitter(ctx, character, 256, part_weight=part_weight, colour_weight=colour_weight,
                         joint_part_weight=joint_part_weight, joint_fine_levels=joint_fine_levels,
                         palette=palette, joint_min_gain=joint_min_gain, limb_starts=limb_starts,
                         joint_yaw_line=yaw_line, look=fitter_look, front_pose_candidates=front_pose_candidates,
                         fine_restart=fine_restart,
                         side_orders=SEPARATE_SIDE_ORDERS if side_orders is None else side_orders,
                         other_orders=OTHER_VIEW_ORDERS if other_orders is None else other_orders) as fitter, \
                ToonPass(ctx, 256, 256) as toon, \
                UdpPass(ctx, 256, 256) as udp_pass:
            toon.set_character(character)
            udp_pass.set_character(character)

            where = ErrorWhere(character)

            def nearest_error(params, img, true_framed):
                return udp_error(_nearest_fill(fitter, params, img), true_framed, img)["udp_error"]

            for mode in modes:
                # auto (conrt fit-sheet's default) is not fitted again: per sheet the joint fit's rows where its
                # one-pose check (run in the joint fit, ``one_pose="record"``) says one pose, else the separate's
                mode_methods = tuple(m for m in methods if m != "auto")
                rows = {m: {"views": [], "per_sheet": [], "pictures": [], "shading": []} for m in methods}
                true_rows: list[dict] = []  # per view: the fit's last step from the drawing's own pose
                for sheet in tqdm(range(first_sheet, first_sheet + sheets), desc=f"{mode} sheets", unit="sheet"):
                    if mode == "turnaround":
                        made = make_turnaround(ctx, character, LABELS, sheet, look=drawing_look)
                        poses = [drawing_pose(character, np.random.default_rng(sheet), Deviation())] * len(LABELS)
                    else:
                        made = [make_drawing(ctx, character, label, 1000 * sheet + k, look=drawing_look)
                                for k, label in enumerate(LABELS)]
                        poses = [_own_pose(character, 1000 * sheet + k) for k in range(len(LABELS))]
                    names = [f"s{sheet}v{k}" for k in range(len(LABELS))]
                    if recoloured:  # one artist, one palette: the sheet's views recoloured alike
                        made = [(recolour(d, sheet), t, {**truth, "recoloured": sheet}) for d, t, truth in made]
                    framed = [prepare_drawing(d, n, 256) for n, (d, _, _) in zip(names, made)]
                    trues = [fit_sheet_udps([t], [d], 256)[0] for d, t, _ in made]
                    # same-run baseline: drawing these 4 views (toon + UDP at 256², conrt sheet's work)
                    t0 = time.perf_counter()
                    for label in LABELS:
                        p = FitParams(label)
                        cam = frame_character(character.mesh.positions, yaw=label, size=256)
                        toon.run(fitter.pose(p), cam)
                        udp_pass.run(fitter.pose(p), cam)
                    draw_s = time.perf_counter() - t0
                    # the ceiling of the rig's silhouette IoU and the floor of the UDP error: the drawing's
                    # own pose at its own yaw
                    true_ious = []
                    for k, (img, pose, (_, _, truth), true_framed) in enumerate(zip(framed, poses, made, trues)):
                        own, own_params, own_cost = true_pose_fit(fitter, img, pose, truth["yaw"])
                        off = {d: true_pose_fit(fitter, img, pose, truth["yaw"], d) for d in true_pose_yaw_offsets}
                        true_ious.append(own.iou_pose)
                        fitter.pose = lambda p, pose=pose: pose  # the nearest fill of the true pose
                        try:
                            own_rig = _nearest_fill(fitter, own_params, img)
                        finally:
                            del fitter.pose
                        true_rows.append({"sheet": sheet, "view": k, "iou_true_pose": round(own.iou_pose, 4),
                                          "cost": round(own_cost, 4),
                                          "yaw_found_off": round(own_params.yaw - truth["yaw"], 2),
                                          "iou_warped": round(own.iou_warped, 4),
                                          "udp_error": udp_error(own.udp, true_framed, img),
                                          "udp_error_no_warp": udp_error(own_rig, true_framed, img),
                                          "error_where": where(own.udp, true_framed, img),
                                          "udp_error_yaw_off": {
                                              f"{d:g}": round(udp_error(f.udp, true_framed, img)["udp_error"], 4)
                                              for d, (f, _, _) in off.items()},
                                          "cost_yaw_off": {f"{d:g}": round(c, 4) for d, (_, _, c) in off.items()}})
                    for method in mode_methods:
                        stage_err: list[dict] = [{} for _ in framed]

                        def trace(stage, params, first=0):
                            for k, p in enumerate(params, first):
                                stage_err[k][stage] = round(nearest_error(p, framed[k], trues[k]), 4)

                        load0 = os.getloadavg()[0]
                        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        w0, p0 = time.perf_counter(), time.process_time()
                        traced = [0.0]

                        def timed_trace(*a, **kw):  # the trace's renders are the benchmark's, not the fit's
                            t = time.perf_counter()
                            trace(*a, **kw)
                            traced[0] += time.perf_counter() - t

                        if method == "joint":  # as `conrt fit-sheet --joint --jobs 2` runs it
                            fits = fitter.fit_joint(framed, names, list(LABELS), trace=timed_trace, jobs=jobs,
                                                    one_pose="record")
                        elif method == "auto_run":  # as `conrt fit-sheet --jobs 2` (auto) runs it
                            fits = fitter.fit_joint(framed, names, list(LABELS), trace=timed_trace, jobs=jobs,
                                                    one_pose="separate", min_iou=MIN_IOU)
                        elif start_at_true_yaw:  # the probe: the pose search from the truth's yaw
                            fits = []
                            for k, (img, n, label) in enumerate(zip(framed, names, LABELS)):
                                with _start_at(fitter, made[k][2]["yaw"]):
                                    fits.append(fitter.fit(img, n, label,
                                                           trace=lambda s, ps, k=k: timed_trace(s, ps, k)))
                        else:
                            fits = [fitter.fit(img, n, label, trace=lambda s, ps, k=k: timed_trace(s, ps, k))
                                    for k, (img, n, label) in enumerate(zip(framed, names, LABELS))]
                        wall = time.perf_counter() - w0 - traced[0]
                        cpu = time.process_time() - p0 - traced[0]
                        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        child = c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime
                        row = {"wall_s": round(wall, 2), "cpu_s": round(cpu + child, 2),
                               "worker_cpu_s": round(child, 2),
                               "processes": 2 if method in ("joint", "auto_run") and jobs > 1 else 1,
                               "draw_4_views_s": round(draw_s, 3),
                               "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
                               "stages_s": {k: round(sum(f.stages[k][0] for f in fits), 2) for k in fits[0].stages},
                               "renders": sum(sum(n for _, n in f.stages.values()) for f in fits)}
                        if sheet == first_sheet and jobs > 1 and method == "separate" and mode == "turnaround":
                            # `conrt fit-sheet --jobs 2` beside `--joint --jobs 2` (the per-view mode's
                            # separate fit is the turnaround's, unchanged: timed in-process only)
                            row["jobs"] = jobs_wall(path, framed, jobs)
                        if method in ("joint", "auto_run"):
                            row["one_pose_check"] = fitter.one_pose_check
                        rows[method]["per_sheet"].append(row)
                        for k, ((drawing, _, truth), img, true_framed, fit) in enumerate(zip(made, framed, trues, fits)):
                            start = fitter.moment_match(FitParams(truth["label_yaw"]),
                                                        downsample_drawing(img, fitter.work)[0])
                            rig_alone = _nearest_fill(fitter, fit.params, img)
                            rows[method]["views"].append({
                                "sheet": sheet, "view": k, "truth": truth, "fit": fit.summary(),
                                "iou_true_pose": round(true_ious[k], 4),
                                "yaw_error": round(abs((fit.params.yaw - truth["yaw"] + 180) % 360 - 180), 2),
                                "fitted": udp_error(fit.udp, true_framed, img),
                                "error_where": where(fit.udp, true_framed, img),
                                "baseline_label_moments": udp_error(_nearest_fill(fitter, start, img), true_framed, img),
                                "baseline_rig_no_warp": udp_error(rig_alone, true_framed, img),
                                "error_where_rig_no_warp": where(rig_alone, true_framed, img),
                                "stage_udp_error": {**stage_err[k], "warp": round(udp_error(fit.udp, true_framed,
                                                                                            img)["udp_error"], 4)}})
                            if sheet == first_sheet:
                                rows[method]["pictures"].append(fit_picture(img, fit))
                                rows[method]["shading"].append((img, fit.udp, true_framed))
                    if "joint" in rows:  # the check as it goes (the JSON is written at the end)
                        print(mode, sheet, json.dumps(rows["joint"]["per_sheet"][-1]["one_pose_check"]), flush=True)
                if "auto" in rows:
                    rows["auto"] = auto_rows(rows, ONE_POSE_MEAN_GAIN)
                out[mode] = {"true_pose": {"summary": {
                    "iou_true_pose": _stat([v["iou_true_pose"] for v in true_rows], min),
                    "iou_warped": _stat([v["iou_warped"] for v in true_rows], min),
                    "udp_error": _stat([v["udp_error"]["udp_error"] for v in true_rows]),
                    "udp_error_no_warp": _stat([v["udp_error_no_warp"]["udp_error"] for v in true_rows]),
                    "error_where": _where_summary(true_rows),
                    "udp_error_yaw_off": {f"{d:g}": _stat([v["udp_error_yaw_off"][f"{d:g}"] for v in true_rows])
                                          for d in true_pose_yaw_offsets}}, "views": true_rows}}
                frames: dict[str, list] = {method: [] for method in rows}
                for method, r in rows.items():
                    out[mode][method] = {"summary": _summary(r["views"], r["per_sheet"]),
                                         "shading_l1": shade_l1(character, toon, udp_pass, r["shading"],
                                                                frames=frames[method]) if shading else None,
                                         "per_sheet": r["per_sheet"], "views": r["views"]}
                    if shading and shading_pictures is not None:
                        shading_picture(r["shading"], frames[method],
                                        shading_pictures / f"fit_sheet_shading_{mode}_{method}.png")
                    target = picture if mode == "per_view" else turnaround_picture if method == "joint" else None
                    if target is not None:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        Image.fromarray(np.concatenate(r["pictures"], 0)).save(target)
    finally:
        release_context(ctx)
        tmp.cleanup()
    return {
        "what": "conrt fit-sheet on synthetic drawings of an unseen procedural character "
                "(benchmarks/fit_sheet_bench.py)",
        "character_seed": None if character_file is not None else seed,
        "character_file": None if character_file is None else str(character_file),
        "first_sheet": first_sheet, "part_weight": part_weight, "joint_part_weight": joint_part_weight,
        "recoloured": recoloured, "palette": palette,
        "joint_fine_levels": joint_fine_levels, "joint_min_gain": joint_min_gain,
        "limb_starts": list(limb_starts), "yaw_line_deg": yaw_line, "drawing_look": drawing_look,
        "fitter_look": fitter_look, "front_pose_candidates": front_pose_candidates, "fine_restart": fine_restart,
        "side_orders": list(fitter.side_orders), "other_orders": list(fitter.other_orders),
        "start_at_true_yaw": start_at_true_yaw,
        "colour_weight": colour_weight, "sheets": sheets, "views_per_sheet": len(LABELS),
        "labels": list(LABELS),
        "modes": {"per_view": "each drawing its own pose (seeds 1000 * sheet + view)",
                  "turnaround": "one pose per sheet (seed = sheet), shared by its views; per view its own yaw, "
                                "scale, offset, limb stretch, ink, size (seeds 100 * sheet + view + 1)"},
        "methods": {"separate": "conrt fit-sheet (each drawing its own pose), in one process",
                    "joint": "conrt fit-sheet --joint --jobs 2 (one pose for the sheet; views split over 2 processes)",
                    "auto": "conrt fit-sheet (auto): the joint rows where the joint fit's one-pose check passed "
                            "(per_sheet one_pose_check), else the separate rows; time: the picked method's",
                    "auto_run": "conrt fit-sheet --jobs 2 (auto) fitted: the joint fit with its one-pose check, "
                                "where not one pose each view's separate fit from the joint fit's coarse stage"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "note": "shared 2-core machine: wall time depends on the load average reported per sheet; "
                            "cpu_s counts this process and its worker, without the per-stage error renders"},
        **out,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sheets", type=int, default=2)
    ap.add_argument("--first-sheet", type=int, default=0,
                    help="the first sheet's seed (more sheets for a change that moves single views)")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--character", default=None,
                    help="drawings of this character instead of the procedural one (--seed): a character file, "
                         f"or 'godette' ({GODETTE.relative_to(ROOT)})")
    ap.add_argument("--shading-pictures", type=Path, default=None,
                    help="a folder for the shading pictures, one per mode and method: drawing | fitted UDP | a new "
                         "pose shaded from the fitted sheet UDPs | from the true ones | ground truth")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fit_sheet.json")
    ap.add_argument("--picture", type=Path, default=ROOT / "docs" / "fit_sheet_views.png")
    ap.add_argument("--turnaround-picture", type=Path, default=ROOT / "docs" / "fit_sheet_turnaround.png")
    ap.add_argument("--modes", default="per_view,turnaround",
                    help="per_view (each drawing its own pose), turnaround (one pose per sheet), comma separated")
    ap.add_argument("--no-shading", action="store_true", help="skip the shading L1 comparison")
    ap.add_argument("--jobs", type=int, default=2,
                    help="also time the first sheet fitted as `conrt fit-sheet --jobs N` does (1: skip)")
    ap.add_argument("--part-weight", type=float, default=None,
                    help="weight of the part term in the separate fit (default: PART_WEIGHT of sheet_fit.py; 0: none)")
    ap.add_argument("--recolour", action="store_true",
                    help="every drawing in another palette (hue turned 40-140 degrees, saturation and brightness "
                         "scaled: fit_drawings.recolour); the true UDP unchanged")
    ap.add_argument("--palette", default=None, choices=("auto", "keep", "match"),
                    help="the fitter's palette mode (default: PALETTE of sheet_fit.py)")
    ap.add_argument("--methods", default="separate,joint",
                    help="methods: separate (conrt fit-sheet --separate), joint (--joint), auto (the default: the "
                         "joint fit's rows where its one-pose check passes, else the separate's; needs both), "
                         "auto_run (the default fitted: its fallback's separate fits start from the joint fit's "
                         "coarse stage), comma separated")
    ap.add_argument("--colour-weight", type=float, default=None,
                    help="weight of the mean colour error on the overlap (default: COLOUR_WEIGHT)")
    ap.add_argument("--joint-fine-levels", type=int, default=None,
                    help="levels of the joint fit's fine pose search (default: JOINT_FINE_LEVELS)")
    ap.add_argument("--joint-part-weight", type=float, default=None,
                    help="weight of the part term in the joint fit (default: JOINT_PART_WEIGHT; 0: none)")
    ap.add_argument("--joint-min-gain", type=float, default=None,
                    help="a joint search level ends when a sweep gains less (default: JOINT_MIN_GAIN; 0: the search "
                         "before it)")
    ap.add_argument("--true-pose-yaw-offsets", default="",
                    help="also the fit's last step from the drawing's own pose with the yaw held these many degrees "
                         "off the truth, comma separated (how much a yaw error alone costs; default: none)")
    ap.add_argument("--start-at-true-yaw", action="store_true",
                    help="a probe: the separate fit's pose search started at the drawing's true yaw (one candidate)")
    ap.add_argument("--limb-starts", default=None,
                    help="the fits' extra leg starts (the separate fit's on front views only), names of LIMB_STARTS in "
                         "sheet_fit.py, comma separated (default: SEPARATE_LIMB_STARTS; '' none)")
    ap.add_argument("--yaw-line", type=float, default=None,
                    help="the joint fit's last yaw line search, degrees apart (default: JOINT_YAW_LINE_DEG; 0: off)")
    ap.add_argument("--drawing-look", default=None, choices=("toon", "before_skin_rule"),
                    help="the toon look the drawings are made in (default: FIT_LOOK of sheet_fit.py)")
    ap.add_argument("--fitter-look", default=None, choices=("toon", "before_skin_rule"),
                    help="the toon look the fitter renders in (default: FIT_LOOK of sheet_fit.py)")
    ap.add_argument("--fine-restart", default=None, choices=("off", "held"),
                    help="the separate fit's restarts after pose_fine (default: FINE_RESTART of sheet_fit.py)")
    ap.add_argument("--side-orders", default=None,
                    help="the separate fit's side views' other orders, comma separated from SIDE_ORDERS, 'none': "
                         "off (default: SEPARATE_SIDE_ORDERS of sheet_fit.py)")
    ap.add_argument("--other-orders", default=None, choices=("none", "arms", "legs", "legs,arms"),
                    help="the same orders on the other views (front, 3/4, back; default: OTHER_VIEW_ORDERS)")
    ap.add_argument("--front-pose-candidates", type=int, default=None, choices=(1, 2, 3),
                    help="coarse candidates the separate fit's pose search starts from on front views "
                         "(default: FRONT_POSE_CANDIDATES; other views: POSE_CANDIDATES)")
    ap.add_argument("--reauto", type=Path, default=None,
                    help="no fit: recompute the auto rows of this saved result (it has separate and joint rows) "
                         "with --one-pose-bar, written back into it")
    ap.add_argument("--one-pose-bar", type=float, default=None,
                    help="with --reauto: the one-pose check's bar (default: ONE_POSE_MEAN_GAIN of sheet_fit.py)")
    args = ap.parse_args()
    if args.reauto is not None:
        from conrt.runtime.app.sheet_fit import ONE_POSE_MEAN_GAIN

        bar = ONE_POSE_MEAN_GAIN if args.one_pose_bar is None else args.one_pose_bar
        result = json.loads(args.reauto.read_text())
        for mode in ("per_view", "turnaround"):
            if mode in result and {"joint", "separate"} <= set(result[mode]):
                rows = {m: {**result[mode][m], "pictures": [], "shading": []} for m in ("joint", "separate")}
                auto = auto_rows(rows, bar)
                result[mode]["auto"] = {"summary": _summary(auto["views"], auto["per_sheet"]), "shading_l1": None,
                                        "per_sheet": auto["per_sheet"], "views": auto["views"]}
                print(mode, "auto picks", [r["picked"] for r in auto["per_sheet"]],
                      result[mode]["auto"]["summary"]["udp_error_fitted"])
        args.reauto.write_text(json.dumps(result, indent=1))
        return 0
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    methods = {m.strip() for m in args.methods.split(",") if m.strip()}
    if not methods or methods - {"separate", "joint", "auto", "auto_run"} or ("auto" in methods and
                                                                              not {"separate", "joint"} <= methods):
        ap.error(f"--methods takes separate, joint, auto (auto with both others), auto_run, got {args.methods!r}")
    if not modes or set(modes) - {"per_view", "turnaround"}:
        ap.error(f"--modes takes per_view and/or turnaround, got {args.modes!r}")
    result = bench(args.sheets, args.seed, args.picture, not args.no_shading, args.jobs, modes,
                   args.turnaround_picture, args.part_weight,
                   tuple(m.strip() for m in args.methods.split(",") if m.strip()), args.colour_weight,
                   args.joint_part_weight, args.joint_fine_levels, args.recolour, args.palette,
                   args.joint_min_gain, args.first_sheet,
                   tuple(float(d) for d in args.true_pose_yaw_offsets.split(",") if d.strip()),
                   args.start_at_true_yaw,
                   None if args.limb_starts is None else
                   tuple(n.strip() for n in args.limb_starts.split(",") if n.strip()),
                   args.yaw_line, args.drawing_look, args.fitter_look, args.front_pose_candidates, args.fine_restart,
                   None if args.character is None else GODETTE if args.character == "godette" else Path(args.character),
                   args.shading_pictures,
                   side_orders=None if args.side_orders is None else
                   tuple(o.strip() for o in args.side_orders.split(",") if o.strip() and o.strip() != "none"),
                   other_orders=None if args.other_orders is None else
                   tuple(o for o in args.other_orders.split(",") if o != "none"))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps({mode: {method: {"summary": r["summary"], "shading_l1": r.get("shading_l1")}
                             for method, r in result[mode].items()} for mode in modes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
