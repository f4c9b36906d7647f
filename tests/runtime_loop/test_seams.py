"""The seams of issue #14, each with a toy registered from here: one runtime
spec and one builder every entry point uses, the Runtime's public surface,
named render passes, the one model/character/motion/sheet resolvers."""
from __future__ import annotations

import ast
import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from conrt.errors import AssetError, ConfigError

from .conftest import SIZE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec(user_character, user_sheet, xs_model):
    from conrt.runtime.app.frame_loop import RuntimeSpec

    return RuntimeSpec(character=user_character, sheet=user_sheet, weights=xs_model, backend="torch", size=SIZE,
                       context="egl", motion="walk")


# ---------------------------------------------------------------------------
# one builder


def _calls(folder: str, names: set[str]) -> dict[str, list[str]]:
    """Where calls to ``names`` (as ``f(...)`` or ``frame_loop.f(...)``) appear in the .py files under ``folder``."""
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else (
                    f.attr if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    and f.value.id == "frame_loop" else None)
                if name in names:
                    out.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return out


def test_the_pipeline_is_assembled_in_one_place():
    """The stages are put together only by build_runtime (runtime/app/frame_loop.py):
    no command, no bridge source, no bench builds its own."""
    for folder in ("runtime", "conrt", "engine_bridge"):
        calls = _calls(folder, {"PhysicsStage", "ShadeStage", "Runtime"})
        assert all(set(where) <= {"runtime/app/frame_loop.py"} for where in calls.values()), calls
    # RasterStage: the builder, and the sheet-drawing commands' rasterizer (no pipeline)
    assert set(_calls("runtime", {"RasterStage"}).get("RasterStage", [])) <= {"runtime/app/frame_loop.py"}
    assert not _calls("conrt", {"RasterStage"})


def test_nothing_reaches_into_the_runtime_stages():
    """Callers drive a Runtime through its surface (set_camera, seek, set_time_scale ...)."""
    bad = re.compile(r"\b(rt\.raster\.(yaw|pitch)|rt\.physics\.(world|seek)|ph\.world)\b|"
                     r"physics\.world\.time_scale|_check_clip")
    for folder in ("runtime", "conrt", "engine_bridge", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            hits = [m.group(0) for m in bad.finditer(path.read_text())]
            assert not hits, (path, hits)


def test_open_runtime_without_size_is_the_project_default(user_character, user_sheet, xs_model):
    from conrt import limits
    from conrt.runtime import defaults
    from conrt.runtime.app.frame_loop import open_runtime

    assert defaults.DEFAULT_SIZE == limits.DEFAULT_SIZE == 256
    with open_runtime(user_character, user_sheet, model=xs_model, backend="torch", context="egl") as rt:
        assert rt.size == 256 and rt.spec.size == 256
        assert rt.info.size == 256 and rt.shader.size == 256


def test_spec_checks_before_loading(spec):
    with pytest.raises(ConfigError, match="valid clips"):
        dataclasses.replace(spec, motion="moonwalk").check()
    with pytest.raises(ConfigError, match="correspondence"):
        dataclasses.replace(spec, correspondence="telepathy").check()
    with pytest.raises(ConfigError, match="frame size"):
        dataclasses.replace(spec, size=3).check()
    with pytest.raises(ConfigError, match="physics must be"):
        dataclasses.replace(spec, physics="sometimes").check()
    with pytest.raises(ConfigError, match=r"fps must be in 1\.\.240"):  # conrt/limits.py, as every --fps
        dataclasses.replace(spec, fps=500).check()
    with pytest.raises(ConfigError, match="unknown render pass 'nope'; valid: .*toon"):
        dataclasses.replace(spec, passes=("nope",)).check()
    assert spec.check() is spec


def test_backend_options_reach_the_backend_through_the_spec(spec):
    from conrt.runtime.app.frame_loop import build_runtime

    with pytest.raises(ConfigError, match="bogus"):
        build_runtime(dataclasses.replace(spec, backend_options={"bogus": 1}))


# ---------------------------------------------------------------------------
# the Runtime's surface


def test_step_shades_the_given_pose_and_the_surface_drives_the_stages(spec, user_character):
    from conrt.characters.posing import rest_pose
    from conrt.runtime.app.frame_loop import RasterStage, build_runtime
    from conrt.runtime.app.session import load_character_source

    character = load_character_source(user_character)
    rest = rest_pose(character)
    with build_runtime(spec) as rt:
        assert rt.clip == "walk" and rt.time == 0.0
        frame = rt.step(rest)  # a given pose: physics not stepped
        assert rt.time == 0.0 and frame.index == 0
        assert frame.rgba.shape == (SIZE, SIZE, 4) and frame.rgba[..., 3].max() > 0
        # the frame's UDP is the given pose rasterized by the same camera rig
        raster = RasterStage(character, SIZE, context="egl")
        try:
            raster.radius = rt.raster.radius
            raster.render(rest, raster.camera(rest))
            np.testing.assert_allclose(frame.udp, raster.read(), atol=1e-6)
        finally:
            raster.close()
        # camera
        rt.set_camera(yaw=90.0, pitch=10.0)
        assert rt.camera_angles == (90.0, 10.0)
        side = rt.step(rest)
        assert not np.allclose(side.camera.view, frame.camera.view)
        assert not np.array_equal(side.udp, frame.udp)
        with pytest.raises(Exception, match="finite"):
            rt.set_camera(yaw=float("nan"))
        # physics: advance, time scale, seek, clips
        rt.advance()
        assert rt.time == pytest.approx(1 / 30)
        rt.set_time_scale(4.0)
        rt.advance()
        assert rt.time == pytest.approx(5 / 30)
        rt.seek(1.0)
        assert rt.time == pytest.approx(1.0)
        rt.set_clip("wave")
        assert rt.clip == "wave"
        with pytest.raises(ConfigError, match="valid clips"):
            rt.check_clip("moonwalk")
        stepped = rt.step()  # no pose: the physics' next one
        assert stepped.clip == "wave"


def test_advance_is_synchronous_on_a_lookahead_runtime(spec):
    """A runtime whose physics steps a frame ahead (render, bench) still applies a
    time scale set between two advance() calls to the very next step."""
    from conrt.runtime.app.frame_loop import build_runtime

    with build_runtime(dataclasses.replace(spec, lookahead=True)) as rt:
        rt.advance()
        assert rt.time == pytest.approx(1 / 30)
        rt.set_time_scale(4.0)
        rt.advance()
        assert rt.time == pytest.approx(5 / 30)  # a step started ahead at scale 1 would give 2/30


def test_step_is_refused_on_a_realtime_runtime(spec):
    from conrt.runtime.app.frame_loop import build_runtime

    with build_runtime(dataclasses.replace(spec, realtime=True)) as rt:
        with pytest.raises(ConfigError, match="realtime"):
            rt.step()


def test_a_runtime_without_physics_shades_given_poses(spec, user_character):
    """physics="off" (the bridge without physics): poses come from step(pose)."""
    from conrt.characters.posing import rest_pose
    from conrt.runtime.app.frame_loop import build_runtime

    with build_runtime(dataclasses.replace(spec, physics="off")) as rt:
        assert rt.physics is None and rt.clip == "" and rt.time == 0.0
        frame = rt.step(rest_pose(rt.character))
        assert frame.rgba[..., 3].max() > 0
        with pytest.raises(ConfigError, match="no physics"):
            rt.advance()


def test_the_bridge_source_drives_a_built_runtime(user_character, user_sheet, xs_weights):
    from conrt.runtime.app.bridge_source import RuntimeFrameSource
    from conrt.runtime.app.frame_loop import Runtime

    src = RuntimeFrameSource(SIZE, np.uint8, character=user_character, sheet=user_sheet, weights=xs_weights,
                             backend="torch", context="egl")
    try:
        assert isinstance(src.rt, Runtime) and src.rt.spec.physics == "optional" and src.rt.spec.fps == 60.0
        assert src.physics is src.rt.physics
    finally:
        src.close()


# ---------------------------------------------------------------------------
# render passes


class _JointsPass:
    """A toy render pass: each joint's screen position as a white dot, [H, W, 1] u8."""

    def __init__(self, size: int, character):
        self.size, self.character, self.image = size, character, None
        self.released = False

    def render(self, pose, camera) -> None:
        from conrt.shaders import project

        px = project(camera, pose.joint_world[:, :3, 3].astype(np.float64))
        self.image = np.zeros((self.size, self.size, 1), np.uint8)
        for x, y in px:
            if 0 <= x < self.size and 0 <= y < self.size:
                self.image[int(y), int(x)] = 255

    def read(self) -> np.ndarray:
        return self.image

    def release(self) -> None:
        self.released = True


def test_a_registered_pass_runs_every_frame_and_its_buffer_is_named(spec):
    from conrt.runtime.app.frame_loop import build_runtime
    from conrt.runtime.app.passes import RenderPass, pass_names, register_pass
    from conrt.shaders import project

    made = []

    def factory(ctx, size, character):
        made.append(_JointsPass(size, character))
        return made[-1]

    register_pass("toy-joints", factory)  # the one registration line
    assert "toy-joints" in pass_names() and isinstance(_JointsPass(1, None), RenderPass)
    with build_runtime(dataclasses.replace(spec, passes=("toon", "toy-joints"))) as rt:
        frame = rt.step()
        assert list(frame.buffers) == ["udp", "toon", "toy-joints"]
        assert frame.toon is frame.buffers["toon"] and frame.toon.dtype == np.uint8
        dots = frame.buffers["toy-joints"]
        hips = rt.character.humanoid["hips"]
        x, y = project(frame.camera, rt.last_produced.pose.joint_world[hips, :3, 3][None].astype(np.float64))[0]
        assert dots[int(y), int(x), 0] == 255
        assert frame.udp[int(y), int(x), 3] > 0  # the hips' dot lies on the body
    assert made and made[0].released  # the runtime released its pass


def test_pass_names_are_checked():
    from conrt.runtime.app.passes import check_passes, register_pass

    with pytest.raises(ConfigError, match="twice"):
        check_passes(("toon", "toon"))
    with pytest.raises(ConfigError, match="other than 'udp'"):
        register_pass("udp", lambda ctx, size, character: None)


# ---------------------------------------------------------------------------
# one resolver each: weights, characters, motions, sheets


def test_one_model_resolver_with_one_untrained_fallback(monkeypatch, caplog):
    from conrt.runtime import defaults
    from conrt.runtime.nn import checkpoint
    from conrt.runtime.app.session import load_model_source

    monkeypatch.setattr(defaults, "find_default_weights", lambda: None)
    with caplog.at_level(logging.WARNING):
        a = checkpoint.resolve_model()
        b, desc = load_model_source(None)
    assert a.cfg.name == b.cfg.name == defaults.FALLBACK_CONFIG
    assert desc == a.conrt_description and "UNTRAINED" in desc
    assert "untrained weights" in caplog.text
    for pa, pb in zip(a.parameters(), b.parameters()):  # seeded: the same untrained model every time
        assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())


def test_a_character_format_is_a_loader_and_one_registration(tmp_path):
    from conrt.characters.procedural import generate
    from conrt.characters.sources import CHARACTER_LOADERS, register_character_loader, resolve_character

    toy = tmp_path / "hero.toychar"
    toy.write_text("7")  # a toy format: the file holds a procedural seed
    with pytest.raises(AssetError, match="unsupported character format '.toychar'; valid: .glb"):
        resolve_character(toy)
    register_character_loader(".toychar", lambda path, facing="auto", name_map=None: generate(int(path.read_text())))
    try:
        character, path = resolve_character(toy)
        assert path == toy and character.skeleton.num_joints == generate(7).skeleton.num_joints
    finally:
        CHARACTER_LOADERS.pop(".toychar")


def test_a_motion_format_is_a_loader_and_one_registration(tmp_path, user_character):
    from conrt.physics.clips import get_clip
    from conrt.physics.motion import MOTION_LOADERS, parse_motion, register_motion_format, resolve_motion
    from conrt.runtime.app.session import load_character_source

    character = load_character_source(user_character)
    toy = tmp_path / "steps.toymotion"
    toy.write_text("wave")  # a toy format: the file names a built-in clip
    with pytest.raises(ConfigError, match="unknown clip"):
        parse_motion(str(toy))
    register_motion_format(".toymotion", lambda path, ch, name_map=None: get_clip(path.read_text(), ch))
    try:
        assert parse_motion(str(toy)).kind == "toymotion"
        assert resolve_motion(str(toy), character).name == "wave"
    finally:
        MOTION_LOADERS.pop(".toymotion")


def test_a_sheet_is_loaded_once_and_answers_for_itself(user_sheet, user_character, xs_model, tmp_path):
    from conrt.runtime.app.session import (Sheet, choose_correspondences, fit_sheet, load_sheet, load_sheet_source,
                                       load_sheet_udps)

    sheet = load_sheet(user_sheet)
    assert isinstance(sheet, Sheet) and sheet.views == 4 and len(sheet.files) == 4
    assert load_sheet(sheet) is sheet  # a loaded sheet passes through
    images, desc = load_sheet_source(user_sheet)
    assert desc == sheet.description and all(np.array_equal(a, b) for a, b in zip(images, sheet.images))
    assert sheet.udps is None and load_sheet_udps(user_sheet) is None  # drawings without *_udp.npz
    assert sheet.udps_for(xs_model) is None
    from conrt.runtime.app.session import load_character_source

    character = load_character_source(user_character)
    assert sheet.correspondences(character) == choose_correspondences(user_sheet, images, character) is None
    assert all(np.array_equal(a, b) for a, b in zip(sheet.fitted(SIZE), fit_sheet(images, SIZE)))
    # an opaque view is refused, unless a uniform background is keyed out
    from PIL import Image

    opaque = np.zeros((64, 64, 4), np.uint8)
    opaque[..., :3], opaque[..., 3] = (240, 240, 240), 255
    opaque[20:40, 24:40, :3] = (200, 30, 30)
    Image.fromarray(opaque, "RGBA").save(tmp_path / "view_00.png")
    with pytest.raises(Exception, match="transparent background"):
        load_sheet(tmp_path)
    keyed = load_sheet(tmp_path, matting="uniform")
    assert keyed.images[0][..., 3].mean() < 255 and keyed.images[0][30, 30, 3] == 255


@pytest.mark.parametrize("command", ["demo", "bench"])
def test_demo_and_bench_take_backend_options(command, tmp_path, xs_weights, user_character, user_sheet, caplog,
                                             monkeypatch):
    """--backend-opt reaches the backend from demo and bench too (a wrong key names the valid ones)."""
    from conrt.cli import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    common = ["--weights", str(xs_weights), "--backend", "torch", "--backend-opt", "bogus=1",
              "--character", str(user_character), "--sheet", str(user_sheet)]
    argv = {"demo": ["demo", "--headless", "--size", str(SIZE), "--frames", "1", "-o", str(tmp_path / "d")],
            "bench": ["bench", "--sizes", str(SIZE), "--frames", "1", "--warmup", "0"]}[command]
    assert main(argv + common) == 1
    assert "torch' has no option 'bogus'; valid: threads" in caplog.text and "Traceback" not in caplog.text


def test_the_bridge_shades_like_the_runtime_it_is_built_as(user_character, user_sheet, xs_weights):
    """The bridge's frame for a pose is the frame open_runtime gives for that pose
    and camera: the same builder (framing for the motion, sheet, backend)."""
    from conrt.characters.posing import rest_pose
    from conrt.engine_bridge.protocol import PoseKind, PoseRequest
    from conrt.runtime.app.bridge_source import RuntimeFrameSource
    from conrt.runtime.app.frame_loop import open_runtime

    args = dict(character=user_character, sheet=user_sheet, weights=xs_weights, backend="torch", context="egl")
    src = RuntimeFrameSource(SIZE, np.float32, motion="wave", **args)
    try:
        pose = rest_pose(src.character)
        bridged = src(PoseRequest(request_id=1, kind=PoseKind.JOINTS, joints=pose.joint_world))
    finally:
        src.close()
    with open_runtime(user_character, user_sheet, xs_weights, backend="torch", size=SIZE, clip="wave",
                      context="egl") as rt:
        direct = rt.step(pose).rgba
    assert bridged[..., 3].max() > 0
    np.testing.assert_allclose(bridged, np.clip(direct, 0, 1), atol=1e-5)
