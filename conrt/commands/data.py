"""``conrt data make``: synthetic training data (procedural characters, toon RGBA + UDP)."""
from __future__ import annotations

import logging

from conrt.limits import check_output_folder

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="make synthetic CoNR training data",
                              description="Synthetic character sheets for training and evaluation.")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    m = sub.add_parser(
        "make", help="render procedural characters in motion (toon RGBA + UDP from the same camera)",
        description="Per character (procedural seed = seed * 1e6 + index): P poses from the animation clips "
                    "with hair/cloth physics, each from a random yaw/pitch/roll camera with scale jitter. "
                    "Writes sharded .npz files and manifest.json (with the per-character train/val/test "
                    "split). Rerun the same command to resume: finished shards are skipped.")
    m.add_argument("--characters", type=int, required=True, help="number of characters")
    m.add_argument("--poses", type=int, required=True, help="poses (frames) per character")
    m.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    m.add_argument("-o", "--output", required=True, help="dataset folder")
    m.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    m.add_argument("--shard-size", type=int, default=8, help="characters per shard file (default 8)")
    m.add_argument("--val", type=float, default=0.05, help="fraction of characters for validation")
    m.add_argument("--test", type=float, default=0.05, help="fraction of characters for test")
    m.add_argument("--styles", default="toon",
                   help="comma-separated looks of the toon pass, one drawn per character (same cameras and poses "
                        "whatever the list): toon (default), unlit (textured/flat albedo, no ink), flat (unlit "
                        "with ink), soft (smooth shading), no-outline, thick-outline")
    m.add_argument("--antialias", type=int, default=1,
                   help="supersampling factor of the UDP and toon passes: 3 gives coverage alpha at the "
                        "silhouette (UDP landmarks stay one surface's); default 1 = binary coverage")
    m.add_argument("--exact", action="store_true",
                   help="also store, for every pose as the frame and every other pose as a sheet view, the "
                        "samples the runtime's exact correspondences give (the GL correspondence pass: view "
                        "cameras and poses, depth-tested visibility); --poses <= 8. What fine-tuning for sheets "
                        "with view files trains on (conrt train --data DIR uses them when present)")
    m.add_argument("--layers", type=float, default=0.0, metavar="FRACTION",
                   help="fraction of the characters drawn with cut-out layer cards (glTF MASK eye highlights, "
                        "BLEND blush; single- and double-sided), as VRoid characters have them; default 0")
    m.set_defaults(func=run_make)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_make(args) -> int:
    from conrt.training.datagen import DataSpec, make_dataset  # lazy: torch, not at CLI startup

    if logging.getLogger().level > logging.DEBUG:  # one "added character" line per character drowns the bar
        logging.getLogger("conrt.physics").setLevel(logging.WARNING)

    spec = DataSpec(characters=args.characters, poses=args.poses, size=args.size, seed=args.seed,
                    shard_size=args.shard_size, val=args.val, test=args.test,
                    styles=tuple(x.strip() for x in args.styles.split(",") if x.strip()), antialias=args.antialias,
                    exact=args.exact, layers=args.layers)

    check_output_folder(args.output)  # before the work
    manifest = make_dataset(args.output, spec)
    split = manifest["split"]
    print(f"conrt data make: {args.output}: {spec.characters} characters x {spec.poses} poses at "
          f"{spec.size}x{spec.size} ({', '.join(spec.styles)}), {len(manifest['shards'])} shards, {manifest['bytes'] / 1e6:.1f} MB, "
          f"split train/val/test = {len(split['train'])}/{len(split['val'])}/{len(split['test'])}")
    return 0
