"""``conrt eval``: the paper's Table 1 (L1/SSIM/PSNR vs inference view count) on unseen characters."""
from __future__ import annotations

import json
import logging

from conrt.errors import ConfigError

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="score a model on test characters (L1/SSIM/PSNR, face SSIM, sharpness for n = 1, 2, 4, 8 views)",
        description="Shades test poses of each test character from n of its other poses (nested view sets) "
                    "and reports L1, SSIM, PSNR on premultiplied RGBA, like the paper's Table 1, plus two scores "
                    "that see detail: face SSIM (SSIM inside the head's box on screen) and sharpness (mean "
                    "gradient magnitude of the prediction / the ground truth's, on the foreground; < 1 = blurred); "
                    "with --seeds also the eye score (the share of the target's painted-eye pixels whose "
                    "prediction is nearer the ground truth than the same frame drawn without eyes; over the "
                    "targets that show eyes). "
                    "Characters "
                    "come from a dataset's test split (--data) or are generated on the fly (--seeds A:B; "
                    "datasets made with --seed 0 use seeds below 1e6, so 900000:900016 are unseen).")
    p.add_argument("--weights", nargs="+", default=None,
                   help=".safetensors file(s) or shipped weights by name (conr-default, conr-rt-fast); default: the "
                        "embedded default model; several -> one table each")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset folder (uses its test split)")
    src.add_argument("--seeds", help="A:B, generate procedural characters A..B-1")
    p.add_argument("--split", default="test", help="dataset split for --data (default test)")
    p.add_argument("--views", default="1,2,4,8", help="inference view counts (default 1,2,4,8)")
    p.add_argument("--targets", type=int, default=4, help="target poses per character (default 4)")
    p.add_argument("--poses", type=int, default=12, help="poses rendered per character with --seeds (default 12)")
    p.add_argument("--size", type=int, default=None,
                   help="shading size: frames are rendered (--seeds) or box-downsampled (--data) to it and the "
                        "models shade at it (default: the first model's image_size)")
    p.add_argument("--style", default="toon",
                   help="look of the characters generated with --seeds: toon (default), unlit, flat, soft, "
                        "no-outline, thick-outline (see conrt data make --styles); brown-ink, trace-ink, "
                        "thick-ink, silhouette-ink (other artists' inks, conrt sheet --style)")
    p.add_argument("--sheet-poses", default="clip",
                   help="--seeds: where each character's sheet views come from: clip (default, the paper's "
                        "protocol: n random frames of the clip; a frontal face may be in none) or turnaround "
                        "(as a user's sheet: the views `conrt sheet --strength 0 --views N` draws at the rest "
                        "pose, front, 3/4, side, back, ..., N = the largest of --views, at most 8); the targets "
                        "are the same clip frames either way")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--grid", help="write a PNG grid (sheet | UDP | prediction | ground truth) here")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--baseline", action="store_true",
                   help="also score two baselines on the same frames, no learning: the flat fill (UDP silhouette "
                        "x mean sheet colour) and the exact lookup (each pixel copies the sheet pixel with the "
                        "nearest true UDP, blended over the views that see it)")
    p.add_argument("--correspondence", default="auto", choices=("auto", "exact", "udp-nn", "table"),
                   help="how a lookup model (conr-rt) finds the sheet's pixels, as the runtime does: exact (the "
                        "views' cameras and poses through the GL correspondence pass; --seeds keeps them, a "
                        "dataset made with --exact stores the samples), udp-nn (nearest sheet UDP per vertex; "
                        "--seeds), table (the 32³ table of the sheet's predicted UDP); auto (default): exact "
                        "where possible, else the table. With exact/udp-nn --baseline adds the plain lookup "
                        "(the same samples, no network)")
    p.add_argument("--keep-seen", default="on", choices=("on", "off", "both"),
                   help="exact/udp-nn: as the runtime (on: each sheet's judged look decides; an unlit sheet "
                        "keeps the views' colour where they see the point, an inked one is refined), the "
                        "refinement on every pixel (off, as trained), or score both")
    p.add_argument("--true-sheet-udp", action="store_true",
                   help="lookup models (conr-rt): also score with tables built from the sheet's true UDP "
                        "(sheets rendered from the rigged mesh) besides the model's own UDP prediction (drawings)")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch  # lazy: torch, not at CLI startup

    from conrt.runtime.nn.checkpoint import find_weights, load_weights  # lazy: torch, not at CLI startup
    from conrt.runtime.defaults import default_weights_path  # lazy: torch, not at CLI startup
    from conrt.training.evaluate import (ExactLookupBaseline, FlatColourBaseline, PlainLookup, ViewsShader,  # lazy: torch, not at CLI startup
                                         characters_from_data, characters_from_seeds, check_sheet_poses,
                                         eval_jobs, evaluate,
                                         format_table, parse_seeds, procedural_head_boxes,
                                         resolve_correspondence, save_eval_grid, view_samples_per_count)

    torch.set_num_threads(max(1, args.threads))
    try:
        views = [int(v) for v in args.views.split(",")]
    except ValueError:
        raise ConfigError(f"--views {args.views!r}: expected comma-separated integers, e.g. 1,2,4,8") from None
    if check_sheet_poses(args.sheet_poses) == "turnaround" and not args.seeds:
        raise ConfigError("--sheet-poses turnaround draws each character's sheet from its rig: use --seeds "
                          "(a dataset keeps no rig)")
    paths = [find_weights(w) for w in args.weights] if args.weights else [default_weights_path()]
    models = [load_weights(p) for p in paths]
    if args.size is not None and (args.size < 16 or args.size % 16):
        raise ConfigError(f"--size must be a multiple of 16 and >= 16, got {args.size}")
    size = args.size or models[0].cfg.image_size
    if args.seeds:
        characters = characters_from_seeds(parse_seeds(args.seeds), args.poses, size, progress=not args.json,
                                           style=args.style, sheet_poses=args.sheet_poses, sheet_views=max(views),
                                           eyeless=True)  # the eye score: each frame drawn again without eyes
    else:
        characters = characters_from_data(args.data, args.split)
    heads = procedural_head_boxes(characters)
    mode = resolve_correspondence(args.correspondence, characters)
    samples = None
    if mode != "table":
        if args.targets < 1:
            raise ConfigError(f"--targets must be >= 1, got {args.targets}")
        jobs = eval_jobs(characters, min(args.targets, characters[0].rgba.shape[0]))
        samples = view_samples_per_count(characters, jobs, views, mode, size, progress=not args.json)
    log.info("correspondences: %s", mode)
    common = dict(views=views, targets=args.targets, progress=not args.json, size=size, head_boxes=heads)
    keep = {"on": (True,), "off": (False,), "both": (True, False)}[args.keep_seen]
    results, grids_all = {}, {}
    for path, model in zip(paths, models):
        if mode != "table" and getattr(model, "takes_views", False):
            for k in keep:
                shader = ViewsShader(model, k)
                table, grids = evaluate(shader, characters, samples=samples, **common)
                rule = f", {shader.look_summary()}" if k else ", refined everywhere"
                label = f"{path.stem} ({mode}{rule})"
                results[label], grids_all[label] = table, grids
            continue
        table, grids = evaluate(model, characters, **common)
        label = path.stem if len(paths) > 1 else ""
        results[label] = table
        grids_all[label] = grids
        if args.true_sheet_udp and model.takes_sheet_udp:
            results[f"{path.stem} (true sheet UDP)"], grids_all[f"{path.stem} (true sheet UDP)"] = evaluate(
                model, characters, true_sheet_udp=True, **common)
    if "" in results and len(results) > 1:
        results[paths[0].stem] = results.pop("")
    if args.baseline:
        if "" in results:
            results[paths[0].stem] = results.pop("")
        results["flat-colour-baseline"], _ = evaluate(FlatColourBaseline(size), characters, **common)
        if mode == "table":
            results["exact-lookup-baseline"], _ = evaluate(ExactLookupBaseline(size), characters, **common)
        else:
            results[f"plain {mode} lookup"], _ = evaluate(PlainLookup(size), characters, samples=samples, **common)
    out = results[""] if "" in results else results
    if args.grid:
        save_eval_grid(args.grid, next(iter(grids_all.values())))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"conrt eval: {len(characters)} characters x {args.targets} targets at {size}x{size}, "
              f"{args.sheet_poses} sheets, {mode} correspondences, weights {', '.join(map(str, paths))}")
        print(format_table(out))
        if args.grid:
            print(f"grid: {args.grid}")
    return 0
