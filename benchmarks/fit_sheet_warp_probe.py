"""The residual warp (``sheet_fit.residual_warp``, step 3 of the fit) on the benchmark's fitted views,
without refitting: a probe for issue #16 (session 16).

``--build``: the fits are deterministic and ``fit_sheet_bench.py`` stores each view's camera and pose
(``fit.summary()``: yaw, scale, offset, arms, turns, rounded to 0.01° / 1e-4), so the fitted rig is
rendered again from those stored rows (``SOURCES``: main's per-view separate fits and turnaround joint
fits of sheets 0-7), with the drawing and its true UDP made again from the same seeds
(``bench_view``); per view the cache holds what the warp needs at the output size (256²): the drawing,
the true UDP, the rig's UDP, toon colours and part labels (``PartLabels``), the drawing's part labels,
the row's UDP error. ``--check`` (with the build) warps each view with main's warp and compares the
UDP error with the stored row's: the cache is the bench's fits.

Then (no GL) each warp variant runs on every cached view: mean and median UDP error (as the bench:
``udp_error`` after ``warp_udp``'s nearest fill), silhouette IoU after the warp, process CPU seconds a
view (the warp and ``warp_udp``). Variants: ``none`` (the rig alone), ``main`` (the warp before session
16: half then full size, nearest samples), ``fitter`` (``WARP_LEVELS``), or a spec
(:func:`parse_variant`: pyramid levels, steps, sigmas, clips, part-label channels, per-part
pre-alignment); ``/b0.02`` at the end: ``warp_udp``'s blend (``WARP_UDP_BLEND``).
``--oracle``: what any 2D warp of the fitted rig could reach (the ideal field from the true UDP).
``--fitter-check 0,1,4,5``: ``SheetFitter._finish`` itself (GL) from the stored fits.
``--picture KEY``: the docs' picture (``docs/fit_sheet_warp.png``).
``--lines``: where the fitter's warp leaves its error (outline, inner jumps, the rest) and how far the
warped rig's inner lines lie from the drawn ones; ``--lines-picture KEY``: session 17's picture.

Usage: python benchmarks/fit_sheet_warp_probe.py --build [--cache out/warp_probe]
       python benchmarks/fit_sheet_warp_probe.py [--variants main,fitter/b0.02,...] [--sheets 0-3] [--json ...]
       python benchmarks/fit_sheet_warp_probe.py --oracle [--sheets 0-7] [--json ...]
       python benchmarks/fit_sheet_warp_probe.py --fitter-check 0,1,4,5 [--json ...]
       python benchmarks/fit_sheet_warp_probe.py --picture per_view_s0v1
       python benchmarks/fit_sheet_warp_probe.py --lines --sheets 0-1 [--variants none,fitter] [--json ...]
       python benchmarks/fit_sheet_warp_probe.py --lines-picture per_view_s0v2 --picture-out docs/fit_sheet_warp_lines.png
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"

# (mode, method, first sheet of the file, the stored bench run whose fits are main's): the rows of
# docs/fit_sheet.md's *Where it stands (session 16)* (the per-view folders' separate fits refitted at
# the end of session 16; the joint fits unchanged since session 15, the warp since session 16 on them)
SOURCES = (
    ("per_view", "separate", 0, "fit_sheet_s16_final_perview_sheets01.json"),
    ("per_view", "separate", 2, "fit_sheet_s16_final_perview_sheets23.json"),
    ("per_view", "separate", 4, "fit_sheet_s16_final_perview_sheets45.json"),
    ("per_view", "separate", 6, "fit_sheet_s16_final_perview_sheets67.json"),
    ("turnaround", "joint", 0, "fit_sheet_s15_joint_sepcoarse_sheets01.json"),
    ("turnaround", "joint", 2, "fit_sheet_s14_auto_sheets23.json"),
    ("turnaround", "joint", 4, "fit_sheet_s15_joint_sepcoarse_sheets45.json"),
    ("turnaround", "joint", 6, "fit_sheet_s15_auto_sheets67_turnaround.json"),
)
JOINT_POSE_YAW = 0.0  # a joint fit's shared pose is about the body's own axes (FitParams.pose_yaw)


def params_from_summary(fit: dict, joint: bool):
    """The FitParams a bench row's ``fit`` summary describes."""
    from conrt.runtime.app.sheet_fit import FitParams

    turns = dict(fit["pose_corrections_deg"])
    arms = (turns.pop("leftArmLowered"), turns.pop("rightArmLowered"))
    return FitParams(fit["yaw"], fit["scale"], tuple(fit["offset_ndc"]), arms, turns,
                     JOINT_POSE_YAW if joint else None)


def build(cache: Path, seed: int, check: bool) -> list[dict]:
    from conrt.runtime.app.sheet_fit import (WARP_COLOUR_GAIN, WARP_LEVELS, WARP_OUTLINE_ITERATIONS, WARP_UDP_BLEND,
                                             residual_warp, warp_udp)
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import bench_view, loaded_procedural

    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    with loaded_procedural(seed) as (character, ctx, fitter):
        parts = fitter.part_labels()
        np.savez(cache / "parts.npz", centres=parts.centres, table=parts.table)
        for mode, method, first, name in SOURCES:
            views = json.loads((RESULTS / name).read_text())[mode][method]["views"]
            for v in views:
                sheet, k = v["sheet"], v["view"]
                img, true, truth, _ = bench_view(ctx, character, mode, sheet, k)
                p = params_from_summary(v["fit"], method == "joint")
                rig = fitter.render_udp(p)
                toon_mask, toon_rgb = fitter.render_toon(p, fitter.size)
                key = f"{mode}_s{sheet}v{k}"
                np.savez_compressed(cache / f"{key}.npz", drawing=img, true=true, rig_udp=rig,
                                    toon_rgb=(toon_rgb * 255 + 0.5).astype(np.uint8), toon_mask=toon_mask,
                                    rig_parts=parts(toon_mask, toon_rgb),
                                    drawn_parts=parts(img[..., 3] >= 128, img[..., :3].astype(np.float32) / 255))
                row = {"key": key, "mode": mode, "method": method, "sheet": sheet, "view": k, "source": name,
                       "stored_udp_error": v["fitted"]["udp_error"], "stored_iou_warped": v["fit"]["iou_warped"],
                       "yaw_error": v["yaw_error"]}
                if check:  # the fitter's warp as _finish runs it, on the rig rendered again from the stored row
                    drawn = img[..., 3] >= 128
                    u = residual_warp(rig[..., 3] > 0, drawn, moving_rgb=toon_rgb,
                                      fixed_rgb=img[..., :3].astype(np.float32) / 255,
                                      colour_gain=WARP_COLOUR_GAIN, outline_iterations=WARP_OUTLINE_ITERATIONS,
                                      levels=WARP_LEVELS)
                    udp, _ = warp_udp(rig, u, img[..., 3] > 0, WARP_UDP_BLEND)
                    row["rebuilt_udp_error"] = round(udp_error(udp, true, img)["udp_error"], 5)
                rows.append(row)
                print(json.dumps(row), flush=True)
    (cache / "index.json").write_text(json.dumps(rows, indent=1))
    return rows


def load_view(cache: Path, key: str) -> dict:
    with np.load(cache / f"{key}.npz") as z:
        d = {k: z[k] for k in z.files}
    d["toon_rgb"] = d["toon_rgb"].astype(np.float32) / 255
    return d


def warp_main(d: dict, parts, levels=None) -> np.ndarray:
    """``residual_warp`` as ``SheetFitter._finish`` runs it; ``levels`` None: main's before session 16
    (half then full size)."""
    from conrt.runtime.app.sheet_fit import WARP_COLOUR_GAIN, WARP_OUTLINE_ITERATIONS, residual_warp

    img = d["drawing"]
    return residual_warp(d["rig_udp"][..., 3] > 0, img[..., 3] >= 128, moving_rgb=d["toon_rgb"],
                         fixed_rgb=img[..., :3].astype(np.float32) / 255, colour_gain=WARP_COLOUR_GAIN,
                         outline_iterations=WARP_OUTLINE_ITERATIONS, levels=levels)


def line_distance(mask: np.ndarray, rgb: np.ndarray, clip: float = 12.0, darker: float = 0.7) -> np.ndarray:
    """[H, W] f32: each silhouette pixel's distance (px, clipped to ``clip``) to the nearest inner
    line, 0 outside. A line pixel is darker than ``darker`` x the brightest pixel within 2 px (the ink
    lines and the edges of shade bands, drawn or rendered). Session 17 tried it as one more channel of
    the warp (``residual_warp(line_gain=...)``, commit daf5149; not kept: docs/fit_sheet.md, *Session
    17: the warp's cue inside flat regions*); here it serves ``--lines`` and ``--lines-picture``."""
    from scipy.ndimage import distance_transform_edt, maximum_filter

    luma = (rgb * np.float32([0.299, 0.587, 0.114])).sum(-1) * mask
    lines = mask & (luma < darker * maximum_filter(luma, 5))
    if not lines.any():
        return np.zeros(mask.shape, np.float32)
    return (np.minimum(distance_transform_edt(~lines), clip) * mask).astype(np.float32)


def warp_fitter(d: dict, parts) -> np.ndarray:
    """The fitter's warp since session 16 (``WARP_LEVELS``; evaluate it with ``/b`` + ``WARP_UDP_BLEND``)."""
    from conrt.runtime.app.sheet_fit import WARP_LEVELS

    return warp_main(d, parts, WARP_LEVELS)


def warp_none(d: dict, parts) -> np.ndarray:
    return np.zeros((2, *d["drawing"].shape[:2]), np.float32)


def warp_levels(d: dict, parts, factors=(2, 1), iterations=(80, 40), sigmas=(1.0, 2.0), clips=None,
                colour_gain: float | None = None, outline_iterations: int | None = None, part_gain: float = 0.0,
                part_levels=None, colour_levels=None, prealign: dict | None = None) -> np.ndarray:
    """A pyramid of demons levels (``factors``: the size divided by each; ``sigmas``: the Gaussian
    regulariser in that level's pixels; ``clips``: the SDF clip in that level's pixels, default the
    full-size clip scaled); ``part_gain`` > 0: each part label (``PartLabels``' clusters) one more
    channel (its indicator inside the silhouette, blurred, SDF pixels per unit) on ``part_levels``.
    factors (2, 1), iterations (80, 40), sigmas (1, 2) and no parts is main's ``residual_warp``."""
    from scipy.ndimage import gaussian_filter, zoom

    from conrt.runtime.app.sheet_fit import WARP_COLOUR_GAIN, WARP_OUTLINE_ITERATIONS, _signed_distance, demons_steps

    colour_gain = WARP_COLOUR_GAIN if colour_gain is None else colour_gain
    outline_iterations = WARP_OUTLINE_ITERATIONS if outline_iterations is None else outline_iterations
    img = d["drawing"]
    moving, fixed = d["rig_udp"][..., 3] > 0, img[..., 3] >= 128
    mrgb, frgb = d["toon_rgb"], img[..., :3].astype(np.float32) / 255
    h, w = fixed.shape
    clip_full = max(8.0, 0.08 * h)
    clips = clips or tuple(clip_full / f for f in factors)
    part_levels = factors if part_levels is None else part_levels
    colour_levels = factors if colour_levels is None else colour_levels
    labels = None
    if part_gain > 0:
        k = len(parts["centres"])
        labels = [np.stack([(lab == c) for c in range(k)], -1).astype(np.float32)
                  for lab in (d["rig_parts"], d["drawn_parts"])]

    def channels(mask, rgb, lab, f, clp, colour, part):
        s = 1.0 / f
        n = (h // f, w // f)
        if f != 1:
            mask = zoom(mask.astype(np.float32), (n[0] / h, n[1] / w), order=1) >= 0.5
        out = [_signed_distance(mask, clp)]
        for on, src, gain in ((colour, rgb, colour_gain), (part, lab, part_gain)):
            if not on:
                continue
            x = zoom(src, (n[0] / h, n[1] / w, 1), order=1) if f != 1 else src
            x = x[:n[0], :n[1]] * mask[..., None]
            out += [gaussian_filter(x[..., c], 1.5 * s) * gain * s for c in range(x.shape[-1])]
        return np.stack(out).astype(np.float32), mask

    def run(f, u, iters, sig, clp, colour, part):
        m, _ = channels(moving, mrgb, None if labels is None else labels[0], f, clp, colour, part)
        fx, _ = channels(fixed, frgb, None if labels is None else labels[1], f, clp, colour, part)
        return demons_steps(m, fx, u, iters, sig)

    u, prev = None, None
    if prealign is not None:
        fn = part_prealign_sym if prealign.pop("sym", False) else part_prealign
        u, prev = fn(rig_groups(d["rig_udp"]), d["rig_parts"], d["drawn_parts"], **prealign), 1
    for f, iters, sig, clp in zip(factors, iterations, sigmas, clips):
        n = (h // f, w // f)
        if u is None:
            u = np.zeros((2, *n), np.float32)
        else:
            u = np.stack([zoom(c, (n[0] / c.shape[0], n[1] / c.shape[1]), order=1) for c in u]) * (prev / f)
            u = u[:, :n[0], :n[1]].astype(np.float32)
        u = run(f, u, iters, sig, clp, f in colour_levels and colour_gain > 0, f in part_levels and part_gain > 0)
        prev = f
    if outline_iterations > 0:
        u = run(1, u, outline_iterations, sigmas[-1], clips[-1], False, False)
    return u


VARIANTS = {"none": warp_none, "main": warp_main, "fitter": warp_fitter}


# the rig's limbs and body, each moved on its own before the demons (``warp_parts``): bone -> group
PART_GROUPS = {"torso": ("hips", "spine", "chest", "upperChest"), "head": ("neck", "head", "leftEye", "rightEye", "jaw"),
               "leftUpperArm": ("leftShoulder", "leftUpperArm"), "leftLowerArm": ("leftLowerArm", "leftHand"),
               "rightUpperArm": ("rightShoulder", "rightUpperArm"), "rightLowerArm": ("rightLowerArm", "rightHand"),
               "leftUpperLeg": ("leftUpperLeg",), "leftLowerLeg": ("leftLowerLeg", "leftFoot", "leftToes"),
               "rightUpperLeg": ("rightUpperLeg",), "rightLowerLeg": ("rightLowerLeg", "rightFoot", "rightToes")}
_GROUPER: list = []


def rig_groups(udp: np.ndarray, seed: int = 900001) -> np.ndarray:
    """[H, W] int: the PART_GROUPS index of each rig pixel's surface point (its UDP's nearest vertex's
    dominant joint; a joint outside the humanoid map takes its nearest mapped ancestor's), -1 off."""
    if not _GROUPER:
        from conrt.characters.procedural import generate
        from fit_sheet_bench import vertex_regions

        _GROUPER[:] = vertex_regions(generate(seed), PART_GROUPS)
    tree, vertex_group = _GROUPER
    on = udp[..., 3] > 0
    out = np.full(on.shape, -1, np.int64)
    out[on] = vertex_group[tree.query(udp[on, :3])[1]]
    return out


def part_prealign(groups: np.ndarray, rig_parts: np.ndarray, drawn_parts: np.ndarray, icp_steps: int = 8,
                  max_turn_deg: float = 30.0, max_shift: float = 40.0, trim: float = 2.5,
                  smooth: float = 1.0, motion: str = "rigid") -> np.ndarray:
    """Each rig group (``groups``) moved rigidly onto the drawn pixels of the same part labels: ICP
    whose correspondence for a rig pixel of cluster c is the nearest drawn pixel of cluster c (one
    distance transform per cluster), trimmed (pairs farther than ``trim`` x the median left out),
    the turn and shift clamped. -> backward displacement u [2, H, W] (the rig sampled at x + u(x)):
    at each drawn-frame pixel the smallest moved group covering it (limbs over the body), elsewhere
    the nearest group's; smoothed with a Gaussian (``smooth`` px)."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    h, w = groups.shape
    nearest = {}
    for c in np.unique(drawn_parts[drawn_parts >= 0]):
        _, idx = distance_transform_edt(drawn_parts != c, return_indices=True)
        nearest[int(c)] = idx.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fields, moved, areas = [], [], []
    for g in np.unique(groups[groups >= 0]):
        sel = (groups == g) & (rig_parts >= 0)
        sel &= np.isin(rig_parts, list(nearest))
        if sel.sum() < 12:
            continue
        p = np.stack([yy[sel], xx[sel]], 1)  # [N, 2]
        cl = rig_parts[sel]
        rot, t = np.eye(2, dtype=np.float32), np.zeros(2, np.float32)
        centre = p.mean(0)
        for _ in range(icp_steps):
            q = (p - centre) @ rot.T + centre + t
            qi = np.clip(np.rint(q).astype(np.int64), 0, [h - 1, w - 1])
            target = np.empty_like(q)
            for c in np.unique(cl):
                m = cl == c
                target[m] = nearest[int(c)][:, qi[m, 0], qi[m, 1]].T
            dist = np.linalg.norm(target - q, axis=1)
            keep = dist <= max(trim * np.median(dist), 2.0)
            if keep.sum() < 6:
                break
            a, b = p[keep], target[keep]
            ca, cb = a.mean(0), b.mean(0)
            if motion == "rigid":
                cov = (b - cb).T @ (a - ca)
                uu, _, vt = np.linalg.svd(cov)
                r = uu @ np.diag([1.0, np.linalg.det(uu @ vt)]) @ vt
                ang = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
                ang = np.clip(ang, -max_turn_deg, max_turn_deg)
                c_, s_ = np.cos(np.radians(ang)), np.sin(np.radians(ang))
                rot = np.array([[c_, -s_], [s_, c_]], np.float32)
            t = (cb - centre) - (ca - centre) @ rot.T
            n = np.linalg.norm(t)
            if n > max_shift:
                t *= max_shift / n
        # backward: x -> p = rot^-1 (x - centre - t) + centre
        x = np.stack([yy, xx], -1) - centre - t
        src = x @ rot + centre  # rot orthonormal: x @ rot == (rot.T @ x)
        si = np.clip(np.rint(src).astype(np.int64), 0, [h - 1, w - 1])
        moved.append((groups == g)[si[..., 0], si[..., 1]])
        fields.append(np.stack([src[..., 0] - yy, src[..., 1] - xx]))
        areas.append(int((groups == g).sum()))
    if not fields:
        return np.zeros((2, h, w), np.float32)
    order = np.argsort(areas)[::-1]  # largest first: smaller groups painted over it
    pick = np.full((h, w), -1, np.int64)
    for i in order:
        pick[moved[i]] = i
    if (pick < 0).all():
        return np.zeros((2, h, w), np.float32)
    _, (ny, nx) = distance_transform_edt(pick < 0, return_indices=True)
    pick = pick[ny, nx]
    fields = np.stack(fields)  # [G, 2, H, W]
    u = np.take_along_axis(fields, pick[None, None], 0)[0]
    if smooth > 0:
        u = np.stack([gaussian_filter(c, smooth) for c in u])
    return u.astype(np.float32)


def part_prealign_sym(groups: np.ndarray, rig_parts: np.ndarray, drawn_parts: np.ndarray, icp_steps: int = 8,
                      scale: int = 2, max_turn_deg: float = 30.0, max_shift: float = 40.0, trim_px: float = 12.0,
                      smooth: float = 1.0, motion: str = "rigid") -> np.ndarray:
    """Each rig group moved rigidly onto the drawing by a symmetric ICP over colour-consistent pairs, at
    1/``scale`` of the size: every rig pixel of cluster c pairs with the nearest drawn pixel of cluster c,
    and every drawn pixel of cluster c with the nearest moved rig pixel of cluster c (whose group it then
    pulls), pairs farther than ``trim_px`` (full-size px) left out; per group a rigid (or ``shift``)
    Procrustes fit on its pairs, the turn and shift clamped. -> backward displacement [2, H, W] as
    ``part_prealign``."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    H, W = groups.shape
    gs, rp, dp = groups[::scale, ::scale], rig_parts[::scale, ::scale], drawn_parts[::scale, ::scale]
    h, w = gs.shape
    trim = trim_px / scale
    clusters = [int(c) for c in np.unique(dp[dp >= 0]) if (rp == c).any()]
    near_drawn = {}
    for c in clusters:
        _, idx = distance_transform_edt(dp != c, return_indices=True)
        near_drawn[c] = idx
    sel = (gs >= 0) & np.isin(rp, clusters)
    py, px = np.nonzero(sel)
    P = np.stack([py, px], 1).astype(np.float64)
    pg, pc = gs[sel], rp[sel]
    dsel = np.isin(dp, clusters)
    dy, dx = np.nonzero(dsel)
    D = np.stack([dy, dx], 1).astype(np.float64)
    dc = dp[dsel]
    ids = [g for g in np.unique(pg) if (pg == g).sum() >= 6]
    centre = {g: P[pg == g].mean(0) for g in ids}
    rot = {g: np.eye(2) for g in ids}
    t = {g: np.zeros(2) for g in ids}
    for _ in range(icp_steps):
        Q = P.copy()
        for g in ids:
            m = pg == g
            Q[m] = (P[m] - centre[g]) @ rot[g].T + centre[g] + t[g]
        qi = np.clip(np.rint(Q).astype(np.int64), 0, [h - 1, w - 1])
        pairs_a, pairs_b, pairs_g = [], [], []
        for c in clusters:
            m = pc == c
            if not m.any():
                continue
            # forward: moved rig pixel -> nearest drawn pixel of its cluster
            tgt = near_drawn[c][:, qi[m, 0], qi[m, 1]].T.astype(np.float64)
            ok = np.linalg.norm(tgt - Q[m], axis=1) <= trim
            pairs_a.append(P[m][ok]); pairs_b.append(tgt[ok]); pairs_g.append(pg[m][ok])
            # backward: drawn pixel of cluster c -> nearest moved rig pixel of cluster c
            img = np.full((h, w), -1, np.int64)
            img[qi[m, 0], qi[m, 1]] = np.nonzero(m)[0]
            _, idx = distance_transform_edt(img < 0, return_indices=True)
            dm = dc == c
            j = img[idx[0][dsel][dm], idx[1][dsel][dm]]
            ok = np.linalg.norm(Q[j] - D[dm], axis=1) <= trim
            pairs_a.append(P[j[ok]]); pairs_b.append(D[dm][ok]); pairs_g.append(pg[j[ok]])
        A, B, G = np.concatenate(pairs_a), np.concatenate(pairs_b), np.concatenate(pairs_g)
        for g in ids:
            m = G == g
            if m.sum() < 6:
                continue
            a, b = A[m], B[m]
            ca, cb = a.mean(0), b.mean(0)
            r = np.eye(2)
            if motion == "rigid":
                uu, _, vt = np.linalg.svd((b - cb).T @ (a - ca))
                r = uu @ np.diag([1.0, np.linalg.det(uu @ vt)]) @ vt
                ang = np.clip(np.degrees(np.arctan2(r[1, 0], r[0, 0])), -max_turn_deg, max_turn_deg)
                co, si = np.cos(np.radians(ang)), np.sin(np.radians(ang))
                r = np.array([[co, -si], [si, co]])
            rot[g] = r
            tt = (cb - centre[g]) - (ca - centre[g]) @ r.T
            n = np.linalg.norm(tt) * scale
            t[g] = tt * min(1.0, max_shift / n) if n > 0 else tt
    # the backward field at full size
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    fields, moved, areas = [], [], []
    for g in ids:
        c = centre[g] * scale
        x = np.stack([yy, xx], -1) - c - t[g] * scale
        src = x @ rot[g] + c
        si_ = np.clip(np.rint(src).astype(np.int64), 0, [H - 1, W - 1])
        moved.append((groups == g)[si_[..., 0], si_[..., 1]])
        fields.append(np.stack([src[..., 0] - yy, src[..., 1] - xx]))
        areas.append(int((groups == g).sum()))
    if not fields:
        return np.zeros((2, H, W), np.float32)
    pick = np.full((H, W), -1, np.int64)
    for i in np.argsort(areas)[::-1]:
        pick[moved[i]] = i
    if (pick < 0).all():
        return np.zeros((2, H, W), np.float32)
    _, (ny, nx) = distance_transform_edt(pick < 0, return_indices=True)
    pick = pick[ny, nx]
    u = np.take_along_axis(np.stack(fields), pick[None, None], 0)[0]
    if smooth > 0:
        u = np.stack([gaussian_filter(c, smooth) for c in u])
    return u.astype(np.float32)


def parse_variant(name: str):
    """A variant's name -> its warp. ``none``, ``main``, ``fitter`` (``VARIANTS``), or a spec for
    :func:`warp_levels` such as ``f8.4.2.1/i80.80.80.40/s1.1.1.2/c5.5.10.20``: ``f`` factors, ``i``
    steps, ``s`` sigmas, ``c`` clips (level px), ``p`` part-label gain, ``pl`` / ``cl`` the levels with
    part / colour channels, ``o`` outline steps, ``g`` colour gain, ``pa``/``pt`` N a per-part rigid /
    shift pre-alignment (N ICP steps, one-sided pairs), ``ps``/``pst`` N the same with symmetric pairs,
    ``tr`` its trim (px). A trailing ``/bX``: ``warp_udp``'s blend X (applied in :func:`evaluate`)."""
    if name.split("/b")[0] in VARIANTS:
        return VARIANTS[name.split("/b")[0]]
    kw: dict = {}
    keys = {"f": "factors", "i": "iterations", "s": "sigmas", "c": "clips", "pl": "part_levels",
            "cl": "colour_levels"}
    for part in name.split("/"):
        head = part.rstrip("0123456789.x")
        val = part[len(head):]
        if head in keys:
            kw[keys[head]] = tuple((int if head in ("f", "i", "pl", "cl") else float)(x) for x in val.split("."))
        elif head == "p":
            kw["part_gain"] = float(val)
        elif head in ("pa", "pt"):  # part pre-alignment: rigid / translation, ICP steps
            kw["prealign"] = {"icp_steps": int(val or 8), "motion": "rigid" if head == "pa" else "shift"}
        elif head in ("ps", "pst"):  # symmetric part pre-alignment: rigid / translation, ICP steps
            kw["prealign"] = {"icp_steps": int(val or 8), "motion": "rigid" if head == "ps" else "shift", "sym": True}
        elif head == "tr":
            kw.setdefault("prealign", {})["trim_px"] = float(val)
        elif head == "b":  # warp_udp's blend (evaluate)
            pass
        elif head == "o":
            kw["outline_iterations"] = int(val)
        elif head == "g":
            kw["colour_gain"] = float(val)
        else:
            raise SystemExit(f"variant {name!r}: unknown part {part!r}")
    return lambda d, p: warp_levels(d, p, **{**kw, "prealign": dict(kw["prealign"]) if "prealign" in kw else None})


def evaluate(cache: Path, rows: list[dict], variants: list[str], report=None) -> dict:
    """Per variant (outer loop: ``report(name, per_view)`` as each ends) per cached view: its UDP error
    (``warp_udp``'s nearest fill, as the bench), silhouette IoU after the warp, process CPU seconds."""
    from conrt.runtime.app.sheet_fit import iou, warp_udp
    from conrt.training.fit_drawings import udp_error

    with np.load(cache / "parts.npz") as z:
        parts = {"centres": z["centres"], "table": z["table"]}
    views = [load_view(cache, row["key"]) for row in rows]
    out = {}
    for name in variants:
        warp = parse_variant(name)
        blend = float(name.rpartition("/b")[2]) if "/b" in name else 0.0  # warp_udp's blend
        out[name] = []
        for row, d in zip(rows, views):
            img, drawn = d["drawing"], d["drawing"][..., 3] >= 128
            t0 = time.process_time()
            u = warp(d, parts)
            udp, warped = warp_udp(d["rig_udp"], u, img[..., 3] > 0, blend)
            cpu = time.process_time() - t0
            out[name].append({"key": row["key"], "udp_error": round(udp_error(udp, d["true"], img)["udp_error"], 5),
                              "iou_warped": round(iou(warped, drawn), 4), "cpu_s": round(cpu, 3)})
        if report is not None:
            report(name, out[name])
    return out


def picture(cache: Path, key: str, path: Path, crop: int = 112, zoom: int = 3) -> dict:
    """The docs' picture of one cached view: where the fitter's warp (``WARP_LEVELS``, ``WARP_UDP_BLEND``)
    gains most on main's (a ``crop``² window, the 24 px box mean of the error drop at its centre), top
    row the drawing | main's warped UDP | the fitter's, bottom row the rig's outline (magenta) over the
    drawing's (green) | main's UDP error | the fitter's (white: 0.05 or more), ``zoom`` x nearest."""
    from PIL import Image
    from scipy.ndimage import binary_erosion, uniform_filter

    from conrt.runtime.app.frame_loop import udp_preview
    from conrt.runtime.app.sheet_fit import WARP_UDP_BLEND, warp_udp
    from conrt.training.fit_drawings import udp_error

    d = load_view(cache, key)
    img = d["drawing"]
    fg = img[..., 3] >= 128
    udps = [warp_udp(d["rig_udp"], warp_main(d, None), img[..., 3] > 0)[0],
            warp_udp(d["rig_udp"], warp_fitter(d, None), img[..., 3] > 0, WARP_UDP_BLEND)[0]]
    errs = [np.linalg.norm(u[..., :3] - d["true"][..., :3], axis=-1) * fg for u in udps]
    gain = uniform_filter(errs[0] - errs[1], 24)
    y, x = np.unravel_index(gain.argmax(), gain.shape)
    h, w = fg.shape
    y0, x0 = int(np.clip(y - crop // 2, 0, h - crop)), int(np.clip(x - crop // 2, 0, w - crop))
    grey = np.float32(235 / 255)

    def over(rgb, alpha):
        return rgb * alpha[..., None] + grey * (1 - alpha[..., None])

    a = img[..., 3].astype(np.float32) / 255
    drawing = over(img[..., :3].astype(np.float32) / 255, a)
    previews = [udp_preview(u).astype(np.float32) / 255 for u in udps]
    previews = [over(p[..., :3], p[..., 3]) for p in previews]
    edges = drawing * 0.5 + 0.5 * grey
    rig = d["rig_udp"][..., 3] > 0
    edges[fg & ~binary_erosion(fg)] = (0.1, 0.7, 0.1)
    edges[rig & ~binary_erosion(rig)] = (0.85, 0.1, 0.85)
    maps = [over(np.repeat(np.clip(e / 0.05, 0, 1)[..., None], 3, -1), fg.astype(np.float32)) for e in errs]
    rows = [np.concatenate([t[y0:y0 + crop, x0:x0 + crop] for t in ts], 1)
            for ts in ((drawing, *previews), (edges, *maps))]
    pic = np.concatenate(rows, 0)
    pic = np.repeat(np.repeat((np.clip(pic, 0, 1) * 255 + 0.5).astype(np.uint8), zoom, 0), zoom, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pic).save(path, optimize=True)
    return {"key": key, "crop_yx": [y0, x0], "crop": crop,
            "udp_error": [round(udp_error(u, d["true"], img)["udp_error"], 5) for u in udps],
            "udp_error_in_crop": [round(float(e[y0:y0 + crop, x0:x0 + crop][fg[y0:y0 + crop, x0:x0 + crop]].mean()), 5)
                                  for e in errs]}


def oracle(cache: Path, rows: list[dict]) -> dict:
    """What a 2D warp of the fitted rig's UDP could reach at best, per view: each drawn pixel sent to
    the rig pixel whose UDP is nearest its true UDP (``orc``; the displacement's median and 90th
    percentile in px), that field smoothed (Gaussian 2 and 4 px: ``orc_s2``, ``orc_s4``), and one rigid
    motion per rig part (``PART_GROUPS``) fitted to it (``rigid``): the UDP errors after ``warp_udp``."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter
    from scipy.spatial import cKDTree

    from conrt.runtime.app.sheet_fit import warp_udp
    from conrt.training.fit_drawings import udp_error

    out = []
    for r in rows:
        d = load_view(cache, r["key"])
        img, rig, true = d["drawing"], d["rig_udp"], d["true"]
        h, w = img.shape[:2]
        fg = (img[..., 3] >= 128) & (true[..., 3] > 0)
        ry, rx = np.nonzero(rig[..., 3] > 0)
        idx = cKDTree(rig[ry, rx, :3]).query(true[fg, :3])[1]
        fy, fx = np.nonzero(fg)
        u = np.zeros((2, h, w), np.float32)
        u[0][fg], u[1][fg] = ry[idx] - fy, rx[idx] - fx
        _, (ny, nx) = distance_transform_edt(~fg, return_indices=True)
        u = u[:, ny, nx]

        def err(field):
            return round(udp_error(warp_udp(rig, field, img[..., 3] > 0)[0], true, img)["udp_error"], 5)

        disp = np.hypot(*u[:, fg])
        row = {"key": r["key"], "main": r["rebuilt_udp_error"], "orc": err(u),
               "disp_median_px": float(np.median(disp)), "disp_p90_px": round(float(np.percentile(disp, 90)), 2)}
        for sig in (2, 4):
            row[f"orc_s{sig}"] = err(np.stack([gaussian_filter(c, sig) for c in u]))
        groups = rig_groups(rig)
        yy, xx = np.mgrid[0:h, 0:w]
        src = groups[np.clip(np.rint(yy + u[0]).astype(int), 0, h - 1), np.clip(np.rint(xx + u[1]).astype(int), 0, w - 1)]
        rigid = np.zeros_like(u)
        for g in np.unique(src[fg]):
            m = fg & (src == g)
            a = np.stack([yy[m], xx[m]], 1).astype(np.float64)
            b = a + u[:, m].T
            ca, cb = a.mean(0), b.mean(0)
            uu, _, vt = np.linalg.svd((b - cb).T @ (a - ca))
            rot = uu @ np.diag([1.0, np.linalg.det(uu @ vt)]) @ vt
            rigid[:, m] = ((a - ca) @ rot.T + cb - a).T
        row["rigid"] = err(rigid)
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


def line_check(cache: Path, rows: list[dict], variants: list[str]) -> list[dict]:
    """Where the fitter's warp leaves its UDP error, and whether the drawing's inner lines could say
    more (session 17): per view, the share of the error sum (and of the pixels) on the outline (within
    2 px of the drawn silhouette's edge), at the true UDP's inner jumps (a part over another: the true
    UDP's 3x3 range > 0.05), and in the rest (smooth surface inside); the share of drawn pixels that are
    line pixels (``line_distance``); per variant the mean distance (px) from a drawn inner line pixel
    (3 px or more inside) to the nearest line of the warped rig (its ``line_distance`` sampled at
    x + u(x)): near 0, the lines already lie on the drawn ones and carry no more cue."""
    from scipy.ndimage import binary_erosion, distance_transform_edt, maximum_filter, minimum_filter

    from conrt.runtime.app.sheet_fit import WARP_UDP_BLEND, _bilinear, warp_udp

    out = []
    for r in rows:
        d = load_view(cache, r["key"])
        img, true = d["drawing"], d["true"]
        fg = img[..., 3] >= 128
        drawn_rgb = img[..., :3].astype(np.float32) / 255
        valid = fg & (true[..., 3] > 0)
        h, w = fg.shape
        grid = np.mgrid[0:h, 0:w].astype(np.float32)
        drawn_lines = line_distance(fg, drawn_rgb, clip=50.0) == 0
        inner_lines = drawn_lines & binary_erosion(fg, iterations=3)
        rig_lines = line_distance(d["rig_udp"][..., 3] > 0, d["toon_rgb"], clip=50.0)
        u = warp_fitter(d, None)
        udp = warp_udp(d["rig_udp"], u, img[..., 3] > 0, WARP_UDP_BLEND)[0]
        err = np.linalg.norm(udp[..., :3] - true[..., :3], axis=-1)
        jump = np.max([maximum_filter(true[..., i], 3) - minimum_filter(true[..., i], 3) for i in range(3)], 0) > 0.05
        outline = valid & (distance_transform_edt(fg) <= 2)
        where = {"outline": outline, "inner_jumps": valid & ~outline & jump, "rest": valid & ~outline & ~jump}
        total = err[valid].sum()
        row = {"key": r["key"], "line_pixel_share": round(float(drawn_lines[fg].mean()), 3)}
        for name, m in where.items():
            row[f"{name}_error_share"] = round(float(err[m].sum() / total), 3)
            row[f"{name}_pixel_share"] = round(float(m.sum() / valid.sum()), 3)
        for name in variants:
            uv = parse_variant(name)(d, None)
            row[f"line_off_px_{name}"] = round(float(_bilinear(rig_lines[None], grid + uv)[0][inner_lines].mean()), 3)
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


def lines_picture(cache: Path, key: str, path: Path, crop: int = 112, zoom: int = 3) -> dict:
    """The docs' picture of session 17 (``docs/fit_sheet_warp_lines.png``): a ``crop``² window of one
    cached view around the drawing's centre, the drawing | its line pixels (``line_distance`` 0, green)
    and the warped rig's (the fitter's warp, magenta; both: white) | the UDP error after the fitter's
    warp (white: 0.05 or more), ``zoom`` x nearest."""
    from PIL import Image

    from conrt.runtime.app.sheet_fit import WARP_UDP_BLEND, _bilinear, warp_udp

    d = load_view(cache, key)
    img = d["drawing"]
    fg = img[..., 3] >= 128
    h, w = fg.shape
    u = warp_fitter(d, None)
    udp = warp_udp(d["rig_udp"], u, img[..., 3] > 0, WARP_UDP_BLEND)[0]
    err = np.linalg.norm(udp[..., :3] - d["true"][..., :3], axis=-1) * fg
    drawn_lines = (line_distance(fg, img[..., :3].astype(np.float32) / 255) == 0) & fg
    rig_mask = d["rig_udp"][..., 3] > 0
    rig_lines = (line_distance(rig_mask, d["toon_rgb"]) == 0) & rig_mask
    grid = np.mgrid[0:h, 0:w].astype(np.float32)
    warped_lines = (_bilinear(rig_lines[None].astype(np.float32), grid + u)[0] >= 0.5) & fg
    ys, xs = np.nonzero(fg)
    y0 = int(np.clip(ys.mean() - crop // 2, 0, h - crop))
    x0 = int(np.clip(xs.mean() - crop // 2, 0, w - crop))
    grey = np.float32(235 / 255)
    a = img[..., 3].astype(np.float32)[..., None] / 255
    drawing = img[..., :3].astype(np.float32) / 255 * a + grey * (1 - a)
    lines = np.full((h, w, 3), grey, np.float32)
    lines[fg] = 0.6
    lines[drawn_lines] = (0.1, 0.7, 0.1)
    lines[warped_lines] = (0.85, 0.1, 0.85)
    lines[drawn_lines & warped_lines] = 1.0
    errs = np.where(fg[..., None], np.repeat(np.clip(err / 0.05, 0, 1)[..., None], 3, -1), grey)
    pic = np.concatenate([t[y0:y0 + crop, x0:x0 + crop] for t in (drawing, lines, errs)], 1)
    pic = np.repeat(np.repeat((np.clip(pic, 0, 1) * 255 + 0.5).astype(np.uint8), zoom, 0), zoom, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pic).save(path, optimize=True)
    return {"key": key, "crop_yx": [y0, x0], "crop": crop, "line_pixels_drawn": int(drawn_lines.sum()),
            "line_pixels_both": int((drawn_lines & warped_lines).sum())}


def truth_steps(cache: Path, rows: list[dict]) -> list[dict]:
    """How stepped the benchmark's true UDP is (re-framed nearest, ``session.fit_sheet_udps``): per view,
    on smooth surface (3x3 range of every coordinate < 0.05, the 3x3 all drawn) the share of horizontal
    neighbours with equal values and the mean distance of the truth from its own 3x3 box mean."""
    from scipy.ndimage import maximum_filter, minimum_filter, uniform_filter

    out = []
    for r in rows:
        d = load_view(cache, r["key"])
        t, fg = d["true"], (d["drawing"][..., 3] >= 128) & (d["true"][..., 3] > 0)
        spread = np.max([maximum_filter(t[..., i], 3) - minimum_filter(t[..., i], 3) for i in range(3)], 0)
        smooth = fg & (spread < 0.05) & (minimum_filter(fg.astype(np.uint8), 3) > 0)
        box = np.stack([uniform_filter(t[..., i], 3) for i in range(3)], -1)
        equal = (np.abs(np.diff(t[..., 0], axis=1)) < 1e-7) & smooth[:, 1:]
        out.append({"key": r["key"], "equal_neighbours": round(float(equal.sum() / smooth[:, 1:].sum()), 4),
                    "off_box_mean": round(float(np.linalg.norm(t[..., :3] - box, axis=-1)[smooth].mean()), 5),
                    "fitted_udp_error": r.get("rebuilt_udp_error")})
    return out


def fitter_check(seed: int, sheets: set[int], modes: list[str]) -> list[dict]:
    """The fitter's own last step (``SheetFitter._finish``, which both fits end with) from each stored
    fit (main's camera and pose, ``SOURCES``): its UDP error, IoU after the warp, mean residual (px) and
    whether the view file is written, with the fitter's warp as it is now; main's stored row beside it."""
    from conrt.runtime.app.sheet_fit import _Clock, _Coarse, downsample_drawing
    from conrt.training.fit_drawings import udp_error
    from fit_sheet_bench import LABELS, bench_view, loaded_procedural

    rows = []
    with loaded_procedural(seed) as (character, ctx, fitter):
        for mode, method, first, name in SOURCES:
            if mode not in modes:
                continue
            for v in json.loads((RESULTS / name).read_text())[mode][method]["views"]:
                if v["sheet"] not in sheets:
                    continue
                img, true, truth, _ = bench_view(ctx, character, mode, v["sheet"], v["view"])
                p = params_from_summary(v["fit"], method == "joint")
                coarse = _Coarse(downsample_drawing(img, fitter.work), [], 0.0, 0.0, LABELS[v["view"]], len(fitter.bones))
                t0 = time.process_time()
                fit = fitter._finish(p, img, "check", LABELS[v["view"]], coarse, _Clock(fitter))
                rows.append({"key": f"{mode}_s{v['sheet']}v{v['view']}", "mode": mode,
                             "udp_error": round(udp_error(fit.udp, true, img)["udp_error"], 5),
                             "iou_warped": round(fit.iou_warped, 4), "residual_mean_px": round(fit.residual_mean_px, 3),
                             "view_file": fit.view_file_valid, "cpu_s": round(time.process_time() - t0, 3),
                             "main_udp_error": round(v["fitted"]["udp_error"], 5),
                             "main_iou_warped": v["fit"]["iou_warped"],
                             "main_residual_mean_px": v["fit"]["residual_mean_px"],
                             "main_view_file": v["fit"]["residual_mean_px"] <= 1.0})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(per_view: list[dict]) -> dict:
    e = [v["udp_error"] for v in per_view]
    return {"views": len(e), "udp_error_mean": round(statistics.fmean(e), 5),
            "udp_error_median": round(statistics.median(e), 5),
            "iou_warped_mean": round(statistics.fmean(v["iou_warped"] for v in per_view), 4),
            "iou_warped_min": round(min(v["iou_warped"] for v in per_view), 4),
            "cpu_s_per_view": round(statistics.fmean(v["cpu_s"] for v in per_view), 3)}


def _written(res: dict, path: Path | None, summary_indent: int | None = None) -> int:
    """A probe mode's end: its summary printed, the whole result written to ``path`` (if given) -> exit status 0."""
    print(json.dumps(res["summary"], indent=summary_indent))
    if path:
        path.write_text(json.dumps(res, indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "warp_probe")
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--variants", default="none,main")
    ap.add_argument("--sheets", default="0-7", help="first-last sheet (inclusive)")
    ap.add_argument("--modes", default="per_view,turnaround")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--fitter-check", default=None, help="sheets, e.g. 0,1,4,5: the fitter's _finish from main's fits")
    ap.add_argument("--oracle", action="store_true", help="the best a 2D warp of the fitted rig could reach")
    ap.add_argument("--lines", action="store_true", help="where the error lies; the warped rig's lines' offset")
    ap.add_argument("--truth-steps", action="store_true", help="how stepped the true UDP is (all cached views)")
    ap.add_argument("--lines-picture", default=None, help="a cached view's key: session 17's picture (--picture-out)")
    ap.add_argument("--picture", default=None, help="a cached view's key (e.g. per_view_s0v1): draw the docs' picture")
    ap.add_argument("--picture-out", type=Path, default=ROOT / "docs" / "fit_sheet_warp.png")
    args = ap.parse_args()

    if args.fitter_check:
        sheets = {int(x) for x in args.fitter_check.split(",")}
        modes = args.modes.split(",")
        views = fitter_check(args.seed, sheets, modes)
        res = {"what": "SheetFitter._finish (the fitter's warp) from main's stored fits "
                       "(fit_sheet_warp_probe.py --fitter-check)", "sheets": sorted(sheets), "summary": {},
               "load_avg": [round(x, 2) for x in os.getloadavg()], "views": views}
        for mode in modes:
            for cell in sorted({s_ // 2 for s_ in sheets}):
                sel = [v for v in views if v["mode"] == mode and int(v["key"].split("_s")[1][0]) // 2 == cell]
                if sel:
                    res["summary"][f"{mode}_sheets{2 * cell}{2 * cell + 1}"] = {
                        k: round(statistics.fmean(float(v[k]) for v in sel), 5)
                        for k in ("udp_error", "main_udp_error", "iou_warped", "main_iou_warped",
                                  "residual_mean_px", "main_residual_mean_px", "view_file", "main_view_file")}
        return _written(res, args.json, summary_indent=1)
    if args.oracle:
        rows = json.loads((args.cache / "index.json").read_text())
        lo, hi = (int(x) for x in args.sheets.split("-"))
        views = oracle(args.cache, [r for r in rows if lo <= r["sheet"] <= hi])
        res = {"what": "the best a 2D warp of main's fitted rig could reach (fit_sheet_warp_probe.py --oracle)",
               "sheets": args.sheets, "summary": {}, "views": views}
        for mode in ("per_view", "turnaround"):
            sel = [v for v in views if v["key"].startswith(mode)]
            res["summary"][mode] = {k: {"mean": round(statistics.fmean(v[k] for v in sel), 5),
                                        "median": round(statistics.median(v[k] for v in sel), 5)}
                                    for k in sel[0] if k != "key"}
        return _written(res, args.json)
    if args.picture:
        print(json.dumps(picture(args.cache, args.picture, args.picture_out)))
        return 0
    if args.truth_steps:
        views = truth_steps(args.cache, json.loads((args.cache / "index.json").read_text()))
        res = {"what": "how stepped the true UDP is (fit_sheet_warp_probe.py --truth-steps)", "views": views,
               "summary": {k: round(statistics.fmean(v[k] for v in views), 5) for k in views[0] if k != "key"}}
        return _written(res, args.json)
    if args.lines_picture:
        print(json.dumps(lines_picture(args.cache, args.lines_picture, args.picture_out)))
        return 0
    if args.lines:
        rows = json.loads((args.cache / "index.json").read_text())
        lo, hi = (int(x) for x in args.sheets.split("-"))
        variants = args.variants.split(",")
        views = line_check(args.cache, [r for r in rows if lo <= r["sheet"] <= hi and r["mode"] in args.modes], variants)
        res = {"what": "where the warp's UDP error lies; the warped rig's inner lines' offset from the drawn ones "
                       "(fit_sheet_warp_probe.py --lines)", "sheets": args.sheets, "summary": {}, "views": views,
               "load_avg": [round(x, 2) for x in os.getloadavg()]}
        for mode in args.modes.split(","):
            sel = [v for v in views if v["key"].startswith(mode)]
            if sel:
                res["summary"][mode] = {k: round(statistics.fmean(v[k] for v in sel), 4) for k in sel[0] if k != "key"}
        return _written(res, args.json)

    if args.build:
        build(args.cache, args.seed, not args.no_check)
        return 0
    rows = json.loads((args.cache / "index.json").read_text())
    lo, hi = (int(x) for x in args.sheets.split("-"))
    modes = args.modes.split(",")
    rows = [r for r in rows if lo <= r["sheet"] <= hi and r["mode"] in modes]
    variants = args.variants.split(",")
    load = os.getloadavg()
    res = {"what": "residual warp variants on main's stored fits (benchmarks/fit_sheet_warp_probe.py)",
           "sheets": args.sheets, "modes": modes, "summary": {}}

    def report(name, per_view):
        res["summary"][name] = {"all": summary(per_view)}
        for mode in modes:
            sel = [v for v, r in zip(per_view, rows) if r["mode"] == mode]
            if sel:
                res["summary"][name][mode] = summary(sel)
        print(name, json.dumps(res["summary"][name]), flush=True)

    res["views"] = evaluate(args.cache, rows, variants, report)
    res["load_avg"] = [round(x, 2) for x in load + os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
