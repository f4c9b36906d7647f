"""Probe (#15, session 15): the light a sheet view saw vs the target's, on exact sheets.

A clip-frame sheet view keeps the lighting of its own pose where it sees a point (the keep-seen
rule); the target is lit for its pose. On an exact sheet each view's camera and pose are known,
so the N.L a view drew a surface point with is computable, as is the target's: the skinned normals
(transform feedback, ``skin_feedback.glsl`` with NORMALS) in each camera's eye space, dotted with
the toon pass's key light (``ToonStyle.light``, eye space: it turns with the camera), per vertex,
interpolated at each target pixel with the correspondence pass's visibility buffer (triangle +
barycentrics: the same surface point in every view); the tone bands from ``ToonStyle``'s
thresholds. Rules applied to the samples ``Renderer.view_samples`` gives the eval (patched here;
the runtime's frame loop is not):

- (a) ``--rule band``: where a view that sees the point is in the target's band, the coverage of
  the views that see it in another band x ``--weight`` (the fusion's softmax takes
  ``8 (cover - 1)``); ``--rule near``: the views whose N.L is within ``--margin`` of the nearest's.
- (c) ``--relight``: where no view that sees the point is in the target's band, each view's
  colour x ratio(target band) / ratio(its band) in linear RGB, the ratios per part label of the
  target's G-buffer, the median shade / lit colour over the frame's pixels one view sees lit and
  another in shade (deep); ``--darken-only``: only towards a darker band.

Then ``sheet_poses_eval.py`` runs with the arguments after ``--``. Its n = 1 rows are not the
runtime's (the samples are made once for the largest view count: the first view's coverage is
lowered where the others agree with the target; with one view the rule does nothing).
Results: docs/runtime.md, "Session 15: the light a view saw".

Usage: python benchmarks/light_agreement_probe.py [--rule band|near] [--weight 0.25] [--relight]
       [--darken-only] -- SHEET_POSES_EVAL_ARGS
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def tone_band(ndl: np.ndarray, lit: float, deep: float) -> np.ndarray:
    return (ndl > lit).astype(np.int8) + (ndl > deep).astype(np.int8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rule", choices=("band", "near"), default="band")
    ap.add_argument("--weight", type=float, default=0.25, help="coverage of a view lit unlike the target")
    ap.add_argument("--margin", type=float, default=0.3, help="near: |dN.L| beyond the best view's + this")
    ap.add_argument("--relight", action="store_true",
                    help="(c) where no view that sees the point is in the target's band, each seen view's colour "
                         "times the tone ratio target band / its band, per part label, estimated from the "
                         "frame's pixels that views see in both bands")
    ap.add_argument("--darken-only", action="store_true",
                    help="relight only towards a darker band (a view lit where the target is in shade)")
    ap.add_argument("--face-rule", action="store_true",
                    help="the bands with our toon look's face rule (face normals bent to the head's forward "
                         "direction, the neck in shade; per vertex): a diagnostic, a user sheet's is unknown")
    ap.add_argument("--dump", type=Path, default=None, help="a PNG per job: truth | target band | views' bands")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)

    import moderngl  # lazy: after the arguments (--help without GL)

    from conrt.shaders.material import face_forward, face_joint, face_region, neck_region  # lazy: as above
    from conrt.shaders.program import load_program  # lazy: as above
    from conrt.shaders.toon_pass import ToonStyle  # lazy: as above
    from conrt.training import datagen  # lazy: as above

    style = ToonStyle()
    light = np.asarray(style.light, np.float64)
    light /= np.linalg.norm(light)
    original = datagen.Renderer.view_samples
    stats = {"pixels": 0, "changed": 0}

    def normals_of(cp, pose) -> np.ndarray:
        g = cp.geometry
        prog = getattr(cp, "_probe_prog", None)
        if prog is None or prog[3] is not g:  # a new character: its own buffers
            prog = load_program(cp.ctx, "skin_feedback", defines={"NORMALS": 1}, varyings=["out_position", "out_normal"])
            vao = g.vertex_array(prog, indexed=False)
            buf = cp.ctx.buffer(reserve=g.num_vertices * 24)
            cp._probe_prog = prog = (prog, vao, buf, g)
        p, vao, buf, _ = prog
        g.update(pose)
        g.bind_joints(p)
        cp._scratch.use()
        vao.transform(buf, mode=moderngl.POINTS, vertices=g.num_vertices)
        n = np.frombuffer(buf.read(), np.float32).reshape(-1, 6)[:, 3:].astype(np.float64)
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)

    def ndl_of(cp, pose, camera) -> np.ndarray:
        n = normals_of(cp, pose) @ camera.view[:3, :3].astype(np.float64).T  # eye space
        if not args.face_rule:
            return n @ light
        character = cp.character
        head = face_joint(character)
        if head is None:
            return n @ light
        face = face_region(character) * style.flat_face
        neck = neck_region(character) if style.chin_shadow else np.zeros(len(n))
        forward = camera.view[:3, :3].astype(np.float64) @ face_forward(character, pose.joint_world, head)
        t = np.clip((n @ forward) / 0.5, 0, 1)
        bend = face * t * t * (3 - 2 * t)  # smoothstep(0, 0.5, n . forward)
        lit_n = n + bend[:, None] * (forward[None] - n)
        lit_n /= np.maximum(np.linalg.norm(lit_n, axis=1, keepdims=True), 1e-12)
        ndl = lit_n @ light
        return np.where(neck > 0.5, np.minimum(ndl, style.lit_threshold), ndl)

    def patched(self, character, frames, target, views, mode="exact", inked=False):
        sampled, cover, gbuf = original(self, character, frames, target, views, mode, inked)
        if mode != "exact" or len(views) < 2:
            return sampled, cover, gbuf
        cp = self._correspondence
        h, w = cp.height, cp.width
        vis = np.empty((h, w, 4), np.float32)
        fbo = cp.ctx.framebuffer(color_attachments=[cp._vbuf])
        fbo.read_into(vis, components=4, dtype="f4", alignment=1)
        fbo.release()
        tri = vis[..., 0].astype(np.int64)
        on = tri > 0
        corners = cp._triangles[tri[on] - 1]  # [P, 3]
        bary = np.stack([vis[..., 2][on], vis[..., 3][on], 1 - vis[..., 2][on] - vis[..., 3][on]], 1)
        t_ndl = (ndl_of(cp, frames.poses[target], frames.cameras[target])[corners] * bary).sum(1)
        v_ndl = np.stack([(ndl_of(cp, frames.poses[v], frames.cameras[v])[corners] * bary).sum(1) for v in views])
        c = cover[:, 0][:, on]  # [M, P]
        seen = c > 0.5
        if args.rule == "band":
            agree = tone_band(v_ndl, style.lit_threshold, style.deep_threshold) == \
                tone_band(t_ndl, style.lit_threshold, style.deep_threshold)[None]
        else:
            d = np.abs(v_ndl - t_ndl[None])
            best = np.where(seen, d, np.inf).min(0)
            agree = d <= best[None] + args.margin
        some = (seen & agree).any(0)
        if args.relight:
            sampled = relight(sampled, on, seen, agree, some, v_ndl, t_ndl, gbuf)
        lower = seen & ~agree & some[None]
        if args.dump is not None:
            from PIL import Image  # lazy: --dump only

            args.dump.mkdir(parents=True, exist_ok=True)
            tiles = [frames.rgba[target][..., :3]]
            for b in [tone_band(t_ndl, style.lit_threshold, style.deep_threshold)] + list(
                    tone_band(v_ndl, style.lit_threshold, style.deep_threshold)):
                img = np.zeros((h, w, 3), np.uint8)
                img[on] = (np.asarray(b)[:, None] * 110 + 30).astype(np.uint8)
                tiles.append(img)
            for v in views:
                tiles.append(frames.rgba[v][..., :3])
            Image.fromarray(np.concatenate(tiles, 1)).save(args.dump / f"{frames.seed}_{target}.png")
        stats["pixels"] += int(on.sum())
        stats["changed"] += int(lower.any(0).sum())
        c = np.where(lower, c * args.weight, c)
        cover = cover.copy()
        cover[:, 0][:, on] = c
        return sampled, cover, gbuf

    from conrt.characters.colour import linear_to_srgb, srgb_to_linear  # lazy: as above

    def relight(sampled, on, seen, agree, some, v_ndl, t_ndl, gbuf):
        bands = tone_band(v_ndl, style.lit_threshold, style.deep_threshold)  # [M, P]
        t_band = tone_band(t_ndl, style.lit_threshold, style.deep_threshold)
        colour = srgb_to_linear(np.clip(sampled[:, :3][:, :, on], 0, 1)).astype(np.float64)  # [M, 3, P]
        full = seen & (np.asarray(sampled[:, 3][:, on]) > 0.5)
        parts = gbuf[1][on].astype(np.int64) if gbuf is not None else np.zeros(on.sum(), np.int64)
        # ratio[b] per part: colour in band b / colour lit (b = 2: 1), from pixels seen lit and in band b
        ratio = {}
        for part in np.unique(parts):
            here = parts == part
            r = {2: np.ones(3)}
            for b in (1, 0):
                lit_i = np.where(full & (bands == 2), np.arange(len(bands))[:, None], -1).max(0)
                b_i = np.where(full & (bands == b), np.arange(len(bands))[:, None], -1).max(0)
                pair = here & (lit_i >= 0) & (b_i >= 0)
                idx = np.flatnonzero(pair)
                if len(idx) < 20:
                    continue
                lit_c = colour[lit_i[idx], :, idx]
                b_c = colour[b_i[idx], :, idx]
                ok = lit_c.min(1) > 0.01
                if ok.sum() < 20:
                    continue
                r[b] = np.median(b_c[ok] / lit_c[ok], 0)
            if 1 in r and 0 not in r:
                r[0] = r[1] * style.deep_multiplier
            if 0 in r and 1 not in r:
                r[1] = r[0] / style.deep_multiplier
            if len(r) == 3:
                ratio[int(part)] = r
        stats.setdefault("relit", 0)
        stats.setdefault("ratios", {})
        fix = seen & ~some[None] & (bands != t_band[None])
        out = colour.copy()
        for part, r in ratio.items():
            stats["ratios"].setdefault(part, []).append(np.round(r[1], 3).tolist())
            for b_v in (0, 1, 2):
                for b_t in (0, 1, 2):
                    if b_v == b_t or (args.darken_only and b_t > b_v):
                        continue
                    m = fix & (parts == part)[None] & (bands == b_v) & (t_band == b_t)[None]
                    if m.any():
                        k, q = np.nonzero(m)
                        out[k, :, q] = colour[k, :, q] * (r[b_t] / r[b_v])
                        stats["relit"] += len(q)
        sampled = sampled.copy()
        sub = sampled[:, :3]
        sub[:, :, on] = linear_to_srgb(np.clip(out, 0, 1)).astype(np.float32)
        sampled[:, :3] = sub
        return sampled

    datagen.Renderer.view_samples = patched
    import sheet_poses_eval  # lazy: after the patch (benchmarks/ on the path)

    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    rc = sheet_poses_eval.main(rest)
    if args.relight:
        print("relit view samples:", stats.get("relit"), "ratios (band 1 / lit) per part, first 3 jobs:",
              {p: v[:3] for p, v in stats.get("ratios", {}).items()})
    print(f"light agreement probe ({args.rule}, weight {args.weight}): {stats['changed']} of {stats['pixels']} "
          "covered pixels had a view's coverage lowered")
    return rc


if __name__ == "__main__":
    sys.exit(main())
