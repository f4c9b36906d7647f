"""Facial expressions: named sets of morph target weights (VRM blendshapes).

A character's ``expressions`` map a name to the [T] morph weights it sets at
weight 1 (``Character.expressions``, filled by ``gltf_io`` from VRM 0.x
``blendShapeMaster`` / VRM 1.0 ``VRMC_vrm.expressions`` / morph target names,
and by the procedural generator). A frame's expression weights become
``Pose.morph_weights`` through :func:`morph_weights`:

    w_morph = clip(sum_e clip(w_e, 0, 1) * expressions[e], 0, 1)

Preset names are normalised to one spelling (:data:`PRESETS`); VRM 1.0 and
VMC spellings (``happy``, ``blinkLeft``, ``A``, ``Blink_L`` ...) are aliases.

Drivers: the Python API (``PhysicsWorld.set_expressions`` or
:func:`with_expressions` on any Pose), VMC blendshapes
(:func:`vmc_morph_weights`) and a built-in idle (:class:`BlinkIdle`).
"""
from __future__ import annotations

import dataclasses
import logging
import re
from typing import Mapping

import numpy as np

from conrt.errors import InputError
from conrt.types import Character, Pose

log = logging.getLogger(__name__)

# Normalised preset names (VRM 0.x spelling for the emotions, as VMC senders use).
PRESETS = (
    "neutral", "aa", "ih", "ou", "ee", "oh", "blink", "blink_l", "blink_r",
    "joy", "angry", "sorrow", "fun", "surprised", "lookUp", "lookDown", "lookLeft", "lookRight",
)
MOUTH_SHAPES = ("aa", "ih", "ou", "ee", "oh")
_BLINKS = ("blink", "blink_l", "blink_r")

# alias key (lower case, no spaces/underscores/dashes) -> preset
_ALIASES = {re.sub(r"[\s_\-]", "", p.lower()): p for p in PRESETS}
_ALIASES.update({
    # VRM 0.x presetName / VMC clip names
    "a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh", "blinkl": "blink_l", "blinkr": "blink_r",
    # VRM 1.0 preset names
    "happy": "joy", "sad": "sorrow", "relaxed": "fun", "blinkleft": "blink_l", "blinkright": "blink_r",
    "surprise": "surprised",
})


def canonical_name(name: str) -> str:
    """The preset a name stands for (``"Blink_L"``, ``"blinkLeft"`` -> ``"blink_l"``); other names unchanged."""
    return _ALIASES.get(re.sub(r"[\s_\-]", "", str(name).lower()), str(name))


def _lookup(character: Character) -> dict[str, np.ndarray]:
    """Every name a weight may be given under -> [T] morph weights: expressions
    (canonical and exact), then raw morph target names (``mesh/target`` and ``target``)."""
    t = character.mesh.num_morphs
    table: dict[str, np.ndarray] = {}
    for i, full in enumerate(character.mesh.morph_names):
        one = np.zeros(t, np.float32)
        one[i] = 1.0
        table.setdefault(full.split("/")[-1], one)
        table[full] = one
    for name, w in character.expressions.items():
        table[name] = np.asarray(w, np.float32)
        table[canonical_name(name)] = np.asarray(w, np.float32)
    return table


def expression_names(character: Character) -> list[str]:
    return sorted(character.expressions)


def morph_weights(character: Character, weights: Mapping[str, float], *, strict: bool = True) -> np.ndarray | None:
    """Expression (or morph target) name -> weight, to [T] morph weights (None
    if the character has no morph targets and nothing was asked of it).

    ``strict``: an unknown name or a non-number/NaN weight raises InputError
    listing the valid names; otherwise such entries are skipped (VMC input).
    Weights are clipped to 0..1, and so is each morph's sum."""
    t = character.mesh.num_morphs
    if t == 0 and not weights:
        return None
    table = _lookup(character)
    out = np.zeros(t, np.float32)
    for name, w in weights.items():
        key = name if name in table else canonical_name(name)
        if key not in table:
            if strict:
                valid = ", ".join(expression_names(character)) or "none (the character has no expressions)"
                raise InputError(f"{character.name!r} has no expression {name!r}; valid: {valid}")
            continue
        try:
            w = float(w)
        except (TypeError, ValueError):
            w = float("nan")
        if not np.isfinite(w):
            if strict:
                raise InputError(f"expression {name!r}: weight must be a finite number in 0..1, got {w!r}")
            continue
        out += np.clip(w, 0.0, 1.0) * table[key]
    return np.clip(out, 0.0, 1.0)


def unknown_names(character: Character, names) -> list[str]:
    """The names :func:`morph_weights` would not know (for a one-time warning)."""
    table = _lookup(character)
    return sorted(n for n in names if n not in table and canonical_name(n) not in table)


def vmc_morph_weights(character: Character, blends: Mapping[str, float]) -> np.ndarray | None:
    """A VMC receiver's ``blends`` (``/VMC/Ext/Blend/Val`` name -> value as of
    the last Apply) -> [T] morph weights for ``Pose.morph_weights``. Names go
    through the presets' aliases (``Blink``, ``A``, ``Joy``, ``happy`` ...) and
    raw morph target names (ARKit-style perfect sync); unknown names and
    non-finite values are skipped, values clipped to 0..1."""
    return morph_weights(character, blends, strict=False)


def with_expressions(pose: Pose, character: Character, weights: Mapping[str, float]) -> Pose:
    """``pose`` with its morph weights set from named expression weights (Python API)."""
    return dataclasses.replace(pose, morph_weights=morph_weights(character, weights))


class BlinkIdle:
    """Blinks at random intervals: ``weight(t)`` is 0 between blinks and rises
    to 1 and back over ``duration`` seconds (closed for its middle half).
    Seeded, so a replay gives the same blinks; ``t`` is the clock of whatever
    drives it (going back in time re-plans from there)."""

    def __init__(self, seed: int = 0, interval: tuple[float, float] = (2.0, 6.0), duration: float = 0.15):
        lo, hi = (float(x) for x in interval)
        if not (np.isfinite([lo, hi, duration]).all() and 0 < lo <= hi and duration > 0):
            raise InputError(f"blink interval {interval} and duration {duration} must be positive (min <= max)")
        self.interval, self.duration = (lo, hi), float(duration)
        self._rng = np.random.default_rng(seed)
        self._start = self._t0 = None

    def _plan(self, after: float) -> None:
        self._start = after + float(self._rng.uniform(*self.interval))

    def weight(self, t: float) -> float:
        t = float(t)
        if self._start is None or t < self._t0:
            self._plan(t)
        self._t0 = t
        while t >= self._start + self.duration:
            self._plan(self._start + self.duration)
        if t < self._start:
            return 0.0
        x = (t - self._start) / self.duration  # 0..1 through the blink
        return float(min(1.0, 2.0 * (1.0 - abs(2.0 * x - 1.0))))


class ExpressionState:
    """One character's expression weights per frame: what the API set, what
    VMC sent, and the idle blink (on by default when there is a blink
    expression; it yields to any blink the API or VMC gives)."""

    def __init__(self, character: Character, idle_blink: bool | None = None, seed: int = 0):
        self.character = character
        self.weights: dict[str, float] = {}
        self.external: np.ndarray | None = None  # [T] from VMC, added to the API's
        self.external_blink = False  # the VMC sender drives the lids (even at 0): no idle blink
        has_blink = "blink" in character.expressions
        self.idle = None
        self.set_idle_blink(has_blink if idle_blink is None else idle_blink, seed)

    def set_idle_blink(self, on: bool, seed: int = 0) -> None:
        if on and "blink" not in self.character.expressions:
            log.warning("%s has no blink expression; no idle blink", self.character.name)
            on = False
        self.idle = BlinkIdle(seed) if on else None

    def set(self, weights: Mapping[str, float], replace: bool = False) -> None:
        morph_weights(self.character, weights)  # validates: unknown names / NaN raise here
        if replace:
            self.weights = {}
        self.weights.update({canonical_name(k): float(np.clip(v, 0, 1)) for k, v in weights.items()})

    def set_vmc(self, blends: Mapping[str, float] | None) -> None:
        """A VMC receiver's blends (``VmcFrame.blends``) from now on; None stops them."""
        if not blends:
            self.external, self.external_blink = None, False
            return
        self.external = vmc_morph_weights(self.character, blends)
        self.external_blink = any(canonical_name(k) in _BLINKS for k in blends)

    def morph_weights(self, t: float) -> np.ndarray | None:
        if self.character.mesh.num_morphs == 0:
            return None
        w = dict(self.weights)
        if self.idle is not None:
            b = self.idle.weight(t)  # advanced every frame, so blinks keep their times
            if not (self.external_blink or any(k in w for k in _BLINKS)):
                w["blink"] = b
        out = morph_weights(self.character, w)
        if self.external is not None:
            out = np.clip(out + self.external, 0.0, 1.0)
        return out
