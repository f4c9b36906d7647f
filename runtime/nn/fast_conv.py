"""Inference-only Winograd convolutions for the CoNR decoder blocks (CPU speed).

The collaborative decoder spends most of its FLOPs in stride-1 3x3 convs with
224 channels and in the ConvTranspose(k4, s2, p1) upsamplers. Winograd's
F(4x4, 3x3) computes a 4x4 output tile from a 6x6 input tile with 36
multiplies per (input, output) channel pair instead of 144: the same maths,
4x fewer multiply-adds, at the price of cheap linear transforms before and
after, and fp32 rounding a little above a direct conv (measured 8.5e-6 vs
6.5e-6 max abs error for a 224-channel conv on N(0, 1) data).

Per call (``WinogradConv2d``):

1. pad and cut the input into overlapping 6x6 tiles (one strided copy),
2. input transform ``B^T d B`` for all tiles and channels: a few GEMMs,
3. 36 independent GEMMs ``[tiles, Cin] @ [Cin, Cout]`` (one ``bmm``: the FLOPs),
4. output transform ``A^T m A`` (GEMMs again), then one copy that puts
   the 4x4 tiles in place (channels_last), adds the bias and, for a transposed
   conv, interleaves the four output phases (pixel shuffle).

The weight transform ``G g G^T`` is done once, on the first call that needs it.

A ``ConvTranspose2d(k4, s2, p1)`` is a 3x3 stride-1 conv with 4*Cout outputs
(one 2x2 sub-kernel per output phase, zeros elsewhere) followed by a pixel
shuffle, so it runs through the same code (1.8x fewer multiplies than its
direct form); on small inputs it runs as four 2x2 phase convs
(``PhaseConvTranspose2d``), which oneDNN runs faster than its ConvTranspose.

``with_winograd(module)`` swaps these layers in place (use it on a copy; the
official state-dict layout of the model is not touched).
"""
from __future__ import annotations

import threading
from fractions import Fraction

import torch
from torch import nn

from .conr_v1 import PhaseConvTranspose2d

# interpolation points of F(4, 3): 0, +-1, 2, -1/2 and infinity (2.3x lower fp32
# error than the usual 0, +-1, +-2 on random 224-channel convs; tests check it)
POINTS = (0, 1, -1, 2, Fraction(-1, 2))


def _invert(mat: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact Gauss-Jordan inverse of a small square matrix of Fractions."""
    n = len(mat)
    aug = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(mat)]
    for col in range(n):
        piv = next(r for r in range(col, n) if aug[r][col] != 0)
        aug[col], aug[piv] = aug[piv], aug[col]
        p = aug[col][col]
        aug[col] = [v / p for v in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                f = aug[r][col]
                aug[r] = [a - f * b for a, b in zip(aug[r], aug[col])]
    return [row[n:] for row in aug]


def winograd_matrices(m: int, r: int, points=POINTS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A^T [m, a], G [a, r], B^T [a, a]) of the 1-D F(m, r), a = m + r - 1, float64.

    Correlation y_i = sum_k g_k d_{i+k} is the transpose of the polynomial
    product s = g * h (deg r-1 times deg m-1): evaluating both factors at a-1
    points and at infinity (the leading coefficient), multiplying pointwise and
    interpolating gives s = V^-1 diag(Vg g) Vh h, so y = Vh^T diag(Vg g) V^-T d.
    """
    a = m + r - 1
    if len(points) != a - 1:
        raise ValueError(f"F({m},{r}) needs {a - 1} finite points, got {len(points)}")

    def vander(cols):
        rows = [[Fraction(p) ** k for k in range(cols)] for p in points]
        return rows + [[Fraction(int(k == cols - 1)) for k in range(cols)]]  # the point at infinity

    v_inv = _invert(vander(a))
    bt = [[v_inv[j][i] for j in range(a)] for i in range(a)]  # V^-T
    at = [list(col) for col in zip(*vander(m))]  # Vh^T
    g = vander(r)

    def t(x):
        return torch.tensor([[float(v) for v in row] for row in x], dtype=torch.float64)

    return t(at), t(g), t(bt)


# scratch buffers, per thread (freed with the thread; one runtime shades on one thread)
_LOCAL = threading.local()


def _buffers(name: str) -> dict:
    d = getattr(_LOCAL, name, None)
    if d is None:
        d = {}
        setattr(_LOCAL, name, d)
    return d


def _workspace(numel: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two flat scratch buffers of at least ``numel`` elements, shared by all
    Winograd layers (per thread, device and dtype). Reusing them avoids
    page-faulting hundreds of MB of fresh memory on every call (measured: ~30%
    of the layer time at 64x64x224 with 4 views)."""
    cache = _buffers("workspace")
    key = (like.device, like.dtype)
    bufs = cache.get(key)
    if bufs is None or bufs[0].numel() < numel:
        bufs = tuple(torch.empty(numel, dtype=like.dtype, device=like.device) for _ in range(2))
        cache[key] = bufs
    return bufs


def release_workspaces() -> None:
    """Drop this thread's scratch buffers (they are remade on the next call)."""
    _buffers("workspace").clear()
    _buffers("padded").clear()


def _zero_padded(x: torch.Tensor, hp: int, wp: int) -> torch.Tensor:
    """``x`` copied into the interior (offset 1, 1) of a zero (N, C, hp, wp) buffer
    kept per shape, so only the interior is written on each call (``F.pad``
    would zero-fill the whole buffer every time). Same memory format as ``x``."""
    n, c, h, w = x.shape
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    cache = _buffers("padded")
    key = (x.device, x.dtype, n, c, h, w, hp, wp, cl)
    buf = cache.get(key)
    if buf is None:
        fmt = torch.channels_last if cl else torch.contiguous_format
        buf = torch.zeros(n, c, hp, wp, dtype=x.dtype, device=x.device).contiguous(memory_format=fmt)
        cache[key] = buf
    buf[:, :, 1:1 + h, 1:1 + w].copy_(x)
    return buf


class WinogradConv2d(nn.Module):
    """A 3x3, stride-1, padding-1 conv computed with F(4x4, 3x3); inference only.

    Built from a ``Conv2d`` (``from_conv``) or a ``ConvTranspose2d(k4, s2, p1)``
    (``from_deconv``). The layer keeps a direct form (``self.direct``: the conv,
    or the transposed conv as four 2x2 phase convs) for inputs with a side
    below ``min_side``, where a few tiles do not pay for the transforms. The
    transformed weights (4x the conv's, 9x the transposed conv's) are made on
    the first call that needs them, so layers that only ever see small inputs
    cost no extra memory. Output is channels_last.
    """

    M, R = 4, 3

    def __init__(self, direct: nn.Module, min_side: int = 1):
        super().__init__()
        if isinstance(direct, PhaseConvTranspose2d):
            self.shuffle, self.cout = 2, direct.cout
            self.cin = direct.weight.shape[1]
        elif _is_plain_3x3(direct):
            self.shuffle, self.cout, self.cin = 1, direct.out_channels, direct.in_channels
        else:
            raise ValueError(f"WinogradConv2d wraps a 3x3/1/1 Conv2d or a PhaseConvTranspose2d, got {direct}")
        self.direct, self.min_side = direct, min_side
        self.u = self.bt = self.at = self.bias = None  # made by _prepare on first use

    def _weight3x3(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight [Cout*s*s, Cin, 3, 3], bias [Cout*s*s]) of the equivalent stride-1 3x3 conv."""
        d = self.direct
        w = d.weight.detach()
        bias = d.bias.detach() if d.bias is not None else w.new_zeros(w.shape[0])
        if self.shuffle == 1:
            return w, bias
        # phase (a, b) of the transposed conv reads input rows (i-1, i) for a = 0,
        # (i, i+1) for a = 1: window rows (a, a+1) of a 3x3 window centred on i
        k = w.new_zeros(2, 2, self.cout, self.cin, 3, 3)
        for i, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            k[a, b, :, :, a:a + 2, b:b + 2] = w[i * self.cout:(i + 1) * self.cout]
        return k.reshape(4 * self.cout, self.cin, 3, 3), bias

    def _prepare(self, like: torch.Tensor) -> None:
        w, bias = self._weight3x3()
        at, g, bt = winograd_matrices(self.M, self.R)
        a, s = self.M + self.R - 1, self.shuffle
        # U[(i,j), cin, cout] = (G w G^T)[i, j], in float64, rounded once
        u = torch.einsum("ik,ockl,jl->ijco", g, w.to(torch.float64), g).reshape(a * a, self.cin, -1)
        self.u = u.to(like.dtype).contiguous()
        self.bt, self.at = bt.to(like.dtype), at.to(like.dtype)  # [6, 6], [4, 6]
        self.bias = bias.to(like.dtype).reshape(s, 1, 1, s, self.cout)  # phases (a, b), channel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.cin:
            raise ValueError(f"WinogradConv2d expects (N, {self.cin}, H, W), got {tuple(x.shape)}")
        n, c, h, w = x.shape
        if min(h, w) < self.min_side:
            return self.direct(x)
        if self.u is None or self.u.device != x.device or self.u.dtype != x.dtype:
            self._prepare(x)
        m, a, s = self.M, self.M + self.R - 1, self.shuffle
        th, tw = -(-h // m), -(-w // m)  # tiles per side (the last ones may overhang)
        # 1. zero padding 1 on top/left, enough on bottom/right for whole tiles
        xp = _zero_padded(x, th * m + 2, tw * m + 2)
        # overlapping 6x6 tiles as a view [n, c, th, tw, 6, 6], copied to [6, 6, n, th, tw, c]
        tiles = xp.unfold(2, a, m).unfold(3, a, m)
        p, co = n * th * tw, self.u.shape[2]
        ws0, ws1 = _workspace(a * a * p * max(c, co), x)
        d = ws0[:a * a * p * c].view(a, a, n, th, tw, c)
        d.copy_(tiles.permute(4, 5, 0, 2, 3, 1))
        # 2. input transform B^T d B, separably: rows (one GEMM), then columns
        # (a batch of GEMMs); 2x faster than one GEMM with the 36x36 Kronecker matrix
        v = torch.mm(self.bt, d.view(a, -1), out=ws1[:a * a * p * c].view(a, -1))
        v = torch.matmul(self.bt, v.view(a, a, -1), out=ws0[:a * a * p * c].view(a, a, -1))
        # 3. the 36 channel-mixing GEMMs
        mm = torch.bmm(v.view(a * a, p, c), self.u, out=ws1[:a * a * p * co].view(a * a, p, co))
        # 4. output transform, then tiles (and phases) into place + bias
        y = torch.mm(self.at, mm.view(a, -1), out=ws0[:m * a * p * co].view(m, -1))
        y = torch.matmul(self.at, y.view(m, a, -1), out=ws1[:m * m * p * co].view(m, m, -1))
        y = y.view(m, m, n, th, tw, s, s, self.cout)
        out = torch.empty(n, th, m, s, tw, m, s, self.cout, dtype=x.dtype, device=x.device)
        # out[n, ti, yi, pa, tj, xj, pb, o] = y[yi, xj, n, ti, tj, pa, pb, o] + bias[pa, pb, o]
        torch.add(y.permute(2, 3, 0, 5, 4, 1, 6, 7), self.bias, out=out)
        out = out.view(n, th * m * s, tw * m * s, self.cout).permute(0, 3, 1, 2)  # NCHW view of NHWC memory
        if th * m != h or tw * m != w:
            out = out[:, :, :h * s, :w * s]
        return out

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, min_side: int = 1) -> "WinogradConv2d":
        return cls(conv, min_side)

    @classmethod
    def from_deconv(cls, deconv: nn.ConvTranspose2d, min_side: int = 1) -> "WinogradConv2d":
        """ConvTranspose2d(k4, s2, p1) = a 3x3 conv with 4*Cout phase outputs + pixel shuffle."""
        direct = PhaseConvTranspose2d(deconv)
        if deconv.weight.is_contiguous(memory_format=torch.channels_last):
            direct = direct.to(memory_format=torch.channels_last)
        return cls(direct, min_side)


def _is_plain_3x3(conv: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


def _is_k4s2p1_deconv(conv: nn.Module) -> bool:
    return (type(conv) is nn.ConvTranspose2d and conv.kernel_size == (4, 4) and conv.stride == (2, 2)
            and conv.padding == (1, 1) and conv.output_padding == (0, 0) and conv.dilation == (1, 1)
            and conv.groups == 1)


# measured per layer size on this CPU (2-core Zen3, 4 views): 224x224-channel
# convs gain from 4x4 inputs on, transposed convs from 16x16 on
MIN_CHANNELS, CONV_MIN_SIDE = 224 * 224, 4
DECONV_MIN_CHANNELS, DECONV_MIN_SIDE = 128 * 128, 16


def winograd_layer_count(module: nn.Module, min_channels: int = MIN_CHANNELS,
                         deconv_min_channels: int = DECONV_MIN_CHANNELS) -> int:
    """How many layers of ``module`` ``with_winograd`` would swap."""
    return sum(1 for m in module.modules()
               if (_is_plain_3x3(m) and m.in_channels * m.out_channels >= min_channels)
               or (_is_k4s2p1_deconv(m) and m.in_channels * m.out_channels >= deconv_min_channels))


def with_winograd(module: nn.Module, min_channels: int = MIN_CHANNELS, conv_min_side: int = CONV_MIN_SIDE,
                  deconv_min_channels: int = DECONV_MIN_CHANNELS, deconv_min_side: int = DECONV_MIN_SIDE
                  ) -> nn.Module:
    """Replace (in place) every stride-1 3x3 conv with Cin*Cout >= ``min_channels``
    and every ConvTranspose2d(k4, s2, p1) with Cin*Cout >= ``deconv_min_channels``
    by ``WinogradConv2d``.

    Smaller layers stay as they are, and inputs with a side below
    ``conv_min_side`` / ``deconv_min_side`` run the direct form: there the
    transforms cost more than the saved multiplies (measured per layer size on
    this CPU, see docs/network.md)."""
    for name, child in list(module.named_children()):
        if _is_plain_3x3(child) and child.in_channels * child.out_channels >= min_channels:
            setattr(module, name, WinogradConv2d.from_conv(child, conv_min_side))
        elif _is_k4s2p1_deconv(child) and child.in_channels * child.out_channels >= deconv_min_channels:
            setattr(module, name, WinogradConv2d.from_deconv(child, deconv_min_side))
        else:
            with_winograd(child, min_channels, conv_min_side, deconv_min_channels, deconv_min_side)
    return module
