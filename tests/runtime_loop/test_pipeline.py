"""The pipelined loop: every frame delivered in order, shading of frame t
overlaps physics/raster of frame t+1, a slow consumer never blocks the producer."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from conrt.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def runtime_parts(user_character, user_sheet, xs_model):
    from conrt.runtime.app.session import load_character_source, load_sheet_source

    images, _ = load_sheet_source(user_sheet)
    return load_character_source(user_character), images, xs_model


def _runtime(parts, size, realtime=False, pending=1):
    from conrt.runtime.app.frame_loop import PhysicsStage, RasterStage, Runtime, ShadeStage

    character, images, model = parts
    shader = ShadeStage(model, images, size, backend="torch")
    return Runtime(PhysicsStage(character, "walk"), RasterStage(character, size, context="egl"), shader,
                   realtime=realtime, pending=pending)


def test_frames_in_order_and_stages_overlap(runtime_parts):
    # 128 px: shading clearly dominates, as it does at real sizes
    with _runtime(runtime_parts, 128) as rt:
        frames = list(rt.frames(6))
    assert [f.index for f in frames] == list(range(6))
    times = [f.time for f in frames]
    assert times == sorted(times) and len(set(times)) == 6
    for f in frames:
        s = f.stats
        assert s.physics_ms > 0 and s.raster_ms > 0 and s.readback_ms >= 0 and s.shade_ms > 0
        assert s.raster_start <= s.raster_end <= s.shade_start <= s.shade_end  # a frame's own stages in order
    # while frame t was being shaded, the producer stepped physics and
    # rasterized a later frame (t+1, or t+2 once the one-frame slot is full)
    def producer(f):
        return f.stats.raster_start - f.stats.physics_ms / 1e3, f.stats.raster_end

    def overlapped(t):
        a = frames[t].stats
        return any(producer(b)[0] < a.shade_end and a.shade_start < producer(b)[1] for b in frames[t + 1:t + 3])

    overlaps = [overlapped(t) for t in range(4)]
    assert sum(overlaps) >= 3, overlaps
    rasters = [any(b.stats.raster_start < frames[t].stats.shade_end and frames[t].stats.shade_start < b.stats.raster_end
                   for b in frames[t + 1:t + 3]) for t in range(4)]
    assert any(rasters), rasters
    assert frames[-1].stats.fps > 0
    d = frames[-1].stats.as_dict()
    assert set(d) == {"fps", "physics_ms", "raster_ms", "readback_ms", "shade_ms", "output_ms"}


def test_slow_consumer_does_not_block_the_producer(runtime_parts):
    """Realtime mode: the consumer takes a frame now and then and sleeps; the
    producer keeps producing at its own pace, older frames are dropped, the
    consumer always gets newer frames."""
    with _runtime(runtime_parts, 64, realtime=True) as rt:
        got, stop = [], threading.Event()

        def consumer():
            while not stop.is_set():
                f = rt.latest()
                if f is not None:
                    got.append(f.index)
                time.sleep(0.4)  # a slow consumer (e.g. a stalled engine)

        th = threading.Thread(target=consumer)
        th.start()
        waits = []
        try:
            for _ in range(12):
                t = time.perf_counter()
                rt.produce()
                waits.append(time.perf_counter() - t)
        finally:
            stop.set()
            th.join()
        # drain: the newest frame arrives
        deadline = time.time() + 60
        last = None
        while time.time() < deadline and (last is None or last.index < 11):
            f = rt.next(timeout=1.0)
            last = f or last
        dropped = rt.dropped
    assert rt.last_produced.index == 11  # the producer made every frame
    assert dropped > 0  # ... and the slow consumer cost frames, not producer time
    assert got == sorted(got) and len(set(got)) == len(got)
    assert len(got) < 12
    assert last is not None and last.index == 11


def test_mailbox_policies():
    from conrt.runtime.app.frame_loop import _Mailbox

    box = _Mailbox(2)
    for i in range(5):
        box.put(i, drop_oldest=True)  # never blocks
    assert box.dropped == 3 and box.get(0) == 3 and box.get(0) == 4 and box.get(0) is None

    lossless = _Mailbox(1)
    lossless.put("a", drop_oldest=False)
    done = threading.Event()

    def put_b():
        lossless.put("b", drop_oldest=False)  # waits for room
        done.set()

    th = threading.Thread(target=put_b)
    th.start()
    assert not done.wait(0.2)  # blocked: the slot is full
    assert lossless.get(1) == "a"
    assert done.wait(5)
    th.join()
    assert lossless.get(1) == "b" and lossless.dropped == 0

    latest = _Mailbox(3)
    for i in range(3):
        latest.put(i, drop_oldest=True)
    assert latest.get_latest() == 2 and latest.dropped == 2 and len(latest) == 0


def test_runtime_checks(runtime_parts):
    from conrt.runtime.app.frame_loop import PhysicsStage, RasterStage, Runtime, ShadeStage

    character, images, model = runtime_parts
    shader = ShadeStage(model, images, 64, backend="torch")
    raster = RasterStage(character, 128, context="egl")
    physics = PhysicsStage(character, "idle")
    try:
        with pytest.raises(ConfigError, match="128 px but the shader runs at 64"):
            Runtime(physics, raster, shader)
        with pytest.raises(ConfigError, match="pending"):
            Runtime(physics, raster, shader, pending=5)
    finally:
        raster.close()
        physics.close()
    with _runtime(runtime_parts, 64) as rt:
        with pytest.raises(ConfigError, match=">= 1"):
            next(rt.frames(0))
    with pytest.raises(InputError, match="closed"):
        rt.produce()
