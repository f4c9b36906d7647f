"""Model sizes as data: ``CoNRConfig`` + JSON files in ``runtime/nn/configs/``.

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

from .architectures import get_architecture

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
    """The ``lookup`` architecture (runtime/nn/lookup_net.py): correspondences from
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
    # exact / udp-nn correspondences (runtime.lookup_net.FusionNet keep_seen): keep
    # the views' fused colour where they see the point. Weights trained on the
    # table over-correct exact samples and need it; weights fine-tuned on exact
    # samples (conrt data make --exact) may not (docs/training.md)
    keep_seen: bool = True
    # a fusion net per correspondence mode: True, the file holds a second FusionNet (keys
    # ``table_fusion.*``) that shades the 32³ table of the predicted sheet UDP (sheets with
    # neither view nor UDP files: ``LookupNet.render``, the "table" mode), and ``fusion.*``
    # shades exact and udp-nn samples (``render_views``); False, ``fusion`` shades every mode.
    # The exact-mode fine-tunes made the table path worse (docs/training.md, "Session 12");
    # scripts/add_table_fusion.py adds the table net to a weights file
    table_fusion: bool = False


@dataclass(frozen=True)
class CoNRConfig:
    name: str = "conr-paper"
    description: str = ""
    image_size: int = 256  # the size the model runs at (crop/pad target)
    # a registered architecture (runtime/nn/architectures.py): "conr", the published
    # network (runtime/nn/conr_v1.py); "lookup", conrt's real-time variant
    # (runtime/nn/lookup_net.py), which uses only sheet_encoder (with its U-Net
    # head) and ``lookup``; pose_encoder and cinn are ignored.
    architecture: str = "conr"
    sheet_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    pose_encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(
        block="basic", in_channels=4, depths=(2, 2, 2, 2), pool="maxpool", classes=1))
    cinn: CinnConfig = field(default_factory=CinnConfig)
    lookup: LookupConfig = field(default_factory=LookupConfig)

    @property
    def levels(self) -> int:
        """Sheet tensors cached per character (the architecture says: one per pyramid level for conr, the table for lookup)."""
        return get_architecture(self.architecture).sheet_levels(self)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (the architecture says)."""
        return get_architecture(self.architecture).size_multiple(self)

    @property
    def rgba_channels(self) -> int:
        return self.cinn.messages[-1]

    def validate(self) -> "CoNRConfig":
        """The architecture's own checks (``validate_config``), then the size rule every one shares."""
        try:
            arch = get_architecture(self.architecture)
        except ConfigError as exc:
            raise ConfigError(f"{self.name}: {exc}") from None
        arch.validate_config(self)
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
    """Names of the configs shipped in ``runtime/nn/configs/``."""
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
