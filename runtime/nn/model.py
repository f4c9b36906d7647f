"""The shader-network interface (``ShaderNet``) and ``create_model``.

A shader network paints a frame from a character sheet and the frame's UDP
in two halves: once per character ``encode_sheet`` (its result is the sheet
cache: ``reference`` plus the architecture's sheet tensors), per frame
``encode_pose`` + ``render``. Callers ask the network what it takes
(``takes_sheet_udp``, ``takes_views``), what its cache holds
(``sheet_tensor_shapes``), its limits (``size_multiple``, ``max_views``) and
example inputs, instead of testing its architecture's name.

Architectures register by name (runtime/nn/architectures.py):

    @register_model
    class ToyNet(ShaderNet):
        architecture = "toy"
        ...

    model = create_model({"name": "toy-1", "architecture": "toy"})
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from .architectures import architecture_names, get_architecture, register_model
from .config import CoNRConfig, get_config, list_configs

__all__ = ["ShaderNet", "architecture_names", "create_model", "get_architecture", "list_configs",
           "register_model"]


class ShaderNet(nn.Module, ABC):
    """What every shader network offers (``CoNR``, ``LookupNet``, a toy in a test)."""

    architecture: ClassVar[str]  # the registry name, ``cfg.architecture``
    PARTS: ClassVar[tuple[str, ...]] = ()  # its submodules, as saved
    FRAME_PARTS: ClassVar[tuple[str, ...]] = ()  # the submodules that run per frame
    # ``encode_sheet(..., sheet_udp=)`` builds the sheet tensors from the views'
    # own UDPs when a caller knows them (else they are ignored)
    takes_sheet_udp: ClassVar[bool] = False
    # ``render_views`` shades from exact sheet correspondences (shaders.CorrespondencePass)
    takes_views: ClassVar[bool] = False
    # the official CoNR code exists to compare against (runtime/app/profiling.py)
    has_official_baseline: ClassVar[bool] = False
    # most sheet views the network takes (None: no limit of its own; see runtime/limits.py)
    max_views: ClassVar[int | None] = None

    cfg: CoNRConfig

    # -- the config (class level: config.py asks these) --------------------------
    @classmethod
    def validate_config(cls, cfg: CoNRConfig) -> None:
        """Raise ``ConfigError`` for a config this architecture cannot build."""

    @classmethod
    def sheet_levels(cls, cfg: CoNRConfig) -> int:
        """How many sheet tensors the sheet cache holds (besides ``reference``)."""
        return 1

    @classmethod
    def size_multiple(cls, cfg: CoNRConfig) -> int:
        """Image sides must be multiples of this."""
        return 1

    # -- once per character ---------------------------------------------------------
    @abstractmethod
    def encode_sheet(self, rgb: torch.Tensor, mask: torch.Tensor, sheet_udp: torch.Tensor | None = None):
        """rgb [N, M, 3, S, S] premultiplied, mask [N, M, 1, S, S] (``sheet_udp``
        [N, M, 4, S, S] if ``takes_sheet_udp``) -> (sheet tensors, reference [N, M, 4, S, S])."""

    def sheet_tensor_shapes(self, size: int, views: int) -> list[tuple[int, ...]]:
        """The shapes of the sheet tensors ``encode_sheet`` gives for one sheet at side ``size``."""
        dev = next(self.parameters(), torch.zeros(())).device
        with torch.no_grad():  # a blank sheet through the encoder: only the shapes are kept
            feats, _ = self.encode_sheet(torch.zeros(1, views, 3, size, size, device=dev),
                                         torch.zeros(1, views, 1, size, size, device=dev))
        return [tuple(f.shape) for f in feats]

    # -- per frame -----------------------------------------------------------------
    @abstractmethod
    def encode_pose(self, udp: torch.Tensor) -> list[torch.Tensor]:
        """udp [N, 4, H, W] xyz + visibility -> the pose features ``render`` takes."""

    @abstractmethod
    def render(self, pose_feats, reference, sheet_feats, return_features: bool = False):
        """-> premultiplied RGBA [N, 4, H, W] (with ``return_features``: (rgba, features or None))."""

    def render_views(self, udp: torch.Tensor, sampled: torch.Tensor, cover: torch.Tensor,
                     ink: torch.Tensor | None = None) -> torch.Tensor:
        """Shade from the sheet samples already found (``takes_views`` networks):
        udp [N, 4, S, S], sampled [N, M, 4, S, S], cover [N, M, 1, S, S] -> RGBA
        (``ink`` [N]: the sheet's judged look, ``sheet.SheetCache.ink``)."""
        raise NotImplementedError(f"{type(self).__name__} does not shade from exact sheet correspondences")

    def forward(self, sheet_rgb, sheet_mask, udp, sheet_udp=None):
        feats, reference = self.encode_sheet(sheet_rgb, sheet_mask, sheet_udp)
        return self.render(self.encode_pose(udp), reference, feats)

    def frame_graph(self, phase_deconvs: bool = False) -> nn.Module:
        """The per-frame part as a module ``(udp, reference, *sheet_tensors) -> rgba`` (for export)."""
        return _FrameGraph(self)

    def example_inputs(self, size: int, views: int = 2) -> tuple[torch.Tensor, ...]:
        """Random (udp, reference, *sheet tensors) of the right shapes (export, tests), seed 0."""
        g = torch.Generator().manual_seed(0)
        udp = torch.rand(1, 4, size, size, generator=g)
        ref = torch.rand(1, views, 4, size, size, generator=g)
        return (udp, ref, *(torch.rand(*s, generator=g) for s in self.sheet_tensor_shapes(size, views)))

    def part_state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """{part: state dict} for each of ``PARTS``."""
        return {name: getattr(self, name).state_dict() for name in self.PARTS}


class _FrameGraph(nn.Module):
    def __init__(self, net: ShaderNet):
        super().__init__()
        self.net = net

    def forward(self, udp, reference, *sheet_features):
        return self.net.render(self.net.encode_pose(udp), reference, list(sheet_features))


def create_model(name_or_config: "str | CoNRConfig | dict" = "conr-paper", *,
                 empty: bool = False) -> ShaderNet:
    """The network of ``cfg.architecture`` for a config name, dict or object.

    Freshly initialised (untrained), or with ``empty=True`` without storage
    (meta device), to be filled by ``load_state_dict(..., assign=True)``.
    """
    cfg = get_config(name_or_config)
    cls = get_architecture(cfg.architecture)
    if empty:
        with torch.device("meta"):
            return cls(cfg)
    return cls(cfg)
