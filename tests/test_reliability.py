"""Issue #13 parts 3-4: no silent failure, no traceback, bounded memory, and the
traps in the README's own path. CLI behaviour runs as real processes; the
bad-input table's generator (benchmarks/reliability_table.py) runs a subset."""
from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conrt.errors import AssetError, CheckpointError, ConfigError, InputError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sample_character.glb"
SHEET = ROOT / "samples" / "sheet"
ROBOT = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "RobotExpressive.glb"


def conrt(*argv, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "conrt", *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stdout + r.stderr, r.stderr[-3000:]


# ---------------------------------------------------------------------------
# outputs: checked before the work, writer checked when it closes


@pytest.mark.parametrize("where, words", [("/proc/nope/out.mp4", "cannot write"),
                                          ("{tmp}/isdir.mp4", "existing folder"),
                                          ("{tmp}/afile/out.mp4", "is a file")])
def test_render_refuses_an_unwritable_output_before_the_work(tmp_path, where, words):
    (tmp_path / "isdir.mp4").mkdir()
    (tmp_path / "afile").write_text("x")
    r = conrt("render", "--frames", 2, "--size", 64, "-o", where.format(tmp=tmp_path))
    no_traceback(r)
    assert r.returncode == 1 and words in r.stderr
    assert "render walk" not in r.stderr  # no progress bar: it failed before shading anything


def test_video_sink_says_when_ffmpeg_wrote_nothing(tmp_path):
    """The 'wrote 2 frames, rc 0, no file' failure: ffmpeg cannot create the
    file; with 2 buffered frames it only says so on close."""
    from conrt.runtime.app.frame_loop import RuntimeFrame
    from conrt.runtime.app.outputs import VideoSink

    path = tmp_path / "x.mp4"
    sink = VideoSink(path, 10)
    path.mkdir()  # now ffmpeg cannot open its output
    frame = RuntimeFrame.__new__(RuntimeFrame)
    object.__setattr__(frame, "rgba", np.zeros((64, 64, 4), np.float32))
    with pytest.raises(InputError, match="x.mp4"):
        for _ in range(2):
            sink(frame)
        sink.close()


def test_png_sink_without_frames_leaves_nothing(tmp_path):
    from conrt.runtime.app.outputs import PngSink, close_sinks

    sink = PngSink(tmp_path / "frames" / "deep")
    close_sinks([sink], failed=False)
    assert not (tmp_path / "frames").exists() or not any((tmp_path / "frames").rglob("*"))
    assert not (tmp_path / "frames" / "deep").exists()


def test_render_load_failure_leaves_no_output_folder(tmp_path):
    bad = tmp_path / "empty.glb"
    bad.write_bytes(b"")
    r = conrt("render", "--frames", 2, "--size", 64, "--character", bad, "-o", tmp_path / "out" / "frames/")
    no_traceback(r)
    assert r.returncode == 1 and "empty.glb" in r.stderr
    assert not (tmp_path / "out").exists()


def test_atlas_does_not_hide_the_real_error(tmp_path):
    """A failure while shading (here: the first PNG frame cannot be written) is
    the error reported, not the atlas's "no frames" from the cleanup."""
    (tmp_path / "frames" / "frame_0000.png").mkdir(parents=True)
    r = conrt("render", "--frames", 2, "--size", 64, "-o", tmp_path / "frames/", "--atlas", tmp_path / "a.png")
    no_traceback(r)
    assert r.returncode == 1 and "frame_0000.png" in r.stderr and "no frames for the atlas" not in r.stderr
    assert not (tmp_path / "a.png").exists()


def test_output_file_check_creates_parents_and_refuses_folders(tmp_path):
    from conrt.limits import check_output_file, check_output_folder

    assert check_output_file(tmp_path / "a" / "b" / "x.npz", "-o", (".npz",)).parent.is_dir()
    with pytest.raises(ConfigError, match=r"\.npz"):
        check_output_file(tmp_path / "x.txt", "-o", (".npz",))
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(InputError, match="existing folder"):
        check_output_file(tmp_path / "d.npz")
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="existing file"):
        check_output_folder(tmp_path / "f")
    assert not (check_output_folder(tmp_path / "new" / "folder")).exists()  # created only when written


# ---------------------------------------------------------------------------
# physical mode on rigs without conrt's metadata


def _without_conrt_extras(tmp_path) -> Path:
    """The sample character with its extras.conrt (regions, box) removed."""
    raw = SAMPLE.read_bytes()
    clen, _ = struct.unpack_from("<II", raw, 12)
    doc = json.loads(raw[20:20 + clen])
    doc.pop("extras", None)
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    body = struct.pack("<II", len(js), 0x4E4F534A) + js + raw[20 + clen:]
    path = tmp_path / "plain.glb"
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return path


@pytest.mark.parametrize("which", ["robot", "sample without extras.conrt"])
def test_physical_mode_gives_finite_joints_for_plain_rigs(tmp_path, which):
    """RobotExpressive has 42 body joints, the sample without its metadata 60
    (hair and skirt joints become body joints): PyBullet's multibody went all-NaN
    past ~35 spherical links. RobotExpressive also has a scale of 100 on every
    joint, which the clips compounded down the tree. Now: finite joints, near
    the rest pose's size."""
    from conrt.characters.gltf_io import load_character
    from conrt.physics.world import PhysicsWorld

    c = load_character(ROBOT if which == "robot" else _without_conrt_extras(tmp_path))
    height = float(np.ptp(c.skeleton.rest_world[:, 1, 3]))
    with PhysicsWorld(fps=60) as world:
        h = world.add(c, "walk", mode="physical")
        for _ in range(30):
            pose = world.step()[h]
            assert np.isfinite(pose.joint_world).all()
        assert np.abs(pose.joint_world[:, :3, 3]).max() < 3 * height


@pytest.mark.parametrize("which", ["robot", "sample without extras.conrt"])
def test_physical_body_at_rest_is_the_rest_pose(tmp_path, which):
    """The multibody built for a rig reproduces its rest pose exactly: PyBullet
    numbers links depth-first, so links given in another order (the 32 kept of
    RobotExpressive's 42, breadth-first) had each other's frames, metres off."""
    import pybullet as p

    from conrt.characters.gltf_io import load_character
    from conrt.physics.rig import BodyRig

    c = load_character(ROBOT if which == "robot" else _without_conrt_extras(tmp_path))
    client = p.connect(p.DIRECT)
    try:
        body = BodyRig(client, c, mode="physical")
        world = body.joint_world()
    finally:
        p.disconnect(client)
    rest = c.skeleton.rest_world.astype(np.float64)
    assert np.abs(world[:, :3, 3] - rest[:, :3, 3]).max() < 1e-3
    assert np.abs(world[:, :3, :3] - rest[:, :3, :3]).max() < 1e-3 * np.abs(rest[:, :3, :3]).max()


def test_clips_do_not_compound_a_joint_scale():
    from conrt.characters.gltf_io import load_character
    from conrt.physics.clips import Animator, get_clip

    c = load_character(ROBOT)
    rest = np.abs(c.skeleton.rest_world[:, :3, 3]).max()
    for clip in ("idle", "walk", "wave"):
        pose = Animator(c, get_clip(clip, c)).pose(0.4)
        assert np.abs(pose.joint_world[:, :3, 3]).max() < 2 * rest, clip


def test_physical_body_that_blows_up_is_reset(caplog):
    """The safety net cloth and hair have: NaN joint states -> reset, counted, warned once."""
    import pybullet as p

    from conrt.characters.procedural import generate
    from conrt.physics.world import PhysicsWorld

    with PhysicsWorld(fps=60) as world:
        h = world.add(generate(3), "walk", mode="physical")
        world.step()
        body = world.actors[0].body
        n = len(body.links)
        p.resetJointStatesMultiDof(body.body, list(range(n)), targetValues=[[np.nan] * 4] * n,
                                   targetVelocities=[[0.0] * 3] * n, physicsClientId=world.client)
        with caplog.at_level(logging.WARNING):
            pose = world.step()[h]
        assert np.isfinite(pose.joint_world).all()
        assert body.resets == 1 and world.resets(h) >= 1
        assert "physical body blew up" in caplog.text


def test_simulate_physical_robot_writes_finite_poses(tmp_path):
    out = tmp_path / "poses" / "p.npz"  # -o (was --out only), parents created
    r = conrt("-q", "simulate", "--character", ROBOT, "--mode", "physical", "--frames", 10, "-o", out)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert np.isfinite(np.load(out)["joint_world"]).all()
    assert "pybullet build time" not in r.stdout + r.stderr  # PyBullet's banner (stderr, from C) is not printed


# ---------------------------------------------------------------------------
# glTF: confined URIs, bounded reads and counts


def _gltf_variant(tmp_path: Path, name: str, edit) -> Path:
    raw = SAMPLE.read_bytes()
    clen, _ = struct.unpack_from("<II", raw, 12)
    doc = json.loads(raw[20:20 + clen])
    blen, _ = struct.unpack_from("<II", raw, 20 + clen)
    blob = raw[28 + clen: 28 + clen + blen]
    folder = tmp_path / "asset"
    folder.mkdir(exist_ok=True)
    (folder / "char.bin").write_bytes(blob)
    (tmp_path / "secret.bin").write_bytes(blob)
    doc["buffers"] = [{"byteLength": len(blob), "uri": "char.bin"}]
    edit(doc, blob)
    path = folder / f"{name}.gltf"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("uri, words", [("../secret.bin", "outside the asset's folder"),
                                        ("/etc/passwd", "relative paths"),
                                        ("/dev/zero", "relative paths"),
                                        ("file:///etc/passwd", "relative paths")])
def test_gltf_buffer_uris_stay_in_the_assets_folder(tmp_path, uri, words):
    from conrt.characters.gltf_io import load_character

    path = _gltf_variant(tmp_path, "v", lambda d, b: d["buffers"][0].__setitem__("uri", uri))
    with pytest.raises(AssetError, match=words):
        load_character(path)


def test_gltf_reads_at_most_byte_length_and_keeps_data_uris(tmp_path):
    from conrt.characters.gltf_io import load_character
    from conrt.limits import read_confined

    (tmp_path / "big.bin").write_bytes(b"x" * 10000)
    assert len(read_confined(tmp_path, "big.bin", 100, "test")) == 100
    path = _gltf_variant(tmp_path, "data", lambda d, b: d["buffers"][0].__setitem__(
        "uri", "data:application/octet-stream;base64," + base64.b64encode(b).decode()))
    assert load_character(path).mesh.num_vertices > 1000


def test_gltf_accessor_count_is_bounded(tmp_path):
    from conrt.characters.gltf_io import load_character

    def edit(d, b):
        d["accessors"].append({"componentType": 5126, "count": 10 ** 9, "type": "VEC3"})
        d["meshes"][0]["primitives"][0]["attributes"]["POSITION"] = len(d["accessors"]) - 1

    with pytest.raises(AssetError, match="claims 1000000000 elements"):
        load_character(_gltf_variant(tmp_path, "count", edit))


def test_gltf_node_errors_name_the_file(tmp_path):
    from conrt.characters.gltf_io import load_character

    cyc = _gltf_variant(tmp_path, "cycle", lambda d, b: d["nodes"][1].setdefault("children", []).append(0))
    with pytest.raises(AssetError, match=r"cycle\.gltf: .*cycle"):
        load_character(cyc)
    bad = _gltf_variant(tmp_path, "child", lambda d, b: d["nodes"][0]["children"].append(99999))
    with pytest.raises(AssetError, match="child 99999, which does not exist"):
        load_character(bad)


def test_scaled_character_is_warned_about(tmp_path, caplog):
    from conrt.characters.gltf_io import load_character

    path = _gltf_variant(tmp_path, "big", lambda d, b: d["nodes"][0].__setitem__("scale", [1000.0] * 3))
    with caplog.at_level(logging.WARNING):
        load_character(path)
    assert "m tall" in caplog.text and "canonical box" in caplog.text


# ---------------------------------------------------------------------------
# memory bombs and limits


def test_image_pixels_are_checked_before_decoding(tmp_path):
    import resource

    from conrt.runtime.nn.sheet import read_sheet_image

    huge = tmp_path / "huge.png"
    Image.new("LA", (12000, 12000)).save(huge)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError, match="12000x12000"):
        read_sheet_image(huge)
    with pytest.raises(InputError, match="too large"):  # Pillow's DecompressionBombError, named
        read_sheet_image(bomb)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200  # decoding the 12000^2 view alone would take 550 MB


def test_frame_side_limits():
    from conrt.limits import MAX_FRAME_SIDE, check_frame_side, check_gl_frame

    with pytest.raises(ConfigError, match="8..8192"):
        check_frame_side(100000)
    with pytest.raises(ConfigError, match="GiB"):
        check_frame_side(MAX_FRAME_SIDE, bytes_per_pixel=10 ** 9)  # more memory than any machine has
    assert check_frame_side(256) == 256

    class Ctx:
        info = {"GL_MAX_TEXTURE_SIZE": 2048, "GL_MAX_RENDERBUFFER_SIZE": 4096, "GL_RENDERER": "test"}

    with pytest.raises(ConfigError, match="GL_MAX_TEXTURE_SIZE"):
        check_gl_frame(Ctx(), 4096, 4096)


@pytest.mark.parametrize("argv, words", [
    (["udp", SAMPLE, "--size", "100000", "-o", "u.npz"], "8..8192"),
    (["render", "--size", "4096", "-o", "x.mp4"], "GiB"),
    (["render", "--yaw", "inf", "-o", "x.mp4"], "not a finite number"),
    (["udp", SAMPLE, "--clip", "walk", "--frames", "0", "-o", "u.npz"], "--frames must be at least 1"),
    # the bridge's --size: conrt/limits.py's sides, then the runtime's own (runtime/limits.py), before loading
    (["bridge", "--size", "100000", "--frames", "1"], "1..8192"),
    (["bridge", "--source", "runtime", "--size", "8000", "--frames", "1"], "16..4096"),
    (["render", "--fps", "500", "-o", "x.mp4"], "1..240"),  # conrt/limits.py MAX_FPS, as RuntimeSpec.check
])
def test_cli_bounds_are_named_errors(tmp_path, argv, words):
    r = conrt(*argv, cwd=tmp_path)
    no_traceback(r)
    assert r.returncode in (1, 2) and words in r.stderr
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# UDPs, sheets, weights: garbage refused


@pytest.mark.parametrize("array, words", [
    (np.zeros((0, 0, 4), np.float32), "empty"),
    (np.zeros((8, 8, 4), np.int32), "dtype int32"),
    (np.zeros((8, 8, 4), bool), "dtype bool"),
    (np.zeros((8, 8, 4), np.complex64), "dtype complex64"),
    (np.full((8, 8, 4), 3.0, np.float32), "0..1"),
    (np.full((8, 8, 4), -0.5, np.float32), "0..1"),
])
def test_bad_udp_arrays_are_refused(array, words):
    from conrt.runtime.nn.sheet import check_udp

    with pytest.raises(InputError, match=words):
        check_udp(array)


def test_bad_udp_files_are_named(tmp_path):
    from conrt.runtime.nn.sheet import read_udp

    (tmp_path / "empty.npz").write_bytes(b"")
    good = tmp_path / "good.npz"
    np.savez(good, i=np.zeros((8, 8, 4), np.float32))
    (tmp_path / "trunc.npz").write_bytes(good.read_bytes()[:100])
    Image.new("RGB", (16, 16)).save(tmp_path / "rgb.png")
    for name, words in (("empty.npz", "cannot read"), ("trunc.npz", "cannot read"), ("rgb.png", "4 channels")):
        with pytest.raises(InputError, match=words):
            read_udp(tmp_path / name)


def test_sheet_views_must_be_drawings(tmp_path):
    from conrt.runtime.nn.sheet import check_sheet_image, read_sheet_image

    with pytest.raises(InputError, match="1x1"):
        check_sheet_image(np.full((1, 1, 4), 200, np.uint8), 0)
    preview = tmp_path / "view_00_udp.png"
    Image.new("RGBA", (64, 64)).save(preview)
    with pytest.raises(InputError, match="UDP preview"):
        read_sheet_image(preview)


def _weights_variant(tmp_path, name, tensors=None, config=None):
    from safetensors.torch import load_file, save_file

    from conrt.runtime.nn.checkpoint import DEFAULT_WEIGHTS, FORMAT, read_config

    sd = load_file(str(DEFAULT_WEIGHTS))
    sd = tensors(sd) if tensors else sd
    path = tmp_path / f"{name}.safetensors"
    save_file(sd, str(path), metadata={"format": FORMAT,
                                       "config": config if config is not None else read_config(DEFAULT_WEIGHTS).to_json()})
    return path


def test_weights_with_bad_metadata_nan_or_fp16(tmp_path):
    import torch

    from conrt.runtime.nn.checkpoint import load_weights

    with pytest.raises(CheckpointError, match="not JSON"):
        load_weights(_weights_variant(tmp_path, "notjson", config="{not json"))
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_weights(_weights_variant(tmp_path, "list", config="[1]"))

    def nan(sd):
        k = next(iter(sd))
        return {**sd, k: torch.full_like(sd[k], float("nan"))}

    with pytest.raises(CheckpointError, match="NaN"):
        load_weights(_weights_variant(tmp_path, "nan", nan))
    model = load_weights(_weights_variant(tmp_path, "fp16", lambda sd: {k: v.half() for k, v in sd.items()}))
    assert all(p.dtype == torch.float32 for p in model.parameters())


# ---------------------------------------------------------------------------
# the README's path


def test_sheet_udp_previews_are_not_views_and_shade_takes_a_folder(tmp_path):
    """`conrt sheet --udp -o sheet/` then `conrt shade --sheet sheet/*.png` (the
    README's commands): the glob holds only the views; `--sheet sheet/` works too."""
    r = conrt("sheet", SAMPLE, "--views", 2, "--size", 64, "--udp", "-o", tmp_path / "sheet")
    assert r.returncode == 0, r.stderr
    views = sorted((tmp_path / "sheet").glob("*.png"))
    assert [v.name for v in views] == ["view_00.png", "view_01.png"]
    assert (tmp_path / "sheet" / "previews" / "view_00_udp.png").is_file()
    udp = tmp_path / "sheet" / "view_00_udp.npz"
    for sheet_args in ([tmp_path / "sheet"], views):
        out = tmp_path / "o" / "x.png"
        r = conrt("shade", "--sheet", *sheet_args, "--udp", udp, "-o", out)
        no_traceback(r)
        assert r.returncode == 0 and out.is_file(), r.stderr
        out.unlink()
    r = conrt("shade", "--sheet", views[0], tmp_path / "sheet" / "previews" / "view_00_udp.png", "--udp", udp,
              "-o", tmp_path / "y.png")
    assert r.returncode == 1 and "UDP preview" in r.stderr


def test_help_texts():
    assert "gl-lookup" in conrt("render", "--help").stdout
    export_help = " ".join(conrt("export", "--help").stdout.split()).replace("- ", "-")  # argparse wraps at '-'
    assert "conr-default" in export_help
    readme = (ROOT / "README.md").read_text()
    assert ".venv/bin/activate" in readme  # conrt is not on PATH after setup


def test_tensorrt_unavailable_is_a_debug_line(caplog):
    from conrt.runtime.backends import tensorrt_backend as trt

    trt._announced = False
    with caplog.at_level(logging.INFO, logger=trt.log.name):
        trt._announce_unavailable("no CUDA")
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]


def test_window_fits_the_screen():
    from conrt.commands.demo import window_scale

    scale = window_scale(256, (1280, 800))  # the shaded panel + its half-size reference column
    assert 1.5 * 256 * scale <= 1280 and 256 * scale <= 800 and scale >= 1


def test_warning_tally_logs_a_few_then_counts(caplog):
    from conrt.limits import WarningTally

    t = WarningTally(logging.getLogger("tally-test"), first=3)
    with caplog.at_level(logging.WARNING):
        for k in range(50):
            t.warn("cloth reset", "cloth %d blew up", k)
        t.summarise()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4 and "50 times" in lines[-1]


def test_cloth_leaves_no_temporary_files():
    import glob
    import tempfile

    from conrt.characters.procedural import generate
    from conrt.physics.world import PhysicsWorld

    pattern = os.path.join(tempfile.gettempdir(), "conrt_cloth_*.obj")
    before = set(glob.glob(pattern))
    with PhysicsWorld(fps=60, cloth_backend="bullet") as world:
        world.add(generate(3), "walk")
        world.step()
        assert set(glob.glob(pattern)) == before  # nothing on disk while it runs (SIGTERM leaves nothing)


# ---------------------------------------------------------------------------
# the bad-input table's generator: a subset as a test


def test_reliability_generator_subset(tmp_path):
    spec = importlib.util.spec_from_file_location("reliability_table", ROOT / "benchmarks" / "reliability_table.py")
    rt = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = rt  # dataclasses look their module up there
    spec.loader.exec_module(rt)
    rt.make_fixtures(tmp_path)
    rows = rt.run_all(tmp_path, only="glTF", jobs=1)
    assert len(rows) >= 12
    for r in rows:
        assert not r["traceback"], r
        assert not r["claimed_missing"] and not r["leftovers"], r
        assert (r["rc"] == 0) == r["expect_ok"], r


def test_bench_shows_progress_on_stderr_and_keeps_json_clean():
    r = conrt("bench", "--sizes", 64, "--frames", 1, "--warmup", 0, "--json")
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "bench" in r.stderr and "64 px" in r.stderr  # the tqdm bar
    assert list(json.loads(r.stdout)) == ["64"]  # stdout is only the JSON (no PyBullet banner)


def test_npz_claiming_a_huge_array_is_refused_before_allocating(tmp_path):
    import io
    import zipfile

    from conrt.runtime.nn.sheet import read_udp

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (100000, 100000, 4)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as z:
        z.writestr("i.npy", header.getvalue() + bytes(1000))
    with pytest.raises(InputError, match=r"\(100000, 100000, 4\)"):
        read_udp(tmp_path / "bomb.npz")
