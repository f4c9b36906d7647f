"""A sheet's own ink (shaders/sheet_ink.py ``estimate_ink``, session 14): estimated once per
inked sheet from its views and their surface maps, and the target's lines drawn with it
(``lookup_net.toon_line``'s radius and inner lines, ``ink_lines``' colour law) in every
backend: FusionNet (torch), the whole ONNX graph and the banded halves (gl-lookup).

The sheets are drawn by our toon pass in other inks (``shaders.toon_pass.INK_STYLE_NAMES``):
the ground truth of what the estimate should find."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conrt.runtime.backends.fusion_graph import BAND_HANDOVER, FastFusionGraph, band_columns
from conrt.runtime.backends.gl_lookup_backend import (export_finish_onnx, export_fusion_onnx, export_views_onnx,
                                                      takes_input)
from conrt.runtime.backends.onnx_backend import open_session
from conrt.runtime.nn.lookup_net import toon_line
from conrt.runtime.nn.sheet import prepare_udp
from conrt.shaders.sheet_ink import LINE_FROM, TOON_INK, SheetInk, estimate_ink, judge_ink
from conrt.shaders.toon_pass import BROWN_INK, TRACE_INK, ToonStyle, named_style

SIZE = 128
ROUNDING_FACTOR = 4.0  # as tests/runtime/test_fusion_graph.py: the graph within 4x FusionNet's own float32 error
# not ours: a fixed brown pen, lines 2 px per 256 (radius 2 at 128²: max(1, 128/256) x 2), no inner lines;
# and a lighter darkening at our width with inner lines
OTHER_INKS = (SheetInk("fixed", BROWN_INK, 2.0, False), SheetInk("darken", (0.3, 0.22, 0.22), 1.0, True))


def _sheet_ink(model, frame, sheet_ink, dtype) -> np.ndarray:
    fusion = model.fusion.to(dtype)
    try:
        sampled, cover, udp, gbuf = (torch.from_numpy(x).to(dtype) for x in frame)
        with torch.no_grad():
            return fusion(sampled, cover, model.encode_pose(udp)[0], keep_seen=True,
                          ink=torch.tensor([1.0], dtype=dtype), gbuf=gbuf, sheet_ink=sheet_ink).double().numpy()
    finally:
        model.fusion.float()


def feeds(session, frame) -> dict:
    """The frame's arrays by the graph's inputs (a silhouette-only ink's graph reads no G-buffer)."""
    wanted = {i.name for i in session.get_inputs()}
    return {k: v for k, v in zip(["sampled", "cover", "udp", "gbuf"], frame) if k in wanted}


@pytest.fixture(scope="module")
def frames(default_walk_frames):
    rt, walk = default_walk_frames
    model = rt.shader.backend.source_model
    return model, [(s[None].copy(), c[None].copy(), prepare_udp(udp, SIZE, False)[0], g[None].copy())
                   for udp, (s, c, g) in walk]


@pytest.mark.parametrize("sheet_ink", OTHER_INKS, ids=lambda k: k.key())
def test_the_graphs_draw_the_sheet_ink_as_fusionnet(frames, sheet_ink, tmp_path):
    """The whole ONNX graph (and its torch module) with a sheet's own ink: FusionNet's frame to its
    own float32 rounding (``ROUNDING_FACTOR``), and not our toon pass's frame (the ink changes the
    lines); the banded halves (views' graph, finish on the band) the whole graph's, bit for bit."""
    model, got = frames
    views = got[0][0].shape[1]
    session = open_session(export_fusion_onnx(model, tmp_path / "whole.onnx", SIZE, views, True, True,
                                              sheet_ink=sheet_ink), 1)
    names = ["sampled", "cover", "udp"]
    for frame in got:
        truth = _sheet_ink(model, frame, sheet_ink, torch.float64)
        own = np.abs(_sheet_ink(model, frame, sheet_ink, torch.float32) - truth).max()
        assert 0 < own < 1e-4
        with torch.no_grad():
            fast = FastFusionGraph(model, True, True, sheet_ink=sheet_ink)(
                *(torch.from_numpy(x) for x in frame)).double().numpy()
        onnx = session.run(["rgba"], feeds(session, frame))[0]
        for out in (fast, onnx):
            assert np.abs(out - truth).max() <= ROUNDING_FACTOR * own, (np.abs(out - truth).max(), own)
        ours = _sheet_ink(model, frame, TOON_INK, torch.float64)
        assert np.abs(truth - ours).max() > 0.05  # the sheet's ink is not ours on these frames
    # the banded halves: the whole graph's frame on the band's columns, bit for bit
    sampled, cover, udp, gbuf = got[0]
    x0, width = band_columns(udp[0, 3], cover[0, :, 0], SIZE, model.fusion.score_scale, 16)
    part = open_session(export_views_onnx(model, tmp_path / "v.onnx", SIZE, width, views), 1)
    finish = open_session(export_finish_onnx(model, tmp_path / "f.onnx", SIZE, width=width, sheet_ink=sheet_ink), 1)
    cols = slice(x0, x0 + width)
    band = part.run([n for n, _ in BAND_HANDOVER], {k: np.ascontiguousarray(v[..., cols])
                                                    for k, v in zip(names, (sampled, cover, udp))})
    handover = {**dict(zip([n for n, _ in BAND_HANDOVER], band)), "first": np.array([x0], np.int64)}
    if takes_input(finish, "gbuf"):  # inner lines or the part fill read it: fed as the backend feeds it
        handover["gbuf"] = np.ascontiguousarray(gbuf[..., cols])
    out = finish.run(None, handover)[0]
    want = session.run(None, feeds(session, got[0]))[0]
    assert np.array_equal(out, want[..., cols])


def test_the_lines_follow_the_sheet_width_and_inner_lines(frames):
    """``toon_line``: ours is the rule before (``SheetInk`` left out: the same pixels); without
    inner lines only the silhouette's (covered pixels with the background within the radius), a
    subset of ours and fewer; a wider pen's lines hold the narrower's."""
    _, got = frames
    _, _, udp, gbuf = (torch.from_numpy(x) for x in got[0])
    alpha = udp[:, 3:4]
    ours = toon_line(gbuf, alpha)
    assert torch.equal(ours, toon_line(gbuf, alpha, TOON_INK))
    silhouette = toon_line(gbuf, alpha, SheetInk(inner=False))
    assert bool((silhouette <= ours).all()) and 0 < silhouette.sum() < ours.sum()
    inside = torch.nn.functional.max_pool2d((alpha <= 0.5).float(), 3, 1, 1) * (alpha > 0.5).float()
    assert bool((silhouette <= inside).all())  # 1 px: beside the background only
    wide = toon_line(gbuf, alpha, SheetInk(width=3.0))
    assert bool((ours <= wide).all()) and wide.sum() > 1.5 * ours.sum()


INK_STYLES = ("toon", "brown-ink", "trace-ink", "thick-ink", "silhouette-ink")
INKLESS_STYLES = ("unlit", "no-outline")


@pytest.fixture(scope="module")
def drawn_sheets():
    """{style: (surface [4, S, S, 4], reference [4, S, S, 4] premultiplied)}: one unseen procedural
    character's 4-view turnaround at 256² in our toon ink, each of the other inks and our inkless
    looks, the views' UDPs as their surface maps (as udp-nn correspondences take them)."""
    from conrt.training.evaluate import characters_from_seeds

    out = {}
    for style in INK_STYLES + INKLESS_STYLES:
        c = characters_from_seeds([900000], 1, 256, progress=False, style=style, sheet_poses="turnaround",
                                  sheet_views=4)[0]
        rgba = c.rgba[list(c.sheet)].astype(np.float32) / 255
        out[style] = (c.udp[list(c.sheet)].astype(np.float32),
                      np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], -1))
    return out


def test_the_estimate_finds_the_ink_a_sheet_was_drawn_with(drawn_sheets):
    """Tolerances: a fixed pen's pixels hold its colour to the 8-bit sheet's 1/255, the estimate is
    rounded to 0.01 (half of it); a darkening law is fitted against the fill ``FILL_DEPTH`` px
    inside, which can be lit where the silhouette's pixel is in deep shade (the toon pass's
    ``deep_multiplier`` x its darkest ``shade_tint`` channel): the estimate lies between the law
    times that and the law (+ the rounding); the width in steps of 0.5 px: exact on 1 and 3 px pens."""
    found = {style: estimate_ink(*drawn_sheets[style]) for style in INK_STYLES}
    assert found["toon"].is_toon  # our toon pass's own: the rule before, to the bit
    brown = found["brown-ink"]
    assert brown.law == "fixed" and np.abs(np.subtract(brown.colour, BROWN_INK)).max() <= 0.005 + 1 / 255
    style = ToonStyle()
    darkest = style.deep_multiplier * min(style.shade_tint + style.skin_shade_tint)
    trace = found["trace-ink"]
    assert trace.law == "darken" and not trace.is_toon
    assert np.all(np.asarray(trace.colour) >= darkest * np.asarray(TRACE_INK) - 0.005)
    assert np.all(np.asarray(trace.colour) <= np.asarray(TRACE_INK) + 0.005)
    assert found["thick-ink"].width == named_style("thick-ink", 256).line_width == 3.0
    assert all(found[s].width == 1.0 for s in ("toon", "brown-ink", "trace-ink", "silhouette-ink"))
    assert not found["silhouette-ink"].inner  # the silhouette only: no inner lines drawn
    assert all(found[s].inner for s in ("toon", "brown-ink", "trace-ink", "thick-ink"))


def test_a_sheet_conrt_sheet_drew_keeps_our_ink(assets_dir):
    """The sample sheet (``conrt sheet``, our toon pass at 256²) with its views' UDPs: our toon
    pass's ink (``TOON_INK``: the graphs and frames as before session 14)."""
    from conrt.runtime.app.session import load_sheet, load_sheet_udps
    from conrt.runtime.defaults import SAMPLE_SHEET_DIR as SAMPLE_SHEET

    sheet = load_sheet(SAMPLE_SHEET)
    udps = load_sheet_udps(SAMPLE_SHEET)
    rgba = np.stack(sheet.images).astype(np.float32) / 255
    reference = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], -1)
    ink = estimate_ink(np.stack(udps).astype(np.float32), reference)
    assert ink.is_toon and ink.key() == "", ink


def test_the_backend_shades_a_silhouette_only_ink_banded_as_whole(default_walk_frames):
    """The gl-lookup backend with a sheet's own ink (``SheetCache.with_ink``): a silhouette-only ink's
    graphs read no G-buffer and the backend feeds none; the banded fusion gives the whole graph's
    frames, bit for bit, and they differ from our ink's (no inner lines)."""
    import dataclasses

    rt, walk = default_walk_frames
    shader, backend = rt.shader, rt.shader.backend
    cache = backend.cache
    inked = dataclasses.replace(cache, look=dataclasses.replace(cache.look, inked=True))
    got = {}
    try:
        for sheet_ink in (TOON_INK, SheetInk(inner=False)):
            backend.cache = inked.with_ink(sheet_ink)
            backend.prepare_views()
            assert backend._seen_key[-1] == sheet_ink
            for banded in (False, True):
                backend.banded = banded
                backend.wait_for_exports()
                got[sheet_ink.key(), banded] = [shader.shade(udp, views) for udp, views in walk]
                if banded:  # the band graphs ran (the first band of a sheet waits for its graphs)
                    assert backend._bands and None not in backend._bands.values()
    finally:
        backend.banded = True
        backend.cache = cache
        backend.prepare_views()
    for key in ("", SheetInk(inner=False).key()):
        for a, b in zip(got[key, False], got[key, True]):
            assert np.array_equal(a, b), (key, np.abs(a - b).max())
    silhouette = got[SheetInk(inner=False).key(), False]
    assert max(np.abs(a - b).max() for a, b in zip(got["", False], silhouette)) > 0.05


def _ink_fraction_look(reference: np.ndarray):
    """The sheet's look by its ink fraction alone (``sheet.judge_look``: the rule before session 14)."""
    from conrt.runtime.nn.sheet import judge_look

    premul = torch.from_numpy(reference).permute(0, 3, 1, 2)[None]
    return judge_look(premul[:, :, :3], premul[:, :, 3:])


def test_a_light_pen_is_judged_inked_by_its_line(drawn_sheets):
    """Seed 900000's brown-pen turnaround: its ink fraction (0.21) is under ``INK_THRESHOLD`` (the pen
    is lighter than half the fill's luma), the estimate's line (0.81) over ``LINE_FROM``: judged inked
    (``judge_ink``), in its brown pen. The same sheet judged inked by its fraction: the same ink."""
    surface, reference = drawn_sheets["brown-ink"]
    assert not _ink_fraction_look(reference).inked
    ink = judge_ink(False, surface, reference)
    assert ink is not None and ink.line >= LINE_FROM and ink.law == "fixed", ink
    assert np.abs(np.subtract(ink.colour, BROWN_INK)).max() <= 0.005 + 1 / 255  # as the estimate's test
    assert judge_ink(True, surface, reference) == ink


@pytest.mark.parametrize("style", INKLESS_STYLES)
def test_our_inkless_looks_stay_not_inked(drawn_sheets, style):
    """Unlit (flat texture, no ink) and no-outline (toon shade tones along the silhouette, no ink):
    not inked by their ink fraction, and no line found (line 0.02-0.12 and 0.23-0.37 on seeds
    900000-900003's turnaround and clip sheets, ``LINE_FROM`` 0.55): not inked, as before."""
    surface, reference = drawn_sheets[style]
    assert not _ink_fraction_look(reference).inked
    assert judge_ink(False, surface, reference) is None
    assert estimate_ink(surface, reference).line < LINE_FROM


@pytest.mark.parametrize("style", ("toon", "trace-ink"))
def test_a_sheet_inked_by_its_fraction_stays_inked(drawn_sheets, style):
    """A sheet the ink fraction judges inked is inked whatever its line (the rule only adds light pens):
    its ink the estimate's (ours on our toon sheet)."""
    surface, reference = drawn_sheets[style]
    assert _ink_fraction_look(reference).inked
    ink = judge_ink(True, surface, reference)
    assert ink == estimate_ink(surface, reference) and ink.line >= LINE_FROM
    assert ink.is_toon == (style == "toon")


def test_the_correspondence_pass_inks_a_light_pen_and_leaves_unlit_as_drawn(drawn_sheets, gl_ctx):
    """``CorrespondencePass.set_sheet(inked=False)`` (the ink fraction's look): the brown pen of seed
    900000 is inked after all (``inked``, its ``sheet_ink``: what the runtime's ``set_sheet_ink`` takes),
    the unlit sheet not (every texel as drawn: ``sheet_ink`` None, the resolve without the INKED weights)."""
    from conrt.characters.procedural import generate
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView

    side = drawn_sheets["unlit"][0].shape[1]
    cp = CorrespondencePass(gl_ctx, side, side)
    try:
        cp.set_character(generate(900000))
        for style, inked in (("brown-ink", True), ("unlit", False)):
            surface, reference = drawn_sheets[style]
            views = [SheetView("udp-nn", udp=surface[k], name=f"view {k}") for k in range(len(surface))]
            cp.set_sheet(views, reference.transpose(0, 3, 1, 2), inked=False)
            assert cp.inked == inked and (cp.sheet_ink is not None) == inked, (style, cp.sheet_ink)
        assert cp.sheet_ink is None
    finally:
        cp.release()


def test_the_sheet_look_follows_the_pass_judgement():
    """``SheetCache.with_ink`` (the runtime's ``ShadeStage.set_sheet_ink``, after the pass judged a light
    pen inked): a look the ink fraction called shaded is inked from then on (FusionNet's ``ink`` 1,
    ``shaded`` 0), and its log line says it was inked by its line."""
    from conrt.runtime.nn.sheet import SheetCache, SheetLook

    cache = SheetCache((torch.zeros(1, 4, 1, 2, 2),), torch.zeros(1, 4, 4, 8, 8), 8, False, "conr-rt",
                       SheetLook(0.21, False, shading=0.3))
    assert cache.look.label == "shaded" and float(cache.ink()[0]) == 0.0
    brown = SheetInk("fixed", BROWN_INK, 1.0, True)
    inked = cache.with_ink(brown)
    assert inked.look.label == "inked" and float(inked.ink()[0]) == 1.0 and float(inked.shaded()[0]) == 0.0
    assert inked.sheet_ink() == brown and "inked by its line" in str(inked.look)


def test_the_sample_sheet_ink_is_the_same_at_every_frame_size(gl_ctx):
    """The correspondence pass estimates the sample sheet's ink (256² drawings, exact views) on the
    drawings as drawn whatever the frame size (``frame_loop.ink_sheet``; until session 15 the pass's copy
    at 512² frames was the drawings up-sampled, whose blurred lines measured a lighter law 1.5 px per 256
    wide). Tolerance: the estimate's own resolution, its colour rounded to 0.01 (one step either way at a
    rounding edge), its width to 0.5 px per 256 (the same step: equal); and the line's radius in each
    frame our toon pass's there (the ground truth's: 1 px per 256, 2 px at 512²). The pass itself holds
    the drawings at their own side at every frame size (``pass_sheet``; at 512² no longer a copy
    up-sampled to the frame's): its sheet texture, the surface maps and the colours un-inked, is the
    same to the bit, the views' samples being positions in the views, whatever the frame's pixel count."""
    from conrt.runtime.app.frame_loop import framed_reference, ink_sheet, pass_sheet, sheet_views
    from conrt.runtime.app.session import load_sheet, resolve_character
    from conrt.shaders.correspondence_pass import CorrespondencePass
    from conrt.shaders.toon_pass import default_line_width

    character = resolve_character(None)[0]
    sheet = load_sheet(None)
    chosen = sheet.correspondences(character, "exact")
    inks, sides, sheets = {}, {}, {}
    for size in (128, 256, 512):
        side, reference = pass_sheet(sheet.images, size, framed_reference(sheet.images, size))
        drawn = ink_sheet(chosen, sheet.images, side)
        sides[size] = side if drawn is None else drawn[1].shape[-1]
        cp = CorrespondencePass(gl_ctx, size, size)
        try:
            cp.set_character(character)
            cp.set_sheet(sheet_views(chosen, sheet.images, side), reference, True, drawn)
            inks[size] = cp.sheet_ink
            sheets[size] = (cp.side, cp._surface.read())
        finally:
            cp.release()
    assert sides == {128: 256, 256: 256, 512: 256}, sides  # the drawings' own side, at every frame size
    assert all(sheets[size] == sheets[256] for size in sheets), {size: s[0] for size, s in sheets.items()}
    assert inks[256].is_toon, inks[256]  # our toon pass drew the sample sheet
    for size, ink in inks.items():
        assert (ink.law, ink.width, ink.inner) == (inks[256].law, inks[256].width, inks[256].inner), (size, ink)
        assert np.abs(np.subtract(ink.colour, inks[256].colour)).max() <= 0.01 + 1e-9, (size, ink)
        assert ink.radius(size) == round(default_line_width(size)), (size, ink)
