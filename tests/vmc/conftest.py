"""Fixtures of the VMC tests: characters, a receiver on a free loopback port, and
sender processes (benchmarks/vmc_sender.py, tests/vmc/bad_sender.py) talking to it
over real UDP. Only loopback addresses."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SENDER = ROOT / "benchmarks" / "vmc_sender.py"
BAD_SENDER = Path(__file__).with_name("bad_sender.py")


@pytest.fixture(scope="session")
def girl():
    from conrt.characters.procedural import generate

    return generate(0, bottom="skirt", tails="twin", long_hair=True)


@pytest.fixture(scope="session")
def sample():
    from conrt.characters.gltf_io import load_character

    return load_character(ROOT / "samples" / "sample_character.glb")


@pytest.fixture
def receiver():
    from conrt.physics.vmc import VmcReceiver

    with VmcReceiver("127.0.0.1:0", timeout=0.3) as rx:
        yield rx


def spawn(script: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(cond, timeout: float = 30.0, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()
