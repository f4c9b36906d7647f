"""The banded fusion (runtime/backends/fusion_graph.py ``FusionViewsGraph`` /
``FusionFinishGraph``, the gl-lookup backend's ``_infer_band``): the views' half of
the fusion graph and the finish run on the columns the character covers (the
finish's refinement below its top level on the whole frame). On real
exact-correspondence frames of the default runtime they must give the whole
graph's frame on those columns bit for bit (fused colour and coverage are exactly
0 where no view covers, and the band reaches past the scores' reach), and the
runtime's frame (clipped to the UDP's alpha) everywhere."""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest

from conrt.runtime.backends.fusion_graph import BAND_HANDOVER, BAND_REACH, band_columns
from conrt.runtime.backends.gl_lookup_backend import export_finish_onnx, export_views_onnx
from conrt.runtime.backends.onnx_backend import open_session
from conrt.runtime.nn.sheet import prepare_udp

SIZE = 128


def test_band_columns_hold_the_covered_columns_and_the_reach():
    size, s, step = 128, 2, 16
    alpha, cover = np.zeros((size, size), np.float32), np.zeros((3, size, size), np.float32)
    alpha[10:90, 51:70] = 1.0
    cover[2, 40:50, 47] = 0.3  # a view covering a column the target alpha does not (seen from there)
    x0, width = band_columns(alpha, cover, size, s, step)
    assert x0 % s == 0 and width % step == 0 and 0 <= x0 and x0 + width <= size
    assert x0 <= 47 - BAND_REACH * s and x0 + width >= 70 + BAND_REACH * s  # both sides' reach
    assert width < size
    # nothing covered, or the band would be the whole frame: None (the whole graph)
    assert band_columns(np.zeros_like(alpha), np.zeros_like(cover), size, s, step) is None
    wide = np.zeros_like(alpha)
    wide[:, 5:120] = 1.0
    assert band_columns(wide, cover, size, s, step) is None
    # at the frame's edge the band stops there (the whole graph pads there too)
    edge = np.zeros_like(alpha)
    edge[:, 0:20] = 1.0
    x0, width = band_columns(edge, np.zeros_like(cover), size, s, step)
    assert x0 == 0 and width >= 20 + BAND_REACH * s


@pytest.fixture(scope="module")
def runtime_frames(default_walk_frames):
    """(the default runtime, [(udp [H, W, 4], (sampled, cover, gbuf))]) at 128², 3 walk frames (conftest)."""
    return default_walk_frames


@contextlib.contextmanager
def judged_inked(backend):
    """The backend's sheet judged inked while in the block (the sample sheet is judged unlit at
    128², where only the whole graph runs; inked, as at 256², the band graph may), then as it was."""
    cache = backend.cache
    try:
        backend.cache = dataclasses.replace(cache, look=dataclasses.replace(cache.look, inked=True))
        backend.prepare_views()
        yield
    finally:
        backend.banded = True
        backend.cache = cache
        backend.prepare_views()


def test_the_graph_halves_are_the_whole_graph(runtime_frames, fusion_onnx, tmp_path):
    """The views' graph and the finish graph on the band (``export_finish_onnx`` with its width,
    the band's first column an input): the whole graph's frame on the band's columns, bit for bit
    (the finish's refinement below its top level and the fill's pyramid run on the whole frame,
    their inputs 0 off the band as the whole graph's; its top level, the full-size resize and the
    per-pixel rules on the band and the columns their convs reach). Also with the first frame
    moved so that the band starts at the frame's left edge and ends at its right one: there the
    convs and resizes meet the frame's edge as the whole graph's do."""
    rt, frames = runtime_frames
    model = rt.shader.backend.model
    views = frames[0][1][0].shape[0]
    whole = open_session(fusion_onnx(True, True), 1)
    sessions = {}
    names = [name for name, _ in BAND_HANDOVER]
    for i, (udp, (sampled, cover, gbuf)) in enumerate(frames):
        x, _ = prepare_udp(udp, SIZE, False)
        feeds = {"sampled": sampled[None], "cover": cover[None], "udp": x}
        x0, width = band_columns(x[0, 3], cover[:, 0], SIZE, model.fusion.score_scale, 16)
        assert width <= SIZE - 32  # the walk leaves a quarter of the columns uncovered: a real band
        if width not in sessions:
            sessions[width] = (
                open_session(export_views_onnx(model, tmp_path / f"v{width}.onnx", SIZE, width, views), 1),
                open_session(export_finish_onnx(model, tmp_path / f"f{width}.onnx", SIZE, width=width), 1))
        part, finish = sessions[width]
        for first in (x0, 0, SIZE - width) if i == 0 else (x0,):
            # (moved: np.roll brings in the columns that nothing covers, all 0)
            moved = {k: np.roll(v, first - x0, -1) for k, v in {**feeds, "gbuf": gbuf[None]}.items()}
            cols = slice(first, first + width)
            band = part.run(names, {k: np.ascontiguousarray(moved[k][..., cols]) for k in feeds})
            got = finish.run(None, {**dict(zip(names, band)), "gbuf": np.ascontiguousarray(moved["gbuf"][..., cols]),
                                    "first": np.array([first], np.int64)})[0]
            want = whole.run(None, moved)[0]
            assert np.array_equal(got, want[..., cols]), (first, np.abs(got - want[..., cols]).max())
            assert want[0, 3].max() > 0.5  # the character is there


def test_the_backend_shades_the_band_as_the_whole_frame(runtime_frames):
    """The gl-lookup backend with the banded fusion on and off: the same frames, bit
    for bit, and the band graph was the one that ran. The sample sheet is judged
    unlit at 128² (whole graph only): judged inked here, as it is at 256²."""
    rt, frames = runtime_frames
    shader, backend = rt.shader, rt.shader.backend
    assert backend.session is None  # exact correspondences only: the table's graph never exported nor opened
    with judged_inked(backend):
        assert backend._bands_on
        got = {}
        for banded in (False, True):
            backend.banded = banded
            got[banded] = [shader.shade(udp, views) for udp, views in frames]
        assert backend._bands and None not in backend._bands.values()  # the band graph ran
        for a, b in zip(got[False], got[True]):
            assert np.array_equal(a, b), np.abs(a - b).max()


@pytest.fixture(scope="module")
def box_reads(runtime_frames):
    """3 more walk frames of the same runtime as the frame loop hands them to the shader:
    [(udp, ViewsRead, (sampled, cover) as ``read_views`` lays them out)]."""
    rt, _ = runtime_frames
    out = []
    for _ in range(3):
        pose = rt.physics.step()
        rt.raster.render(pose, rt.raster.camera(pose))
        out.append((rt.raster.read().copy(), rt.raster.read_views_box(),
                    tuple(x.copy() for x in rt.raster.read_views())))
    return out


def test_the_read_back_lays_out_any_columns_as_the_whole_read(box_reads):
    """``ViewsRead`` (the frame loop's read-back, laid out on the shading thread): its whole
    arrays and any band of columns (inside, across and outside the covered box) are
    ``read_views``' arrays, bit for bit; its covered columns (the box's) hold every column
    with a view's ``cover`` > 0."""
    from conrt.errors import InputError

    for _, read, (sampled, cover, gbuf) in box_reads:
        got = read.arrays()
        assert np.array_equal(read.gbuf_columns(0, SIZE), gbuf)  # the target's G-buffer, off the box too
        assert np.array_equal(got[0], sampled) and np.array_equal(got[1], cover)
        assert 0 < read.cols.start and read.cols.stop < SIZE  # the walk: a box narrower than the frame
        box = read.cols
        for first, end in ((0, SIZE), (box.start + 3, box.stop - 5), (0, box.start + 1), (box.stop - 2, SIZE),
                           (0, max(1, box.start - 1)), (box.start - 1, box.stop + 1)):
            s, c = read.columns(first, end)
            assert s.flags.c_contiguous and c.flags.c_contiguous
            assert np.array_equal(s, sampled[..., first:end]) and np.array_equal(c, cover[..., first:end])
            assert np.array_equal(read.gbuf_columns(first, end), gbuf[..., first:end])
        covered, seen = read.covered_columns(), (cover[:, 0] > 0).any(1).any(0)
        assert seen.any() and not (seen & ~covered).any()  # every column a view covers, ...
        assert np.array_equal(np.flatnonzero(covered), np.arange(box.start, box.stop))  # ... the box's
        s, c, g = read  # unpacks as read_views' triple
        assert np.array_equal(s, sampled) and np.array_equal(c, cover) and np.array_equal(g, gbuf)
    with pytest.raises(InputError, match="expected 0 <= first < end"):
        box_reads[0][1].columns(10, 10)


def test_the_band_from_the_read_back_is_the_whole_graph(runtime_frames, box_reads):
    """The frame loop's path (``ShadeStage.shade`` given the ``ViewsRead``: the band's columns
    laid out straight from the read-back) against the whole graph on ``read_views``' arrays:
    the same frames bit for bit, and the band graph ran."""
    rt, _ = runtime_frames
    shader, backend = rt.shader, rt.shader.backend
    with judged_inked(backend):
        backend.banded = False
        want = [shader.shade(udp, views) for udp, _, views in box_reads]
        backend.banded = True
        # these frames' band may be a width whose graph the frames before only started exporting
        backend.wait_for_exports()
        banded = []  # per frame: whether the band graph shaded it (a width's graph may still be exported)
        infer_band = backend._infer_band
        backend._infer_band = lambda *a: banded.append(infer_band(*a)) or banded[-1]
        try:
            got = [shader.shade(udp, read) for udp, read, _ in box_reads]
        finally:
            del backend._infer_band
        assert banded[0] is not None  # the first band of a sheet waits for its graph; the others were waited for
        for a, b in zip(want, got):
            assert np.array_equal(a, b), np.abs(a - b).max()
            assert a[..., 3].max() > 0.5
            # the band pasted into the frame as it is handed on (session 14): an array of its own
            assert b.flags.owndata and b.flags.c_contiguous and b.shape == (SIZE, SIZE, 4)


def test_band_graphs_beyond_the_kept_number_close_the_least_recently_used(runtime_frames, monkeypatch):
    """``BAND_SESSIONS``: each open band graph holds its own ONNX Runtime arena, so beyond that
    many the least recently used is closed; a frame that needs it again opens it again (from the
    graph cache) and the whole graph shades it meanwhile."""
    from conrt.runtime.backends import gl_lookup_backend

    rt, _ = runtime_frames
    backend = rt.shader.backend
    monkeypatch.setattr(gl_lookup_backend, "BAND_SESSIONS", 1)
    with judged_inked(backend):
        backend._bands, backend._band_jobs = {}, {}  # a sheet's first band, whatever ran before
        step, width = 8, 64
        assert backend._band_session(width, step) is not None  # the first band waits for its graph
        backend.wait_for_exports()  # its neighbours', started with it
        assert backend._band_session(width + step, step) is not None
        assert list(backend._bands) == [width + step]  # one kept: the other closed
        assert backend._band_session(width, step) is None  # opened again in the background
        backend.wait_for_exports()
        assert backend._band_session(width, step) is not None and list(backend._bands) == [width]
