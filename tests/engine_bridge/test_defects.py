"""Regression tests of the bridge defects B2-B6 and the pose-request ones of
issue 13 (B1, a segment truncated under a reader, is a row of the
hostile-segment table in test_hostile_segments.py). Real processes on real
shared memory: a writer killed with SIGKILL mid-frame, the C consumer, the
`conrt bridge` CLI."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conrt.engine_bridge import (BridgeReader, BridgeWriter, PixelFormat, PoseKind, PoseRequest, TestPattern,
                                 WriterGone, check_stamp, conformance, serve, shm)
from conrt.errors import BridgeProtocolError, InputError

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "engine_bridge" / "examples" / "consumer.c"
CLI = [sys.executable, "-m", "conrt.cli", "-q", "bridge"]


@pytest.fixture
def mid_frame_writer(name):
    proc = subprocess.Popen([sys.executable, "-c", conformance.MID_FRAME_WRITER, name], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "mid-frame"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        Path(shm.segment_path(name)).unlink(missing_ok=True)


# -- B2: a one-slot writer killed mid-frame ---------------------------------


def test_python_reader_reports_a_writer_killed_mid_frame_in_a_one_slot_ring(name, mid_frame_writer):
    reader = BridgeReader(name)  # frame 0 is published but its slot is odd for ever: every copy is torn
    try:
        assert reader.read(max_retries=50) is None  # alive: just busy
        os.kill(mid_frame_writer.pid, signal.SIGKILL)
        killed = time.monotonic()
        with pytest.raises(WriterGone, match=f"pid {mid_frame_writer.pid} is gone"):
            reader.wait(timeout=10)
        assert time.monotonic() - killed < 5
    finally:
        reader.close()


def test_c_reader_reports_a_writer_killed_mid_frame_in_a_one_slot_ring(name, mid_frame_writer, build_c):
    consumer = subprocess.Popen([str(build_c(CONSUMER)), name, "--frames", "0", "--timeout", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert consumer.stdout.readline().startswith("attached")
        os.kill(mid_frame_writer.pid, signal.SIGKILL)
        out, err = consumer.communicate(timeout=30)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.communicate()
    assert consumer.returncode == 3, out + err
    assert "writer dead" in out and "gone" in out


def test_one_slot_is_refused_by_the_cli_and_warned_about_by_the_api(name, caplog):
    res = subprocess.run([*CLI, "--name", name, "--slots", "1", "--frames", "1"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1
    assert "--slots 1 outside 2..64" in res.stderr and "Traceback" not in res.stderr
    with caplog.at_level(logging.WARNING, logger="conrt.engine_bridge"):
        BridgeWriter(name, 8, 8, slot_count=1).close()
    assert "starves readers" in caplog.text


# -- B3: the sample consumer's --timeout covers a persistent CONRT_E_BUSY ------


def test_c_consumer_times_out_on_a_slot_that_stays_busy(name, build_c):
    exe = build_c(CONSUMER)
    with BridgeWriter(name, 16, 16, slot_count=1) as w:
        w.publish(np.zeros((16, 16, 4), np.uint8))
        with w.frame():  # we (a live writer) keep the only slot odd: every read is torn
            proc = subprocess.Popen([str(exe), name, "--frames", "1", "--timeout", "1"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            try:
                out, err = proc.communicate(timeout=30)
            finally:
                if proc.poll() is None:  # before the fix: a 100 % CPU spin for ever
                    proc.kill()
                    proc.communicate()
    assert proc.returncode == 2, out + err
    assert "no frame for 1.0 s" in err and "CONRT_E_BUSY" in err


# -- B4: a FIFO, directory or symlink at the segment's name -------------------


@pytest.mark.parametrize("kind, words", [("fifo", "is a FIFO"), ("directory", "is a directory"),
                                         ("symlink", "is a symbolic link")])
def test_writers_refuse_a_non_regular_file_at_the_name(name, build_c, kind, words):
    path = shm.segment_path(name)
    case = {c.name: c for c in conformance.CASES}[kind]
    case.make(path)
    try:
        # in a process first: before the fix the FIFO blocked the open for ever
        res = subprocess.run([*CLI, "--name", name, "--frames", "1"], capture_output=True, text=True, timeout=120)
        assert res.returncode == 1 and words in res.stderr and "Traceback" not in res.stderr, res.stderr
        with pytest.raises(BridgeProtocolError, match=words):
            BridgeWriter(name, 8, 8)
        c_writer = build_c(Path(__file__).parent / "c" / "stress_writer.c")
        res = subprocess.run([str(c_writer), name, "1", "16", "2"], capture_output=True, text=True, timeout=60)
        assert res.returncode == 1 and "CONRT_E_FILE_TYPE" in res.stderr and words in res.stderr, res.stderr
        assert os.path.lexists(path)  # not removed: it is not ours to remove
    finally:
        conformance.cleanup(path)


# -- B5: the C# reader's frame size does not overflow -------------------------


def test_csharp_frame_bytes_of_the_largest_legal_frame(name, tmp_path):
    probe = conformance.build_readers(tmp_path, which=("csharp",))["csharp"]
    if isinstance(probe, str):
        pytest.skip(f"C# probe: {probe}")
    # 16384 x 16384 RGBA16F: 2^31 bytes per frame, one more than an int holds (the file is sparse)
    with BridgeWriter(name, 16384, 16384, PixelFormat.RGBA16F, slot_count=1):
        res = subprocess.run([*probe, name, "--geometry"], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == f"open OK 16384 16384 {2**31}", res.stdout + res.stderr


# -- B6: the checksum stamp lands in the slot, not in a copy ------------------


def test_stamp_is_written_into_a_padded_slot_view():
    padded = np.zeros((100, 112, 4), np.uint8)[:, :100]  # rows of 400 bytes in a 448-byte stride, like a slot
    assert not padded.flags.c_contiguous
    TestPattern(100, 100, checksum=True).render_into(PoseRequest(), padded)
    assert check_stamp(padded) == 0
    assert check_stamp(np.ascontiguousarray(padded)) == 0  # what a reader copies (tight rows)


def test_c_consumer_verifies_checksums_of_padded_frames(name, bridge_process, build_c):
    bridge_process(name, "--size", "100", "--fps", "200", "--checksum")  # stride 448 > 400 bytes per row
    res = subprocess.run([str(build_c(CONSUMER)), name, "--frames", "100", "--checksum", "--timeout", "60"],
                         capture_output=True, text=True, timeout=240)
    stats = dict(kv.split("=") for kv in res.stdout.split("\n")[-2].split())
    assert res.returncode == 0 and stats["bad"] == "0" and stats["frames"] == "100", res.stdout + res.stderr


# -- pose requests ------------------------------------------------------------


def _poke(reader: BridgeReader, request_id: int, kind: PoseKind, joints: np.ndarray | None = None,
          clip: bytes = b"", clip_time: float = 0.0) -> None:
    """Write a pose request as a hostile engine would: no checks on our side."""
    pose, seg = reader._seg.pose, reader._seg
    seq = pose.seq + (pose.seq & 1)
    pose.seq = seq + 1
    pose.request_id, pose.kind, pose.clip_name, pose.clip_time = request_id, int(kind), clip, clip_time
    pose.joint_count = 0 if joints is None else len(joints)
    if joints is not None:
        seg.joints[:len(joints)] = joints
    pose.seq = seq + 2


def _frames_request_ids(writer, reader, frames=3) -> set[int]:
    serve(writer, TestPattern(16, 16), fps=0, max_frames=frames)
    got = reader.read()
    assert got is not None
    return {got[1].request_id}


def test_bad_pose_requests_are_counted_once_never_echoed_and_the_last_good_one_kept(name, caplog):
    joints = np.tile(np.eye(4, dtype=np.float32), (5, 1, 1))
    with BridgeWriter(name, 16, 16, max_joints=8, skeleton_joints=5) as w, BridgeReader(name) as r:
        assert r.geometry.skeleton_joints == 5  # the joint count an engine must send is in the header
        good = r.send_pose(joints)
        assert _frames_request_ids(w, r) == {good}
        with caplog.at_level(logging.WARNING, logger="conrt.engine_bridge"):
            bad_requests = [(101, PoseKind.JOINTS, joints * np.float32(1e30), b"", 0.0),  # finite, absurd
                            (102, PoseKind.JOINTS, joints[:3], b"", 0.0),  # wrong count
                            (103, PoseKind.CLIP, None, b"walk", 1e300)]
            bad_total = 0
            for rid, kind, js, clip, t in bad_requests:
                _poke(r, rid, kind, js, clip, t)
                stats = serve(w, TestPattern(16, 16), fps=0, max_frames=5)  # 5 frames: warned once, not 5 times
                bad_total += stats.bad_requests
                got = r.read()
                assert got[1].request_id == good  # the rejected id is never echoed as shaded
        assert bad_total == 3
        for rid, words in ((101, "beyond +-10000"), (102, "3 joints, the character has 5"), (103, "clip time 1e+300")):
            lines = [ln for ln in caplog.text.splitlines() if f"pose request {rid}:" in ln]
            assert len(lines) == 1 and words in lines[0], caplog.text
        # the Python engine side refuses to send what the runtime would reject
        with pytest.raises(InputError, match="3 joints, the character has 5"):
            r.send_pose(joints[:3])
        with pytest.raises(InputError, match="beyond"):
            r.send_pose(joints * np.float32(1e30))
        with pytest.raises(InputError, match="clip time"):
            r.send_pose(clip="walk", clip_time=1e300)


def _published_twice_more(reader: BridgeReader, timeout: float = 30.0) -> None:
    start, end = reader.frames_published, time.monotonic() + timeout
    while reader.frames_published < start + 2:
        assert time.monotonic() < end, "the writer stopped publishing"
        time.sleep(0.005)


def test_cli_exit_summary_counts_bad_pose_requests(name, bridge_process):
    p = bridge_process(name, "--size", "16", "--fps", "100", "--duration", "4")
    r = BridgeReader.connect(name, timeout=60)
    try:
        assert r.wait(30) is not None
        _poke(r, 7, PoseKind.JOINTS, np.full((2, 4, 4), 1e30, np.float32))
        # the writer shades only the latest request: request 7 must be polled before 8 replaces it.
        # It polls before each publish, so two more published frames mean a poll after the poke
        # (a fixed sleep lost request 7 when the writer was not scheduled on a loaded host)
        _published_twice_more(r)
        _poke(r, 8, PoseKind.CLIP, None, b"walk", float("inf"))
        _published_twice_more(r)
    finally:
        r.close()
    out, err = p.proc.communicate(timeout=60)
    assert p.proc.returncode == 0, err
    assert "2 bad pose requests" in out, out
    assert err.count("ignoring bad pose request") == 2, err


# -- PROTOCOL.md "Liveness": a heartbeat ahead of the reader's clock is fresh ---


def test_a_heartbeat_in_the_future_is_fresh_for_python_and_c(name, build_c):
    from conrt.engine_bridge import WriterState

    with BridgeWriter(name, 16, 16, heartbeat_period=3600) as w, BridgeReader(name) as r:  # no beats during the test
        w._seg.header.heartbeat_ns = 2**63  # far ahead of CLOCK_MONOTONIC
        assert r.heartbeat_age() == 0 and r.writer_state() == WriterState.ALIVE
        res = subprocess.run([str(build_c(CONSUMER)), name, "--frames", "1", "--timeout", "0.3"],
                             capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "writer state 0" in res.stderr, res.stderr  # 0 alive (was 1 stalled: u64 wrap)
