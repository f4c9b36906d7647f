"""The runtime's limits, each defined once.

Backends and passes declare their own limits where they live; this module
owns the rest and the check that brings them together:

- a sheet holds 1..``MAX_SHEET_VIEWS`` views (defined in ``conrt.limits``, where
  the CLI checks it before the runtime loads; the files a sheet folder may
  have, checked before any is decoded);
- ``TRAINED_VIEWS``: CoNR was trained with up to 8 views (the TensorRT
  profile's default range, runtime/backends/gpu/profiles.py);
- the shading runtime's frame sides: ``MIN_RUNTIME_SIDE``..``MAX_RUNTIME_SIDE``
  and a multiple of the network's ``size_multiple`` (``ShaderNet.size_multiple``);
  ``conrt.limits`` bounds every frame by memory and ``MAX_FRAME_SIDE`` (raster-only
  commands go up to that);
- per backend: ``Backend.max_views`` (gl-lookup: the lookup pass's
  ``shaders.lookup_pass.MAX_VIEWS``; tensorrt: its profile's upper bound;
  torch and onnxruntime: none), per network: ``ShaderNet.max_views``.

``check_sheet_views`` says, before a sheet is encoded, whether a backend and
a network take that many views; ``auto`` skips backends that do not.
"""
from __future__ import annotations

import numpy as np

from conrt.errors import ConfigError, InputError
from conrt.limits import MAX_SHEET_VIEWS

__all__ = ["MAX_RUNTIME_SIDE", "MAX_SHEET_VIEWS", "MIN_RUNTIME_SIDE", "TRAINED_VIEWS", "check_sheet_views",
           "check_size", "views_limit"]

TRAINED_VIEWS = 8
MIN_RUNTIME_SIDE, MAX_RUNTIME_SIDE = 16, 4096


def check_size(size, multiple: int = 1) -> int:
    """A shading runtime's frame side: an integer in ``MIN_RUNTIME_SIDE..MAX_RUNTIME_SIDE``
    and a multiple of the network's ``size_multiple``."""
    lo, hi = MIN_RUNTIME_SIDE, MAX_RUNTIME_SIDE
    if not isinstance(size, (int, np.integer)) or not lo <= size <= hi:
        raise ConfigError(f"frame size must be an integer in {lo}..{hi}, got {size!r}")
    if size % multiple:
        lo = max(multiple, size // multiple * multiple)
        raise ConfigError(f"frame size {size} is not a multiple of {multiple}, which this network needs "
                          f"(try {lo} or {lo + multiple})")
    return int(size)


def views_limit(*limits: "int | None") -> int:
    """The smallest of the given view limits (None: no limit) and ``MAX_SHEET_VIEWS``."""
    return min([MAX_SHEET_VIEWS] + [n for n in limits if n is not None])


def check_sheet_views(views: int, backend_name: str, backend_max: "int | None", model=None) -> None:
    """``InputError`` naming the limit when the backend or the network cannot take ``views`` views."""
    model_max = getattr(model, "max_views", None)
    if not 1 <= views <= views_limit(backend_max, model_max):
        if backend_max is not None and views > backend_max:
            who = f"backend {backend_name!r} takes 1..{backend_max} sheet views"
            hint = " (use another backend, e.g. torch, or fewer views)"
        elif model_max is not None and views > model_max:
            who, hint = f"{model.cfg.name} takes 1..{model_max} sheet views", ""
        else:
            who, hint = f"a sheet has 1..{MAX_SHEET_VIEWS} views", ""
        raise InputError(f"{who}; this sheet has {views}{hint}")
