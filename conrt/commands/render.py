"""``conrt render``: shade a clip of a character offline, every frame, into a
video (``-o out.mp4``), a folder of PNGs with alpha (``-o frames/``) and/or a
sprite-sheet atlas for 2D engines (``--atlas atlas.png`` + ``atlas.json``).

    conrt render --character X.glb --sheet DIR --clip walk --frames 120 -o out.mp4

Without --character/--sheet/--weights it uses the sample character, the
sample sheet and the embedded weights (see ``conrt demo``)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from conrt.errors import ConfigError
from conrt.limits import DEFAULT_SIZE, check_fps, finite_float, runtime_side

from ._backend_args import add_backend_option_argument, backend_options
from ._motion_args import add_loading_arguments, add_motion_argument, loading_kwargs

log = logging.getLogger(__name__)



def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by render, demo and bench: what to load and how to run it."""
    p.add_argument("--character", help="character .glb/.gltf/.vrm, or procedural:SEED (default: the sample character)")
    p.add_argument("--sheet", type=Path, help="folder of RGBA drawings of the character, 4-8 views "
                                              "(default: the sample sheet)")
    p.add_argument("--weights", type=Path, help="CoNR weights: .safetensors (conrt convert / training), an "
                                                "official folder, or shipped weights by name: conr-rt-fast "
                                                "(default: the embedded conr-default)")
    p.add_argument("--backend", default="auto",
                   help="inference backend: auto, gl-lookup, torch, onnxruntime, tensorrt (default auto)")
    add_backend_option_argument(p)
    p.add_argument("--size", type=runtime_side, default=DEFAULT_SIZE,
                   help=f"square frame size in pixels (default {DEFAULT_SIZE}; a multiple of the network's "
                        "size step, 64 for the embedded model)")
    p.add_argument("--yaw", type=finite_float, default=0.0, help="camera yaw in degrees (0 = front)")
    p.add_argument("--pitch", type=finite_float, default=0.0, help="camera pitch in degrees (> 0: from above)")
    p.add_argument("--context", choices=("auto", "egl", "window"), default="auto", help="OpenGL context kind")
    add_antialias_argument(p, "on")
    add_loading_arguments(p)


def add_antialias_argument(p: argparse.ArgumentParser, default: str) -> None:
    """``--antialias``: checked by RuntimeSpec.check (a one-line ConfigError naming the choices).
    On for the commands that make pictures for people (render, demo), off where every
    millisecond counts (the bridge; RuntimeSpec's default): it costs ~10-15 % more CPU
    per frame at 256², ~20 % at 128² (docs/runtime.md "Anti-aliased silhouettes")."""
    p.add_argument("--antialias", default=default, metavar="on|off|N",
                   help=f"anti-aliased silhouettes in the shaded frames (default {default}): on = 3x3 coverage "
                        "samples per pixel at the edge, off = hard 1-px edges, or N = 1..5 samples per pixel "
                        "side; the network's UDP is the same either way; on costs ~10-15%% (256²) to ~20%% (128²) more CPU per frame")


def add_shade_workers_argument(p: argparse.ArgumentParser) -> None:
    """``--shade-workers auto|1|2`` for the commands that take every frame in order (render, bench);
    checked by RuntimeSpec.check / build_runtime (frame_loop.choose_shade_workers: the one rule)."""
    p.add_argument("--shade-workers", default="auto", metavar="auto|1|2", dest="shade_workers",
                   help="frames shaded at once (default auto: 2 where the backend can, gl-lookup on ONNX Runtime "
                        "with exact correspondences, else 1); the same frames either way")


def shade_workers(args):
    """``--shade-workers`` as RuntimeSpec takes it: "auto", 1 or 2 (anything else is left for
    frame_loop.check_shade_workers to refuse, naming the choices: a one-line error, rc 1)."""
    value = str(getattr(args, "shade_workers", "auto")).strip()
    return int(value) if value.isdigit() else value


def runtime_spec(args, **overrides):
    """The :class:`~conrt.runtime.app.frame_loop.RuntimeSpec` that ``add_source_arguments``
    (+ ``--motion``, ``--fps``, ``--name-map``/``--facing``) describe; ``overrides``
    set the fields a command decides itself (realtime, passes, physics_mode ...)."""
    from conrt.runtime.app.frame_loop import RuntimeSpec  # lazy: torch, not at CLI startup

    fields = dict(character=args.character, motion=args.clip, sheet=args.sheet, weights=args.weights,
                  backend=args.backend, backend_options=backend_options(args), size=args.size, yaw=args.yaw,
                  pitch=args.pitch, context=args.context, fps=args.fps, antialias=args.antialias,
                  **loading_kwargs(args))
    fields.update(overrides)
    return RuntimeSpec(**fields)


def register(subparsers) -> None:
    p = subparsers.add_parser("render", help="shade a clip offline to a video, PNG frames or a sprite atlas",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(p)
    add_motion_argument(p, "walk")
    add_shade_workers_argument(p)
    p.add_argument("--frames", type=int, default=120, help="number of frames (default 120)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second of the clip and the video (default 30)")
    p.add_argument("-o", "--output", help="out.mp4 / out.gif (video over white) or a folder/ (PNG frames with alpha)")
    p.add_argument("--atlas", type=Path, help="also write a sprite-sheet atlas PNG (+ JSON beside it)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm  # lazy: tqdm, not at CLI startup

    from conrt.runtime.app.frame_loop import build_runtime  # lazy: torch, not at CLI startup
    from conrt.runtime.app.outputs import AtlasSink, close_sinks, make_sink  # lazy: torch, not at CLI startup

    if not args.output and not args.atlas:
        raise ConfigError("nothing to write: give -o out.mp4, -o frames/ and/or --atlas atlas.png")
    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    check_fps(args.fps)
    from conrt.physics.motion import check_motion  # lazy: a stage (0.1-0.3 s), not at CLI startup

    check_motion(args.clip)  # before any file is created
    # every frame in order, nobody steers: the physics a frame ahead, two frames shaded at once where it can
    spec = runtime_spec(args, lookahead=True, shade_workers=shade_workers(args)).check()
    sinks = []
    if args.output:
        sinks.append(make_sink(args.output, args.fps, extra={"clip": args.clip, "fps": args.fps}))
    if args.atlas:
        sinks.append(AtlasSink(args.atlas, args.fps))

    def write(frame):
        for s in sinks:
            s(frame)

    try:
        rt = build_runtime(spec)
    except BaseException:
        close_sinks(sinks, failed=True)  # nothing written: leave no empty folder or file behind
        raise
    last, failed = None, True
    try:
        with tqdm(total=args.frames, desc=f"render {Path(args.clip).name}", unit="frame") as bar:
            for frame in rt.frames(args.frames, sink=write):
                last = frame.stats
                bar.set_postfix_str(f"{last.fps:.1f} fps, shade {last.shade_ms:.0f} ms")
                bar.update()
        failed = False
    finally:
        rt.close()
        close_sinks(sinks, failed)
    where = " and ".join(str(x) for x in (args.output, args.atlas) if x)
    print(f"wrote {args.frames} frames of {args.clip} ({rt.size}x{rt.size}, {rt.info.backend}, "
          f"{rt.shade_workers} shading thread{'s' if rt.shade_workers > 1 else ''}) to {where}"
          + (f"; last frame: {last.title()}" if last else ""))
    if rt.info.untrained:
        print("note: untrained weights (no embedded/--weights model): the colours are not the character's")
    return 0
