"""``conrt udp`` and ``conrt sheet`` as real processes on the sample character."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "sample_character.glb"


def _conrt(*args):
    return subprocess.run([sys.executable, "-m", "conrt", "-q", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_udp_command_writes_official_npz_and_preview(tmp_path):
    out = tmp_path / "poses" / "front.npz"
    proc = _conrt("udp", SAMPLE, "--size", 64, "-o", out)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as f:
        assert list(f.keys()) == ["i"]
        udp = f["i"]
    assert udp.shape == (64, 64, 4) and udp.dtype == np.float32
    occ = udp[..., 3]
    assert set(np.unique(occ)) == {0.0, 1.0} and 0.05 < occ.mean() < 0.9
    preview = np.asarray(Image.open(out.with_suffix(".png")))
    assert preview.shape == (64, 64, 4)
    np.testing.assert_array_equal(preview[..., 3] > 0, occ > 0)
    # Front view of a character standing on y = 0: its feet (landmark y ~ 0) are at the bottom rows.
    rows = np.nonzero(occ.any(1))[0]
    assert udp[rows.max(), :, 1][occ[rows.max()] > 0].mean() < 0.1
    assert udp[rows.min(), :, 1][occ[rows.min()] > 0].mean() > 0.8

    random_out = tmp_path / "random.npz"
    proc = _conrt("udp", SAMPLE, "--size", 64, "--pose", "random", "--seed", 4, "--yaw", 30, "-o", random_out)
    assert proc.returncode == 0, proc.stderr
    assert not np.array_equal(np.load(random_out)["i"], udp)


def test_sheet_command_writes_rgba_views(tmp_path):
    proc = _conrt("sheet", SAMPLE, "--views", 4, "--size", 64, "--udp", "-o", tmp_path / "sheet")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "sheet" / "sheet.json").read_text())
    assert [v["yaw"] for v in meta["views"]] == [0.0, 90.0, 180.0, -90.0] and meta["order"] == "spread"
    pictures = []
    for view in meta["views"]:
        img = Image.open(tmp_path / "sheet" / view["file"])
        assert img.mode == "RGBA" and img.size == (64, 64)
        rgba = np.asarray(img)
        assert rgba[0, 0, 3] == 0 and (rgba[rgba[..., 3] == 0] == 0).all()  # transparent background
        assert 0.03 < (rgba[..., 3] > 0).mean() < 0.9
        udp = np.load(tmp_path / "sheet" / view["file"].replace(".png", "_udp.npz"))["i"]
        np.testing.assert_array_equal(udp[..., 3] > 0, rgba[..., 3] > 0)
        pictures.append(rgba)
    assert not np.array_equal(pictures[0], pictures[2])  # front and back differ
    # both sides: the left and right profiles are mirror images of the silhouette, not the same picture
    assert not np.array_equal(pictures[1], pictures[3])
    np.testing.assert_allclose((pictures[1][..., 3] > 0).mean(), (pictures[3][..., 3] > 0).mean(), rtol=0.1)
    proc = _conrt("sheet", SAMPLE, "--views", 2, "--size", 32, "--order", "clockwise", "-o", tmp_path / "bad")
    assert proc.returncode == 1 and "valid: artist, spread, even" in proc.stderr and not (tmp_path / "bad").exists()


def test_sheet_view_files_reproduce_the_views(tmp_path):
    """Each view's camera and pose (``view_NN_view.npz``) re-render its UDP exactly."""
    from conrt.characters.gltf_io import load_character
    from conrt.shaders import UdpPass, create_context, release_context
    from conrt.shaders.view_file import load_view_file, view_file_for

    proc = _conrt("sheet", SAMPLE, "--views", 2, "--size", 48, "--udp", "-o", tmp_path / "sheet")
    assert proc.returncode == 0, proc.stderr
    character = load_character(SAMPLE)
    ctx = create_context()
    try:
        with UdpPass(ctx, 48, 48) as udp:
            udp.set_character(character)
            for k in range(2):
                png = tmp_path / "sheet" / f"view_{k:02d}.png"
                camera, pose = load_view_file(view_file_for(png), character.skeleton.num_joints)
                assert (camera.width, camera.height) == (48, 48)
                expected = np.load(png.with_name(f"view_{k:02d}_udp.npz"))["i"]
                np.testing.assert_array_equal(udp.run(pose, camera).data, expected)
    finally:
        release_context(ctx)


def test_view_file_bad_input(tmp_path):
    from conrt.errors import InputError
    from conrt.shaders.view_file import load_view_file, save_view_file
    from conrt.types import Camera, Pose

    good = Camera(view=np.eye(4, dtype=np.float32), proj=np.eye(4, dtype=np.float32), width=8, height=8)
    pose = Pose(joint_world=np.tile(np.eye(4, dtype=np.float32), (3, 1, 1)))
    path = save_view_file(tmp_path / "v_view.npz", good, pose)
    assert load_view_file(path, 3)[0].width == 8
    for bad, message in ((lambda: load_view_file(path, 5), "5"),
                         (lambda: save_view_file(tmp_path / "v.npz", good, pose), "_view.npz"),
                         (lambda: load_view_file(tmp_path / "missing_view.npz"), "cannot read")):
        try:
            bad()
        except InputError as exc:
            assert message in str(exc)
        else:
            raise AssertionError("no InputError")
    singular = Camera(view=np.zeros((4, 4), np.float32), proj=good.proj, width=8, height=8)
    nan = Camera(view=np.full((4, 4), np.nan, np.float32), proj=good.proj, width=8, height=8)
    for camera, message in ((singular, "singular"), (nan, "NaN")):
        save_view_file(tmp_path / "w_view.npz", camera, pose)
        try:
            load_view_file(tmp_path / "w_view.npz")
        except InputError as exc:
            assert message in str(exc)
        else:
            raise AssertionError("no InputError")


def test_clear_errors(tmp_path):
    proc = _conrt("udp", tmp_path / "missing.glb", "-o", tmp_path / "x.npz")
    assert proc.returncode == 1 and "no character file" in proc.stderr
    broken = tmp_path / "broken.glb"
    broken.write_bytes(b"glTF not really")
    proc = _conrt("udp", broken, "-o", tmp_path / "x.npz")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    proc = _conrt("udp", SAMPLE, "-o", tmp_path / "x.png")
    assert proc.returncode == 1 and ".npz" in proc.stderr
    proc = _conrt("sheet", SAMPLE, "--views", 0, "-o", tmp_path / "s")
    assert proc.returncode == 1 and "--views" in proc.stderr


def test_udp_from_an_animation_clip(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for out, t in ((a, 0.2), (b, 0.6)):
        proc = _conrt("udp", SAMPLE, "--size", 48, "--clip", "walk", "--time", t, "-o", out)
        assert proc.returncode == 0, proc.stderr
    ua, ub = np.load(a)["i"], np.load(b)["i"]
    assert ua[..., 3].mean() > 0.05 and not np.array_equal(ua, ub)  # the character moved
    proc = _conrt("udp", SAMPLE, "--clip", "moonwalk", "-o", tmp_path / "c.npz")
    assert proc.returncode == 1 and "valid clips" in proc.stderr


def test_udp_clip_sequence_has_a_steady_camera(tmp_path):
    proc = _conrt("udp", SAMPLE, "--size", 48, "--clip", "wave", "--frames", 3, "--fps", 4, "-o", tmp_path / "w.npz")
    assert proc.returncode == 0, proc.stderr
    frames = [np.load(tmp_path / f"w_{k:04d}.npz")["i"] for k in range(3)]
    assert all((tmp_path / f"w_{k:04d}.png").is_file() for k in range(3))
    assert not np.array_equal(frames[0], frames[2])
    # Same camera for all frames: the feet (not moving in a wave) stay on the same rows.
    bottoms = [np.nonzero(f[..., 3].any(1))[0].max() for f in frames]
    assert max(bottoms) - min(bottoms) <= 1
    proc = _conrt("udp", SAMPLE, "--frames", 3, "-o", tmp_path / "x.npz")
    assert proc.returncode == 1 and "--clip" in proc.stderr
