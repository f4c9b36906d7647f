"""LookupPass (shaders/lookup_pass.py) = LookupNet.sample_views, on real GL.

Tolerances. Both sides filter in float32 (llvmpipe filters float textures in
fp32), so they differ by rounding only; measured against a float64 run of
``sample_views`` the GL pass is as close as torch's own float32 run (tested).
The rounding of the trilinear fraction (~ulp(grid) ~ 4e-6) is amplified where
the table is rough: by the jump of u, v between neighbouring voxels, by
1/coverage (u, v = sum(w·u·c) / sum(w·c)), then by the reference's slope
((S-1)/2 texels per unit of u). Random tables and random references are the
worst case for all three: measured max ~2e-5, mean ~3e-7 at S = 64. Stated
bounds: mean <= 1e-5, max <= 2e-4 (random); mean <= 1e-6, max <= 2e-5
(smooth, structured inputs).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conrt.errors import ConfigError, InputError
from conrt.runtime.nn.lookup_net import build_table, look_up
from conrt.runtime.nn.model import create_model
from conrt.shaders.lookup_pass import MAX_VIEWS, LookupPass

GRID = 32


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("conr-rt").eval()


def _random_inputs(views, h, w, s_h=None, s_w=None, seed=0, dtype=torch.float32):
    """Random table (u, v beyond -1..1 so the zero border is hit, coverage with
    exact zeros and tiny values), reference, UDP (xyz beyond 0..1, occupancy 0/1)."""
    g = torch.Generator().manual_seed(seed)
    s_h, s_w = s_h or h, s_w or w
    table = torch.rand(1, views, 3, GRID ** 3, generator=g, dtype=dtype)
    cover = table[:, :, 2:] * (torch.rand(1, views, 1, GRID ** 3, generator=g, dtype=dtype) > 0.2)
    table = torch.cat([table[:, :, :2] * 2.4 - 1.2, cover], 2)
    ref = torch.rand(1, views, 4, s_h, s_w, generator=g, dtype=dtype)
    udp = torch.rand(1, 4, h, w, generator=g, dtype=dtype) * 1.2 - 0.1
    udp[:, 3] = (udp[:, 3] > 0.3).to(dtype)
    return table, ref, udp


def _hwc(udp: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(udp[0].permute(1, 2, 0).float().numpy())


def _torch_views(model, table, ref, udp):
    with torch.no_grad():
        sampled, cover = model.sample_views(model.encode_pose(udp)[0], ref, table)
    return sampled[0].numpy(), cover[0].numpy()


def _run(gl_ctx, table, ref, udp, filtering="hardware", **kw):
    views = table.shape[1]
    h, w = udp.shape[-2:]
    with LookupPass(gl_ctx, w, h, views, filtering=filtering) as lp:
        lp.set_sheet(table.float(), ref.float())
        return lp.run(_hwc(udp), **kw)


@pytest.mark.parametrize("filtering", ["hardware", "exact"])
@pytest.mark.parametrize("views,h,w,s", [(1, 64, 64, 64), (3, 48, 64, 40), (4, 64, 64, 64), (8, 32, 32, 56)])
def test_random_inputs_equal_sample_views(gl_ctx, model, views, h, w, s, filtering):
    table, ref, udp = _random_inputs(views, h, w, s, s, seed=views)
    sampled, cover = _run(gl_ctx, table, ref, udp, filtering)
    want_s, want_c = _torch_views(model, table, ref, udp)
    assert sampled.shape == (views, 4, h, w) and cover.shape == (views, 1, h, w)
    assert sampled.dtype == np.float32 and cover.dtype == np.float32
    err = np.abs(sampled - want_s)
    assert err.mean() <= 1e-5 and err.max() <= 2e-4, (err.mean(), err.max())
    assert np.abs(cover - want_c).max() <= 1e-5
    # nothing off the target's occupancy, and zero padding outside the reference
    assert (cover[:, 0][:, udp[0, 3].numpy() == 0] == 0).all()
    assert (want_s == 0).any() and np.abs(sampled[want_s == 0]).max() <= 2e-4


@pytest.mark.parametrize("filtering", ["hardware", "exact"])
def test_as_close_to_float64_as_torch_float32(gl_ctx, model, filtering):
    """The deviation is float32 rounding on both sides, not a convention error."""
    table, ref, udp = _random_inputs(4, 64, 64, seed=7, dtype=torch.float64)
    sampled, _ = _run(gl_ctx, table, ref, udp, filtering)
    exact, _ = _torch_views(model.double(), table, ref, udp)
    model.float()
    single, _ = _torch_views(model, table.float(), ref.float(), udp.float())
    gl_err, torch_err = np.abs(sampled - exact), np.abs(single - exact)
    assert gl_err.mean() <= 2 * torch_err.mean() + 1e-7
    assert gl_err.max() <= 4 * torch_err.max() + 1e-6


@pytest.mark.parametrize("filtering", ["hardware", "exact"])
def test_reads_back_the_lookup_uv_on_a_ramp_reference(gl_ctx, filtering):
    """Reference = its own pixel coordinates: the sample is the looked-up
    (u, v) itself, so this checks the table lookup and the align_corners
    mapping directly (bilinear of a linear ramp is exact)."""
    views, s = 2, 64
    g = torch.Generator().manual_seed(3)
    table = torch.rand(1, views, 3, GRID ** 3, generator=g)
    table = torch.cat([table[:, :, :2] * 1.8 - 0.9, table[:, :, 2:] * 0.9 + 0.1], 2)
    ramp = torch.linspace(0, 1, s)
    ref = torch.stack([ramp.expand(s, s), ramp[:, None].expand(s, s), torch.zeros(s, s), torch.ones(s, s)])
    ref = ref.expand(1, views, 4, s, s)
    udp = torch.rand(1, 4, s, s, generator=g)
    udp[:, 3] = 1.0
    sampled, cover = _run(gl_ctx, table, ref, udp, filtering)
    look = look_up(table, udp, GRID)[0].numpy()
    assert np.abs(sampled[:, 0] * 2 - 1 - look[:, 0]).max() <= 2e-5  # u
    assert np.abs(sampled[:, 1] * 2 - 1 - look[:, 1]).max() <= 2e-5  # v
    assert np.abs(cover[:, 0] - look[:, 2]).max() <= 2e-6


@pytest.mark.parametrize("filtering", ["hardware", "exact"])
def test_structured_sheet_round_trip(gl_ctx, model, filtering):
    """A table built from a smooth sheet UDP, looked up with a target posed
    like the sheet (xyz at voxel centres, borders and corners included)."""
    s, views = 64, 3
    v, u = torch.meshgrid(torch.linspace(0.02, 0.98, s), torch.linspace(0.0, 1.0, s), indexing="ij")
    xyz = torch.stack([u, v, 0.5 + 0.4 * (u - 0.5) * (v - 0.5)], 0).expand(1, views, 3, s, s).clone()
    mask = torch.zeros(1, views, 1, s, s)
    mask[..., 2:-2, 2:-2] = 1.0
    table = build_table(xyz, mask, GRID, 3)
    g = torch.Generator().manual_seed(5)
    rgb = torch.nn.functional.interpolate(torch.rand(views, 3, 8, 8, generator=g), size=(s, s), mode="bilinear")
    ref = torch.cat([rgb[None] * mask, mask], 2)
    udp = torch.cat([xyz[0, 0], mask[0, 0]], 0)[None]
    udp[0, :3, 10, 10] = torch.tensor([0.5, 0.5, 0.5]) + 0.5 / GRID  # exactly on a voxel centre
    udp[0, :3, 11, 11] = 0.0  # the table's corner
    udp[0, :3, 12, 12] = 1.0  # the opposite corner
    sampled, cover = _run(gl_ctx, table, ref, udp, filtering)
    want_s, want_c = _torch_views(model, table, ref, udp)
    err = np.abs(sampled - want_s)
    assert err.mean() <= 1e-6 and err.max() <= 2e-5, (err.mean(), err.max())
    assert np.abs(cover - want_c).max() <= 1e-6


def test_udp_texture_input_and_encode_pose(gl_ctx, model):
    table, ref, udp = _random_inputs(2, 32, 48, seed=11)
    udp[0, 3, :, :5] = 0.5  # a fractional occupancy: encode_pose matters
    with LookupPass(gl_ctx, 48, 32, 2) as lp:
        lp.set_sheet(table[0], ref[0])  # without the batch axis
        from_array = [a.copy() for a in lp.run(_hwc(udp))]
        tex = gl_ctx.texture((48, 32), 4, _hwc(udp).tobytes(), dtype="f4")
        try:
            from_texture = lp.run(tex)
        finally:
            tex.release()
        raw = lp.run(_hwc(udp), encode_pose=False)
    for a, b in zip(from_array, from_texture):
        np.testing.assert_array_equal(a, b)
    want_s, _ = _torch_views(model, table, ref, udp)
    assert np.abs(from_array[0] - want_s).max() <= 2e-4
    with torch.no_grad():  # without encode_pose: sample_views on the UDP as given
        want_raw, _ = model.sample_views(udp, ref, table)
    assert np.abs(raw[0] - want_raw[0].numpy()).max() <= 2e-4


def test_read_into_preallocated_arrays(gl_ctx):
    table, ref, udp = _random_inputs(2, 32, 32, seed=2)
    with LookupPass(gl_ctx, 32, 32, 2) as lp:
        lp.set_sheet(table, ref)
        out = (np.empty((2, 4, 32, 32), np.float32), np.empty((2, 1, 32, 32), np.float32))
        got = lp.run(_hwc(udp), out=out)
        assert got[0] is out[0] and got[1] is out[1]
        np.testing.assert_array_equal(out[0], lp.run(_hwc(udp))[0])
        with pytest.raises(InputError, match="C-contiguous float32"):
            lp.read(out=(np.empty((2, 4, 32, 31), np.float32), out[1]))


def test_bad_inputs_name_the_problem(gl_ctx):
    table, ref, udp = _random_inputs(2, 32, 32, seed=1)
    with pytest.raises(ConfigError, match=f"1..{MAX_VIEWS} views, got 9"):
        LookupPass(gl_ctx, 32, 32, MAX_VIEWS + 1)
    with pytest.raises(ConfigError, match="1..8 views, got 0"):
        LookupPass(gl_ctx, 32, 32, 0)
    with pytest.raises(ConfigError, match="size must be positive"):
        LookupPass(gl_ctx, 0, 32, 2)
    with pytest.raises(ConfigError, match="unknown filtering 'nearest'"):
        LookupPass(gl_ctx, 32, 32, 2, filtering="nearest")
    with LookupPass(gl_ctx, 32, 32, 2) as lp:
        with pytest.raises(InputError, match="before set_sheet"):
            lp.run(_hwc(udp))
        with pytest.raises(InputError, match=r"table: expected \[M, 3, grid\^3\]"):
            lp.set_sheet(table[:, :, :2], ref)
        with pytest.raises(InputError, match="not grid\\^3"):
            lp.set_sheet(table[..., :1001], ref)
        with pytest.raises(InputError, match=r"reference: expected \[M, 4, H, W\]"):
            lp.set_sheet(table, ref[:, :, :3])
        with pytest.raises(InputError, match="built for 2 views but the table has 3"):
            lp.set_sheet(torch.cat([table, table[:, :1]], 1), ref)
        bad = table.clone()
        bad[0, 1, 0, 5] = float("nan")
        with pytest.raises(InputError, match="table contains NaN/inf"):
            lp.set_sheet(bad, ref)
        bad = ref.clone()
        bad[0, 0, 2, 3, 3] = float("inf")
        with pytest.raises(InputError, match="reference contains NaN/inf"):
            lp.set_sheet(table, bad)
        lp.set_sheet(table, ref)
        with pytest.raises(InputError, match=r"expected \(32, 32, 4\).*got shape \(32, 32, 3\)"):
            lp.run(_hwc(udp)[..., :3])
        with pytest.raises(InputError, match=r"got shape \(4, 32, 32\)"):
            lp.run(udp[0].numpy())
        nan_udp = _hwc(udp)
        nan_udp[4, 4, 0] = np.nan
        with pytest.raises(InputError, match="UDP frame contains NaN/inf"):
            lp.run(nan_udp)
        small = gl_ctx.texture((16, 32), 4, dtype="f4")
        try:
            with pytest.raises(InputError, match="UDP texture: expected 32x32 RGBA32F"):
                lp.run(small)
        finally:
            small.release()
        # a rejected frame leaves the pass usable
        np.testing.assert_array_equal(lp.run(_hwc(udp))[1], lp.run(_hwc(udp))[1])


@pytest.mark.parametrize("box", [(5, 9, 20, 13), (0, 0, 48, 32), (47, 31, 1, 1), None])
def test_host_frames_look_up_only_the_occupied_box(gl_ctx, model, box):
    """For a host frame only the occupancy's bounding box is looked up, the
    rest is the per-view background constant: same result as the whole frame
    (the texture path) and as sample_views; an empty frame is all constant."""
    table, ref, udp = _random_inputs(3, 32, 48, seed=13)
    udp[0, 3] = 0.0
    if box is not None:
        x, y, w, h = box
        udp[0, 3, y:y + h, x:x + w] = (torch.rand(h, w, generator=torch.Generator().manual_seed(2)) > 0.2).float()
        udp[0, 3, y, x] = udp[0, 3, y + h - 1, x + w - 1] = 1.0
    with LookupPass(gl_ctx, 48, 32, 3) as lp:
        lp.set_sheet(table, ref)
        from_array = [a.copy() for a in lp.run(_hwc(udp))]
        assert lp.box == (box or (0, 0, 0, 0))
        tex = gl_ctx.texture((48, 32), 4, _hwc(udp).tobytes(), dtype="f4")
        try:
            from_texture = lp.run(tex)  # the whole frame through the shader
        finally:
            tex.release()
        assert lp.box == (0, 0, 48, 32)
    np.testing.assert_array_equal(from_array[0], from_texture[0])
    np.testing.assert_array_equal(from_array[1], from_texture[1])
    want_s, want_c = _torch_views(model, table, ref, udp)
    assert np.abs(from_array[0] - want_s).max() <= 2e-4
    assert np.abs(from_array[1] - want_c).max() <= 1e-5


def test_takes_the_udp_pass_texture_on_the_gpu(gl_ctx, meshes, model):
    """UdpPass.texture (RGBA32F, row 0 = top) goes straight in: same result as
    the read-back frame, and as sample_views."""
    from conrt.characters.posing import rest_pose
    from conrt.shaders.camera import frame_character
    from conrt.shaders.udp_pass import UdpPass

    cube = meshes.cube_character()
    camera = frame_character(cube.mesh.positions, yaw=30, pitch=20, size=40, margin=0.1)
    table, ref, _ = _random_inputs(2, 40, 40, seed=17)
    with UdpPass(gl_ctx, 40, 40) as up, LookupPass(gl_ctx, 40, 40, 2) as lp:
        up.set_character(cube)
        frame = up.run(rest_pose(cube), camera).data
        assert 0 < frame[..., 3].mean() < 1
        lp.set_sheet(table, ref)
        from_texture = [a.copy() for a in lp.run(up.texture)]
        from_array = lp.run(frame)
    for a, b in zip(from_texture, from_array):
        np.testing.assert_array_equal(a, b)
    udp = torch.from_numpy(frame).permute(2, 0, 1)[None]
    want_s, want_c = _torch_views(model, table, ref, udp)
    assert np.abs(from_texture[0] - want_s).max() <= 2e-4
    assert np.abs(from_texture[1] - want_c).max() <= 1e-5
