"""The fit's part term (runtime/app/sheet_fit.py: PartLabels, part_label_iou):
which colour region of the rig lies where, on real toon renders of the unseen
procedural character."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.errors import ConfigError, InputError


def test_part_labels_tell_the_face_from_the_back_of_the_head(gl_ctx, character):
    """Front and back render of the rest pose: nearly the same silhouette, but
    the face, the shirt's front and the skin of the neck are other clusters
    than the hair and the back; the labels of a render agree with themselves."""
    from conrt.runtime.app.sheet_fit import FitParams, SheetFitter, iou, part_label_iou

    with SheetFitter(gl_ctx, character, 128, 128, part_weight=1.0) as fitter:
        parts = fitter.part_labels()
        front = fitter.render_toon(FitParams(0.0))
        back = fitter.render_toon(FitParams(180.0))
        lf, lb = parts(*front), parts(*back)
    silhouettes = iou(front[0], back[0])
    assert silhouettes > 0.9
    assert part_label_iou(lf, lf) == 1.0
    assert part_label_iou(lb, lf) < silhouettes - 0.05, (part_label_iou(lb, lf), silhouettes)
    assert (lf == -1).sum() == (~front[0]).sum()  # background, and only background, is -1


@pytest.mark.parametrize("yaw", [180.0, 0.0])
def test_the_part_term_sees_an_arm_in_front_of_or_behind_the_body(gl_ctx, character, yaw):
    """Back and front views of the rig with the right arm swung out of the
    picture plane (50 degrees about the vertical): swung the other way it has
    the same silhouette, so a silhouette-only cost (1 - IoU) cannot tell them
    apart; the part term scores the drawn one clearly lower."""
    from conrt.runtime.app.sheet_fit import FitParams, SheetFitter

    with SheetFitter(gl_ctx, character, 128, 128, colour_weight=0.0, part_weight=1.0) as fitter:
        drawn_p = FitParams(yaw, arms_lowered=(45.0, 45.0), turns={"rightUpperArm:out": 50.0})
        other = FitParams(yaw, arms_lowered=(45.0, 45.0), turns={"rightUpperArm:out": -50.0})
        drawn = fitter.render_toon(drawn_p)
        part = [fitter._cost(q, *drawn)[0] for q in (drawn_p, other)]
        fitter.part_weight = 0.0
        silhouette = [fitter._cost(q, *drawn)[0] for q in (drawn_p, other)]
    assert part[0] == pytest.approx(0.0, abs=1e-9)
    assert part[1] - part[0] > 0.01, part
    assert silhouette[1] - silhouette[0] < 0.3 * (part[1] - part[0]), (silhouette, part)


def test_part_options_are_checked(gl_ctx, character):
    from conrt.runtime.app.sheet_fit import PartLabels, SheetFitter

    with pytest.raises(ConfigError, match="palette 'colour': choose one of auto, keep, match"):
        SheetFitter(gl_ctx, character, 128, 128, palette="colour")
    with pytest.raises(ConfigError, match="part weight"):
        SheetFitter(gl_ctx, character, 128, 128, part_weight=-1.0)
    with pytest.raises(ConfigError, match="joint fine levels: choose 1, 2 or 3"):
        SheetFitter(gl_ctx, character, 128, 128, joint_fine_levels=0)
    with pytest.raises(InputError, match="coloured pixels"):
        PartLabels(np.zeros((3, 3), np.float32))


def test_the_joint_fit_scores_with_the_part_term_and_its_worker_alike(gl_ctx, character):
    """The joint fit's cost takes ``joint_part_weight`` (the separate fit's
    ``part_weight`` is back afterwards), and a worker process's fitter is built
    from ``cost_settings`` with the same cost."""
    from conrt.runtime.app.sheet_fit import JOINT_PART_WEIGHT, PART_WEIGHT, SheetFitter

    assert JOINT_PART_WEIGHT > 0 and PART_WEIGHT == 0  # measured: docs/fit_sheet.md
    with SheetFitter(gl_ctx, character, 128, 64, part_weight=0.25, joint_part_weight=0.75, palette="match") as a:
        settings = a.cost_settings()
        with SheetFitter(gl_ctx, character, 128, 64, **settings) as b:
            assert b.cost_settings() == settings
        seen = []
        a._fit_joint = lambda *args: seen.append(a.part_weight) or []
        a.fit_joint([np.zeros((128, 128, 4), np.uint8)], ["v"], [0.0])
        assert seen == [0.75] and a.part_weight == 0.25


def test_cli_refuses_a_negative_part_weight(character_file, drawings, tmp_path, caplog):
    from conrt.cli import main

    folder, _ = drawings
    assert main(["fit-sheet", str(character_file), str(folder), "-o", str(tmp_path / "out"),
                 "--part-weight", "-1"]) == 1
    assert "--part-weight must be a finite number >= 0, got -1.0" in caplog.text
    assert not (tmp_path / "out").exists()
