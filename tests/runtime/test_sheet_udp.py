"""Sheet views with their own UDP (``view_udp.npz`` beside ``view.png``): found,
framed like their images, and used by lookup models (conr-rt) instead of the
UDP prediction."""
from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch

from conrt.errors import InputError
from conrt.runtime.defaults import default_sheet_paths
from conrt.runtime.app.frame_loop import ShadeStage
from conrt.runtime.nn.model import create_model
from conrt.runtime.app.session import fit_sheet, fit_sheet_udps, load_sheet_udps
from conrt.runtime.nn.sheet import encode_sheet, read_sheet_image, read_udp, shade


@pytest.fixture()
def sheet_dir(tmp_path):
    """A copy of the sample sheet: 6 views, each with its UDP."""
    for p in default_sheet_paths():
        shutil.copy(p, tmp_path / p.name)
        shutil.copy(p.with_name(p.stem + "_udp.npz"), tmp_path / (p.stem + "_udp.npz"))
    return tmp_path


def test_udps_are_found_only_when_every_view_has_one(sheet_dir, caplog):
    udps = load_sheet_udps(sheet_dir)
    assert udps is not None and len(udps) == 6
    for u, p in zip(udps, sorted(sheet_dir.glob("view?_yaw???.png"))):
        img = read_sheet_image(p)
        assert u.shape == img.shape and img.shape[0] == 256
        # the UDP's occupancy is the drawing's silhouette
        assert np.mean((u[..., 3] > 0.5) != (img[..., 3] > 127)) < 0.02
    next(sheet_dir.glob("*_udp.npz")).unlink()
    with caplog.at_level(logging.WARNING):
        assert load_sheet_udps(sheet_dir) is None
    assert "only 5 of 6" in caplog.text


def test_a_udp_of_the_wrong_size_is_named(sheet_dir):
    bad = next(sheet_dir.glob("*_udp.npz"))
    np.savez(bad, i=np.zeros((64, 64, 4), np.float32))
    with pytest.raises(InputError, match="_udp.npz: UDP is 64x64"):
        load_sheet_udps(sheet_dir)


def test_reframed_udps_stay_on_their_images(sheet_dir):
    files = sorted(sheet_dir.glob("view?_yaw???.png"))
    images = [read_sheet_image(p) for p in files]
    udps = [read_udp(p.with_name(p.stem + "_udp.npz")) for p in files]
    fitted, fitted_udps = fit_sheet(images, 64), fit_sheet_udps(udps, images, 64)
    for img, u in zip(fitted, fitted_udps):
        assert u.shape == (64, 64, 4)
        assert np.mean((u[..., 3] > 0.5) != (img[..., 3] > 127)) < 0.05


def test_lookup_model_uses_the_sheet_udps_through_shade_stage(sheet_dir):
    torch.manual_seed(0)
    model = create_model("conr-rt").eval()
    files = sorted(sheet_dir.glob("view?_yaw???.png"))
    images = [read_sheet_image(p) for p in files]
    udps = load_sheet_udps(sheet_dir)
    target = udps[0]  # posed exactly like view 0
    stage = ShadeStage(model, images, target.shape[0], backend="torch", sheet_udps=udps)
    with_udp = stage.shade(target)
    direct = shade(model, target, encode_sheet(model, images, sheet_udp=udps))
    predicted = shade(model, target, encode_sheet(model, images))
    np.testing.assert_allclose(with_udp, direct * target[..., 3:4], atol=1e-5)
    want = images[0].astype(np.float32) / 255
    want = np.concatenate([want[..., :3] * want[..., 3:], want[..., 3:]], -1)
    # exact correspondences reproduce the view; an untrained UDP head cannot
    assert np.abs(with_udp - want).mean() < 0.5 * np.abs(predicted - want).mean()


def test_sheet_udps_that_do_not_fit_the_views_are_named(sheet_dir):
    model = create_model("conr-rt").eval()
    files = sorted(sheet_dir.glob("view?_yaw???.png"))
    images = [read_sheet_image(p) for p in files]
    udps = load_sheet_udps(sheet_dir)
    with pytest.raises(InputError, match="5 sheet UDPs for 6 sheet views"):
        encode_sheet(model, images, sheet_udp=udps[:5])
    udps[2] = udps[2][:64]
    with pytest.raises(InputError, match="sheet view 2: its UDP is 256x64"):
        encode_sheet(model, images, sheet_udp=udps)
    udps[2] = np.full((256, 256, 4), np.nan, np.float32)
    with pytest.raises(InputError, match="NaN"):
        encode_sheet(model, images, sheet_udp=udps)
