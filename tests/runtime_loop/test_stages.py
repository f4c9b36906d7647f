"""Each stage alone, with real inputs (STYLE item 11), and the session loaders."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from conrt.errors import ConfigError, InputError

from .conftest import SIZE


@pytest.fixture(scope="module")
def character(user_character):
    from conrt.runtime.app.session import load_character_source

    return load_character_source(user_character)


def test_physics_stage_steps_the_clip(character):
    from conrt.runtime.app.frame_loop import PhysicsStage

    stage = PhysicsStage(character, "walk", fps=30)
    try:
        poses = [stage.step() for _ in range(3)]
        assert stage.time == pytest.approx(3 / 30)
        for p in poses:
            p.validate(character.skeleton.num_joints)
        # walking moves the legs: consecutive poses differ
        assert np.abs(poses[2].joint_world - poses[0].joint_world).max() > 1e-3
        with pytest.raises(ConfigError, match="valid clips: .*walk"):
            stage.set_clip("moonwalk")
    finally:
        stage.close()


def _pose_arrays(pose):
    return [a for a in (pose.joint_world, pose.sim_indices, pose.sim_positions, pose.morph_weights) if a is not None]


def test_physics_lookahead_gives_the_same_poses_and_times():
    """lookahead=True steps the next pose on a thread of its own while the
    caller works on this one: the same poses (skirt and hair simulated
    included), at the same clip times; a seek drops the pose stepped ahead
    (exact); a clip switch shows from the pose after the one already stepped."""
    from conrt.runtime.app.frame_loop import PhysicsStage
    from conrt.runtime.app.session import load_character_source

    character = load_character_source(None)  # the sample: a skirt and hair strands
    plain, ahead = PhysicsStage(character, "walk", fps=30), PhysicsStage(character, "walk", fps=30, lookahead=True)
    try:
        assert ahead.world.actors[0].cloths and ahead.world.actors[0].hairs  # something simulated to compare

        def same_steps(n, lag_plain=None):
            for i in range(n):
                if lag_plain is not None and i == 1:
                    lag_plain()
                a, b = plain.step(), ahead.step()
                assert ahead.time == plain.time
                for x, y in zip(_pose_arrays(a), _pose_arrays(b), strict=True):
                    np.testing.assert_array_equal(x, y)

        same_steps(5)
        np.testing.assert_array_equal(plain.seek("walk", 0.5).joint_world, ahead.seek("walk", 0.5).joint_world)
        assert ahead.time == plain.time == pytest.approx(0.5)
        same_steps(3)
        ahead.set_clip("idle")  # the pose stepped ahead is still walk: plain switches one step later
        same_steps(4, lag_plain=lambda: plain.set_clip("idle"))
    finally:
        plain.close()
        ahead.close()


def test_a_failed_lookahead_step_raises_for_its_frame(character, monkeypatch):
    from conrt.errors import PhysicsError
    from conrt.runtime.app.frame_loop import PhysicsStage

    stage = PhysicsStage(character, "walk", fps=30, lookahead=True)
    try:
        stage.step()  # the next step is already running
        stage.settle()
        calls = []

        def broken():
            calls.append(1)
            raise PhysicsError("boom")

        monkeypatch.setattr(stage.world, "step", broken)
        stage.step()  # returns the pose stepped before the break; its successor fails
        with pytest.raises(PhysicsError, match="boom"):
            stage.step()
        assert len(calls) == 1
    finally:
        monkeypatch.undo()
        stage.close()


def test_raster_stage_follows_the_character(character):
    """The orbit camera follows the hips: a walking character stays centred."""
    from conrt.runtime.app.frame_loop import PhysicsStage, RasterStage

    physics = PhysicsStage(character, "walk", fps=30)
    raster = RasterStage(character, SIZE, context="egl")
    try:
        centres = []
        for _ in range(45):  # 1.5 s of walking: the root moves forward
            pose = physics.step()
        for _ in range(2):
            pose = physics.step()
            raster.render(pose, raster.camera(pose))
            udp = raster.read()
            assert udp.shape == (SIZE, SIZE, 4) and udp.dtype == np.float32
            cov = udp[..., 3] > 0
            assert 0.05 < cov.mean() < 0.6
            ys, xs = np.nonzero(cov)
            centres.append((xs.mean(), ys.mean()))
        assert abs(centres[-1][0] - SIZE / 2) < SIZE * 0.15
        hips = pose.joint_world[character.humanoid["hips"], :3, 3]
        assert abs(hips[2]) > 0.2  # it really walked away from the origin
    finally:
        raster.close()
        physics.close()


def test_shade_stage_premultiplied_inside_silhouette(character, xs_model, user_sheet):
    from conrt.runtime.app.frame_loop import PhysicsStage, RasterStage, ShadeStage
    from conrt.runtime.app.session import load_sheet_source

    images, _ = load_sheet_source(user_sheet)
    shader = ShadeStage(xs_model, images, SIZE, backend="torch")
    assert all(v.shape == (SIZE, SIZE, 4) for v in shader.sheet_images)  # fitted to the frame size once
    physics = PhysicsStage(character, "idle")
    raster = RasterStage(character, SIZE, context="egl")
    try:
        pose = physics.step()
        raster.render(pose, raster.camera(pose))
        udp = raster.read()
        rgba = shader.shade(udp)
        assert rgba.shape == (SIZE, SIZE, 4) and np.isfinite(rgba).all()
        assert (rgba[..., :3] <= rgba[..., 3:] + 1e-5).all()  # premultiplied
        assert (rgba[udp[..., 3] == 0] == 0).all()  # nothing outside the silhouette
        assert rgba[..., 3][udp[..., 3] > 0].mean() > 0.05
        with pytest.raises(InputError, match="shader runs at"):
            shader.shade(np.zeros((32, 32, 4), np.float32))
    finally:
        raster.close()
        physics.close()


def test_bad_sizes_are_named(xs_model):
    from conrt.runtime.limits import check_size

    with pytest.raises(ConfigError, match="multiple of 64"):
        check_size(100, xs_model.cfg.size_multiple)
    with pytest.raises(ConfigError, match="16..4096"):
        check_size(0)


# ---------------------------------------------------------------------------
# session loaders


def test_sheet_errors(tmp_path):
    from PIL import Image

    from conrt.runtime.app.session import load_sheet_source

    with pytest.raises(InputError, match="does not exist"):
        load_sheet_source(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no images"):
        load_sheet_source(empty)
    opaque = tmp_path / "opaque"
    opaque.mkdir()
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8), "RGB").save(opaque / "a.png")
    with pytest.raises(InputError, match="no alpha|transparent"):
        load_sheet_source(opaque)


def test_fit_sheet_centres_and_scales():
    from conrt.runtime.app.session import fit_sheet

    img = np.zeros((100, 80, 4), np.uint8)
    img[10:50, 5:25] = (200, 100, 50, 255)  # off-centre blob
    out = fit_sheet([img], 64)[0]
    assert out.shape == (64, 64, 4)
    ys, xs = np.nonzero(out[..., 3] > 127)
    assert abs(ys.mean() - 31.5) < 3 and abs(xs.mean() - 31.5) < 3
    from conrt.runtime.app.session import SHEET_MARGIN

    # the longer side fills the frame minus the border
    assert abs((ys.max() - ys.min() + 1) - 64 * (1 - 2 * SHEET_MARGIN)) <= 2
    inside = out[out[..., 3] == 255]
    assert np.abs(inside[:, :3].astype(int) - (200, 100, 50)).max() <= 2  # no dark fringe from the background


def test_fallbacks_when_defaults_are_missing(monkeypatch, tmp_path, caplog, user_character):
    """No embedded weights -> untrained conr-xs with a loud warning; no sample
    sheet -> a 4-view toon sheet drawn on the fly, said in the log."""
    from conrt.runtime import defaults
    from conrt.runtime.app import session
    from conrt.runtime.app.frame_loop import open_runtime

    monkeypatch.setattr(defaults, "find_default_weights", lambda: None)
    monkeypatch.setattr(session, "SAMPLE_SHEET_DIR", tmp_path / "missing")
    caplog.set_level(logging.INFO)
    with open_runtime(user_character, None, None, backend="torch", size=SIZE, context="egl") as rt:
        assert rt.info.untrained
        assert "toon-rendered 4-view" in rt.info.sheet
        assert rt.shader.cache.views == 4
        frame = next(rt.frames(1))
        assert frame.rgba[..., 3].max() > 0
    text = caplog.text
    assert "untrained weights" in text
    assert "drawing a 4-view sheet" in text


def test_character_sources(tmp_path):
    from conrt.errors import AssetError
    from conrt.runtime.app.session import load_character_source

    c = load_character_source("procedural:2")
    assert c.skeleton.num_joints > 10
    with pytest.raises(ConfigError, match="procedural:SEED"):
        load_character_source("procedural:x")
    with pytest.raises(AssetError, match="no character file"):
        load_character_source(tmp_path / "missing.glb")
    (tmp_path / "c.obj").write_text("v 0 0 0\n")
    with pytest.raises(AssetError, match="unsupported character format"):
        load_character_source(tmp_path / "c.obj")


def test_poke_pushes_the_simulated_body(character):
    """PhysicsStage.poke (what a click in the demo does) moves the body off the clip."""
    from conrt.errors import PhysicsError
    from conrt.runtime.app.frame_loop import PhysicsStage

    finals = []
    for poke in (False, True):
        stage = PhysicsStage(character, "idle", mode="physical")
        try:
            for _ in range(8):
                pose = stage.step()
            if poke:
                hand = pose.joint_world[character.humanoid["leftLowerArm"], :3, 3]
                assert stage.poke(hand, (0.0, 0.0, -3.0)) in character.skeleton.names
            for _ in range(5):
                pose = stage.step()
            finals.append(pose.joint_world[:, :3, 3].copy())
        finally:
            stage.close()
    moved = np.linalg.norm(finals[1] - finals[0], axis=1)
    assert moved.max() > 0.03  # centimetres, not numerical noise
    kinematic = PhysicsStage(character, "idle")
    try:
        with pytest.raises(PhysicsError, match="physical"):
            kinematic.poke((0, 1, 0), (0, 0, -1))
    finally:
        kinematic.close()


def test_poke_at_pixel_picks_the_body_under_the_cursor(character, xs_model, user_sheet):
    from conrt.runtime.app.frame_loop import PhysicsStage, RasterStage, Runtime, ShadeStage
    from conrt.runtime.app.session import load_sheet_source
    from conrt.shaders import project

    images, _ = load_sheet_source(user_sheet)
    rt = Runtime(PhysicsStage(character, "idle", mode="physical"), RasterStage(character, SIZE, context="egl"),
                 ShadeStage(xs_model, images, SIZE, backend="torch"), realtime=True)
    with rt:
        rt.produce()
        job = rt.last_produced
        head = job.pose.joint_world[character.humanoid["head"], :3, 3]
        x, y = project(job.camera, head[None])[0]
        assert rt.poke_at_pixel(x, y) is not None
        assert rt.poke_at_pixel(0, 0) is None  # background: nothing to poke


def test_demo_window_scale_fits_the_screen():
    from conrt.commands.demo import window_scale

    assert window_scale(256, (1920, 1080)) == 3  # 768 px shaded panel, 1152 px wide window
    assert window_scale(256, (1280, 720)) == 2
    assert window_scale(128, (1280, 720)) == 4  # the height limits it: 4 * 128 <= 0.85 * 720
    assert window_scale(256, (1000, 1080)) == 2  # a narrow screen: 2 * 256 * 1.5 <= 0.95 * 1000
    assert window_scale(512, (800, 600)) == 1  # never below one window pixel per frame pixel
    assert window_scale(256, None) == 2


def test_demo_controls_orbit_clip_keys_and_click_poke(character, xs_model, user_sheet):
    """What the window's mouse and keys do, driven on a real realtime runtime."""
    from conrt.commands.demo import DemoControls
    from conrt.physics.clips import list_clips
    from conrt.runtime.app.frame_loop import PhysicsStage, RasterStage, Runtime, ShadeStage
    from conrt.runtime.app.session import load_sheet_source
    from conrt.shaders import project

    images, _ = load_sheet_source(user_sheet)
    rt = Runtime(PhysicsStage(character, "idle", mode="physical"), RasterStage(character, SIZE, context="egl"),
                 ShadeStage(xs_model, images, SIZE, backend="torch"), realtime=True)
    scale = 4
    panel = SIZE * scale
    clips = list_clips()
    with rt:
        c = DemoControls(rt, clips, panel, scale)
        c.number(clips.index("wave") + 1)
        assert rt.physics.clip == "wave"
        c.number(99)  # no such clip key: ignored
        assert rt.physics.clip == "wave"
        # drag: orbit
        c.press(100, 100)
        c.move(150, 120)
        c.release(150, 120)
        assert rt.raster.yaw == pytest.approx(-20.0) and rt.raster.pitch == pytest.approx(6.0)
        assert c.last_poke is None  # a drag is not a click
        # click on the chest in the UDP panel (half size, right of the shaded one): pokes
        rt.produce()
        job = rt.last_produced
        chest = job.pose.joint_world[character.humanoid["chest"], :3, 3]
        x, y = project(job.camera, chest[None])[0]
        assert c.frame_pixel(x * scale, y * scale) == pytest.approx((x, y))  # the shaded panel
        assert c.frame_pixel(panel + x * scale / 2, y * scale / 2) == pytest.approx((x, y))  # UDP
        assert c.frame_pixel(panel + x * scale / 2, panel / 2 + y * scale / 2) == pytest.approx((x, y))  # toon
        assert c.window_size == (panel + panel // 2, panel)
        c.press(panel + x * scale / 2, y * scale / 2)
        c.release(panel + x * scale / 2, y * scale / 2)
        assert c.last_poke in character.skeleton.names
        c.toggle_reference()  # V: the reference column is gone, its clicks hit nothing
        assert c.window_size == (panel, panel) and c.frame_pixel(panel + 1, 1) is None
        c.toggle_reference()
        c.press(1, 1)  # background
        c.release(1, 1)
        assert c.last_poke is None
        c.reset()
        assert (rt.raster.yaw, rt.raster.pitch) == (0.0, 0.0) and rt.physics.time == 0.0
