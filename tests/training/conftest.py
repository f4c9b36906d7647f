"""A tiny real dataset (3 characters x 4 poses at 64², rendered with EGL), made once per session."""
from __future__ import annotations

import pytest

from conrt.training.datagen import DataSpec, make_dataset

TINY = DataSpec(characters=3, poses=4, size=64, seed=3, shard_size=2, val=0.34, test=0.34)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_data")
    make_dataset(out, TINY, progress=False)
    return out


# the same characters, drawn in two looks, with every (target, view) pair's exact sheet samples
TINY_EXACT = DataSpec(characters=3, poses=4, size=64, seed=3, shard_size=2, val=0.34, test=0.34,
                      styles=("toon", "unlit"), exact=True)


@pytest.fixture(scope="session")
def tiny_exact_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_exact_data")
    make_dataset(out, TINY_EXACT, progress=False)
    return out
