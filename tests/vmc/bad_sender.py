"""Sends malformed VMC to 127.0.0.1:PORT with python-osc, then one valid frame, then
(--flood N) N datagrams as fast as it can. Prints what it sent per kind as JSON.

    python tests/vmc/bad_sender.py PORT [--flood 10000]
"""
from __future__ import annotations

import argparse
import json
import math
import socket
import sys
import time

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError

FINAL_REPEATS = 3  # the flood's newest frame sent again, 50 ms apart, as a sender streaming on would


def message(address, *args):
    m = OscMessageBuilder(address)
    for a in args:
        m.add_arg(a, "f") if isinstance(a, float) else m.add_arg(a)
    return m.build()


def msg(address, *args) -> bytes:
    return message(address, *args).dgram


def bone(name, *vals) -> bytes:
    return msg("/VMC/Ext/Bone/Pos", name, *vals)


def valid_bundle(t: float, angle: float) -> bytes:
    """T, then LeftUpperArm turned by ``angle`` radians about Unity's Z."""
    b = OscBundleBuilder(IMMEDIATELY)
    b.add_content(message("/VMC/Ext/T", float(t)))
    b.add_content(message("/VMC/Ext/Bone/Pos", "LeftUpperArm", 0.1, 0.0, 0.0, 0.0, 0.0,
                          math.sin(angle / 2), math.cos(angle / 2)))
    return b.build().dgram


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--flood", type=int, default=0)
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    to = ("127.0.0.1", args.port)
    nan, inf = float("nan"), float("inf")
    kinds = {
        "wrong_args": [bone("Hips", "x", 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), bone("Hips", 0.0, 0.0),
                       msg("/VMC/Ext/Bone/Pos", 3, 0.0), msg("/VMC/Ext/T", "soon"), msg("/VMC/Ext/OK", 1.5),
                       msg("/VMC/Ext/Blend/Val", "Blink"), bone("Hips", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 9.0)],
        "unknown_bone": [bone("Tail", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), bone("", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
                         bone("hips ", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)],
        "not_finite": [bone("Hips", nan, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), bone("Head", 0.0, 0.0, 0.0, 0.0, inf, 0.0, 1.0),
                       msg("/VMC/Ext/T", nan), msg("/VMC/Ext/Blend/Val", "A", nan)],
        "out_of_range": [bone("Hips", 1e9, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), bone("Head", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
                         bone("Head", 0.0, 0.0, 0.0, 30.0, 0.0, 0.0, 40.0), msg("/VMC/Ext/Blend/Val", "A", 1e6)],
    }
    good = valid_bundle(5.0, 1.0)
    cuts = [good[:n] for n in (3, 8, 30, len(good) - 30, len(good) - 1)] + [b"\x00" * 7, b"#bundle\x00" + b"\xff" * 9,
                                                                           b"garbage that is no osc"]
    kinds["malformed"] = [c for c in cuts if _rejected(c)]
    sent = {}
    for kind, grams in kinds.items():
        for g in grams:
            sock.sendto(g, to)
            time.sleep(0.002)  # slow enough that nothing is dropped as a flood
        sent[kind] = len(grams)
    sock.sendto(good, to)
    sent["valid"] = 1
    if args.flood:
        time.sleep(0.3)
        grams = [valid_bundle(10.0 + k * 1e-3, 0.5 + k * 1e-4) for k in range(args.flood)]
        t0 = time.perf_counter()
        for k, g in enumerate(grams):  # fresh, valid frames at 10k/s (bursts of 100): the newest must win
            if k % 100 == 0:
                delay = t0 + k / 10000 - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sock.sendto(g, to)
        sent["flood_seconds"] = time.perf_counter() - t0
        # a real VMC sender keeps streaming its last pose; the kernel may have dropped the flood's tail
        # from a full socket buffer on a busy machine, and the repeats (apart, never a flood) still arrive
        for _ in range(FINAL_REPEATS):
            time.sleep(0.05)
            sock.sendto(grams[-1], to)
        sent["flood"] = args.flood
        sent["last_t"] = 10.0 + (args.flood - 1) * 1e-3
    print(json.dumps(sent), flush=True)
    return 0


def _rejected(dgram: bytes) -> bool:
    try:
        OscPacket(dgram)
        return False
    except ParseError:
        return True


if __name__ == "__main__":
    sys.exit(main())
