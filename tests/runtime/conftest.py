"""Session fixtures for the CoNR runtime tests: the official state dicts of
seed 0 (built once, ~5 s) and the paper model loaded strictly from them."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conr_weights import GOLDEN, official_state_dicts  # noqa: E402


@pytest.fixture(scope="session")
def official_sds():
    return official_state_dicts(0)


@pytest.fixture(scope="session")
def paper_model(official_sds):
    from conrt.runtime.checkpoint import load_parts
    from conrt.runtime.model import create_model

    return load_parts(create_model("conr-paper", empty=True), official_sds).eval()


@pytest.fixture(scope="session")
def golden():
    return dict(np.load(GOLDEN))
