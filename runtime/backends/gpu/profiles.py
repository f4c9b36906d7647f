"""TensorRT optimisation profiles: which input shapes an engine accepts.

A TensorRT engine built from a graph with dynamic axes only runs shapes
inside the min..max box of its optimisation profile and is fastest at the
``opt`` shape. conrt's per-frame graph has three free sizes:

- ``views``  — how many character-sheet views are fed (1..8, CoNR's limit),
- ``height`` / ``width`` — the render size the user asks for.

``ProfileSpec`` holds the requested ranges (pure data, no TensorRT);
``input_ranges`` turns it into ``{input name: ShapeRange}`` for an ONNX
graph's inputs by resolving their symbolic dims (``dim_param``).

Symbolic dims are resolved by name: ``views``/``num_views``/``V`` and
``height``/``H``/``width``/``W`` (case-insensitive), optionally scaled —
``height/4``, ``height//4``, ``height*2`` — so feature-pyramid inputs like
``[views, 256, height/4, width/4]`` get consistent ranges. Anything else
needs an explicit ``aliases={"s3": "height/4"}`` entry; an unknown symbol is
a ``ConfigError`` naming it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from conrt.errors import ConfigError, InputError

from ...limits import MAX_RUNTIME_SIDE, TRAINED_VIEWS

__all__ = [
    "MAX_VIEWS",
    "SIZE_MULTIPLE",
    "ShapeRange",
    "ProfileSpec",
    "make_profile",
    "input_ranges",
    "check_shapes_in_profile",
]

MAX_VIEWS = TRAINED_VIEWS  # CoNR was trained with up to 8 sheet views
# conr-paper's CoNRConfig.size_multiple (coarsest stride 32 x 4 from the
# decoder blocks); smaller configs pass their own cfg.size_multiple.
SIZE_MULTIPLE = 128
MAX_SIZE = MAX_RUNTIME_SIDE  # the runtime's bound; past it the engine's activations will not fit anyway

_SYMBOLS = {
    "views": "views", "num_views": "views", "n_views": "views", "nviews": "views", "v": "views",
    "height": "height", "h": "height",
    "width": "width", "w": "width",
}
_EXPR = re.compile(r"^\s*\(?\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:(//|/|\*)\s*(\d+))?\s*\)?\s*$")


@dataclass(frozen=True)
class ShapeRange:
    """min/opt/max shapes of one input, in the order ``profile.set_shape`` takes them."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def contains(self, shape: Sequence[int]) -> bool:
        if len(shape) != len(self.min):
            return False
        return all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max))


@dataclass(frozen=True)
class ProfileSpec:
    """The requested view counts and render sizes of one optimisation profile.

    ``views``: (min, opt, max) view count. ``sizes``: the (height, width)
    pairs the user asked for; the engine accepts every size in their
    bounding box and is tuned for ``opt_size`` (the first one asked for).
    """

    views: tuple[int, int, int]
    sizes: tuple[tuple[int, int], ...]
    opt_size: tuple[int, int]

    def dim_range(self, symbol: str) -> tuple[int, int, int]:
        """(min, opt, max) of one of ``views``, ``height``, ``width``."""
        if symbol == "views":
            return self.views
        axis = {"height": 0, "width": 1}.get(symbol)
        if axis is None:
            raise ConfigError(f"unknown profile dimension {symbol!r}; valid: views, height, width")
        values = [s[axis] for s in self.sizes]
        return min(values), self.opt_size[axis], max(values)

    def key(self) -> str:
        """Canonical text for cache keys: equal specs give equal keys."""
        sizes = ",".join(f"{h}x{w}" for h, w in sorted(set(self.sizes)))
        oh, ow = self.opt_size
        return f"views={self.views[0]}:{self.views[1]}:{self.views[2]};sizes={sizes};opt={oh}x{ow}"


def _parse_size(size, multiple: int) -> tuple[int, int]:
    if isinstance(size, str):
        parts = size.lower().split("x")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"size {size!r} is not N or HxW (e.g. 256 or 512x384)") from None
    elif isinstance(size, int):
        nums = [size]
    else:
        nums = list(size)
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums):
        raise ConfigError(f"size {size!r} is not N or (height, width)")
    h, w = nums
    for name, v in (("height", h), ("width", w)):
        if not multiple <= v <= MAX_SIZE or v % multiple:
            raise ConfigError(
                f"{name} {v} is not supported: sizes must be multiples of {multiple} "
                f"between {multiple} and {MAX_SIZE} (the model's size_multiple)"
            )
    return h, w


def make_profile(
    views=(1, MAX_VIEWS),
    sizes: Iterable = (256,),
    opt_views: int | None = None,
    size_multiple: int = SIZE_MULTIPLE,
) -> ProfileSpec:
    """Validate the user's request and build a ``ProfileSpec``.

    ``views``: an int (exactly that many), a (min, max) pair or an iterable
    of the counts wanted (their range is used). ``sizes``: ints (square),
    ``"HxW"`` strings or (h, w) pairs. ``opt_views`` defaults to the largest
    count, the case that must hit the frame budget. ``size_multiple``: the
    model's ``CoNRConfig.size_multiple`` (default: conr-paper's).
    """
    if not isinstance(size_multiple, int) or size_multiple < 1:
        raise ConfigError(f"size_multiple must be a positive int, got {size_multiple!r}")
    if isinstance(views, bool):
        raise ConfigError(f"views must be an int or a (min, max) range, got {views!r}")
    counts = [views] if isinstance(views, int) else list(views)
    if not counts or not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
        raise ConfigError(f"views must be an int or a (min, max) range of ints, got {views!r}")
    lo, hi = min(counts), max(counts)
    if lo < 1 or hi > MAX_VIEWS:
        raise ConfigError(f"view counts {lo}..{hi} are outside 1..{MAX_VIEWS} (CoNR takes 1 to {MAX_VIEWS} sheet views)")
    opt = hi if opt_views is None else opt_views
    if not lo <= opt <= hi:
        raise ConfigError(f"opt_views {opt} is outside the requested view range {lo}..{hi}")
    sizes = [sizes] if isinstance(sizes, (int, str)) else list(sizes)
    if not sizes:
        raise ConfigError("at least one render size is needed (e.g. 256 or 512x512)")
    parsed = tuple(_parse_size(s, size_multiple) for s in sizes)
    return ProfileSpec(views=(lo, opt, hi), sizes=parsed, opt_size=parsed[0])


def _resolve(param: str, spec: ProfileSpec, aliases: Mapping[str, str]) -> tuple[int, int, int]:
    expr = aliases.get(param, param)
    m = _EXPR.match(expr)
    symbol = _SYMBOLS.get(m.group(1).lower()) if m else None
    if symbol is None:
        raise ConfigError(
            f"cannot map the dynamic dimension {param!r} to views/height/width; "
            f"name it views, height or width (optionally /k, //k or *k) in the export, "
            f"or pass aliases={{{param!r}: 'height/4'}}"
        )
    lo, opt, hi = spec.dim_range(symbol)
    op, k = m.group(2), int(m.group(3) or 1)
    if op is None:
        return lo, opt, hi
    if k == 0:
        raise ConfigError(f"dimension expression {expr!r} divides by zero")
    if op == "*":
        return lo * k, opt * k, hi * k
    if op == "/" and symbol != "views" and any(v % k for v in (lo, opt, hi)):
        raise ConfigError(f"dimension {expr!r} is not whole for sizes {lo}..{hi}")
    return lo // k, opt // k, hi // k


def input_ranges(
    inputs: Mapping[str, Sequence[int | str | None]],
    spec: ProfileSpec,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, ShapeRange]:
    """Per-input (min, opt, max) shapes for ``profile.set_shape``.

    ``inputs``: input name -> dims, each an int (static) or a symbol string
    (as in ONNX ``dim_param``). A ``None``/empty dim (unnamed dynamic) is a
    ConfigError: TensorRT needs every dynamic dim bounded.
    """
    aliases = dict(aliases or {})
    out: dict[str, ShapeRange] = {}
    for name, dims in inputs.items():
        lo, opt, hi = [], [], []
        for axis, d in enumerate(dims):
            if isinstance(d, int) and not isinstance(d, bool) and d > 0:
                rng = (d, d, d)
            elif isinstance(d, str) and d:
                rng = _resolve(d, spec, aliases)
            else:
                raise ConfigError(
                    f"input {name!r} axis {axis} is dynamic without a name ({d!r}); "
                    "export it with a named dynamic axis (views/height/width)"
                )
            lo.append(rng[0]); opt.append(rng[1]); hi.append(rng[2])
        out[name] = ShapeRange(tuple(lo), tuple(opt), tuple(hi))
    return out


def check_shapes_in_profile(shapes: Mapping[str, Sequence[int]], ranges: Mapping[str, ShapeRange]) -> None:
    """Raise InputError before TensorRT does (its message names no sizes)."""
    missing = sorted(set(ranges) - set(shapes))
    if missing:
        raise InputError(f"missing engine inputs: {', '.join(missing)}")
    for name, shape in shapes.items():
        rng = ranges.get(name)
        if rng is None:
            raise InputError(f"the engine has no input {name!r}; inputs: {', '.join(sorted(ranges))}")
        if not rng.contains(tuple(shape)):
            raise InputError(
                f"input {name!r} has shape {tuple(shape)}, outside the engine's profile "
                f"{rng.min}..{rng.max}; rebuild with `conrt export --tensorrt` for this size/view count"
            )
