"""The fusion graph the gl-lookup backend exports (runtime/backends/fusion_graph.py)
is ``FusionNet.forward`` rearranged for ONNX Runtime: on real exact-correspondence
frames of the sample character and sheet, with the shipped weights, it must be
as close to the float64 result as FusionNet's own float32 run is (a few times
its rounding error), for both fusion variants (keep_seen for exact
correspondences, one graph per sheet look: inked and unlit; plain for the
table)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conrt.runtime.backends.fusion_graph import FastFusionGraph, act_nchwc
from conrt.runtime.backends.gl_lookup_backend import export_fusion_onnx
from conrt.runtime.backends.onnx_backend import open_session
from conrt.runtime.nn.sheet import prepare_udp

SIZE = 128
# the rearranged graph may differ from the float64 result by this many times
# FusionNet's own float32 error (sums in another order, the softmax's sum
# cancelled instead of divided out), never by more
ROUNDING_FACTOR = 4.0


@pytest.fixture(scope="module")
def exact_frames(default_walk_frames):
    """(model, [(sampled [1,M,4,S,S], cover [1,M,1,S,S], udp [1,4,S,S], gbuf [1,2,S,S])]) from the
    default runtime (exact correspondences of the sample sheet, the target's G-buffer), 3 walk
    frames (conftest)."""
    rt, walk = default_walk_frames
    model = rt.shader.backend.source_model
    frames = [(sampled[None].copy(), cover[None].copy(), prepare_udp(udp, SIZE, False)[0], gbuf[None].copy())
              for udp, (sampled, cover, gbuf) in walk]
    assert frames[0][1].max() > 0.5 and frames[0][2][0, 3].mean() > 0.05  # the character is there and seen
    return model, frames


def _reference(model, frame, keep_seen: bool, dtype, ink=None) -> np.ndarray:
    fusion = model.fusion.to(dtype)
    try:
        sampled, cover, udp, gbuf = (torch.from_numpy(x).to(dtype) for x in frame)
        ink = None if ink is None else torch.tensor([ink], dtype=dtype)
        with torch.no_grad():
            return fusion(sampled, cover, model.encode_pose(udp)[0], keep_seen=keep_seen, ink=ink,
                          gbuf=gbuf).double().numpy()
    finally:
        model.fusion.float()


@pytest.mark.parametrize("keep_seen, ink", [(True, 1.0), (True, 0.0), (False, None)])
def test_the_fast_graph_rounds_like_fusionnet(exact_frames, fusion_onnx, keep_seen, ink):
    model, frames = exact_frames
    inked = ink != 0.0  # None (the table's variant): no look
    session = open_session(fusion_onnx(keep_seen, inked), 1)
    for frame in frames:
        truth = _reference(model, frame, keep_seen, torch.float64, ink)
        own = np.abs(_reference(model, frame, keep_seen, torch.float32, ink) - truth).max()
        assert 0 < own < 1e-4  # float32 rounding, nothing else
        with torch.no_grad():
            fast = FastFusionGraph(model, keep_seen, inked)(*(torch.from_numpy(x) for x in frame)).double().numpy()
        feeds = dict(zip(["sampled", "cover", "udp", "gbuf"], frame))
        if "gbuf" not in {i.name for i in session.get_inputs()}:  # an inked look's lines (the fill's parts: off)
            del feeds["gbuf"]
        onnx = session.run(["rgba"], feeds)[0]
        for got in (fast, onnx):
            assert got.shape == truth.shape
            assert np.abs(got - truth).max() <= ROUNDING_FACTOR * own, (np.abs(got - truth).max(), own)
    # the frames test something: the refinement and the keep rule change the fused colour
    assert np.abs(truth - _reference(model, frame, not keep_seen, torch.float64)).max() > 0.05
    if ink is not None:  # and the look changes the frame
        assert np.abs(truth - _reference(model, frame, keep_seen, torch.float64, 1.0 - ink)).max() > 0.05


def test_the_exported_graph_has_no_softmax_and_splits_the_9_channel_convs(exact_frames, tmp_path):
    """ONNX Runtime's blocked convolution takes < 8 or a multiple of 8 input
    channels: the 9-channel convs are split by input channels; the views'
    softmax is exponentials and sums (no inner-axis Softmax, which ORT transposes),
    the sums MatMuls with a row of ones (no ReduceSum over a leading axis, ~3x slower in ORT)."""
    import onnx

    model, _ = exact_frames
    graph = onnx.load(str(export_fusion_onnx(model, tmp_path / "fusion.onnx", 64, 2, keep_seen=True))).graph
    ops = [n.op_type for n in graph.node]
    assert "Softmax" not in ops and "ReduceSum" not in ops and {"Exp", "MatMul"} <= set(ops)
    # the PReLUs (slopes <= 1) as BatchNormalization + Relu + Add: ORT keeps them in the blocked layout
    assert "PRelu" not in ops and "BatchNormalization" in ops
    weights = {i.name: list(i.dims) for i in graph.initializer}
    conv_inputs = [weights[n.input[1]][1] for n in graph.node if n.op_type == "Conv" and n.input[1] in weights]
    assert conv_inputs and all(c < 8 or c % 8 == 0 for c in conv_inputs), conv_inputs
    # the look is in the graph; an inked look's also takes the target's G-buffer (its lines)
    assert [i.name for i in graph.input] == ["sampled", "cover", "udp", "gbuf"]


def test_the_blocked_prelu_is_the_prelu():
    """``act_nchwc``: y + relu((a - 1) y) is PReLU's a y below zero and y above, to float
    rounding (a multiply and an add: within 2 eps of |y|; the graph test above bounds
    what that does to a frame); a slope above 1 (where
    the identity does not hold) or a non-PReLU runs the module itself."""
    torch.manual_seed(0)
    prelu = torch.nn.PReLU(16)
    with torch.no_grad():
        prelu.weight.copy_(torch.linspace(-0.5, 1.0, 16))
        y = torch.randn(2, 16, 8, 8) * 10
        want, got = prelu(y), act_nchwc(prelu, y)
        assert torch.all((got - want).abs() <= 2 * torch.finfo(torch.float32).eps * y.abs())
        assert torch.equal(got[y > 0], y[y > 0])
        prelu.weight[3] = 1.5
        assert torch.equal(act_nchwc(prelu, y), prelu(y))
        relu = torch.nn.ReLU()
        assert torch.equal(act_nchwc(relu, y), relu(y))


def test_an_unlit_sheet_keeps_the_plain_lookup_where_a_view_has_the_point(exact_frames, monkeypatch):
    """``lookup_net.keep_plain_lookup``: with ``ink`` 0 the fusion's output is the plain exact
    lookup (``training.evaluate.PlainLookup``, the eval's baseline) on every pixel some view has
    (cover > 0.01), the fusion's own colour elsewhere; with ``ink`` 1 the frame is the fusion's
    to the bit, as without the rule."""
    from conrt.runtime.nn import lookup_net
    from conrt.training.evaluate import PlainLookup

    model, frames = exact_frames
    for frame in frames:
        sampled, cover, udp, _ = (torch.from_numpy(x) for x in frame)
        pose = model.encode_pose(udp)[0]
        with torch.no_grad():
            unlit, inked = (model.fusion(sampled, cover, pose, keep_seen=True, ink=torch.tensor([k]))
                            for k in (0.0, 1.0))
            with monkeypatch.context() as m:
                m.setattr(lookup_net, "keep_plain_lookup", lambda rgba, *_: rgba)
                without = [model.fusion(sampled, cover, pose, keep_seen=True, ink=torch.tensor([k]))
                           for k in (0.0, 1.0)]
            no_sheet = torch.zeros(1, 1, 3, 4, 4)  # the flat fill (where no view sees) is not compared
            plain = PlainLookup(SIZE)(no_sheet, no_sheet[:, :, :1], udp, sampled=sampled, cover=cover)
        assert torch.equal(inked, without[1])
        seen = (cover > 0.01).any(1).expand_as(unlit)
        assert seen.float().mean() > 0.1 and (~seen & (udp[:, 3:4] > 0).expand_as(unlit)).any()
        assert torch.allclose(unlit[seen], plain[seen], atol=1e-6)
        assert torch.equal(unlit[~seen], without[0][~seen])
        assert (unlit - without[0]).abs().max() > 0.05  # the rule changes the unlit frame
