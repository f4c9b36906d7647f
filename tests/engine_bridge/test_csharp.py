"""The C# reader sample (for Unity), compiled with Mono's mcs and run against
a live `conrt bridge` process."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import time_to_notice_kill

CSHARP = Path(__file__).resolve().parents[2] / "engine_bridge" / "csharp"


@pytest.fixture(scope="module")
def example_exe(tmp_path_factory):
    mcs, mono = shutil.which("mcs"), shutil.which("mono")
    if not (mcs and mono):
        pytest.skip("no C# compiler/runtime (mcs + mono); scripts/setup.sh --test installs mono-mcs")
    exe = tmp_path_factory.mktemp("csharp") / "example.exe"
    res = subprocess.run([mcs, "-warnaserror", f"-out:{exe}", str(CSHARP / "ConrtBridge.cs"),
                          str(CSHARP / "Example.cs")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return [mono, str(exe)]


def _stats(stdout: str) -> dict:
    return dict(kv.split("=") for kv in stdout.strip().splitlines()[-1].split())


def test_csharp_reader_gets_checked_frames_and_drives_poses(name, bridge_process, example_exe):
    bridge_process(name, "--size", "64", "--fps", "200", "--checksum")
    res = subprocess.run([*example_exe, name, "200", "--checksum"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    stats = _stats(res.stdout)
    assert int(stats["frames"]) >= 200 and stats["bad"] == "0"
    assert stats["matched"] == "1" and int(stats["red"]) >= 3  # the pattern drew the C# engine's joints
    assert stats["state"] == "alive"


def test_csharp_reader_reports_a_killed_writer(name, bridge_process, example_exe):
    p = bridge_process(name, "--size", "32", "--fps", "30")
    rc, took = time_to_notice_kill(p.pid, [*example_exe, name, "100000"], settle=0.5, timeout=30)
    assert rc == 3
    assert took < 2.0, f"the C# reader took {took:.2f} s to notice"
