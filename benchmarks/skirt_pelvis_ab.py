"""What the pelvis capsule (``physics.rig.pelvis_capsule``) costs the Verlet skirt.

The sample character walking at 60 fps, 120 frames after 20 to settle, the skirt's
substeps timed on their own thread's CPU clock (``time.thread_time``: less of the other
jobs on a shared machine than the wall clock), with the pelvis capsule and without it
(``cloth_colliders`` without the hips: the colliders before), interleaved ``--runs`` times.

Usage: python benchmarks/skirt_pelvis_ab.py [--runs 7]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args(argv)
    from conrt.characters.gltf_io import load_character
    from conrt.physics import PhysicsWorld, rig
    from conrt.physics.cloth import VerletCloth
    from conrt.samples import SAMPLE_CHARACTER

    character = load_character(SAMPLE_CHARACTER)
    with_pelvis, step, spent = rig.BodyRig.cloth_colliders, VerletCloth.step, [0.0]

    def legs_only(self, anchor):
        return [j for j in with_pelvis(self, anchor) if j != anchor]

    def timed(self, dt):
        t = time.thread_time()
        step(self, dt)
        spent[0] += time.thread_time() - t

    VerletCloth.step = timed
    ms = {"legs only (before)": [], "pelvis capsule": []}
    try:
        for _ in range(args.runs):
            for name, colliders in (("legs only (before)", legs_only), ("pelvis capsule", with_pelvis)):
                rig.BodyRig.cloth_colliders = colliders
                with PhysicsWorld(fps=60) as world:
                    world.add(character, "walk")
                    for _ in range(20):
                        world.step()
                    spent[0] = 0.0
                    for _ in range(120):
                        world.step()
                ms[name].append(spent[0] / 120 * 1e3)
    finally:
        rig.BodyRig.cloth_colliders, VerletCloth.step = with_pelvis, step
    for name, v in ms.items():
        print(f"{name:20s} Verlet skirt CPU ms/frame: median {np.median(v):.3f}, min {min(v):.3f}")
    ratio = np.median(ms["pelvis capsule"]) / np.median(ms["legs only (before)"])
    print(f"pelvis capsule / before: {ratio:.3f}x (median of {args.runs} interleaved runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
