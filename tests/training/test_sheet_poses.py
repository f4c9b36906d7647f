"""conrt eval --sheet-poses: the turnaround sheet is what `conrt sheet --strength 0` draws
(the rest pose at front / 3-4 / side / back yaws), the targets stay the clip frames."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conrt.characters.posing import rest_pose
from conrt.characters.procedural import generate
from conrt.cli import main
from conrt.errors import ConfigError
from conrt.shaders.view_file import load_view_file
from conrt.training.evaluate import characters_from_seeds, clip_sheets, eval_jobs

SEED, SIZE, CLIP = 900000, 64, 3


@pytest.fixture(scope="module")
def turnaround():
    return characters_from_seeds([SEED], CLIP, SIZE, progress=False, sheet_poses="turnaround", sheet_views=4)[0]


def _eye_direction(camera) -> np.ndarray:
    """Unit vector from the scene towards the camera, in world space (the view's +Z axis)."""
    z = camera.view[2, :3].astype(np.float64)  # eye-space +Z (towards the viewer) in world coordinates
    return z / np.linalg.norm(z)


def test_turnaround_is_the_rest_pose_at_the_sheet_yaws(turnaround, tmp_path):
    c = turnaround
    assert c.sheet == (3, 4, 5, 6) and c.rgba.shape[0] == CLIP + 4 and len(c.poses) == len(c.cameras) == CLIP + 4
    rest = rest_pose(generate(SEED)).joint_world
    for k, yaw in enumerate((0.0, 90.0, 180.0, -90.0)):  # front, side left, back, side right (conrt sheet's order)
        v = c.sheet[k]
        np.testing.assert_array_equal(c.poses[v].joint_world, rest)
        # yaw 0 looks at the front (camera on +Z), 90 at the character's left side (camera on +X)
        expected = np.array([np.sin(np.radians(yaw)), 0.0, np.cos(np.radians(yaw))])
        np.testing.assert_allclose(_eye_direction(c.cameras[v]), expected, atol=1e-6)
    for t in range(CLIP):  # the clip frames are posed, not at rest
        assert not np.allclose(c.poses[t].joint_world, rest, atol=1e-3)
    # the very views `conrt sheet` writes: same cameras, same pose, same pixels
    out = tmp_path / "sheet"
    assert main(["sheet", f"procedural:{SEED}", "--views", "4", "--strength", "0", "--size", str(SIZE),
                 "-o", str(out)]) == 0
    assert [v["yaw"] for v in json.loads((out / "sheet.json").read_text())["views"]] == [0.0, 90.0, 180.0, -90.0]
    for k, v in enumerate(c.sheet):
        camera, pose = load_view_file(out / f"view_{k:02d}_view.npz")
        np.testing.assert_allclose(camera.view, c.cameras[v].view, atol=1e-6)
        np.testing.assert_allclose(camera.proj, c.cameras[v].proj, atol=1e-6)
        np.testing.assert_allclose(pose.joint_world, c.poses[v].joint_world, atol=1e-6)
        drawn = np.asarray(Image.open(out / f"view_{k:02d}.png"))
        # the same GL pass on the same host: at most a rounding step on a few edge pixels
        diff = np.abs(drawn.astype(int) - c.rgba[v].astype(int))
        assert (diff > 1).mean() < 0.002, (k, (diff > 1).mean())


def test_turnaround_keeps_the_clip_targets_and_nests(turnaround):
    clip = clip_sheets([turnaround])[0]
    assert clip.sheet == () and clip.rgba.shape[0] == CLIP
    np.testing.assert_array_equal(clip.rgba, turnaround.rgba[:CLIP])
    turn_jobs, clip_jobs = eval_jobs([turnaround], 2), eval_jobs([clip], 2)
    assert [(ci, t) for ci, t, _ in turn_jobs] == [(ci, t) for ci, t, _ in clip_jobs]
    for (_, t, order), (_, _, others) in zip(turn_jobs, clip_jobs):
        assert list(order) == [3, 4, 5, 6]  # n views = the first n: n = 1 the front view
        assert t < CLIP and t not in others and set(others) <= set(range(CLIP))


def test_turnaround_eval_runs_and_scores_other_sheets(capsys):
    args = ["eval", "--seeds", f"{SEED}:{SEED + 1}", "--poses", str(CLIP), "--views", "1,2", "--targets", "1",
            "--size", str(SIZE), "--baseline", "--json"]
    assert main(args + ["--sheet-poses", "turnaround"]) == 0
    turn = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    clip = json.loads(capsys.readouterr().out)
    assert set(turn) == set(clip) and "flat-colour-baseline" in turn
    # same target frames, other sheets: the flat fill (mean sheet colour in the target's silhouette) differs
    assert turn["flat-colour-baseline"]["n=2"]["l1"] != clip["flat-colour-baseline"]["n=2"]["l1"]


def test_bad_sheet_poses(tiny_data, caplog):
    assert main(["eval", "--seeds", f"{SEED}:{SEED + 1}", "--sheet-poses", "random"]) == 1
    assert "--sheet-poses 'random': valid: clip, turnaround" in caplog.text
    assert main(["eval", "--data", str(tiny_data), "--sheet-poses", "turnaround"]) == 1
    assert "use --seeds" in caplog.text
    with pytest.raises(ConfigError, match="1..8 views"):
        characters_from_seeds([SEED], 2, SIZE, progress=False, sheet_poses="turnaround", sheet_views=9)
