"""A simulated skirt keeps the pelvis covered (``physics.rig.pelvis_capsule``).

With only the leg capsules to hold it, the skirt's front and back fell in between
the legs, and the pelvis came through: the sample sheet (``idle`` after 1.5 s)
showed it, and target frames then saw skirt no sheet view showed. Measured with
this test's rule (a pelvis vertex is out when it is farther from the waistband's
axis than the skirt vertex nearest it in angle and height) on procedural seeds
0, 3 and 5: 15-23 % of the pelvis between the skirt's second ring and its hem
out by up to 3.3 cm before, none now (all at least 5 mm inside).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from conrt.characters.posing import posed_positions
from conrt.physics import PhysicsWorld


def _pelvis_out(character, clip: str, frames: int) -> np.ndarray:
    """Per frame, the largest distance (m) a pelvis vertex (owned by the hips, not simulated)
    lies outside the skirt, measured from the waistband's axis; negative: all inside."""
    mesh = character.mesh
    owner = mesh.joints[np.arange(mesh.num_vertices), mesh.weights.argmax(1)]
    simulated = np.zeros(mesh.num_vertices, bool)
    for r in character.regions:
        simulated[r.vertices] = True
    skirt = next(r for r in character.regions if r.kind == "cloth")
    pelvis = (owner == character.humanoid["hips"]) & ~simulated
    out = []
    with PhysicsWorld(fps=30) as world:
        h = world.add(character, clip)
        cloth = world.actors[h].cloths[0]
        segments = len(cloth.proxy.pinned)
        for _ in range(frames):
            pose = world.step()[h]
            grid = cloth.nodes().reshape(-1, segments, 3)
            centre = grid[0].mean(0)
            posed = posed_positions(character, pose).astype(np.float64)
            body, cloth_vertices = posed[pelvis], posed[skirt.vertices]
            # between the second ring and the hem: the waistband ring is pinned over the hips' own surface
            body = body[(body[:, 1] < grid[1, :, 1].mean()) & (body[:, 1] > grid[-1, :, 1].mean())]

            def cyl(p):  # (arc length at 15 cm, height): angles and heights on one scale
                return np.c_[np.arctan2(p[:, 0] - centre[0], p[:, 2] - centre[2]) * 0.15, p[:, 1]]

            _, k = cKDTree(cyl(cloth_vertices)).query(cyl(body))
            radius = np.hypot(body[:, 0] - centre[0], body[:, 2] - centre[2])
            skirt_radius = np.hypot(cloth_vertices[k, 0] - centre[0], cloth_vertices[k, 2] - centre[2])
            out.append(float((radius - skirt_radius).max()))
    return np.array(out)


def test_the_settled_skirt_covers_the_pelvis(girl):
    """The sheet's pose (``idle`` after 1.5 s): every pelvis vertex inside the skirt
    (now 8 mm inside at least; before: out by 2.5 cm on this character)."""
    out = _pelvis_out(girl, "idle", 45)
    assert out[-1] < 0.0, out[-1]


def test_the_skirt_covers_the_pelvis_while_walking(girl):
    """A guard, not the fix's test (walking, the swinging skirt stood off the pelvis before
    too: 4.8 mm out at most): after the first 0.2 s (the clip starts from the rest shape at
    full speed: 1.5 cm out at frame 2) the pelvis stays inside within the cloth's
    collision margin (8 mm) on every frame of 2 s; measured 0.0 mm at most."""
    out = _pelvis_out(girl, "walk", 60)
    assert out[6:].max() < 0.008, out[6:].max()
