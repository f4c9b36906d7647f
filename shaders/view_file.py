"""A sheet view's camera and pose on disk: ``view_NN_view.npz`` beside
``view_NN.png`` (and its ``view_NN_udp.npz``).

A sheet drawn from the rig (``conrt sheet``) or registered to it
(``conrt fit-sheet``) knows, per view, the camera it was seen through and the
pose the character stood in. With both, every mesh vertex projects to its
exact pixel in the view, which is what the exact-correspondence path uses.

File keys (all float32 unless noted):
- ``view``, ``proj``: [4, 4] camera matrices (``conrt.types.Camera``)
- ``size``: int32 [2] = (width, height) in pixels of the view image
- ``joint_world``: [J, 4, 4] the pose (``conrt.types.Pose``)
- ``sim_indices`` (int32 [K]) and ``sim_positions`` ([K, 3]): optional
- ``format``: the string ``FORMAT`` (a version check on load)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from conrt.errors import InputError
from conrt.types import Camera, Pose

FORMAT = "conrt-sheet-view/1"
SUFFIX = "_view.npz"


def view_file_for(image_path) -> Path:
    """``.../view_00.png`` -> ``.../view_00_view.npz``."""
    p = Path(image_path)
    return p.with_name(p.stem + SUFFIX)


def save_view_file(path, camera: Camera, pose: Pose) -> Path:
    """Write a view's camera and pose (``path`` ends in ``_view.npz``)."""
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise InputError(f"a sheet view file must end in {SUFFIX!r}, got {path.name}")
    arrays = {
        "format": np.array(FORMAT),
        "view": np.asarray(camera.view, np.float32),
        "proj": np.asarray(camera.proj, np.float32),
        "size": np.array([camera.width, camera.height], np.int32),
        "joint_world": np.asarray(pose.joint_world, np.float32),
    }
    if pose.sim_indices is not None:
        arrays["sim_indices"] = np.asarray(pose.sim_indices, np.int32)
        arrays["sim_positions"] = np.asarray(pose.sim_positions, np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_view_file(path, num_joints: int | None = None) -> tuple[Camera, Pose]:
    """Read a view file -> (camera, pose); a named ``InputError`` for anything
    malformed (missing keys, wrong shapes, NaN/inf, singular camera, a pose
    with another joint count than ``num_joints``)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot read the sheet view file ({exc})") from exc
    missing = [k for k in ("format", "view", "proj", "size", "joint_world") if k not in data]
    if missing:
        raise InputError(f"{path}: missing keys {missing} (a {FORMAT} file has format, view, proj, size, joint_world)")
    if str(data["format"]) != FORMAT:
        raise InputError(f"{path}: format {str(data['format'])!r}, expected {FORMAT!r}")
    view, proj = (np.asarray(data[k], np.float32) for k in ("view", "proj"))
    for name, m in (("view", view), ("proj", proj)):
        if m.shape != (4, 4):
            raise InputError(f"{path}: {name} matrix has shape {m.shape}, expected (4, 4)")
        if not np.isfinite(m).all():
            raise InputError(f"{path}: {name} matrix contains NaN/inf")
        if abs(np.linalg.det(m.astype(np.float64))) < 1e-12:
            raise InputError(f"{path}: {name} matrix is singular")
    size = np.asarray(data["size"]).reshape(-1)
    if size.shape != (2,) or (size < 1).any():
        raise InputError(f"{path}: size must be (width, height) >= 1, got {size.tolist()}")
    joint_world = np.asarray(data["joint_world"], np.float32)
    if joint_world.ndim != 3 or joint_world.shape[1:] != (4, 4):
        raise InputError(f"{path}: joint_world has shape {joint_world.shape}, expected (J, 4, 4)")
    if num_joints is not None and joint_world.shape[0] != num_joints:
        raise InputError(f"{path}: the pose has {joint_world.shape[0]} joints, the character {num_joints} "
                         "(a view file of another character?)")
    sim_i = data.get("sim_indices")
    sim_p = data.get("sim_positions")
    pose = Pose(joint_world=joint_world,
                sim_indices=None if sim_i is None else np.asarray(sim_i, np.int32),
                sim_positions=None if sim_p is None else np.asarray(sim_p, np.float32))
    if num_joints is not None:
        pose.validate(num_joints)
    elif not np.isfinite(joint_world).all():
        raise InputError(f"{path}: the pose has NaN/inf joint matrices")
    camera = Camera(view=view, proj=proj, width=int(size[0]), height=int(size[1]))
    return camera, pose
