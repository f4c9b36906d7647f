"""What no view sees (runtime/nn/lookup_net.py ``fill_unseen``): with keep_seen, a pixel
no view sees more than ``FILL_MARGIN`` px off the target's edges takes the nearest seen colour of
the same surface (UDP), not the refinement's; the pixels near the edges stay the refinement's
(toon ink runs along them), and the edges no view covers take the views' ink nearby. The
sample demo drew a patch of its skirt that no sheet view shows as an orange ring there
(docs/conr_rt.md, "What no view sees")."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conrt.runtime.nn.lookup_net import FILL_MARGIN, INK_REACH, SAME_SURFACE, UNSEEN_FROM, luma, pull_push, target_edges

from .nudged import nudged_model

S = 64


@pytest.fixture(scope="module")
def nudged():
    """conr-rt with every fusion parameter nudged: the zero-initialised refinement output
    would otherwise leave the fused colour everywhere (as test_sheet_look.py)."""
    return nudged_model("conr-rt")


def _frame(hole: tuple[slice, slice], views: int = 2, seen: float = 0.0):
    """A smooth body (one surface, no edges inside) seen by every view in one colour, except
    ``hole``, which every view covers ``seen`` (0: no view sees it). -> (sampled, cover, udp)
    as FusionNet takes them."""
    udp = torch.zeros(1, 4, S, S)
    y, x = torch.meshgrid(torch.linspace(0.3, 0.7, S), torch.linspace(0.3, 0.7, S), indexing="ij")
    udp[0, 0], udp[0, 1], udp[0, 2] = x, y, 0.5  # a plane: no UDP jump inside
    udp[0, 3, 4:-4, 4:-4] = 1
    udp[:, :3] *= udp[:, 3:4]
    colour = torch.tensor([0.9, 0.8, 0.3])
    sampled = torch.zeros(1, views, 4, S, S)
    sampled[0, :, :3] = colour.reshape(1, 3, 1, 1)
    sampled[0, :, 3] = 1
    cover = udp[:, 3:4].unsqueeze(1).repeat(1, views, 1, 1, 1)
    cover[..., hole[0], hole[1]] = seen
    sampled = sampled * (cover > 0)
    return sampled, cover, udp, colour


def _shade(model, frame, ink: float, fill: bool, **extra) -> torch.Tensor:
    sampled, cover, udp, _ = frame
    model.fusion.nearest_fill = fill
    try:
        with torch.no_grad():
            return model.fusion(sampled, cover, udp, keep_seen=True, ink=torch.tensor([ink]), **extra)
    finally:
        model.fusion.nearest_fill = True


@pytest.mark.parametrize("ink", [1.0, 0.0])
def test_a_hole_no_view_sees_takes_the_colour_around_it(nudged, ink):
    hole = (slice(26, 34), slice(28, 36))  # inside the body, off its edges
    frame = _frame(hole)
    colour = frame[3]
    now, before = _shade(nudged, frame, ink, True), _shade(nudged, frame, ink, False)
    inside = now[0, :3, hole[0], hole[1]]
    assert torch.allclose(inside, colour.reshape(3, 1, 1).expand_as(inside), atol=1e-5)
    assert torch.allclose(now[0, 3, hole[0], hole[1]], torch.ones(8, 8))
    # the refinement drew something else there (the rule changes the frame) ...
    assert (before[0, :3, hole[0], hole[1]] - inside).abs().max() > 0.05
    # ... and only there: every pixel the views see (fully, here) is the same, to the bit
    seen = (frame[1] > 0).any(1).expand_as(now)
    assert torch.equal(now[seen], before[seen])


def test_on_the_target_edges_the_views_ink_reaches_what_no_view_covers(nudged):
    """On an inked sheet a hole's pixels on the silhouette (``target_edges``, where ink goes) take
    the darkest colour (luma; the mean of equals) of the edge pixels some view covers within
    ``INK_REACH`` px, and stay the refinement's where there is none (the refinement drew orange
    dots there in the sample demo's face); the ones within ``FILL_MARGIN`` px of the edges stay
    the refinement's too, the ones past it are filled; on an unlit sheet there are no edges to
    keep and all are filled."""
    import torch.nn.functional as F

    hole = (slice(2, 12), slice(28, 36))  # rows across the silhouette (the body starts at row 4)
    frame = _frame(hole)
    edges = target_edges(frame[2])[0, 0].bool()
    inside = frame[2][0, 3].bool()
    k = max(1, round(FILL_MARGIN * S / 256))
    near = F.max_pool2d(edges[None, None].float(), 2 * k + 1, 1, k)[0, 0].bool()
    on_edges, off_edges = torch.zeros_like(edges), torch.zeros_like(edges)
    on_edges[hole], off_edges[hole] = edges[hole] & inside[hole], ~near[hole] & inside[hole]
    margin = inside & near & ~edges & torch.zeros_like(edges).index_fill_(0, torch.arange(2, 12), True)
    margin[:, :28], margin[:, 36:] = False, False
    assert on_edges.sum() >= 8 and off_edges.sum() >= 32 and margin.sum() >= 8  # the silhouette, the margin, 4 rows
    inked_now, inked_before = _shade(nudged, frame, 1.0, True)[0], _shade(nudged, frame, 1.0, False)[0]
    donors = edges & (frame[1][0, :, 0].amax(0) > 0.01)  # covered edge pixels: the same before and now
    r, reached, kept = INK_REACH, 0, 0
    for y, x in torch.nonzero(on_edges).tolist():
        box = (slice(max(y - r, 0), y + r + 1), slice(max(x - r, 0), x + r + 1))
        if not donors[box].any():
            assert torch.equal(inked_now[:, y, x], inked_before[:, y, x]), (y, x)
            kept += 1
            continue
        near = inked_before[:, box[0], box[1]][:, donors[box]]  # [4, k]
        straight = near[:3] / near[3:].clamp_min(1e-6)
        dark = luma(straight, 0)[0]
        want = straight[:, dark <= dark.min()].mean(1) * inked_now[3, y, x]
        assert torch.allclose(inked_now[:3, y, x], want, atol=1e-5), (y, x, inked_now[:, y, x], want)
        reached += 1
    assert reached >= 4 and kept >= 4, (reached, kept)  # both cases: the hole's outer and inner columns
    colour = frame[3].reshape(3, 1)
    assert torch.allclose(inked_now[:3][:, off_edges], colour.expand(3, int(off_edges.sum())), atol=1e-5)
    assert torch.equal(inked_now[:, margin], inked_before[:, margin])
    unlit = _shade(nudged, frame, 0.0, True)
    filled = on_edges | off_edges | margin
    assert torch.allclose(unlit[0, :3][:, filled], colour.expand(3, int(filled.sum())), atol=1e-5)


def test_a_hole_beside_two_surfaces_takes_the_colour_of_its_own(nudged):
    """Two surfaces side by side (the left red, the right blue and 0.3 of the canonical box
    deeper: a UDP jump, an edge on columns 31-32); no view sees columns 33-36 of the blue one.
    Their nearest seen pixels in the frame are the red ones (column 30, 3 px from column 33;
    the blue from column 37); their UDP is the blue surface's, and so is their colour: the
    skin beside the hair in the demo's face (docs/conr_rt.md, "What no view sees")."""
    hole = (slice(4, S - 4), slice(33, 37))
    sampled, cover, udp, red = _frame(hole)
    blue = torch.tensor([0.1, 0.3, 0.9])
    sampled[0, :, :3, :, 32:] = blue.reshape(1, 3, 1, 1) * (cover[0, :, :, :, 32:] > 0)
    udp[0, 2, :, 32:] = 0.8 * udp[0, 3, :, 32:]
    edges = target_edges(udp)[0, 0]
    assert edges[30, 31:33].all() and not edges[30, 33:37].any() and not edges[30, 28:31].any()
    for ink in (1.0, 0.0):
        # the hole's rows off the silhouette (its first and last rows are edges: the refinement's);
        # on the inked sheet the columns past the margin (the unlit one has no edges to keep off)
        cols = slice(hole[1].start + (max(1, round(FILL_MARGIN * S / 256)) if ink else 0), hole[1].stop)
        out = _shade(nudged, (sampled, cover, udp, red), ink, True)[0, :3, 6:S - 6, cols]
        # every unseen pixel nearer blue than red; the ones past the hole's first column blue
        to_blue = (out - blue.reshape(3, 1, 1)).abs().amax(0)
        to_red = (out - red.reshape(3, 1, 1)).abs().amax(0)
        assert (to_blue < to_red).all(), (ink, out[:, 24])
        assert (to_blue[:, 1:] < 0.15).all() and (to_blue < 0.3).all(), (ink, SAME_SURFACE, out[:, 30])


def test_a_hole_takes_the_colour_of_its_own_part(nudged):
    """One surface (a plane: no UDP jump), its left half skin in red, its right half cloth in blue
    (the target's part labels, its G-buffer's); no view sees columns 32-47 of the cloth on rows
    20-39. With the labels the hole is the cloth's colour (the thigh beside the shorts, a clip
    sheet's smear: docs/runtime.md "Session 15"); the fill of all parts takes the skin's red
    beside its first columns; the pixels the views see stay as they were, to the bit. A group of
    parts no view sees anywhere in the frame keeps the refinement's colour."""
    from conrt.types import Part

    hole = (slice(20, 40), slice(32, 48))
    sampled, cover, udp, red = _frame(hole)
    blue = torch.tensor([0.1, 0.3, 0.9])
    sampled[0, :, :3, :, 32:] = blue.reshape(1, 3, 1, 1) * (cover[0, :, :, :, 32:] > 0)
    right = torch.arange(S).reshape(1, S) >= 32
    labels = torch.where(right, float(Part.CLOTH), float(Part.SKIN)).expand(S, S)
    labels = torch.where(udp[0, 3] > 0, labels, torch.tensor(-1.0))
    seen = (cover > 0).any(1).expand(1, 4, S, S)

    def shade(labels, by_part: bool, shaded: float) -> torch.Tensor:
        gbuf = torch.stack([udp[0, 3], labels])[None]  # (eye depth: unread without ink, the labels)
        default, nudged.fusion.part_fill = nudged.fusion.part_fill, by_part
        try:
            with torch.no_grad():
                return nudged.fusion(sampled, cover, udp, keep_seen=True, ink=torch.tensor([0.0]),
                                     shaded=torch.tensor([shaded]), gbuf=gbuf)
        finally:
            nudged.fusion.part_fill = default  # (on: docs/runtime.md "Session 15")

    for shaded in (0.0, 1.0):  # the unlit rule and the shaded one (inked looks: the same fill)
        by_part, all_parts = shade(labels, True, shaded), shade(labels, False, shaded)
        here = by_part[0, :3, hole[0], hole[1]]
        assert torch.allclose(here, blue.reshape(3, 1, 1).expand_as(here), atol=1e-5), shaded
        assert (all_parts[0, :3, hole[0], hole[1]] - blue.reshape(3, 1, 1)).abs().max() > 0.1
        assert torch.equal(by_part[seen], all_parts[seen])
        unseen_part = labels.clone()
        unseen_part[hole] = float(Part.HAIR)  # no view sees any hair
        refined = _shade(nudged, (sampled, cover, udp, None), 0.0, False, shaded=torch.tensor([shaded]))
        assert torch.equal(shade(unseen_part, True, shaded), refined)


@pytest.mark.parametrize("feature", ["EYES", "MOUTH"])
def test_an_unseen_eye_keeps_the_refinements_colour_not_the_skins(nudged, feature):
    """A face (one surface, all skin in red) with an eye (or mouth) no view sees (rows 20-39,
    columns 24-39 so labelled): with the part labels it keeps the refinement's colour, as with no
    fill, and not the skin around it (which made a blank face: docs/runtime.md "Unseen eyes and
    mouths"); the seen pixels stay as they were, to the bit."""
    from conrt.types import Part

    hole = (slice(20, 40), slice(24, 40))
    sampled, cover, udp, red = _frame(hole)
    labels = torch.where(udp[0, 3] > 0, torch.tensor(float(Part.SKIN)), torch.tensor(-1.0))
    labels[hole] = float(Part[feature])
    gbuf = torch.stack([udp[0, 3], labels])[None]
    seen = (cover > 0).any(1).expand(1, 4, S, S)
    assert nudged.fusion.part_fill  # the default
    for shaded in (0.0, 1.0):
        with torch.no_grad():
            by_part = nudged.fusion(sampled, cover, udp, keep_seen=True, ink=torch.tensor([0.0]),
                                    shaded=torch.tensor([shaded]), gbuf=gbuf)
        refined = _shade(nudged, (sampled, cover, udp, None), 0.0, False, shaded=torch.tensor([shaded]))
        eye = by_part[0, :3, hole[0], hole[1]]
        # the refinement's colour to the bit (the fill leaves the eye's pixels as they were) ...
        assert torch.equal(eye, refined[0, :3, hole[0], hole[1]]), shaded
        # ... which is not the skin's (the skin's fill would make it red to 1e-5: the test above)
        assert (eye - red.reshape(3, 1, 1)).abs().max() > 0.05, shaded
        assert torch.equal(by_part[seen], refined[seen])


def test_a_pixel_mostly_seen_keeps_its_blend(nudged):
    """The fused coverage is a little under 1 on most of a seen surface: a pixel with less than
    ``UNSEEN_FROM`` of it unseen keeps the keep-seen blend to the bit (no fill: its gathers on
    ~8 000 pixels of a 256² demo frame cost 1.18x the finish graph); one with more takes the
    fill for the part past it (rescaled: a pixel no view sees takes all of it)."""
    hole = (slice(26, 34), slice(28, 36))
    for seen, filled in ((1 - UNSEEN_FROM / 2, False), (0.5, True)):
        frame = _frame(hole, seen=seen)
        now, before = _shade(nudged, frame, 1.0, True), _shade(nudged, frame, 1.0, False)
        here = now[0, :3, hole[0], hole[1]], before[0, :3, hole[0], hole[1]]
        assert torch.equal(here[0], here[1]) != filled, seen
        if filled:  # the colour (the fill's and the seen one) got nearer by the part past UNSEEN_FROM
            colour = frame[3].reshape(3, 1, 1)
            part = (1 - seen - UNSEEN_FROM) / (1 - UNSEEN_FROM)
            assert torch.allclose(here[0] - colour, (1 - part) * (here[1] - colour), atol=1e-5)


def test_pull_push_spreads_the_nearest_colours():
    """Red known on column 4 only, blue on column 27: the columns keep their colours exactly,
    every other pixel takes more of the nearer one (a smooth blend between them)."""
    colour = torch.zeros(1, 3, 32, 32)
    weight = torch.zeros(1, 1, 32, 32)
    colour[0, 0, :, 4], colour[0, 2, :, 27] = 1, 1
    weight[..., 4], weight[..., 27] = 1, 1
    out = pull_push(torch.cat([colour * weight, weight], 1))
    assert torch.allclose(out[0, :, :, 4], colour[0, :, :, 4]) and torch.allclose(out[0, :, :, 27], colour[0, :, :, 27])
    assert (out[0, 0, :, :9] > 0.75).all() and (out[0, 2, :, 23:] > 0.75).all()
    assert (out[0, 0, :, :14] > out[0, 2, :, :14]).all() and (out[0, 2, :, 18:] > out[0, 0, :, 18:]).all()
    assert torch.isfinite(out).all() and np.isclose(float(out.sum(1).mean()), 1.0, atol=1e-5)


def test_with_nothing_seen_the_refinement_fills_everything(nudged):
    """No seen colour anywhere: nothing is near, the frame is the refinement's (not black)."""
    sampled, cover, udp, colour = _frame((slice(0, S), slice(0, S)))
    frame = (sampled, cover, udp, colour)
    assert cover.max() == 0
    assert torch.equal(_shade(nudged, frame, 1.0, True), _shade(nudged, frame, 1.0, False))
    assert torch.equal(_shade(nudged, frame, 0.0, True), _shade(nudged, frame, 0.0, False))


def test_pull_push_pools_with_ceil_mode_only_on_odd_sides(monkeypatch):
    """ONNX Runtime's AveragePool with ceil_mode ran ~5x slower (docs/runtime.md, "Session 9"):
    the pyramid asks for it only where a side is odd (where it changes the windows), and an odd
    frame still keeps its known colours and fills the rest."""
    import torch.nn.functional as F

    calls = []
    pool = F.avg_pool2d

    def recording(x, *args, ceil_mode=False, **kwargs):
        calls.append((tuple(x.shape[-2:]), ceil_mode))
        return pool(x, *args, ceil_mode=ceil_mode, **kwargs)

    monkeypatch.setattr(F, "avg_pool2d", recording)
    for h, w in ((32, 32), (33, 20)):
        colour, weight = torch.zeros(1, 3, h, w), torch.zeros(1, 1, h, w)
        colour[0, 1, :, 2], weight[..., 2] = 1, 1
        calls.clear()
        out = pull_push(torch.cat([colour * weight, weight], 1))
        assert calls and all(ceil == bool(side[0] % 2 or side[1] % 2) for side, ceil in calls), calls
        assert torch.equal(out[0, :, :, 2], colour[0, :, :, 2]) and (out[0, 1] > 0.99).all()


def test_the_fill_pools_without_ceil_mode_in_the_exported_graph(nudged, tmp_path):
    """The finish graph at an even side (the runtime's sizes are multiples of 32): no AveragePool
    with ceil_mode left (each was ~5x an ordinary one in ONNX Runtime), the fill still there."""
    import onnx

    from conrt.runtime.backends.gl_lookup_backend import export_finish_onnx

    graph = onnx.load(str(export_finish_onnx(nudged, tmp_path / "finish.onnx", 64))).graph
    pools = [n for n in graph.node if n.op_type == "AveragePool"]
    assert len(pools) > 6  # the refinement's inputs and the fill's pyramid down to one pixel
    assert not [n.name for n in pools if any(a.name == "ceil_mode" and a.i for a in n.attribute)]


@pytest.mark.parametrize("hole,seen", [(None, 0.0), ((slice(20, 30), slice(20, 30)), 0.0),
                                       ((slice(20, 30), slice(20, 30)), 0.5),
                                       ((slice(20, 30), slice(20, 30)), 1 - UNSEEN_FROM / 2),
                                       ((slice(2, 10), slice(28, 36)), 0.0)])
def test_the_exported_fill_gathers_its_pixels_with_none_or_some(nudged, tmp_path, hole, seen):
    """The finish graph gathers the fill's pixels (a NonZero, then GatherElements/ScatterElements):
    with none (every pixel seen), a hole, a half-seen patch, a patch seen past
    ``UNSEEN_FROM`` (none again) and a hole across the silhouette (the views' ink reaching
    its edge pixels) it gives the torch finish's frame in ONNX Runtime."""
    import onnxruntime as ort

    from conrt.runtime.backends.fusion_graph import FusionFinishGraph
    from conrt.runtime.backends.gl_lookup_backend import export_finish_onnx

    sampled, cover, udp, colour = _frame(hole or (slice(0, 0), slice(0, 0)), views=1, seen=seen)
    pose = nudged.encode_pose(udp)[0]
    fused, coverage, edges = sampled[:, 0], cover[:, 0], target_edges(pose)
    covered = udp[:, 3:4] > 0.5  # the target's G-buffer: one depth, one part (its lines: the silhouette)
    gbuf = torch.cat([covered * 2.5, torch.where(covered, 0.0, -1.0)], 1).float()
    inputs = (fused, coverage, pose, edges, gbuf)
    session = ort.InferenceSession(str(export_finish_onnx(nudged, tmp_path / "finish.onnx", S)),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)})[0]
    with torch.no_grad():
        want = FusionFinishGraph(nudged)(*inputs).numpy()
    assert np.abs(got - want).max() < 1e-5
    if hole and seen == 0 and hole[0].start == 20:
        assert np.allclose(got[0, :3, 25, 25], colour.numpy(), atol=1e-5)  # filled
