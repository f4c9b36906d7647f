"""One table of hostile segments (engine_bridge/conformance.py) against the
Python, C and C# readers, each in its own process: bad magic, versions and
sizes, overflowing offsets, segments that shrink after they were opened
(SIGBUS before the fstat checks), FIFO/directory/symlink, a foreign owner,
modes 0644 and 04600. Every case is rejected with an error naming the
problem; no reader crashes or hangs; the valid control is accepted."""
from __future__ import annotations

import os

import pytest

from conrt.engine_bridge import conformance


@pytest.fixture(scope="module")
def readers(tmp_path_factory):
    return conformance.build_readers(tmp_path_factory.mktemp("probes"))


@pytest.mark.parametrize("reader", ["python", "c", "csharp"])
def test_every_reader_rejects_every_hostile_segment(readers, reader, name):
    cmd = readers[reader]
    if isinstance(cmd, str):
        if reader == "csharp" and cmd == "no mcs/mono":
            pytest.skip("no C# compiler/runtime (mcs + mono); scripts/setup.sh --test installs mono-mcs")
        pytest.fail(f"{reader} probe: {cmd}")
    rows = conformance.run_table({reader: cmd}, name)
    bad = [f"{r['case']} ({r['what']}): {r['verdict']}: {r['message'] or r.get('lines')}"
           for r in rows if r["ok"] is False]
    assert not bad, "\n".join(bad)
    ran = [r for r in rows if r["ok"] is not None]
    assert len(ran) >= len(conformance.CASES) - (os.geteuid() != 0)
