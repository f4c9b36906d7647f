"""Session 9's two UDP pass changes against the code they replaced, alternating
frame by frame in one process (the load of other sessions hits both alike):

1. ``coverage``: the coverage draw (``UdpPass(visibility=True, coverage=3)``,
   the runtime's with anti-aliasing on) as REV drew it, a geometry stage
   dropping the triangles (REV's ``glsl/udp_coverage.glsl``, from git, with
   its RG8 rules texture), against this tree's host cull
   (``coverage.kept_triangles``); the 3x samples must be equal every frame.
2. ``varyings``: the UDP draw with the visibility buffer carrying the alpha
   rules' varyings through the geometry stage although the character has no
   alpha rule (REV's program: this tree's ``ALPHA_RULE`` variant with
   ``u_has_alpha`` false) against the landmark-only variant; the UDP and the
   visibility buffer must be equal every frame.

CPU ms per frame of the part, calling thread (llvmpipe's vertex and geometry
stages, triangle set-up) and process (its rasterizer threads too), medians;
sample character, random poses.

    python benchmarks/udp_pass_ab.py [--baseline-rev af80fc7] [--sizes 128 256] [--frames 40]
        [--json benchmarks/results/udp_pass_ab.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _timed(times: list, fn) -> None:
    t0, c0 = time.thread_time(), time.process_time()
    fn()
    times.append(((time.thread_time() - t0) * 1e3, (time.process_time() - c0) * 1e3))


def _median(times: list) -> list[float]:
    return [round(statistics.median(t[i] for t in times), 2) for i in (0, 1)]


def bench(size: int, frames: int, old_coverage_glsl: Path) -> dict:
    import moderngl

    from conrt.characters.gltf_io import load_character
    from conrt.characters.posing import posed_positions
    from conrt.commands.udp import random_pose
    from conrt.samples import SAMPLE_CHARACTER
    from conrt.shaders import UdpPass, create_context, frame_character, release_context
    from conrt.shaders.camera import raster_view_proj
    from conrt.shaders.coverage import closed_surface_vertices, drop_masks, solid_distance
    from conrt.shaders.program import load_program

    ch = load_character(SAMPLE_CHARACTER)
    poses = [random_pose(ch, s, 0.3) for s in range(8)]
    cams = [frame_character(posed_positions(ch, p), yaw=30.0 * i, size=size) for i, p in enumerate(poses)]
    ctx = create_context("egl")
    try:
        # 1. the coverage draw: REV's geometry stage on the same pass's skinned vertices
        u = UdpPass(ctx, size, size, visibility=True, coverage=3)
        u.set_character(ch)
        old_prog = load_program(ctx, old_coverage_glsl)
        closed = ctx.buffer(closed_surface_vertices(ch).astype(np.float32))
        old_vao = u.geometry.vertex_array(old_prog, extra=[(u._skinned, "3f", "in_skinned"), (closed, "f", "in_closed")])
        rules_tex = ctx.texture((size, size), 2, dtype="f1")
        rules_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)

        def old_cover(mvp):  # REV's UdpPass._draw_coverage
            udp = np.empty((size, size, 4), np.float32)
            u.fbo.read_into(udp, components=4, dtype="f4", alignment=1)
            solid, far = drop_masks(udp)
            rules = np.empty((size, size, 2), np.uint8)
            rules[..., 0] = solid_distance(solid)
            rules[..., 1] = far.view(np.uint8) * np.uint8(255)
            rules_tex.write(rules)
            fbo, _ = u._cover
            fbo.use()
            fbo.viewport = (0, 0, 3 * size, 3 * size)
            fbo.clear(0.0, 0.0, 0.0, 0.0)
            ctx.enable_only(moderngl.NOTHING)
            rules_tex.use(2)
            old_prog["u_rules"].value = 2
            old_prog["u_size"].value = (float(size), float(size))
            old_prog["u_front_ccw"].value = ctx.front_face == "ccw"
            old_prog["u_view_proj"].write(np.ascontiguousarray(mvp.T))
            old_vao.render(moderngl.TRIANGLES, vertices=u.geometry.num_indices)

        # 2. the UDP + visibility draw: all varyings (REV) against the landmark alone
        new = UdpPass(ctx, size, size, visibility=True)
        new.set_character(ch)
        old = UdpPass(ctx, size, size, visibility=True)
        old.set_character(ch)
        all_varyings = load_program(ctx, "udp_vbuf", defines={"ALPHA_RULE": 1})
        all_varyings["u_has_alpha"].value = False
        old.program = all_varyings
        old._vao = old.geometry.vertex_array(all_varyings, extra=[(old._skinned, "3f", "in_skinned")])

        cover = {"geometry stage (REV)": [], "host cull": []}
        draw = {"all varyings (REV)": [], "landmark only": []}
        for f in range(frames + 2):
            pose, cam = poses[f % 8], cams[f % 8]
            mvp = raster_view_proj(cam, flip_y=True)
            samples = {}
            for name in (list(cover) if f % 2 else list(cover)[::-1]):
                u.render(pose, cam)  # the UDP (and this tree's coverage draw, redone below)
                ctx.finish()
                ctx.front_face = "cw"
                _timed(cover[name], lambda: (old_cover(mvp) if "REV" in name else u._draw_coverage(mvp), ctx.finish()))
                ctx.front_face = "ccw"
                samples[name] = np.frombuffer(u._cover[1].read(), np.uint8) > 0
            if not np.array_equal(*samples.values()):
                raise SystemExit(f"{size}²: the coverage samples differ at frame {f}")
            out = {}
            for name in (list(draw) if f % 2 else list(draw)[::-1]):
                p = old if "REV" in name else new
                _timed(draw[name], lambda: (p.render(pose, cam), ctx.finish()))
                out[name] = (p.read().data, np.frombuffer(p.visibility.read(), np.float32))
            a, b = out.values()
            if not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])):
                raise SystemExit(f"{size}²: the UDP or the visibility buffer differ at frame {f}")
        for p in (u, new, old):
            p.release()
    finally:
        release_context(ctx)
    row = {"size": size, "frames": frames, "load_1min": round(os.getloadavg()[0], 2),
           "coverage_draw_ms": {k: _median(v[2:]) for k, v in cover.items()},
           "udp_visibility_render_ms": {k: _median(v[2:]) for k, v in draw.items()}}
    (c_old, c_new), (d_old, d_new) = row["coverage_draw_ms"].values(), row["udp_visibility_render_ms"].values()
    row["coverage_ratio"] = [round(n / o, 3) for n, o in zip(c_new, c_old)]
    row["render_ratio"] = [round(n / o, 3) for n, o in zip(d_new, d_old)]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-rev", default="af80fc7")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "udp_pass_ab.json")
    args = ap.parse_args(argv)
    glsl = subprocess.run(["git", "-C", str(ROOT), "show", f"{args.baseline_rev}:shaders/glsl/udp_coverage.glsl"],
                          capture_output=True, text=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old_glsl = Path(tmp) / "udp_coverage_rev.glsl"
        old_glsl.write_text(glsl)
        rows = [bench(size, args.frames, old_glsl) for size in args.sizes]
    result = {"what": __doc__.split("\n\n")[0].replace("\n", " "), "baseline_rev": args.baseline_rev,
              "unit": "CPU ms per frame of the part, [calling thread, process], medians; ratios this / REV",
              "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    for r in rows:
        print(f"{r['size']}²: coverage draw {r['coverage_draw_ms']} x{r['coverage_ratio']}; "
              f"UDP+visibility render {r['udp_visibility_render_ms']} x{r['render_ratio']}; load {r['load_1min']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
