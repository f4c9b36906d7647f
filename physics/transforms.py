"""Small rotation helpers (NumPy, batched over leading axes).

Quaternions are ``[..., 4]`` in PyBullet's (x, y, z, w) order. Matrices are
``[..., 3, 3]`` acting on column vectors.
"""
from __future__ import annotations

import math

import numpy as np


def axis_angle(axis, angle) -> np.ndarray:
    """[..., 3, 3] f64 rotation(s) by ``angle`` radians (scalar or [...]) about a fixed ``axis``."""
    a = np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a)
    angle = np.asarray(angle, np.float64)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def euler(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """[..., N] degrees for axes ``order`` (e.g. "ZYX", intrinsic, left to
    right as BVH lists its channels) -> [..., 3, 3] = R_order[0] @ R_order[1] @ ..."""
    angles = np.radians(np.asarray(angles_deg, np.float64))
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for i, ax in enumerate(order.upper()):
        out = out @ axis_angle({"X": (1, 0, 0), "Y": (0, 1, 0), "Z": (0, 0, 1)}[ax], angles[..., i])
    return out


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """Inverse of :func:`euler` for the 6 Tait-Bryan orders: [..., 3, 3] -> [..., 3] degrees."""
    order = order.upper()
    idx = {"X": 0, "Y": 1, "Z": 2}
    i, j, k = (idx[c] for c in order)
    # sign of the permutation (i, j, k): +1 for XYZ/YZX/ZXY, -1 otherwise
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    m = np.asarray(m, np.float64)
    b = np.arcsin(np.clip(sign * m[..., i, k], -1.0, 1.0))
    a = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    c = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    return np.degrees(np.stack([a, b, c], -1))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """[..., 3, 3] rotation -> [..., 4] unit quaternion (x, y, z, w), w >= 0."""
    m = np.asarray(m, np.float64)
    if m.shape == (3, 3):  # per-substep calls: plain floats beat NumPy's per-call overhead
        return _quat_one(m.tolist())
    shape = m.shape[:-2]
    r = m.reshape(-1, 3, 3)
    m00, m11, m22 = r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]
    # Shepperd: divide by the largest of 4w^2, 4x^2, 4y^2, 4z^2 (stable everywhere)
    cand = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], 1)
    best = cand.argmax(1)
    s = 2 * np.sqrt(np.maximum(cand[np.arange(len(r)), best], 1e-12))
    d21, d02, d10 = r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]
    s01, s02, s12 = r[:, 0, 1] + r[:, 1, 0], r[:, 0, 2] + r[:, 2, 0], r[:, 1, 2] + r[:, 2, 1]
    q = np.select(
        [best[:, None] == 0, best[:, None] == 1, best[:, None] == 2],
        [np.stack([d21 / s, d02 / s, d10 / s, 0.25 * s], 1),
         np.stack([0.25 * s, s01 / s, s02 / s, d21 / s], 1),
         np.stack([s01 / s, 0.25 * s, s12 / s, d02 / s], 1)],
        np.stack([s02 / s, s12 / s, 0.25 * s, d10 / s], 1),
    )
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(q[:, 3:] < 0, -q, q)
    return q.reshape(shape + (4,))


def _quat_one(r) -> np.ndarray:
    return np.array(rows_to_quat(r))


def rows_to_quat(r) -> tuple:
    """One 3x3 rotation as nested Python float rows -> (x, y, z, w), w >= 0: :func:`matrix_to_quat`
    on plain floats (for per-substep callers that hold plain floats already)."""
    (a, b, c), (d, e, f), (g, h, i) = r
    cand = (1 + a + e + i, 1 + a - e - i, 1 - a + e - i, 1 - a - e + i)
    k = 0  # the first largest, as max(range(4), key=cand.__getitem__) without its per-item calls
    for n in (1, 2, 3):
        if cand[n] > cand[k]:
            k = n
    s = 2 * math.sqrt(max(cand[k], 1e-12))
    if k == 0:
        q = ((h - f) / s, (c - g) / s, (d - b) / s, 0.25 * s)
    elif k == 1:
        q = (0.25 * s, (b + d) / s, (c + g) / s, (h - f) / s)
    elif k == 2:
        q = ((b + d) / s, 0.25 * s, (f + h) / s, (c - g) / s)
    else:
        q = ((c + g) / s, (f + h) / s, 0.25 * s, (d - b) / s)
    x, y, z, w = q
    n = math.sqrt(x * x + y * y + z * z + w * w) * (1 if w >= 0 else -1)  # left to right: sum()'s order
    return (x / n, y / n, z / n, w / n)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """[..., 4] quaternion (x, y, z, w) -> [..., 3, 3]."""
    q = np.asarray(q, np.float64)
    if q.shape == (4,):
        return np.array(quat_to_rows(q.tolist()))
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    pq = 2.0 * q[..., :, None] * q[..., None, :]  # [..., 4, 4] all products 2 q_i q_j at once
    out = np.empty(q.shape[:-1] + (3, 3))
    out[..., 0, 0] = 1 - pq[..., 1, 1] - pq[..., 2, 2]
    out[..., 1, 1] = 1 - pq[..., 0, 0] - pq[..., 2, 2]
    out[..., 2, 2] = 1 - pq[..., 0, 0] - pq[..., 1, 1]
    out[..., 0, 1] = pq[..., 0, 1] - pq[..., 2, 3]
    out[..., 1, 0] = pq[..., 0, 1] + pq[..., 2, 3]
    out[..., 0, 2] = pq[..., 0, 2] + pq[..., 1, 3]
    out[..., 2, 0] = pq[..., 0, 2] - pq[..., 1, 3]
    out[..., 1, 2] = pq[..., 1, 2] - pq[..., 0, 3]
    out[..., 2, 1] = pq[..., 1, 2] + pq[..., 0, 3]
    return out


def quat_to_rows(q) -> tuple:
    """One quaternion (x, y, z, w) as Python floats -> its 3x3 rotation as nested float rows
    (:func:`quat_to_matrix` on plain floats)."""
    x, y, z, w = q
    n = math.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / n, y / n, z / n, w / n
    return ((1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)),
            (2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)),
            (2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)))


def slerp(q0: np.ndarray, q1: np.ndarray, t) -> np.ndarray:
    """Shortest-path spherical interpolation of [..., 4] quaternions, t in [0, 1] (scalar or [...])."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
    if q0.shape == q1.shape == (4,) and not np.ndim(t):  # per-substep calls: plain floats, as matrix_to_quat
        return _slerp_one(q0.tolist(), q1.tolist(), float(t))
    t = np.asarray(t, np.float64)[..., None] if np.ndim(t) else float(t)
    d = (q0 * q1).sum(-1, keepdims=True)
    q1 = np.where(d < 0, -q1, q1)
    d = np.abs(d)
    theta = np.arccos(np.clip(d, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    w0 = np.where(small, 1 - t, np.sin((1 - t) * theta) / safe)
    w1 = np.where(small, t, np.sin(t * theta) / safe)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def _slerp_one(q0: list, q1: list, t: float) -> np.ndarray:
    """:func:`slerp` of one pair, the same steps on Python floats (~10x less time than NumPy's
    per-call overhead on 4 numbers; equal to float rounding)."""
    return np.array(slerp_floats(q0, q1, t))


def slerp_floats(q0, q1, t: float) -> list:
    """:func:`_slerp_one` on Python floats in and out (for per-substep callers that
    hold plain floats: the world's anchor paths)."""
    d = q0[0] * q1[0] + q0[1] * q1[1] + q0[2] * q1[2] + q0[3] * q1[3]
    if d < 0:
        q1, d = [-x for x in q1], -d
    theta = math.acos(min(max(d, -1.0), 1.0))
    sin = math.sin(theta)
    if sin < 1e-6:
        w0, w1 = 1 - t, t
    else:
        w0, w1 = math.sin((1 - t) * theta) / sin, math.sin(t * theta) / sin
    out = [w0 * a + w1 * b for a, b in zip(q0, q1)]
    n = math.sqrt(sum(x * x for x in out))
    return [x / n for x in out]


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[3, 3] minimal rotation taking direction ``a`` onto direction ``b``."""
    a = np.asarray(a, np.float64) / max(np.linalg.norm(a), 1e-12)
    b = np.asarray(b, np.float64) / max(np.linalg.norm(b), 1e-12)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1 + 1e-9:  # opposite: rotate pi about any axis perpendicular to a
        perp = np.cross(a, (1, 0, 0) if abs(a[0]) < 0.9 else (0, 1, 0))
        return axis_angle(perp, np.pi)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + (k @ k) / (1 + c)


def rotations_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[..., 3] directions -> [..., 3, 3] minimal rotations taking ``a`` onto ``b`` (batched
    :func:`rotation_between`; zero-length inputs give the identity)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    v = np.cross(a, b)
    c = np.sum(a * b, -1)
    z = np.zeros_like(c)
    k = np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1), np.stack([v[..., 2], z, -v[..., 0]], -1),
                  np.stack([-v[..., 1], v[..., 0], z], -1)], -2)
    out = np.eye(3) + k + (k @ k) / np.maximum(1 + c, 1e-12)[..., None, None]
    opposite = c < -1 + 1e-9
    if opposite.any():
        out[opposite] = [rotation_between(x, y) for x, y in zip(a[opposite], b[opposite])]
    zero = (np.linalg.norm(a, axis=-1) < 0.5) | (np.linalg.norm(b, axis=-1) < 0.5)
    out[zero] = np.eye(3)
    return out


def best_rotations(u: np.ndarray, v: np.ndarray, weights=None) -> np.ndarray:
    """Kabsch: [N, 3] directions ``u`` and [..., N, 3] ``v`` -> [..., 3, 3] rotations R
    minimising sum_i w_i |R u_i - v_i|^2 (proper rotations, det +1)."""
    w = np.ones(len(u)) if weights is None else np.asarray(weights, np.float64)
    h = np.einsum("n,ni,...nj->...ij", w, np.asarray(u, np.float64), np.asarray(v, np.float64))  # sum w u v^T
    uu, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(uu, -1, -2)))
    fix = np.broadcast_to(np.eye(3), d.shape + (3, 3)).copy()
    fix[..., 2, 2] = d
    return np.swapaxes(vt, -1, -2) @ fix @ np.swapaxes(uu, -1, -2)


def rotation_part(m: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> the nearest rotation (polar decomposition): drops a joint's
    scale, e.g. RobotExpressive's 100 on every joint (a unit conversion). Where a
    matrix is used as a rotation (transposed as its inverse, turned into a
    quaternion) it must be this part, or the scale compounds down the tree."""
    m = np.asarray(m, np.float64)
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    flip = np.linalg.det(r) < 0  # mirrored joints: keep a proper rotation
    if np.any(flip):
        u = u.copy()
        u[..., :, 2] = np.where(flip[..., None], -u[..., :, 2], u[..., :, 2])
        r = u @ vt
    return r
