"""The physics' fast paths move things exactly as their plain definitions do.

The Verlet skirt's substep (``VerletCloth.step``: constants computed once,
capsule terms once per substep, only the pinned nodes carried by the anchor,
the tethers on whole arrays)
and the single-quaternion ``slerp`` (Python floats) were rewritten for speed
(session 7, #15). Here the plain versions (main 87610d9's code, written out)
run beside them on the same inputs: a real walking world's anchors and leg
capsules, random quaternions. The tolerance: poses leave the physics as
float32, whose spacing at the cloth's ~1 m coordinates is 6e-8 m; a
difference 100x below it never changes a drawn vertex.
"""
from __future__ import annotations

import math

import numpy as np

from conrt.physics.cloth import VerletCloth
from conrt.physics.transforms import matrix_to_quat, quat_to_matrix, quat_to_rows, rows_to_quat, slerp
from conrt.physics.world import PhysicsWorld

TOLERANCE_M = 6e-10  # 1/100 of float32's spacing at 1 m


class PlainVerlet(VerletCloth):
    """``VerletCloth.step`` as main 87610d9 wrote it: every constant per substep, all
    nodes carried rigidly to find the pinned ones, the capsule terms per contact pass."""

    def step(self, dt: float) -> None:
        x, prev = self.x, self.prev
        pinned_goal = self.rest_nodes(self._anchor)[self.proxy.pinned]
        v = (x - prev) * np.exp(-self.drag * dt)
        self.prev = x.copy()
        x = x + (v + self.gravity * dt * dt) * self.free[:, None]
        x[self.proxy.pinned] = pinned_goal
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        w = self.free
        wi, wj = w[i], w[j]
        wsum = np.maximum(wi + wj, 1e-12)
        n = len(x)
        caps = self._plain_near(x)
        gain_i = (1.5 * self.stiff * wi / wsum * self.scale[i, 0])[:, None]
        gain_j = (1.5 * self.stiff * wj / wsum * self.scale[j, 0])[:, None]
        for it in range(self.iterations):
            d = x[j] - x[i]
            length = np.sqrt((d * d).sum(1))
            c = ((length - self.rest_len) / np.maximum(length, 1e-9))[:, None] * d
            delta = np.zeros((n, 3))
            np.add.at(delta, i, c * gain_i)
            np.add.at(delta, j, -c * gain_j)
            x = x + delta
            if it == self.iterations - 1:
                x = self._plain_tethered(x)
            if it % 4 == 3 or it == self.iterations - 1:
                x = self._plain_collide(x, caps)
        self.x = x

    def _plain_tethered(self, x):
        """The tethers (``cloth.tethers``, session 10) node by node: no farther from the top
        of its column than the rest length down the column."""
        segments = len(self.proxy.pinned)
        grid = self.proxy.nodes.reshape(-1, segments, 3)
        out = x.copy()
        for k in range(len(x)):
            ring, column = divmod(k, segments)
            reach = sum(np.linalg.norm(grid[r + 1, column] - grid[r, column]) for r in range(ring))
            d = x[k] - x[column]
            dist = np.sqrt(d @ d)
            if dist > reach:
                out[k] = x[column] + d * (reach / dist)
        return out

    def _plain_near(self, x):
        c = self.capsules
        if not len(c):
            return c
        lo, hi = x.min(0) - 0.05, x.max(0) + 0.05
        clo = np.minimum(c[:, 0:3], c[:, 3:6]) - c[:, 6:7]
        chi = np.maximum(c[:, 0:3], c[:, 3:6]) + c[:, 6:7]
        return c[((clo <= hi) & (chi >= lo)).all(1)]

    def _plain_collide(self, x, caps):
        if not len(caps):
            return x
        a, ab, r = caps[:, 0:3], caps[:, 3:6] - caps[:, 0:3], caps[:, 6] + self.params.margin
        out = x.copy()
        for k in range(len(x)):  # node by node, capsule by capsule: the definition
            if self.free[k] == 0:
                continue
            for ci in range(len(caps)):
                t = np.clip((x[k] - a[ci]) @ ab[ci] / max(ab[ci] @ ab[ci], 1e-12), 0, 1)
                d = x[k] - (a[ci] + t * ab[ci])
                dist = np.sqrt(d @ d)
                if dist < r[ci]:
                    out[k] += (r[ci] - dist) / max(dist, 1e-9) * d
        return out


def test_the_verlet_substep_moves_the_skirt_as_its_plain_definition(girl):
    """A walking world's skirt anchors and leg capsules, 2 s at 120 Hz substeps: the
    fast step and the plain one stay within TOLERANCE_M of each other at every substep,
    and the skirt does move and touch the legs (the comparison tests something)."""
    with PhysicsWorld(fps=30, substeps=4) as world:
        world.add(girl, "walk")
        fast = world.actors[0].cloths[0]
        plain = PlainVerlet(fast.proxy, fast.rest_anchor, fast.params, anchor_world=fast._anchor,
                            iterations=fast.iterations, gravity=-fast.gravity[1])
        for _ in range(60):  # walk 2 s: the skirt in motion, the legs' capsules set
            world.step()
        # then both from the same state, anchors and capsules, substep by substep
        worst, touches, start = 0.0, 0, fast.x.copy()
        rng = np.random.default_rng(0)
        plain.x, plain.prev = fast.x.copy(), fast.prev.copy()
        plain.set_colliders(fast.capsules)
        anchor = fast._anchor
        for k in range(240):
            turn = np.eye(4)
            angle = 0.6 * np.sin(k / 15)  # the hips swing: the skirt lags, flares and meets the legs
            turn[[0, 0, 2, 2], [0, 2, 0, 2]] = np.cos(angle), np.sin(angle), -np.sin(angle), np.cos(angle)
            goal = anchor @ turn
            goal[:3, 3] += rng.normal(0, 1e-3, 3)
            for cloth in (fast, plain):
                cloth.drive(goal)
                cloth.step(world.dt)
            worst = max(worst, float(np.abs(fast.x - plain.x).max()))
            caps = fast._near(fast.x)
            touches += caps is not None and len(caps[0]) > 0
        assert worst <= TOLERANCE_M, worst
        assert np.abs(fast.x - start).max() > 0.02 and touches > 0


def test_one_pair_slerp_equals_the_batched_one():
    """The single-pair path (plain floats) against the batched NumPy path on the same
    quaternions: near-identical, opposite (the shortest path flips one) and far apart."""
    rng = np.random.default_rng(1)
    q0 = rng.normal(size=(3000, 4))
    q0 /= np.linalg.norm(q0, axis=1, keepdims=True)
    q1 = q0 + rng.normal(size=(3000, 4)) * 10.0 ** rng.uniform(-9, 0.5, (3000, 1))
    q1 /= np.linalg.norm(q1, axis=1, keepdims=True)
    q1[::3] *= -1
    t = rng.uniform(0, 1, 3000)
    batched = slerp(q0, q1, t)
    one = np.array([slerp(a, b, float(s)) for a, b, s in zip(q0, q1, t)])
    assert np.abs(one - batched).max() <= 4 * np.finfo(np.float64).eps


def test_plain_float_rotations_equal_the_batched_ones():
    """``quat_to_rows`` / ``rows_to_quat`` (the hair's per-substep rotation to go, on plain
    floats) against the batched NumPy ``quat_to_matrix`` / ``matrix_to_quat``."""
    rng = np.random.default_rng(2)
    q = rng.normal(size=(2000, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 3] < 0] *= -1
    m = quat_to_matrix(q)
    rows = np.array([quat_to_rows(x) for x in q.tolist()])
    assert np.abs(rows - m).max() <= 4 * np.finfo(np.float64).eps
    back = np.array([rows_to_quat(x) for x in m.tolist()])
    assert np.abs(back - matrix_to_quat(m)).max() <= 4 * np.finfo(np.float64).eps
    assert np.abs(back - q).max() < 1e-12


def test_triangle_frames_on_columns_equal_the_cross_product_definition():
    """``cloth._tri_frames`` (every frame in ``ClothProxy.embed``, rewritten on coordinate
    columns for speed, session 9) against its np.cross / np.linalg.norm definition:
    the same bits, degenerate triangles (a point) and tiny/huge ones included."""
    from conrt.physics.cloth import _tri_frames

    def plain(t):
        e = t[:, 1] - t[:, 0]
        n = np.cross(e, t[:, 2] - t[:, 0])
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return np.stack([e, np.cross(n, e), n], 1)

    rng = np.random.default_rng(3)
    for scale in (1e-7, 1e-2, 1.0, 30.0):
        t = rng.normal(size=(2000, 3, 3)) * scale
        t[::40] = t[::40, :1]  # all corners on one point: the 1e-12 floors
        np.testing.assert_array_equal(_tri_frames(t), plain(t))


# Session 10's cuts (#15: the physics stage's CPU per frame) keep the same bits: each fast
# path beside the code it replaced (main e43751d's, written out), compared with array_equal.

def _rows_to_quat_e43751d(r) -> tuple:
    (a, b, c), (d, e, f), (g, h, i) = r
    cand = (1 + a + e + i, 1 + a - e - i, 1 - a + e - i, 1 - a - e + i)
    k = max(range(4), key=cand.__getitem__)
    s = 2 * math.sqrt(max(cand[k], 1e-12))
    if k == 0:
        q = ((h - f) / s, (c - g) / s, (d - b) / s, 0.25 * s)
    elif k == 1:
        q = (0.25 * s, (b + d) / s, (c + g) / s, (h - f) / s)
    elif k == 2:
        q = ((b + d) / s, 0.25 * s, (f + h) / s, (c - g) / s)
    else:
        q = ((c + g) / s, (f + h) / s, 0.25 * s, (d - b) / s)
    n = math.sqrt(sum(x * x for x in q)) * (1 if q[3] >= 0 else -1)
    return tuple(x / n for x in q)


def test_rows_to_quat_keeps_its_bits():
    """``rows_to_quat`` unrolled (the hair drive calls it per strand per substep) against its
    e43751d form, on random rotations and on ties between the largest candidates (half
    turns about the axes and their diagonals: the first of the equal ones is taken)."""
    rng = np.random.default_rng(4)
    q = rng.normal(size=(3000, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    m = [*quat_to_matrix(q).tolist(), *np.diag([1.0, -1, -1]).reshape(1, 3, 3).tolist(),
         np.diag([-1.0, 1, -1]).tolist(), np.diag([-1.0, -1, 1]).tolist(), np.eye(3).tolist(),
         [[0.0, 1, 0], [1, 0, 0], [0, 0, -1]], [[-1.0, 0, 0], [0, 0, 1], [0, 1, 0]]]
    assert [rows_to_quat(r) for r in m] == [_rows_to_quat_e43751d(r) for r in m]


def test_anchor_paths_on_floats_keep_their_bits():
    """``world._AnchorPath.at`` on plain floats against its e43751d form (matrix_to_quat,
    slerp and quat_to_matrix on one matrix each, NumPy arrays between them)."""
    from conrt.physics.world import _AnchorPath

    rng = np.random.default_rng(5)
    before = np.tile(np.eye(4), (6, 1, 1))
    after = before.copy()
    q = rng.normal(size=(12, 4))
    before[:, :3, :3], after[:, :3, :3] = quat_to_matrix(q[:6]), quat_to_matrix(q[6:])
    after[5, :3, :3] = before[5, :3, :3]  # no turn: slerp's small-angle branch
    before[:, :3, 3], after[:, :3, 3] = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    path = _AnchorPath(before, after, list(range(6)))
    for j in range(6):
        for f in (0.25, 0.5, 0.75, 1.0, 1 / 3):
            old = np.eye(4)
            old[:3, :3] = quat_to_matrix(slerp(matrix_to_quat(before[j, :3, :3]), matrix_to_quat(after[j, :3, :3]), f))
            old[:3, 3] = (1 - f) * before[j, :3, 3] + f * after[j, :3, 3]
            np.testing.assert_array_equal(path.at(j, f), old)


def test_contact_pass_keeps_its_bits(girl):
    """``VerletCloth._collide`` with its capsule terms hoisted into ``_near`` (once a substep)
    against its e43751d form, on a walking skirt pushed into the legs (contacts happen):
    equal to float rounding (the same bits on the development host)."""
    with PhysicsWorld(fps=30, substeps=4) as world:
        world.add(girl, "walk")
        for _ in range(20):
            world.step()
        cloth = world.actors[0].cloths[0]
        caps = cloth._near(cloth.x)
    a, ab, r = caps[0], caps[1], caps[2]
    a_ab, ab2, a2 = (a * ab).sum(1), (ab * ab).sum(1), (a * a).sum(1)

    def collide_e43751d(x):
        xab = x @ ab.T - a_ab
        t = np.clip(xab / np.maximum(ab2, 1e-12), 0, 1)
        xa2 = (x * x).sum(1)[:, None] - 2 * x @ a.T + a2
        dist2 = xa2 - 2 * t * xab + t * t * ab2
        hit = (dist2 < r * r) & cloth._movable
        n, c = np.nonzero(hit)
        d = x[n] - (a[c] + t[n, c, None] * ab[c])
        dist = np.sqrt((d * d).sum(1))
        out = x.copy()
        np.add.at(out, n, ((r[c] - dist) / np.maximum(dist, 1e-9))[:, None] * d)
        return out, len(n)

    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(20):  # nodes scattered over the legs' reach: many inside a capsule
        x = cloth.x + rng.normal(0, 0.06, cloth.x.shape)
        want, n = collide_e43751d(x)
        hits += n
        # the same bits here; 4 eps at the skirt's ~1 m: a BLAS may take another kernel for a transposed operand
        assert np.abs(cloth._collide(x, caps) - want).max() <= 4 * np.finfo(np.float64).eps
    assert hits > 20


def test_the_verlet_world_steps_as_in_the_deformable_world(girl):
    """A world with the Verlet cloth no longer asks PyBullet for a deformable world (its
    solver had nothing to step): the same poses, bit for bit, as with it."""
    from conrt.physics import world as world_module

    reset = world_module.p.resetSimulation
    poses = []
    for deformable in (True, False):
        if deformable:
            deform = world_module.p.RESET_USE_DEFORMABLE_WORLD
            world_module.p.resetSimulation = lambda flags=0, **kw: reset(deform, **kw)
        try:
            world = PhysicsWorld(fps=30, substeps=4)
        finally:
            world_module.p.resetSimulation = reset
        with world:
            world.add(girl, "walk")
            poses.append([world.step()[0] for _ in range(30)])
    for a, b in zip(*poses):
        np.testing.assert_array_equal(a.joint_world, b.joint_world)
        np.testing.assert_array_equal(a.sim_positions, b.sim_positions)


def test_hair_health_of_all_strands_at_once_as_one_by_one(girl):
    """``hair.chains_healthy`` (the world's read: every strand in one NumPy pass) against
    ``HairChain.healthy``'s e43751d form strand by strand: healthy strands, NaN, a root torn
    off the head, stretched links, and subsets of the strands in one call."""
    from conrt.physics.hair import chains_healthy

    def healthy_e43751d(h, world, anchor_world):
        if not np.isfinite(world).all():
            return False
        pos = world[:, :3, 3]
        root_err = np.linalg.norm(pos[0] - h.target(anchor_world)[:3, 3])
        reach = np.sqrt(((pos - pos[0]) ** 2).sum(1).max())
        return bool(root_err < 0.5 * h._length + 0.05 and reach < 1.5 * h._length + 0.05)

    rng = np.random.default_rng(7)
    with PhysicsWorld(fps=30, substeps=4) as world:
        world.add(girl, "walk")
        for _ in range(10):
            world.step()
        a = world.actors[0]
        hairs = a.hairs
        assert len(hairs) >= 2
        anchors = a.body.joint_world()[[h.anchor for h in hairs]]
        seen = set()
        for trial in range(60):
            worlds = [h.joint_world() for h in hairs]
            for h, w in zip(hairs, worlds):
                kind = rng.integers(5)
                if kind == 1:
                    w[rng.integers(len(w)), rng.integers(3), 3] = np.nan
                elif kind == 2:  # the root torn off: moved by about half the strand's length
                    w[:, :3, 3] += rng.normal(0, 0.5 * h._length, 3)
                elif kind == 3:  # a link flung out
                    w[-1, :3, 3] += rng.normal(0, 1.5 * h._length, 3)
            k = rng.integers(1, len(hairs) + 1)  # a subset of the strands
            got = chains_healthy(hairs[:k], worlds[:k], anchors[:k])
            want = [healthy_e43751d(h, w, an) for h, w, an in zip(hairs[:k], worlds[:k], anchors[:k])]
            assert got.tolist() == want
            seen |= set(want)
        assert seen == {True, False}
