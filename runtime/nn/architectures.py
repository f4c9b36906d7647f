"""The registry of shader-network architectures: name -> model class.

An architecture is a ``ShaderNet`` subclass (runtime/nn/model.py) that names
itself and registers with one decorator line::

    @register_model
    class ToyNet(ShaderNet):
        architecture = "toy"

``create_model(cfg)`` builds ``get_architecture(cfg.architecture)(cfg)``;
config validation and the config's derived numbers (``levels``,
``size_multiple``) ask the same class, so nothing else branches on the name.
This module imports nothing from the networks (config.py needs it, and the
networks need config.py): the built-in architectures are imported on the
first look-up, from ``BUILTIN_MODULES``.
"""
from __future__ import annotations

import importlib

from conrt.errors import ConfigError

# the modules of conrt.runtime that register the built-in architectures
BUILTIN_MODULES = ("conr_v1", "lookup_net")

_REGISTRY: dict[str, type] = {}
_builtins_loaded = False


def register_model(cls: type) -> type:
    """Class decorator: register a ``ShaderNet`` subclass under ``cls.architecture``."""
    name = getattr(cls, "architecture", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{cls.__name__}: an architecture needs a class attribute `architecture = 'name'`")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ConfigError(f"architecture {name!r} is already registered by {_REGISTRY[name].__qualname__}")
    _REGISTRY[name] = cls
    return cls


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(f".{module}", __package__)


def architecture_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_architecture(name: str) -> type:
    """The model class registered as ``name`` (``ConfigError`` naming the valid ones)."""
    if name not in _REGISTRY:
        _load_builtins()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown architecture {name!r}; valid: {', '.join(architecture_names())}")
    return _REGISTRY[name]
