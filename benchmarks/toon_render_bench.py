"""What one toon render of the fit costs (``SheetFitter.render_toon``), term by term.

The fit-sheet searches draw the skinned rig thousands of times per view
(docs/fit_sheet.md, *Speed*). This script renders the benchmark's procedural
character (seed 900001, as ``fit_sheet_bench.py``) ``--renders`` times at the
work size with varied poses and cameras, and splits the process CPU of a render
into its terms, each closed with ``ctx.finish()`` so llvmpipe's deferred work is
counted where it is queued: posing the skeleton (Python), the camera, the
geometry draw (skinning + raster + toon shading), the ink pass, the read-back, and the conversion to (mask, rgb).

Then, in the same process on the same poses and cameras, the plain
``render_toon`` loop (no finishes in between) for each way of rendering, as
ratios against the first: the toon pass before session 9's cuts (the alpha
test in every draw, skinning in the draw), as ``conrt sheet`` draws it now
(no alpha test where nothing is discarded) and as the fitter draws it
(``ToonPass(skin_once=True)``: each pose skinned once, ``--views`` cameras a
pose as a joint fit's process draws a trial), and the latter with the ink step
on every pixel of the frame as before session 12 (``skin_once_ink_full_frame``;
now only covered pixels are inked), interleaved per pose trial (since session
12; before, per way and round), ``--rounds`` times, with a check that all give
the same pixels. Run from an older checkout (no ``skin_once``) it times the
first way alone: the same-machine baseline of a before/after.

Usage: python benchmarks/toon_render_bench.py [--renders 200] [--size 128] [--views 2] [--rounds 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _params(rng, fitter, count: int, views: int):
    """``count`` pose trials, each seen from ``views`` cameras (a joint fit's
    trial renders every view of its process with the same pose)."""
    from conrt.runtime.app.sheet_fit import FitParams

    trials = []
    for _ in range(count // views):
        turns = {b: float(rng.uniform(-25, 25)) for b in fitter.joint_bones}
        arms = tuple(float(a) for a in rng.uniform(10, 70, 2))
        for _ in range(views):
            trials.append(FitParams(float(rng.uniform(0, 360)), float(np.exp(rng.uniform(-0.15, 0.15))),
                                    tuple(float(o) for o in rng.uniform(-0.1, 0.1, 2)), arms, turns, pose_yaw=0.0))
    return trials


def terms(fitter, trials, n: int) -> dict:
    """Mean CPU ms per render of each term (finishing GL after each): posing
    (a fresh pose each trial, then cached for its other views, as the fitter
    does), the camera (framing a yaw not seen before), both draws (skinning,
    raster, toon shading and the ink pass), the read-back, the conversion."""
    toon = fitter._toons[n]
    ctx = toon.ctx
    clock = {k: 0.0 for k in ("pose", "camera", "draw", "ink", "read", "convert")}
    fitter._poses.clear()
    fitter._base.clear()

    def lap(key, t0):
        ctx.finish()
        t1 = time.process_time()
        clock[key] += t1 - t0
        return t1

    for p in trials:
        t = time.process_time()
        pose = fitter.pose(p)
        t = lap("pose", t)
        camera = fitter.camera(p, n)
        t = lap("camera", t)
        toon.render(pose, camera)
        t = lap("draw", t)
        rgba = toon.read()
        t = lap("read", t)
        _ = rgba[..., 3] > 0, rgba[..., :3].astype(np.float32) / 255.0
        lap("convert", t)
    # the ink pass alone, drawn again on the last G-buffer, out of the draw term
    t = time.process_time()
    for _ in range(len(trials)):
        if hasattr(toon, "draw_ink"):  # the pass's own step 2 (session 12: covered pixels only)
            toon.draw_ink()
        else:  # a checkout before it: the full-frame step
            toon.fbo.use()
            toon._screen_vao.render(vertices=3)
    ctx.finish()
    clock["ink"] = time.process_time() - t
    clock["draw"] -= clock["ink"]
    return {k: round(1000 * v / len(trials), 3) for k, v in clock.items()}


def _with_alpha_test(toon, ctx):
    """``toon`` drawing with the alpha-test shader variant whatever the
    character (as every toon pass drew before the variant without it)."""
    from conrt.shaders import load_program

    prog = load_program(ctx, "toon", defines={**toon.defines, "ALPHA_RULE": 1})
    # what set_character sets (render sets the rest)
    for name in ("u_base_color", "u_skin_rule", "u_part_lines", "u_shade_color"):
        if prog.get(name, None) is not None:
            prog[name].value = toon.program[name].value
    toon.program = prog
    toon._vao = toon.geometry.vertex_array(prog, extra=toon.material_buffers)  # released with the context
    return toon


def _ink_full_frame(toon):
    """``toon`` inking every pixel of the frame, as before session 12 (the outline
    shader on the background too; the same pixels: tests/shaders/test_toon_fit_paths.py)."""
    toon.draw_ink = lambda: type(toon).draw_ink(toon, covered_only=False)  # the instance attribute shadows it
    return toon


def ways(ctx, character, n: int) -> dict:
    """The toon passes to compare: before this session's cuts (the alpha test
    always, skinning in the draw), as ``conrt sheet`` draws now (no alpha test
    where nothing is discarded) and as the fitter draws (``skin_once``); from
    a checkout without them, only the pass as it is. All with the fitter's ink
    (``FIT_INK``: every inner line; before session 12 the toon pass's default)."""
    from conrt.runtime.app.sheet_fit import FIT_INK
    from conrt.shaders import ToonPass

    try:
        once = ToonPass(ctx, n, n, FIT_INK, skin_once=True)
    except TypeError:  # a checkout before skin_once (a baseline run)
        toon = ToonPass(ctx, n, n, FIT_INK)
        toon.set_character(character)
        return {"skin_in_draw": toon}
    out = {"alpha_test_skin_in_draw": ToonPass(ctx, n, n, FIT_INK), "skin_in_draw": ToonPass(ctx, n, n, FIT_INK),
           "skin_once": once}
    if hasattr(once, "draw_ink"):  # session 12's ink step against the full-frame one, both skinned once
        out["skin_once_ink_full_frame"] = _ink_full_frame(ToonPass(ctx, n, n, FIT_INK, skin_once=True))
    for toon in out.values():
        toon.set_character(character)
    if out["skin_in_draw"].geometry.alpha_rule:  # the character has alpha rules: no variant to compare
        del out["alpha_test_skin_in_draw"]
    else:
        _with_alpha_test(out["alpha_test_skin_in_draw"], ctx)
    return out


def compare(fitter, passes: dict, trials, n: int, rounds: int, views: int) -> dict:
    """CPU ms per render (the fitter's render_toon with each pass in turn), and
    whether each way gave the first way's pixels. Interleaved per pose trial
    (its ``views`` cameras), the ways' order rotating from trial to trial, so
    the load's drift falls on every way alike; ``rounds`` times over the trials."""
    times = {k: [] for k in passes}
    keys = list(passes)
    same = {k: True for k in passes}
    for toon in passes.values():  # warm-up
        fitter._toons[n] = toon
        fitter.render_toon(trials[0], n)
    for _ in range(rounds):
        spent = {k: 0.0 for k in passes}
        fitter._poses.clear()
        for g in range(0, len(trials), views):
            group = trials[g:g + views]
            first = None
            for r in range(len(keys)):
                key = keys[(g // views + r) % len(keys)]
                fitter._toons[n] = passes[key]
                t = time.process_time()
                outs = [fitter.render_toon(p, n) for p in group]  # each read back: the draw is done
                spent[key] += time.process_time() - t
                if first is None:
                    first = outs
                same[key] &= all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                                 for a, b in zip(first, outs))
        for k in passes:
            times[k].append(1000 * spent[k] / len(trials))
    base = keys[0]
    return {key: {"ms": [round(x, 3) for x in v], "median_ms": float(np.median(v)),
                  "ratio_to_" + base: float(np.median(np.array(v) / np.array(times[base]))),
                  "same_pixels": same[key]} for key, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renders", type=int, default=200)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--views", type=int, default=2, help="cameras per pose trial (a joint fit's views per process)")
    ap.add_argument("--seed", type=int, default=900001)
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds over the trials (ways interleaved per trial)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate
    from conrt.runtime.app.sheet_fit import SheetFitter
    from conrt.shaders import create_context, release_context

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "char.glb"
        save_character(generate(args.seed), path)
        character = load_character(path)
    ctx = create_context("auto")
    rng = np.random.default_rng(0)
    try:
        with SheetFitter(ctx, character, 256, work=args.size) as fitter:
            trials = _params(rng, fitter, args.renders, args.views)
            passes = ways(ctx, character, args.size)
            split = {}
            for key, toon in passes.items():
                fitter._toons[args.size] = toon
                split[key] = terms(fitter, trials, args.size)
            ms = compare(fitter, passes, trials, args.size, args.rounds, args.views)
            for toon in passes.values():
                toon.release()
    finally:
        release_context(ctx)
    if "skin_once_ink_full_frame" in ms:  # session 12: the render with the covered-only ink step / the full-frame one
        now, before = (np.array(ms[k]["ms"]) for k in ("skin_once", "skin_once_ink_full_frame"))
        ms["skin_once"]["ratio_to_skin_once_ink_full_frame"] = float(np.median(now / before))
    result = {"what": "CPU ms per toon render of the fit (SheetFitter.render_toon)",
              "size": args.size, "renders": len(trials), "views_per_pose": args.views,
              "vertices": character.mesh.num_vertices, "triangles": character.mesh.num_triangles,
              "load_average": os.getloadavg(), "terms_ms": split, "render_toon": ms}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
