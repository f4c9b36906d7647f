"""conr-paper with the seed-0 official weights reproduces the golden fixture
(intermediates and final RGBA) in official mode."""
from __future__ import annotations

import numpy as np
import torch

from conrt.runtime import sheet as sh

TOL = 1e-4


def test_paper_model_matches_golden_intermediates(paper_model, golden):
    cache = sh.encode_sheet(paper_model, list(golden["sheet_rgba_straight_u8"]), official=True)
    for i, f in enumerate(cache.features):
        np.testing.assert_allclose(f.numpy(), golden[f"sheet_features_{i}"], atol=TOL, rtol=0)
    udp, crop = sh.prepare_udp(golden["udp_hwc_f32"], cache.size, official=True)
    assert crop is None
    with torch.inference_mode():
        x = torch.from_numpy(udp)
        np.testing.assert_allclose(paper_model.pose_input(x).numpy(), golden["pose_encoder_input"], atol=TOL, rtol=0)
        pose = paper_model.encode_pose(x)
        for i, f in enumerate(pose):
            np.testing.assert_allclose(f.numpy(), golden[f"pose_features_{i}"], atol=TOL, rtol=0)
        rgba, y = paper_model.render(pose, cache.reference, list(cache.features), return_features=True)
    np.testing.assert_allclose(y.numpy(), golden["y_last_remote_features"], atol=TOL, rtol=0)
    np.testing.assert_allclose(rgba.numpy(), golden["rgba"], atol=TOL, rtol=0)
    # as the per-frame API returns it: (H, W, 4) premultiplied
    out = sh.finish_frame(rgba.numpy(), crop)
    assert out.shape == (128, 128, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out.transpose(2, 0, 1)[None], golden["rgba"], atol=TOL, rtol=0)


def test_default_mode_differs_only_slightly(paper_model, golden):
    """The float conventions skip the uint8 quirks: close to, but not bit-equal with, official."""
    cache = sh.encode_sheet(paper_model, list(golden["sheet_rgba_straight_u8"]), official=False)
    out = sh.shade(paper_model, golden["udp_hwc_f32"], cache)
    diff = np.abs(out.transpose(2, 0, 1)[None] - golden["rgba"]).max()
    assert 0 < diff < 0.05
