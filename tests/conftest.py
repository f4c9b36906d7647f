"""Shared test fixtures. Tests use real parts: real ModernGL on EGL, real
PyBullet, real ONNX Runtime, real processes."""
from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ASSETS = FIXTURES / "assets"  # real third-party glTF/VRM/BVH files, see CREDITS.md there
CONR_FIXTURES = FIXTURES / "conr"  # official CoNR layout + golden output


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    return ASSETS
