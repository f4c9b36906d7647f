"""One motion-source argument everywhere (issue #17 items 3 and 5): a clip name,
a BVH file or a glTF animation drive render, demo, udp, bridge, simulate and
open_runtime alike; names the conventions miss come from --name-map; the
render camera is framed from the motion's bounds."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conrt.errors import AssetError, ConfigError

from .conftest import SIZE, coverage

CMU = "bvh/cmu_npybvh_example.bvh"


def _run(argv) -> int:
    from conrt.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def _frames(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))]


@pytest.fixture(scope="module")
def biovision_bvh(assets_dir, tmp_path_factory):
    """The CMU capture with Biovision/MotionBuilder names, two of them odd (for --name-map)."""
    from conrt.physics.bvh import Bvh, BvhJoint, load_bvh, write_bvh

    rename = {"Spine": "Chest", "Spine1": "Chest2", "LeftShoulder": "LeftCollar", "LeftArm": "LeftShoulder",
              "LeftForeArm": "LeftElbow", "LeftHand": "LeftWrist", "LeftUpLeg": "Thigh_A", "LeftLeg": "LeftKnee",
              "LeftFoot": "LeftAnkle", "RightShoulder": "RightCollar", "RightArm": "RightShoulder",
              "RightForeArm": "RightElbow", "RightHand": "RightWrist", "RightUpLeg": "Thigh_B",
              "RightLeg": "RightKnee", "RightFoot": "RightAnkle"}
    bvh = load_bvh(assets_dir / CMU)
    joints = tuple(BvhJoint(rename.get(j.name, j.name), j.parent, j.offset, j.channels, j.end_site) for j in bvh.joints)
    folder = tmp_path_factory.mktemp("bio")
    path = write_bvh(Bvh(joints, bvh.frame_time, bvh.motion, "bio.bvh"), folder / "bio.bvh") and folder / "bio.bvh"
    name_map = folder / "names.json"
    name_map.write_text(json.dumps({"Thigh_A": "leftUpperLeg", "Thigh_B": "rightUpperLeg"}))
    return path, name_map


def test_render_takes_a_bvh_file(tmp_path, assets_dir, user_character, user_sheet, xs_weights):
    out = tmp_path / "bvh"
    assert _run(["render", "--character", str(user_character), "--sheet", str(user_sheet),
                 "--motion", str(assets_dir / CMU), "--frames", "4", "--size", str(SIZE), "--backend", "torch",
                 "--weights", str(xs_weights), "-o", str(out) + "/"]) == 0
    imgs = _frames(out)
    assert len(imgs) == 4 and all(0.03 < coverage(im) < 0.7 for im in imgs)
    assert json.loads((out / "frames.json").read_text())["frames"][0]["clip"] == "cmu_npybvh_example"


@pytest.mark.parametrize("motion", ["animation:Survey", "animation:1", "{fox}#Walk"])
def test_render_takes_a_gltf_animation(tmp_path, assets_dir, user_sheet, xs_weights, motion):
    fox = assets_dir / "gltf" / "Fox.glb"
    out = tmp_path / "fox"
    assert _run(["render", "--character", str(fox), "--sheet", str(user_sheet), "--clip",
                 motion.replace("{fox}", str(fox)), "--frames", "3", "--size", str(SIZE), "--backend", "torch",
                 "--weights", str(xs_weights), "-o", str(out) + "/"]) == 0
    imgs = _frames(out)
    assert len(imgs) == 3 and all(0.03 < coverage(im) < 0.7 for im in imgs)


def test_demo_headless_takes_a_bvh_file(tmp_path, assets_dir, xs_weights, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    out = tmp_path / "demo"
    assert _run(["demo", "--size", str(SIZE), "--frames", "3", "--backend", "torch", "--weights", str(xs_weights),
                 "--motion", str(assets_dir / CMU), "-o", str(out)]) == 0
    assert len(_frames(out / "frames")) == 3


def test_udp_takes_a_bvh_file_and_a_name_map(tmp_path, user_character, biovision_bvh):
    bvh, names = biovision_bvh
    out = tmp_path / "pose.npz"
    with pytest.raises(AssetError, match=r"unrecognised joints: .*Thigh_A.*--name-map"):
        _run(["udp", str(user_character), "--motion", str(bvh), "--time", "0.2", "--size", "64", "-o", str(out)])
    assert _run(["udp", str(user_character), "--motion", str(bvh), "--time", "0.2", "--size", "64",
                 "--name-map", str(names), "-o", str(out)]) == 0
    rest = tmp_path / "rest.npz"
    assert _run(["udp", str(user_character), "--size", "64", "-o", str(rest)]) == 0
    a, b = np.load(out)["i"], np.load(rest)["i"]
    assert 0.02 < (a[..., 3] > 0).mean() and not np.array_equal(a[..., 3], b[..., 3])  # posed, not the rest pose


def test_simulate_takes_every_motion_source(tmp_path, assets_dir, capsys):
    fox = assets_dir / "gltf" / "Fox.glb"
    for argv in (["--motion", str(assets_dir / CMU)], ["--motion", "animation:Walk", "--character", str(fox)],
                 ["--bvh", str(assets_dir / CMU)], ["--animation", "Run", "--character", str(fox)]):
        argv = ["simulate", "--frames", "2"] + (["--character", "procedural:3"] if "--character" not in argv else []) + argv
        assert _run(argv) == 0
    assert "'Run'" in capsys.readouterr().out


def test_open_runtime_takes_a_bvh_and_bridge_requests_name_it(assets_dir, user_character, user_sheet, xs_model,
                                                               xs_weights):
    from conrt.engine_bridge.protocol import PoseKind, PoseRequest
    from conrt.runtime.app.bridge_source import RuntimeFrameSource
    from conrt.runtime.app.frame_loop import open_runtime

    with open_runtime(user_character, user_sheet, model=xs_model, backend="torch", size=SIZE, context="egl",
                      clip=str(assets_dir / CMU)) as rt:
        frames = list(rt.frames(2))
    assert frames[0].clip == "cmu_npybvh_example" and 0.03 < (frames[-1].rgba[..., 3] > 0.5).mean() < 0.7
    src = RuntimeFrameSource(SIZE, np.uint8, user_character, user_sheet, xs_weights, "torch", context="egl",
                             motion=str(assets_dir / CMU))
    try:
        img = src(PoseRequest(request_id=1, kind=PoseKind.CLIP, clip_name="cmu_npybvh_example", clip_time=0.3))
        walk = src(PoseRequest(request_id=2, kind=PoseKind.CLIP, clip_name="walk", clip_time=0.3))
    finally:
        src.close()
    assert 0.03 < (img[..., 3] > 0).mean() < 0.7 and not np.array_equal(img[..., 3], walk[..., 3])


@pytest.mark.parametrize("motion, match", [
    ("moonwalk", "valid clips: dance, idle, jump, run, turn, walk, wave; or a .bvh or .vrma file"),
    ("/nonexistent/x.bvh", "does not exist"),
    ("animation:Nope", "has no animation 'Nope'; it has: Run, Survey, Walk"),
])
def test_bad_motion_sources_are_named(tmp_path, assets_dir, user_sheet, xs_weights, motion, match):
    with pytest.raises((ConfigError, AssetError), match=match):
        _run(["render", "--character", str(assets_dir / "gltf" / "Fox.glb"), "--sheet", str(user_sheet),
              "--motion", motion, "--frames", "1", "--size", str(SIZE), "--backend", "torch",
              "--weights", str(xs_weights), "-o", str(tmp_path / "x") + "/"])


def test_animation_of_a_procedural_character_is_a_clear_error(xs_model):
    from conrt.runtime.app.frame_loop import open_runtime

    with pytest.raises(ConfigError, match="not loaded from a glTF/VRM file"):
        open_runtime("procedural:3", model=xs_model, backend="torch", size=SIZE, context="egl", clip="animation:0")


@pytest.mark.parametrize("clip", ["wave", "jump"])
def test_render_framing_keeps_raised_hands_in_frame(user_character, clip):
    """Every frame of a clip with raised arms: nothing touches the frame's border,
    and the camera radius is one number for the whole clip."""
    from conrt.physics.motion import motion_poses, resolve_motion
    from conrt.runtime.app.frame_loop import RasterStage
    from conrt.runtime.app.session import load_character_source

    character = load_character_source(user_character)
    motion = resolve_motion(clip, character)
    raster = RasterStage(character, 96, context="egl")
    try:
        raster.fit_motion(motion_poses(character, motion))
        from conrt.physics.clips import Animator

        anim = Animator(character, motion)
        for t in np.linspace(0, motion.duration, 17):
            pose = anim.pose(float(t))
            raster.render(pose, raster.camera(pose))
            occ = raster.read()[..., 3] > 0
            border = np.concatenate([occ[0], occ[-1], occ[:, 0], occ[:, -1]])
            assert not border.any(), f"{clip} at {t:.2f} s touches the frame's border"
    finally:
        raster.close()


def test_bridge_clip_switch_cross_fades_instead_of_resetting(user_character, user_sheet, xs_weights):
    from conrt.engine_bridge.protocol import PoseKind, PoseRequest
    from conrt.runtime.app.bridge_source import RuntimeFrameSource

    src = RuntimeFrameSource(SIZE, np.uint8, user_character, user_sheet, xs_weights, "torch", context="egl")
    try:
        for k in range(4):
            src(PoseRequest(request_id=k, kind=PoseKind.CLIP, clip_name="walk", clip_time=0.5 + k / 30))
        img = src(PoseRequest(request_id=9, kind=PoseKind.CLIP, clip_name="dance", clip_time=0.0))
        actor = src.physics.world.actors[src.physics.handle]
        assert src.physics.clip == "dance" and actor.fade is not None  # blending from walk, not re-seeked
        assert 0.03 < (img[..., 3] > 0).mean() < 0.7
    finally:
        src.close()
