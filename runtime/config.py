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
class CoNRConfig:
    name: str = "conr-paper"
    description: str = ""
    image_size: int = 256  # the size the model runs at (crop/pad target)
    sheet_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    pose_encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(
        block="basic", in_channels=4, depths=(2, 2, 2, 2), pool="maxpool", classes=1))
    cinn: CinnConfig = field(default_factory=CinnConfig)

    @property
    def levels(self) -> int:
        return len(self.sheet_encoder.depths) + 1

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (coarsest level / 4 by the blocks)."""
        return self.sheet_encoder.coarsest_stride * 4

    @property
    def rgba_channels(self) -> int:
        return self.cinn.messages[-1]

    def validate(self) -> "CoNRConfig":
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
                              ("cinn", CinnConfig)):
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
