"""Optimisation profile ranges and their validation errors."""
from __future__ import annotations

import onnx
import pytest

from conrt.errors import ConfigError, InputError
from conrt.runtime.backends.gpu.build import graph_input_dims
from conrt.runtime.backends.gpu.profiles import MAX_VIEWS, ShapeRange, check_shapes_in_profile, input_ranges, make_profile


def test_default_profile_covers_all_view_counts_tuned_for_the_most():
    p = make_profile()
    assert p.views == (1, MAX_VIEWS, MAX_VIEWS) == (1, 8, 8)
    assert p.sizes == ((256, 256),) and p.opt_size == (256, 256)


def test_sizes_span_a_box_and_opt_is_the_first_requested():
    p = make_profile(views=[1, 4], sizes=[512, "256x384"], opt_views=2)
    assert p.views == (1, 2, 4)
    assert p.dim_range("height") == (256, 512, 512)
    assert p.dim_range("width") == (384, 512, 512)


@pytest.mark.parametrize("kwargs, match", [
    (dict(views=0), r"outside 1\.\.8"),
    (dict(views=(1, 9)), r"outside 1\.\.8"),
    (dict(views=(2, 4), opt_views=5), "opt_views 5"),
    (dict(views="many"), "views must be"),
    (dict(views=True), "views must be"),
    (dict(sizes=[]), "at least one render size"),
    (dict(sizes=[200]), "multiples of 128"),
    (dict(sizes=["256xabc"]), "HxW"),
    (dict(sizes=[8192]), "multiples of 128 between 128 and 4096"),
    (dict(sizes=[192], size_multiple=0), "size_multiple"),
])
def test_bad_requests_are_config_errors_naming_the_rule(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_profile(**kwargs)


def test_size_multiple_follows_the_model():
    assert make_profile(sizes=[192], size_multiple=64).sizes == ((192, 192),)


def test_input_ranges_resolve_symbols_and_scaled_dims():
    spec = make_profile(views=(1, 8), sizes=[256, 512])
    ranges = input_ranges({
        "udp": [1, 4, "height", "width"],
        "reference": [1, "views", 4, "H", "W"],
        "feat": [1, "num_views", 64, "height/4", "(width//4)"],
        "up": [1, 4, "height*2", "width*2"],
    }, spec)
    assert ranges["udp"] == ShapeRange((1, 4, 256, 256), (1, 4, 256, 256), (1, 4, 512, 512))
    assert ranges["reference"].min == (1, 1, 4, 256, 256) and ranges["reference"].max == (1, 8, 4, 512, 512)
    assert ranges["reference"].opt == (1, 8, 4, 256, 256)
    assert ranges["feat"].max == (1, 8, 64, 128, 128)
    assert ranges["up"].min == (1, 4, 512, 512)


def test_unknown_symbols_need_an_alias():
    spec = make_profile()
    with pytest.raises(ConfigError, match="'s3'"):
        input_ranges({"x": [1, "s3"]}, spec)
    assert input_ranges({"x": [1, "s3"]}, spec, aliases={"s3": "height/4"})["x"].max == (1, 64)


def test_unnamed_dynamic_dim_is_rejected():
    with pytest.raises(ConfigError, match="dynamic without a name"):
        input_ranges({"x": [1, None]}, make_profile())


def test_ranges_of_a_real_export(warpnet_onnx):
    ranges = input_ranges(graph_input_dims(onnx.load(str(warpnet_onnx))), make_profile(views=(1, 8), sizes=[64],
                                                                                      size_multiple=64))
    assert ranges["udp"] == ShapeRange((1, 4, 64, 64), (1, 4, 64, 64), (1, 4, 64, 64))
    assert ranges["reference"].min == (1, 1, 4, 64, 64) and ranges["reference"].max == (1, 8, 4, 64, 64)


def test_shapes_outside_the_profile_are_input_errors():
    ranges = input_ranges({"reference": [1, "views", 4, 256, 256]}, make_profile(views=(1, 4)))
    check_shapes_in_profile({"reference": (1, 4, 4, 256, 256)}, ranges)
    with pytest.raises(InputError, match="outside the engine's profile"):
        check_shapes_in_profile({"reference": (1, 5, 4, 256, 256)}, ranges)
    with pytest.raises(InputError, match="missing engine inputs: reference"):
        check_shapes_in_profile({}, ranges)
    with pytest.raises(InputError, match="no input 'udp'"):
        check_shapes_in_profile({"reference": (1, 1, 4, 256, 256), "udp": (1, 4, 256, 256)}, ranges)
