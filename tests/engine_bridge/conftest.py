"""Fixtures for the engine bridge tests: unique names, live `conrt bridge`
processes, and C programs compiled with the system compiler."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "engine_bridge" / "include"
C_DIR = Path(__file__).parent / "c"


@pytest.fixture(scope="session", autouse=True)
def _remove_stale_test_segments():
    """Segments of earlier test runs that were killed before their teardown (dead writers only)."""
    from conrt.engine_bridge import shm
    from conrt.errors import BridgeProtocolError

    for path in Path("/dev/shm").glob("conrt-bridge.t*-*"):
        try:
            shm._remove_if_stale(str(path))
        except BridgeProtocolError:
            pass  # a live writer (someone else's run): leave it


@pytest.fixture
def name():
    """A bridge name no other test (or engineer) uses."""
    return f"t{os.getpid()}-{secrets.token_hex(3)}"


def segment(name: str) -> Path:
    return Path("/dev/shm") / f"conrt-bridge.{name}"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class BridgeProcess:
    """`conrt bridge` in its own process; stopped (SIGTERM) on exit."""

    def __init__(self, name: str, *args: str):
        self.name = name
        cmd = [sys.executable, "-m", "conrt.cli", "-q", "bridge", "--name", name, *args]
        # SIGINT at its default in the child: a suite started as a background job without
        # job control (`pytest ... &` in a script, as some CI runners do) passes SIGINT
        # ignored to its children, and Python then keeps it ignored (Ctrl-C is a no-op)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_default_sigint)
        self.pid = self.proc.pid

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.proc.stdout.close()
        self.proc.stderr.close()


def time_to_notice_kill(writer_pid: int, reader_cmd: list[str], settle: float, timeout: float) -> tuple[int, float]:
    """Start a reader process (it prints a line starting "attached" first),
    SIGKILL the writer after ``settle`` s, and return (reader exit code,
    seconds from the kill until the reader exited)."""
    import time

    reader = subprocess.Popen(reader_cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().startswith("attached")
        time.sleep(settle)
        os.kill(writer_pid, signal.SIGKILL)
        killed = time.monotonic()
        rc = reader.wait(timeout)
        return rc, time.monotonic() - killed
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
        reader.stdout.close()


@pytest.fixture
def bridge_process():
    started = []

    def start(name: str, *args: str) -> BridgeProcess:
        p = BridgeProcess(name, *args)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop(signal.SIGKILL if p.proc.poll() is None else signal.SIGTERM)
        p.proc.stdout.close()
        p.proc.stderr.close()
        segment(p.name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def c_compiler():
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler (cc/gcc) on PATH; scripts/setup.sh --test installs gcc")
    return cc


@pytest.fixture(scope="session")
def build_c(c_compiler, tmp_path_factory):
    """Compile a C file against conrt_bridge.h with warnings as errors; returns the binary."""
    out_dir = tmp_path_factory.mktemp("cbin")
    built = {}

    def build(source: Path) -> Path:
        if source not in built:
            exe = out_dir / source.stem
            cmd = [c_compiler, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{INCLUDE}",
                   str(source), "-o", str(exe), "-lm"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stderr}"
            built[source] = exe
        return built[source]

    return build
