"""The frame loop behind ``conrt bridge``: latest pose request -> frame source -> ring.

A frame source is any callable ``frame_source(request: PoseRequest) ->
[H, W, 4]`` premultiplied RGBA (uint8, or float16/float32 in 0..1). If it
also has ``render_into(request, out)`` the server lets it draw straight into
the shared-memory slot (no copy). ``run_bridge`` is the hook: build a source
(``TestPattern``, ``runtime_frame_source(...)``, your own) and pass it in.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from conrt.errors import BridgeProtocolError, ConfigError, ConrtError

from . import protocol as P
from .transport import Transport, open_transport

log = logging.getLogger(__name__)

FrameSource = Callable[[P.PoseRequest], np.ndarray]


class _Warnings:
    """At most ``burst`` warnings per ``window`` seconds; the rest are counted and
    summed up in one line when the window ends (an engine sending a bad request
    every frame must not flood the log; the exit summary has the total)."""

    def __init__(self, burst: int = 5, window: float = 10.0):
        self.burst, self.window = burst, window
        self.start, self.shown, self.hidden = 0.0, 0, 0

    def warn(self, msg: str, *args) -> None:
        now = time.monotonic()
        if now - self.start > self.window:
            self.flush()
            self.start, self.shown = now, 0
        if self.shown < self.burst:
            self.shown += 1
            log.warning(msg, *args)
        else:
            self.hidden += 1

    def flush(self) -> None:
        if self.hidden:
            log.warning("%d more bad pose requests in the last %.0f s (not shown one by one)", self.hidden,
                        self.window)
            self.hidden = 0


@dataclass(frozen=True)
class ServeStats:
    frames: int
    seconds: float
    bad_requests: int

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def serve(transport: Transport, frame_source: FrameSource, *, fps: float = 60.0, max_frames: int | None = None,
          duration: float | None = None, stop: threading.Event | None = None) -> ServeStats:
    """Shade the latest request, publish, repeat; ``fps <= 0`` runs as fast as the source allows.

    A bad request never stops the loop and is never echoed as shaded: the
    transport rejects what breaks the protocol's rules, the frame source's
    optional ``check_request(request)`` what it cannot shade (unknown clip,
    ...). Each bad request is counted and warned about once; frames keep
    showing the last good request, with its id.
    """
    period = 1.0 / fps if fps and fps > 0 else 0.0
    into = getattr(frame_source, "render_into", None)
    zero_copy = getattr(transport, "frame", None) if into is not None else None
    check = getattr(frame_source, "check_request", None)
    t0 = next_t = time.monotonic()
    frames = bad = 0
    good, rejected = None, None
    warnings = _Warnings()
    while True:
        if stop is not None and stop.is_set():
            break
        if max_frames is not None and frames >= max_frames:
            break
        now = time.monotonic()
        if duration is not None and now - t0 >= duration:
            break
        try:
            request = transport.poll_request()
        except BridgeProtocolError as exc:  # raised once per bad request; then the transport keeps the last good one
            bad += 1
            warnings.warn("ignoring bad pose request: %s", exc)
            request = transport.poll_request()
        if request is rejected:
            request = good
        elif request is not good:
            try:
                if check is not None:
                    check(request)
                good = request
            except ConrtError as exc:  # InputError, ConfigError, BridgeProtocolError, ...
                bad += 1
                rejected = request
                warnings.warn("ignoring pose request %d: %s; keeping request %d", request.request_id, exc,
                              good.request_id if good is not None else 0)
                request = good = good if good is not None else P.PoseRequest()
        start = time.monotonic_ns()
        if zero_copy is not None:
            with zero_copy(request, start) as slot:
                into(request, slot)
        else:
            transport.publish(frame_source(request), request, start)
        frames += 1
        if period:
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -period:
                next_t = time.monotonic()  # fell behind: do not try to catch up in a burst
    warnings.flush()
    # plus the requests the source found bad only while shading (counted once each by the source)
    return ServeStats(frames, time.monotonic() - t0, bad + int(getattr(frame_source, "bad_requests", 0)))


def run_bridge(frame_source: FrameSource, name: str | None = None, width: int = 256, height: int = 256,
               pixel_format: P.PixelFormat | str = P.PixelFormat.RGBA8, slot_count: int = 3,
               on_ready: Callable[[Transport], None] | None = None, transport: str = "shm",
               transport_options: dict | None = None, **serve_kw) -> ServeStats:
    """Open a bridge (``transport``: a registered kind, shared memory by default),
    serve ``frame_source`` into it, clean up. The runtime's hook.

    A frame source with a ``joint_count`` attribute (its character's joints)
    puts it in the header (``skeleton_joints``): JOINTS requests must send
    exactly that many matrices.
    """
    joints = int(getattr(frame_source, "joint_count", 0) or 0)
    bridge = open_transport(transport, name=name, width=width, height=height, pixel_format=pixel_format,
                            slot_count=slot_count, max_joints=max(256, joints), skeleton_joints=joints,
                            **(transport_options or {}))
    try:
        if on_ready is not None:
            on_ready(bridge)
        return serve(bridge, frame_source, **serve_kw)
    finally:
        bridge.close()


def runtime_frame_source(width: int, height: int, dtype=np.uint8, **kw) -> FrameSource:
    """The CoNR runtime as a frame source (``conrt.runtime.app.bridge_source``).

    ``kw``: character, sheet, weights, backend, context (see RuntimeFrameSource).
    Frames are square; the runtime renders ``width`` x ``width``.
    """
    if width != height:
        raise ConfigError(f"the runtime renders square frames, got {width}x{height}")
    from conrt.runtime.app.bridge_source import RuntimeFrameSource  # lazy: torch; the test source and the readers need none

    return RuntimeFrameSource(width, dtype, **kw)
