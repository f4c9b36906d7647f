"""Exact sheet correspondences in the runtime: ``conrt sheet`` writes each
view's camera and pose, ``open_runtime`` finds them and shades from the
correspondence pass (exact), from the views' UDPs alone (udp-nn) or from the
table; files that do not fit the views are named errors."""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conrt.errors import ConfigError, InputError
from conrt.runtime.app.frame_loop import open_runtime
from conrt.runtime.app.session import FIT_SHEET_REPORT

SIZE = 128


def _conrt(*args):
    proc = subprocess.run([sys.executable, "-m", "conrt", "-q", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """An unseen procedural character and its 4-view sheet with cameras, poses and UDPs."""
    root = tmp_path_factory.mktemp("exact")
    _conrt("character", "new", "--seed", 900001, "-o", root / "c.glb")
    _conrt("sheet", root / "c.glb", "--views", 4, "--udp", "--size", 256, "-o", root / "sheet")
    return root / "c.glb", root / "sheet"


@pytest.fixture()
def sheet_copy(drawn, tmp_path):
    character, sheet = drawn
    out = tmp_path / "sheet"
    shutil.copytree(sheet, out)
    return character, out


def _l1_against_toon(rt, frames: int) -> float:
    out = []
    for f in rt.frames(frames):
        gt = f.toon.astype(np.float32) / 255.0
        gt = np.concatenate([gt[..., :3] * gt[..., 3:], gt[..., 3:]], -1)  # premultiplied, like the output
        out.append(float(np.abs(f.rgba - gt).mean()))
    return float(np.mean(out))


def test_auto_mode_uses_what_each_sheet_brings(sheet_copy, caplog):
    character, sheet = sheet_copy
    with caplog.at_level(logging.INFO, logger="conrt.runtime.app.session"):
        with open_runtime(character, sheet, backend="torch", size=SIZE) as rt:
            assert rt.raster.correspondence.modes == ["exact"] * 4
            assert "exact correspondences" in rt.info.sheet
    assert "sheet correspondences: view_00.png exact, view_01.png exact" in caplog.text
    for f in sheet.glob("*_view.npz"):
        f.unlink()
    with open_runtime(character, sheet, backend="torch", size=SIZE) as rt:
        assert rt.raster.correspondence.modes == ["udp-nn"] * 4
    (sheet / FIT_SHEET_REPORT).write_text("{}")  # a conrt fit-sheet output: its fitted UDPs through the table
    with open_runtime(character, sheet, backend="torch", size=SIZE) as rt:
        assert rt.raster.correspondence is None and "table correspondences" in rt.info.sheet
    (sheet / FIT_SHEET_REPORT).unlink()
    for f in sheet.glob("*_udp.npz"):
        f.unlink()
    with open_runtime(character, sheet, backend="torch", size=SIZE) as rt:
        assert rt.raster.correspondence is None  # the table from the model's UDP prediction
        # the default's table-mode fusion net shades it (LookupNet.fusion_for), said in the runtime's line
        assert "(table correspondences, the table-mode fusion net)" in rt.info.sheet


def test_exact_shading_is_closer_to_ground_truth_than_the_table(drawn):
    """Same frames (kinematic clip, toon pass = ground truth), same weights;
    only the correspondences differ."""
    character, sheet = drawn
    l1 = {}
    for mode in ("table", "exact"):
        with open_runtime(character, sheet, backend="torch", size=SIZE, clip="walk", toon=True,
                          correspondence=mode) as rt:
            l1[mode] = _l1_against_toon(rt, 4)
    assert l1["exact"] < l1["table"], l1


def test_the_pass_samples_the_drawings_up_to_twice_the_frame_side(drawn, monkeypatch):
    """256² drawings, 128² frames: the pass samples them at 256² (``pass_sheet``), not the
    128² copy the network's encoder takes; the same frames come out closer to the ground truth
    (Godette at 128²: 0.333x -> 0.263x flat, docs/conr_rt.md)."""
    import conrt.runtime.app.frame_loop as frame_loop
    from conrt.runtime.app.frame_loop import pass_sheet

    character, sheet = drawn
    l1 = {}
    for scale in (1, 2):
        monkeypatch.setattr(frame_loop, "PASS_SHEET_SCALE", scale)
        with open_runtime(character, sheet, backend="torch", size=SIZE, clip="walk", toon=True) as rt:
            assert rt.raster.correspondence.side == SIZE * scale
            l1[scale] = _l1_against_toon(rt, 3)
    assert l1[2] < l1[1], l1
    # the side: the drawings' own, at most PASS_SHEET_SCALE x the frame's; frames larger than the
    # drawings get them at their own side too (session 15), not a copy up-sampled to the frame's
    reference = object()
    drawing = np.zeros((256, 256, 4), np.uint8)
    drawing[100:150, 110:140, 3] = 255
    drawings = [drawing, drawing]
    assert pass_sheet(drawings, 256, reference) == (256, reference)
    for size, want in ((64, 128), (512, 256)):
        side, ref = pass_sheet(drawings, size, reference)
        assert side == want and ref.shape == (2, 4, want, want) and ref.dtype == np.float32, (size, side)


def test_gl_lookup_shades_exact_views_like_torch(drawn):
    character, sheet = drawn
    with open_runtime(character, sheet, backend="torch", size=SIZE, correspondence="exact") as rt:
        frame = next(rt.frames(1))
        views = rt.last_produced.views
        expected = rt.shader.shade(frame.udp, views)
    with open_runtime(character, sheet, backend="gl-lookup", size=SIZE, correspondence="exact") as rt:
        got = rt.shader.shade(frame.udp, views)
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_view_files_that_do_not_fit_are_named(sheet_copy):
    from conrt.shaders.view_file import load_view_file, save_view_file

    character, sheet = sheet_copy
    first = sheet / "view_00_view.npz"
    camera, pose = load_view_file(first)

    # a view file without its view
    shutil.copy(first, sheet / "view_07_view.npz")
    with pytest.raises(InputError, match="view files without a view image: view_07_view.npz"):
        open_runtime(character, sheet, backend="torch", size=SIZE)
    (sheet / "view_07_view.npz").unlink()

    # a camera of another size than its view
    small = type(camera)(view=camera.view, proj=camera.proj, width=64, height=64)
    save_view_file(first, small, pose)
    with pytest.raises(InputError, match="camera is 64x64, its view view_00.png is 256x256"):
        open_runtime(character, sheet, backend="torch", size=SIZE)

    # a pose of another character (other joint count)
    other = type(pose)(joint_world=np.repeat(np.eye(4, dtype=np.float32)[None], 3, 0))
    save_view_file(first, camera, other)
    with pytest.raises(InputError, match="3 joints, the character 25"):
        open_runtime(character, sheet, backend="torch", size=SIZE)

    # NaN and singular cameras
    bad = camera.proj.copy()
    bad[0, 0] = np.nan
    save_view_file(first, type(camera)(view=camera.view, proj=bad, width=256, height=256), pose)
    with pytest.raises(InputError, match="proj matrix contains NaN"):
        open_runtime(character, sheet, backend="torch", size=SIZE)
    save_view_file(first, type(camera)(view=np.zeros((4, 4), np.float32), proj=camera.proj, width=256, height=256),
                   pose)
    with pytest.raises(InputError, match="view matrix is singular"):
        open_runtime(character, sheet, backend="torch", size=SIZE)

    # a view with neither a view file nor a UDP, beside views with view files
    first.unlink()
    (sheet / "view_00_udp.npz").unlink()
    with pytest.raises(InputError, match="missing for view_00.png"):
        open_runtime(character, sheet, backend="torch", size=SIZE)


def test_forced_modes_need_their_files_and_a_backend_that_takes_them(sheet_copy):
    character, sheet = sheet_copy
    with pytest.raises(ConfigError, match="unknown correspondence mode 'best'; valid: auto, table, exact, udp-nn"):
        open_runtime(character, sheet, backend="torch", size=SIZE, correspondence="best")
    with pytest.raises(ConfigError, match="backend 'onnxruntime' cannot shade from exact sheet correspondences"):
        open_runtime(character, sheet, backend="onnxruntime", size=SIZE, correspondence="exact")
    for f in sheet.glob("*_udp.npz"):
        f.unlink()
    for f in sheet.glob("*_view.npz"):
        f.unlink()
    with pytest.raises(InputError, match="correspondence 'udp-nn' needs a \\*_udp.npz beside every view"):
        open_runtime(character, sheet, backend="torch", size=SIZE, correspondence="udp-nn")


def test_keep_seen_keeps_the_views_colour_inside_and_refines_edges_and_the_unseen():
    import torch

    from conrt.runtime.nn.lookup_net import darkest_view, ink_edges, target_edges
    from conrt.runtime.app.session import load_model_source

    model, _ = load_model_source(None)  # the shipped conr-rt weights (a trained refinement)
    g = torch.Generator().manual_seed(0)
    colour = torch.rand(1, 1, 3, 32, 32, generator=g)
    sampled = torch.cat([colour, torch.ones(1, 1, 1, 32, 32)], 2).repeat(1, 3, 1, 1, 1)  # 3 views agree
    # a smooth surface (UDP x ramps slowly) whose right quarter is background
    udp = torch.zeros(1, 4, 32, 32)
    udp[:, 0] = torch.linspace(0.4, 0.5, 32)
    udp[:, 1:3] = 0.5
    udp[:, 3] = 1.0
    udp[..., 24:] = 0.0
    edges = target_edges(udp)[0, 0]
    assert edges[:, 23:25].all() and not edges[:, :22].any() and not edges[:, 26:].any()
    seen = torch.ones(1, 3, 1, 32, 32)
    with torch.inference_mode():
        refined = model.fusion(sampled, seen, udp)
        kept = model.fusion(sampled, seen, udp, keep_seen=True)
        inside = ~edges.bool()
        inside[:, 24:] = False
        assert (refined - sampled[:, 0]).abs()[..., inside].max() > 1e-2  # the refinement does change them
        torch.testing.assert_close(kept[..., inside], sampled[:, 0][..., inside], atol=1e-6, rtol=0)
        # the target's edges: the refinement's, or the views' ink where darker (lookup_net.ink_edges; the
        # views agree here, so the darkest view's colour is theirs)
        on_edges = edges.bool()
        inked = ink_edges(refined, darkest_view(sampled, seen), edges[None, None].to(refined.dtype), udp[:, 3:4])
        torch.testing.assert_close(kept[..., on_edges], inked[..., on_edges])
        assert (kept[..., on_edges] == refined[..., on_edges]).all(0).any()  # some edge pixels stay refined
        unseen = torch.zeros_like(seen)
        torch.testing.assert_close(model.fusion(sampled, unseen, udp, keep_seen=True),
                                   model.fusion(sampled, unseen, udp))
