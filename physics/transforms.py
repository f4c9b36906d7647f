"""Small rotation helpers (NumPy, batched over leading axes).

Quaternions are ``[..., 4]`` in PyBullet's (x, y, z, w) order. Matrices are
``[..., 3, 3]`` acting on column vectors.
"""
from __future__ import annotations

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
    shape = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    q = np.empty((m.shape[0], 4))
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    # Shepperd: pick the largest of w, x, y, z to divide by (stable everywhere)
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], 1)
    best = cand.argmax(1)
    for n in range(m.shape[0]):
        r = m[n]
        b = best[n]
        if b == 0:
            s = np.sqrt(max(tr[n] + 1.0, 1e-12)) * 2
            q[n] = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
        elif b == 1:
            s = np.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 1e-12)) * 2
            q[n] = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
        elif b == 2:
            s = np.sqrt(max(1.0 + r[1, 1] - r[0, 0] - r[2, 2], 1e-12)) * 2
            q[n] = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
        else:
            s = np.sqrt(max(1.0 + r[2, 2] - r[0, 0] - r[1, 1], 1e-12)) * 2
            q[n] = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 3] < 0] *= -1
    return q.reshape(shape + (4,))


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """[..., 4] quaternion (x, y, z, w) -> [..., 3, 3]."""
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def slerp(q0: np.ndarray, q1: np.ndarray, t) -> np.ndarray:
    """Shortest-path spherical interpolation of [..., 4] quaternions, t in [0, 1] (scalar or [...])."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
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
