"""Anti-aliased edges by supersampled coverage (``glsl/coverage_resolve.glsl``).

A pass with ``antialias=k`` (k > 1) draws at k x its output size and reduces
each k x k block: alpha = the fraction of covered samples (smooth silhouettes),
UDP landmarks from the covered sample nearest the pixel centre (never blended
with the background), toon colour as the mean of the covered samples. Use an
odd k: the centre sample then sits exactly on the pixel centre, so a fully
covered pixel keeps the value the pass writes without anti-aliasing.

The runtime keeps the network's UDP exactly as it was trained on (binary
occupancy, ``antialias=1``) and asks the UDP pass for the coverage beside it
(``UdpPass(coverage=k)``: the occupancy alone drawn at k x, one byte a sample,
reduced on the host at the silhouette only by :func:`resolve_coverage`);
:func:`soften_edges` then scales the shaded premultiplied RGBA by it at the
silhouette only.
"""
from __future__ import annotations

import moderngl
import numpy as np

from conrt.errors import ConfigError, InputError
from conrt.shaders.program import load_program

MAX_FACTOR = 5
MODES = {"udp": 0, "color": 1}


def check_factor(antialias) -> int:
    """The supersampling factor, 1 (off) .. MAX_FACTOR."""
    if isinstance(antialias, bool) or int(antialias) != antialias or not 1 <= int(antialias) <= MAX_FACTOR:
        raise ConfigError(f"antialias must be an integer in 1..{MAX_FACTOR} (samples per pixel side; "
                          f"1 = off, 3 recommended), got {antialias!r}")
    return int(antialias)


# the runtime's default (RuntimeSpec.antialias, --antialias on): 3 x 3 samples, 10 alpha levels
DEFAULT_FACTOR = 3
SWITCH_WORDS = {"off": 1, "on": DEFAULT_FACTOR}


def parse_switch(value, what: str = "--antialias") -> int:
    """An anti-aliasing switch -> the factor: ``off`` (1), ``on`` (DEFAULT_FACTOR)
    or an integer 1..MAX_FACTOR (given as text or int); ConfigError listing them."""
    text = str(value).strip().lower()
    if isinstance(value, str) and text in SWITCH_WORDS:
        return SWITCH_WORDS[text]
    if isinstance(value, str) and text.isdigit():
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= int(value) <= MAX_FACTOR:
        raise ConfigError(f"{what} must be one of off, on (= {DEFAULT_FACTOR}), "
                          f"{', '.join(str(k) for k in range(1, MAX_FACTOR + 1))} "
                          f"(samples per pixel side, 1 = off), got {value!r}")
    return int(value)


def _window(mask: np.ndarray, radius: int, combine, outside: bool) -> np.ndarray:
    """``combine`` (np.logical_and: minimum, np.logical_or: maximum) of ``mask``
    over the (2r+1)^2 window around each pixel, ``outside`` beyond the frame:
    separable, by shifted views with doubling windows (a few frame passes)."""
    out = np.pad(np.asarray(mask, bool), radius, constant_values=outside)
    n = 2 * radius + 1
    for axis in (0, 1):
        done = 1  # out holds the combination over windows of `done` along this axis
        while done < n:
            step = min(done, n - done)
            lead, lag = [slice(None)] * 2, [slice(None)] * 2
            lead[axis], lag[axis] = slice(None, -step), slice(step, None)
            out = combine(out[tuple(lead)], out[tuple(lag)])
            done += step
    return out


# a landmark jump between neighbouring covered pixels above this (box units) is an inner
# contour (an arm over the torso): sub-pixel gaps live there, and back faces that skinning
# pushes through the front
CONTOUR_JUMP = 0.03
# back faces are kept within this many pixels of an inner contour (against an 8x8 reference
# on the sample character and Godette, 6 poses at 128^2 and 256^2: 3, 2 and 1 px within 0.3 % of
# the summed edge error of 3 x 3 samples everywhere, 0 px up to 3.6 % above it)
CONTOUR_RADIUS = 1
# pixels within this many pixels of an inner contour are never solid: a sub-pixel gap crosses
# only pixels on a contour or next to one (its two sides' centres see different surfaces)
GAP_RADIUS = 1
# solid_distance is stored up to this many pixels: a triangle reaching further from its
# centroid's pixel is always drawn (the sample character's triangles reach 1-2 px at 256^2:
# a cap of 4 kept 0.5 % more of them than 8, 2 40 % more; Godette's larger ones need 8)
DISTANCE_CAP = 8


def inner_contours(udp: np.ndarray, jump: float = CONTOUR_JUMP) -> np.ndarray:
    """[H, W] bool: covered pixels whose landmark differs from a covered
    4-neighbour's by more than ``jump`` in some axis (``udp``: [H, W, 4])."""
    h, w = udp.shape[:2]
    occ = udp[..., 3] > 0
    big_x, big_y = np.zeros((h, w - 1), bool), np.zeros((h - 1, w), bool)  # the pair differs (across, down)
    dx, dy = np.empty((h, w - 1), np.float32), np.empty((h - 1, w), np.float32)
    tx, ty = np.empty((h, w - 1), bool), np.empty((h - 1, w), bool)
    for c in range(3):  # per channel plane: a max over the short last axis is ~10x slower in NumPy
        lm = np.ascontiguousarray(udp[..., c])
        np.subtract(lm[:, 1:], lm[:, :-1], out=dx)
        np.greater(np.abs(dx, out=dx), jump, out=tx)
        big_x |= tx
        np.subtract(lm[1:], lm[:-1], out=dy)
        np.greater(np.abs(dy, out=dy), jump, out=ty)
        big_y |= ty
    big_x &= occ[:, 1:]  # both pixels of the pair covered
    big_x &= occ[:, :-1]
    big_y &= occ[1:]
    big_y &= occ[:-1]
    out = np.zeros(occ.shape, bool)
    out[:, 1:] |= big_x
    out[:, :-1] |= big_x
    out[1:] |= big_y
    out[:-1] |= big_y
    return out


def drop_masks(udp: np.ndarray, jump: float = CONTOUR_JUMP, contour_radius: int = CONTOUR_RADIUS,
               gap_radius: int = GAP_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """(solid, far) [H, W] bool for the coverage draw (:func:`kept_triangles`) from the
    UDP just drawn. ``solid``: the occupancy is full in the pixel's 3 x 3 and no
    :func:`inner_contours` pixel is within ``gap_radius``: its coverage is 1 (the
    only loss: a hole narrower than a pixel away from any contour), so the draw
    may leave out triangles that touch solid pixels only (:func:`solid_distance`)
    and :func:`resolve_coverage` takes no sample there. ``far``: more than
    ``contour_radius`` px from an inner contour: back faces of closed surfaces
    may go there (where skinning folds a surface through itself, at a contour,
    one can stick out)."""
    occ = udp[..., 3] > 0
    contours = inner_contours(udp, jump)
    near = {r: contours if r == 0 else _window(contours, r, np.logical_or, False)
            for r in {int(contour_radius), int(gap_radius)}}  # one window when the radii agree
    solid = interior(occ, 1)
    solid &= ~near[int(gap_radius)]
    return solid, ~near[int(contour_radius)]


def solid_distance(solid: np.ndarray, cap: int = DISTANCE_CAP) -> np.ndarray:
    """[H, W] u8: the Chebyshev distance from each pixel to the nearest pixel that
    is not ``solid`` (outside the frame counts as not solid), at most ``cap``:
    0 on non-solid pixels; every pixel within d - 1 of a pixel at d is solid. The
    coverage draw drops a triangle whose pixel box reaches less than d from its
    centroid's pixel (:func:`kept_triangles`). ``cap`` erosions by 3 x 3, in
    place in one padded buffer (~0.3 ms at 256^2)."""
    h, w = np.shape(solid)
    dist = np.zeros((h, w), np.uint8)
    cur = np.zeros((h + 2, w + 2), bool)  # a border that is not solid
    inner = cur[1:-1, 1:-1]
    inner[...] = solid
    rows = np.empty((h + 2, w), bool)
    for _ in range(int(cap)):
        dist += inner.view(np.uint8)
        np.logical_and(cur[:, :-2], cur[:, 1:-1], out=rows)  # 3 wide ...
        rows &= cur[:, 2:]
        np.logical_and(rows[:-2], rows[1:-1], out=inner)  # ... and 3 high
        inner &= rows[2:]
    return dist


# A covered sample lies in the triangle's pixel box, at least 1 / (2k) px from a pixel's side: a
# margin far above the float error of the window coordinates (the host's against the GPU's)
# keeps the box's pixels exact.
BOX_MARGIN = np.float32(1.0 / 64.0)


def kept_triangles(x: np.ndarray, y: np.ndarray, front: np.ndarray, corners: np.ndarray, closed: np.ndarray,
                   distance: np.ndarray, far: np.ndarray, front_ccw: bool) -> np.ndarray:
    """[T] bool: the triangles the coverage draw must draw (UdpPass(coverage=k)); the
    others cover only samples whose pixel's coverage is known without them.
    ``x``, ``y``: [V] f32 window coordinates of the vertices in pixels of the pass
    (not the k x draw), rows in the draw's order; ``front``: [V] bool, the vertex
    lies in front of the camera (clip w > 0); ``corners``: [3, T] the triangles'
    vertex indices, a row a corner; ``closed``: [T] bool, all three corners' back
    faces may go (:func:`closed_surface_vertices`); ``distance``, ``far``: [H, W]
    :func:`solid_distance` and :func:`drop_masks`' far, in the draw's row order;
    ``front_ccw``: the pass's front face winds counter-clockwise in window
    coordinates. Dropped, as the rule at the pixel q of the centroid says:

    - a back face of a closed surface where ``far[q]`` (no inner contour near);
    - a triangle whose pixel box (grown by BOX_MARGIN) reaches less than
      ``distance[q]`` from q (Chebyshev): every pixel it can cover a sample of is
      solid. Safe whichever pixel q is (only how many go depends on it), so the
      host's window coordinates need not round as the GPU's do.

    Kept: triangles with a corner behind the camera and those whose centroid is
    off the frame. One gather per coordinate ([3, T]: reductions over the corners
    run along the long axis: ~0.6 ms for 27k triangles on one core)."""
    h, w = distance.shape
    cx, cy = x.take(corners), y.take(corners)  # [3, T]
    qx = np.floor(cx.sum(0) / np.float32(3))
    qy = np.floor(cy.sum(0) / np.float32(3))
    inside = (qx >= 0) & (qx < w) & (qy >= 0) & (qy < h)
    if not front.all():
        inside &= front.take(corners).all(0)
    q = np.where(inside, qy * w + qx, 0).astype(np.intp)
    # the pixels the triangle may cover samples of, and how far they reach from q (Chebyshev)
    reach = np.maximum(qx - np.floor(cx.min(0) - BOX_MARGIN), np.floor(cx.max(0) + BOX_MARGIN) - qx)
    np.maximum(reach, qy - np.floor(cy.min(0) - BOX_MARGIN), out=reach)
    np.maximum(reach, np.floor(cy.max(0) + BOX_MARGIN) - qy, out=reach)
    dropped = reach < distance.reshape(-1).take(q)
    area = (cx[1] - cx[0]) * (cy[2] - cy[0]) - (cy[1] - cy[0]) * (cx[2] - cx[0])  # > 0: counter-clockwise
    back = area < 0 if front_ccw else area > 0
    dropped |= back & closed & far.reshape(-1).take(q)
    dropped &= inside
    return ~dropped


def interior(occupancy: np.ndarray, radius: int = 1) -> np.ndarray:
    """[H, W] bool: the occupancy is full in the (2r+1)^2 window around the
    pixel (outside the frame counts as empty)."""
    return _window(occupancy, radius, np.logical_and, False)


def welded_ids(positions: np.ndarray, weld: float = 1e-5) -> np.ndarray:
    """[V] int64: one id per point, shared by the vertices within ``weld`` of it (rounded to a ``weld``
    grid): glTF splits a surface's vertices at uv and material seams, the welded ids join them again."""
    q = np.round(np.asarray(positions) / weld).astype(np.int64)
    q -= q.min(0)
    span = q.max(0) + 1
    if float(span[0]) * float(span[1]) * float(span[2]) < 2.0 ** 62:  # one int per point: a fast 1-D unique
        _, ids = np.unique((q[:, 0] * span[1] + q[:, 1]) * span[2] + q[:, 2], return_inverse=True)
    else:
        _, ids = np.unique(q, axis=0, return_inverse=True)
    return ids.ravel()


def closed_surface_vertices(character, weld: float = 1e-5) -> np.ndarray:
    """[V] bool: vertices whose triangles the coverage draw may leave out when
    they face away (:func:`kept_triangles`): a back face of a closed surface
    lies behind its front faces and adds no coverage. True where every edge
    around the vertex (positions welded, so uv seams are no holes) has exactly
    two triangles running it in opposite directions, those triangles are
    OPAQUE (a MASK/BLEND hole can show a back face) and their surface faces
    outwards (glTF's counter-clockwise front: the flux of x - centre through
    it is positive). Vertices on a rim, a non-manifold or flipped edge, or of
    an inside-out surface keep their back faces."""
    from scipy.sparse import coo_matrix  # lazy: scipy takes ~0.5 s to load; only coverage=k passes need it
    from scipy.sparse.csgraph import connected_components  # lazy: as above

    mesh = character.mesh
    tri = mesh.triangles.astype(np.int64)
    f = len(tri)
    ids = welded_ids(mesh.positions, weld)
    t = ids[tri]
    n = int(ids.max()) + 1
    edges = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])  # edge e of triangle e % f
    undirected = np.minimum(edges[:, 0], edges[:, 1]) * n + np.maximum(edges[:, 0], edges[:, 1])
    _, und_inv, und_count = np.unique(undirected, return_inverse=True, return_counts=True)
    _, dir_inv, dir_count = np.unique(edges[:, 0] * n + edges[:, 1], return_inverse=True, return_counts=True)
    bad = (und_count[und_inv] != 2) | (dir_count[dir_inv] != 1)
    # surfaces: the triangles joined by good edges (each good edge: two entries with one undirected id)
    good = np.flatnonzero(~bad)
    pairs = (good[np.argsort(und_inv[good], kind="stable")] % f).reshape(-1, 2)
    _, surface = connected_components(coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(f, f)),
                                      directed=False)
    p = mesh.positions.astype(np.float64)[tri]  # [F, 3, 3]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # x 2 area
    centre = np.zeros((surface.max() + 1, 3))
    np.add.at(centre, surface, p.mean(1))
    centre /= np.bincount(surface)[:, None]
    flux = np.zeros(len(centre))
    np.add.at(flux, surface, np.einsum("ij,ij->i", p.mean(1) - centre[surface], normal))
    opaque = np.ones(f, bool) if mesh.alpha_mode is None else np.asarray(mesh.alpha_mode)[tri].max(1) == 0
    keep_back = bad.reshape(3, f).any(0) | ~opaque | (flux[surface] <= 0)  # per triangle
    unsafe = np.zeros(len(mesh.positions), bool)
    unsafe[tri[keep_back].ravel()] = True
    bad_ids = np.zeros(n, bool)
    bad_ids[edges[bad].ravel()] = True
    unsafe |= bad_ids[ids]  # a welded twin on a rim counts too
    return ~unsafe


def resolve_coverage(samples: np.ndarray, occupancy: np.ndarray, factor: int,
                     solid: np.ndarray | None = None) -> np.ndarray:
    """[H, W] f32 coverage from the occupancy samples drawn at ``factor`` x
    (``samples``: [kH, kW], > 0 = covered, row 0 = top) and the UDP's
    ``occupancy`` ([H, W] bool): the covered fraction of each pixel's k x k
    samples (exactly the supersampled pass's alpha), except on ``solid``
    pixels (:func:`drop_masks`; the draw left out the triangles touching only
    those): there 1. None: no pixel is solid (every sample was drawn). Sums by
    adding strided views (~0.2 ms at 256^2; a GPU reduction pass cost ~3 ms on
    llvmpipe)."""
    occ = np.asarray(occupancy, bool)
    h, w = occ.shape
    k = int(factor)
    if np.shape(samples) != (k * h, k * w):
        raise InputError(f"coverage samples are {np.shape(samples)}, expected {(k * h, k * w)} ({k} x {h}x{w})")
    covered = (np.asarray(samples) > 0).view(np.uint8).reshape(h, k, w, k)
    rows = covered[:, 0].copy()  # [H, W, k]: covered samples per pixel and sample column
    for j in range(1, k):
        rows += covered[:, j]
    counts = rows[..., 0].copy()
    for i in range(1, k):
        counts += rows[..., i]
    cover = counts.astype(np.float32) / np.float32(k * k)  # = the GPU resolve's float(covered) / float(k * k)
    if solid is not None:
        cover[solid] = 1.0
    return cover


# the 8 neighbours of a pixel (soften_edges' fill colour)
_NEIGHBOUR_DY = np.array([-1, -1, -1, 0, 0, 1, 1, 1])
_NEIGHBOUR_DX = np.array([-1, 0, 1, -1, 1, -1, 0, 1])


def soften_edges(rgba: np.ndarray, occupancy: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Coverage-based alpha at the silhouette of a shaded frame, in place.

    ``rgba``: [H, W, 4] f32 premultiplied, already limited to ``occupancy``
    ([H, W], > 0 where the character covers the pixel centre: the UDP the
    network saw); ``coverage``: [H, W] covered fraction of the pixel
    (``UdpPass.read_coverage``). Pixels the UDP covers are scaled by their
    coverage (fully covered ones, the whole interior, are not touched); a pixel
    whose centre the body misses but whose area it covers in part takes the
    mean premultiplied colour of its covered 8-neighbours times its coverage
    (the network painted nothing there). Sub-pixel slivers with no covered
    neighbour stay empty. Works on the edge pixels' flat indices only (all 8
    neighbours in one gather: ~0.5 ms at 256^2)."""
    if not rgba.flags.c_contiguous:  # the flat view below needs one block; write the result back
        rgba[...] = soften_edges(np.ascontiguousarray(rgba), occupancy, coverage)
        return rgba
    h, w = np.shape(occupancy)
    flat = rgba.reshape(h * w, 4)  # a view: writes land in rgba
    occ = np.asarray(occupancy).reshape(-1)
    cover = np.asarray(coverage).reshape(-1)
    # the silhouette's pixels are where coverage and occupancy differ
    edge = np.flatnonzero(cover != occ)
    inner = occ[edge] > 0
    outer = edge[~inner & (cover[edge] > 0)]
    fill = None
    if len(outer):  # from the unscaled neighbours, before the inner edge is scaled
        y, x = np.divmod(outer, w)
        ny, nx = y[:, None] + _NEIGHBOUR_DY, x[:, None] + _NEIGHBOUR_DX  # [N, 8]
        ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        near = np.where(ok, ny * w + nx, 0)
        ok &= occ[near] > 0
        total = (flat[near] * ok[..., None]).sum(1)  # in neighbour order, as a loop over them adds
        count = ok.sum(1).astype(np.float32)
        # no covered neighbour (a sub-pixel sliver): count 0, total 0 -> stays empty
        fill = total / np.maximum(count, 1.0)[:, None] * cover[outer][:, None]
    inside = edge[inner]
    flat[inside] *= cover[inside][:, None]
    if fill is not None:
        flat[outer] = fill
    return rgba


class CoverageResolve:
    """``CoverageResolve(ctx, "udp" | "color", factor)``; ``run(samples, fbo)`` draws
    the reduced picture of the ``samples`` texture into ``fbo`` (the output size)."""

    def __init__(self, ctx: moderngl.Context, mode: str, factor: int):
        if mode not in MODES:
            raise ConfigError(f"unknown resolve mode {mode!r}; choose one of {', '.join(MODES)}")
        self.ctx = ctx
        self.factor = check_factor(factor)
        self.program = load_program(ctx, "coverage_resolve")
        self.program["u_mode"].value = MODES[mode]
        self.program["u_factor"].value = self.factor
        self._vao = ctx.vertex_array(self.program, [])

    def run(self, samples: moderngl.Texture, fbo: moderngl.Framebuffer, size: tuple[int, int]) -> None:
        fbo.use()
        fbo.viewport = (0, 0, *size)
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND)
        samples.use(0)
        self.program["u_samples"].value = 0
        self._vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        self._vao.release()
        self.program.release()
