"""The hostile-segment table: one set of bad segments every reader is checked against.

Each case puts something at ``/dev/shm/conrt-bridge.NAME`` (a header with a
bad value, a file of the wrong type, owner or mode, a segment that shrinks
after it was opened) and says what a reader must do: ``accept`` (the control)
or ``reject`` with an error that names the problem. A reader is run as a
separate process (a crash is a signal, a hang a timeout, not a dead test run):

- ``python``: ``BridgeReader`` (``PYTHON_PROBE`` below);
- ``c``: ``probes/probe.c`` built against ``include/conrt_bridge.h``;
- ``csharp``: ``probes/Probe.cs`` + ``csharp/ConrtBridge.cs`` under Mono.

Every probe prints ``open OK|ERR ...``, then (after an optional pause in
which the case may change the segment) ``read ...`` and ``pose ...``.
``tests/engine_bridge/test_hostile_segments.py`` runs the table;
``benchmarks/bridge_figures.py`` tabulates it for docs/engine_bridge.md.
"""
from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import protocol as P
from . import shm

HERE = Path(__file__).resolve().parent
FOREIGN_UID = 65534  # nobody

# A one-slot writer that publishes frame 0, then stays inside frame 1 (its
# only slot odd) until killed: ``python -c MID_FRAME_WRITER NAME`` prints
# "mid-frame" once it is there (death detection after torn reads).
MID_FRAME_WRITER = """
import sys, time, numpy as np
from conrt.engine_bridge import BridgeWriter
w = BridgeWriter(sys.argv[1], 16, 16, slot_count=1)
w.publish(np.zeros((16, 16, 4), np.uint8))
with w.frame():
    print("mid-frame", flush=True)
    time.sleep(600)
"""

PYTHON_PROBE = """
import sys
from conrt.engine_bridge import BridgeReader
from conrt.errors import ConrtError
try:
    r = BridgeReader(sys.argv[1])
except ConrtError as exc:
    print("open ERR", exc, flush=True)
    sys.exit(0)
print("open OK", flush=True)
if "--pause" in sys.argv:
    sys.stdin.readline()
for what, call in (("read", r.read), ("pose", r.send_pose)):
    try:
        got = call()
        print(what, "NONE" if got is None else "OK", flush=True)
    except ConrtError as exc:
        print(what, "ERR", exc, flush=True)
"""

GEO = P.Geometry.build(16, 16, P.PixelFormat.RGBA8, slot_count=2, max_joints=4)


def header_bytes(geo: P.Geometry = GEO, **changes) -> bytes:
    """A valid header of a live writer (this process), with ``changes`` applied."""
    h = P.Header(magic=P.MAGIC, version=P.VERSION, header_size=P.HEADER_SIZE, segment_size=geo.segment_size,
                 width=geo.width, height=geo.height, stride=geo.stride, pixel_format=int(geo.pixel_format),
                 flags=geo.flags, slot_count=geo.slot_count, slot_size=geo.slot_size,
                 frames_offset=geo.frames_offset, pose_offset=geo.pose_offset, pose_size=geo.pose_size,
                 max_joints=geo.max_joints, writer_pid=os.getpid(), heartbeat_period_ms=100,
                 heartbeat_ns=0, writer_start_ticks=shm.proc_start_ticks(os.getpid()), pid_ns_inode=shm.pid_ns_inode())
    for k, v in changes.items():
        setattr(h, k, v)
    return bytes(h)


def write_segment(path: str, data: bytes, size: int | None = None, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)
        os.ftruncate(fd, GEO.segment_size if size is None else size)
        os.pwrite(fd, data[:GEO.segment_size if size is None else size], 0)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # one line for the docs table
    make: Callable[[str], None]  # puts the hostile thing at the path
    names: str = ""  # what every reader's error must name
    expect: str = "reject"  # or "accept"
    after_open: Callable[[str], None] | None = None  # changes the segment once the reader has opened it
    needs_root: bool = False


def _header_case(name: str, what: str, names: str, **changes) -> Case:
    return Case(name, what, lambda path: write_segment(path, header_bytes(**changes)), names)


def _fifo(path: str) -> None:
    os.mkfifo(path, 0o600)


def _directory(path: str) -> None:
    os.mkdir(path, 0o700)


def _symlink(path: str) -> None:
    target = path + ".target"
    write_segment(target, header_bytes())
    os.symlink(target, path)


def _foreign(path: str) -> None:
    write_segment(path, header_bytes())
    os.chown(path, FOREIGN_UID, FOREIGN_UID)


def _truncate_to(size: int) -> Callable[[str], None]:
    return lambda path: os.truncate(path, size)


CASES: tuple[Case, ...] = (
    Case("valid", "a valid segment (control)", lambda p: write_segment(p, header_bytes()), expect="accept"),
    _header_case("bad_magic", "magic 0 (not a bridge, or not initialised)", "magic", magic=0),
    _header_case("old_version", "protocol version 1", "version 1", version=1),
    _header_case("new_version", "protocol version 3", "version 3", version=3),
    _header_case("header_size", "header size 64", "header size 64", header_size=64),
    _header_case("size_mismatch", "header's segment size 4096 bytes more than the file", "header says",
                 segment_size=GEO.segment_size + 4096),
    _header_case("pixel_format", "pixel format 9", "pixel format 9", pixel_format=9),
    _header_case("zero_width", "width 0", "frame size 0x16", width=0),
    _header_case("huge_height", "height 2^32-1", "4294967295", height=2**32 - 1),
    _header_case("zero_slots", "slot count 0", "slot count 0", slot_count=0),
    _header_case("many_slots", "slot count 65", "slot count 65", slot_count=65),
    _header_case("short_stride", "stride shorter than a row", "stride 8", stride=8),
    _header_case("slot_size_overflow", "slot size 2^64-64 (wraps any sum)", "beyond", slot_size=2**64 - 64),
    _header_case("frames_offset_overflow", "frames offset 2^63", "beyond", frames_offset=2**63),
    _header_case("pose_offset_overflow", "pose offset 2^64-64", "beyond", pose_offset=2**64 - 64),
    _header_case("product_overflow", "64 slots of 2^58 bytes (the product wraps to 0)", "beyond", slot_count=64,
                 slot_size=2**58),
    _header_case("max_joints", "max joints 2^31", "max joints 2147483648", max_joints=2**31),
    _header_case("skeleton_joints", "skeleton joints above max joints", "skeleton joints 5", skeleton_joints=5),
    _header_case("past_end", "frame slots past the end of the segment", "past the segment size", slot_count=40),
    Case("short_file", "a 100-byte file", lambda p: write_segment(p, header_bytes(), 100), "smaller than"),
    Case("empty_file", "an empty file", lambda p: write_segment(p, b"", 0), "smaller than"),
    Case("fifo", "a FIFO (opening it must not block)", _fifo, "FIFO"),
    Case("directory", "a directory", _directory, "directory"),
    Case("symlink", "a symlink to a valid segment", _symlink, "symbolic link"),
    Case("foreign_owner", f"a valid segment owned by uid {FOREIGN_UID}", _foreign, str(FOREIGN_UID), needs_root=True),
    Case("mode_0644", "a valid segment with mode 0644", lambda p: write_segment(p, header_bytes(), mode=0o644),
         "0644"),
    Case("mode_04600", "a valid segment with mode 04600 (setuid)",
         lambda p: write_segment(p, header_bytes(), mode=0o4600), "4600"),
    Case("shrunk_4096", "valid when opened, then truncated to 4096 bytes (reads past it: SIGBUS)",
         lambda p: write_segment(p, header_bytes()), "shrank to 4096", after_open=_truncate_to(4096)),
    Case("shrunk_0", "valid when opened, then truncated to 0 bytes",
         lambda p: write_segment(p, header_bytes()), "shrank to 0", after_open=_truncate_to(0)),
)


def cleanup(path: str) -> None:
    for p in (path, path + ".target"):
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        os.rmdir(p) if stat.S_ISDIR(st.st_mode) else os.unlink(p)


# ---------------------------------------------------------------------------
# Readers


def build_readers(out_dir: Path, which=("python", "c", "csharp")) -> dict[str, list[str] | str]:
    """Command lines of the probes; a reader that cannot be built here maps to the reason (str)."""
    readers: dict[str, list[str] | str] = {}
    if "python" in which:
        readers["python"] = [sys.executable, "-c", PYTHON_PROBE]
    if "c" in which:
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if not cc:
            readers["c"] = "no C compiler"
        else:
            exe = out_dir / "probe"
            res = subprocess.run([cc, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{HERE / 'include'}",
                                  str(HERE / "probes" / "probe.c"), "-o", str(exe), "-lm"],
                                 capture_output=True, text=True)
            readers["c"] = [str(exe)] if res.returncode == 0 else f"build failed: {res.stderr[-500:]}"
    if "csharp" in which:
        mcs, mono = shutil.which("mcs"), shutil.which("mono")
        if not (mcs and mono):
            readers["csharp"] = "no mcs/mono"
        else:
            exe = out_dir / "probe.exe"
            res = subprocess.run([mcs, "-warnaserror", f"-out:{exe}", str(HERE / "csharp" / "ConrtBridge.cs"),
                                  str(HERE / "probes" / "Probe.cs")], capture_output=True, text=True)
            readers["csharp"] = [mono, str(exe)] if res.returncode == 0 else f"build failed: {res.stdout[-500:]}"
    return readers


@dataclass(frozen=True)
class Outcome:
    verdict: str  # accepted | rejected at open | rejected at read | crashed (SIGBUS) | hung
    lines: tuple[str, ...]

    @property
    def message(self) -> str:
        errs = [ln.split(" ERR ", 1)[1] for ln in self.lines if " ERR " in f" {ln}"]
        return errs[0] if errs else ""


def run_case(case: Case, reader: list[str], name: str, timeout: float = 30.0) -> Outcome:
    """Make the case at the bridge ``name``, run one reader against it, clean up."""
    path = shm.segment_path(name)
    cleanup(path)
    case.make(path)
    pause = case.after_open is not None
    try:
        proc = subprocess.Popen([*reader, name, *(["--pause"] if pause else [])], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        try:
            if pause:
                first = proc.stdout.readline().strip()
                lines.append(first)
                if first.startswith("open OK"):
                    case.after_open(path)
                proc.stdin.write("go\n")
                proc.stdin.flush()
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return Outcome("hung", tuple(lines))
        except BrokenPipeError:
            out, _ = proc.communicate(timeout=timeout)
        lines += [ln.strip() for ln in out.splitlines() if ln.strip()]
        if proc.returncode < 0:
            return Outcome(f"crashed ({signal.Signals(-proc.returncode).name})", tuple(lines))
        return Outcome(_verdict(lines), tuple(lines))
    finally:
        cleanup(path)


def _verdict(lines: list[str]) -> str:
    status = {ln.split()[0]: ln.split()[1] for ln in lines if len(ln.split()) >= 2}
    if status.get("open") == "ERR":
        return "rejected at open"
    if status.get("open") != "OK":
        return f"no answer ({' | '.join(lines)[:200]})"
    if status.get("read") == "ERR" or status.get("pose") == "ERR":
        return "rejected at read"
    return "accepted"


def run_table(readers: dict[str, list[str] | str], name_prefix: str, cases=CASES) -> list[dict]:
    """Every case against every reader: rows of {case, what, expect, reader, verdict, ok, message}.

    ``ok``: the control accepted; every other case rejected (never a crash or
    a hang) with an error naming ``case.names``; None when skipped."""
    rows = []
    root = os.geteuid() == 0
    for i, case in enumerate(cases):
        for reader, cmd in readers.items():
            row = {"case": case.name, "what": case.what, "expect": case.expect, "reader": reader}
            if isinstance(cmd, str) or (case.needs_root and not root):
                row.update(verdict="skipped", ok=None, message=cmd if isinstance(cmd, str) else "needs root")
            else:
                out = run_case(case, cmd, f"{name_prefix}-{i}")
                ok = (out.verdict == "accepted" if case.expect == "accept" else
                      out.verdict.startswith("rejected") and case.names.lower() in out.message.lower())
                row.update(verdict=out.verdict, ok=ok, message=out.message, lines=list(out.lines))
            rows.append(row)
    return rows


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="conrt-conformance-"))


# tests/engine_bridge/c/stress_writer.c fills frame n with the 64-bit words n * STEP + i
STRESS_WORD_STEP = 0x9E3779B97F4A7C15


def check_stress_frames(reader, keep_reading: Callable[[int], bool]) -> tuple[int, int, int]:
    """Read the C stress writer's frames while ``keep_reading(frames checked so far)``,
    checking every byte of each: (frames checked, torn frames returned, torn copies
    the reader retried). A mix of two frames cannot match one frame's words."""
    out = reader.empty_frame()
    words = out.reshape(-1).view("<u8")
    index = np.arange(words.size, dtype=np.uint64)
    checked = torn = retries = 0
    while keep_reading(checked):
        got = reader.read(out)
        if got is None:
            time.sleep(0)  # let the writer run: on a busy machine it may be off the CPU
            continue
        info = got[1]
        retries += info.retries
        torn += not np.array_equal(words, index + np.uint64((info.frame_index * STRESS_WORD_STEP) % 2**64))
        checked += 1
    return checked, torn, retries
