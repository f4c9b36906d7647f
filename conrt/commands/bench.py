"""``conrt bench``: end-to-end fps and per-stage milliseconds of the runtime
(physics -> UDP raster -> read-back -> CoNR shading -> output) for the
embedded model and the sample character at several sizes, plus the
shading-only speed of the chosen backend against the straightforward eager
PyTorch baseline (whole network per frame). ``--json`` prints one object keyed
by size: ``{"256": {"fps": .., "physics_ms": .., "raster_ms": .., ...}}``."""
from __future__ import annotations

import argparse
import json
import logging

from conrt.errors import ConfigError

log = logging.getLogger(__name__)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(f"--sizes takes comma-separated integers like 128,256,512, got {text!r}") from None
    if not sizes:
        raise ConfigError("--sizes is empty")
    from conrt.limits import RUNTIME_BYTES_PER_PIXEL, check_frame_side

    return [check_frame_side(s, "--sizes", RUNTIME_BYTES_PER_PIXEL) for s in sizes]


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="end-to-end fps and per-stage ms at 128/256/512 px",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="128,256,512", help="comma-separated frame sizes (default 128,256,512)")
    p.add_argument("--frames", type=int, default=10, help="timed frames per size (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed frames before the timed ones (default 2)")
    p.add_argument("--backend", default="auto", help="inference backend: auto, gl-lookup, torch, onnxruntime, tensorrt (default auto)")
    p.add_argument("--character", help="character file or procedural:SEED (default: the sample character)")
    p.add_argument("--sheet", help="sheet folder (default: the sample sheet)")
    p.add_argument("--weights", help="weights: a file, or shipped weights by name, e.g. conr-rt-fast (default: the embedded ones)")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by size")
    p.set_defaults(func=run)


def run(args) -> int:
    # (PyBullet's "build time" banner on stdout is kept out of --json by physics.world)
    from conrt.runtime.profiling import measure
    from conrt.runtime.frame_loop import STAGES

    sizes = parse_sizes(args.sizes)
    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    if args.warmup < 0:
        raise ConfigError(f"--warmup must be >= 0, got {args.warmup}")
    result = measure(sizes, args.frames, backend=args.backend, character=args.character, sheet=args.sheet,
                     weights=args.weights, warmup=args.warmup)
    if args.json:
        print(json.dumps(result))
        return 0
    first = next(iter(result.values()))
    print(f"backend {first['backend']}, weights {first['weights']}, sheet {first['sheet']}, "
          f"character {first['character']}, {args.frames} frames per size")
    head = ["size", "fps"] + [f"{s} ms" for s in STAGES] + ["pipeline gain", "shade-only ms", "eager ms", "speedup"]
    print(" | ".join(head))
    for size, r in result.items():
        cells = [size, f"{r['fps']:.2f}"] + [f"{r[s + '_ms']:.1f}" for s in STAGES] + \
                [f"{r['pipeline_gain']:.2f}x", f"{r['shade_only_ms']:.1f}", f"{r['baseline_ms']:.1f}",
                 f"{r['shade_speedup_vs_baseline']:.2f}x"]
        print(" | ".join(cells))
    print(f"baseline: {first['baseline']}")
    return 0
