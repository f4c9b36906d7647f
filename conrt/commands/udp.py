"""``conrt udp``: render a character's Ultra-Dense Pose to the official file
format (``.npz`` with key ``i``: float32 H x W x 4, row 0 = top) plus a PNG
preview beside it. The rest pose unless ``--pose random`` or ``--motion M
--time T`` (a clip name, a BVH file or a glTF animation) is given."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from conrt.errors import ConfigError
from conrt.limits import check_output_file, finite_float, raster_side
from conrt.types import Character, Pose

from ._motion_args import add_loading_arguments, add_motion_argument, loading_kwargs

log = logging.getLogger(__name__)

POSES = ("rest", "random")


def register(subparsers) -> None:
    p = subparsers.add_parser("udp", help="render a character's Ultra-Dense Pose (.npz + PNG preview)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("character", type=Path, help="character file (.glb/.gltf/.vrm)")
    add_view_arguments(p)
    p.add_argument("--pose", choices=POSES, default="rest", help="rest (T-)pose or a random joint perturbation")
    p.add_argument("--seed", type=int, default=0, help="seed of --pose random")
    p.add_argument("--strength", type=float, default=0.35, help="max random joint rotation in radians (--pose random)")
    add_motion_argument(p, None)
    add_loading_arguments(p)
    p.add_argument("--time", type=float, default=0.0, help="time in seconds into --motion")
    p.add_argument("--frames", type=int, default=1, help="with --clip: render N frames (out_0000.npz ...), steady camera")
    p.add_argument("--fps", type=float, default=24.0, help="frame rate of --frames")
    p.add_argument("-o", "--output", type=Path, default=Path("pose.npz"), help="output .npz (a .png preview is written beside it)")
    p.set_defaults(func=run)


def add_view_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=raster_side, default=256, help="square frame size in pixels")
    p.add_argument("--yaw", type=finite_float, default=0.0,
                   help="orbit yaw in degrees (0 = front, 90 = the character's left side)")
    p.add_argument("--pitch", type=finite_float, default=0.0, help="orbit pitch in degrees (> 0: from above)")
    p.add_argument("--roll", type=finite_float, default=0.0, help="roll about the viewing axis in degrees")
    p.add_argument("--projection", choices=("orthographic", "perspective"), default="orthographic")
    p.add_argument("--fov", type=finite_float, default=30.0, help="perspective vertical field of view in degrees")
    p.add_argument("--margin", type=finite_float, default=0.05, help="free border on each side, fraction of the frame")
    p.add_argument("--context", choices=("auto", "egl", "window"), default="auto", help="OpenGL context kind")


def load_character_file(path: Path, facing: str = "auto", name_map: dict | None = None) -> Character:
    """A character file (or procedural:SEED), through the one character resolver."""
    from conrt.characters.sources import resolve_character  # lazy: a stage (0.1-0.3 s), not at CLI startup

    return resolve_character(path, facing=facing, name_map=name_map)[0]


# ---------------------------------------------------------------------------
# Poses


def world_axis_rotation(character: Character, joint: int, axis, angle: float) -> np.ndarray:
    """[3, 3] local rotation that turns ``joint`` by ``angle`` radians about a
    character-space ``axis`` (from its rest orientation), for
    :func:`conrt.characters.posing.pose_from_rotations`."""
    from conrt.characters.posing import rotation_matrix  # lazy: a stage (0.1-0.3 s), not at CLI startup

    rest = character.skeleton.rest_world[joint, :3, :3].astype(np.float64)
    # Strip scale so the conjugation is a pure rotation.
    u, _, vt = np.linalg.svd(rest)
    rest = u @ vt
    world = rotation_matrix(axis, angle).astype(np.float64)
    return (rest.T @ world @ rest).astype(np.float32)


def random_pose(character: Character, seed: int, strength: float = 0.35, lower_arms: bool = True) -> Pose:
    """A random but plausible-ish pose: every joint turned by up to
    ``strength`` radians about a random axis and, for humanoids, the arms
    lowered out of the T-pose by 45-75 degrees. Deterministic in ``seed``.
    Characters with a humanoid map only get their humanoid bones turned (hair
    strands and cloth joints are the physics' job)."""
    from conrt.characters.posing import pose_from_rotations  # lazy: a stage (0.1-0.3 s), not at CLI startup

    if not (np.isfinite(strength) and 0 <= strength <= np.pi):
        raise ConfigError(f"pose strength must be within 0..pi radians, got {strength}")
    rng = np.random.default_rng(seed)
    skel = character.skeleton
    rotations: dict[str, np.ndarray] = {}
    human = character.humanoid
    movable = set(human.values()) if human else set(range(skel.num_joints))
    # Roots stay put (the framing follows the body anyway).
    for j, name in enumerate(skel.names):
        if skel.parents[j] < 0 or strength == 0 or j not in movable:
            continue
        axis = rng.normal(size=3)
        rotations[name] = world_axis_rotation(character, j, axis, float(rng.uniform(-strength, strength)))
    if lower_arms:
        for bone, sign in (("leftUpperArm", -1.0), ("rightUpperArm", 1.0)):
            if bone in human:
                j = human[bone]
                # Left arm points +X in the T-pose: a negative turn about +Z lowers it.
                angle = sign * np.radians(rng.uniform(45, 75))
                rot = world_axis_rotation(character, j, (0, 0, 1), angle)
                if skel.names[j] in rotations:
                    rot = rot @ rotations[skel.names[j]]
                rotations[skel.names[j]] = rot
    return pose_from_rotations(skel, rotations)


def make_pose(character: Character, kind: str, seed: int = 0, strength: float = 0.35) -> Pose:
    from conrt.characters.posing import rest_pose  # lazy: a stage (0.1-0.3 s), not at CLI startup

    if kind == "rest":
        return rest_pose(character)
    if kind == "random":
        return random_pose(character, seed, strength)
    raise ConfigError(f"unknown pose {kind!r}; choose one of {', '.join(POSES)}")


# ---------------------------------------------------------------------------


def udp_preview(data: np.ndarray) -> np.ndarray:
    """[H, W, 4] f32 UDP -> [H, W, 4] u8 RGBA picture (landmark as colour)."""
    return (np.clip(data, 0, 1) * 255 + 0.5).astype(np.uint8)


def save_udp(path: Path, data: np.ndarray, preview_dir: Path | None = None) -> Path:
    """Write the official UDP file (key ``i``) and a PNG preview (beside it, or in
    ``preview_dir``); returns the PNG path."""
    from PIL import Image  # lazy: Pillow, not at CLI startup

    path = Path(path)
    if path.suffix != ".npz":
        raise ConfigError(f"the UDP output must be a .npz file, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, i=np.ascontiguousarray(data, np.float32))
    png = (Path(preview_dir) / path.name if preview_dir else path).with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(udp_preview(data), "RGBA").save(png)
    return png


def run(args) -> int:
    from tqdm import tqdm  # lazy: tqdm, not at CLI startup

    from conrt.characters.posing import posed_positions  # lazy: a stage (0.1-0.3 s), not at CLI startup
    from conrt.shaders import UdpPass, create_context, frame_character, release_context  # lazy: moderngl, not at CLI startup

    if Path(args.output).suffix != ".npz":  # fail before the work, not after
        raise ConfigError(f"the UDP output must be a .npz file, got {args.output}")
    if args.clip and args.pose != "rest":
        raise ConfigError("give either --pose random or --clip, not both")
    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    if args.frames > 1 and not args.clip:
        raise ConfigError("--frames N > 1 needs --clip (a sequence of poses from an animation clip)")
    check_output_file(args.output, "-o", (".npz",), create_parents=False)  # save_udp makes the folder
    if not (np.isfinite(args.fps) and args.fps > 0):
        raise ConfigError(f"--fps must be positive, got {args.fps}")
    loading = loading_kwargs(args)
    if args.clip:
        from conrt.physics.motion import check_motion  # lazy: a stage (0.1-0.3 s), not at CLI startup

        check_motion(args.clip)
    character = load_character_file(args.character, **loading)
    if args.clip:
        from conrt.physics.clips import Animator  # lazy: a stage (0.1-0.3 s), not at CLI startup
        from conrt.physics.motion import resolve_motion  # lazy: a stage (0.1-0.3 s), not at CLI startup

        if not np.isfinite(args.time):
            raise ConfigError(f"--time must be a finite number of seconds, got {args.time}")
        anim = Animator(character, resolve_motion(args.clip, character, character_file=args.character,
                                                  name_map=loading["name_map"]))
        poses = [anim.pose(args.time + k / args.fps) for k in range(args.frames)]
    else:
        poses = [make_pose(character, args.pose, args.seed, args.strength)]
    # One camera for the whole sequence (framed on every frame's vertices):
    # the character moves inside a steady frame instead of being re-centred.
    everything = np.concatenate([posed_positions(character, p) for p in poses])
    camera = frame_character(everything, yaw=args.yaw, pitch=args.pitch, roll=args.roll,
                             size=args.size, margin=args.margin, projection=args.projection, fov=args.fov)
    out = Path(args.output)
    names = [out] if len(poses) == 1 else [out.with_name(f"{out.stem}_{k:04d}.npz") for k in range(len(poses))]
    ctx = create_context(args.context)
    try:
        with UdpPass(ctx, args.size, args.size) as udp:
            udp.set_character(character)
            for name, pose in zip(tqdm(names, desc="udp", unit="frame", disable=len(names) < 8), poses):
                frame = udp.run(pose, camera)
                png = save_udp(name, frame.data)
    finally:
        release_context(ctx)
    covered = float(frame.data[..., 3].mean())
    if len(names) == 1:
        print(f"wrote {out} ({args.size}x{args.size}, {covered:.1%} covered) and {png}")
    else:
        print(f"wrote {len(names)} frames {names[0]} .. {names[-1]} ({args.size}x{args.size}) with PNG previews")
    return 0
