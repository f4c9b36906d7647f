"""The layout and the header validation, in Python and in C (they must agree)."""
from __future__ import annotations

import ctypes
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conrt.engine_bridge import protocol as P
from conrt.errors import BridgeProtocolError

C_DIR = Path(__file__).parent / "c"


def test_python_structs_match_the_c_header(build_c):
    out = subprocess.run([build_c(C_DIR / "layout.c")], capture_output=True, text=True, check=True).stdout
    mirrors = {"conrt_bridge_header": P.Header, "conrt_slot_header": P.SlotHeader, "conrt_pose_header": P.PoseHeader}
    checked = 0
    for line in out.splitlines():
        struct_name, field, a, b = line.split()
        if struct_name == "const":
            assert int(a) == {"VERSION": P.VERSION, "MAGIC": P.MAGIC}[field]
            continue
        py = mirrors[struct_name]
        if field == "SIZE":
            assert ctypes.sizeof(py) == int(a), struct_name
        else:
            desc = getattr(py, field)
            assert (desc.offset, desc.size) == (int(a), int(b)), f"{struct_name}.{field}"
        checked += 1
    assert checked >= 40


def test_geometry_build_is_valid_and_page_aligned():
    for size, fmt in ((64, P.PixelFormat.RGBA8), (256, P.PixelFormat.RGBA16F), (513, P.PixelFormat.RGBA8)):
        geo = P.Geometry.build(size, size, fmt, slot_count=3)
        assert geo.frames_offset % 4096 == 0 and geo.slot_size % 64 == 0
        assert geo.stride >= size * fmt.bytes_per_pixel
        assert geo.flags & P.Flags.PREMULTIPLIED


def _header(geo: P.Geometry, **changes) -> bytearray:
    h = P.Header(magic=P.MAGIC, version=P.VERSION, header_size=P.HEADER_SIZE, segment_size=geo.segment_size,
                 width=geo.width, height=geo.height, stride=geo.stride, pixel_format=int(geo.pixel_format),
                 flags=geo.flags, slot_count=geo.slot_count, slot_size=geo.slot_size,
                 frames_offset=geo.frames_offset, pose_offset=geo.pose_offset, pose_size=geo.pose_size,
                 max_joints=geo.max_joints, writer_pid=1, heartbeat_period_ms=100)
    for k, v in changes.items():
        setattr(h, k, v)
    return bytearray(bytes(h))


GEO = P.Geometry.build(64, 64, P.PixelFormat.RGBA8, 3, 16)


def test_valid_header_parses():
    geo = P.parse_header(_header(GEO), GEO.segment_size)
    assert geo == GEO


@pytest.mark.parametrize("change, words", [
    ({"version": 1}, ["version 1", "speaks 2"]),
    ({"version": 3}, ["version 3", "speaks 2"]),
    ({"skeleton_joints": 17}, ["skeleton joints 17", "max joints 16"]),
    ({"header_size": 256}, ["header size 256", "expected 128"]),
    ({"magic": 0}, ["bad magic"]),
    ({"pixel_format": 7}, ["unknown pixel format 7", "RGBA16F"]),
    ({"slot_count": 100000}, ["slot count 100000"]),
    ({"slot_count": 0}, ["slot count 0"]),
    ({"width": 0}, ["frame size 0x64"]),
    ({"height": 2**32 - 1}, ["frame size 64x4294967295"]),
    ({"stride": 8}, ["stride 8"]),
    ({"slot_size": 2**64 - 64}, ["slot size 18446744073709551552"]),
    ({"frames_offset": 2**63}, ["frames offset 9223372036854775808"]),
    ({"frames_offset": 64}, ["frames offset 64 overlaps"]),
    ({"max_joints": 2**31}, ["max joints"]),
    ({"slot_count": 60}, ["past the segment size"]),
])
def test_hostile_headers_are_rejected_naming_the_value(change, words):
    with pytest.raises(BridgeProtocolError) as err:
        P.parse_header(_header(GEO, **change), GEO.segment_size)
    msg = str(err.value)
    for w in words:
        assert w in msg, msg


def test_segment_size_mismatch_names_both():
    with pytest.raises(BridgeProtocolError, match=f"says {GEO.segment_size} bytes, the segment has 4096"):
        P.parse_header(_header(GEO), 4096)


def _fuzz_cases(n: int, seed: int = 0):
    """Random bytes, and valid headers with one or more fields mutated to hostile values."""
    rng = np.random.default_rng(seed)

    def pick(values):
        return values[int(rng.integers(len(values)))]

    fields = [f for f, _ in P.Header._fields_]
    extremes = [0, 1, 2, 3, 63, 64, 127, 128, 4095, 4096, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1]
    cases = []
    for i in range(n):
        size = GEO.segment_size
        if i % 5 == 0:
            buf = bytearray(rng.bytes(P.HEADER_SIZE))
            if i % 10 == 0:  # random but with the right magic/version, to get past the first checks
                buf[0:16] = struct.pack("<QII", P.MAGIC, P.VERSION, P.HEADER_SIZE)
            size = pick([0, 100, 128, size, 2**40, 2**64 - 1])
        else:
            buf = _header(GEO)
            h = P.Header.from_buffer(buf)
            for _ in range(int(rng.integers(1, 4))):
                f = fields[int(rng.integers(len(fields)))]
                bits = getattr(P.Header, f).size * 8
                v = pick(extremes) if rng.random() < 0.6 else int(rng.integers(0, 2**min(bits, 63)))
                setattr(h, f, v % (1 << bits))
            del h
            if i % 7 == 0:
                size = pick([0, 127, size - 1, size + 64, 2**35])
        cases.append((size, bytes(buf)))
    return cases


def _python_verdict(size: int, buf: bytes) -> bool:
    try:
        P.parse_header(buf, size)
        return True
    except BridgeProtocolError:
        return False  # the only exception a hostile header may cause


def test_fuzzed_headers_only_raise_protocol_errors_and_c_agrees(build_c):
    cases = _fuzz_cases(3000)
    python = [_python_verdict(size, buf) for size, buf in cases]
    assert 0 < sum(python) < len(cases)  # both outcomes exercised
    blob = b"".join(struct.pack("<Q", size) + buf for size, buf in cases)
    res = subprocess.run([build_c(C_DIR / "fuzz_headers.c")], input=blob, capture_output=True, check=True)
    c = [int(x) == 0 for x in res.stdout.split()]
    assert len(c) == len(cases)
    disagree = [i for i, (a, b) in enumerate(zip(python, c)) if a != b]
    assert not disagree, f"Python and C disagree on {len(disagree)} headers, e.g. case {disagree[:3]}"


def test_pose_request_camera_yaw():
    yaw = 0.7
    c, s = np.cos(yaw), np.sin(yaw)
    view = np.array([[c, 0, -s, 0], [0, 1, 0, 0], [s, 0, c, 0], [0, 0, 0, 1]], np.float32)
    assert P.PoseRequest(camera_view=view).camera_yaw() == pytest.approx(yaw, abs=1e-5)
    assert P.PoseRequest().camera_yaw() == pytest.approx(0.0)
