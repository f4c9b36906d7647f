"""Inked sheets, on the target's edges: the darkest view's colour where it is darker than
the refinement's (``lookup_net.darkest_view`` / ``ink_edges``), in FusionNet and the
gl-lookup fusion graph alike; unlit sheets unchanged."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from conrt.runtime.backends.fusion_graph import darkest_views, ink_on_edges
from conrt.runtime.backends.onnx_backend import EXPORT_LOCK, OPSET, open_session
from conrt.runtime.nn import lookup_net
from conrt.runtime.nn.lookup_net import TOUCHES, darkest_view, ink_edges, target_edges

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
    """The ink rule on every pixel (FUSION_FORMAT 20's graph)."""

    def forward(self, rgba, sampled4, cover4, pose):
        return ink_edges(rgba, darkest_views(sampled4, cover4), target_edges(pose), pose[:, 3:4])


class _OnEdges(torch.nn.Module):
    """The ink rule on the edges' pixels, gathered and scattered back (the graphs' since 21)."""

    def forward(self, rgba, sampled4, cover4, pose):
        return ink_on_edges(rgba, target_edges(pose), pose[:, 3:4], None, sampled4, cover4)


def _inked_frame(s: int = 48):
    """A target with a silhouette and a surface jump, 4 views of varied colours and covers
    (ties in luma included), a refinement colour to ink over."""
    g = torch.Generator().manual_seed(3)
    pose = torch.zeros(1, 4, s, s)
    pose[:, 3, 6:-6, 8:-8] = 1
    pose[:, :3, 6:-6, 8:-8] = 0.4
    pose[:, 1, 6:-6, 24:-8] = 0.6  # a jump inside
    sampled4 = torch.rand(4, 4, s, s, generator=g)
    sampled4[:, :3] *= sampled4[:, 3:4]  # premultiplied
    sampled4[2] = sampled4[1]  # two views alike: equal lumas, the mean of equals
    cover4 = torch.rand(4, 1, s, s, generator=g) * (torch.rand(4, 1, s, s, generator=g) > 0.3)
    rgba = torch.rand(1, 4, s, s, generator=g) * pose[:, 3:4]
    return rgba, sampled4, cover4, pose


def _ort(module, feeds, tmp_path, name):
    path = tmp_path / f"{name}.onnx"
    # the runtime's lock: a gl-lookup backend of an earlier test may still export a band graph on
    # its background thread, and two TorchScript exports at once trip torch's global export flag
    with EXPORT_LOCK, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(feeds), str(path), input_names=["rgba", "sampled4", "cover4", "pose"],
                          output_names=["out"], opset_version=OPSET, dynamo=False, do_constant_folding=True)
    return open_session(path, 1)


def test_the_graph_inks_the_edges_pixels_only_to_the_bit(tmp_path):
    feeds = _inked_frame()
    names = ["rgba", "sampled4", "cover4", "pose"]
    full, on_edges = _ort(_FullSize(), feeds, tmp_path, "full"), _ort(_OnEdges(), feeds, tmp_path, "edges")
    for frame in (feeds, [torch.zeros_like(x) for x in feeds]):  # no edges at all: nothing gathered
        arrays = {n: x.numpy() for n, x in zip(names, frame)}
        want = full.run(None, arrays)[0]
        assert np.array_equal(on_edges.run(None, arrays)[0], want)
        with torch.no_grad():
            assert torch.equal(_OnEdges()(*frame), _FullSize()(*frame))
    inked = full.run(None, {n: x.numpy() for n, x in zip(names, feeds)})[0]
    assert (inked != feeds[0].numpy()).sum() > 20  # the rule changes pixels there
