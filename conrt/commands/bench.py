"""``conrt bench``: end-to-end fps and per-stage milliseconds of the runtime
(physics -> UDP raster -> read-back -> CoNR shading -> output) for the
embedded model and the sample character at several sizes, plus the
shading-only speed of the chosen backend against the straightforward eager
PyTorch baseline (whole network per frame). ``--json`` prints one object keyed
by size: ``{"256": {"fps": .., "physics_ms": .., "raster_ms": .., ...}}``.

``--modes auto,table`` measures every size with each correspondence mode
back to back (the new default, exact correspondences from the sample sheet's
view files, against the old default's 32³ table, under the same load); the
JSON is then keyed by mode, then size.

``--antialias off,on`` likewise measures every size with and without the
anti-aliased silhouette (RuntimeSpec.antialias), alternating their order from
size to size; the JSON is then keyed by "aa1"/"aa3"... (with several modes
too: "auto aa3"), then size.

``--shade-workers auto|1|2``: frames shaded at once (default auto: 2 where the
backend can, as for ``conrt render``); each row's ``shade_workers`` says which
ran. The old default against the new: run it with ``--shade-workers 1``."""
from __future__ import annotations

import argparse
import json
import logging

from conrt.errors import ConfigError
from conrt.limits import RUNTIME_BYTES_PER_PIXEL, check_frame_side

from ._backend_args import add_backend_option_argument, backend_options
from .render import add_shade_workers_argument, shade_workers

log = logging.getLogger(__name__)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(f"--sizes takes comma-separated integers like 128,256,512, got {text!r}") from None
    if not sizes:
        raise ConfigError("--sizes is empty")

    return [check_frame_side(s, "--sizes", RUNTIME_BYTES_PER_PIXEL) for s in sizes]


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="end-to-end fps and per-stage ms at 128/256/512 px",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="128,256,512", help="comma-separated frame sizes (default 128,256,512)")
    p.add_argument("--frames", type=int, default=10, help="timed frames per size (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed frames before the timed ones (default 2)")
    p.add_argument("--backend", default="auto", help="inference backend: auto, gl-lookup, torch, onnxruntime, tensorrt (default auto)")

    add_backend_option_argument(p)
    p.add_argument("--character", help="character file or procedural:SEED (default: the sample character)")
    p.add_argument("--sheet", help="sheet folder (default: the sample sheet)")
    p.add_argument("--weights", help="weights: a file, or shipped weights by name, e.g. conr-rt-fast (default: the embedded ones)")
    p.add_argument("--modes", default="auto",
                   help="comma-separated correspondence modes to compare, each at every size: auto (exact where "
                        "the sheet has view files), table, exact, udp-nn (default auto)")
    p.add_argument("--antialias", default="off", metavar="on|off|N,...",
                   help="comma-separated anti-aliasing settings to compare, each at every size: on, off or "
                        "1..5 samples per pixel side (default off, the runtime's default)")
    add_shade_workers_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by size (by mode, then size, "
                                                        "with several --modes)")
    p.set_defaults(func=run)


def run(args) -> int:
    # (PyBullet's "build time" banner on stdout is kept out of --json by physics.world)
    from conrt.runtime.app.profiling import measure  # lazy: torch, not at CLI startup
    from conrt.runtime.app.frame_loop import STAGES, check_shade_workers  # lazy: torch, not at CLI startup

    sizes = parse_sizes(args.sizes)
    check_shade_workers(shade_workers(args), realtime=False)  # before the model loads
    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    if args.warmup < 0:
        raise ConfigError(f"--warmup must be >= 0, got {args.warmup}")
    from conrt.runtime.nn.checkpoint import resolve_model  # lazy: torch, not at CLI startup
    from conrt.runtime.app.session import CORRESPONDENCES  # lazy: torch, not at CLI startup

    modes = [m for m in args.modes.replace(" ", "").split(",") if m]
    bad = [m for m in modes if m not in CORRESPONDENCES]
    if not modes or bad:
        raise ConfigError(f"--modes takes comma-separated correspondence modes ({', '.join(CORRESPONDENCES)}), "
                          f"got {args.modes!r}")
    from conrt.shaders.coverage import parse_switch  # lazy: moderngl, not at CLI startup

    factors = list(dict.fromkeys(parse_switch(a, "--antialias") for a in args.antialias.replace(" ", "").split(",")
                                 if a)) or [parse_switch("", "--antialias")]
    # one variant per (mode, anti-aliasing); named by what varies
    variants = {(f"{m} aa{k}" if len(modes) > 1 and len(factors) > 1 else m if len(factors) == 1 else f"aa{k}"): (m, k)
                for m in modes for k in factors}
    model = resolve_model(args.weights)
    options = backend_options(args)
    by_variant: dict = {v: {} for v in variants}
    for n, size in enumerate(sizes):  # variants back to back per size: the machine's load hits them alike
        for v in (list(variants) if n % 2 == 0 else list(variants)[::-1]):  # ABBA: no variant always goes first
            m, k = variants[v]
            by_variant[v].update(measure([size], args.frames, backend=args.backend, character=args.character,
                                         sheet=args.sheet, model=model, warmup=args.warmup, correspondence=m,
                                         backend_options=options, antialias=k,
                                         shade_workers=shade_workers(args)))
    first_variant = next(iter(variants))
    if args.json:
        print(json.dumps(by_variant[first_variant] if len(variants) == 1 else by_variant))
        return 0
    first = next(iter(by_variant[first_variant].values()))
    print(f"backend {first['backend']}, weights {first['weights']}, sheet {first['sheet']}, "
          f"character {first['character']}, {first['shade_workers']} shading thread(s), "
          f"{args.frames} frames per size")
    head = ["size", "correspondence", "antialias", "fps", "cpu ms"] + [f"{s} ms" for s in STAGES] + \
        ["pipeline gain", "shade-only ms", "eager ms", "speedup"]
    print(" | ".join(head))
    for size in by_variant[first_variant]:
        for v, (m, k) in variants.items():
            r = by_variant[v][size]
            cells = [size, m, f"{k}x{k}" if k > 1 else "off", f"{r['fps']:.2f}", f"{r['cpu_ms']:.1f}"] + \
                    [f"{r[s + '_ms']:.1f}" for s in STAGES] + \
                    [f"{r['pipeline_gain']:.2f}x", f"{r['shade_only_ms']:.1f}", f"{r['baseline_ms']:.1f}",
                     f"{r['shade_speedup_vs_baseline']:.2f}x"]
            print(" | ".join(cells))
    print(f"baseline: {first['baseline']}")
    return 0
