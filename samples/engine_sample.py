"""A sample "game engine" in Python: drives poses through the bridge and
saves what comes back.

    conrt bridge --name demo &                       # the runtime side
    python -m conrt.samples.engine_sample --name demo --frames 120 --out out/
    python -m conrt.samples.engine_sample --spawn --out out/   # starts its own bridge

Each tick it animates a stick figure (7 joints, world matrices), orbits the
camera, sends the pose request, and reads the newest frame. It measures the
pose -> frame latency (send time to the first frame carrying that request id),
saves every ``--save-every``-th frame as PNG plus a contact sheet, and writes
``stats.json``. Only ``conrt.engine_bridge`` is used: a real engine would do
the same through ``conrt_bridge.h`` or ``ConrtBridge.cs``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from conrt.engine_bridge import BridgeReader, WriterGone

log = logging.getLogger(__name__)

JOINTS = ("hips", "chest", "head", "leftHand", "rightHand", "leftFoot", "rightFoot")


def stick_figure(t: float) -> np.ndarray:
    """[7, 4, 4] f32 joint world matrices of a walking stick figure at time t (s)."""
    swing = 0.35 * np.sin(2 * np.pi * t)
    pos = np.array([[0, 0.9, 0], [0, 1.3, 0], [0, 1.6, 0],
                    [-0.35, 1.0, swing], [0.35, 1.0, -swing],
                    [-0.15, 0.05, -swing], [0.15, 0.05, swing]], np.float32)
    mats = np.tile(np.eye(4, dtype=np.float32), (len(pos), 1, 1))
    mats[:, :3, 3] = pos
    return mats


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """[4, 4] f32 world -> eye (OpenGL: the eye looks down -Z)."""
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m.astype(np.float32)


def perspective(fov_y_deg: float, aspect: float, near: float = 0.1, far: float = 100.0) -> np.ndarray:
    f = 1.0 / np.tan(np.radians(fov_y_deg) / 2)
    m = np.zeros((4, 4), np.float32)
    m[0, 0], m[1, 1] = f / aspect, f
    m[2, 2], m[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
    m[3, 2] = -1
    return m


def run(name: str, frames: int, out: Path | None, fps: float = 30.0, save_every: int = 10,
        timeout: float = 30.0) -> dict:
    """Drive ``frames`` pose requests through the bridge ``name``; returns the stats."""
    reader = BridgeReader.connect(name, timeout=timeout)
    proj = perspective(45.0, reader.geometry.width / reader.geometry.height)
    # A bridge with a real character says how many joints it needs (header skeleton_joints);
    # the stick figure has 7, so such a bridge is driven with the "walk" clip instead.
    skeleton = reader.geometry.skeleton_joints
    use_clip = skeleton not in (0, len(JOINTS))
    if use_clip:
        log.info("the bridge's character has %d joints, the stick figure %d: sending the walk clip", skeleton,
                 len(JOINTS))
    sent: dict[int, float] = {}
    latencies, saved, dropped, received = [], [], 0, 0
    last_request = 0
    t0 = time.monotonic()
    try:
        for tick in range(frames):
            t = tick / fps
            yaw = 0.5 * t
            eye = (3.0 * np.sin(yaw), 1.2, 3.0 * np.cos(yaw))
            pose = dict(clip="walk", clip_time=t) if use_clip else dict(joints=stick_figure(t))
            rid = reader.send_pose(**pose, camera_view=look_at(eye, (0, 0.9, 0)), camera_proj=proj)
            sent[rid] = time.monotonic()
            # Wait for the frame shaded from this request (the runtime shades the latest one).
            deadline = time.monotonic() + timeout
            while True:
                got = reader.wait(max(0.0, deadline - time.monotonic()))
                if got is None:
                    raise TimeoutError(f"no frame for request {rid} within {timeout} s")
                pixels, info = got
                received += 1
                dropped += info.dropped
                if info.request_id in sent and info.request_id > last_request:
                    latencies.append(time.monotonic() - sent[info.request_id])
                    last_request = info.request_id
                if info.request_id >= rid:
                    break
            if out is not None and tick % save_every == 0:
                saved.append(pixels.copy())
            next_tick = t0 + (tick + 1) / fps
            time.sleep(max(0.0, next_tick - time.monotonic()))
    finally:
        reader.close()
    stats = {
        "bridge": name, "requests": frames, "frames_received": received, "frames_dropped": dropped,
        "latency_ms_p50": 1e3 * float(np.percentile(latencies, 50)) if latencies else None,
        "latency_ms_p95": 1e3 * float(np.percentile(latencies, 95)) if latencies else None,
        "seconds": time.monotonic() - t0,
    }
    if out is not None:
        _save(out, saved, stats)
    return stats


def _save(out: Path, frames: list[np.ndarray], stats: dict) -> None:
    import imageio.v3 as iio  # lazy: imageio only for video

    out.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        iio.imwrite(out / f"frame_{i:03d}.png", _to_rgba8(f))
    if frames:
        iio.imwrite(out / "sheet.png", np.concatenate([_to_rgba8(f) for f in frames], axis=1))
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    log.info("saved %d frames and stats.json to %s", len(frames), out)


def _to_rgba8(frame: np.ndarray) -> np.ndarray:
    """Premultiplied -> straight alpha 8-bit RGBA, the convention of PNG."""
    f = frame.astype(np.float32) / (255.0 if frame.dtype == np.uint8 else 1.0)
    a = f[..., 3:4]
    rgb = np.where(a > 0, f[..., :3] / np.maximum(a, 1e-6), 0)
    return np.round(np.clip(np.concatenate([rgb, a], -1), 0, 1) * 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", help="bridge to attach to (default with --spawn: a fresh one)")
    p.add_argument("--spawn", action="store_true", help="start `conrt bridge --source test` for the run")
    p.add_argument("--size", type=int, default=256, help="frame size when spawning (default 256)")
    p.add_argument("--frames", type=int, default=120, help="pose requests to send (default 120)")
    p.add_argument("--fps", type=float, default=30.0, help="engine tick rate (default 30)")
    p.add_argument("--out", type=Path, help="folder for PNGs, sheet.png and stats.json")
    p.add_argument("--save-every", type=int, default=10)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.spawn and not args.name:
        p.error("give --name of a running bridge, or --spawn")
    name = args.name or f"sample-{os.getpid()}-{secrets.token_hex(3)}"
    server = None
    if args.spawn:
        server = subprocess.Popen([sys.executable, "-m", "conrt.cli", "-q", "bridge", "--name", name,
                                   "--size", str(args.size), "--fps", str(max(args.fps * 2, 60))])
    try:
        stats = run(name, args.frames, args.out, args.fps, args.save_every)
    except (WriterGone, TimeoutError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
