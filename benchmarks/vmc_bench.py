"""VMC latency benchmark: packet sent -> shaded frame published on the engine bridge.

A sender process (benchmarks/vmc_sender.py, python-osc) streams the walk clip of
the sample character at 60 Hz to a VmcReceiver here; the bridge's runtime
source (``RuntimeFrameSource(vmc=...)``: physics with hair and cloth, UDP
raster, conr-rt on gl-lookup with the sample sheet) shades the newest received
pose and a BridgeWriter publishes it, in the loop ``conrt bridge`` runs
(uncapped: the next frame starts when the last is published).

Per published frame: latency = publish time - the time the sender sent the
frame it shows (both ``time.perf_counter()``, CLOCK_MONOTONIC, one clock across
processes on Linux; the sender logs its send times). The frame it shows is
known from its /VMC/Ext/T (frame index / 60). Also reported: receiver arrival
-> publish, the frame rate, and in the same run the frame rate of the same
loop driven by a clip (the baseline: what VMC costs).

Conditions: a clean stream, and one with 10 % of frames lost and 10 % sent
after their successor (reordered; the receiver drops them as stale).

    python benchmarks/vmc_bench.py [--seconds 8] [--sizes 128 256] [--out benchmarks/results/vmc.json] [--doc docs/vmc.md]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

CONDITIONS = {"clean": (0.0, 0.0), "10% loss + 10% reordered": (0.1, 0.1)}
SENDER_FPS = 60.0


def _serve(source, writer, seconds: float, request_for) -> list[tuple[float, object]]:
    """The bridge loop (engine_bridge.server.serve, uncapped), recording each frame's
    publish time and the VMC state it showed."""
    out = []
    end = time.perf_counter() + seconds
    k = 0
    while time.perf_counter() < end:
        request = request_for(writer.poll_request(), k)
        start = time.monotonic_ns()
        writer.publish(source(request), request, start)
        s = source.last_stats
        out.append((time.perf_counter(), source.live.last if source.live is not None else None,
                    (s.physics_ms, s.raster_ms + s.readback_ms, s.shade_ms)))
        k += 1
    return out


_T0 = time.perf_counter()


def _clip_request(request, k):
    from dataclasses import replace

    from conrt.engine_bridge import protocol as P

    # what an engine playing the walk clip in real time asks for (physics advances
    # by wall-clock time, as it does for the live pose)
    return replace(request, kind=P.PoseKind.CLIP, clip_name="walk", clip_time=time.perf_counter() - _T0)


def run_size(size: int, seconds: float) -> list[dict]:
    from conrt.engine_bridge import BridgeWriter
    from conrt.physics.vmc import VmcReceiver
    from conrt.runtime.app.bridge_source import RuntimeFrameSource

    rows = []
    with BridgeWriter(f"vmcbench-{os.getpid()}-{size}", size, size) as writer:
        clip = RuntimeFrameSource(size)
        try:
            _serve(clip, writer, 1.0, _clip_request)  # warm up (GL, threads)
            base = _serve(clip, writer, seconds, _clip_request)
        finally:
            clip.close()
        base_fps = (len(base) - 1) / (base[-1][0] - base[0][0])
        for cond, (loss, reorder) in CONDITIONS.items():
            with VmcReceiver("127.0.0.1:0", timeout=1.0) as rx, tempfile.TemporaryDirectory() as tmp:
                live = RuntimeFrameSource(size, vmc=rx)
                log = Path(tmp) / "sent.jsonl"
                proc = subprocess.Popen(
                    [sys.executable, str(ROOT / "benchmarks" / "vmc_sender.py"), "--port", str(rx.port),
                     "--clip", "walk", "--fps", str(SENDER_FPS), "--seconds", str(seconds + 30),
                     "--loss", str(loss), "--reorder", str(reorder), "--seed", "1", "--log", str(log)],
                    stderr=subprocess.PIPE, text=True)
                try:
                    if rx.wait(60) is None:
                        raise RuntimeError(f"no packets from the sender: {proc.stderr.read()}")
                    _serve(live, writer, 1.0, lambda r, k: r)  # warm up on the stream
                    before = dict(rx.stats.dropped)
                    frames = _serve(live, writer, seconds, lambda r, k: r)
                    dropped = {k: v - before.get(k, 0) for k, v in rx.stats.dropped.items() if v - before.get(k, 0)}
                finally:
                    proc.kill()
                    proc.wait()
                    live.close()
                sent = {}
                for line in log.read_text().splitlines():
                    e = json.loads(line)
                    sent[e["frame"]] = e["sent"]
            lat, arr = [], []
            for t_pub, f, _ in frames:
                k = round(f.time * SENDER_FPS)
                if k in sent:
                    lat.append(t_pub - sent[k])
                    arr.append(t_pub - f.arrival)
            lat, arr = np.array(lat) * 1e3, np.array(arr) * 1e3
            fps = (len(frames) - 1) / (frames[-1][0] - frames[0][0])
            rows.append(dict(size=size, condition=cond, frames=len(frames), fps=fps, clip_fps=base_fps,
                             p50_ms=float(np.percentile(lat, 50)), p99_ms=float(np.percentile(lat, 99)),
                             arrival_p50_ms=float(np.percentile(arr, 50)),
                             arrival_p99_ms=float(np.percentile(arr, 99)),
                             frame_ms=1e3 / fps, dropped=dropped,
                             stages_ms=np.median([st for *_, st in frames], 0).round(1).tolist(),
                             clip_stages_ms=np.median([st for *_, st in base], 0).round(1).tolist()))
            r = rows[-1]
            print(f"{size}² {cond}: p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms, {fps:.1f} fps "
                  f"(clip-driven {base_fps:.1f} fps), receiver drops {dropped}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    out = ["| size | stream | frames | fps (VMC) | fps (clip, same run) | sent → published p50 / p99 | "
           "in frames (p50) | arrival → published p50 / p99 | physics / raster / shade ms, VMC (clip) | "
           "receiver drops |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        drops = ", ".join(f"{k} {v}" for k, v in sorted(r["dropped"].items())) or "–"
        out.append(f"| {r['size']}² | {r['condition']} | {r['frames']} | {r['fps']:.1f} | {r['clip_fps']:.1f} | "
                   f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms | {r['p50_ms'] / r['frame_ms']:.2f} | "
                   f"{r['arrival_p50_ms']:.1f} / {r['arrival_p99_ms']:.1f} ms | "
                   f"{' / '.join(map(str, r['stages_ms']))} ({' / '.join(map(str, r['clip_stages_ms']))}) | {drops} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "vmc.json")
    ap.add_argument("--doc", type=Path, default=None, help="write the table into this doc's vmc-latency markers")
    args = ap.parse_args(argv)
    os.environ.setdefault("CONRT_GL_CONTEXT", "egl")
    rows = []
    for size in args.sizes:
        rows += run_size(size, args.seconds)
    text = table(rows)
    print(text)
    load = os.getloadavg()
    meta = dict(machine=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                load_average=[round(x, 2) for x in load], seconds=args.seconds, sender_fps=SENDER_FPS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    if args.doc:
        from doc_table import write_marked_table

        write_marked_table(args.doc, "vmc-latency", text + f"\n\nLoad average during the run: {load[0]:.1f} "
                                                           f"({os.cpu_count()} CPUs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
