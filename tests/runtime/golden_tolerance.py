"""Tolerances for comparing the golden intermediates across CPUs, derived
from each tensor's magnitude and the convolutions behind it.

oneDNN picks other kernels (so other summation orders) on AVX2, AVX-512/AMX
or SSE4.1, and with it disabled torch uses its own im2col path. The rule:

    atol(t) = 4 * u * max|t| * sum over the longest chain of convolutions
              behind t of sqrt(fan-in of that convolution)

with u = 2**-24 (float32 unit roundoff). Why: reordering a K-term float32
sum moves it by ~sqrt(K) * u * |y| (rounding errors add as a random walk);
the layers are normalised (gain ~1), so each convolution on the way adds its
own such error to what it inherits; the largest of 10^4-10^5 elements of a
roughly Gaussian error lies within ~4 sigma. Measured on the Zen3 machine
that made the fixture, against its AVX2 run: SSE4.1 kernels and torch's own
path reach at most 0.34 of this tolerance (sheet_features_0: 9.8e-4 of 2.9e-3).
The final image is held to 1e-4 besides (what a user sees).
"""
from __future__ import annotations

import math

import torch

UNIT_ROUNDOFF = 2.0 ** -24
TAIL = 4.0  # ~max of 1e5 Gaussian samples, in sigmas
IMAGE_TOL = 1e-4


def conv_chain_sqrt_fan_in(t: torch.Tensor) -> float:
    """sum(sqrt(fan-in)) over the longest (by that sum) chain of convolutions
    in ``t``'s autograd graph (``t`` must come from a grad-enabled forward)."""
    if t.grad_fn is None:
        return 0.0
    best: dict = {}
    # iterative post-order walk: the graph is hundreds of nodes deep
    stack = [(t.grad_fn, False)]
    while stack:
        fn, expanded = stack.pop()
        if fn in best:
            continue
        children = [n for n, _ in fn.next_functions if n is not None]
        if not expanded:
            stack.append((fn, True))
            stack.extend((c, False) for c in children if c not in best)
            continue
        below = max((best[c] for c in children), default=0.0)
        if type(fn).__name__.startswith("Convolution"):
            weight = fn._saved_weight  # [out, in/groups, kh, kw]
            below += math.sqrt(weight[0].numel())
        best[fn] = below
    return best[t.grad_fn]


def tolerance(chain: float, golden_max_abs: float) -> float:
    return TAIL * UNIT_ROUNDOFF * chain * golden_max_abs
