"""UdpPass on real GL (EGL): exact landmarks, background, depth order, GPU
skinning against the NumPy reference, simulated vertices, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from conrt.characters.posing import forward_kinematics, posed_positions, rest_pose, rotation_matrix
from conrt.errors import ConfigError, InputError
from conrt.shaders.camera import frame_character, project
from conrt.shaders.udp_pass import UdpPass
from conrt.types import CanonicalBox, Character, Pose, Skeleton, SkinnedMesh

N = 16


@pytest.fixture()
def udp(gl_ctx):
    p = UdpPass(gl_ctx, N, N)
    yield p
    p.release()


def _front(character, size=N, margin=0.0, **kw):
    return frame_character(character.mesh.positions, size=size, margin=margin, **kw)


def test_quad_landmarks_are_exact_at_pixel_centres(udp, meshes):
    quad = meshes.quad_character()
    udp.set_character(quad)
    out = udp.run(rest_pose(quad), _front(quad)).data
    assert out.shape == (N, N, 4) and out.dtype == np.float32
    centres = (np.arange(N) + 0.5) / N
    # Row 0 is the top of the picture: landmark y (height) falls down the rows.
    np.testing.assert_allclose(out[..., 0], np.tile(centres, (N, 1)), atol=1e-6)
    np.testing.assert_allclose(out[..., 1], np.tile(centres[::-1, None], (1, N)), atol=1e-6)
    np.testing.assert_allclose(out[..., 2], 0.5, atol=1e-6)
    assert (out[..., 3] == 1.0).all()


def test_background_is_exactly_zero(udp, meshes):
    quad = meshes.quad_character()
    udp.set_character(quad)
    out = udp.run(rest_pose(quad), _front(quad, margin=0.25)).data
    covered = out[..., 3] == 1.0
    assert covered.sum() == (N // 2) ** 2  # the quad fills the middle half
    assert (out[~covered] == 0.0).all()
    assert set(np.unique(out[..., 3])) == {0.0, 1.0}


def test_near_face_wins(udp, meshes):
    two = meshes.two_quads_character()
    udp.set_character(two)
    pose = rest_pose(two)
    front = udp.run(pose, _front(two)).data
    # Near quad (z=+0.25 -> landmark z 0.75) covers the middle; far quad (0.5) the rest.
    assert front[N // 2, N // 2, 2] == pytest.approx(0.75, abs=1e-6)
    assert front[1, 1, 2] == pytest.approx(0.5, abs=1e-6)
    assert (front[..., 3] == 1).all()
    # From behind, the big far quad hides the small one completely.
    back = udp.run(pose, _front(two, yaw=180.0)).data
    covered = back[..., 3] == 1
    np.testing.assert_allclose(back[covered][:, 2], 0.5, atol=1e-6)


def test_cube_faces_by_view(udp, meshes):
    cube = meshes.cube_character()
    udp.set_character(cube)
    pose = rest_pose(cube)
    for yaw, channel, value in ((0, 2, 1.0), (180, 2, 0.0), (90, 0, 1.0), (-90, 0, 0.0)):
        out = udp.run(pose, _front(cube, yaw=yaw)).data
        covered = out[..., 3] == 1
        assert covered.all()
        np.testing.assert_allclose(out[covered][:, channel], value, atol=1e-6, err_msg=f"yaw {yaw}")
    top = udp.run(pose, _front(cube, pitch=90.0)).data
    np.testing.assert_allclose(top[top[..., 3] == 1][:, 1], 1.0, atol=1e-6)


def test_perspective_front_view_sees_only_the_front_face(gl_ctx, meshes):
    cube = meshes.cube_character()
    with UdpPass(gl_ctx, 32, 32) as udp:
        udp.set_character(cube)
        out = udp.run(rest_pose(cube), _front(cube, size=32, margin=0.1, projection="perspective")).data
    covered = out[..., 3] == 1
    assert 0 < covered.sum() < 32 * 32
    np.testing.assert_allclose(out[covered][:, 2], 1.0, atol=1e-6)


def _random_pose(character, rng, angle=1.0):
    skel = character.skeleton
    local = skel.rest_local.astype(np.float64).copy()
    for j in range(skel.num_joints):
        local[j, :3, :3] = local[j, :3, :3] @ rotation_matrix(rng.normal(size=3), rng.uniform(-angle, angle))
        local[j, :3, 3] += rng.normal(scale=0.05, size=3)
    return Pose(joint_world=forward_kinematics(skel.parents, local.astype(np.float32)))


def _blob_character(num_joints=300, num_vertices=2000, seed=0) -> Character:
    """Random points skinned to 4 random joints each with random weights: every
    weight slot and a joint count beyond uniform-array limits."""
    rng = np.random.default_rng(seed)
    parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, num_joints)], np.int32)
    local = np.tile(np.eye(4, dtype=np.float32), (num_joints, 1, 1))
    local[1:, :3, 3] = rng.normal(scale=0.1, size=(num_joints - 1, 3))
    world = forward_kinematics(parents, local)
    pos = rng.uniform(-1, 1, (num_vertices, 3)).astype(np.float32) + [0, 1, 0]
    w = rng.uniform(0.05, 1, (num_vertices, 4)).astype(np.float32)
    mesh = SkinnedMesh(
        positions=pos, normals=np.tile([0, 0, 1], (num_vertices, 1)).astype(np.float32),
        joints=rng.integers(0, num_joints, (num_vertices, 4)).astype(np.uint16),
        weights=(w / w.sum(1, keepdims=True)).astype(np.float32),
        triangles=rng.integers(0, num_vertices, (num_vertices, 3)).astype(np.uint32),
        parts=np.zeros(num_vertices, np.uint8),
    )
    skel = Skeleton(names=tuple(f"j{i}" for i in range(num_joints)), parents=parents, rest_local=local,
                    rest_world=world, inverse_bind=np.linalg.inv(world).astype(np.float32))
    return Character(name="blob", skeleton=skel, mesh=mesh, box=CanonicalBox.from_rest(pos))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gpu_skinning_matches_numpy_reference(udp, meshes, seed):
    rng = np.random.default_rng(seed)
    for character in (meshes.strip_character(), _blob_character(seed=seed)):
        udp.set_character(character)
        pose = _random_pose(character, rng)
        gpu = udp.skinned_positions(pose)
        ref = posed_positions(character, pose)
        np.testing.assert_allclose(gpu, ref, atol=1e-5, rtol=0)


def test_rendered_udp_follows_the_posed_vertices(gl_ctx, meshes):
    """At the pixel where a posed vertex projects, the UDP shows (about) that
    vertex's landmark: the image, not only the feedback path, is skinned."""
    strip = meshes.strip_character(segments=8, width=0.3)
    pose = _random_pose(strip, np.random.default_rng(5), angle=0.5)
    posed = posed_positions(strip, pose)
    size = 128
    cam = frame_character(posed, size=size, margin=0.1)
    with UdpPass(gl_ctx, size, size) as udp:
        udp.set_character(strip)
        out = udp.run(pose, cam).data
    lm = strip.box.landmarks(strip.mesh.positions)
    px = project(cam, posed)
    # Interior vertices only (not on the silhouette): the mid-line is not a
    # vertex of this ribbon, so use the centroid of each quad's 4 corners.
    checked = 0
    for i in range(8):
        corners = [2 * i, 2 * i + 1, 2 * i + 2, 2 * i + 3]
        c_lm = lm[corners].mean(0)
        c_pos = posed[corners].mean(0)
        x, y = project(cam, c_pos[None])[0]
        value = out[int(y), int(x)]
        if value[3] == 1:
            np.testing.assert_allclose(value[:3], c_lm, atol=0.03)
            checked += 1
    assert checked >= 6
    assert px.min() >= 0 and px.max() <= size


def test_simulated_vertices_override_skinning(udp, meshes):
    quad = meshes.quad_character()
    udp.set_character(quad)
    cam = _front(quad, margin=0.25)  # quad fills the middle half; room above
    base = udp.run(rest_pose(quad), cam).data.copy()
    # Physics lifts the top edge (vertices 2, 3) by half a metre.
    sim = Pose(joint_world=rest_pose(quad).joint_world, sim_indices=np.array([2, 3], np.int32),
               sim_positions=np.array([[0.5, 1.5, 0], [-0.5, 1.5, 0]], np.float32))
    moved = udp.run(sim, cam).data.copy()
    assert moved[..., 3].sum() == base[..., 3].sum() * 1.5
    assert base[1, N // 2, 3] == 0 and moved[1, N // 2, 3] == 1  # grew upwards into the free rows
    np.testing.assert_allclose(udp.skinned_positions(sim)[2:], sim.sim_positions, atol=0)
    # Without the override the next frame is skinned again.
    again = udp.run(rest_pose(quad), cam).data
    np.testing.assert_array_equal(again, base)


def test_deterministic(udp, meshes):
    strip = meshes.strip_character()
    udp.set_character(strip)
    pose = _random_pose(strip, np.random.default_rng(3), angle=0.6)
    cam = frame_character(posed_positions(strip, pose), yaw=30, size=N)
    a = udp.run(pose, cam).data.copy()
    b = udp.run(pose, cam).data.copy()
    assert a.any() and np.array_equal(a, b)


def test_bad_poses_raise_before_drawing(udp, meshes):
    quad = meshes.quad_character()
    udp.set_character(quad)
    cam = _front(quad)
    good = udp.run(rest_pose(quad), cam).data.copy()
    nan = rest_pose(quad).joint_world.copy()
    nan[0, 0, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        udp.run(Pose(joint_world=nan), cam)
    with pytest.raises(InputError, match="shape"):
        udp.run(Pose(joint_world=np.tile(np.eye(4, dtype=np.float32), (3, 1, 1))), cam)
    with pytest.raises(InputError, match="NaN"):
        udp.run(Pose(joint_world=rest_pose(quad).joint_world, sim_indices=np.array([0]),
                     sim_positions=np.array([[np.nan, 0, 0]], np.float32)), cam)
    with pytest.raises(InputError, match="out of range"):
        udp.run(Pose(joint_world=rest_pose(quad).joint_world, sim_indices=np.array([7]),
                     sim_positions=np.zeros((1, 3), np.float32)), cam)
    # Nothing was drawn by the rejected calls.
    np.testing.assert_array_equal(udp.read().data, good)


def test_misuse_is_a_clear_error(gl_ctx, meshes):
    quad = meshes.quad_character()
    with UdpPass(gl_ctx, 8, 8) as udp:
        with pytest.raises(InputError, match="set_character"):
            udp.run(rest_pose(quad), _front(quad, size=8))
        udp.set_character(quad)
        with pytest.raises(InputError, match="resize"):
            udp.run(rest_pose(quad), _front(quad, size=16))
        udp.resize(16, 16)
        assert udp.run(rest_pose(quad), _front(quad, size=16)).data.shape == (16, 16, 4)
        assert udp.texture.size == (16, 16) and udp.texture.dtype == "f4"
        assert udp.fbo.color_attachments[0] is udp.texture


def test_texture_rows_are_top_first_like_the_frame(udp, meshes):
    """GPU interop: the colour attachment's memory layout is the UdpFrame's."""
    strip = meshes.strip_character()
    udp.set_character(strip)
    pose = _random_pose(strip, np.random.default_rng(9), angle=0.4)
    frame = udp.run(pose, frame_character(posed_positions(strip, pose), yaw=15, size=N)).data
    raw = np.frombuffer(udp.texture.read(), np.float32).reshape(N, N, 4)
    np.testing.assert_array_equal(raw, frame)


def test_gl_row_order_option(gl_ctx, meshes):
    """rows="gl": the texture keeps GL's bottom-up rows; read() still returns
    row 0 = top and the same picture (up to the mirrored fill rule on edges)."""
    strip = meshes.strip_character()
    pose = _random_pose(strip, np.random.default_rng(4), angle=0.5)
    cam = frame_character(posed_positions(strip, pose), yaw=25, size=32)
    with UdpPass(gl_ctx, 32, 32) as top, UdpPass(gl_ctx, 32, 32, rows="gl") as gl:
        top.set_character(strip)
        gl.set_character(strip)
        a = top.run(pose, cam).data
        b = gl.run(pose, cam).data
        raw = np.frombuffer(gl.texture.read(), np.float32).reshape(32, 32, 4)
    np.testing.assert_array_equal(raw[::-1], b)
    both = (a[..., 3] == 1) & (b[..., 3] == 1)
    assert (a[..., 3] != b[..., 3]).mean() < 0.02 and both.sum() > 50
    np.testing.assert_allclose(a[both], b[both], atol=1e-5)
    with pytest.raises(ConfigError, match="top-first, gl"):
        UdpPass(gl_ctx, 8, 8, rows="bottom")


def test_skinned_positions_before_any_render_match_numpy():
    """A fresh pass on a fresh surfaceless context (no draw yet, the incomplete
    default framebuffer bound) still skins on the GPU."""
    from conrt.characters import generate
    from conrt.shaders.context import create_context, release_context

    character = generate(3)
    ctx = create_context("egl")
    udp = UdpPass(ctx, 64, 64)
    try:
        udp.set_character(character)
        pose = rest_pose(character)
        np.testing.assert_allclose(udp.skinned_positions(pose), posed_positions(character, pose), atol=1e-5)
    finally:
        udp.release()
        release_context(ctx)
