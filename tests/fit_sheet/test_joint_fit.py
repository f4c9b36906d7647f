"""``conrt fit-sheet --joint``: one pose shared by a turnaround's views.

The pose of a joint fit is about the body's own axes; the views of a
turnaround (real toon renders of the rig in one pose, drawn the way artists
deviate) constrain it together, where one view alone does not (a front
view turned one way with the arms turned to match)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conrt.cli import main

from .conftest import bad_drawing


def test_joint_fit_recovers_a_shared_pose_better_than_separate_fits(turnaround, both_fits):
    """The same two drawings, fitted separately (``fit``) and jointly
    (``fit_joint``): the joint fit's written UDPs are closer to the true ones
    (benchmark: docs/fit_sheet.md, turnaround mode)."""
    from conrt.training.fit_drawings import udp_error

    views, _ = turnaround
    joint, separate = both_fits
    err = {name: [udp_error(f.udp, true, d)["udp_error"] for f, (d, true) in zip(fits, views)]
           for name, fits in (("joint", joint), ("separate", separate))}
    assert np.mean(err["joint"]) < np.mean(err["separate"]), err
    # one pose for all views, about the body's own axes
    assert joint[0].params.turns == joint[1].params.turns and joint[0].params.pose_yaw == 0.0
    assert joint[0].pose.joint_world.tobytes() == joint[1].pose.joint_world.tobytes()
    assert all(f.iou_pose > 0.85 and f.iou_warped > 0.93 for f in joint), [(f.iou_pose, f.iou_warped) for f in joint]


def test_the_part_term_lowers_the_joint_fits_udp_error(gl_ctx, character, turnaround, both_fits):
    """The same front and side view fitted jointly without the part term
    (``joint_part_weight=0``, the joint fit before it) and with it (the
    default): with the views' colour regions in the cost the written UDPs are
    closer to the true ones (here the side view 0.026 -> 0.020, the mean
    0.0204 -> 0.0183; benchmark: docs/fit_sheet.md, 0.0175 -> 0.0145)."""
    from conrt.runtime.app.sheet_fit import SheetFitter
    from conrt.training.fit_drawings import udp_error

    views, labels = turnaround
    joint, _ = both_fits
    with SheetFitter(gl_ctx, character, 256, joint_part_weight=0.0) as fitter:
        plain = fitter.fit_joint([d for d, _ in views], ["front", "side"], labels)
    err = {name: [udp_error(f.udp, true, d)["udp_error"] for f, (d, true) in zip(fits, views)]
           for name, fits in (("part", joint), ("plain", plain))}
    assert np.mean(err["part"]) < 0.95 * np.mean(err["plain"]), err


def test_joint_stages_share_the_sheet_search(both_fits):
    joint, _ = both_fits
    for f in joint:
        # one_pose_check: the fixture's fit also ran auto's check (conrt fit-sheet --joint does not)
        assert list(f.stages) == ["yaws", "camera", "joint_pose", "one_pose_check", "joint_legs", "joint_pose_fine",
                                  "joint_yaw_line", "warp"]
        assert f.seconds == pytest.approx(sum(t for t, _ in f.stages.values()), abs=1e-6)
        assert f.cpu_seconds is None  # the sheet's searches served every view at once: no CPU of its own
    # the joint stages are the sheet's, each view carrying an equal share
    assert len({f.stages["joint_pose"] for f in joint}) == 1


def test_auto_takes_a_turnaround_as_one_pose(both_fits):
    """``conrt fit-sheet``'s default (auto) check on a front and a side view
    drawn in one pose: freed from the shared pose, the views' costs drop by no
    more than ONE_POSE_MEAN_GAIN on average, so auto keeps the joint fit (drawings in
    different poses: test_fit_sheet.py's test_auto_falls_back_on_drawings_in_different_poses)."""
    from conrt.runtime.app.sheet_fit import ONE_POSE_MEAN_GAIN

    check = both_fits[0].one_pose_check
    assert check["one_pose"] and set(check["gains"]) == set(check["costs"]) == {"front", "side"}, check
    assert 0.0 <= check["mean_gain"] <= ONE_POSE_MEAN_GAIN, check
    assert check["mean_gain"] == pytest.approx(np.mean(list(check["gains"].values())), abs=1e-4)
    assert check["max_gain"] == max(check["gains"].values()) and check["fallback"] is None
    assert not check["early"]  # one_pose="record": every sweep, whatever the first says
    # the freed search, cut to ONE_POSE_SWEEPS sweeps: its gain after each (what a shorter check sees) never
    # drops (a sweep keeps only lower costs), ends at the view's gain, and the renders grow sweep by sweep
    from conrt.runtime.app.sheet_fit import ONE_POSE_SWEEPS

    for name, sweeps in check["sweeps"].items():
        assert 1 <= len(sweeps) <= ONE_POSE_SWEEPS, (name, sweeps)
        gains, renders = zip(*sweeps)
        assert list(gains) == sorted(gains) and gains[-1] == check["gains"][name], (name, sweeps)
        assert list(renders) == sorted(renders) and renders[0] > 1, (name, sweeps)
    assert check["renders"] == sum(s[-1][1] for s in check["sweeps"].values())


def test_body_axis_turns_and_the_mirrored_leg_swap(gl_ctx, character):
    """``bone:x`` turns about the body's left axis whatever the view (a leg
    swung forward moves its foot towards +z), and the leg swap of a joint
    pose mirrors it (turns about y and z change sign)."""
    from conrt.runtime.app.sheet_fit import FitParams, SheetFitter

    foot = character.humanoid["leftFoot"]
    with SheetFitter(gl_ctx, character, 128, 64) as fitter:
        rest = fitter.pose(FitParams(90.0, pose_yaw=0.0)).joint_world[foot, :3, 3]
        for yaw in (0.0, 90.0):
            kicked = fitter.pose(FitParams(yaw, turns={"leftUpperLeg:x": -30.0}, pose_yaw=0.0)).joint_world[foot, :3, 3]
            assert kicked[2] - rest[2] > 0.1 * character.height * 0.5, (kicked, rest)
        swapped = fitter._swap_legs({"leftUpperLeg:x": -30.0, "leftUpperLeg:z": 10.0, "spine:z": 5.0})
    assert swapped == {"rightUpperLeg:x": -30.0, "rightUpperLeg:z": -10.0, "spine:z": 5.0}


def test_a_freed_view_goes_on_where_it_stopped(gl_ctx, character, turnaround):
    """Auto's check runs every view's first sweep, then the rest only where the bar is not passed
    yet: ``view_alone(..., resume=True)`` goes on from where the view stopped, the same sweeps,
    costs and renders as one search with the larger ``max_sweeps``."""
    from conrt.runtime.app.sheet_fit import FitParams, SheetFitter, prepare_drawing, rough_steps

    views, labels = turnaround
    with SheetFitter(gl_ctx, character, 128, 64) as fitter:
        fitter.view_setup(0, prepare_drawing(views[1][0], "side", 128), "side", labels[1])
        coarse = fitter.view_coarse(0)
        q = coarse.candidates[0][0]
        nb = len(fitter.joint_bones)
        v = np.array(q.camera_vector() + FitParams(0.0, arms_lowered=q.arms_lowered).pose_vector(fitter.joint_bones))
        lo, hi = coarse.bounds(q)
        lo, hi = np.concatenate([lo[:6], [-90.0] * nb]), np.concatenate([hi[:6], [90.0] * nb])
        args = (0, v, rough_steps(nb) / 2, np.ones(len(v), bool), lo, hi)
        whole = fitter.view_alone(*args, 2)
        x_whole = fitter._views[0]["alone"]["x"]
        first = fitter.view_alone(*args, 1)
        resumed = fitter.view_alone(*args, 2, resume=True)
    assert len(whole[2]) == 2 and whole[1] < whole[0], whole  # two sweeps, and they found something
    assert first[2] == whole[2][:1] and first[0] == whole[0]
    assert resumed == whole
    np.testing.assert_array_equal(fitter._views[0]["alone"]["x"], x_whole)


def test_cli_joint_with_two_processes_writes_the_mode(character_file, drawings, tmp_path, caplog):
    """`--joint --jobs 2` (the views split over this process and a worker):
    fit.json and the terminal say it was a joint fit; every drawn pixel has a UDP."""
    import logging

    from conrt.runtime.nn.sheet import read_sheet_image, read_udp

    folder, made = drawings
    out = tmp_path / "joint"
    with caplog.at_level(logging.INFO):
        assert main(["fit-sheet", str(character_file), str(folder), "-o", str(out), "--joint", "--jobs", "2",
                     "--size", "128", "--work", "64", "--min-iou", "0.5"]) == 0
    assert "joint fit (--joint)" in caplog.text
    report = json.loads((out / "fit.json").read_text())
    assert report["mode"] == "joint"
    assert report["part_weight"] == 0.5  # JOINT_PART_WEIGHT: the part term is on in the joint fit
    for stem in made:
        assert "joint_pose" in report["views"][stem]["stages"]
        udp, framed = read_udp(out / f"{stem}_udp.npz"), read_sheet_image(out / f"{stem}.png")
        np.testing.assert_array_equal(udp[..., 3] > 0, framed[..., 3] > 0)


@pytest.mark.parametrize("kind, message", [("opaque", "no alpha"), ("tiny", "needs at least 64 px")])
def test_bad_drawings_get_the_same_named_errors_with_joint(character_file, drawings, tmp_path, caplog, kind, message):
    _, made = drawings
    folder = tmp_path / "in"
    folder.mkdir()
    drawing = made["front"][0]
    Image.fromarray(np.ascontiguousarray(bad_drawing(drawing, kind)), "RGBA").save(folder / "view.png")
    Image.fromarray(drawing, "RGBA").save(folder / "other.png")
    out = tmp_path / "out"
    assert main(["fit-sheet", str(character_file), str(folder), "-o", str(out), "--joint"]) == 1
    assert message in caplog.text
    assert not out.exists() or not any(out.iterdir())


def test_the_joint_search_is_a_pattern_search_over_the_views_mean_cost(gl_ctx, character, turnaround):
    """``_joint_search`` sweeps each view's camera on its own (a camera moves
    only its view's cost, so the views' sweeps run at once, split between the
    processes) and the shared pose with every view: with no minimum gain it
    ends where :func:`pattern_search` over the views' mean cost ends, in no
    more renders; a minimum gain ends the level after the first sweep that
    gained less, in fewer renders."""
    from conrt.runtime.app.sheet_fit import SheetFitter, _ViewSplit, pattern_search, rough_steps

    views, labels = turnaround
    with SheetFitter(gl_ctx, character, 256, 64, joint_min_gain=0.0) as fitter, \
            _ViewSplit(fitter, 1, "auto") as split:
        for k, ((drawing, _), label) in enumerate(zip(views, labels)):
            fitter.view_setup(k, drawing, f"v{k}", label)
            fitter.view_coarse(k)
        nv, nb = len(views), len(fitter.joint_bones)
        cams = [fitter._views[k]["coarse"].candidates[0][0] for k in range(nv)]
        x = np.array([v for q in cams for v in q.camera_vector()] + [35.0, 35.0] + [0.0] * nb)
        steps = rough_steps(nb, nv)
        free = np.zeros(len(x), bool)
        free[:4 * nv] = True
        free[4 * nv:4 * nv + 6] = True  # the arms and the upper arms' turns: enough pose trials
        lo, hi = x - 40.0, x + 40.0

        def mean_cost(v):
            return tuple(np.mean([fitter.view_cost(k, fitter._view_params(v, nv, k), False) for k in range(nv)], 0))

        before = fitter.evaluations
        x_ref, c_ref = pattern_search(x, mean_cost, steps, free, (lo, hi), levels=2)
        ref_renders, before = fitter.evaluations - before, fitter.evaluations
        x_joint, c_joint = fitter._joint_search(split, x, False, steps, free, lo, hi, levels=2)
        renders = fitter.evaluations - before
        np.testing.assert_allclose(x_joint, x_ref, atol=1e-9)
        assert c_joint[0] == pytest.approx(c_ref[0], abs=1e-9) and renders <= ref_renders, (renders, ref_renders)
        fitter.joint_min_gain, before = 1.0, fitter.evaluations  # no sweep gains that much: one sweep a level
        x_one, c_one = fitter._joint_search(split, x, False, steps, free, lo, hi, levels=2)
        assert fitter.evaluations - before < renders and c_one[0] < mean_cost(x)[0]


def test_the_joint_minimum_gain_is_checked(gl_ctx, character):
    from conrt.errors import ConfigError
    from conrt.runtime.app.sheet_fit import SheetFitter

    with pytest.raises(ConfigError, match="minimum gain must be a finite number >= 0, got -0.1"):
        SheetFitter(gl_ctx, character, 128, 64, joint_min_gain=-0.1)


def test_auto_fallback_fits_each_view_from_the_joint_fits_coarse_stage(gl_ctx, character, turnaround):
    """``fit_joint(one_pose="separate")`` where the check says "not one pose" (here forced: a bar no
    gain stays under) fits each view on its own from the coarse stage the joint fit ran, in the
    process that ran it, scored as the separate fit scores it (the joint fit's part term comes
    after it): the fits are :meth:`fit`'s to the bit, and the renders are the joint fit's up to
    the check plus the separate fits' less their coarse stages (run once, not twice)."""
    from conrt.runtime.app.sheet_fit import SheetFitter, prepare_drawing

    views, labels = turnaround
    # the side view alone (two pose starts, a front view has five), at 128²: cheap; the
    # hand-over is per view, in the process that holds it
    names, labels = ["side"], labels[1:]
    drawings = [prepare_drawing(views[1][0], "side", 128)]
    separate_stages = ("pose", "legs", "pose_fine", "fine_restart", "side_orders", "warp")  # a side view: SIDE_ORDERS
    with SheetFitter(gl_ctx, character, 128, 64) as fitter:
        fitter.one_pose_bar = -1.0  # no view's gain is below it: not one pose
        before = fitter.evaluations
        auto = fitter.fit_joint(drawings, names, labels, one_pose="separate")
        auto_renders, before = fitter.evaluations - before, fitter.evaluations
        alone = [fitter.fit(d, n, lab) for d, n, lab in zip(drawings, names, labels)]
        alone_renders = fitter.evaluations - before
    check = fitter.one_pose_check
    assert check["fallback"] == "check" and not check["one_pose"], check
    # the mean gain is above the bar after the first sweep: the check stops there (more sweeps only add gain)
    assert check["early"] and all(len(s) == 1 for s in check["sweeps"].values()), check
    for a, b in zip(auto, alone):
        assert a.params == b.params, (a.name, a.params, b.params)
        np.testing.assert_array_equal(a.udp, b.udp)
        assert a.iou_pose == b.iou_pose
        # the coarse stage and the separate stages as fit()'s, the joint stages before the check shared
        assert list(a.stages) == ["yaws", "camera", "joint_pose", "one_pose_check", *separate_stages], a.stages
        for key in ("camera", *separate_stages):  # (yaws: the first fit also labels the rig's colours)
            assert a.stages[key][1] == b.stages[key][1], (key, a.stages, b.stages)
    joint_part = sum(a.stages[key][1] for a in auto for key in ("joint_pose", "one_pose_check"))
    coarse_auto, coarse_alone = (sum(f.stages[key][1] for f in fits for key in ("yaws", "camera"))
                                 for fits in (auto, alone))
    assert coarse_alone > 0
    # after the check, the separate fits' renders less their coarse stage (each view's joint share rounded)
    assert abs(auto_renders - (coarse_auto + joint_part + alone_renders - coarse_alone)) <= len(auto), (
        auto_renders, coarse_auto, joint_part, alone_renders, coarse_alone)
