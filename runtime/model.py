"""``create_model(name_or_config)``: the one entry point to build a CoNR network."""
from __future__ import annotations

from .config import CoNRConfig, get_config, list_configs
from .conr_v1 import CoNR

__all__ = ["create_model", "list_configs"]


def create_model(name_or_config: "str | CoNRConfig | dict" = "conr-paper") -> CoNR:
    """A freshly initialised (untrained) CoNR network for a config name, dict or object."""
    return CoNR(get_config(name_or_config))
