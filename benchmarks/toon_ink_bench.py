"""The toon pass's ink rule before and after session 10 (issue #15: the hair
stippled with dark dots), on the same frames in one run.

The frames: the sample sheet's six views (their view files: camera and pose,
as ``training/sample_sheet.py`` draws them) and a toon frame of the demo's
clip (``walk``, the sample character with hair and skirt simulated, frame 10,
yaw 30°: the ground truth the runtime is scored against), each drawn with
``ToonStyle(resolved_only=False)`` (every pixel pair tested: before) and the
default (part and crease lines only between resolved surfaces: now).

Prints per size: the ink noise inside the hair (ink components under 4 px and
lone ink pixels, 8-connected, hair at least 2 px inside the silhouette), all
ink pixels, and what the ink step costs (drawn again over each frame's
G-buffer with either rule, interleaved ``--rounds`` times: the median of the
rounds' now/before ratios). Draws
``docs/toon_ink.png``: the head of sheet view 0 and of the walk frame, before
above after, 4× nearest.

With ``--old-sheet DIR`` (the sample sheet as drawn before, e.g. ``git show
17e7d32:samples/sheet/...`` into DIR): the demo's frames (walk 10, 40, 75,
110, 149; the runtime as ``fill_unseen_bench.py --demo`` shades them, torch
backend) shaded from the old and from the current sample sheet, each scored
(L1 on the target) against the toon pass at the same pose with the rule of
before and of now: the ground truth changes with the rule, so only numbers
in one column compare.

Usage: python benchmarks/toon_ink_bench.py [--sizes 256 128] [--rounds 5] [--picture docs/toon_ink.png]
       [--old-sheet DIR]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
EIGHT = np.ones((3, 3), bool)
WALK_FRAME, WALK_YAW = 10, 30.0


def frames(character, size: int):
    """[(name, camera, pose)]: the sheet's six views (cameras scaled to ``size``) and the walk frame."""
    from conrt.characters.posing import posed_positions
    from conrt.physics import PhysicsWorld
    from conrt.samples import SAMPLE_SHEET_DIR
    from conrt.shaders import frame_character
    from conrt.shaders.view_file import load_view_file
    from conrt.training.sample_sheet import MARGIN, PITCH

    out = []
    for path in sorted(SAMPLE_SHEET_DIR.glob("view*_view.npz")):
        _, pose = load_view_file(path, character.skeleton.num_joints)
        yaw = float(path.stem.split("_yaw")[1][:3])
        camera = frame_character(posed_positions(character, pose), yaw=yaw, pitch=PITCH, roll=0.0, size=size,
                                 margin=MARGIN)
        out.append((path.stem[:-5], camera, pose))
    with PhysicsWorld(fps=30) as world:
        h = world.add(character, "walk")
        for _ in range(WALK_FRAME + 1):
            pose = world.step()[h]
    camera = frame_character(posed_positions(character, pose), yaw=WALK_YAW, pitch=0.0, roll=0.0, size=size,
                             margin=0.08)
    out.append((f"walk{WALK_FRAME}", camera, pose))
    return out


def noise(ink: np.ndarray, gbuf: np.ndarray) -> tuple[int, int]:
    """(ink components under 4 px, lone ink pixels) inside the hair, 2 px in from the silhouette."""
    from conrt.types import Part

    hair = (gbuf[..., 1] == Part.HAIR) & ndimage.binary_erosion(gbuf[..., 0] > 0, np.ones((5, 5), bool))
    labels, count = ndimage.label(ink & hair, EIGHT)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, np.arange(1, count + 1))
    neighbours = ndimage.convolve(ink.astype(np.int32), EIGHT.astype(np.int32), mode="constant") - ink
    return int((sizes < 4).sum()), int((ink & hair & (neighbours <= 1)).sum())


def _head(img: np.ndarray, gbuf: np.ndarray) -> tuple[slice, slice]:
    """A square around the hair's upper part (the crown and the face below it)."""
    ys, xs = np.nonzero(gbuf[..., 1] == 1)
    top = ys.min()
    side = int((xs.max() - xs.min()) * 0.8)
    cx = (xs.min() + xs.max()) // 2
    return slice(max(top - 2, 0), top - 2 + side), slice(max(cx - side // 2, 0), cx + side - side // 2)


def ink_step_time(ctx, toon, shots, rounds: int) -> str:
    """The ink step alone (the pass's step 2 drawn again over the G-buffer of
    the frame's step 1), the rule of before and of now switched by its uniform
    and interleaved: each round times both back to back on every frame."""
    import moderngl

    seconds = {False: [], True: []}
    for _, camera, pose in shots:
        toon.render(pose, camera)
        for _ in range(rounds):
            for resolved in (False, True):
                toon.outline["u_resolved_only"].value = resolved
                toon.fbo.use()
                ctx.finish()
                t0 = time.perf_counter()
                for _ in range(10):
                    toon._screen_vao.render(moderngl.TRIANGLES, vertices=3)
                ctx.finish()
                seconds[resolved].append((time.perf_counter() - t0) / 10)
    ratio = np.array(seconds[True]) / np.array(seconds[False])
    return (f"ink step now/before: median {np.median(ratio):.3f}x (quartiles {np.percentile(ratio, 25):.3f}-"
            f"{np.percentile(ratio, 75):.3f}; {1e3 * np.median(seconds[False]):.2f} -> "
            f"{1e3 * np.median(seconds[True]):.2f} ms a frame, {rounds} rounds x {len(shots)} frames)")


def demo_cross(old_sheet: Path, sizes, keep=(10, 40, 75, 110, 149)) -> dict:
    """{size: {sheet: {ground truth: L1}}}: the demo's frames shaded from both sheets, scored against both rules."""
    import torch
    from fill_unseen_bench import _fusion  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

    from conrt.runtime.app.frame_loop import open_runtime
    from conrt.runtime.nn.sheet import prepare_udp
    from conrt.samples import SAMPLE_SHEET_DIR
    from conrt.shaders import ToonPass, create_context
    from conrt.shaders.toon_pass import ToonStyle

    out = {}
    for size in sizes:
        preds, shots = {}, []
        for tag, sheet in (("sheet before", old_sheet), ("sheet now", SAMPLE_SHEET_DIR)):
            preds[tag] = []
            with open_runtime(sheet=str(sheet), size=size, clip="walk", backend="torch", toon=True) as rt:
                model, look = rt.shader.backend.source_model, rt.shader.backend.cache.look
                ink = torch.tensor([float(look.inked)])
                for index in range(max(keep) + 1):
                    pose = rt.physics.step()  # the same clip and physics for both sheets: the same poses
                    if index not in keep:
                        continue
                    camera = rt.raster.camera(pose)
                    rt.raster.render(pose, camera)
                    sampled, cover, gbuf = (torch.from_numpy(np.ascontiguousarray(x))[None]
                                            for x in rt.raster.read_views())
                    udp = torch.from_numpy(np.ascontiguousarray(prepare_udp(rt.raster.read(), size, False)[0]))
                    preds[tag].append(_fusion(model, sampled, cover, udp, ink, True, gbuf)[0].numpy())
                    if tag == "sheet now":
                        shots.append((pose, camera, udp[0, 3].numpy() > 0.5))
                character = rt.raster.character
        out[size] = {tag: {} for tag in preds}
        ctx = create_context("egl")
        for rule, style in (("ground truth before", ToonStyle(resolved_only=False)), ("ground truth now", ToonStyle())):
            with ToonPass(ctx, size, size, style) as toon:
                toon.set_character(character)
                gts = []
                for pose, camera, _ in shots:
                    x = toon.run(pose, camera).astype(np.float32) / 255
                    gts.append(np.concatenate([x[..., :3] * x[..., 3:], x[..., 3:]], -1).transpose(2, 0, 1))
            for tag, frames_ in preds.items():
                err = count = 0.0
                for pred, gt, (_, _, alpha) in zip(frames_, gts, shots):
                    target = alpha | (gt[3] > 0.5)
                    err += float(np.abs(pred - gt).mean(0)[target].sum())
                    count += int(target.sum())
                out[size][tag][rule] = err / count
    return out


def main(argv=None) -> int:
    from conrt.characters.gltf_io import load_character
    from conrt.samples import SAMPLE_CHARACTER
    from conrt.shaders import ToonPass, create_context
    from conrt.shaders.toon_pass import ToonStyle

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--old-sheet", type=Path, default=None, help="the sample sheet as drawn before (demo cross-score)")
    ap.add_argument("--picture", default=str(ROOT / "docs" / "toon_ink.png"), help="\"\": none")
    args = ap.parse_args(argv)
    character = load_character(SAMPLE_CHARACTER)
    ctx = create_context("egl")
    styles = {"no lines": ToonStyle(line_width=0), "before": ToonStyle(resolved_only=False), "now": ToonStyle()}
    crops = []
    for size in args.sizes:
        shots = frames(character, size)
        passes = {name: ToonPass(ctx, size, size, style) for name, style in styles.items()}
        try:
            for toon in passes.values():
                toon.set_character(character)
            totals = {k: np.zeros(3, int) for k in ("before", "now")}
            for name, camera, pose in shots:
                img = {k: toon.run(pose, camera) for k, toon in passes.items()}
                gbuf = passes["now"].read_gbuffer()
                for k in totals:
                    ink = (img[k] != img["no lines"]).any(-1)
                    totals[k] += (*noise(ink, gbuf), int(ink.sum()))
                if size == args.sizes[0] and name in ("view0_yaw000", f"walk{WALK_FRAME}"):
                    ys, xs = _head(img["now"], gbuf)
                    crops.append((name, [img[k][ys, xs] for k in ("before", "now")]))
            print(f"{size}²: {len(shots)} frames (6 sheet views + walk frame {WALK_FRAME})")
            for k, (small, lone, ink) in totals.items():
                print(f"  {k:6s} hair ink components < 4 px {small:4d}   lone hair ink px {lone:4d}   ink px {ink:6d}")
            print("  " + ink_step_time(ctx, passes["now"], shots, args.rounds))
        finally:
            for toon in passes.values():
                toon.release()
    if args.old_sheet is not None:
        for size, rows in demo_cross(args.old_sheet, args.sizes).items():
            print(f"demo {size}², L1 on the target   vs ground truth before   vs ground truth now")
            for tag, r in rows.items():
                print(f"  shaded from the {tag:13s} {r['ground truth before']:.4f}               "
                      f"{r['ground truth now']:.4f}")
    if args.picture:
        _picture(crops, Path(args.picture))
        print(f"wrote {args.picture}")
    return 0


def _picture(crops, path: Path, zoom: int = 4) -> None:
    from PIL import Image, ImageDraw

    tiles = []
    for name, (before, now) in crops:
        col = []
        for label, img in (("before", before), ("now", now)):
            a = img[..., 3:4].astype(np.float32) / 255
            rgb = (img[..., :3] * a + 255 * (1 - a)).astype(np.uint8)
            big = Image.fromarray(rgb).resize((rgb.shape[1] * zoom, rgb.shape[0] * zoom), Image.NEAREST)
            canvas = Image.new("RGB", (big.width, big.height + 14), "white")
            canvas.paste(big, (0, 14))
            ImageDraw.Draw(canvas).text((2, 1), f"{name}, {label}", fill=(0, 0, 0))
            col.append(np.asarray(canvas))
        tiles.append(np.concatenate(col, 0))
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 8), (0, 0)), constant_values=255) for t in tiles]
    Image.fromarray(np.concatenate(tiles, 1)).save(path)


if __name__ == "__main__":
    raise SystemExit(main())
