"""Real processes on real shared memory: `conrt bridge`, a C writer, the C
sample consumer and Python readers, each in its own process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conrt.engine_bridge import BridgeReader, WriterGone, WriterState, conformance, shm

from .conftest import time_to_notice_kill

ROOT = Path(__file__).resolve().parents[2]
C_DIR = Path(__file__).parent / "c"
CONSUMER = ROOT / "engine_bridge" / "examples" / "consumer.c"
STRESS_FRAMES = 10_000
# Only a safety net against a hung test: a loaded 2-core machine is slow, not wrong.
DEADLINE = 240.0


def _wait_for(pred, timeout: float, step: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


def test_stress_c_writer_full_speed_python_reader_sees_no_torn_frame(name, build_c):
    """C writer flat out into a 2-slot ring; the Python reader (no fences, see
    segment.py) checks every byte of every frame it gets: zero torn frames."""
    exe = build_c(C_DIR / "stress_writer.c")
    proc = subprocess.Popen([str(exe), name, "1000000000", "64", "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        r = BridgeReader.connect(name)
        start = time.monotonic()
        verified, torn, retries = conformance.check_stress_frames(
            r, lambda checked: checked < STRESS_FRAMES and time.monotonic() - start < DEADLINE)
        published = r.frames_published
        # poses in: the C writer (conrt_bridge_read_pose) tags its frames with our request id
        rid = r.send_pose(np.tile(np.eye(4, dtype=np.float32), (3, 1, 1)), request_id=4242)
        out = r.empty_frame()
        tagged = _wait_for(lambda: (got := r.read(out)) is not None and got[1].request_id == rid, 30, step=0)
        r.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()
    assert verified >= STRESS_FRAMES, f"only {verified} frames in {DEADLINE} s"
    assert torn == 0, f"{torn} torn frames out of {verified} (copies retried: {retries})"
    assert published > 2 * verified  # the writer lapped the reader: the ring really was contended
    assert tagged
    assert not os.path.exists(shm.segment_path(name))  # SIGTERM -> destroy -> unlinked


def test_stress_python_writer_full_speed_c_reader(name, bridge_process, build_c):
    exe = build_c(CONSUMER)
    bridge_process(name, "--size", "64", "--fps", "0", "--slots", "2", "--checksum")
    res = subprocess.run([str(exe), name, "--frames", "3000", "--checksum", "--timeout", "60"],
                         capture_output=True, text=True, timeout=DEADLINE)
    assert res.returncode == 0, res.stdout + res.stderr
    stats = dict(kv.split("=") for kv in res.stdout.split("\n")[-2].split())
    assert int(stats["frames"]) == 3000 and int(stats["bad"]) == 0


_SLOW_READER = """
import json, sys, time
from conrt.engine_bridge import BridgeReader
r = BridgeReader.connect(sys.argv[1])
print("attached", flush=True)
reads = dropped = 0
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    got = r.read()
    if got is not None:
        reads += 1
        dropped += got[1].dropped
    time.sleep(0.05)  # a deliberately slow consumer
print(json.dumps({"reads": reads, "dropped": dropped}))
"""


def test_slow_reader_drops_frames_and_does_not_slow_the_writer(name, bridge_process):
    bridge_process(name, "--size", "64", "--fps", "200")
    r = BridgeReader.connect(name)
    _wait_for(lambda: r.frames_published > 20, 20)

    def rate(seconds: float) -> float:
        p0, t0 = r.frames_published, time.monotonic()
        time.sleep(seconds)
        return (r.frames_published - p0) / (time.monotonic() - t0)

    alone = rate(1.5)
    slow = subprocess.Popen([sys.executable, "-c", _SLOW_READER, name, "3.0"], stdout=subprocess.PIPE, text=True)
    assert slow.stdout.readline().strip() == "attached"  # its start-up (imports) is over
    with_reader = rate(1.5)
    out, _ = slow.communicate(timeout=60)
    stats = json.loads(out)
    r.close()
    assert stats["reads"] > 5
    assert stats["dropped"] > stats["reads"]  # it saw only a fraction of the frames
    assert with_reader > 0.5 * alone, f"writer slowed from {alone:.0f} to {with_reader:.0f} fps"


def test_sigkill_is_reported_within_a_second_and_restart_cleans_up(name, bridge_process):
    first = bridge_process(name, "--size", "64", "--fps", "30")
    r = BridgeReader.connect(name)
    assert r.wait(20) is not None and r.writer_state() == WriterState.ALIVE
    os.kill(first.pid, signal.SIGKILL)  # not reaped yet: a zombie must count as dead too
    killed = time.monotonic()
    with pytest.raises(WriterGone, match=f"pid {first.pid} is gone"):
        while time.monotonic() - killed < 10:
            r.wait(0.05)
    detected = time.monotonic() - killed
    assert detected < 1.0, f"took {detected:.2f} s"
    assert r.writer_state() == WriterState.DEAD
    r.close()
    first.proc.wait(5)
    assert os.path.exists(shm.segment_path(name))  # SIGKILL leaves the segment behind

    second = bridge_process(name, "--size", "64", "--fps", "30")
    r2 = BridgeReader.connect(name)
    assert _wait_for(lambda: r2.writer_pid == second.pid, 10)
    assert r2.wait(20) is not None
    r2.close()
    second.stop()
    assert "removing stale bridge segment" in second.proc.stderr.read()


def test_stopped_writer_is_stalled_not_dead(name, bridge_process):
    p = bridge_process(name, "--size", "32", "--fps", "30")
    r = BridgeReader.connect(name, stale_after=0.5)
    assert r.wait(20) is not None
    os.kill(p.pid, signal.SIGSTOP)
    try:
        assert _wait_for(lambda: r.writer_state() == WriterState.STALLED, 10)
        assert r.read() is None  # no WriterGone: the process is still there
    finally:
        os.kill(p.pid, signal.SIGCONT)
    assert _wait_for(lambda: r.writer_state() == WriterState.ALIVE, 10)
    assert r.wait(20) is not None
    r.close()


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
def test_signals_remove_the_segment(name, bridge_process, sig, code):
    p = bridge_process(name, "--size", "16", "--fps", "30")
    BridgeReader.connect(name).close()
    assert p.stop(sig) == code
    assert not os.path.exists(shm.segment_path(name))


def _read_pam(path: Path) -> np.ndarray:
    data = path.read_bytes()
    head, body = data.split(b"ENDHDR\n", 1)
    fields = dict(line.split(" ", 1) for line in head.decode().splitlines()[1:])
    return np.frombuffer(body, np.uint8).reshape(int(fields["HEIGHT"]), int(fields["WIDTH"]), 4)


def test_c_consumer_drives_poses_of_a_live_bridge(name, bridge_process, build_c, tmp_path):
    exe = build_c(CONSUMER)
    bridge_process(name, "--size", "64", "--fps", "120")
    out = tmp_path / "last.pam"
    res = subprocess.run([str(exe), name, "--frames", "120", "--poses", "--out", str(out), "--timeout", "60"],
                         capture_output=True, text=True, timeout=DEADLINE)
    assert res.returncode == 0, res.stdout + res.stderr
    stats = dict(kv.split("=") for kv in res.stdout.split("\n")[-2].split())
    assert stats["matched"] == "1" and int(stats["sent"]) >= 1 and int(stats["bad"]) == 0
    img = _read_pam(out)
    assert img.shape == (64, 64, 4)
    red = (img[..., 0] == 255) & (img[..., 1] == 0) & (img[..., 3] == 255)
    assert red.sum() >= 5  # the test pattern drew the joints the C engine sent


def test_c_consumer_reports_a_killed_writer(name, bridge_process, build_c):
    exe = build_c(CONSUMER)
    p = bridge_process(name, "--size", "32", "--fps", "30")
    rc, took = time_to_notice_kill(p.pid, [str(exe), name, "--frames", "0", "--timeout", "60"], settle=0.3, timeout=10)
    assert rc == 3
    assert took < 1.5, f"the C reader took {took:.2f} s to notice"


def test_rgba16f_frames_cross_processes_intact(name, bridge_process):
    from conrt.engine_bridge import PixelFormat, check_stamp

    bridge_process(name, "--size", "32", "--fps", "0", "--format", "rgba16f", "--checksum")
    r = BridgeReader.connect(name)
    assert r.geometry.pixel_format == PixelFormat.RGBA16F and r.dtype == np.float16
    out = r.empty_frame()
    for _ in range(200):
        got = r.wait(20, out=out)
        assert got is not None
        assert check_stamp(out) == got[1].frame_index & 0xFFFFFFFF
    r.close()


@pytest.mark.parametrize("change, code, words", [
    ({"version": 1}, "CONRT_E_VERSION", "protocol version 1 in the segment, this reader speaks 2"),
    ({"header_size": 64}, "CONRT_E_HEADER_SIZE", "header size 64 in the segment, expected 128"),
    ({"pixel_format": 9}, "CONRT_E_FORMAT", "unknown pixel format 9"),
    ({"mode": 0o644}, "CONRT_E_PERMISSIONS", "mode 0644"),
])
def test_c_reader_rejects_bad_segments_naming_the_values(name, build_c, change, code, words):
    from conrt.engine_bridge import BridgeWriter

    exe = build_c(CONSUMER)
    with BridgeWriter(name, 16, 16) as w:
        mode = change.pop("mode", None)
        for field, value in change.items():
            setattr(w._seg.header, field, value)
        if mode is not None:
            os.chmod(w.path, mode)
        res = subprocess.run([str(exe), name, "--timeout", "0.3"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert code in res.stderr and words in res.stderr, res.stderr


_SLOW_SOURCE = """
import sys, time
from conrt.engine_bridge import TestPattern, run_bridge
pattern = TestPattern(16, 16)

def slow(request):  # a frame source far slower than the heartbeat (like CoNR on a CPU)
    time.sleep(1.5)
    return pattern(request)

run_bridge(slow, sys.argv[1], 16, 16, fps=0, max_frames=4)
"""


def test_slow_frame_source_is_alive_not_stalled(name):
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SOURCE, name])
    try:
        r = BridgeReader.connect(name, timeout=60, stale_after=0.8)
        first = r.wait(30)
        assert first is not None
        states, new_frames = set(), 0
        end = time.monotonic() + 1.0  # shorter than one frame, longer than the stale threshold
        while time.monotonic() < end:
            states.add(r.writer_state())
            new_frames += r.read() is not None
            time.sleep(0.05)
        assert states == {WriterState.ALIVE}  # the heartbeat thread keeps beating during the slow render
        assert new_frames <= 1
        assert r.wait(30) is not None  # and frames do keep coming, slowly
        r.close()
    finally:
        proc.kill()
        proc.wait()
        Path(shm.segment_path(name)).unlink(missing_ok=True)
