"""Shared fixtures of the shader tests: one real headless EGL context for the
whole session (Mesa llvmpipe here, the NVIDIA driver on GPU machines), and the
small analytic characters of shader_meshes.py."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("conrt_test_shader_meshes", Path(__file__).with_name("shader_meshes.py"))
shader_meshes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shader_meshes)


@pytest.fixture(scope="session")
def meshes():
    return shader_meshes
