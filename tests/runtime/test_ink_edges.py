"""Inked sheets: the target's lines where the toon pass draws them, in its ink
(``lookup_net.toon_line`` / ``ink_lines``, from the target's G-buffer: session 13), in
FusionNet and the gl-lookup fusion graphs alike; without the G-buffer, on the target's
edges the darkest view's colour where it is darker than the refinement's
(``lookup_net.darkest_view`` / ``ink_edges``); unlit sheets unchanged."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from conrt.runtime.backends.fusion_graph import ink_on_lines
from conrt.runtime.backends.onnx_backend import EXPORT_LOCK, OPSET, open_session
from conrt.runtime.nn import lookup_net
from conrt.runtime.nn.lookup_net import (TOUCHES, darkest_view, ink_edges, ink_lines, target_edges,
                                         toon_line)
from conrt.shaders.toon_pass import CONTOUR_DEPTH_STEP, OUTLINE_INK

from .nudged import nudged_model


def _views():
    sampled = torch.zeros(1, 3, 4, 2, 2)
    sampled[:, :, 3] = 1
    sampled[0, 0, :3] = 0.8  # light, seen
    sampled[0, 1, :3] = 0.3  # darker, seen
    sampled[0, 2, :3] = 0.05  # darkest, but below TOUCHES at pixel (0, 0)
    cover = torch.ones(1, 3, 1, 2, 2)
    cover[0, 2, 0, 0, 0] = TOUCHES / 2
    cover[0, :, 0, 1, 1] = 0  # no view at (1, 1)
    return sampled, cover


def test_the_darkest_view_past_touches():
    sampled, cover = _views()
    d = darkest_view(sampled, cover)
    torch.testing.assert_close(d[0, :3, 0, 0], torch.full((3,), 0.3))  # the 0.05 view barely touches there
    torch.testing.assert_close(d[0, :3, 0, 1], torch.full((3,), 0.05))
    assert d[0, 3].tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert d[0, :3, 1, 1].abs().max() == 0


def test_the_edges_take_the_darkest_view_where_it_is_darker():
    sampled, cover = _views()
    d = darkest_view(sampled, cover)
    rgba = torch.full((1, 4, 2, 2), 0.2)  # premultiplied 0.2 grey at alpha 1...
    rgba[:, 3] = 1
    rgba[0, :3, 0, 1] = 0.02  # ...darker than any view at (0, 1)
    alpha = torch.ones(1, 1, 2, 2)
    edges = torch.ones(1, 1, 2, 2)
    edges[0, 0, 1, 0] = 0  # not an edge
    out = ink_edges(rgba, d, edges, alpha)
    # (0, 0): 0.3 is lighter; (1, 0) off the edges; (1, 1): no view; (0, 1): already darker
    torch.testing.assert_close(out, rgba, rtol=0, atol=0)
    rgba[0, :3, 0, 0] = 0.5
    torch.testing.assert_close(ink_edges(rgba, d, edges, alpha)[0, :, 0, 0], torch.tensor([0.3, 0.3, 0.3, 1.0]))
    half = torch.full((1, 1, 2, 2), 0.5)  # the target's alpha: premultiplied
    torch.testing.assert_close(ink_edges(rgba, d, edges, half)[0, :, 0, 0], torch.tensor([0.15, 0.15, 0.15, 0.5]))


def test_the_ink_skips_silhouette_pixels_that_touch_the_background_only_at_a_corner():
    from conrt.runtime.nn.lookup_net import ink_edge_mask

    alpha = torch.zeros(1, 1, 8, 8)
    alpha[0, 0, 2:7, 2:7] = 1.0  # a square, with a notch: (2, 6) background
    alpha[0, 0, 2, 6] = 0.0
    alpha[0, 0, :, 0] = 1.0  # a column along the frame's left border
    edges = torch.ones(1, 1, 8, 8)  # every pixel an edge, to see what the mask takes away
    mask = ink_edge_mask(edges, alpha)[0, 0]
    # background pixels (0 alpha) and the ring's pixels with background beside them stay edges
    assert mask[2, 2] == 1 and mask[4, 2] == 1 and mask[6, 4] == 1 and mask[2, 5] == 1 and mask[3, 6] == 1
    assert mask[0, 3] == 1  # background
    # inside, with background only at a corner: the square's inner corner by the notch
    assert mask[3, 5] == 0
    # inside, no background around (the frame's border is not background): unchanged
    assert mask[4, 4] == 1 and mask[0, 0] == 1 and mask[4, 0] == 1
    assert int((mask == 0).sum()) == 1
    torch.testing.assert_close(ink_edge_mask(edges * 0, alpha), edges * 0)
    # from 384 px high the toon line is 2 px and reaches the corners: every edge kept
    big = torch.nn.functional.interpolate(alpha, size=(384, 384), mode="nearest")
    ones = torch.ones_like(big)
    assert ink_edge_mask(ones, big).min() == 1
    assert ink_edge_mask(ones[..., :383, :], big[..., :383, :]).min() < 1


def test_fusionnet_draws_the_views_ink_on_inked_edges_only(monkeypatch):
    model = nudged_model("conr-rt")
    s = 32
    g = torch.Generator().manual_seed(1)
    udp = torch.zeros(1, 4, s, s)
    udp[:, 3, 4:-4, 6:-6] = 1
    udp[:, :3, 4:-4, 6:-6] = 0.5
    udp[:, 2, 4:-4, 16:-6] = 0.7  # a surface jump inside: an edge
    sampled = torch.rand(1, 3, 4, s, s, generator=g) * 0.4 + 0.5
    sampled[:, :, 3] = 1
    sampled[:, 1, :3, :, 14:18] = 0.02  # view 1 draws ink along the jump
    cover = torch.ones(1, 3, 1, s, s)
    enc = model.encode_pose(udp)[0]
    edges = target_edges(enc)[0, 0] > 0
    with torch.inference_mode():
        inked = model.fusion(sampled, cover, enc, keep_seen=True, ink=torch.ones(1))
        unlit = model.fusion(sampled, cover, enc, keep_seen=True, ink=torch.zeros(1))
    ink = edges.clone()
    ink[:, :14] = False
    ink[:, 18:] = False
    ink &= udp[0, 3] > 0.5  # (target_edges also marks the background next to the silhouette)
    assert ink.sum() > 20
    drawn = inked[0, :3][:, ink]
    assert (drawn <= 0.02 + 1e-6).all()  # the view's ink, or darker already
    assert torch.isclose(drawn, torch.tensor(0.02), atol=1e-6).float().mean() > 0.5
    assert (unlit[0, :3][:, ink] > 0.1).all()  # unlit: the plain lookup's mean of the views
    monkeypatch.setattr(lookup_net, "ink_edges", lambda rgba, *_: rgba)  # the rule before: the refinement's
    with torch.inference_mode():
        before = model.fusion(sampled, cover, enc, keep_seen=True, ink=torch.ones(1))
    assert (before[0, :3][:, ink] > 0.1).float().mean() > 0.5


class _FullSize(torch.nn.Module):
    """The lines inked on every pixel (``lookup_net.ink_lines``)."""

    def forward(self, rgba, fused, gbuf, pose):
        return ink_lines(rgba, fused, toon_line(gbuf, pose[:, 3:4]), pose[:, 3:4])


class _OnLines(torch.nn.Module):
    """The same on the lines' pixels, gathered and scattered back (the graphs')."""

    def forward(self, rgba, fused, gbuf, pose):
        return ink_on_lines(rgba, fused, toon_line(gbuf, pose[:, 3:4]), pose[:, 3:4])


def _inked_frame(s: int = 48):
    """A target with a silhouette, a depth step and a part boundary inside, a fused colour of
    varied cover (some pixels no view covers), a refinement colour to ink over."""
    g = torch.Generator().manual_seed(3)
    pose = torch.zeros(1, 4, s, s)
    pose[:, 3, 6:-6, 8:-8] = 1
    pose[:, :3, 6:-6, 8:-8] = 0.4
    gbuf = torch.zeros(1, 2, s, s)
    gbuf[:, 1] = -1
    gbuf[:, :, 6:-6, 8:-8] = torch.tensor([2.0, 0.0]).reshape(1, 2, 1, 1)
    gbuf[:, 0, 6:-6, 24:-8] = 1.9  # nearer by more than the step
    gbuf[:, 1, 20:-6, 8:-8] = 1.0  # a higher label below
    fused = torch.rand(1, 4, s, s, generator=g)
    fused[:, 3:] = (fused[:, 3:] > 0.2).to(fused.dtype)
    fused[:, :3] *= fused[:, 3:]  # premultiplied
    rgba = torch.rand(1, 4, s, s, generator=g) * pose[:, 3:4]
    return rgba, fused, gbuf, pose


def _ort(module, feeds, names, tmp_path, name):
    path = tmp_path / f"{name}.onnx"
    # the runtime's lock: a gl-lookup backend of an earlier test may still export a band graph on
    # its background thread, and two TorchScript exports at once trip torch's global export flag
    with EXPORT_LOCK, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(feeds), str(path), input_names=names,
                          output_names=["out"], opset_version=OPSET, dynamo=False, do_constant_folding=True)
    return open_session(path, 1)


def test_the_graph_inks_the_lines_pixels_only_to_the_bit(tmp_path):
    feeds = _inked_frame()
    names = ["rgba", "fused", "gbuf", "pose"]
    full = _ort(_FullSize(), feeds, names, tmp_path, "full")
    on_lines = _ort(_OnLines(), feeds, names, tmp_path, "lines")
    for frame in (feeds, [torch.zeros_like(x) for x in feeds]):  # no lines at all: nothing gathered
        arrays = {n: x.numpy() for n, x in zip(names, frame)}
        want = full.run(None, arrays)[0]
        assert np.array_equal(on_lines.run(None, arrays)[0], want)
        with torch.no_grad():  # torch's Pow rounds its vectorised loop and its tail apart: an ulp (6e-8)
            torch.testing.assert_close(_OnLines()(*frame), _FullSize()(*frame), atol=6e-8, rtol=0)
    inked = full.run(None, {n: x.numpy() for n, x in zip(names, feeds)})[0]
    assert (inked != feeds[0].numpy()).sum() > 20  # the rule changes pixels there


# ---------------------------------------------------------------------------
# the target's lines where the toon pass draws them (session 13)
# ---------------------------------------------------------------------------
def _gbuf(h: int, w: int, covered=(slice(2, -2), slice(2, -2)), depth: float = 2.5) -> torch.Tensor:
    """A G-buffer [1, 2, h, w]: ``covered`` at ``depth``, part 0; off it depth 0, part -1."""
    g = torch.zeros(1, 2, h, w)
    g[:, 1] = -1
    g[0, 0][covered], g[0, 1][covered] = depth, 0.0
    return g


def test_an_inner_line_lies_on_the_far_side_of_a_depth_step_and_the_lower_part():
    """``toon_line`` (shaders/glsl/toon_outline.glsl's rule at 1 px): a covered pixel with the
    background, a pixel nearer by more than ``CONTOUR_DEPTH_STEP`` or a higher part label beside
    it (the 4) is ink. Steps of 1.5 and 0.5 times the threshold: clear of float ties."""
    h = w = 12
    alpha = torch.zeros(1, 1, h, w)
    alpha[..., 2:-2, 2:-2] = 1
    g = _gbuf(h, w)
    g[0, 0, 2:-2, 6:-2] = 2.5 - 1.5 * CONTOUR_DEPTH_STEP  # the right half in front
    line = toon_line(g, alpha)[0, 0]
    inner = slice(3, -3)
    assert line[inner, 5].all() and not line[inner, 6].any()  # the far side's pixel, not the near side's
    assert not line[inner, 3:5].any() and not line[inner, 7:-3].any()
    assert line[2, 2:-2].all() and line[-3, 2:-2].all() and line[2:-2, 2].all() and line[2:-2, -3].all()
    assert line[alpha[0, 0] == 0].sum() == 0  # never off the target
    g[0, 0, 2:-2, 6:-2] = 2.5 - 0.5 * CONTOUR_DEPTH_STEP  # a smaller step: no contour
    assert not toon_line(g, alpha)[0, 0][inner, 3:-3].any()
    g[0, 1, 2:-2, 6:-2] = 1.0  # hair (1) beside skin (0) at the same depth: the skin's side
    line = toon_line(g, alpha)[0, 0]
    assert line[inner, 5].all() and not line[inner, 6].any()
    g[0, 1] = torch.where(g[0, 1] >= 0, 1.0 - g[0, 1], g[0, 1])  # labels swapped: the other side
    line = toon_line(g, alpha)[0, 0]
    assert line[inner, 6].all() and not line[inner, 5].any()
    # the frame's border is not background (as the toon pass's)
    full = torch.ones(1, 1, h, w)
    assert not toon_line(_gbuf(h, w, (slice(None), slice(None))), full).any()
    # from 384 px high the toon line's radius is 2: two pixels on the far side
    tall = torch.zeros(1, 1, 512, w)
    tall[..., 2:-2] = 1
    g = _gbuf(512, w, (slice(None), slice(2, -2)))
    g[0, 0, :, 6:-2] = 2.5 - 1.5 * CONTOUR_DEPTH_STEP
    line = toon_line(g, tall)[0, 0, 100]
    assert line.tolist() == [0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0]


def test_the_fusion_inks_the_far_side_pixel_in_every_backend(tmp_path):
    """A synthetic jump (the UDP jumps at column 16, so the fusion's edges are columns 15 and 16;
    the target's depth says the right side is nearer): FusionNet, the exported whole fusion graph
    and the banded halves (views graph, finish graph) ink column 15, the far side, with the toon
    pass's ink of the views' colour, and keep the views' colour at column 16. Tolerance: float32
    rounding of the few operations between (~1e-6 of values <= 1)."""
    from conrt.runtime.backends.gl_lookup_backend import export_finish_onnx, export_fusion_onnx, export_views_onnx

    model = nudged_model("conr-rt")
    s, views, grey = 32, 3, 0.6
    udp = torch.zeros(1, 4, s, s)
    udp[:, 3, 4:-4, 4:-4] = 1
    udp[:, :3, 4:-4, 4:-4] = 0.5
    udp[:, 2, 4:-4, 16:-4] = 0.8  # a UDP jump: an edge of the fusion on both sides
    gbuf = _gbuf(s, s, (slice(4, -4), slice(4, -4)))
    gbuf[0, 0, 4:-4, 16:-4] = 2.5 - 1.5 * CONTOUR_DEPTH_STEP  # the right side nearer
    sampled = torch.full((1, views, 4, s, s), grey)
    sampled[:, :, 3] = 1
    cover = torch.ones(1, views, 1, s, s)
    edges = target_edges(model.encode_pose(udp)[0])[0, 0]
    assert edges[8:-8, 15].all() and edges[8:-8, 16].all()
    law = torch.tensor(OUTLINE_INK, dtype=torch.float64)
    lin = ((grey + 0.055) / 1.055) ** 2.4 * law
    ink = (1.055 * lin ** (1 / 2.4) - 0.055).float()
    with torch.no_grad():
        got = {"torch": model.render_views(udp, sampled, cover, ink=torch.ones(1), gbuf=gbuf)}
    arrays = {"sampled": sampled.numpy(), "cover": cover.numpy(), "udp": udp.numpy(), "gbuf": gbuf.numpy()}
    whole = open_session(export_fusion_onnx(model, tmp_path / "whole.onnx", s, views, True, True), 1)
    got["onnx whole"] = torch.from_numpy(whole.run(["rgba"], arrays)[0])
    band = open_session(export_views_onnx(model, tmp_path / "views.onnx", s, s, views), 1)
    finish = open_session(export_finish_onnx(model, tmp_path / "finish.onnx", s), 1)
    handed = band.run(None, {k: arrays[k] for k in ("sampled", "cover", "udp")})
    got["onnx banded"] = torch.from_numpy(finish.run(["rgba"], {**dict(zip(("fused", "coverage", "pose", "edges"),
                                                                              handed)), "gbuf": arrays["gbuf"]})[0])
    rows = slice(8, -8)
    for name, rgba in got.items():
        torch.testing.assert_close(rgba[0, :3, rows, 15], ink.reshape(3, 1).expand(3, s - 16), atol=1e-5, rtol=0,
                                   msg=name)
        torch.testing.assert_close(rgba[0, :3, rows, 16], torch.full((3, s - 16), grey), atol=1e-5, rtol=0, msg=name)
        assert (rgba[0, :3, rows, 10:15] - grey).abs().max() < 1e-5, name  # inside: the views' colour


def test_the_lines_are_the_toon_pass_lines_in_its_ink(gl_ctx):
    """On a procedural character's frame, the toon pass without its crease lines and resolved-parts
    test (the two ``toon_line`` leaves out) inks exactly the pixels ``toon_line`` finds in the
    correspondence pass's G-buffer (but where a depth step is within float rounding of the
    threshold), and ``ink_lines`` of its colours without ink is its inked frame within its 8-bit
    rounding: half a step of its output and of the colour taken, the latter through the law's
    slope (< 1 in sRGB for a darkening ink): 1/255."""
    import dataclasses

    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.characters.procedural import generate
    from conrt.shaders import CorrespondencePass, ToonPass
    from conrt.shaders.camera import frame_character
    from conrt.shaders.correspondence_pass import SheetView
    from conrt.shaders.toon_pass import ToonStyle

    size = 128
    character = generate(900001)
    pose = rest_pose(character)
    camera = frame_character(posed_positions(character, pose), yaw=35, pitch=10, size=size)
    style = ToonStyle(crease_angle=None, resolved_only=False)
    with ToonPass(gl_ctx, size, size, style) as toon, \
            ToonPass(gl_ctx, size, size, dataclasses.replace(style, line_width=0)) as plain, \
            CorrespondencePass(gl_ctx, size, size) as cp:
        toon.set_character(character)
        plain.set_character(character)
        inked, bare = toon.run(pose, camera), plain.run(pose, camera)
        cp.set_character(character)
        reference = bare.astype(np.float32).transpose(2, 0, 1)[None] / 255
        cp.set_sheet([SheetView("exact", camera=camera, pose=pose)], reference)
        cp.run(pose, camera)
        gbuf = torch.from_numpy(cp.read_gbuf())[None]
    alpha = torch.from_numpy(bare[..., 3:].astype(np.float32) / 255).permute(2, 0, 1)[None]
    lines = toon_line(gbuf, alpha)[0, 0].numpy() > 0
    drawn = (inked != bare).any(-1)
    # the toon pass compares metres (its G-buffer) with 0.04 x the height: ties within rounding may differ
    depth = gbuf[0, 0]
    pad = torch.nn.functional.pad(depth, (1, 1, 1, 1))
    steps = torch.stack([(depth - pad[1 + dy:1 + dy + size, 1 + dx:1 + dx + size]).abs()
                         for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))])
    tie = ((steps - CONTOUR_DEPTH_STEP).abs() < 1e-5).any(0).numpy()
    assert drawn.sum() > 200 and (lines & ~drawn & ~tie).sum() == 0 and (drawn & ~lines & ~tie).sum() == 0
    assert (lines & (gbuf[0, 1].numpy() >= 0) & ~(alpha[0, 0].numpy() == 0)).sum() > 0
    inner = lines & (torch.nn.functional.max_pool2d(1 - alpha, 3, 1, 1)[0, 0].numpy() == 0)
    assert inner.sum() > 20  # inner lines (depth steps, part boundaries), not only the silhouette
    fused = torch.from_numpy(bare.astype(np.float32) / 255).permute(2, 0, 1)[None]
    fused = torch.cat([fused[:, :3] * fused[:, 3:], fused[:, 3:]], 1)
    got = ink_lines(fused, fused, torch.from_numpy(lines.astype(np.float32))[None, None], alpha)[0]
    want = torch.from_numpy(inked.astype(np.float32) / 255).permute(2, 0, 1)
    assert (got[:3] - want[:3]).abs()[:, torch.from_numpy(lines)].max() <= 1 / 255


def test_labels_that_draw_no_part_lines_give_the_lines_no_part(gl_ctx):
    """A character whose labels were inferred from colour (``meta["part_lines"]`` False: Godette)
    has no part lines in the toon pass (its G-buffer's part is 0): the correspondence pass's
    G-buffer, whose parts place the target's lines (``toon_line``), says the same, so the fusion
    draws no line the toon pass does not; with the labels drawn, the same frame has several parts."""
    from conrt.characters.part_labels import PART_LINES_KEY
    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.characters.procedural import generate
    from conrt.shaders import CorrespondencePass, ToonPass
    from conrt.shaders.camera import frame_character
    from conrt.shaders.correspondence_pass import SheetView

    size = 64
    character = generate(900001)
    pose = rest_pose(character)
    camera = frame_character(posed_positions(character, pose), yaw=35, pitch=10, size=size)
    with ToonPass(gl_ctx, size, size) as toon:
        toon.set_character(character)
        view = toon.run(pose, camera).astype(np.float32).transpose(2, 0, 1)[None] / 255
    parts = {}
    for lines in (True, False):
        character.meta[PART_LINES_KEY] = lines
        with CorrespondencePass(gl_ctx, size, size) as cp:
            cp.set_character(character)
            cp.set_sheet([SheetView("exact", camera=camera, pose=pose)], view)
            cp.run(pose, camera)
            gbuf = cp.read_gbuf()
        covered = gbuf[1] >= 0
        assert covered.sum() > 200
        parts[lines] = np.unique(gbuf[1][covered])
    assert len(parts[True]) > 2 and parts[False].tolist() == [0.0]
