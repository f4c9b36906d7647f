"""A synthetic frame source: a moving pattern that shows the pose request.

Stands in for the neural runtime (same call signature) so the bridge, the C
and C# readers and engines can be developed and tested without it. Draws:
moving diagonal stripes inside a disc (alpha 1) on a transparent background,
the camera yaw as a yellow needle, each requested joint (projected with the
request's camera) as a red dot, a clip request as a bar (length = time mod 1),
and the request id's low 16 bits as blocks along the top edge.

With ``checksum=True`` the last 8 bytes of every frame (in tight row order,
padding excluded: the last 8 bytes of the last row's pixels) are its counter
(u32 LE) and the CRC-32 (zlib's) of all bytes before them, so a reader can
detect torn frames.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from . import protocol as P


class TestPattern:
    __test__ = False  # not a pytest class

    def __init__(self, width: int = 256, height: int = 256, dtype=np.uint8, checksum: bool = False):
        self.width, self.height = width, height
        self.dtype = np.dtype(dtype)
        self.checksum = checksum
        self.count = 0
        yy, xx = np.mgrid[0:height, 0:width]
        self._diag = (((xx + yy) // max(1, min(width, height) // 32)) & 63).astype(np.uint8)
        self._index = np.empty((height, width), np.uint8)
        phase = np.arange(64) / 64 * 2 * np.pi
        lut = np.stack([0.55 + 0.35 * np.sin(phase), 0.35 + 0.3 * np.sin(phase + 2.0),
                        0.6 + 0.3 * np.sin(phase + 4.0), np.ones(64)], 1)
        self._lut = self._convert(lut)
        cx, cy, r = (width - 1) / 2, (height - 1) / 2, 0.45 * min(width, height)
        self._disc = (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).astype(self.dtype)[..., None]  # [H, W, 1]
        self._centre, self._radius = (cx, cy), r
        self._white, self._black, self._yellow, self._red = (
            self._convert(np.array(c, np.float64)) for c in ((1, 1, 1, 1), (0, 0, 0, 1), (1, 1, 0, 1), (1, 0, 0, 1)))
        self._needle_yaw, self._needle = None, None
        self._id_block = max(1, width // 32)
        rr = max(1, min(width, height) // 64)
        dy, dx = np.mgrid[-rr:rr + 1, -rr:rr + 1]
        self._dot = np.stack([dx.ravel(), dy.ravel()], 1)  # [D, 2] pixel offsets of one joint dot

    def _convert(self, rgba01: np.ndarray) -> np.ndarray:
        if self.dtype == np.uint8:
            return np.round(np.clip(rgba01, 0, 1) * 255).astype(np.uint8)
        return rgba01.astype(self.dtype)

    def __call__(self, request: P.PoseRequest) -> np.ndarray:
        out = np.empty((self.height, self.width, 4), self.dtype)
        self.render_into(request, out)
        return out

    def render_into(self, request: P.PoseRequest, out: np.ndarray) -> None:
        """Draw straight into ``out`` (e.g. a bridge slot: no extra copy)."""
        np.add(self._diag, self.count & 63, out=self._index)
        np.bitwise_and(self._index, 63, out=self._index)
        np.take(self._lut, self._index, axis=0, out=out)
        np.multiply(out, self._disc, out=out)  # transparent outside, premultiplied: rgb = 0 too
        self._draw_yaw(out, request.camera_yaw())
        if request.kind == P.PoseKind.JOINTS and request.joints is not None:
            self._draw_joints(out, request)
        elif request.kind == P.PoseKind.CLIP:
            self._draw_clip(out, request)
        self._draw_id(out, request.request_id)
        if self.checksum:
            stamp(out, self.count)
        self.count += 1

    def _inside(self, xs: np.ndarray, ys: np.ndarray):
        xs, ys = np.round(xs).astype(np.int64), np.round(ys).astype(np.int64)
        ok = (xs >= 0) & (xs < self.width) & (ys >= 0) & (ys < self.height)
        return ys[ok], xs[ok]

    def _draw_yaw(self, out, yaw: float) -> None:
        if yaw != self._needle_yaw:  # the camera rarely moves every frame: cache the needle's pixels
            cx, cy = self._centre
            t = np.linspace(0, self._radius, max(2, int(self._radius)))[None]
            d = np.array([[-1.0], [0.0], [1.0]])  # 3 px wide
            self._needle = self._inside(cx + t * np.sin(yaw) + d * np.cos(yaw), cy - t * np.cos(yaw) + d * np.sin(yaw))
            self._needle_yaw = yaw
        out[self._needle] = self._yellow

    def _draw_joints(self, out, request: P.PoseRequest) -> None:
        pos = np.concatenate([request.joints[:, :3, 3], np.ones((len(request.joints), 1), np.float32)], 1)
        clip = pos @ (request.camera_proj @ request.camera_view).T
        w = clip[:, 3]
        vis = w > 1e-6
        ndc = clip[vis, :2] / w[vis, None]
        px = (ndc[:, 0] * 0.5 + 0.5) * (self.width - 1)
        py = (0.5 - ndc[:, 1] * 0.5) * (self.height - 1)  # row 0 = top
        out[self._inside(np.round(px)[:, None] + self._dot[:, 0], np.round(py)[:, None] + self._dot[:, 1])] = self._red

    def _draw_clip(self, out, request: P.PoseRequest) -> None:
        colour = np.frombuffer(zlib.crc32(request.clip_name.encode()).to_bytes(4, "little"), np.uint8)[:3] / 255
        n = int((request.clip_time % 1.0) * self.width)
        h0 = self.height - max(2, self.height // 16)
        out[h0:, :n] = self._convert(np.array([*colour, 1.0]))

    def _draw_id(self, out, request_id: int) -> None:
        b = self._id_block
        bits = (request_id >> np.arange(16)) & 1
        row = np.where(bits[:, None].astype(bool), self._white, self._black)  # [16, 4]
        n = min(16, self.width // b)
        out[0:b, :n * b] = np.repeat(row[:n], b, axis=0)[None]


def _crc_before_stamp(frame: np.ndarray) -> int:
    """CRC-32 of the frame's bytes in tight row order (what readers copy), without the last 8."""
    if frame.flags.c_contiguous:
        return zlib.crc32(frame.reshape(-1).view(np.uint8)[:-8])
    crc = 0
    for y in range(frame.shape[0] - 1):  # padded rows: row by row, skipping the padding
        crc = zlib.crc32(np.ascontiguousarray(frame[y]).view(np.uint8), crc)
    last = np.ascontiguousarray(frame[-1]).reshape(-1).view(np.uint8)
    return zlib.crc32(last[:-8], crc)


def stamp(frame: np.ndarray, count: int) -> None:
    """Write ``count`` (u32 LE) and the CRC-32 (u32 LE) of all bytes before them into the frame's last 8 bytes.

    ``frame`` may be a strided view (a bridge slot whose rows are padded): the
    stamp goes into the last row's pixels, never into a temporary copy.
    """
    last_row = frame[-1]  # [W, 4]: one row, contiguous even when the rows are padded
    tail = last_row.reshape(-1).view(np.uint8)
    if not np.shares_memory(tail, frame):
        raise ValueError("the frame's last row is not contiguous; cannot stamp it in place")
    crc = _crc_before_stamp(frame)
    tail[-8:] = np.frombuffer(struct.pack("<II", count & 0xFFFFFFFF, crc), np.uint8)


def check_stamp(frame: np.ndarray) -> int:
    """The counter stamped by ``TestPattern(checksum=True)``; ValueError if the CRC does not match."""
    count, crc = struct.unpack("<II", np.ascontiguousarray(frame[-1]).reshape(-1).view(np.uint8)[-8:].tobytes())
    if _crc_before_stamp(frame) != crc:
        raise ValueError(f"frame {count}: checksum mismatch (torn or corrupt frame)")
    return count
