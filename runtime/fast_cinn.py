"""Inference-only collaborative decoder that computes the view-shared inputs once.

Each ``DecoderBlock`` starts with a stride-2 3x3 conv over the concatenation of
per-view inputs (the view's flow, warped reference and sheet feature, local
message) and inputs that are the same for every view (the pose feature, the
fused flow / reference / message). A conv is linear in its input channels, so

    conv(cat(view_parts, shared_parts)) = conv_v(view_parts) + conv_s(shared_parts)

(zero padding is per channel, the bias goes in once). ``FastCINN`` runs
``conv_s`` on one copy of the shared parts per frame instead of one per view,
and builds both inputs directly in channels_last (the layout oneDNN runs
fastest), which also saves the layout copy of the big concatenation. The rest
of every block, the warps and the fusion are ``CINN``'s own code and modules,
so the maths (and the official weights) are unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conr_v1 import CINN, _rescale_flow, _resize, group_warp, warp


def _copy_(dst: torch.Tensor, src: torch.Tensor, pixels: int = 2048) -> torch.Tensor:
    """``dst.copy_(src)`` for (N, C, H, W) tensors, in blocks of rows when the
    layouts differ: torch's one-shot NCHW <-> NHWC copy walks one side with a
    stride of C and misses the cache; blocks of ~2k pixels stay in it
    (measured 3-5x faster at 256x256, C = 64..164)."""
    h, w = src.shape[-2:]
    rows = max(1, pixels // w)
    if h <= rows or src.stride(1) == dst.stride(1):
        return dst.copy_(src)
    for r in range(0, h, rows):
        dst[:, :, r:r + rows].copy_(src[:, :, r:r + rows])
    return dst


def _channels_last_cat(parts: list[torch.Tensor]) -> torch.Tensor:
    """torch.cat(parts, 1) written straight into a channels_last tensor."""
    n, _, h, w = parts[0].shape
    out = torch.empty(n, sum(p.shape[1] for p in parts), h, w, dtype=parts[0].dtype,
                      device=parts[0].device, memory_format=torch.channels_last)
    c = 0
    for p in parts:
        _copy_(out[:, c:c + p.shape[1]], p)
        c += p.shape[1]
    return out


def _to_contiguous(x: torch.Tensor) -> torch.Tensor:
    """The same values in NCHW memory: the block outputs feed warps, resizes
    and reshapes that want NCHW (each would make its own slow copy otherwise)."""
    if x.is_contiguous():
        return x
    return _copy_(torch.empty(x.shape, dtype=x.dtype, device=x.device), x)


class SplitConv(nn.Module):
    """The first conv of a ``DecoderBlock`` split by input channels into a
    per-view part and a shared part (weights sliced once, at first use)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.groups != 1 or conv.padding_mode != "zeros":
            raise ValueError(f"SplitConv needs a plain zero-padded conv, got {conv}")
        self.conv = conv
        self._split: dict = {}  # (per-view channel mask as a tuple) -> (w_view, w_shared)

    def forward(self, view_parts, shared_parts, kinds: tuple[bool, ...], n: int, m: int) -> torch.Tensor:
        """``view_parts``: (N*M, C, h, w) tensors, ``shared_parts``: (N, C, h, w);
        ``kinds``: per part of the original concatenation order, True = per view."""
        conv = self.conv
        key = (kinds, tuple(p.shape[1] for p in view_parts), tuple(p.shape[1] for p in shared_parts))
        if key not in self._split:
            sizes, vi, si = [], iter(view_parts), iter(shared_parts)
            for is_view in kinds:
                sizes.append((next(vi) if is_view else next(si)).shape[1])
            chunks = torch.split(conv.weight.detach(), sizes, 1)
            w_view = torch.cat([c for c, v in zip(chunks, kinds) if v], 1)
            w_shared = torch.cat([c for c, v in zip(chunks, kinds) if not v], 1) if shared_parts else None
            fmt = torch.channels_last
            self._split[key] = (w_view.contiguous(memory_format=fmt),
                                None if w_shared is None else w_shared.contiguous(memory_format=fmt))
        w_view, w_shared = self._split[key]
        args = (conv.stride, conv.padding, conv.dilation)
        y = F.conv2d(_channels_last_cat(view_parts), w_view, conv.bias, *args)
        if w_shared is not None:
            ys = F.conv2d(_channels_last_cat(shared_parts), w_shared, None, *args)
            y.view(n, m, *y.shape[1:]).add_(ys.unsqueeze(1))  # broadcast over the views
        return y


def _block_after_first_conv(block, x: torch.Tensor) -> torch.Tensor:
    """``DecoderBlock.forward`` from its first PReLU on."""
    for layer in list(block.conv0)[1:]:
        x = layer(x)
    for stack in block.convblocks:
        x = stack(x) + x
    return block.conv_last(x)


class FastCINN(nn.Module):
    """``CINN.forward`` with the block inputs split into per-view and shared parts.

    Wraps (and shares the modules of) a ``CINN``; inference only.
    """

    def __init__(self, cinn: CINN):
        super().__init__()
        self.cinn = cinn
        self.first_convs = nn.ModuleList(SplitConv(b.conv0[0]) for b in cinn.decoder_blocks)

    def forward(self, pose_feats, reference, sheet_feats):
        cinn = self.cinn
        n, m = reference.shape[:2]
        b = n * m
        full = reference.shape[-2:]
        ref = reference.reshape(b, *reference.shape[2:])
        levels = len(sheet_feats)
        groups = cinn.cfg.flow_groups

        def views(t):  # (N*M, C, h, w) -> (N, M, C, h, w)
            return t.reshape(n, m, *t.shape[1:])

        def fuse(weights, x, lo, hi=None):  # sum over views of w[:, :, lo:hi] * x
            w = weights[:, :, lo:hi] if hi is not None else weights[:, :, lo:]
            return (w * views(x)).sum(1)

        size = sheet_feats[0].shape[-2:]
        flow = ref.new_zeros(b, 2, *size)
        wref = _resize(ref, size)
        feat = sheet_feats[0].reshape(b, *sheet_feats[0].shape[2:])
        # level 0: each view's own flow and reference stand in for the fused ones
        w_flow, w_ref, fused_shared = flow, wref, False
        w_msg = loc = None
        for p, block in enumerate(cinn.decoder_blocks):
            # the concatenation order of CINN.forward, each part tagged per-view / shared
            parts = [(flow, True)]
            if p < levels:
                parts.append((pose_feats[p], False))
            parts.append((wref, True))
            if p < levels:
                parts.append((feat, True))
            parts += [(w_flow, not fused_shared), (w_ref, not fused_shared)]
            if p > 0:
                parts += [(w_msg, False), (loc, True)]
            kinds = tuple(v for _, v in parts)
            x = self.first_convs[p]([t for t, v in parts if v], [t for t, v in parts if not v], kinds, n, m)
            out = _to_contiguous(_block_after_first_conv(block, x))
            d_flow, msg, msg_flow, loc, loc_flow, mask = cinn._split(out, p)
            flow = flow + d_flow
            if p == levels:
                msg = group_warp(msg, msg_flow, groups)
                mask = mask.reshape(n, m, *mask.shape[1:])
                weights = mask * torch.softmax(mask, 1)
                return fuse(weights, msg, 2)
            size = sheet_feats[p + 1].shape[-2:] if p + 1 < levels else full
            scale = int(size[-1]) / int(flow.shape[-1])
            flow = _rescale_flow(flow, scale)
            msg = group_warp(_resize(msg, size), _rescale_flow(msg_flow, scale), groups)
            loc = group_warp(_resize(loc, size), _rescale_flow(loc_flow, scale), groups)
            mask = _resize(mask, size)
            wref = warp(_resize(ref, size) if p + 1 < levels else ref, flow)
            if p + 1 < levels:
                feat = warp(sheet_feats[p + 1].reshape(b, *sheet_feats[p + 1].shape[2:]), flow)
            mask = mask.reshape(n, m, *mask.shape[1:])
            weights = mask * torch.softmax(mask, 1)
            w_flow = fuse(weights, flow, 0, 1)  # (N, C, h, w): shared by the views
            w_ref = fuse(weights, wref, 0, 1)
            w_msg = fuse(weights, msg, 2)
            fused_shared = True
        raise AssertionError("unreachable")
