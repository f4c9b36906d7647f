"""Two frames shaded at once (``RuntimeSpec(shade_workers=2)``, exact correspondences on
gl-lookup): the same frames as one shading thread, bit for bit and in order, and two
frames really in the backend at the same time; a band that moves shades as the whole
graph does."""
from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from conrt.errors import ConfigError
from conrt.runtime.app.frame_loop import Runtime, RuntimeSpec, build_runtime, choose_shade_workers

SIZE = 128
FRAMES = 6


def _inked(rt) -> None:
    """Shade as an inked look (the banded fusion): the sample sheet is judged unlit at 128²,
    inked at 256² (tests/runtime/test_fusion_band.py does the same)."""
    backend = rt.shader.backend
    cache = backend.cache
    backend.cache = dataclasses.replace(cache, look=dataclasses.replace(cache.look, inked=True))
    backend.prepare_views()
    assert backend._bands_on


def _frames(workers: int, hold=None) -> list:
    spec = RuntimeSpec(motion="walk", size=SIZE, context="egl", backend="gl-lookup", lookahead=True,
                       shade_workers=workers)
    with build_runtime(spec) as rt:
        _inked(rt)
        if hold is not None:
            hold(rt)
        return [(f.index, f.rgba.copy()) for f in rt.frames(FRAMES)], rt.shade_workers


def test_two_shading_threads_give_the_same_frames_in_order():
    inside = threading.Barrier(2, timeout=60)
    calls = []

    def hold(rt):  # the first two frames wait for each other inside the backend: both shade at once
        backend = rt.shader.backend
        infer = backend.shade_read  # the frame loop's entry: the correspondences as read back

        def both_at_once(*args):
            calls.append(threading.get_ident())
            if len(calls) <= 2:
                inside.wait()  # a BrokenBarrierError here: the frames were not shaded at once
            return infer(*args)

        backend.shade_read = both_at_once

    two, workers = _frames(2, hold=hold)
    assert workers == 2
    assert len(set(calls[:2])) == 2  # two threads
    one, workers = _frames(1)
    assert workers == 1
    default, workers = _frames("auto")
    assert workers == 2  # the default where every frame is taken in order (lookahead: render, bench)
    assert [i for i, _ in two] == list(range(FRAMES))
    for (_, a), (_, b), (_, c) in zip(one, two, default):
        assert np.array_equal(a, b), np.abs(a - b).max()
        assert np.array_equal(a, c), np.abs(a - c).max()
    assert max(rgba[..., 3].max() for _, rgba in two) > 0.5  # the character is there


def test_shade_workers_are_checked():
    for bad in (0, 3, "two", True):
        with pytest.raises(ConfigError, match="auto, 1 or 2"):
            RuntimeSpec(shade_workers=bad).check()
    with pytest.raises(ConfigError, match="realtime"):
        RuntimeSpec(shade_workers=2, realtime=True).check()
    spec = RuntimeSpec(motion="walk", size=64, context="egl", backend="gl-lookup")
    with pytest.raises(ConfigError, match="table"):  # two at once: exact correspondences only
        build_runtime(dataclasses.replace(spec, correspondence="table", shade_workers=2)).close()
    with build_runtime(spec) as rt:
        assert rt.shade_workers == 1  # the default where frames are not taken in order (lookahead off)
        for bad, why in ((3, "1 or 2"), (0, "1 or 2"), ("auto", "resolved by build_runtime")):
            with pytest.raises(ConfigError, match=why):
                Runtime(None, rt.raster, rt.shader, shade_workers=bad)
        with pytest.raises(ConfigError, match="realtime"):
            Runtime(None, rt.raster, rt.shader, realtime=True, shade_workers=2)


def test_the_default_per_mode():
    """shade_workers="auto" (the spec's default): 2 where every frame is taken in order and
    nobody steers (lookahead: render, bench) on a backend that can with exact correspondences;
    1 realtime (demo, bridge), unpipelined, in table mode, or on the torch fusion."""
    rule = dict(realtime=False, in_order=True, exact=True, concurrent=True)
    assert choose_shade_workers("auto", **rule) == 2
    for off in ({"realtime": True}, {"in_order": False}, {"exact": False}, {"concurrent": False}):
        assert choose_shade_workers("auto", **{**rule, **off}) == 1, off
    assert choose_shade_workers(1, **rule) == 1  # an explicit choice stands
    with pytest.raises(ConfigError, match="realtime"):
        choose_shade_workers(2, **{**rule, "realtime": True})
    spec = RuntimeSpec(motion="walk", size=64, context="egl", backend="gl-lookup")
    built = {"render/bench": dataclasses.replace(spec, lookahead=True),
             "demo": dataclasses.replace(spec, realtime=True, lookahead=True),
             "table": dataclasses.replace(spec, lookahead=True, correspondence="table"),
             "torch fusion": dataclasses.replace(spec, lookahead=True, backend_options={"fusion": "torch"}),
             "asked for one": dataclasses.replace(spec, lookahead=True, shade_workers=1)}
    got = {}
    for name, s in built.items():
        with build_runtime(s) as rt:
            got[name] = rt.shade_workers
    assert got == {"render/bench": 2, "demo": 1, "table": 1, "torch fusion": 1, "asked for one": 1}


def test_a_moving_band_leaves_nothing_of_the_last_one():
    """A band moved by 16 and 32 columns and back (its first column the finish graph's input)
    shades as the whole graph does, and the banded fusion shaded every frame."""
    spec = RuntimeSpec(motion="walk", size=SIZE, context="egl", backend="gl-lookup")
    with build_runtime(spec) as rt:
        _inked(rt)
        pose = rt.physics.step()
        rt.raster.render(pose, rt.raster.camera(pose))
        udp, (sampled, cover, gbuf) = rt.raster.read(), rt.raster.read_views()
        frames = [(np.roll(udp, k, 1), (np.roll(sampled, k, -1), np.roll(cover, k, -1), np.roll(gbuf, k, -1)))
                  for k in (0, 16, 32, 0, -16)]
        backend = rt.shader.backend
        backend.banded = False
        got = {False: [rt.shader.shade(u, v) for u, v in frames]}
        backend.banded = True
        for u, v in frames:  # each band width's graphs exported (a new width: the whole graph meanwhile)
            rt.shader.shade(u, v)
            backend.wait_for_exports()
        ran = []
        infer_band = backend._infer_band
        backend._infer_band = lambda *a: ran.append(infer_band(*a)) or ran[-1]
        try:
            got[True] = [rt.shader.shade(u, v) for u, v in frames]
        finally:
            del backend._infer_band
        assert len(ran) == len(frames) and all(r is not None for r in ran)  # the banded fusion shaded them all
        for a, b in zip(got[False], got[True]):
            assert np.array_equal(a, b), np.abs(a - b).max()
