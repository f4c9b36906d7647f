"""What the pelvis capsule (``physics.rig.pelvis_capsule``) costs the Verlet skirt.

The sample character walking at 60 fps, 120 frames after 20 to settle, the skirt's
substeps timed on their own thread's CPU clock (``time.thread_time``: less of the other
jobs on a shared machine than the wall clock), with the pelvis capsule and without it
(``cloth_colliders`` without the hips: the colliders before), interleaved ``--runs`` times.

Usage: python benchmarks/skirt_pelvis_ab.py [--runs 7]
"""
from __future__ import annotations

import argparse

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args(argv)
    from physics_bench import verlet_step_ms  # benchmarks/ is on sys.path when run as a script

    from conrt.characters.gltf_io import load_character
    from conrt.physics import rig
    from conrt.samples import SAMPLE_CHARACTER

    character = load_character(SAMPLE_CHARACTER)
    with_pelvis = rig.BodyRig.cloth_colliders

    def legs_only(self, anchor):
        return [j for j in with_pelvis(self, anchor) if j != anchor]

    ms = {"legs only (before)": [], "pelvis capsule": []}
    try:
        for _ in range(args.runs):
            for name, colliders in (("legs only (before)", legs_only), ("pelvis capsule", with_pelvis)):
                rig.BodyRig.cloth_colliders = colliders
                ms[name].append(verlet_step_ms(character, fps=60))
    finally:
        rig.BodyRig.cloth_colliders = with_pelvis
    for name, v in ms.items():
        print(f"{name:20s} Verlet skirt CPU ms/frame: median {np.median(v):.3f}, min {min(v):.3f}")
    ratio = np.median(ms["pelvis capsule"]) / np.median(ms["legs only (before)"])
    print(f"pelvis capsule / before: {ratio:.3f}x (median of {args.runs} interleaved runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
