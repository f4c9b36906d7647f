"""The exact sheet correspondence pass on a real procedural character: sheet
views drawn by the UDP pass from known cameras and poses (orthographic, as
``conrt sheet`` draws by default, and perspective); the views' own UDPs or
their pixel positions stand in for the reference images, so what the pass
samples says which sheet position it found."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.errors import InputError

SIZE = 96
YAWS = (0.0, 90.0, 180.0)


@pytest.fixture(scope="module", params=["orthographic", "perspective"])
def scene(gl_ctx, request):
    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.characters.procedural import generate
    from conrt.commands.udp import random_pose
    from conrt.shaders import UdpPass, frame_character

    character = generate(900001)
    views = []
    with UdpPass(gl_ctx, SIZE, SIZE) as udp:
        udp.set_character(character)
        for k, yaw in enumerate(YAWS):
            pose = random_pose(character, k, 0.12)
            camera = frame_character(posed_positions(character, pose), yaw=yaw, size=SIZE,
                                     projection=request.param, fov=50.0)
            views.append((camera, pose, udp.run(pose, camera).data))
        target_pose = random_pose(character, 77, 0.5)
        target_camera = frame_character(posed_positions(character, target_pose), yaw=30.0, size=SIZE)
        target = udp.run(target_pose, target_camera).data
    return character, views, (target_pose, target_camera, target), rest_pose(character)


def _pass(gl_ctx, character, sheet_views, reference):
    from conrt.shaders.correspondence_pass import CorrespondencePass

    p = CorrespondencePass(gl_ctx, SIZE, SIZE)
    p.set_character(character)
    p.set_sheet(sheet_views, reference)
    return p


def _udp_reference(views):
    return np.stack([u.transpose(2, 0, 1) for _, _, u in views])


def _exact_views(views):
    from conrt.shaders.correspondence_pass import SheetView

    return [SheetView("exact", camera=c, pose=p) for c, p, _ in views]


def _step(udp):
    from conrt.shaders.correspondence_pass import _pixel_step

    return _pixel_step(udp)


def _position_reference(views):
    """Reference images whose colour is the pixel's own position (x, y) / SIZE,
    premultiplied by alpha = the view's silhouette. The pass divides a sample
    by its alpha, so ``sampled`` is the mean position of the texels it took
    the colour from, weighted as the colour: the position found (the
    bilinear position itself where all 4 texels around it show the point's
    surface)."""
    x = (np.arange(SIZE) + 0.5) / SIZE
    out = []
    for _, _, udp in views:
        a = udp[..., 3]
        out.append(np.stack([x[None, :] * a, x[:, None] * a, np.zeros_like(a), a]))
    return np.stack(out).astype(np.float32)


def _nearest_udp_distance(udp, positions, wanted):
    """Per sampled position (x, y) in pixels: the smallest UDP distance between
    ``wanted`` and the character pixels of ``udp`` within one pixel of it."""
    best = np.full(len(positions), np.inf)
    base = np.floor(positions - 0.5).astype(int)
    for dy in range(-1, 3):
        for dx in range(-1, 3):
            q = base + (dx, dy)
            ok = (q >= 0).all(1) & (q < SIZE).all(1)
            qx, qy = q[ok, 0], q[ok, 1]
            d = np.linalg.norm(udp[qy, qx, :3] - wanted[ok], axis=1)
            d[udp[qy, qx, 3] <= 0] = np.inf
            best[ok] = np.minimum(best[ok], d)
    return best


def test_visible_pixels_map_to_the_sheet_pixel_with_their_udp(gl_ctx, scene):
    character, views, (pose, camera, target), _ = scene
    with _pass(gl_ctx, character, _exact_views(views), _position_reference(views)) as p:
        sampled, cover = p.run(pose, camera)
    occupied = target[..., 3] > 0
    assert not ((cover[:, 0] > 0) & ~occupied).any(), "coverage off the target's silhouette"
    for k, (_, _, udp) in enumerate(views):
        seen = cover[k, 0] > 0.5
        assert seen.sum() > 50, f"view {k} sees almost none of the target"
        positions = sampled[k, :2].transpose(1, 2, 0)[seen] * SIZE  # sheet pixels, continuous
        wanted = target[seen][:, :3]
        step = _step(udp)  # one sheet pixel, in UDP units
        # a sheet pixel within a pixel of the found position shows the target's
        # point (up to the half-pixel spacing of the sheet's pixel centres)
        d = _nearest_udp_distance(udp, positions, wanted)
        assert np.median(d) < 0.75 * step and np.percentile(d, 95) < 1.5 * step, (k, np.median(d), step)
        # exact, not just near: where the 2x2 texels around the position show one
        # smooth surface (and the pass found all 4 on the point's surface), the
        # view's UDP interpolated there IS the target's
        x, y = positions[:, 0] - 0.5, positions[:, 1] - 0.5
        x0 = np.clip(np.floor(x).astype(int), 0, SIZE - 2)
        y0 = np.clip(np.floor(y).astype(int), 0, SIZE - 2)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        c = [udp[y0 + j, x0 + i] for j in (0, 1) for i in (0, 1)]
        local = np.ptp([q[:, :3] for q in c], 0).max(1)  # the UDP change across this pixel footprint
        smooth = np.all([q[:, 3] > 0 for q in c], 0) & (local < 1.5 * step)  # one surface, not grazing
        smooth &= cover[k, 0][seen] > 1 - 1e-5  # and the pass took all 4 texels (a bilinear sample)
        interp = ((1 - fy) * ((1 - fx) * c[0][:, :3] + fx * c[1][:, :3])
                  + fy * ((1 - fx) * c[2][:, :3] + fx * c[3][:, :3]))
        exact = (np.linalg.norm(interp - wanted, axis=1) / np.maximum(local, 1e-6))[smooth]  # in pixels, about
        assert smooth.sum() >= 5 and np.median(exact) < 0.1, (k, smooth.sum(), np.median(exact))


def test_hidden_points_are_not_visible(gl_ctx, scene):
    from scipy.spatial import cKDTree

    character, views, (pose, camera, target), _ = scene
    with _pass(gl_ctx, character, _exact_views(views), _udp_reference(views)) as p:
        _, cover = p.run(pose, camera)
    occupied = target[..., 3] > 0
    total = 0
    for k, (_, _, udp) in enumerate(views):
        shown = udp[..., 3] > 0
        dist, _ = cKDTree(udp[shown][:, :3]).query(target[occupied][:, :3])
        hidden = dist > 3 * _step(udp)  # no sheet pixel shows anything near this surface point
        total += hidden.sum()
        leaked = (cover[k, 0][occupied][hidden] > 0).sum()
        assert leaked <= 1 + 0.01 * hidden.sum(), f"view {k}: {leaked} of {hidden.sum()} hidden points take its colour"
    assert total > 300, "the views should hide part of the target (front, side and back views of a 30° target)"


def test_a_view_seen_from_its_own_camera_is_itself(gl_ctx, scene):
    character, views, _, _ = scene
    camera, pose, udp = views[0]
    with _pass(gl_ctx, character, _exact_views(views), _udp_reference(views)) as p:
        sampled, cover = p.run(pose, camera)
    shown = udp[..., 3] > 0
    assert (cover[0, 0][shown] > 0.99).all()
    np.testing.assert_allclose(sampled[0, :3].transpose(1, 2, 0)[shown], udp[shown][:, :3], atol=1e-3)


def test_udp_nn_views_match_within_a_pixel_or_two(gl_ctx, scene):
    from conrt.shaders.correspondence_pass import SheetView

    character, views, (pose, camera, target), _ = scene
    sheet = [SheetView("udp-nn", udp=u) for _, _, u in views]
    with _pass(gl_ctx, character, sheet, _udp_reference(views)) as p:
        sampled, cover = p.run(pose, camera)
    for k, (_, _, udp) in enumerate(views):
        seen = cover[k, 0] > 0.5
        assert seen.sum() > 50
        err = np.linalg.norm(sampled[k, :3].transpose(1, 2, 0)[seen] - target[seen][:, :3], axis=1)
        assert np.median(err) < _step(udp), (k, np.median(err))


@pytest.mark.parametrize("count", [5, 6, 8])
def test_each_view_of_a_larger_sheet_gives_what_it_gives_alone(gl_ctx, scene, count):
    """Sheets of 5..8 views (one resolve draw of 5 or 6 views, or two draws)
    put every view's sample and coverage where it belongs: view k of the sheet
    equals the same view in a sheet of its own (exact and udp-nn views mixed)."""
    from conrt.shaders.correspondence_pass import SheetView

    character, views, (pose, camera, _), _ = scene
    sheet = [SheetView("exact", camera=c, pose=p) if k % 2 == 0 else SheetView("udp-nn", udp=u)
             for k, (c, p, u) in enumerate(views)]
    order = [k % len(views) for k in range(count)]
    reference = _udp_reference(views)
    # view k's reference colour scaled by 1 / (k + 1): a sample landing in another view's slot would show it
    scale = np.array([1.0, 1.0, 1.0, 0.0], np.float32)[:, None, None]
    scaled = np.stack([reference[j] * (1.0 - scale * (k / (k + 1.0))) for k, j in enumerate(order)]).astype(np.float32)
    with _pass(gl_ctx, character, [sheet[j] for j in order], scaled) as p:
        sampled, cover = p.run(pose, camera)
    for k, j in enumerate(order):
        with _pass(gl_ctx, character, [sheet[j]], scaled[k:k + 1]) as p:
            alone_sampled, alone_cover = p.run(pose, camera)
        assert (alone_cover[0] > 0.5).sum() > 50
        np.testing.assert_array_equal(cover[k], alone_cover[0], err_msg=f"view {k}")
        np.testing.assert_array_equal(sampled[k], alone_sampled[0], err_msg=f"view {k}")


def test_a_view_file_of_another_view_is_a_named_error(gl_ctx, scene):
    from conrt.shaders.correspondence_pass import SheetView

    character, views, _, _ = scene
    swapped = [SheetView("exact", camera=views[(k + 1) % 3][0], pose=views[(k + 1) % 3][1], name=f"v{k}.png")
               for k in range(3)]
    with pytest.raises(InputError, match=r"v0.png: .*IoU 0\.\d\d < 0.8"):
        _pass(gl_ctx, character, swapped, _udp_reference(views))


def test_bad_sheets_are_named(gl_ctx, scene):
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView

    character, views, _, _ = scene
    ref = _udp_reference(views)
    with CorrespondencePass(gl_ctx, SIZE, SIZE) as p:
        with pytest.raises(InputError, match="before set_character"):
            p.set_sheet(_exact_views(views), ref)
        p.set_character(character)
        with pytest.raises(InputError, match="2 sheet view correspondences for 3 reference views"):
            p.set_sheet(_exact_views(views)[:2], ref)
        with pytest.raises(InputError, match="reference contains NaN"):
            p.set_sheet(_exact_views(views), np.full_like(ref, np.nan))
        nan_udp = views[0][2].copy()
        nan_udp[0, 0, 0] = np.nan
        with pytest.raises(InputError, match=r"sheet view bad.npz's UDP contains NaN/inf \(1 values\)"):
            p.set_sheet([SheetView("udp-nn", udp=nan_udp, name="bad.npz")] * 3, ref)
        with pytest.raises(InputError, match="its UDP is 48x48"):
            p.set_sheet([SheetView("udp-nn", udp=np.zeros((48, 48, 4), np.float32))] * 3, ref)
        with pytest.raises(InputError, match="before set_sheet"):
            p.run(views[0][1], views[0][0])
    with pytest.raises(InputError, match="needs its camera and pose"):
        SheetView("exact")


def test_a_mesh_beyond_the_visibility_buffer_is_named(gl_ctx, scene, monkeypatch):
    """Triangle ids are stored as exact float32 (below 2^24): a larger mesh is
    a named error before any GL object is made, and the pass stays usable."""
    from conrt.shaders import correspondence_pass as cp

    character, views, (pose, camera, _), _ = scene
    with cp.CorrespondencePass(gl_ctx, SIZE, SIZE) as p:
        monkeypatch.setattr(cp, "_MAX_TRIANGLES", len(character.mesh.triangles))
        with pytest.raises(InputError, match="triangles exceed"):
            p.set_character(character)
        monkeypatch.undo()
        p.set_character(character)
        p.set_sheet(_exact_views(views), _udp_reference(views))
        _, cover = p.run(pose, camera)
        assert (cover > 0.5).sum() > 50


def test_the_udp_pass_visibility_buffer_resolves_as_the_pass_own_raster(gl_ctx, scene):
    """The runtime rasterizes the target once: ``UdpPass(visibility=True)``
    draws the UDP and the visibility buffer in one draw. Its UDP is the plain
    pass's (same pixels; values within float rounding: llvmpipe interpolates
    through the geometry stage in another order, measured <= 4e-7), and the
    correspondences resolved from its visibility buffer are the pass's own
    (which rasterizes the target again) within the same rounding."""
    from conrt.shaders import UdpPass

    character, views, (pose, camera, target), _ = scene
    with UdpPass(gl_ctx, SIZE, SIZE, visibility=True) as udp, \
            _pass(gl_ctx, character, _exact_views(views), _udp_reference(views)) as p:
        udp.set_character(character)
        merged = udp.run(pose, camera).data
        np.testing.assert_array_equal(merged[..., 3], target[..., 3])  # the same pixels covered
        np.testing.assert_allclose(merged, target, rtol=0, atol=8 * np.finfo(np.float32).eps)
        vis = np.frombuffer(udp.visibility.read(), np.float32).reshape(SIZE, SIZE, 4)
        np.testing.assert_array_equal(vis[..., 0] > 0.5, target[..., 3] > 0)
        own = [x.copy() for x in p.run(pose, camera)]
        shared = p.run(pose, camera, visibility=udp.visibility)
        assert (own[1] > 0.5).sum() > 50
        np.testing.assert_array_equal(own[1], shared[1])  # every view sees the same points
        np.testing.assert_allclose(own[0], shared[0], rtol=0, atol=1e-4)


def test_a_visibility_buffer_of_another_size_is_named(gl_ctx, scene):
    from conrt.errors import ConfigError
    from conrt.shaders import UdpPass

    character, views, (pose, camera, _), _ = scene
    with UdpPass(gl_ctx, SIZE // 2, SIZE // 2, visibility=True) as udp, \
            _pass(gl_ctx, character, _exact_views(views), _udp_reference(views)) as p:
        with pytest.raises(InputError, match="visibility buffer: expected a 96x96 RGBA32F texture, got 48x48"):
            p.render(pose, camera, visibility=udp.visibility)
    with pytest.raises(ConfigError, match="visibility buffer only at antialias=1"):
        UdpPass(gl_ctx, SIZE, SIZE, antialias=3, visibility=True)


def test_a_frame_after_others_is_a_fresh_pass_frame(gl_ctx, scene):
    """The clear, the resolve and the read-back cover only the box of the covered pixels
    (``CorrespondencePass._covered_box``): after frames that covered other pixels (the character
    elsewhere in the frame) the target's frame is a fresh pass's, element for element; read(out=)
    overwrites every element; a frame with the character out of sight is all zeros."""
    from dataclasses import replace

    character, views, (pose, camera, target), _ = scene
    with _pass(gl_ctx, character, _exact_views(views), _udp_reference(views)) as fresh:
        want = [x.copy() for x in fresh.run(pose, camera)]
    rows, cols = np.flatnonzero(target[..., 3].any(1)), np.flatnonzero(target[..., 3].any(0))
    outside = np.ones((SIZE, SIZE), bool)
    outside[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = False
    with _pass(gl_ctx, character, _exact_views(views), _udp_reference(views)) as p:
        before = np.zeros((SIZE, SIZE), bool)
        for dx in (-0.5, 0.5):  # the character a quarter of the frame to either side first
            shift = np.eye(4, dtype=np.float32)
            shift[0, 3] = dx  # clip x += dx * w: NDC x moves by dx
            before |= (p.run(pose, replace(camera, proj=shift @ camera.proj))[1][:, 0] > 0).any(0)
        assert (before & outside).sum() > 50  # what a stale frame would leave
        got = p.run(pose, camera)
        assert (got[1] > 0).sum() > 50
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        out = (np.full_like(want[0], np.nan), np.full_like(want[1], np.nan))
        p.render(pose, camera)
        assert p.read(out) is not None
        np.testing.assert_array_equal(out[0], want[0])
        np.testing.assert_array_equal(out[1], want[1])
        away = np.eye(4, dtype=np.float32)
        away[0, 3] = 1e3  # the world moved far to the side: nothing in the frame
        sampled, cover = p.run(pose, replace(camera, view=(away @ camera.view).astype(np.float32)))
        assert not sampled.any() and not cover.any()


def _host_bands(p, sheet, pose, camera):
    """The light agreement's bands on the host (``tone_band`` of the per-vertex N.L interpolated with
    the pass's own visibility buffer): (covered [H, W], target band [P], views' bands [M, P], their
    N.L's distance to the nearest threshold [P], on the face [P]: ``face_region`` at a corner)."""
    from conrt.shaders.correspondence_pass import SheetView, _LIGHT_STYLE, tone_band
    from conrt.shaders.material import face_region

    vis = np.frombuffer(p._vbuf.read(), np.float32).reshape(SIZE, SIZE, 4)
    on = vis[..., 0] > 0.5
    corners = p._triangles[vis[..., 0][on].astype(np.int64) - 1]
    bary = np.stack([vis[..., 2][on], vis[..., 3][on], 1 - vis[..., 2][on] - vis[..., 3][on]], 1)
    ndl = [(p._view_ndl(v)[corners] * bary).sum(1) for v in [SheetView("exact", camera=camera, pose=pose), *sheet]]
    margin = np.min([np.abs(n - t) for n in ndl for t in (_LIGHT_STYLE.lit_threshold, _LIGHT_STYLE.deep_threshold)], 0)
    face = face_region(p.character)[corners].max(1) > 0
    return on, tone_band(ndl[0]), np.stack([tone_band(n) for n in ndl[1:]]), margin, face


def test_a_view_lit_like_the_target_wins_where_two_views_see_a_point(gl_ctx, scene):
    """The light agreement (``set_sheet(lit=True)``): a sheet of the target itself (its pose and camera:
    every point it sees in the target's tone band) and a view from another camera (the key light turns
    with the camera: other bands on part of the body). Where both see a point (coverage > 0.5) and the
    other view's band differs, its coverage is x ``LIGHT_OTHER_WEIGHT`` (exact: a power of 2), elsewhere
    unchanged; the target's own view never lowered; the face (lit near flat in anime looks) as without
    the rule. Bands from the host's N.L (the same normals and light); pixels within 1e-3 of a threshold
    (the views' N.L at 12 bits: 5e-4) not judged. The runtime's path (the UDP pass's visibility buffer)
    gives the same."""
    from conrt.shaders import UdpPass
    from conrt.shaders.correspondence_pass import LIGHT_OTHER_WEIGHT, SheetView

    character, views, (pose, camera, target), _ = scene
    sheet = [SheetView("exact", camera=camera, pose=pose), SheetView("exact", camera=views[0][0], pose=views[0][1])]
    reference = np.stack([target.transpose(2, 0, 1), views[0][2].transpose(2, 0, 1)])
    with _pass(gl_ctx, character, sheet, reference) as p:
        plain = [x.copy() for x in p.run(pose, camera)]
        p.set_sheet(sheet, reference, lit=True)
        assert p.light_rule
        lit = [x.copy() for x in p.run(pose, camera)]
        on, band, bands, margin, face = _host_bands(p, sheet, pose, camera)
        with UdpPass(gl_ctx, SIZE, SIZE, visibility=True) as udp:
            udp.set_character(character)
            udp.run(pose, camera)
            shared = p.run(pose, camera, visibility=udp.visibility)
            np.testing.assert_array_equal(lit[1], shared[1])
    np.testing.assert_array_equal(lit[0][0], plain[0][0])  # the target's own view: colours and coverage
    np.testing.assert_array_equal(lit[1][0], plain[1][0])
    # the other view's colours: as before where the target's view sees the point (it agrees: nothing relit),
    # elsewhere relit only towards darker (its sheet's own shade / lit ratios are at most 1)
    agrees = np.broadcast_to(plain[1][0] > 0.5, plain[0][1].shape)
    np.testing.assert_array_equal(lit[0][1][agrees], plain[0][1][agrees])
    assert (lit[0][1] <= plain[0][1] + 1e-6).all()
    assert (bands[0] == band).all()
    before, after = plain[1][:, 0][:, on], lit[1][:, 0][:, on]
    assert face.sum() > 20
    np.testing.assert_array_equal(after[:, face], before[:, face])
    np.testing.assert_array_equal(lit[0][1][:, on][:, face], plain[0][1][:, on][:, face])
    both = (before > 0.5).all(0) & (margin > 1e-3) & ~face
    differs = both & (bands[1] != band)
    assert differs.sum() > 20 and (both & (bands[1] == band)).sum() > 20  # the case is there, both ways
    np.testing.assert_array_equal(after[1][differs], before[1][differs] * LIGHT_OTHER_WEIGHT)
    kept = (margin > 1e-3) & ~differs & ~face
    np.testing.assert_array_equal(after[1][kept], before[1][kept])


def test_sheets_not_lit_or_not_exact_are_resolved_as_without_the_light_rule(gl_ctx, scene):
    """Unlit sheets (``lit=False``, the runtime's gate: looks judged neither inked nor shaded) and
    sheets with a udp-nn view (no camera: no view normals) take the resolve without the rule, to the bit."""
    from conrt.shaders.correspondence_pass import SheetView

    character, views, (pose, camera, _), _ = scene
    exact = _exact_views(views)
    mixed = exact[:2] + [SheetView("udp-nn", udp=views[2][2])]
    reference = _udp_reference(views)
    with _pass(gl_ctx, character, mixed, reference) as p:
        want = [x.copy() for x in p.run(pose, camera)]
        p.set_sheet(mixed, reference, lit=True)
        assert not p.light_rule
        got = p.run(pose, camera)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        p.set_sheet(exact, reference, lit=True)
        assert p.light_rule
        p.set_sheet(exact, reference)
        assert not p.light_rule


def test_tone_ratios_are_the_sheets_own_shading_per_part_only_darker():
    """``tone_ratios``: per part the median shaded / lit colour of same-surface pixel pairs; a band with
    too few pairs follows the other by ``deep_multiplier``; a part with too few keeps 1; a ratio above 1
    (a lighter 'shade': not a shadow) is 1, deep never above shade."""
    from conrt.shaders.correspondence_pass import RELIGHT_MIN_PAIRS, _LIGHT_STYLE, tone_ratios

    rng = np.random.default_rng(0)
    n = RELIGHT_MIN_PAIRS
    lit = rng.uniform(0.2, 1.0, (4 * n + 1, 3))
    skin_shade, skin_deep, hair_shade = np.array([0.84, 0.66, 0.62]), np.array([0.6, 0.45, 0.4]), np.array([0.6, 0.6, 0.8])
    shaded = np.concatenate([lit[:n] * skin_shade, lit[n:2 * n] * skin_deep, lit[2 * n:3 * n] * hair_shade,
                             lit[3 * n:] * 1.3])
    bands = np.append(np.repeat([1, 0, 1, 1], n), 1)
    parts = np.append(np.repeat([0, 0, 1, 2], n), 3)  # one pair of part 3: too few
    r = tone_ratios(lit, shaded, bands, parts)
    np.testing.assert_allclose(r[0, 1], skin_shade, rtol=1e-9)
    np.testing.assert_allclose(r[0, 0], skin_deep, rtol=1e-9)
    np.testing.assert_allclose(r[1, 1], hair_shade, rtol=1e-9)
    np.testing.assert_allclose(r[1, 0], hair_shade * _LIGHT_STYLE.deep_multiplier, rtol=1e-9)
    np.testing.assert_array_equal(r[2, 1], 1.0)  # lighter than lit: not a shadow
    np.testing.assert_array_equal(r[3:], 1.0)
