"""Model sizes as data: ``CoNRConfig`` + JSON files in ``runtime/configs/``.

``conr-paper`` is exactly the published layout (it loads the four official
``.pth`` files). Smaller configs reuse the same module code with narrower
widths, fewer blocks and fewer pyramid levels.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from conrt.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class EncoderConfig:
    """A ResNet-like encoder (instance norm) with an optional U-Net decoder.

    Features come out coarse to fine: the stage outputs in reverse order,
    then the stem (H/2). With 4 stages the coarsest level is H/32.
    """

    block: Literal["bottleneck", "basic"] = "bottleneck"
    in_channels: int = 3
    stem_width: int = 64
    widths: tuple[int, ...] = (64, 128, 256, 512)  # base width per stage
    depths: tuple[int, ...] = (3, 4, 6, 3)  # blocks per stage
    # "conv": the official parser's 3x3/2 conv in place of the max-pool.
    pool: Literal["conv", "maxpool"] = "conv"
    # U-Net decoder (used in training only; () = none). One entry per feature.
    decoder_filters: tuple[int, ...] = (512, 384, 256, 128, 32)
    classes: int = 4

    @property
    def expansion(self) -> int:
        return 4 if self.block == "bottleneck" else 1

    @property
    def feature_channels(self) -> tuple[int, ...]:
        """Channels of each output feature, coarse to fine."""
        stages = [w * self.expansion for w in self.widths]
        return tuple(reversed(stages)) + (self.stem_width,)

    @property
    def coarsest_stride(self) -> int:
        return 2 ** (len(self.depths) + 1)


@dataclass(frozen=True)
class CinnConfig:
    """The collaborative decoder: one DecoderBlock per pyramid level.

    Level p < L works at the size of feature p, level L at full size; so
    every tuple has L + 1 entries (L = number of encoder features).
    """

    hidden: int | tuple[int, ...] = 224  # block width, one for all or one per level
    block_nums: tuple[int, ...] = (1, 1, 1, 1, 1, 2)  # residual stacks per block
    convs_per_stack: int = 6
    messages: tuple[int, ...] = (2048, 1024, 512, 256, 64, 64)  # out_msgs
    locals: tuple[int, ...] = (2048, 1024, 512, 256, 64, 0)  # out_locals (last must be 0)
    flow_groups: int = 16  # each message group is warped by its own flow pair


@dataclass(frozen=True)
class LookupConfig:
    """The ``lookup`` architecture (runtime/lookup_net.py): correspondences from
    an explicit UDP lookup instead of CoNR's learned flow pyramid.

    The sheet encoder's U-Net head predicts each sheet pixel's UDP; those land
    in a ``grid``³ table of sheet positions per view (once per character).
    Per frame every target pixel looks its UDP up in the table, the views'
    references are sampled there, fused across views and refined by a small
    U-Net (``widths``: channels at full, 1/2, 1/4, 1/8 size).
    """

    grid: int = 32  # table side: voxels per canonical-box axis
    fill_rounds: int = 3  # 3x3x3 hole-filling passes over empty voxels
    score_width: int = 8  # per-view scoring conv width
    widths: tuple[int, ...] = (16, 24, 32, 48)
    # the scores and the refinement U-Net run at 1/score_scale, 1/refine_scale
    # of the frame side (the fusion itself always at full size)
    score_scale: int = 2
    refine_scale: int = 2
    # "prelu" (learned per-channel slope) or "relu": ONNX Runtime fuses ReLU
    # into the conv before it, PReLU is a pass of its own over the tensor
    activation: Literal["prelu", "relu"] = "prelu"
    gt_sheet_udp: float = 0.5  # training: chance a sample builds its table from the true sheet UDP


@dataclass(frozen=True)
class CoNRConfig:
    name: str = "conr-paper"
    description: str = ""
    image_size: int = 256  # the size the model runs at (crop/pad target)
    # "conr": the published network (runtime/conr_v1.py); "lookup": conrt's
    # real-time variant (runtime/lookup_net.py), which uses only sheet_encoder
    # (with its U-Net head) and ``lookup``; pose_encoder and cinn are ignored.
    architecture: Literal["conr", "lookup"] = "conr"
    sheet_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    pose_encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(
        block="basic", in_channels=4, depths=(2, 2, 2, 2), pool="maxpool", classes=1))
    cinn: CinnConfig = field(default_factory=CinnConfig)
    lookup: LookupConfig = field(default_factory=LookupConfig)

    @property
    def levels(self) -> int:
        """Sheet tensors cached per character: one per pyramid level (conr), the table (lookup)."""
        return 1 if self.architecture == "lookup" else len(self.sheet_encoder.depths) + 1

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (coarsest level / 4 by the blocks)."""
        if self.architecture == "lookup":  # the sheet U-Net; the refinement U-Net and the scores below full size
            lk = self.lookup
            return max(self.sheet_encoder.coarsest_stride, lk.refine_scale * 2 ** (len(lk.widths) - 1),
                       lk.score_scale)
        return self.sheet_encoder.coarsest_stride * 4

    @property
    def rgba_channels(self) -> int:
        return self.cinn.messages[-1]

    def validate(self) -> "CoNRConfig":
        if self.architecture == "lookup":
            return self._validate_lookup()
        if self.architecture != "conr":
            raise ConfigError(f"{self.name}: unknown architecture {self.architecture!r}; valid: conr, lookup")
        s, p, c = self.sheet_encoder, self.pose_encoder, self.cinn
        n = self.levels
        if len(p.depths) != len(s.depths):
            raise ConfigError(f"{self.name}: sheet and pose encoders need the same number of stages "
                              f"({len(s.depths)} vs {len(p.depths)})")
        for enc, what in ((s, "sheet_encoder"), (p, "pose_encoder")):
            if len(enc.widths) != len(enc.depths):
                raise ConfigError(f"{self.name}: {what}.widths and depths differ in length")
            if enc.decoder_filters and len(enc.decoder_filters) != n:
                raise ConfigError(f"{self.name}: {what}.decoder_filters needs {n} entries or none")
        keys = ("block_nums", "messages", "locals") + (("hidden",) if isinstance(c.hidden, tuple) else ())
        for key in keys:
            if len(getattr(c, key)) != n + 1:
                raise ConfigError(f"{self.name}: cinn.{key} needs {n + 1} entries (levels + full size)")
        if c.locals[-1] != 0:
            raise ConfigError(f"{self.name}: cinn.locals[-1] must be 0 (no level follows the last)")
        for m in c.messages + tuple(x for x in c.locals if x):
            if m % c.flow_groups:
                raise ConfigError(f"{self.name}: message width {m} is not a multiple of "
                                  f"flow_groups={c.flow_groups}")
        if self.image_size % self.size_multiple:
            raise ConfigError(f"{self.name}: image_size {self.image_size} is not a multiple of "
                              f"{self.size_multiple}")
        return self

    def _validate_lookup(self) -> "CoNRConfig":
        s, lk = self.sheet_encoder, self.lookup
        if len(s.widths) != len(s.depths):
            raise ConfigError(f"{self.name}: sheet_encoder.widths and depths differ in length")
        if len(s.decoder_filters) != len(s.depths) + 1 or s.classes != 4:
            raise ConfigError(f"{self.name}: the lookup architecture needs the sheet encoder's U-Net head "
                              f"(decoder_filters with {len(s.depths) + 1} entries, classes 4: xyz + mask)")
        if not 4 <= lk.grid <= 128:
            raise ConfigError(f"{self.name}: lookup.grid must be in 4..128, got {lk.grid}")
        if not 1 <= len(lk.widths) <= 5 or min(lk.widths) < 1:
            raise ConfigError(f"{self.name}: lookup.widths needs 1-5 positive widths, got {lk.widths}")
        for key in ("score_scale", "refine_scale"):
            if getattr(lk, key) not in (1, 2, 4, 8):
                raise ConfigError(f"{self.name}: lookup.{key} must be 1, 2, 4 or 8, got {getattr(lk, key)}")
        if lk.activation not in ("prelu", "relu"):
            raise ConfigError(f"{self.name}: lookup.activation must be 'prelu' or 'relu', got {lk.activation!r}")
        if not 0.0 <= lk.gt_sheet_udp <= 1.0:
            raise ConfigError(f"{self.name}: lookup.gt_sheet_udp is a probability, got {lk.gt_sheet_udp}")
        if self.image_size % self.size_multiple:
            raise ConfigError(f"{self.name}: image_size {self.image_size} is not a multiple of "
                              f"{self.size_multiple}")
        return self

    # -- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CoNRConfig":
        def build(kind, data):
            names = {f.name for f in dataclasses.fields(kind)}
            unknown = set(data) - names
            if unknown:
                raise ConfigError(f"unknown {kind.__name__} keys {sorted(unknown)}; valid: {sorted(names)}")
            return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}

        try:
            top = build(cls, d)
            for key, kind in (("sheet_encoder", EncoderConfig), ("pose_encoder", EncoderConfig),
                              ("cinn", CinnConfig), ("lookup", LookupConfig)):
                if key in top:
                    top[key] = kind(**build(kind, top[key]))
            return cls(**top).validate()
        except TypeError as exc:
            raise ConfigError(f"bad config: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def list_configs() -> list[str]:
    """Names of the configs shipped in ``runtime/configs/``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def get_config(name_or_config: "str | CoNRConfig | dict") -> CoNRConfig:
    """A config by name, from a dict, a ``.json`` path, or passed through."""
    if isinstance(name_or_config, CoNRConfig):
        return name_or_config.validate()
    if isinstance(name_or_config, dict):
        return CoNRConfig.from_dict(name_or_config)
    path = Path(name_or_config)
    if path.suffix == ".json" and path.is_file():
        return CoNRConfig.from_dict(json.loads(path.read_text()))
    path = CONFIG_DIR / f"{name_or_config}.json"
    if not path.is_file():
        raise ConfigError(f"unknown config {name_or_config!r}; valid: {', '.join(list_configs())}")
    return CoNRConfig.from_dict(json.loads(path.read_text()))
