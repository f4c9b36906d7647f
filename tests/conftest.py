"""Shared test fixtures. Tests use real parts: real ModernGL on EGL, real
PyBullet, real ONNX Runtime, real processes."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ASSETS = FIXTURES / "assets"  # real third-party glTF/VRM/BVH files, see CREDITS.md there
CONR_FIXTURES = FIXTURES / "conr"  # official CoNR layout + golden output

# exported ONNX graphs go to one private cache for the whole run (the CLI processes the
# tests start inherit it), never the user's ~/.cache: set here, not in tests/runtime, so a
# run of any one folder (tests/vmc, tests/runtime_loop) keeps out of ~/.cache too
os.environ["CONRT_CACHE_DIR"] = tempfile.mkdtemp(prefix="conrt-test-cache-")


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
