"""Facing: a character exported facing -Z is detected from its skeleton and
turned to face +Z at load, so yaw 0 shows its front (issue #17 item 1)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from conrt.characters.gltf_io import detect_facing, load_character
from conrt.characters.posing import rest_pose
from conrt.errors import ConfigError

from .gltf_edit import wrap_scene_roots

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "sample": ROOT / "samples" / "sample_character.glb",
    "robot": ROOT / "tests" / "fixtures" / "assets" / "gltf" / "RobotExpressive.glb",
}
TURN_180 = (0.0, 1.0, 0.0, 0.0)  # quaternion x, y, z, w: 180 degrees about +Y


def _udp(character, size=128):
    from conrt.characters.posing import posed_positions
    from conrt.shaders import UdpPass, create_context, frame_character, release_context

    pose = rest_pose(character)
    cam = frame_character(posed_positions(character, pose), yaw=0.0, size=size)
    ctx = create_context("egl")
    try:
        with UdpPass(ctx, size, size) as udp:
            udp.set_character(character)
            return udp.run(pose, cam).data
    finally:
        release_context(ctx)


def _compare(a, b):
    """(occupancy IoU, fraction of shared pixels whose landmark differs by > 0.02)."""
    ma, mb = a[..., 3] > 0.5, b[..., 3] > 0.5
    iou = (ma & mb).sum() / max((ma | mb).sum(), 1)
    both = ma & mb
    off = (np.abs(a[..., :3] - b[..., :3]).max(-1) > 0.02)[both].mean()
    return float(iou), float(off)


@pytest.mark.parametrize("which", sorted(SOURCES))
def test_minus_z_copy_renders_the_same_udp_at_yaw_0(tmp_path, which, caplog):
    original = load_character(SOURCES[which])
    turned_file = wrap_scene_roots(SOURCES[which], tmp_path / "turned.glb", rotation=TURN_180)
    with caplog.at_level(logging.INFO, logger="conrt.characters.gltf_io"):
        turned = load_character(turned_file)
    lines = [r.getMessage() for r in caplog.records if "faces" in r.getMessage()]
    assert len(lines) == 1 and "faces -Z" in lines[0] and "turned 180" in lines[0], lines
    iou, off = _compare(_udp(original), _udp(turned))
    assert iou >= 0.98 and off < 0.01, (iou, off)
    # the override wins over the detection: "+z" keeps the file as it is, so yaw 0 shows the back
    kept = load_character(turned_file, facing="+z")
    iou, off = _compare(_udp(original), _udp(kept))
    assert off > 0.2, off
    assert "--facing +z" in kept.meta["facing"]


def test_detect_facing_reads_the_skeleton():
    c = load_character(SOURCES["sample"])
    assert detect_facing(c.skeleton.rest_world, c.humanoid)[0] == 0.0
    turned = c.skeleton.rest_world.copy()
    turned[:, :3, :] = np.diag([-1.0, 1.0, -1.0]) @ turned[:, :3, :]  # about +Y by 180
    assert detect_facing(turned, c.humanoid)[0] == 180.0
    quarter = c.skeleton.rest_world.copy()
    quarter[:, :3, :] = np.array([[0, 0, 1.0], [0, 1, 0], [-1, 0, 0]]) @ quarter[:, :3, :]  # +Z -> +X
    assert detect_facing(quarter, c.humanoid)[0] == 90.0
    assert detect_facing(c.skeleton.rest_world, {})[0] is None


def test_unknown_facing_is_a_config_error():
    with pytest.raises(ConfigError, match=r"auto, \+z, -z"):
        load_character(SOURCES["robot"], facing="backwards")


def test_cli_facing_override_and_log_line(tmp_path, caplog):
    """`conrt udp` and `conrt character info` take --facing; auto logs one decision line."""
    from conrt.cli import build_parser

    turned = wrap_scene_roots(SOURCES["robot"], tmp_path / "turned.glb", rotation=TURN_180)

    def run(*argv):
        args = build_parser().parse_args(list(argv))
        return args.func(args)

    with caplog.at_level(logging.INFO, logger="conrt.characters.gltf_io"):
        assert run("udp", str(turned), "--size", "64", "-o", str(tmp_path / "auto.npz")) == 0
    assert sum("faces -Z" in r.getMessage() for r in caplog.records) == 1
    assert run("udp", str(turned), "--size", "64", "--facing", "+z", "-o", str(tmp_path / "kept.npz")) == 0
    assert run("udp", str(SOURCES["robot"]), "--size", "64", "-o", str(tmp_path / "orig.npz")) == 0
    auto, kept, orig = (np.load(tmp_path / f"{n}.npz")["i"] for n in ("auto", "kept", "orig"))
    assert _compare(orig, auto)[1] < 0.01 and _compare(orig, kept)[1] > 0.2
