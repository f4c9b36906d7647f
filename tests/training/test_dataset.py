"""Samples: sheet views from the same character, augmentation only on the sheet."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conrt.errors import ConfigError
from conrt.training.dataset import Augment, SheetDataset, load_split, rgba_to_premul, udp_tensor


def test_augmentation_never_touches_udp_or_target(tiny_data):
    chars = load_split(tiny_data, "train")
    plain = SheetDataset(chars, views=2, augment=None)
    aug = SheetDataset(chars, views=2, augment=Augment())
    for idx in range(len(plain)):
        a, b = plain.sample(idx, key=5), aug.sample(idx, key=5)
        assert torch.equal(a["udp"], b["udp"]) and torch.equal(a["target"], b["target"])
        assert not torch.equal(a["sheet_rgb"], b["sheet_rgb"])  # the sheet is augmented
        c = chars[idx // plain.poses]
        t = idx % plain.poses
        assert torch.equal(a["target"], rgba_to_premul(c.rgba[t]))
        assert torch.equal(a["udp"], udp_tensor(c.udp[t]))


def test_sheet_views_are_other_poses_of_the_same_character(tiny_data):
    chars = load_split(tiny_data, "train")
    ds = SheetDataset(chars, views=3, augment=None)
    s = ds.sample(1, key=0)  # character 0, target pose 1
    pool = rgba_to_premul(chars[0].rgba)
    for v in range(3):
        sheet = torch.cat([s["sheet_rgb"][v], s["sheet_mask"][v]])
        hits = [k for k in range(ds.poses) if torch.equal(sheet, pool[k])]
        assert hits and 1 not in hits
    assert s["sheet_rgb"].shape == (3, 3, 64, 64) and s["sheet_mask"].shape == (3, 1, 64, 64)


def test_augmented_sheet_stays_premultiplied_and_in_range(tiny_data):
    ds = SheetDataset(load_split(tiny_data, "train"), views=2)
    s = ds.sample(0, key=1)
    rgb, a = s["sheet_rgb"], s["sheet_mask"]
    assert rgb.min() >= 0 and a.max() <= 1
    assert (rgb <= a + 1e-5).all()  # premultiplied: colour never exceeds alpha


def test_samples_are_deterministic_and_resizable(tiny_data):
    chars = load_split(tiny_data, "train")
    ds = SheetDataset(chars, views=2)
    assert all(torch.equal(x, y) for x, y in zip(ds.sample(2, 7).values(), ds.sample(2, 7).values()))
    small = SheetDataset(chars, views=2, size=32).sample(0, 0)
    assert small["target"].shape == (4, 32, 32) and small["udp"].shape == (4, 32, 32)
    assert set(np.unique(small["udp"][3].numpy())) <= {0.0, 1.0}  # occupancy not blended
    with pytest.raises(ConfigError, match="views"):
        SheetDataset(chars, views=4)  # 4 poses: at most 3 sheet views


def test_sheet_udp_moves_with_the_augmented_sheet(tiny_data):
    ds = SheetDataset(load_split(tiny_data, "train"), views=2)
    s = ds.sample(3, key=2)
    occ, alpha = s["sheet_udp"][:, 3] > 0.5, s["sheet_mask"][:, 0]
    plain = SheetDataset(load_split(tiny_data, "train"), views=2, augment=None).sample(3, key=2)
    assert not torch.equal(s["sheet_udp"], plain["sheet_udp"])  # the affine moved it
    # the same geometry: away from the (bilinear) edges, covered exactly where the image is
    assert (occ[alpha > 0.99]).float().mean() > 0.97 and (~occ[alpha < 0.01]).float().mean() > 0.97
    assert set(np.unique(s["sheet_udp"][:, 3].numpy())) <= {0.0, 1.0}  # nearest: nothing blended
