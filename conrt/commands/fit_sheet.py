"""``conrt fit-sheet``: register hand-drawn sheet views to the rig.

For each drawing in DRAWINGS_DIR (RGBA on a transparent background, any
size: front, 3/4, side, back views in a T-, A- or mild pose) find the view
angle, scale, offset and per-bone pose that make the rig match it, then warp
the rig's UDP onto the drawing so every drawn pixel gets one. Writes into
OUT_DIR, per drawing ``<name>.png`` (the drawing, framed as the runtime frames
sheet views), ``<name>_udp.npz`` (official UDP format), ``<name>_view.npz``
(the fitted camera and pose, where they explain the drawing to about a
pixel), ``fit/<name>.png`` (drawing | fitted UDP | contours: drawn green,
rig magenta) and ``fit.json`` (per view: yaw, scale, offset, pose
corrections, silhouette IoU before and after, residual warp).
``conrt demo/render --sheet OUT_DIR`` then uses the fitted UDPs.

How: ``--joint`` (a turnaround: one pose drawn from several angles, fitted
together, a camera per view), ``--separate`` (each drawing its own pose), or
neither (auto): a joint fit that falls back to separate fits when, after its
pose stage, the views freed from the shared pose fit clearly better alone on average
(the drawings are not one pose). The terminal and fit.json say which ran and why.

View angles come from ``--yaws``, else from a ``sheet.json`` in DRAWINGS_DIR
(as ``conrt sheet`` writes), else from words in the file names (front, left,
back, right); each is searched ±30°. Views without a label are searched all
the way round.
"""
from __future__ import annotations

import argparse
import atexit
import json
import logging
import math
import os
from pathlib import Path

import numpy as np

from conrt.commands.udp import load_character_file, save_udp
from conrt.errors import ConfigError, InputError

log = logging.getLogger(__name__)

MAX_SIZE = 2048  # side of the written views; the runtime shades at 128-512


def register(subparsers) -> None:
    p = subparsers.add_parser("fit-sheet", help="register hand-drawn sheet views to the rig (UDP per drawing)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("character", type=Path, help="character file (.glb/.gltf/.vrm) the drawings show")
    p.add_argument("drawings", type=Path, help="folder of RGBA drawings (PNG/WebP/TIFF), one view each")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output folder (new, or an earlier fit-sheet output; never the drawings folder)")
    p.add_argument("--size", type=int, default=256, help="side of the framed views and UDPs written")
    p.add_argument("--yaws", default=None,
                   help="view angles in degrees, comma separated, in file-name order (0 front, 90 left side, "
                        "180 back); default: sheet.json, then the file names, else searched all round")
    p.add_argument("--min-iou", type=float, default=None,
                   help="silhouette IoU (rig vs drawing, before the residual warp) below which a view is taken "
                        "not to show this character and nothing is written (default 0.75)")
    p.add_argument("--work", type=int, default=128, help="resolution of the searches (pixels)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="fit this many drawings at once, one process each (default: 2, or 1 on one core; "
                        "a joint fit splits its views over at most 2 processes)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--joint", action="store_true",
                     help="the drawings are a turnaround (ONE pose drawn from several angles): fit one shared "
                          "pose to all of them, a camera per view")
    how.add_argument("--separate", action="store_true",
                     help="the drawings are in different poses: each drawing its own pose")
    # neither: auto, a joint fit that falls back to separate fits when the drawings are not one pose
    p.add_argument("--part-weight", type=float, default=None,
                   help="weight of the part term (which colour region of the rig lies where) in the pose and view "
                        "search; default 0.5 in the joint fit, 0 in separate fits (measured: docs/fit_sheet.md)")
    p.add_argument("--palette", choices=("auto", "keep", "match"), default=None,
                   help="compare the drawn colours with the rig's as drawn (keep), after moving each drawn colour "
                        "region onto the rig colour it covers (match), or match only drawings whose colours are "
                        "mostly far from the rig's (auto, the default)")
    p.add_argument("--limb-starts", default=None,
                   help="the pose search (a joint fit's leg search) also starts from these canonical leg poses, "
                        "in separate fits only on front views; comma separated (stride, stride_mirrored: the default; "
                        "'' none; measured in docs/fit_sheet.md)")
    p.add_argument("--context", choices=("auto", "egl", "window"), default="auto", help="OpenGL context kind")
    p.set_defaults(func=run)


def check_output_folder(drawings: Path, out: Path) -> None:
    """OUT_DIR must not be the drawings folder or inside it, and must be new,
    empty, or an earlier fit-sheet output (it has a fit.json)."""
    from conrt.runtime.app.session import FIT_SHEET_REPORT  # lazy: torch, not at CLI startup

    d, o = drawings.resolve(), out.resolve()
    if o == d or d in o.parents:
        raise ConfigError(f"-o {out} is the drawings folder or inside it; fit-sheet never writes into its "
                          "input: give a separate output folder")
    if o.exists() and not o.is_dir():
        raise ConfigError(f"-o {out} exists and is not a folder")
    if o.is_dir() and any(o.iterdir()) and not (o / FIT_SHEET_REPORT).is_file():
        raise ConfigError(f"-o {out} is not empty and not an earlier fit-sheet output (no fit.json); "
                          "give a new or empty folder")


def fit_mode(args) -> str:
    """``joint`` (--joint), ``separate`` (--separate), else ``auto``."""
    if getattr(args, "joint", False):
        return "joint"
    return "separate" if getattr(args, "separate", False) else "auto"


def fit_views(character_path: Path, character, drawings, names, labels, args) -> tuple[list, str, str]:
    """Fit every drawing as ``fit_mode(args)`` says -> (fits in the drawings' order, the mode
    that ran, why). ``auto`` with >= 2 drawings: a joint fit whose one-pose check
    (``ONE_POSE_MEAN_GAIN``) stops it when the drawings are not one pose, then separate fits from
    the coarse stage it ran (in its processes); so too when the finished joint fit leaves a view
    below ``--min-iou`` (it would be refused; each drawing alone may not be).
    Separate fits with ``--jobs`` > 1 run in that many processes (each its own GL context and
    fitter: llvmpipe draws on one core per context); the results are the same for any N."""
    from conrt.runtime.app.sheet_fit import MIN_IOU  # lazy: torch, not at CLI startup

    how = fit_mode(args)
    if how == "separate":
        return _fit_separate(character_path, character, drawings, names, labels, args), "separate", "--separate"
    if how == "auto" and len(drawings) < 2:
        return (_fit_separate(character_path, character, drawings, names, labels, args), "separate",
                "auto: one drawing")
    # auto: where the check says "not one pose", the joint fit's processes fit each drawing on its own from
    # the coarse stage they ran (the separate fit's first stage), no new processes
    # and so when the finished joint fit leaves a view below --min-iou (it would be refused; alone it may not be)
    min_iou = MIN_IOU if getattr(args, "min_iou", None) is None else args.min_iou
    fits, check = _fit_joint(character, drawings, names, labels, args,
                             one_pose="separate" if how == "auto" else "off", min_iou=min_iou)
    if how == "joint":
        return fits, "joint", "--joint"
    gains = ", ".join(f"{n} {g:.3f}" for n, g in check["gains"].items())
    if check["fallback"] == "check":
        return fits, "separate", (f"auto: not one pose (freed from the shared pose the views' costs drop by "
                                  f"{check['mean_gain']:.3f} on average"
                                  f"{' after one sweep' if check.get('early') else ''} > {check['bar']}: {gains})")
    if check["fallback"] == "iou":
        return fits, "separate", (f"auto: not one pose (the joint fit leaves {check['iou_view']} at silhouette IoU "
                                  f"{check['iou_pose']:.3f} < {min_iou}; freed from the shared pose the views' costs "
                                  f"dropped by {gains})")
    return fits, "joint", (f"auto: one pose (freed from the shared pose the views' costs drop by "
                           f"{check['mean_gain']:.3f} on average <= {check['bar']}: {gains})")


def _fit_joint(character, drawings, names, labels, args, one_pose: str,
               min_iou: float | None = None) -> tuple[list, dict | None]:
    """One joint fit (its renders split over --jobs 2 processes) -> (fits: separate fits where
    ``one_pose`` "separate" and the one-pose check found the drawings not one pose; the check)."""
    from tqdm import tqdm  # lazy: tqdm, not at CLI startup

    from conrt.runtime.app.sheet_fit import SheetFitter  # lazy: torch, not at CLI startup
    from conrt.shaders import create_context, release_context  # lazy: moderngl, not at CLI startup

    ctx = create_context(args.context)
    try:
        with SheetFitter(ctx, character, args.size, args.work, **fitter_settings(args)) as fitter:
            with tqdm(total=len(drawings) * 2 + 3, desc="fit-sheet (joint)", unit="stage") as bar:
                fits = fitter.fit_joint(drawings, names, labels, progress=lambda _: bar.update(),
                                        jobs=min(args.jobs, len(drawings), 2), context=args.context,
                                        one_pose=one_pose, min_iou=min_iou)
            return fits, fitter.one_pose_check
    finally:
        release_context(ctx)


def _fit_separate(character_path: Path, character, drawings, names, labels, args) -> list:
    """Each drawing its own fit, ``--jobs`` at once."""
    from tqdm import tqdm  # lazy: tqdm, not at CLI startup

    from conrt.runtime.app.sheet_fit import SheetFitter  # lazy: torch, not at CLI startup
    from conrt.shaders import create_context, release_context  # lazy: moderngl, not at CLI startup

    jobs = min(args.jobs, len(drawings))
    if jobs <= 1:
        ctx = create_context(args.context)
        try:
            with SheetFitter(ctx, character, args.size, args.work, **fitter_settings(args)) as fitter:
                return [fitter.fit(img, name, label) for img, name, label
                        in zip(tqdm(drawings, desc="fit-sheet", unit="view"), names, labels)]
        finally:
            release_context(ctx)
    import multiprocessing  # lazy: not at CLI startup
    from concurrent.futures import ProcessPoolExecutor, as_completed  # lazy: not at CLI startup

    fits: list = [None] * len(drawings)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start,
                             initargs=(str(character_path), args.size, args.work, args.context,
                                       fitter_settings(args))) as pool:
        todo = {pool.submit(_worker_fit, img, name, label): k
                for k, (img, name, label) in enumerate(zip(drawings, names, labels))}
        for done in tqdm(as_completed(todo), total=len(todo), desc="fit-sheet", unit="view"):
            fits[todo[done]] = done.result()
    return fits


_WORKER: dict = {}  # the fitter of a --jobs worker process


def fitter_settings(args) -> dict:
    """SheetFitter's settings from ``--part-weight`` (the fit that runs takes
    it), ``--palette`` and ``--limb-starts``; unset: the fitter's defaults."""
    out = {}
    weight = getattr(args, "part_weight", None)
    if weight is not None:  # auto: whichever fit runs
        how = fit_mode(args)
        out.update({key: weight for key, mode in (("joint_part_weight", "joint"), ("part_weight", "separate"))
                    if how in (mode, "auto")})
    if getattr(args, "palette", None) is not None:
        out["palette"] = args.palette
    if getattr(args, "limb_starts", None) is not None:
        out["limb_starts"] = tuple(n.strip() for n in args.limb_starts.split(",") if n.strip())
    return out


def _worker_start(character_path: str, size: int, work: int, context: str, settings: dict) -> None:
    from conrt.runtime.app.sheet_fit import SheetFitter  # lazy: torch, not at CLI startup
    from conrt.shaders import create_context, release_context  # lazy: moderngl, not at CLI startup

    ctx = create_context(context)
    _WORKER["fitter"] = SheetFitter(ctx, load_character_file(Path(character_path)), size, work, **settings)
    atexit.register(lambda: (_WORKER["fitter"].close(), release_context(ctx)))


def _worker_fit(drawing, name, label):
    return _WORKER["fitter"].fit(drawing, name, label)


def remove_stale_views(out: Path, stems: set[str]) -> None:
    """Delete the files of views an earlier fit-sheet run wrote into ``out``
    (listed in its fit.json) that this run does not write again: the runtime
    takes every image in the folder as a view."""
    from conrt.runtime.app.session import FIT_SHEET_REPORT  # lazy: torch, not at CLI startup

    report = out / FIT_SHEET_REPORT
    if not report.is_file():
        return
    try:
        old = set(json.loads(report.read_text()).get("views", {}))
    except (ValueError, AttributeError):
        raise InputError(f"{report}: not readable as an earlier fit-sheet report; give a new output folder") from None
    for stem in old - stems:
        if Path(stem).name != stem or stem.startswith("."):
            continue  # not a name fit-sheet writes: leave whatever it points at alone
        for name in (f"{stem}.png", f"{stem}_udp.npz", f"{stem}_udp.png", f"{stem}_view.npz", f"fit/{stem}.png"):
            (out / name).unlink(missing_ok=True)
        log.info("removed the earlier fit of %s from %s", stem, out)


def view_labels(files: list[Path], yaws: str | None) -> list[float | None]:
    """Each drawing's labelled yaw (None: search all round)."""
    from conrt.runtime.app.sheet_fit import label_from_name  # lazy: torch, not at CLI startup

    if yaws is not None:
        try:
            values = [float(v) for v in yaws.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"--yaws must be numbers in degrees separated by commas, got {yaws!r}") from None
        if len(values) != len(files) or not all(np.isfinite(values)):
            raise ConfigError(f"--yaws gives {len(values)} finite angles for {len(files)} drawings "
                              f"({', '.join(f.name for f in files)})")
        return values
    meta = files[0].parent / "sheet.json"
    by_file: dict[str, float] = {}
    if meta.is_file():
        try:
            by_file = {v["file"]: float(v["yaw"]) for v in json.loads(meta.read_text()).get("views", [])}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{meta}: cannot read the view angles ({exc}); fix it or pass --yaws") from exc
    return [by_file[f.name] if f.name in by_file else label_from_name(f.stem) for f in files]


def run(args) -> int:
    from PIL import Image  # lazy: Pillow, not at CLI startup

    from conrt.runtime.app.session import FIT_SHEET_REPORT, MAX_SHEET_VIEWS, list_sheet_files  # lazy: torch, not at CLI startup
    from conrt.runtime.nn.sheet import read_sheet_image  # lazy: torch, not at CLI startup
    from conrt.runtime.app.sheet_fit import (JOINT_PART_WEIGHT, MIN_DRAWING_PX, MIN_IOU,  # lazy: torch, not at CLI startup
                                             PALETTE, PART_WEIGHT, WARN_IOU, fit_picture, prepare_drawing)
    from conrt.shaders.view_file import save_view_file, view_file_for  # lazy: moderngl, not at CLI startup

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if not MIN_DRAWING_PX <= args.size <= MAX_SIZE:
        raise ConfigError(f"--size must be within {MIN_DRAWING_PX}..{MAX_SIZE} pixels, got {args.size}")
    if args.part_weight is not None and not (math.isfinite(args.part_weight) and args.part_weight >= 0):
        raise ConfigError(f"--part-weight must be a finite number >= 0, got {args.part_weight}")
    min_iou = MIN_IOU if args.min_iou is None else args.min_iou
    if not 0 <= min_iou <= 1:
        raise ConfigError(f"--min-iou must be within 0..1, got {min_iou}")
    check_output_folder(args.drawings, args.output)
    files = list_sheet_files(args.drawings)
    if len(files) > MAX_SHEET_VIEWS:
        raise InputError(f"{args.drawings} has {len(files)} drawings; a sheet has at most {MAX_SHEET_VIEWS}")
    labels = view_labels(files, args.yaws)
    character = load_character_file(args.character)
    drawings = [prepare_drawing(read_sheet_image(f), f.name, args.size) for f in files]  # bad input fails here

    if fit_mode(args) == "joint":
        log.info("fit-sheet: joint fit (--joint): one pose shared by the %d views, a camera per view", len(files))
    elif fit_mode(args) == "separate":
        log.info("fit-sheet: separate fits (--separate): each drawing its own pose")
    elif len(files) > 1:
        log.info("fit-sheet: auto: a joint fit (one pose, a camera per view) that falls back to separate fits if "
                 "the %d drawings are not one pose (--joint / --separate to choose)", len(files))
    fits, mode, why = fit_views(args.character, character, drawings, [f.stem for f in files], labels, args)
    log.info("fit-sheet: %s fit, %s", mode, why)
    for f, fit in zip(files, fits):
        log.info("%s: yaw %.1f, IoU %.3f -> %.3f (rig) -> %.3f (warped), residual %.2f px, %.1f s (%s)",
                 f.name, fit.params.yaw, fit.iou_initial, fit.iou_pose, fit.iou_warped, fit.residual_mean_px,
                 fit.seconds, fit.stage_line())

    bad = [(f, fit) for f, fit in zip(files, fits) if fit.iou_pose < min_iou]
    if bad:
        listed = "; ".join(f"{f.name}: IoU {fit.iou_pose:.3f}" for f, fit in bad)
        raise InputError(f"the rig cannot be made to match {len(bad)} drawing(s) (silhouette IoU below "
                         f"{min_iou}): {listed}. Do they show this character ({args.character.name})? "
                         "Nothing was written; --min-iou lowers the bar")
    for f, fit in zip(files, fits):
        if fit.iou_pose < WARN_IOU:
            log.warning("%s: the rig matches the drawing only to silhouette IoU %.3f (the residual warp "
                        "covers the rest; mean %.1f px): check fit/%s.png", f.name, fit.iou_pose,
                        fit.residual_mean_px, f.stem)

    out = Path(args.output)
    remove_stale_views(out, {f.stem for f in files})
    (out / "fit").mkdir(parents=True, exist_ok=True)
    report = {"character": str(args.character), "drawings": str(args.drawings), "size": args.size,
              "mode": mode, "mode_why": why, "part_weight": (JOINT_PART_WEIGHT if mode == "joint" else PART_WEIGHT)
              if args.part_weight is None else args.part_weight, "palette": args.palette or PALETTE, "views": {}}
    for f, img, fit in zip(files, drawings, fits):
        Image.fromarray(img, "RGBA").save(out / f"{f.stem}.png")
        save_udp(out / f"{f.stem}_udp.npz", fit.udp)
        view_path = view_file_for(out / f"{f.stem}.png")
        entry = {"file": f"{f.stem}.png", **fit.summary()}
        if fit.view_file_valid:
            save_view_file(view_path, fit.camera, fit.pose)
            entry["view_file"] = view_path.name
        else:
            view_path.unlink(missing_ok=True)  # a stale one from an earlier run would mislead the runtime
            entry["view_file"] = None
            entry["view_file_skipped"] = (f"the residual warp moves drawn pixels by {fit.residual_mean_px:.2f} px "
                                          "on average: the camera and pose alone would take colours from the "
                                          "wrong place; the UDP file carries the warp")
        Image.fromarray(fit_picture(img, fit), "RGB").save(out / "fit" / f"{f.stem}.png")
        report["views"][f.stem] = entry
    (out / FIT_SHEET_REPORT).write_text(json.dumps(report, indent=1))
    worst = min(fit.iou_pose for fit in fits)
    print(f"fitted {len(fits)} views ({mode} fit) to {out}/ (silhouette IoU of the rig >= {worst:.3f}; "
          f"pictures in {out / 'fit'}/, numbers in {out / 'fit.json'})")
    return 0
