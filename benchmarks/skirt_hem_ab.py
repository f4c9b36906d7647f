"""The cream band under the skirt's hem in the default demo, before and after the
skirt's tethers and the sheet settled by the runtime's physics stage (session 10).

Each arm draws the sample sheet as ``python -m conrt.training.sample_sheet`` does
(into a temporary folder: samples/sheet is not touched), then runs the demo's
pipeline on it (sample character, walk clip, 256², exact correspondences, the
default weights, 30 fps, ``--frames`` frames) and scores frames ``--keep`` against
the toon pass at the same poses:

- ``hem_*``: the skirt proxy's hem ring, mean height below the hips (cm), in the
  sheet's pose and over the walking frames after the first 20;
- ``thigh_px``: frame pixels showing a thigh (the nearest rest vertex of the pixel's
  UDP is owned by an upper leg, the skirt left out): the region under the hem;
  ``thigh_unseen``: of those, the ones no sheet view sees (what the network fills);
  ``thigh_far``: of those away from the silhouette (3x3 erosion: not the ink), the
  ones whose colour is more than 0.1 (RGB distance, 0..1) from the toon pass's;
- ``l1``: mean |frame - toon| (premultiplied RGBA) over the character's pixels,
  beside ``l1_flat`` (the silhouette filled with the toon frame's mean colour).

The "before" arm is main 17e7d32's physics and sheet, written out here: no tethers
(``VerletCloth._tethered`` off) and the sheet settled by a ``PhysicsWorld(fps=30)``
of its own (2 substeps: 60 Hz; the runtime steps at 120 Hz).

``--cost N``: the tethers' cost instead: the sample character walking at 30 fps (the
runtime's 4 substeps), 120 frames after 20 to settle, the skirt's substeps timed on
their thread's CPU clock (``time.thread_time``), tethers off and on, interleaved N times.

Usage: python benchmarks/skirt_hem_ab.py [--frames 150] [--keep 10,40,...] [--json FILE] [--picture PNG]
       python benchmarks/skirt_hem_ab.py --cost 7
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

BACKGROUND = (0.93, 0.93, 0.95)
FAR = 0.1


def main_settled_pose(character):
    """main 17e7d32's ``sample_sheet`` settle: a world of its own at 30 fps, default substeps."""
    from conrt.physics import PhysicsWorld

    with PhysicsWorld(fps=30) as world:
        h = world.add(character, "idle")
        for _ in range(45):
            pose = world.step()[h]
    return pose


def hem_below_hips(cloth, pose, hips: int) -> float:
    """The proxy's hem ring: mean height below the hips joint, metres."""
    grid = cloth.nodes().reshape(-1, len(cloth.proxy.pinned), 3)
    return float(pose.joint_world[hips][1, 3] - grid[-1, :, 1].mean())


def sheet_hem(name: str, character) -> float:
    """The hem below the hips in the sheet's pose (the arm's settle, read off its cloth)."""
    from conrt.physics import PhysicsWorld
    from conrt.runtime.app.frame_loop import PhysicsStage
    from conrt.training.sample_sheet import SETTLE_S

    hips = character.humanoid["hips"]
    if name == "before":
        with PhysicsWorld(fps=30) as world:
            h = world.add(character, "idle")
            for _ in range(45):
                pose = world.step()[h]
            return hem_below_hips(world.actors[h].cloths[0], pose, hips)
    stage = PhysicsStage(character, "idle", fps=30)
    try:
        for _ in range(round(SETTLE_S * 30)):
            pose = stage.step()
        return hem_below_hips(stage.world.actors[stage.handle].cloths[0], pose, hips)
    finally:
        stage.close()


class Arm:
    """Patches the code to one arm's rules while in a ``with`` block."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        from conrt.physics.cloth import VerletCloth
        from conrt.training import sample_sheet

        self._saved = VerletCloth._tethered, sample_sheet.settled_pose
        if self.name == "before":
            VerletCloth._tethered = lambda cloth, x: x
            sample_sheet.settled_pose = main_settled_pose
        return self

    def __exit__(self, *exc):
        from conrt.physics.cloth import VerletCloth
        from conrt.training import sample_sheet

        VerletCloth._tethered, sample_sheet.settled_pose = self._saved


def thigh_vertices(character) -> np.ndarray:
    """[V] bool: vertices owned by an upper leg (largest skin weight), cloth left out."""
    mesh = character.mesh
    owner = mesh.joints[np.arange(mesh.num_vertices), mesh.weights.argmax(1)]
    cloth = np.zeros(mesh.num_vertices, bool)
    for r in character.regions:
        cloth[r.vertices] = True
    legs = [character.humanoid[n] for n in ("leftUpperLeg", "rightUpperLeg")]
    return np.isin(owner, legs) & ~cloth


def run_arm(name: str, frames: int, keep: list[int], pictures: dict) -> dict:
    from scipy.ndimage import binary_erosion
    from scipy.spatial import cKDTree

    from conrt.characters.gltf_io import load_character
    from conrt.runtime.app.frame_loop import open_runtime, over_background
    from conrt.samples import SAMPLE_CHARACTER
    from conrt.training import sample_sheet

    character = load_character(SAMPLE_CHARACTER)
    hips = character.humanoid["hips"]
    thigh = thigh_vertices(character)
    tree = cKDTree(character.box.landmarks(character.mesh.positions))
    with Arm(name), tempfile.TemporaryDirectory(prefix="conrt_hem_") as sheet:
        sample_sheet.render_sheet(SAMPLE_CHARACTER, sheet)
        hem_sheet = sheet_hem(name, character)
        rt = open_runtime(character=character, sheet=sheet, size=256, clip="walk", toon=True,
                          correspondence="auto")
        try:
            if rt.raster.correspondence is None:
                raise RuntimeError("the scratch sheet should give exact correspondences")
            physics = rt.physics
            cloth = physics.world.actors[physics.handle].cloths[0]
            hems, rows = [], []
            for index in range(frames):
                pose = physics.step()
                hems.append(hem_below_hips(cloth, pose, hips))
                if index not in keep:
                    continue
                # what Runtime.produce and its shader thread do with one frame
                camera = rt.raster.camera(pose)
                rt.raster.render(pose, camera)
                buffers = rt.raster.read_buffers()
                views = rt.raster.read_views()
                rgba = rt.shader.shade(buffers["udp"], views, buffers.get("coverage"))
                udp, toon = buffers["udp"], buffers["toon"].astype(np.float32) / 255
                gt = np.concatenate([toon[..., :3] * toon[..., 3:], toon[..., 3:]], -1)
                covered = udp[..., 3] > 0.5
                target = covered | (gt[..., 3] > 0.5)
                _, nearest = tree.query(udp[covered][:, :3])
                legs = np.zeros(covered.shape, bool)
                legs[covered] = thigh[nearest]
                unseen = views[1].max(0)[0] <= 0.01
                inner = binary_erosion(legs, np.ones((3, 3), bool))
                shown = over_background(rgba, BACKGROUND).astype(np.float32) / 255
                truth = over_background(gt, BACKGROUND).astype(np.float32) / 255
                far = np.sqrt(((shown - truth) ** 2).sum(-1)) > FAR
                mean = gt[..., :3].sum((0, 1)) / max(gt[..., 3].sum(), 1e-6)
                flat = np.concatenate([mean * gt[..., 3:], gt[..., 3:]], -1)
                rows.append({"frame": index, "thigh_px": int(legs.sum()), "thigh_unseen": int((legs & unseen).sum()),
                             "thigh_far": int((inner & far).sum()),
                             "l1": float(np.abs(rgba - gt).mean(-1)[target].mean()),
                             "l1_flat": float(np.abs(flat - gt).mean(-1)[target].mean())})
                pictures.setdefault(name, []).append((over_background(rgba, BACKGROUND), over_background(gt, BACKGROUND)))
        finally:
            rt.close()
    walking = np.array(hems[20:])
    total = {k: sum(r[k] for r in rows) for k in ("thigh_px", "thigh_unseen", "thigh_far")}
    return {"hem_sheet_cm": hem_sheet * 100, "hem_walk_mean_cm": float(walking.mean() * 100),
            "hem_walk_range_cm": [float(walking.min() * 100), float(walking.max() * 100)], **total,
            "l1": float(np.mean([r["l1"] for r in rows])), "l1_flat": float(np.mean([r["l1_flat"] for r in rows])),
            "frames": rows}


def crop_picture(pictures: dict, keep: list[int], path: Path) -> None:
    """Rows: before, after, the toon pass (after's poses); the skirt and thighs of each kept frame."""
    from PIL import Image, ImageDraw

    y0, y1, x0, x1 = 118, 190, 94, 162  # the hem and thighs at 256² (the demo's framing)
    rows = []
    for label, shots in (("before", [s[0] for s in pictures["before"]]), ("after", [s[0] for s in pictures["after"]]),
                         ("toon pass", [s[1] for s in pictures["after"]])):
        row = np.concatenate([s[y0:y1, x0:x1] for s in shots], 1)
        row = np.repeat(np.repeat(row, 2, 0), 2, 1)
        img = Image.fromarray(np.concatenate([np.full((16, row.shape[1], 3), 255, np.uint8), row], 0))
        ImageDraw.Draw(img).text((4, 2), f"{label}: frames {', '.join(map(str, keep))}", fill=(0, 0, 0))
        rows.append(np.asarray(img))
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def tether_cost(runs: int) -> dict:
    from physics_bench import verlet_step_ms  # benchmarks/ is on sys.path when run as a script

    from conrt.characters.gltf_io import load_character
    from conrt.samples import SAMPLE_CHARACTER

    character = load_character(SAMPLE_CHARACTER)
    ms: dict = {"before": [], "after": []}
    for _ in range(runs):
        for name in ms:
            with Arm(name):
                ms[name].append(verlet_step_ms(character, fps=30, substeps=4))
    for name, v in ms.items():
        print(f"{name:7s} Verlet skirt CPU ms per 30 fps frame: median {np.median(v):.3f}, min {min(v):.3f}")
    ratio = float(np.median(ms["after"]) / np.median(ms["before"]))
    print(f"after / before: {ratio:.3f}x (median of {runs} interleaved runs)")
    return {"ms": ms, "ratio": ratio}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--keep", default="10,40,75,110,149")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--picture", type=Path, default=None, help="before/after crops (docs/skirt_hem.png)")
    ap.add_argument("--cost", type=int, default=0, help="time the tethers instead (interleaved runs)")
    args = ap.parse_args(argv)
    if args.cost:
        tether_cost(args.cost)
        return 0
    keep = [int(x) for x in args.keep.split(",")]
    pictures: dict = {}
    result = {name: run_arm(name, args.frames, keep, pictures) for name in ("before", "after")}
    for name, r in result.items():
        print(f"{name:7s} hem below hips: sheet {r['hem_sheet_cm']:.1f} cm, walking {r['hem_walk_mean_cm']:.1f} cm "
              f"({r['hem_walk_range_cm'][0]:.1f}..{r['hem_walk_range_cm'][1]:.1f}); thigh px {r['thigh_px']}, "
              f"unseen {r['thigh_unseen']}, far {r['thigh_far']}; L1 {r['l1']:.4f} (flat {r['l1_flat']:.4f})")
    b, a = result["before"], result["after"]
    print(f"after/before: thigh unseen {a['thigh_unseen'] / max(b['thigh_unseen'], 1):.3f}x, "
          f"far {a['thigh_far'] / max(b['thigh_far'], 1):.3f}x, L1 {a['l1'] / b['l1']:.3f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.picture:
        crop_picture(pictures, keep, args.picture)
        print(f"wrote {args.picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
