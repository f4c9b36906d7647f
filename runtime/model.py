"""``create_model(name_or_config)``: the one entry point to build a CoNR network."""
from __future__ import annotations

import torch

from .config import CoNRConfig, get_config, list_configs
from .conr_v1 import CoNR
from .lookup_net import LookupNet

__all__ = ["create_model", "list_configs"]


def create_model(name_or_config: "str | CoNRConfig | dict" = "conr-paper", *,
                 empty: bool = False) -> "CoNR | LookupNet":
    """A CoNR network (or the lookup variant, by ``cfg.architecture``) for a config name, dict or object.

    Freshly initialised (untrained), or with ``empty=True`` without storage
    (meta device), to be filled by ``load_state_dict(..., assign=True)``.
    """
    cfg = get_config(name_or_config)
    cls = LookupNet if cfg.architecture == "lookup" else CoNR
    if empty:
        with torch.device("meta"):
            return cls(cfg)
    return cls(cfg)
