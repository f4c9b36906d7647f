"""The bridge's transport seam: serve()/run_bridge() talk to any registered
transport; shared memory is one registration among others."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.engine_bridge import (BridgeWriter, TestPattern, Transport, open_transport, register_transport,
                                 run_bridge, transport_kinds)
from conrt.errors import BridgeProtocolError, ConfigError
from conrt.types import PoseKind, PoseRequest


class ListTransport:
    """A toy transport: requests come from a list (one per poll), frames go into a list."""

    instances: list["ListTransport"] = []

    def __init__(self, name=None, width=8, height=8, requests=(), **kw):
        self.name, self.shape, self.kw = name, (height, width, 4), kw
        self.requests = list(requests) or [
            PoseRequest(request_id=1),
            PoseRequest(request_id=2, kind=PoseKind.CLIP, clip_name="walk", clip_time=0.5),
            BridgeProtocolError("pose request 3: unknown kind 9"),  # what a transport rejects itself
        ]
        self.current, self.frames, self.closed = PoseRequest(), [], False
        ListTransport.instances.append(self)

    def poll_request(self) -> PoseRequest:
        if self.requests:
            nxt = self.requests.pop(0)
            if isinstance(nxt, Exception):
                raise nxt
            self.current = nxt
        return self.current

    def publish(self, pixels, request=None, render_start_ns=None) -> int:
        assert pixels.shape == self.shape
        self.frames.append((pixels.copy(), request.request_id))
        return len(self.frames) - 1

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def toy_transport():
    register_transport("list-test", ListTransport)
    ListTransport.instances.clear()
    yield "list-test"
    from conrt.engine_bridge import transport as T

    T._TRANSPORTS.pop("list-test", None)


def test_run_bridge_serves_a_registered_toy_transport(toy_transport):
    assert "shm" in transport_kinds() and toy_transport in transport_kinds()
    stats = run_bridge(TestPattern(8, 8), "toy", 8, 8, transport=toy_transport, fps=0, max_frames=5)
    (toy,) = ListTransport.instances
    assert isinstance(toy, Transport) and toy.closed
    assert toy.kw["skeleton_joints"] == 0 and toy.kw["slot_count"] == 3  # what run_bridge passes every transport
    assert [rid for _, rid in toy.frames] == [1, 2, 2, 2, 2]  # the rejected request 3 is never echoed
    assert stats.frames == 5 and stats.bad_requests == 1
    assert not np.array_equal(toy.frames[0][0], toy.frames[1][0])  # the clip request was drawn


def test_shared_memory_is_the_default_transport(name):
    with open_transport("shm", name=name, width=8, height=8) as w:
        assert isinstance(w, BridgeWriter) and isinstance(w, Transport)
    with pytest.raises(ConfigError, match="unknown bridge transport 'udp'; choose from shm"):
        open_transport("udp", name=name)


def test_a_flood_of_bad_requests_is_counted_but_not_logged_one_by_one(toy_transport, caplog):
    flood = []
    for i in range(50):  # an engine sending a new bad request every frame
        flood += [BridgeProtocolError(f"pose request {100 + i}: unknown kind 9"), PoseRequest(request_id=1)]
    with caplog.at_level("WARNING", logger="conrt.engine_bridge"):
        stats = run_bridge(TestPattern(8, 8), "toy", 8, 8, transport=toy_transport, fps=0, max_frames=100,
                           transport_options={"requests": flood})
    assert stats.bad_requests == 50
    shown = [r for r in caplog.records if "ignoring bad pose request" in r.getMessage()]
    assert len(shown) == 5
    assert "45 more bad pose requests" in caplog.text
