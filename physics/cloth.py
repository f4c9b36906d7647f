"""Cloth regions (skirts, capes) as PyBullet mass-spring soft bodies.

The render mesh is far too fine to simulate in real time, so each cloth
region gets a coarse *proxy*: a ring grid around the anchor joint's vertical
axis (``segments`` x ``rings`` nodes, default 16 x 8 = 128), with radii
fitted to the render vertices, its top ring anchored to a collision-less body
that follows the anchor joint. Every render vertex is embedded in its nearest
proxy triangle (barycentric coordinates + an offset along the triangle
normal, computed once in the rest pose), so it follows the proxy.
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pybullet as p

from conrt.errors import PhysicsError
from conrt.types import Character, SimRegion

from .transforms import matrix_to_quat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClothProxy:
    """A region's simulation proxy and the render vertices' embedding in it."""

    region: str
    anchor_joint: int
    nodes: np.ndarray  # [N, 3] f64 rest positions, character space
    triangles: np.ndarray  # [F, 3] i64 proxy triangles
    pinned: np.ndarray  # [P] i64 proxy nodes attached to the anchor
    vertices: np.ndarray  # [K] i64 render vertices placed by the cloth (region vertices minus pinned)
    tri: np.ndarray  # [K] i64 proxy triangle of each render vertex
    bary: np.ndarray  # [K, 3] f64 barycentric coordinates of the nearest point in it
    offset: np.ndarray  # [K, 3] f64 vertex - nearest point, in the triangle's (edge, in-plane, normal) frame

    def embed(self, nodes: np.ndarray) -> np.ndarray:
        """[N, 3] proxy node positions -> [K, 3] render vertex positions (exact in the rest
        shape, follows rigid motions exactly)."""
        tris = nodes[self.triangles]  # [F, 3, 3]: frames per proxy triangle, then gathered per vertex
        t = tris[self.tri]
        return np.einsum("kc,kcd->kd", self.bary, t) + np.einsum("ke,ked->kd", self.offset, _tri_frames(tris)[self.tri])


def _tri_frames(t: np.ndarray) -> np.ndarray:
    """[K, 3, 3] triangles -> [K, 3, 3] orthonormal frames (rows: first edge, in-plane normal, normal).
    On coordinate columns ([K] arrays): np.cross and np.linalg.norm on [K, 3] cost ~3x as
    much on a skirt's ~200 proxy triangles (every frame, ClothProxy.embed); the same
    products, sums and order, so the same bits (tests/physics/test_physics_reference.py)."""
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    ex, ey, ez = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1], b[:, 2] - a[:, 2]
    fx, fy, fz = c[:, 0] - a[:, 0], c[:, 1] - a[:, 1], c[:, 2] - a[:, 2]
    nx, ny, nz = ey * fz - ez * fy, ez * fx - ex * fz, ex * fy - ey * fx  # e x f
    e_len = np.maximum(np.sqrt(ex * ex + ey * ey + ez * ez), 1e-12)
    n_len = np.maximum(np.sqrt(nx * nx + ny * ny + nz * nz), 1e-12)
    ex, ey, ez = ex / e_len, ey / e_len, ez / e_len
    nx, ny, nz = nx / n_len, ny / n_len, nz / n_len
    out = np.empty(t.shape[:1] + (3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = ex, ey, ez
    out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = ny * ez - nz * ey, nz * ex - nx * ez, nx * ey - ny * ex  # n x e
    out[:, 2, 0], out[:, 2, 1], out[:, 2, 2] = nx, ny, nz
    return out


def _closest_on_triangles(pts: np.ndarray, tri: np.ndarray):
    """For each of [K, 3] points, the nearest of [F, 3, 3] triangles -> (index [K], bary [K, 3])."""
    best_d = np.full(len(pts), np.inf)
    best_t = np.zeros(len(pts), np.int64)
    best_b = np.zeros((len(pts), 3))
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    for s in range(0, len(pts), 256):  # chunks keep the [k, F, 3] temporaries small
        q = pts[s:s + 256, None, :]
        ab, ac, aq = b - a, c - a, q - a
        d00, d01, d11 = (ab * ab).sum(-1), (ab * ac).sum(-1), (ac * ac).sum(-1)
        d20, d21 = (aq * ab).sum(-1), (aq * ac).sum(-1)
        den = np.maximum(d00 * d11 - d01 * d01, 1e-18)
        v = (d11 * d20 - d01 * d21) / den
        w = (d00 * d21 - d01 * d20) / den
        # clamp to the triangle (approximate: project then renormalise), good enough for nearest search
        v, w = np.clip(v, 0, 1), np.clip(w, 0, 1)
        tot = v + w
        over = tot > 1
        safe = np.where(over, tot, 1.0)
        v, w = np.where(over, v / safe, v), np.where(over, w / safe, w)
        u = 1 - v - w
        proj = u[..., None] * a + v[..., None] * b + w[..., None] * c
        d = np.linalg.norm(q - proj, axis=-1)
        k = d.argmin(1)
        rows = np.arange(len(k))
        sl = slice(s, s + len(k))
        best_d[sl], best_t[sl] = d[rows, k], k
        best_b[sl] = np.stack([u[rows, k], v[rows, k], w[rows, k]], 1)
    return best_t, best_b


def build_proxy(character: Character, region: SimRegion, segments: int = 16, rings: int = 8) -> ClothProxy:
    """Fit a ring-grid proxy to a cloth region (see module docstring)."""
    if region.kind != "cloth":
        raise PhysicsError(f"region {region.name!r} is {region.kind!r}, not cloth")
    if segments < 4 or rings < 2:
        raise PhysicsError(f"cloth proxy needs >= 4 segments and >= 2 rings, got {segments} x {rings}")
    verts = character.mesh.positions[region.vertices].astype(np.float64)
    if len(verts) < 3:
        raise PhysicsError(f"cloth region {region.name!r} has {len(verts)} vertices")
    pinned_pos = character.mesh.positions[region.pinned].astype(np.float64) if len(region.pinned) else verts
    cx, cz = verts[:, 0].mean(), verts[:, 2].mean()
    theta = np.arctan2(verts[:, 0] - cx, verts[:, 2] - cz)
    radius = np.hypot(verts[:, 0] - cx, verts[:, 2] - cz)
    top = float(pinned_pos[:, 1].mean()) if len(region.pinned) else float(verts[:, 1].max())
    bottom = float(verts[:, 1].min())
    # open grid (a cape) when the vertices leave a big angular gap, else a closed tube
    srt = np.sort(theta)
    gaps = np.diff(np.concatenate([srt, srt[:1] + 2 * np.pi]))
    closed = gaps.max() < np.radians(60)
    if closed:
        angles = 2 * np.pi * np.arange(segments) / segments - np.pi
    else:
        start = srt[(gaps.argmax() + 1) % len(srt)]
        span = 2 * np.pi - gaps.max()
        angles = start + span * np.arange(segments) / (segments - 1)
    heights = np.linspace(top, bottom, rings)
    mean_r = max(float(radius.mean()), 1e-3)
    # node radius: distance-weighted mean radius of the nearby render vertices in (arc, height)
    nodes = np.zeros((rings, segments, 3))
    for k, y in enumerate(heights):
        dth = np.angle(np.exp(1j * (theta[None, :] - angles[:, None])))  # [S, V]
        dist2 = (dth * mean_r) ** 2 + (verts[None, :, 1] - y) ** 2
        near = np.argsort(dist2, axis=1)[:, :6]
        w = 1.0 / (np.take_along_axis(dist2, near, 1) + 1e-6)
        r = (radius[near] * w).sum(1) / w.sum(1)
        nodes[k] = np.stack([cx + r * np.sin(angles), np.full(segments, y), cz + r * np.cos(angles)], 1)
    nodes = nodes.reshape(-1, 3)
    tris = []
    for k in range(rings - 1):
        for i in range(segments if closed else segments - 1):
            a, b = k * segments + i, k * segments + (i + 1) % segments
            tris += [(a, a + segments, b), (b, a + segments, b + segments)]
    tris = np.array(tris, np.int64)
    free = np.setdiff1d(region.vertices, region.pinned).astype(np.int64)
    pts = character.mesh.positions[free].astype(np.float64)
    tri_idx, bary = _closest_on_triangles(pts, nodes[tris])
    t = nodes[tris[tri_idx]]
    offset = np.einsum("ked,kd->ke", _tri_frames(t), pts - np.einsum("kc,kcd->kd", bary, t))
    return ClothProxy(region=region.name, anchor_joint=region.anchor_joint, nodes=nodes, triangles=tris,
                      pinned=np.arange(segments, dtype=np.int64), vertices=free, tri=tri_idx, bary=bary, offset=offset)


@dataclass(frozen=True)
class ClothParams:
    mass: float = 0.25  # kg, whole proxy
    stretch: float = 80.0  # spring elastic stiffness (PyBullet; stable at 240 Hz substeps)
    damping: float = 0.1  # spring damping (PyBullet)
    bending: float = 4.0  # bending spring stiffness (PyBullet); Verlet: bending constraint weight = bending / 10
    drag: float = 1.5  # Verlet: velocity decay per second (air drag)
    friction: float = 0.3
    margin: float = 0.008  # collision margin, metres


class ClothSim:
    """One proxy as a PyBullet soft body in a deformable world."""

    def __init__(self, client: int, proxy: ClothProxy, rest_anchor: np.ndarray, params: ClothParams = ClothParams(),
                 anchor_world: np.ndarray | None = None):
        self.client, self.proxy, self.params = client, proxy, params
        self.rest_anchor = rest_anchor.astype(np.float64)  # [4, 4] anchor joint rest world
        # proxy in the anchor joint's rest frame: loadSoftBody places it with the anchor's pose
        inv = np.linalg.inv(self.rest_anchor)
        local = (inv[:3, :3] @ proxy.nodes.T).T + inv[:3, 3]
        # PyBullet loads soft bodies from files only: the OBJ lives in memory and on
        # disk just while it is loaded (a run killed by SIGTERM leaves no /tmp file)
        self._obj_text = "".join([f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in local] +
                                 [f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in proxy.triangles])
        self.body = self.anchor = None
        self.resets = 0
        self._spawn(self.rest_anchor if anchor_world is None else np.asarray(anchor_world, np.float64))

    def _spawn(self, anchor_world: np.ndarray) -> None:
        pos, orn = anchor_world[:3, 3].tolist(), matrix_to_quat(anchor_world[:3, :3]).tolist()
        fd, obj = tempfile.mkstemp(prefix=f"conrt_cloth_{self.proxy.region}_", suffix=".obj")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(self._obj_text)
            self.body = self._load_soft_body(obj, pos, orn)
        finally:
            os.unlink(obj)
        if self.body < 0:
            raise PhysicsError(f"PyBullet could not load the cloth proxy of {self.proxy.region!r}")
        self._pin(pos, orn)

    def _load_soft_body(self, obj: str, pos, orn) -> int:
        c, pr = self.client, self.params
        return p.loadSoftBody(
            obj, basePosition=pos, baseOrientation=orn, mass=pr.mass, useMassSpring=1, useBendingSprings=1,
            springElasticStiffness=pr.stretch, springDampingStiffness=pr.damping, springBendingStiffness=pr.bending,
            useSelfCollision=0, frictionCoeff=pr.friction, collisionMargin=pr.margin, useFaceContact=0,
            physicsClientId=c)

    def _pin(self, pos, orn) -> None:
        c = self.client
        # The anchor: a body without collision shape that follows the anchor joint.
        self.anchor = p.createMultiBody(baseMass=5.0, baseCollisionShapeIndex=-1, basePosition=pos,
                                        baseOrientation=orn, physicsClientId=c)
        for n in self.proxy.pinned:
            p.createSoftBodyAnchor(self.body, int(n), self.anchor, -1, physicsClientId=c)
        n_sim = p.getMeshData(self.body, -1, flags=p.MESH_DATA_SIMULATION_MESH, physicsClientId=c)[0]
        if n_sim != len(self.proxy.nodes):
            raise PhysicsError(f"cloth {self.proxy.region!r}: PyBullet made {n_sim} nodes from {len(self.proxy.nodes)}")

    def drive(self, anchor_world: np.ndarray) -> None:
        """Move the anchor to the anchor joint's current world matrix [4, 4] (before a substep)."""
        p.resetBasePositionAndOrientation(self.anchor, anchor_world[:3, 3].tolist(),
                                          matrix_to_quat(anchor_world[:3, :3]).tolist(), physicsClientId=self.client)
        p.resetBaseVelocity(self.anchor, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)

    def nodes(self) -> np.ndarray:
        """[N, 3] f64 current proxy node positions (character space)."""
        _, pos = p.getMeshData(self.body, -1, flags=p.MESH_DATA_SIMULATION_MESH, physicsClientId=self.client)
        return np.asarray(pos, np.float64)

    def healthy(self, nodes: np.ndarray, anchor_world: np.ndarray) -> bool:
        """False on NaN/inf or nodes flung further than 3x the proxy's rest reach from the anchor."""
        if not np.isfinite(nodes).all():
            return False
        reach = np.linalg.norm(self.proxy.nodes - self.rest_anchor[:3, 3], axis=1).max()
        return bool(np.linalg.norm(nodes - anchor_world[:3, 3], axis=1).max() <= 3 * reach + 0.1)

    def reset(self, anchor_world: np.ndarray, count: bool = True) -> None:
        """Respawn the proxy in its rest shape carried rigidly by the anchor joint
        (``count``: a recovery, counted in ``resets``)."""
        c = self.client
        p.removeBody(self.body, physicsClientId=c)
        p.removeBody(self.anchor, physicsClientId=c)
        self._spawn(anchor_world)
        self.resets += int(count)

    def rest_nodes(self, anchor_world: np.ndarray) -> np.ndarray:
        m = anchor_world @ np.linalg.inv(self.rest_anchor)
        return self.proxy.nodes @ m[:3, :3].T + m[:3, 3]

    def close(self) -> None:
        """Nothing on disk to remove (see __init__); kept for the world's close()."""


def tethers(proxy: ClothProxy) -> tuple[np.ndarray, np.ndarray]:
    """Long-range attachments (Kim, Chentanez, Müller 2012): for each proxy node, the pinned
    node at the top of its column ([N] i64) and the rest length down the column to it
    ([N] f64, 0 for the pinned nodes), the farthest the node may hang from it.

    Why: the Verlet cloth's few Jacobi passes per substep cannot hold a chain of 8 rings
    against gravity, so the skirt stretched, and by how much depended on the substep
    rate: the hem hung 6 cm below its rest shape after 1.5 s of ``idle`` at 60 Hz
    substeps (the sample sheet's world), 2 cm at 120 Hz (the runtime's), so no sheet
    view saw the thighs the walking frames showed under the hem (docs/physics.md). A
    tether only pulls a node back in, never pushes: the skirt still swings, lifts and
    falls in between the legs."""
    segments = len(proxy.pinned)
    grid = proxy.nodes.reshape(-1, segments, 3)  # ring-major: node k * segments + i is ring k, column i
    step = np.linalg.norm(np.diff(grid, axis=0), axis=2)  # [rings - 1, segments]
    length = np.concatenate([np.zeros((1, segments)), np.cumsum(step, axis=0)]).ravel()
    top = np.tile(proxy.pinned, len(grid))
    return top.astype(np.int64), length


class VerletCloth:
    """The same proxy as a position-based (Verlet) mass-spring cloth in NumPy.

    Why it exists: PyBullet's deformable solver costs ~2 ms per 240 Hz substep
    for a 128-node proxy hanging free and ~5 ms against walking legs (see
    docs/physics.md), several times the frame budget on 2 CPU cores. This
    solver has the same anchoring, the same capsule colliders and the same
    reset path, at a fraction of the cost: per substep a Verlet integration,
    then ``iterations`` Jacobi passes over stretch and bending distance
    constraints, the capsules pushing nodes out twice, the tethers (``tethers``)
    once before the last push.
    """

    def __init__(self, proxy: ClothProxy, rest_anchor: np.ndarray, params: ClothParams = ClothParams(),
                 anchor_world: np.ndarray | None = None, iterations: int = 8, gravity: float = 9.81):
        self.proxy, self.params, self.iterations = proxy, params, int(iterations)
        self.rest_anchor = rest_anchor.astype(np.float64)
        self.gravity = np.array([0.0, -gravity, 0.0])
        tri = proxy.triangles
        edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), 1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        # bending pairs: the two vertices opposite each interior edge
        opp = np.concatenate([tri[:, 2], tri[:, 0], tri[:, 1]])
        order = np.argsort(inv.ravel(), kind="stable")
        inv_s, opp_s = inv.ravel()[order], opp[order]
        same = np.flatnonzero(inv_s[1:] == inv_s[:-1])
        bend = np.sort(np.stack([opp_s[same], opp_s[same + 1]], 1), 1)
        self.pairs = np.concatenate([uniq, bend]).astype(np.int64)  # [E, 2]
        self.stiff = np.concatenate([np.full(len(uniq), 1.0), np.full(len(bend), min(1.0, params.bending / 10.0))])
        # the Jacobi passes run on coordinate rows ([3, N] nodes, [3, E] constraints): NumPy's
        # loops on [E, 3] with an [E, 1] factor step 3 numbers at a time, ~2x the time (session 10)
        self._end_i, self._end_j = np.ascontiguousarray(self.pairs[:, 0]), np.ascontiguousarray(self.pairs[:, 1])
        n = len(proxy.nodes)
        self._slot_i = (self._end_i + n * np.arange(3)[:, None]).ravel()  # bincount slot (axis a, node i) = a N + i
        self._slot_j = (self._end_j + n * np.arange(3)[:, None]).ravel()
        self.rest_len = np.linalg.norm(proxy.nodes[self.pairs[:, 0]] - proxy.nodes[self.pairs[:, 1]], axis=1)
        self.free = np.ones(len(proxy.nodes))
        self.free[proxy.pinned] = 0.0
        # Jacobi averaging: divide each node's summed corrections by its constraint count
        count = np.bincount(self.pairs.ravel(), minlength=len(proxy.nodes)).astype(np.float64)
        self.scale = (1.0 / np.maximum(count, 1.0))[:, None]
        # per constraint, what each end takes of the correction: over-relaxed (1.5), weighted by the
        # ends' freedom, divided by the node's constraint count (constant: computed once, not per substep)
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        wi, wj = self.free[i], self.free[j]
        wsum = np.maximum(wi + wj, 1e-12)
        self._gain_i = 1.5 * self.stiff * wi / wsum * self.scale[i, 0]
        self._gain_j = 1.5 * self.stiff * wj / wsum * self.scale[j, 0]
        self._pinned_rest = proxy.nodes[proxy.pinned]
        self._movable = self.free[:, None] > 0
        self._tether, self._tether_len = tethers(proxy)
        self._inv_rest_anchor = np.linalg.inv(self.rest_anchor)
        self.drag = float(params.drag)
        self.set_colliders(np.zeros((0, 7)))  # [C, 7] a(3), b(3), radius in world space, set by the world
        self.resets = 0
        self.body = None
        self.reset(self.rest_anchor if anchor_world is None else np.asarray(anchor_world, np.float64), count=False)

    def set_colliders(self, capsules: np.ndarray) -> None:
        c = self.capsules = np.asarray(capsules, np.float64).reshape(-1, 7)
        # their bounding boxes, once per frame (the world sets the capsules once a frame; _near runs per substep)
        self._cap_lo = np.minimum(c[:, 0:3], c[:, 3:6]) - c[:, 6:7]
        self._cap_hi = np.maximum(c[:, 0:3], c[:, 3:6]) + c[:, 6:7]

    def drive(self, anchor_world: np.ndarray) -> None:
        self._anchor = np.asarray(anchor_world, np.float64)

    def step(self, dt: float) -> None:
        x, prev = self.x, self.prev
        m = self._anchor @ self._inv_rest_anchor  # rest -> now, as rest_nodes(), for the pinned nodes only
        pinned_goal = self._pinned_rest @ m[:3, :3].T + m[:3, 3]
        v = (x - prev) * math.exp(-self.drag * dt)
        self.prev = x  # not written below: x is rebound to a new array
        x = x + (v + self.gravity * dt * dt) * self.free[:, None]
        x[self.proxy.pinned] = pinned_goal
        i, j = self._end_i, self._end_j
        n = len(x)
        caps = self._near(x)
        gain_i, gain_j, slot_i, slot_j, rest = self._gain_i, self._gain_j, self._slot_i, self._slot_j, self.rest_len
        xt = np.ascontiguousarray(x.T)  # [3, N]: coordinate rows (see __init__)
        for it in range(self.iterations):
            d = xt.take(j, axis=1) - xt.take(i, axis=1)  # [3, E]; take: ~3x faster than fancy indexing
            d0, d1, d2 = d
            # (x^2 + z^2) + y^2: the order np.einsum("ed,ed->e") sums [E, 3] in (NumPy 2.4 here: the same bits)
            length = np.sqrt(d0 * d0 + d2 * d2 + d1 * d1)
            c = (length - rest) / np.maximum(length, 1e-9) * d
            # one bincount per end over flattened (axis, node) slots: ~10x faster than np.add.at
            delta = np.bincount(slot_i, (c * gain_i).ravel(), 3 * n) - np.bincount(slot_j, (c * gain_j).ravel(), 3 * n)
            xt = xt + delta.reshape(3, n)
            last = it == self.iterations - 1
            if last or it % 4 == 3:  # contacts twice per substep are enough
                x = np.ascontiguousarray(xt.T)
                if last:  # tethers once a substep (as good as twice: within 1 mm), then contacts
                    x = self._tethered(x)
                x = self._collide(x, caps)
                if not last:
                    xt = np.ascontiguousarray(x.T)
        self.x = x

    def _tethered(self, x: np.ndarray) -> np.ndarray:
        """Pull each node back to within its tether's length of its pinned node (``tethers``)."""
        d = x - x.take(self._tether, axis=0)
        length = np.sqrt(np.einsum("nd,nd->n", d, d))
        over = length > self._tether_len
        if not over.any():
            return x
        x = x.copy()
        x[over] -= ((1.0 - self._tether_len[over] / length[over]))[:, None] * d[over]
        return x

    def _near(self, x: np.ndarray):
        """The capsules whose bounding box comes near the cloth's (cheap broad phase), with
        what ``_collide`` needs of them precomputed (once per substep, not per contact pass):
        (a [C, 3], ab [C, 3], radius + margin [C], a.ab, |ab|^2, |a|^2, max(|ab|^2, 1e-12), (radius + margin)^2,
        2 a^T [3, C]), or None when none is near."""
        if not len(self.capsules):
            return None
        lo, hi = x.min(0) - 0.05, x.max(0) + 0.05
        c = self.capsules[((self._cap_lo <= hi) & (self._cap_hi >= lo)).all(1)]
        if not len(c):
            return None
        a, ab, r = c[:, 0:3], c[:, 3:6] - c[:, 0:3], c[:, 6] + self.params.margin
        # 2 a^T: doubling is exact, so x @ (2 a)^T has the bits of (2 x) @ a^T
        ab2 = (ab * ab).sum(1)
        return a, ab, r, (a * ab).sum(1), ab2, (a * a).sum(1), np.maximum(ab2, 1e-12), r * r, 2 * a.T

    def _collide(self, x: np.ndarray, caps) -> np.ndarray:
        """Push nodes out of the capsules (plus the collision margin); ``caps`` from ``_near``."""
        if caps is None:
            return x
        a, ab, r, a_ab, ab2, a2, ab2_floor, r2, a2t = caps
        xab = x @ ab.T - a_ab  # [N, C] (x - a).ab
        t = np.minimum(np.maximum(xab / ab2_floor, 0), 1)  # np.clip's bits without its Python wrapper
        # squared distance to each axis point without building [N, C, 3]:
        # |x - a - t ab|^2 = |x - a|^2 - 2 t (x - a).ab + t^2 |ab|^2
        xa2 = (x * x).sum(1)[:, None] - x @ a2t + a2
        dist2 = xa2 - 2 * t * xab + t * t * ab2
        hit = (dist2 < r2) & self._movable
        if not hit.any():  # the usual case: nothing inside
            return x
        n, c = np.nonzero(hit)
        d = x[n] - (a[c] + t[n, c, None] * ab[c])
        dist = np.sqrt((d * d).sum(1))
        push = ((r[c] - dist) / np.maximum(dist, 1e-9))[:, None] * d
        out = x.copy()
        np.add.at(out, n, push)
        return out

    def nodes(self) -> np.ndarray:
        return self.x.copy()

    healthy = ClothSim.healthy
    rest_nodes = ClothSim.rest_nodes

    def reset(self, anchor_world: np.ndarray, count: bool = True) -> None:
        self._anchor = np.asarray(anchor_world, np.float64)
        self.x = self.rest_nodes(self._anchor)
        self.prev = self.x.copy()
        self.resets += int(count)

    def close(self) -> None:
        pass
