import subprocess
import sys

import numpy as np


def _conrt(*args):
    return subprocess.run([sys.executable, "-m", "conrt", *args], capture_output=True, text=True, timeout=300)


def test_bvh_info_lists_the_mapping(assets_dir):
    r = _conrt("bvh", "info", str(assets_dir / "bvh/cmu_npybvh_example.bvh"))
    assert r.returncode == 0, r.stderr
    assert "31 joints, 75 frames at 120.00 fps" in r.stdout
    assert "LeftUpLeg" in r.stdout and "-> leftUpperLeg" in r.stdout and "(unrecognised)" in r.stdout


def test_bvh_info_on_a_broken_file_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n")
    r = _conrt("bvh", "info", str(bad))
    assert r.returncode == 1 and "bad.bvh:4: unexpected end of file" in r.stderr and "Traceback" not in r.stderr


def test_simulate_writes_the_poses(tmp_path):
    out = tmp_path / "poses.npz"
    r = _conrt("simulate", "--character", "procedural:2", "--clip", "jump", "--frames", "6", "--out", str(out))
    assert r.returncode == 0, r.stderr
    data = np.load(out)
    assert data["joint_world"].shape[0] == 6 and data["joint_world"].shape[2:] == (4, 4)
    assert data["sim_positions"].shape == (6, len(data["sim_indices"]), 3)
    assert np.isfinite(data["sim_positions"]).all()


def test_simulate_with_a_gltf_animation(assets_dir):
    r = _conrt("simulate", "--character", str(assets_dir / "gltf/Fox.glb"), "--animation", "Run", "--frames", "5")
    assert r.returncode == 0, r.stderr
    assert "5 frames of 'Run'" in r.stdout
    r = _conrt("simulate", "--character", str(assets_dir / "gltf/Fox.glb"), "--animation", "Dance", "--frames", "5")
    assert r.returncode == 1 and "has no animation 'Dance'" in r.stderr


def test_bvh_info_takes_a_name_map(assets_dir, tmp_path):
    names = tmp_path / "names.json"
    names.write_text('{"LHipJoint": "leftUpperLeg"}')
    r = _conrt("bvh", "info", str(assets_dir / "bvh/cmu_npybvh_example.bvh"), "--name-map", str(names))
    assert r.returncode == 0, r.stderr
    assert "LHipJoint                    3 ch  -> leftUpperLeg" in r.stdout
    r = _conrt("bvh", "info", str(assets_dir / "bvh/cmu_npybvh_example.bvh"), "--name-map", str(tmp_path / "no.json"))
    assert r.returncode == 1 and "cannot read name map" in r.stderr and not r.stdout
