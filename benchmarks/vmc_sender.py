"""A VMC sender in its own process: streams a clip (or BVH) of a character over UDP
with python-osc (through conrt's VmcSender), paced at --fps, optionally losing
and reordering frames. Used by benchmarks/vmc_bench.py and tests/vmc/.

    python benchmarks/vmc_sender.py --port 39539 --clip walk --fps 60 --seconds 10 --loss 0.05 --reorder 0.05

Each frame's /VMC/Ext/T is ``frame index / fps`` (the clip time), so a receiver
can tell which frame it shows; ``--log FILE`` writes one JSON line per sent
frame: {"frame", "t", "sent"} with ``sent`` = time.perf_counter() (CLOCK_MONOTONIC,
comparable across processes on Linux).
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--character", default="sample", help="sample or procedural:SEED")
    ap.add_argument("--clip", default="walk")
    ap.add_argument("--bvh", default=None, help="stream this BVH file (retargeted) instead of --clip")
    ap.add_argument("--fps", type=float, default=60.0)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--until-killed", action="store_true",
                    help="stream until killed, each frame made as it goes (tests: a CLI started on a loaded "
                         "host may begin to listen after any fixed stream has ended)")
    ap.add_argument("--loss", type=float, default=0.0, help="probability a frame is not sent")
    ap.add_argument("--reorder", type=float, default=0.0, help="probability a frame is sent after the next one")
    ap.add_argument("--blink", type=float, default=0.0, help="blink (Blend/Val Blink 1) every this many seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", type=Path, default=None)
    ap.add_argument("--start-delay", type=float, default=0.0, help="seconds to wait before the first frame")
    args = ap.parse_args(argv)

    from conrt.commands.physics import _character
    from conrt.physics.bvh import bvh_to_clip, load_bvh
    from conrt.physics.clips import Animator, get_clip
    from conrt.physics.vmc import VmcSender

    character, _ = _character(args.character)
    clip = bvh_to_clip(load_bvh(args.bvh), character) if args.bvh else get_clip(args.clip, character)
    anim = Animator(character, clip)
    n = None if args.until_killed else args.frames if args.frames is not None else int(round(args.seconds * args.fps))
    rng = random.Random(args.seed)
    sender = VmcSender(f"{args.host}:{args.port}", character)
    def frames():
        for k in itertools.count() if n is None else range(n):
            t = k / args.fps
            blends = None
            if args.blink:
                blends = {"Blink": 1.0 if t % args.blink < 0.1 else 0.0}
            yield k, t, sender.bundles(anim.pose(t), t, blends)

    # made before the first one goes out, so the sending loop costs the CPU little
    # (the benchmark shares the machine with it)
    prepared = frames() if n is None else list(frames())

    log = open(args.log, "w") if args.log else None
    time.sleep(args.start_delay)
    held = None
    start = time.perf_counter()
    sent = 0
    for k, t, bundles in prepared:
        delay = start + k / args.fps - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if rng.random() < args.loss:
            continue
        if held is None and rng.random() < args.reorder:
            held = (k, t, bundles)  # goes out after the next frame
            continue
        for item in [(k, t, bundles)] + ([held] if held is not None else []):
            stamp = time.perf_counter()
            sender.send_bundles(item[2])
            sent += 1
            if log:
                log.write(json.dumps({"frame": item[0], "t": item[1], "sent": stamp}) + "\n")
        held = None
    if log:
        log.close()
    sender.close()
    print(f"vmc_sender: sent {sent} of {n} frames to {args.host}:{args.port}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
