"""The exact correspondence pass: visibility buffer vs the per-view-varying raster it replaced.

Same process, same frames, interleaved: the pass as of ``--baseline`` (a git
revision; its ``shaders/correspondence_pass.py`` and ``glsl/correspondence.glsl``
loaded from git) and the working tree's. Per character (the sample and a
procedural one), a sheet of 6 (the demo's) or 4 views (UDP pass, perspective cameras around the
character, random poses; the views' UDPs stand in for the references; views
the first half exact, the rest udp-nn, so both resolve branches run) and a
target pose/camera.
Checks the outputs agree (max abs difference of ``sampled`` and ``cover``,
pixels that differ by more than 1e-3, pixels whose coverage flips, and the
sheet positions found: with a position-ramp reference, their max and median
shift in sheet pixels) and times ``run`` (render + read back; median and
fastest of the interleaved repetitions, and the median CPU time of the
process, llvmpipe's threads included: the steadiest on a shared CPU).
Also the raster stage as the runtime runs it (``stage_*``): the baseline's
plain UDP pass + its pass, against the working tree's UDP pass drawing the
visibility buffer too (``UdpPass(visibility=True)``) + the resolve of it; and
``shared_*``: both versions resolving the same UDP pass's visibility buffer
and reading back (the runtime's per-frame work of the pass since session 9).

Usage: python benchmarks/correspondence_bench.py [--sizes 256 128] [--reps 20]
       [--baseline 606459e] [--json benchmarks/results/correspondence.json]
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
YAWS = (0.0, 60.0, 120.0, 180.0, 240.0, 300.0, 30.0, 210.0)  # the first --views of them


def _old_module(rev: str, tmp: Path):
    """The pass as of ``rev``, loading its own GLSL file."""
    def show(path):
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True,
                              capture_output=True, text=True).stdout
    glsl = tmp / "correspondence_old.glsl"
    glsl.write_text(show("shaders/glsl/correspondence.glsl"))
    # every load of its resolve/depth program (ctx or self.ctx) reads the old file
    src = re.sub(r'load_program\((self\.)?ctx, "correspondence"',
                 lambda m: f'load_program({m.group(1) or ""}ctx, __import__("pathlib").Path({str(glsl)!r})',
                 show("shaders/correspondence_pass.py"))
    src = re.sub(r"from \.(\w)", r"from conrt.shaders.\1", src)  # its lazy relative imports (sheet_ink), standalone here
    path = tmp / "correspondence_pass_old.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("conrt_correspondence_pass_old", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    if "inked" not in inspect.signature(mod.CorrespondencePass.set_sheet).parameters:
        drawn = mod.CorrespondencePass.set_sheet  # before the sheet's look reached the pass: every texel as drawn

        def set_sheet(self, views, reference, inked=False):
            return drawn(self, views, reference)
        mod.CorrespondencePass.set_sheet = set_sheet
    return mod


def _scene(ctx, character, size, views):
    from conrt.characters.posing import posed_positions
    from conrt.commands.udp import random_pose
    from conrt.shaders import UdpPass, frame_character

    sheet = []
    with UdpPass(ctx, size, size) as udp:
        udp.set_character(character)
        for k, yaw in enumerate(YAWS[:views]):
            pose = random_pose(character, k, 0.12)
            camera = frame_character(posed_positions(character, pose), yaw=yaw, size=size,
                                     projection="perspective", fov=50.0)
            sheet.append((camera, pose, udp.run(pose, camera).data.copy()))
        pose = random_pose(character, 77, 0.5)
        camera = frame_character(posed_positions(character, pose), yaw=30.0, size=size)
    return sheet, (pose, camera)


def _ramp_reference(sheet, size):
    x = (np.arange(size) + 0.5) / size
    out = []
    for _, _, udp in sheet:
        a = udp[..., 3]
        out.append(np.stack([np.broadcast_to(x[None, :], a.shape), np.broadcast_to(x[:, None], a.shape),
                             np.zeros_like(a), a]))
    return np.stack(out).astype(np.float32)


def _views(mod, sheet):
    half = -(-len(sheet) // 2)
    return [mod.SheetView("exact", camera=c, pose=p) if k < half else mod.SheetView("udp-nn", udp=u)
            for k, (c, p, u) in enumerate(sheet)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--views", type=int, nargs="+", default=[6, 4], help="sheet views (1..8)")
    ap.add_argument("--baseline", default="606459e")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from conrt.runtime.app.session import load_character_source
    from conrt.shaders import UdpPass
    from conrt.shaders import correspondence_pass as new
    from conrt.shaders.context import create_context, describe

    ctx = create_context()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = _old_module(args.baseline, Path(tmp))
        for source in (None, "procedural:900001"):
            character = load_character_source(source)
            for size, views in [(s, v) for s in args.sizes for v in args.views]:
                sheet, (pose, camera) = _scene(ctx, character, size, views)
                reference = np.stack([u.transpose(2, 0, 1) for _, _, u in sheet]).astype(np.float32)
                passes = {}
                for name, mod in (("baseline", old), ("vbuf", new)):
                    p = mod.CorrespondencePass(ctx, size, size)
                    p.set_character(character)
                    p.set_sheet(_views(mod, sheet), reference)
                    passes[name] = p
                out = {name: [a.copy() for a in p.run(pose, camera)] for name, p in passes.items()}
                times = {name: [] for name in passes}
                cpu = {name: [] for name in passes}
                udps = {"baseline": UdpPass(ctx, size, size), "vbuf": UdpPass(ctx, size, size, visibility=True)}
                for u in udps.values():
                    u.set_character(character)
                stage = {name: [] for name in passes}  # CPU ms of UDP pass + correspondences, as the runtime
                shared = {name: [] for name in passes}  # CPU ms of the resolve of one visibility buffer + read
                vis = UdpPass(ctx, size, size, visibility=True)
                vis.set_character(character)
                vis.render(pose, camera)
                for _ in range(args.reps):
                    for name, p in passes.items():
                        t0, c0 = time.perf_counter(), time.process_time()
                        p.run(pose, camera)
                        times[name].append(time.perf_counter() - t0)
                        cpu[name].append(time.process_time() - c0)
                        c0 = time.process_time()
                        udps[name].render(pose, camera)
                        if name == "vbuf":
                            p.render(pose, camera, visibility=udps[name].visibility)
                        else:
                            p.render(pose, camera)
                        udps[name].read()
                        p.read()
                        stage[name].append(time.process_time() - c0)
                        c0 = time.process_time()
                        p.render(pose, camera, visibility=vis.visibility)
                        ctx.finish()
                        p.read()
                        shared[name].append(time.process_time() - c0)
                for u in [*udps.values(), vis]:
                    u.release()
                (s0, c0), (s1, c1) = out["baseline"], out["vbuf"]
                diff = np.maximum(np.abs(s0 - s1).max(1), np.abs(c0 - c1)[:, 0])  # [M, H, W]
                # the sheet positions found: a ramp reference (colour = position / size, alpha = the
                # view's silhouette) gives them where the 4 texels around are inside (cover 1)
                ramp = _ramp_reference(sheet, size)
                pos = {}
                for name, p in passes.items():
                    p.set_sheet(_views(old if name == "baseline" else new, sheet), ramp)
                    pos[name] = p.run(pose, camera)
                (r0, k0), (r1, k1) = pos["baseline"], pos["vbuf"]
                inside = (k0[:, 0] == 1.0) & (k1[:, 0] == 1.0)
                shift = np.abs(r0[:, :2] - r1[:, :2]).max(1)[inside] * size
                ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
                fastest = {name: 1e3 * min(t) for name, t in times.items()}
                row = {"character": character.name, "size": size, "views": len(sheet),
                       "triangles": int(character.mesh.num_triangles),
                       "baseline_ms": round(ms["baseline"], 2), "vbuf_ms": round(ms["vbuf"], 2),
                       "speedup": round(ms["baseline"] / ms["vbuf"], 2),
                       "baseline_min_ms": round(fastest["baseline"], 2), "vbuf_min_ms": round(fastest["vbuf"], 2),
                       "speedup_min": round(fastest["baseline"] / fastest["vbuf"], 2),
                       "baseline_cpu_ms": round(1e3 * statistics.median(cpu["baseline"]), 2),
                       "vbuf_cpu_ms": round(1e3 * statistics.median(cpu["vbuf"]), 2),
                       "speedup_cpu": round(statistics.median(cpu["baseline"]) / statistics.median(cpu["vbuf"]), 2),
                       "stage_baseline_cpu_ms": round(1e3 * statistics.median(stage["baseline"]), 2),
                       "stage_cpu_ms": round(1e3 * statistics.median(stage["vbuf"]), 2),
                       "stage_speedup_cpu": round(statistics.median(stage["baseline"]) / statistics.median(stage["vbuf"]), 2),
                       "shared_baseline_cpu_ms": round(1e3 * statistics.median(shared["baseline"]), 2),
                       "shared_cpu_ms": round(1e3 * statistics.median(shared["vbuf"]), 2),
                       "shared_speedup_cpu": round(statistics.median(shared["baseline"]) / statistics.median(shared["vbuf"]), 2),
                       "load_1min": round(os.getloadavg()[0], 2),
                       "covered_pixels": int((c0 > 0).sum()), "max_abs_diff": float(diff.max()),
                       "pixels_diff_gt_1e-3": int((diff > 1e-3).sum()),
                       "cover_flips": int(((c0 > 0) != (c1 > 0)).sum()),
                       "max_position_shift_px": float(shift.max(initial=0.0)),
                       "median_position_shift_px": float(np.median(shift)) if shift.size else 0.0}
                rows.append(row)
                print(json.dumps(row), flush=True)
                for p in passes.values():
                    p.release()
    result = {"machine": platform.machine(), "gl": describe(ctx), "baseline": args.baseline,
              "reps": args.reps, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
