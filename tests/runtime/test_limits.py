"""Limits defined once (runtime/limits.py); backends and passes declare theirs:
a sheet with more views than gl-lookup's pass takes is refused by name before
encoding, and ``auto`` picks a backend that takes it (was: it validated, then
failed inside the GL pass)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conrt.errors import ConfigError, InputError
from conrt.runtime import limits
from conrt.runtime.backends import available_backends, create_backend, registered_backend
from conrt.runtime.nn.model import create_model

S = 64


@pytest.fixture(scope="module")
def rt_model():
    torch.manual_seed(0)
    return create_model("conr-rt").eval()


def _sheet(views):
    out = []
    for v in range(views):
        im = np.zeros((S, S, 4), np.uint8)
        im[8:-8, 12 + v % 8:-12, :3] = 40 * (v % 6)
        im[8:-8, 12 + v % 8:-12, 3] = 255
        out.append(im)
    return out


def test_declared_limits_come_from_one_place():
    from conrt.runtime.app.frame_loop import check_size
    from conrt.runtime.backends.gpu import profiles
    from conrt.runtime.app.session import MAX_SHEET_VIEWS
    from conrt.shaders import lookup_pass

    assert MAX_SHEET_VIEWS == limits.MAX_SHEET_VIEWS
    assert profiles.MAX_VIEWS == limits.TRAINED_VIEWS and profiles.MAX_SIZE == limits.MAX_RUNTIME_SIDE
    assert registered_backend("gl-lookup").max_views == lookup_pass.MAX_VIEWS
    assert registered_backend("torch").max_views is None and registered_backend("onnxruntime").max_views is None
    for bad in (limits.MIN_RUNTIME_SIDE - 1, limits.MAX_RUNTIME_SIDE + 1):
        with pytest.raises(ConfigError, match=f"{limits.MIN_RUNTIME_SIDE}..{limits.MAX_RUNTIME_SIDE}"):
            check_size(bad)


def test_sheet_over_a_backends_limit_is_refused_by_name_and_auto_avoids_it(rt_model):
    from conrt.runtime.app.frame_loop import ShadeStage
    from conrt.runtime.app.session import check_sheet

    if "gl-lookup" not in available_backends(rt_model):
        pytest.skip("no GL context here")
    views = registered_backend("gl-lookup").max_views + 4  # 12: a valid sheet ...
    images = check_sheet(_sheet(views))
    assert "gl-lookup" not in available_backends(rt_model, views)
    with pytest.raises(InputError, match=rf"backend 'gl-lookup' takes 1..8 sheet views; this sheet has {views}"):
        ShadeStage(rt_model, images, S, "gl-lookup")
    with ShadeStage(rt_model, images, S, "auto") as stage:  # ... that auto shades with a backend taking it
        assert stage.name != "gl-lookup" and stage.cache.views == views
        udp = np.zeros((S, S, 4), np.float32)
        udp[10:50, 20:40] = (0.5, 0.5, 0.5, 1.0)
        assert stage.shade(udp).shape == (S, S, 4)
        with create_backend("gl-lookup", rt_model) as gl, pytest.raises(InputError, match="takes 1..8 sheet views"):
            gl.set_sheet(stage.cache)  # a cache made elsewhere: refused before the pass sees it


def test_a_sheet_has_at_most_max_sheet_views():
    from conrt.runtime.app.session import check_sheet

    with pytest.raises(InputError, match=f"1-{limits.MAX_SHEET_VIEWS} views"):
        check_sheet(_sheet(limits.MAX_SHEET_VIEWS + 1))
    with pytest.raises(InputError, match="this sheet has 17"):
        limits.check_sheet_views(17, "torch", None)


def test_sheet_view_yaws_are_listed_once():
    from conrt.commands.sheet import sheet_yaws as command_yaws
    from conrt.shaders.camera import SHEET_ORDER, SHEET_YAW_ORDERS, sheet_yaws
    from conrt.training.sample_sheet import YAWS

    assert sheet_yaws(4, "spread") == [0.0, 90.0, 180.0, -90.0]  # the runtime's drawn fallback sheet
    assert command_yaws(5) == sheet_yaws(5) == list(SHEET_YAW_ORDERS[SHEET_ORDER][:5])  # conrt sheet's order
    assert command_yaws(5, "artist") == list(SHEET_YAW_ORDERS["artist"][:5])
    assert YAWS == (0, 60, 120, 180, 240, 300) == tuple(int(y) for y in sheet_yaws(6, "even"))
    assert sheet_yaws(12, "spread") == [30.0 * k for k in range(12)]  # more views than listed: evenly around
    with pytest.raises(ConfigError, match="valid: artist, spread, even"):
        sheet_yaws(2, "random")
