"""Real assets through both passes: the third-party glTF/VRM fixtures, the
shipped sample character and a fresh procedural one all load, rasterize with
non-empty coverage and the toon alpha equals the UDP occupancy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conrt.characters.posing import posed_positions, rest_pose
from conrt.commands.udp import random_pose
from conrt.shaders.camera import frame_character
from conrt.shaders.toon_pass import ToonPass
from conrt.shaders.udp_pass import UdpPass

ROOT = Path(__file__).resolve().parents[2]
GLTF = sorted((ROOT / "tests" / "fixtures" / "assets" / "gltf").glob("*.*"))
SAMPLE = ROOT / "samples" / "sample_character.glb"
SIZE = 64


@pytest.fixture(scope="module")
def passes(gl_ctx):
    udp, toon = UdpPass(gl_ctx, SIZE, SIZE), ToonPass(gl_ctx, SIZE, SIZE)
    yield udp, toon
    udp.release()
    toon.release()


def _check(passes, character, pose, yaws=(0.0, 135.0)):
    udp, toon = passes
    udp.set_character(character)
    toon.set_character(character)
    for yaw in yaws:
        cam = frame_character(posed_positions(character, pose), yaw=yaw, pitch=10.0, size=SIZE)
        data = udp.run(pose, cam).data
        rgba = toon.run(pose, cam)
        occ = data[..., 3] == 1
        assert occ.mean() > 0.02, f"{character.name}: almost nothing drawn from yaw {yaw}"
        assert ((data >= 0) & (data <= 1)).all()
        np.testing.assert_array_equal(occ, rgba[..., 3] > 0, err_msg=f"{character.name} yaw {yaw}")
        # Framing: the character touches the margin band on its longer side, centred.
        rows, cols = np.nonzero(occ)
        assert min(rows.min(), cols.min()) <= SIZE * 0.1 and max(rows.max(), cols.max()) >= SIZE * 0.9 - 1


def test_fixture_list_is_complete():
    assert len(GLTF) == 6, [p.name for p in GLTF]  # + Godette_vrm_v4.vrm (tests/real_character)


@pytest.mark.parametrize("path", GLTF, ids=[p.name for p in GLTF])
def test_third_party_assets_rasterize(passes, path):
    from conrt.characters.gltf_io import load_character

    character = load_character(path)
    if path.name == "SimpleSkin.gltf":
        # A flat strip with glTF's default material (single-sided): culled from behind, as glTF says.
        assert character.mesh.double_sided is not None and not character.mesh.double_sided.any()
        _check(passes, character, rest_pose(character), yaws=(0.0, 45.0))
        udp, _ = passes
        cam = frame_character(posed_positions(character, rest_pose(character)), yaw=180.0, size=SIZE)
        assert not udp.run(rest_pose(character), cam).data[..., 3].any()
        return
    _check(passes, character, rest_pose(character))


def test_sample_character_rest_and_random_pose(passes):
    from conrt.characters.gltf_io import load_character

    character = load_character(SAMPLE)
    _check(passes, character, rest_pose(character))
    _check(passes, character, random_pose(character, seed=1, strength=0.3))


def test_procedural_character(passes):
    from conrt.characters.procedural import generate

    character = generate(11)
    _check(passes, character, random_pose(character, seed=2))
