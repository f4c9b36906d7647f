"""The one-pose probe's summary (benchmarks/fit_sheet_one_pose_probe.py --summarise): the mean gain
after each of the check's sweeps, read back from saved rows without fitting (no GL)."""
import importlib.util
import json
from pathlib import Path

PROBE = Path(__file__).resolve().parents[2] / "benchmarks" / "fit_sheet_one_pose_probe.py"


def _probe():
    spec = importlib.util.spec_from_file_location("fit_sheet_one_pose_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_summary_keeps_a_stopped_views_last_gain(tmp_path):
    """A view whose freed search stopped after one sweep counts its last gain in the second sweep's
    mean, as auto's check sees it (``_one_pose_check``: the gains of the views where they stopped)."""
    probe = _probe()
    check = {"sweeps": {"a": [[0.10, 50]], "b": [[0.02, 60], [0.06, 110]]}, "renders": 160}
    assert probe.sweep_gains(check) == [0.06, 0.08]
    stages = {"joint_pose_only": [1.0, 700], "one_pose_check_pose_only": [0.5, 160]}
    row = {"sheet": 3, "mode": "per_view", "checks": {"pose_only": {**check, "sheet_stages": stages}}}
    path = tmp_path / "probe.json"
    path.write_text(json.dumps({"rows": [row]}))
    (item,) = probe.summarise([path])
    assert item["stage_renders"] == {"joint_pose_only": 700, "one_pose_check_pose_only": 160}
    assert item["pose_only"] == {"gain_after_sweep": [0.06, 0.08], "check_renders_1": 110, "check_renders": 160}
