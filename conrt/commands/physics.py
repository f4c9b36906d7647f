"""``conrt bvh info FILE`` and ``conrt simulate``: motion files and the physics world."""
from __future__ import annotations

import logging
import time

import numpy as np

from conrt.commands._vmc import LiveSession, add_vmc_arguments
from conrt.errors import ConfigError
from conrt.limits import check_output_file, make_parents

from ._motion_args import add_loading_arguments, add_motion_argument, loading_kwargs

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    b = subparsers.add_parser("bvh", help="inspect BVH motion files",
                              description="BVH tools. 'info' lists the joints, channels and the humanoid mapping.")
    bsub = b.add_subparsers(dest="bvh_command", metavar="ACTION")
    info = bsub.add_parser("info", help="joints, frames, rotation orders and humanoid mapping of a BVH file")
    info.add_argument("file")
    info.add_argument("--name-map", dest="name_map", metavar="FILE.json",
                      help="JSON object of joint name -> humanoid bone for names the conventions miss")
    info.set_defaults(func=bvh_info)
    b.set_defaults(func=lambda args: (b.print_help(), 2)[1])

    s = subparsers.add_parser(
        "simulate", help="run a character through the physics world and save the poses",
        description="Drive a character with a clip (or a BVH file) through the PyBullet world "
                    "(body, cloth, hair) and write the per-frame poses to an .npz.")
    s.add_argument("--character", default="sample",
                   help="'sample' (samples/sample_character.glb), 'procedural:SEED', or a .glb/.vrm path")
    add_motion_argument(s, "walk")
    s.add_argument("--bvh", default=None, help="same as --motion FILE.bvh")
    s.add_argument("--animation", default=None, help="same as --motion animation:NAME|INDEX")
    add_loading_arguments(s)
    s.add_argument("--frames", type=int, default=120)
    s.add_argument("--fps", type=float, default=60.0)
    s.add_argument("--substeps", type=int, default=None, help="physics substeps per frame (default: backend's)")
    s.add_argument("--cloth", choices=("verlet", "bullet"), default="verlet", help="cloth solver (default verlet)")
    s.add_argument("--mode", choices=("kinematic", "physical"), default="kinematic")
    s.add_argument("-o", "--out", default=None,
                   help="write joint_world [F,J,4,4], sim_indices, sim_positions [F,K,3] to this .npz")
    s.add_argument("--list-clips", action="store_true", help="print the clip names and exit")

    add_vmc_arguments(s, wait=True)  # --vmc: record --frames live VMC poses, paced in real time at --fps
    s.set_defaults(func=simulate)


def bvh_info(args) -> int:
    from conrt.physics.bvh import humanoid_map, load_bvh  # lazy: a stage (0.1-0.3 s), not at CLI startup

    from conrt.physics.motion import load_name_map  # lazy: a stage (0.1-0.3 s), not at CLI startup

    name_map = load_name_map(args.name_map)  # before any output
    bvh = load_bvh(args.file)
    orders = sorted({j.rotation_order for j in bvh.joints if j.rotation_order})
    six = sum(1 for j in bvh.joints if len(j.channels) == 6)
    print(f"{args.file}: {len(bvh.joints)} joints, {bvh.num_frames} frames at {1 / bvh.frame_time:.2f} fps "
          f"({bvh.num_frames * bvh.frame_time:.2f} s); rotation orders {', '.join(orders)}; {six} six-channel joints")
    hmap = humanoid_map(bvh.names, name_map, bvh.joints)
    inv = {k: h for h, k in hmap.items()}
    for k, j in enumerate(bvh.joints):
        depth, p = 0, j.parent
        while p >= 0:
            depth, p = depth + 1, bvh.joints[p].parent
        target = inv.get(k) or "(unrecognised)"
        print(f"  {'  ' * depth}{j.name:<{30 - 2 * depth}s} {len(j.channels)} ch  -> {target}")
    return 0


def _character(spec: str, facing: str = "auto", name_map=None):
    """-> (Character, the file it came from or None)."""
    from conrt.characters.sources import resolve_character  # lazy: a stage (0.1-0.3 s), not at CLI startup

    return resolve_character(spec, facing=facing, name_map=name_map)


def simulate(args) -> int:
    from tqdm import tqdm  # lazy: tqdm, not at CLI startup

    from conrt.physics.clips import list_clips  # lazy: a stage (0.1-0.3 s), not at CLI startup

    if args.list_clips:  # before importing PyBullet, which prints its build time on stdout
        print("\n".join(list_clips()))
        return 0
    from conrt.physics.motion import check_motion, resolve_motion  # lazy: a stage (0.1-0.3 s), not at CLI startup
    from conrt.physics.world import PhysicsWorld  # lazy: a stage (0.1-0.3 s), not at CLI startup

    if args.frames < 1:
        raise ConfigError(f"--frames must be >= 1, got {args.frames}")
    if args.out:
        check_output_file(args.out, "-o", (".npz",), create_parents=False)  # before the work, not after it
    if args.bvh and args.animation:
        raise ConfigError("give --bvh or --animation, not both")
    motion = args.bvh or (f"animation:{args.animation}" if args.animation else args.clip)
    check_motion(motion)
    loading = loading_kwargs(args)
    character, source = _character(args.character, **loading)
    clip = resolve_motion(motion, character, character_file=source, name_map=loading["name_map"])

    live = LiveSession.from_args(args, character)  # --vmc / --vmc-send (docs/vmc.md); inert without them
    clip = live.motion or clip
    joints, positions, cpu = [], [], []
    with PhysicsWorld(fps=args.fps, substeps=args.substeps, cloth_backend=args.cloth) as world, live:
        h = world.add(character, clip, mode=args.mode)
        for _ in tqdm(range(args.frames), desc="simulate", unit="frame", disable=args.frames < 30):
            live.before_step()
            t0 = time.process_time()
            pose = world.step()[h]
            cpu.append(time.process_time() - t0)
            live.after_step(pose, world.time(h))
            joints.append(pose.joint_world)
            if pose.sim_positions is not None:
                positions.append(pose.sim_positions)
        resets = world.resets(h)
    print(f"{character.name}: {args.frames} frames of {clip.name!r}, median {1000 * np.median(cpu):.2f} ms cpu/frame, "
          f"{resets} cloth/hair resets")
    if args.out:
        make_parents(args.out)
        np.savez_compressed(args.out, joint_world=np.stack(joints),
                            sim_indices=pose.sim_indices if pose.sim_indices is not None else np.zeros(0, np.int32),
                            sim_positions=np.stack(positions) if positions else np.zeros((len(joints), 0, 3), np.float32),
                            **live.arrays())
        print(f"wrote {args.out}")
    return 0
