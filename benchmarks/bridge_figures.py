"""Engine bridge robustness figures for docs/engine_bridge.md (issue 13): frames
and torn reads, death-detection time per reader, hostile segments per reader.

Real processes on real shared memory, as in tests/engine_bridge/:

- frames / torn: the C stress writer (tests/engine_bridge/c/stress_writer.c)
  flat out into a 2-slot ring, the Python reader checking every byte of every
  frame it gets (a torn frame cannot pass); then `conrt bridge --checksum`
  flat out, the C consumer checking the CRC-32 of every frame;
- death detection: `conrt bridge` (3 slots, 30 fps) killed with SIGKILL
  while a reader waits, seconds from the kill until the reader reports the
  writer dead (Python `wait()` raising WriterGone, the C consumer exiting 3,
  the C# example exiting 3); and a one-slot writer killed mid-frame (its only
  slot stays odd), for the Python and C readers;
- hostile segments: engine_bridge/conformance.py's table against each reader.

    python benchmarks/bridge_figures.py [--seconds 3] [--repeats 3] [--out benchmarks/results/bridge_figures.json]

Timings depend on the machine's load (recorded as the load average).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from conrt.engine_bridge import BridgeReader, WriterGone, conformance
from doc_table import write_marked_table  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "engine_bridge" / "include"
CLI = [sys.executable, "-m", "conrt.cli", "-q", "bridge"]



def _name() -> str:
    return f"fig-{os.getpid()}-{secrets.token_hex(3)}"


def _cc(source: Path, out: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    subprocess.run([cc, "-std=gnu11", "-O2", f"-I{INCLUDE}", str(source), "-o", str(out), "-lm"], check=True)
    return out


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def frames_and_torn(tmp: Path, seconds: float) -> dict:
    stress = _cc(ROOT / "tests" / "engine_bridge" / "c" / "stress_writer.c", tmp / "stress_writer")
    name = _name()
    proc = subprocess.Popen([str(stress), name, "1000000000", "64", "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        r = BridgeReader.connect(name)
        start = time.monotonic()
        verified, torn, retries = conformance.check_stress_frames(r, lambda _: time.monotonic() - start < seconds)
        published = r.frames_published
        r.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    py = {"writer": "C stress writer, 64², 2 slots, flat out", "reader": "python", "published": published,
          "read_and_checked": verified, "torn_frames_returned": torn, "torn_copies_retried": retries}

    consumer = _cc(ROOT / "engine_bridge" / "examples" / "consumer.c", tmp / "consumer")
    name = _name()
    writer = subprocess.Popen([*CLI, "--name", name, "--size", "100", "--fps", "0", "--checksum"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        res = subprocess.run([str(consumer), name, "--frames", "3000", "--checksum", "--timeout", "60"],
                             capture_output=True, text=True, timeout=300)
    finally:
        writer.send_signal(signal.SIGTERM)
        writer.communicate(timeout=30)
    stats = dict(kv.split("=") for kv in res.stdout.strip().splitlines()[-1].split())
    c = {"writer": "conrt bridge --checksum, 100² (padded rows), 3 slots, flat out", "reader": "c",
         "read_and_checked": int(stats["frames"]), "torn_frames_returned": int(stats["bad"]),
         "torn_copies_retried": int(stats["retries"]), "dropped": int(stats["dropped"])}
    return {"rows": [py, c]}


_FLAT_OUT_WRITER = """
import sys, time, numpy as np
from conrt.engine_bridge import BridgeWriter
name, slots, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
with BridgeWriter(name, 512, 512, slot_count=slots) as w:
    frame = np.zeros((512, 512, 4), np.uint8)
    print("ready", flush=True)
    sys.stdin.readline()
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        with w.frame() as px:  # draw into the slot, as `conrt bridge` does (the slot is odd meanwhile)
            px[...] = frame
        n += 1
    print(n, flush=True)
"""


def starvation(seconds: float) -> dict:
    """Why one slot is refused: a Python writer flat out at 512², a Python reader polling."""
    rows = []
    for slots in (1, 2, 3):
        name = _name()
        proc = subprocess.Popen([sys.executable, "-c", _FLAT_OUT_WRITER, name, str(slots), str(seconds)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            r = BridgeReader.connect(name)
            out = r.empty_frame()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            reads, t0 = 0, time.monotonic()
            while time.monotonic() - t0 < seconds:
                try:
                    reads += r.read(out) is not None
                except WriterGone:
                    break
                time.sleep(0)
            written = int(proc.stdout.readline())
            r.close()
            proc.wait(30)  # let it close (and unlink) its segment
        finally:
            _stop(proc)
        rows.append({"slots": slots, "written": written, "read": reads, "read_fraction": reads / max(written, 1)})
    return {"rows": rows}


def _time_to_exit(reader_cmd: list[str], writer_pid: int, settle: float, timeout: float) -> tuple[int, float]:
    reader = subprocess.Popen(reader_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().startswith("attached")
        time.sleep(settle)
        os.kill(writer_pid, signal.SIGKILL)
        killed = time.monotonic()
        reader.wait(timeout)
        return reader.returncode, time.monotonic() - killed
    finally:
        _stop(reader)


_PY_WAITER = """
import sys
from conrt.engine_bridge import BridgeReader, WriterGone
r = BridgeReader(sys.argv[1]) if "--open" in sys.argv else BridgeReader.connect(sys.argv[1], timeout=60)
print("attached", flush=True)
try:
    while True:
        r.wait(1.0)
except WriterGone:
    sys.exit(3)
"""


def death_detection(tmp: Path, repeats: int) -> dict:
    consumer = tmp / "consumer"
    readers = {"python": lambda n: [sys.executable, "-c", _PY_WAITER, n],
               "c": lambda n: [str(consumer), n, "--frames", "0", "--timeout", "60"]}
    csharp = conformance.build_readers(tmp, which=("csharp",))["csharp"]
    if not isinstance(csharp, str):
        exe = tmp / "example.exe"
        subprocess.run([shutil.which("mcs"), f"-out:{exe}", str(ROOT / "engine_bridge" / "csharp" / "ConrtBridge.cs"),
                        str(ROOT / "engine_bridge" / "csharp" / "Example.cs")], check=True, capture_output=True)
        readers["csharp"] = lambda n: [shutil.which("mono"), str(exe), n, "100000"]
    rows = []
    for scenario in ("3 slots, 30 fps, SIGKILL", "1 slot, SIGKILL mid-frame"):
        for reader, cmd in readers.items():
            times, codes = [], []
            for _ in range(repeats):
                name = _name()
                if scenario.startswith("3 slots"):
                    writer = subprocess.Popen([*CLI, "--name", name, "--size", "32", "--fps", "30"],
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    BridgeReader.connect(name, timeout=60).close()
                else:
                    writer = subprocess.Popen([sys.executable, "-c", conformance.MID_FRAME_WRITER, name], stdout=subprocess.PIPE,
                                              stderr=subprocess.DEVNULL, text=True)  # its one-slot warning
                    assert writer.stdout.readline().strip() == "mid-frame"
                try:
                    extra = ["--open"] if reader == "python" and scenario.startswith("1 slot") else []
                    rc, took = _time_to_exit(cmd(name) + extra, writer.pid, settle=0.3, timeout=30)
                finally:
                    _stop(writer)
                    Path(f"/dev/shm/conrt-bridge.{name}").unlink(missing_ok=True)
                codes.append(rc)
                times.append(took)
            rows.append({"scenario": scenario, "reader": reader, "exit_codes": codes, "seconds": times,
                         "median_s": float(np.median(times)), "max_s": float(np.max(times))})
    return {"rows": rows}


def hostile(tmp: Path) -> dict:
    readers = conformance.build_readers(tmp)
    rows = conformance.run_table(readers, _name())
    summary = {}
    for reader in readers:
        mine = [r for r in rows if r["reader"] == reader]
        summary[reader] = {"cases": len(mine), "as_expected": sum(r["ok"] is True for r in mine),
                           "wrong": [r["case"] for r in mine if r["ok"] is False],
                           "skipped": [r["case"] for r in mine if r["ok"] is None],
                           "crashed_or_hung": [r["case"] for r in mine if r["verdict"].startswith(("crashed", "hung"))]}
    return {"summary": summary, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="length of the torn-frame run (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="kills per reader and scenario (default 3)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bridge_figures.json")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "engine_bridge.md",
                    help="write the tables between its bridge_figures markers (default docs/engine_bridge.md)")
    args = ap.parse_args()
    tmp = conformance.scratch_dir()
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "load_avg_1min": os.getloadavg()[0]},
              "command": "python benchmarks/bridge_figures.py " + " ".join(sys.argv[1:])}
    t0 = time.monotonic()
    result["frames"] = frames_and_torn(tmp, args.seconds)
    result["starvation"] = starvation(args.seconds)
    result["death_detection"] = death_detection(tmp, args.repeats)
    result["hostile_segments"] = hostile(tmp)
    result["seconds"] = time.monotonic() - t0
    result["machine"]["load_avg_1min_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    print(f"wrote {args.out}")
    if write_marked_table(args.doc, "bridge_figures", table):
        print(f"updated {args.doc}")


def markdown(result: dict) -> str:
    lines = ["| writer | reader | frames read and checked | torn frames returned | torn copies retried |",
             "|---|---|---:|---:|---:|"]
    for r in result["frames"]["rows"]:
        lines.append(f"| {r['writer']} | {r['reader']} | {r['read_and_checked']} | {r['torn_frames_returned']} | "
                     f"{r['torn_copies_retried']} |")
    lines += ["", "| slots | frames written (512², flat out) | frames the reader got | fraction |",
              "|---:|---:|---:|---:|"]
    for r in result["starvation"]["rows"]:
        lines.append(f"| {r['slots']} | {r['written']} | {r['read']} | {r['read_fraction']:.3f} |")
    lines += ["", "| writer killed | reader | exit codes | detection time, median (max) s |", "|---|---|---|---|"]
    for r in result["death_detection"]["rows"]:
        lines.append(f"| {r['scenario']} | {r['reader']} | {', '.join(map(str, r['exit_codes']))} | "
                     f"{r['median_s']:.3f} ({r['max_s']:.3f}) |")
    lines += ["", "| reader | hostile cases | handled as required | crashed or hung | skipped |",
              "|---|---:|---:|---|---|"]
    for reader, s in result["hostile_segments"]["summary"].items():
        lines.append(f"| {reader} | {s['cases']} | {s['as_expected']} | {', '.join(s['crashed_or_hung']) or '0'} | "
                     f"{', '.join(s['skipped']) or '–'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
