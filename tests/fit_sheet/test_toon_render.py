"""The fitter's toon renders (``ToonPass(skin_once=True)``, each pose skinned
once for all its cameras) are the pixels of the toon pass in the fitter's ink
style (``FIT_INK``: every inner line), for the trials a joint fit makes: one pose from several views,
then another pose."""
from __future__ import annotations

import numpy as np

from conrt.runtime.app.sheet_fit import FIT_INK, FitParams, SheetFitter
from conrt.shaders import ToonPass


def test_fitter_renders_are_the_toon_pass_pixels(gl_ctx, character):
    with SheetFitter(gl_ctx, character, 128, work=64) as fitter:
        assert all(t.skin_once for t in fitter._toons.values())
        shared = [{"leftUpperArm:x": 20.0, "rightLowerLeg:z": -15.0}, {"spine:x": 10.0, "neck:z": 12.0}]
        trials = [FitParams(yaw, 1.05, (0.02, -0.03), (40.0, 55.0), turns, pose_yaw=0.0)
                  for turns in shared for yaw in (0.0, 45.0, 180.0)]
        for n in (fitter.work, fitter.size):
            with ToonPass(gl_ctx, n, n, FIT_INK) as plain:
                plain.set_character(character)
                masks = []
                for p in trials:
                    mask, rgb = fitter.render_toon(p, n)
                    rgba = plain.run(fitter.pose(p), fitter.camera(p, n))
                    assert np.array_equal(mask, rgba[..., 3] > 0)
                    assert np.array_equal(rgb, rgba[..., :3].astype(np.float32) / 255.0)
                    masks.append(mask)
                # the two poses differ in the picture (a stale skinned pose would fail above)
                assert not np.array_equal(masks[0], masks[3]) and masks[0].mean() > 0.05
