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

from .conr_v1 import CINN


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


class FastCINN(CINN):
    """``CINN`` whose blocks run their first conv split into per-view and shared
    parts (``run_block``); the level loop, warps and fusion are ``CINN.forward``.

    Shares the modules of the given ``CINN``; inference only.
    """

    def __init__(self, cinn: CINN):
        nn.Module.__init__(self)  # not CINN.__init__: the blocks are the given CINN's
        self.cfg = cinn.cfg
        self.decoder_blocks = cinn.decoder_blocks
        self.first_convs = nn.ModuleList(SplitConv(b.conv0[0]) for b in cinn.decoder_blocks)

    def run_block(self, p: int, parts, n: int, m: int) -> torch.Tensor:
        kinds = tuple(per_view for _, per_view in parts)
        x = self.first_convs[p]([t for t, v in parts if v], [t for t, v in parts if not v], kinds, n, m)
        return _to_contiguous(_block_after_first_conv(self.decoder_blocks[p], x))
