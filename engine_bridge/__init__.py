"""conrt.engine_bridge: frames out, poses in, over POSIX shared memory.

The layout is specified in ``PROTOCOL.md`` and mirrored by the single-header
C implementation ``include/conrt_bridge.h`` and the C# reader in ``csharp/``.
"""
from .protocol import VERSION, Geometry, PixelFormat, PoseKind, PoseRequest, parse_header
from .reader import BridgeReader, FrameInfo, WriterGone, WriterState
from .transport import Transport, open_transport, register_transport, transport_kinds
from .server import FrameSource, ServeStats, run_bridge, runtime_frame_source, serve
from .test_pattern import TestPattern, check_stamp
from .writer import BridgeWriter
from . import shm

__all__ = [
    "VERSION", "Geometry", "PixelFormat", "PoseKind", "PoseRequest", "parse_header",
    "BridgeReader", "FrameInfo", "WriterGone", "WriterState",
    "BridgeWriter", "FrameSource", "ServeStats", "run_bridge", "runtime_frame_source", "serve",
    "TestPattern", "check_stamp", "Transport", "open_transport", "register_transport", "transport_kinds",
]
