"""``conrt bridge``: serve frames to a game engine over shared memory."""
from __future__ import annotations

import logging
import os
import signal

import numpy as np

from conrt.commands._vmc import add_vmc_arguments, check_addresses
from conrt.errors import ConfigError
from conrt.limits import DEFAULT_SIZE, RASTER_BYTES_PER_PIXEL, RUNTIME_BYTES_PER_PIXEL, check_frame_side

from ._backend_args import add_backend_option_argument, backend_options
from ._motion_args import add_loading_arguments, loading_kwargs
from .render import add_antialias_argument

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bridge", help="serve frames to a game engine over shared memory (frames out, poses in)",
        description="Headless engine bridge: creates /dev/shm/conrt-bridge.NAME (0600), shades the latest "
                    "pose request an engine writes there and publishes premultiplied RGBA frames. "
                    "See docs/engine_bridge.md and engine_bridge/PROTOCOL.md.")
    p.add_argument("--name", help="bridge name (default: a fresh unique one, printed at start)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"frame width and height in pixels (default {DEFAULT_SIZE})")
    p.add_argument("--source", choices=("test", "runtime"), default="test",
                   help="test: synthetic pattern drawing the requested pose; runtime: the CoNR runtime")
    p.add_argument("--format", choices=("rgba8", "rgba16f"), default="rgba8", help="pixel format (default rgba8)")
    p.add_argument("--slots", type=int, default=3, help="frames in the ring, 2..64 (the protocol's MAX_SLOTS; default 3)")
    p.add_argument("--fps", type=float, default=60.0, help="frame rate cap, 0 = as fast as possible (default 60)")
    p.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--character", help="runtime source: character file or procedural:SEED (default: the sample)")
    p.add_argument("--sheet", help="runtime source: sheet folder (default: the sample sheet)")
    p.add_argument("--weights", help="runtime source: CoNR weights, a file or shipped weights by name, e.g. conr-rt-fast "
                        "(default: the embedded ones)")
    p.add_argument("--backend", default="auto", help="runtime source: inference backend: auto, gl-lookup, torch, onnxruntime, tensorrt "
                                                       "(default auto)")
    add_backend_option_argument(p)
    p.add_argument("--motion", "--clip", dest="clip", default=None, metavar="MOTION",
                   help="runtime source: a motion source (a .bvh file, animation:NAME|INDEX, FILE.glb#NAME or a clip) "
                        "that the engine's CLIP requests may name (by the file's stem / the animation's name) "
                        "besides the built-in clips; the physics starts on it")
    add_loading_arguments(p)
    add_antialias_argument(p, "off")  # a real-time source: off unless asked
    p.add_argument("--checksum", action="store_true",
                   help="test source: stamp each frame's counter and CRC-32 in its last 8 bytes")

    add_vmc_arguments(p)  # runtime source: a VMC sender drives the character; --vmc-send: its pose out
    p.set_defaults(func=run)


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)  # unwinds the with-block, which unlinks the segment


def run(args) -> int:
    from conrt.engine_bridge import TestPattern, run_bridge  # lazy: a stage (0.1-0.3 s), not at CLI startup
    from conrt.engine_bridge.protocol import MAX_SLOTS  # lazy: as the line above

    if args.source == "runtime":
        from conrt.runtime.limits import check_size  # lazy: conrt.runtime loads torch (the test source needs none)

        # the shading runtime's sides, then the memory a shaded frame needs, before anything loads
        check_size(args.size)
        check_frame_side(args.size, "--size", RUNTIME_BYTES_PER_PIXEL)
    else:
        check_frame_side(args.size, "--size", RASTER_BYTES_PER_PIXEL, minimum=1)  # the test pattern takes any side
    if not 2 <= args.slots <= MAX_SLOTS:
        # 1 slot: while the writer fills it no reader can copy a frame (a full-speed writer starves them)
        raise ConfigError(f"--slots {args.slots} outside 2..{MAX_SLOTS} (one slot starves readers: it is always being written)")
    if (args.vmc is not None or args.vmc_send) and args.source != "runtime":
        raise ConfigError("--vmc and --vmc-send need --source runtime")

    check_addresses(args)
    if args.source == "runtime":
        from conrt.runtime.app.bridge_source import RuntimeFrameSource  # lazy: torch, not at CLI startup

        if args.clip is not None:
            from conrt.physics.motion import check_motion  # lazy: a stage (0.1-0.3 s), not at CLI startup

            check_motion(args.clip)
        source = RuntimeFrameSource(args.size, np.uint8 if args.format == "rgba8" else np.float16,
                                    args.character, args.sheet, args.weights, args.backend, motion=args.clip,
                                    vmc=args.vmc, vmc_send=args.vmc_send, backend_options=backend_options(args),
                                    antialias=args.antialias, **loading_kwargs(args))
    else:
        source = TestPattern(args.size, args.size, np.uint8 if args.format == "rgba8" else np.float16,
                             checksum=args.checksum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)

    def ready(writer):
        print(f"conrt bridge: serving {writer.name} at {writer.path} "
              f"({args.size}x{args.size} {args.format}, pid {os.getpid()})", flush=True)

    stats = run_bridge(source, args.name, args.size, args.size, args.format, args.slots, on_ready=ready,
                       fps=args.fps, max_frames=args.frames, duration=args.duration)
    print(f"conrt bridge: {stats.frames} frames in {stats.seconds:.2f} s ({stats.fps:.1f} fps), "
          f"{stats.bad_requests} bad pose requests", flush=True)
    if getattr(source, "vmc", None) is not None:
        print(source.vmc.stats_line(), flush=True)
    return 0
