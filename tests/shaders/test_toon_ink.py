"""The toon pass's ink follows real contours, not sub-pixel detail (issue #15):
the sample character's sheet views, drawn as the sheet draws them (its view
files: camera and pose), with the ink rule of before (``resolved_only=False``:
every pixel pair tested) and of now, in the same run.

Before, the bangs' locks lying on the scalp (a pixel wide at 256²) stippled
the crown with dots: the crease test fired between lock facets and the cap
(normals ~80° apart, depths within ~0.5% of the height)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from conrt.characters.gltf_io import load_character
from conrt.samples import SAMPLE_CHARACTER, SAMPLE_SHEET_DIR
from conrt.shaders.toon_pass import ToonPass, ToonStyle
from conrt.shaders.view_file import load_view_file
from conrt.types import Part

EIGHT = np.ones((3, 3), bool)


@pytest.fixture(scope="module")
def sheet_renders(gl_ctx):
    """Per sheet view: (G-buffer, ink mask before, ink mask now, the
    character's height). Ink = pixels that differ from the same pass without
    lines (line_width=0)."""
    character = load_character(SAMPLE_CHARACTER)
    views = sorted(SAMPLE_SHEET_DIR.glob("view*_view.npz"))
    assert len(views) == 6
    out = []
    for path in views:
        camera, pose = load_view_file(path, character.skeleton.num_joints)
        size = (camera.width, camera.height)
        frames = {}
        for name, style in (("none", ToonStyle(line_width=0)), ("before", ToonStyle(resolved_only=False)),
                            ("now", ToonStyle())):
            with ToonPass(gl_ctx, *size, style) as toon:
                toon.set_character(character)
                frames[name] = toon.run(pose, camera)
                gbuf = toon.read_gbuffer()
        np.testing.assert_array_equal(frames["now"][..., 3], frames["before"][..., 3])  # ink never moves coverage
        out.append((gbuf, *((frames[k] != frames["none"]).any(-1) for k in ("before", "now")), character.height))
    return out


def _hair_inside(gbuf):
    """Hair pixels at least 2 px inside the silhouette (its own line is not in question here)."""
    covered = gbuf[..., 0] > 0
    return (gbuf[..., 1] == Part.HAIR) & ndimage.binary_erosion(covered, np.ones((5, 5), bool))


def _noise(ink, region):
    """(ink components under 4 px, ink pixels with at most one inked neighbour) inside region."""
    labels, count = ndimage.label(ink & region, EIGHT)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, np.arange(1, count + 1))
    neighbours = ndimage.convolve(ink.astype(np.int32), EIGHT.astype(np.int32), mode="constant") - ink
    return int((sizes < 4).sum()), int((ink & region & (neighbours <= 1)).sum())


def test_no_ink_dots_on_the_hair(sheet_renders):
    """Dots and dashes of ink inside the hair, summed over the six views: the
    rule of before drew 74 components under 4 px and 116 lone pixels at 256²,
    now 22 and 21 (Mesa llvmpipe, AVX2); with the sheet settled at the
    runtime's 120 Hz (the hair hangs a little differently) 61 / 131 -> 26 / 51.
    The counts move with the pose; the rule cuts each kind by more than half."""
    before = np.zeros(2, int)
    now = np.zeros(2, int)
    for gbuf, ink_before, ink_now, _ in sheet_renders:
        hair = _hair_inside(gbuf)
        before += _noise(ink_before, hair)
        now += _noise(ink_now, hair)
    assert before[0] >= 50 and before[1] >= 80, before  # the sheet's crown does show the noise without the rule
    assert now[0] <= 0.45 * before[0], (now, before)
    assert now[1] <= 0.45 * before[1], (now, before)


def test_real_contours_keep_their_ink(sheet_renders):
    """The silhouette and the part boundaries (face contour and fringe: skin
    beside hair; sleeves and collar: skin beside cloth) are inked, and outside
    the hair every line of before is still there: each pixel inked before is
    inked now or beside one that is (a grazing sleeve over the torso had a
    crease line beside its depth line; one of the two is left)."""
    for gbuf, ink_before, ink_now, height in sheet_renders:
        covered = gbuf[..., 0] > 0
        part = gbuf[..., 1]
        silhouette = covered & ndimage.binary_dilation(~covered)
        assert ink_now[silhouette].all()
        for upper in (Part.HAIR, Part.CLOTH):
            beside = covered & (part == Part.SKIN) & ndimage.binary_dilation(part == upper)
            if beside.sum() >= 20:
                # >= 0.95: skin beside a lock's tip a pixel wide is not resolved either (the
                # sheet settled at 120 Hz: 2 of one view's 56 skin pixels beside hair; the rule of before inked all 56)
                assert ink_now[beside].mean() >= 0.95, (upper, ink_now[beside].mean(), ink_before[beside].mean())
        # occlusion contours (tails over the head, an arm over the torso): the far side of a depth jump
        depth = gbuf[..., 0]
        far = np.zeros_like(covered)
        for axis, step in ((0, 1), (0, -1), (1, 1), (1, -1)):
            near = np.roll(depth, step, axis)
            far |= covered & (near > 0) & (depth - near > ToonStyle().depth_step * height)
        far[[0, -1], :] = far[:, [0, -1]] = False  # np.roll wraps around the border
        assert far.sum() >= 20 and ink_now[far].all()
        outside = covered & (part != Part.HAIR)
        lost = ink_before & outside & ~ndimage.binary_dilation(ink_now, EIGHT)
        assert not lost.any(), np.argwhere(lost)[:10]


def _crumpled(meshes, cells: int = 64, seed: int = 0):
    """A 1 x 1 quad crumpled like foil: a height field with random heights
    (up to 1.5 cells) on a cells x cells grid, each triangle flat-shaded, so
    neighbouring facets meet at hard edges in every direction (what hair
    locks a pixel wide do to the crease test)."""
    from conrt.types import CanonicalBox, Character

    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, cells + 1)
    z = rng.uniform(0, 1.5 / cells, (cells + 1, cells + 1))
    grid = np.stack([np.broadcast_to(t[None, :] - 0.5, z.shape), np.broadcast_to(t[:, None], z.shape), z], -1)
    corners = np.stack([grid[:-1, :-1], grid[:-1, 1:], grid[1:, 1:], grid[1:, :-1]], 2).reshape(-1, 4, 3)
    tri = np.concatenate([corners[:, [0, 1, 2]], corners[:, [0, 2, 3]]])  # [T, 3, 3], counter-clockwise seen from +z
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    mesh = meshes._mesh(tri.reshape(-1, 3), np.arange(3 * len(tri)).reshape(-1, 3),
                        normals=np.repeat(normals, 3, axis=0))
    box = CanonicalBox(origin=np.array([-0.5, 0, -0.5], np.float32), size=np.ones(3, np.float32))
    return Character(name="crumpled", skeleton=meshes._skeleton(["root"], [-1], [np.eye(4)]), mesh=mesh, box=box)


@pytest.mark.parametrize("size, facet_px", [(32, 0.4), (640, 8.0)])
def test_hard_edges_ink_only_where_the_frame_resolves_them(gl_ctx, meshes, size, facet_px):
    """The same crumpled quad: at 32² its 64 x 64 cells are under half a pixel
    wide (the rule of before inked much of it, noise; now: next to nothing
    inside), at 640² 8 px wide (the folds inked as before)."""
    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.shaders.camera import frame_character

    quad = _crumpled(meshes)
    pose = rest_pose(quad)
    camera = frame_character(posed_positions(quad, pose), size=size, margin=0.1)
    inks = {}
    for name, style in (("none", ToonStyle(line_width=0)), ("before", ToonStyle(resolved_only=False)),
                        ("now", ToonStyle())):
        with ToonPass(gl_ctx, size, size, style) as toon:
            toon.set_character(quad)
            inks[name] = toon.run(pose, camera)
    inside = ndimage.binary_erosion(inks["none"][..., 3] > 0, np.ones((9, 9), bool))
    assert inside.sum() > 0.3 * size * size
    ink_before, ink_now = ((inks[k] != inks["none"]).any(-1) & inside for k in ("before", "now"))
    before, now = ink_before[inside].mean(), ink_now[inside].mean()
    if facet_px < 1:
        assert before > 0.3 and now < 0.01, (before, now)
    else:
        # the folds keep their lines; what goes is ink where six facets meet within the line's width
        near = ndimage.binary_dilation(ink_now, np.ones((5, 5), bool))
        assert now > 0.6 * before and near[ink_before].mean() > 0.95, (before, now, near[ink_before].mean())
