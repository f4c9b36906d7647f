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


@pytest.fixture(scope="session")
def gl_ctx():
    """One real headless GL context (Mesa EGL) for the whole session."""
    from conrt.shaders.context import create_context, release_context

    # No skip: a missing EGL is a broken setup (scripts/setup.sh installs it),
    # and the ContextError says which packages to install.
    ctx = create_context("egl")
    yield ctx
    release_context(ctx)
