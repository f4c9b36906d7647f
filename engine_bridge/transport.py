"""Bridge transports: how frames go out to an engine and pose requests come in.

``serve()`` talks to a transport only through :class:`Transport`, so a new
one (a socket, a Windows file mapping, ...) is one file plus one
``register_transport`` line. Shared memory (:class:`~.writer.BridgeWriter`,
PROTOCOL.md) is the first implementation, registered as ``"shm"``.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import numpy as np

from conrt.errors import ConfigError
from conrt.types import PoseRequest

from .writer import BridgeWriter


@runtime_checkable
class Transport(Protocol):
    """The runtime's end of a bridge.

    - ``poll_request()``: the engine's latest pose request, or the last good
      one if nothing new came; raises BridgeProtocolError once per request
      that breaks the transport's rules (then keeps returning the last good one);
    - ``publish(pixels, request, render_start_ns)``: send one [H, W, 4]
      premultiplied RGBA frame shaded from ``request``; returns its frame index;
    - ``close()``: release everything (idempotent).

    A transport may also offer ``frame(request, render_start_ns)``, a context
    manager yielding the destination array to draw into (no copy);
    ``serve()`` uses it when the frame source can ``render_into``.
    """

    name: str

    def poll_request(self) -> PoseRequest: ...

    def publish(self, pixels: np.ndarray, request: PoseRequest | None = None,
                render_start_ns: int | None = None) -> int: ...

    def close(self) -> None: ...


TransportFactory = Callable[..., Transport]
_TRANSPORTS: dict[str, TransportFactory] = {}


def register_transport(kind: str, factory: TransportFactory) -> None:
    """``factory(name=, width=, height=, pixel_format=, slot_count=, max_joints=, skeleton_joints=)``."""
    _TRANSPORTS[kind] = factory


def transport_kinds() -> tuple[str, ...]:
    return tuple(_TRANSPORTS)


def open_transport(kind: str = "shm", **kw) -> Transport:
    try:
        factory = _TRANSPORTS[kind]
    except KeyError:
        raise ConfigError(f"unknown bridge transport {kind!r}; choose from {', '.join(_TRANSPORTS)}") from None
    return factory(**kw)


register_transport("shm", BridgeWriter)
