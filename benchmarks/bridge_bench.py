"""Engine bridge benchmark: frame hand-over latency and throughput.

Real processes: a Python writer (``BridgeWriter.publish``) in a child process,
the Python reader (``BridgeReader.read`` into a preallocated array) here.

- baseline: one in-process ``np.copyto`` of a frame (what any hand-over must
  at least pay once), measured in the same run;
- throughput: writer flat out; frames/s written and frames/s the reader copied;
- latency: writer at a fixed 200 Hz; for each frame, the time from the
  writer's publish (``publish_ns``, CLOCK_MONOTONIC) to the moment the reader
  holds a complete copy; the Python reader busy-polls (yielding the CPU
  between polls), the C sample consumer (``examples/consumer.c``, when a C
  compiler is there) polls every 200 µs.

    python benchmarks/bridge_bench.py [--seconds 2] [--out benchmarks/results/bridge.json]

Prints a Markdown table (pasted into docs/engine_bridge.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from pathlib import Path

import shutil
import tempfile

import numpy as np

from conrt.engine_bridge import BridgeReader, PixelFormat, WriterGone

_WRITER = """
import sys, time, numpy as np
from conrt.engine_bridge import BridgeWriter
name, size, fmt, seconds, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
with BridgeWriter(name, size, size, fmt) as w:
    frame = np.random.default_rng(0).integers(0, 255, (size, size, 4), dtype=np.uint8)
    if fmt == "rgba16f":
        frame = (frame / 255).astype(np.float16)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    n, t0 = 0, time.monotonic()
    period = 1.0 / rate if rate > 0 else 0.0
    while time.monotonic() - t0 < seconds:
        w.publish(frame)
        n += 1
        if period:
            time.sleep(max(0.0, t0 + n * period - time.monotonic()))
    print(n / (time.monotonic() - t0), flush=True)
"""


ROOT = Path(__file__).resolve().parents[1]


def _build_consumer(tmp: Path) -> Path | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    exe = tmp / "consumer"
    subprocess.run([cc, "-std=gnu11", "-O2", f"-I{ROOT / 'engine_bridge' / 'include'}",
                    str(ROOT / "engine_bridge" / "examples" / "consumer.c"), "-o", str(exe), "-lm"], check=True)
    return exe


def _c_latency(consumer: Path, size: int, fmt: str, seconds: float) -> dict:
    name = f"bench-{os.getpid()}-{secrets.token_hex(3)}"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, name, str(size), fmt, str(seconds), "200"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        reader = subprocess.Popen([str(consumer), name, "--frames", "0", "--timeout", "30"],
                                  stdout=subprocess.PIPE, text=True)
        assert reader.stdout.readline().startswith("attached")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, _ = reader.communicate(timeout=seconds + 30)  # ends when the writer is gone
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    stats = dict(kv.split("=") for kv in out.strip().splitlines()[-1].split())
    return {"c_latency_us_p50": float(stats["lat_us_p50"]), "c_latency_us_p99": float(stats["lat_us_p99"]),
            "c_frames": int(stats["frames"]), "c_bad": int(stats["bad"])}


def _baseline_copy_us(size: int, fmt: PixelFormat, repeats: int = 200) -> float:
    src = np.zeros((size, size, 4), fmt.dtype)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        t = time.perf_counter_ns()
        np.copyto(dst, src)
        times.append(time.perf_counter_ns() - t)
    return float(np.median(times)) / 1e3


def _run(size: int, fmt: str, seconds: float, rate: float) -> dict:
    name = f"bench-{os.getpid()}-{secrets.token_hex(3)}"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, name, str(size), fmt, str(seconds), str(rate)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        reader = BridgeReader.connect(name)
        out = reader.empty_frame()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        latencies, reads, retries = [], 0, 0
        t0 = time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < seconds + 5:
            try:
                got = reader.read(out)
            except WriterGone:  # the writer finished its run
                break
            if got is None:
                time.sleep(0)
                continue
            now = time.monotonic_ns()
            reads += 1
            retries += got[1].retries
            latencies.append((now - got[1].publish_ns) / 1e3)
        elapsed = time.monotonic() - t0
        writer_fps = float(proc.stdout.readline())
        reader.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    lat = np.array(latencies)
    return {"writer_fps": writer_fps, "reader_fps": reads / min(elapsed, seconds), "torn_retries": retries,
            "latency_us_p50": float(np.percentile(lat, 50)), "latency_us_p95": float(np.percentile(lat, 95)),
            "latency_us_p99": float(np.percentile(lat, 99))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--formats", nargs="+", default=["rgba8", "rgba16f"])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bridge.json")
    args = p.parse_args(argv)
    rows = []
    consumer = _build_consumer(Path(tempfile.mkdtemp(prefix="bridge-bench-")))
    for fmt in args.formats:
        for size in args.sizes:
            pf = PixelFormat[fmt.upper()]
            base = _baseline_copy_us(size, pf)
            thr = _run(size, fmt, args.seconds, rate=0)
            lat = _run(size, fmt, args.seconds, rate=200)
            frame_mb = size * size * pf.bytes_per_pixel / 1e6
            rows.append({
                "size": size, "format": fmt, "frame_mb": frame_mb, "baseline_copy_us": base,
                "writer_fps": thr["writer_fps"], "reader_fps": thr["reader_fps"],
                "writer_gb_s": thr["writer_fps"] * frame_mb / 1e3,
                "writer_us_per_frame": 1e6 / thr["writer_fps"],
                "writer_cost_x_baseline": (1e6 / thr["writer_fps"]) / base,
                "latency_us_p50": lat["latency_us_p50"], "latency_us_p95": lat["latency_us_p95"],
                "latency_us_p99": lat["latency_us_p99"], "latency_p50_x_baseline": lat["latency_us_p50"] / base,
                "torn_retries": thr["torn_retries"] + lat["torn_retries"],
            })
            if consumer is not None:
                rows[-1].update(_c_latency(consumer, size, fmt, args.seconds))
            print(f"{size}² {fmt}: {rows[-1]}", file=sys.stderr)
    result = {
        "benchmark": "engine_bridge hand-over (Python writer process -> Python reader process)",
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "python": platform.python_version(),
                    "numpy": np.__version__, "platform": platform.platform()},
        "seconds_per_run": args.seconds, "latency_writer_rate_hz": 200, "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("| size | format | baseline copy µs | writer fps (GB/s) | writer µs/frame (× baseline) | reader fps "
          "| latency p50 / p95 / p99 µs (p50 × baseline) | C reader latency p50 / p99 µs |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']}² | {r['format']} | {r['baseline_copy_us']:.0f} | {r['writer_fps']:.0f} "
              f"({r['writer_gb_s']:.2f}) | {r['writer_us_per_frame']:.0f} ({r['writer_cost_x_baseline']:.1f}×) "
              f"| {r['reader_fps']:.0f} | {r['latency_us_p50']:.0f} / {r['latency_us_p95']:.0f} / "
              f"{r['latency_us_p99']:.0f} ({r['latency_p50_x_baseline']:.1f}×) | "
              + (f"{r['c_latency_us_p50']:.0f} / {r['c_latency_us_p99']:.0f} |"
                 if "c_latency_us_p50" in r else "– |"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
