"""The fitter's toon renders (``ToonPass(skin_once=True)``, each pose skinned
once for all its cameras) are the pixels of the toon pass as ``conrt sheet``
draws them, for the trials a joint fit makes: one pose from several views,
then another pose. The searches draw the decimated search mesh
(``search_character``), the output the full mesh."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.runtime.app.sheet_fit import FitParams, SheetFitter, iou, search_character
from conrt.shaders import ToonPass


def test_fitter_renders_are_the_toon_pass_pixels(gl_ctx, character):
    with SheetFitter(gl_ctx, character, 128, work=64) as fitter:
        assert all(t.skin_once for t in fitter._toons.values())
        assert len(fitter.search_character.mesh.triangles) < len(character.mesh.triangles)
        shared = [{"leftUpperArm:x": 20.0, "rightLowerLeg:z": -15.0}, {"spine:x": 10.0, "neck:z": 12.0}]
        trials = [FitParams(yaw, 1.05, (0.02, -0.03), (40.0, 55.0), turns, pose_yaw=0.0)
                  for turns in shared for yaw in (0.0, 45.0, 180.0)]
        # the work size draws the search mesh, the fine and output sizes (and full=True) the character's own
        assert fitter.fine != fitter.work
        for n, full, drawn in ((fitter.work, False, fitter.search_character), (fitter.work, True, character),
                               (fitter.fine, False, character), (fitter.size, True, character)):
            with ToonPass(gl_ctx, n, n) as plain:
                plain.set_character(drawn)
                masks = []
                for p in trials:
                    mask, rgb = fitter.render_toon(p, n, full=full)
                    rgba = plain.run(fitter.pose(p), fitter.camera(p, n))
                    assert np.array_equal(mask, rgba[..., 3] > 0)
                    assert np.array_equal(rgb, rgba[..., :3].astype(np.float32) / 255.0)
                    masks.append(mask)
                # the two poses differ in the picture (a stale skinned pose would fail above)
                assert not np.array_equal(masks[0], masks[3]) and masks[0].mean() > 0.05


def test_the_search_mesh_draws_the_characters_silhouette_and_colours(gl_ctx, character):
    """A third of the triangles, on the mesh's own vertices (skin weights,
    colours as they are): silhouettes and toon colours of posed views match
    the full mesh's closely (measured: IoU 0.995 on average at 128 px)."""
    light = search_character(character, 0.35)
    tris, full = light.mesh.triangles, character.mesh.triangles
    assert 0.3 * len(full) <= len(tris) <= 0.4 * len(full)
    assert tris.dtype == full.dtype and tris.min() >= 0 and tris.max() < len(character.mesh.positions)
    assert light.mesh.positions is character.mesh.positions and light.mesh.weights is character.mesh.weights
    # share 1 and meshes too small to cut are searched as they are
    assert search_character(character, 1.0) is character
    assert search_character(character, 1000 / len(full)) is character
    with SheetFitter(gl_ctx, character, 128, work=128, search_mesh=1.0) as whole, \
            SheetFitter(gl_ctx, character, 128, work=128) as cut:
        assert whole.search_character is character
        ious, colour = [], []
        for yaw, turns in ((0.0, {}), (90.0, {"leftUpperLeg:x": 25.0}), (200.0, {"rightLowerArm:z": -30.0})):
            p = FitParams(yaw, arms_lowered=(50.0, 40.0), turns=turns, pose_yaw=0.0)
            (m0, c0), (m1, c1) = whole.render_toon(p), cut.render_toon(p)
            ious.append(iou(m0, m1))
            colour.append(float(np.abs(c0 - c1)[m0 & m1].mean()))
        assert min(ious) > 0.98 and np.mean(ious) > 0.99, ious
        assert max(colour) < 0.05, colour


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5, float("nan")])
def test_the_search_mesh_share_is_checked(gl_ctx, character, share):
    from conrt.errors import ConfigError

    with pytest.raises(ConfigError, match="search mesh's share of the triangles must be within"):
        SheetFitter(gl_ctx, character, 128, 64, search_mesh=share)
