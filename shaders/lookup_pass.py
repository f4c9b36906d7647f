"""conr-rt's per-frame lookup on the GPU rasterizer (``glsl/lookup.glsl``).

``LookupNet.sample_views`` (runtime/nn/lookup_net.py) is not learned: a trilinear
lookup of every target pixel's UDP xyz in a per-view grid³ table of sheet
positions, then a bilinear ``grid_sample`` of the view's reference image
there. Those are exactly what texture units do, so this pass does it with
one full-screen draw:

- ``set_sheet(table, reference)`` (once per character) uploads the table as
  one RGBA32F grid³ 3D texture per view holding (u·c, v·c, c, 0), LINEAR and
  CLAMP_TO_EDGE (= ``look_up``'s clamped trilinear blend of coverage-weighted
  rows), and the reference as an RGBA32F 2D texture array, LINEAR with a zero
  border (= ``grid_sample``'s zero padding);
- ``run(udp)`` uploads the UDP frame (or takes a UDP texture already on the
  GPU), draws once per view, and reads back ``sampled [M, 4, H, W]`` and
  ``cover [M, 1, H, W]`` float32.

The render target is five R32F attachments (sampled r, g, b, a and cover) of
W × (M·H) texels, views stacked by rows, so each attachment's read-back is
already the network's planar layout.
"""
from __future__ import annotations

import logging

import moderngl
import numpy as np

from conrt.errors import ConfigError, InputError
from conrt.shaders.context import current
from conrt.shaders.program import load_program

log = logging.getLogger(__name__)

MAX_VIEWS = 8  # a documented limit of the pass (the runtime's sheets have 1-8 views)
FILTERS = ("hardware", "exact")
OUTPUTS = 5  # attachments: sampled r, g, b, a, cover


def _as_numpy(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected a float array, got {type(x).__name__}") from exc


def _corner_samples(texels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per view: (sampled RGBA, coverage) of a pixel whose lookup lands on voxel
    (0,0,0) alone (every background pixel), computed as the shader would.

    texels [M, g, g, g, 4] (u·c, v·c, c, 0); reference [M, H, W, 4] -> [M, 5] float32.
    """
    out = np.zeros((texels.shape[0], 5), np.float32)
    h, w = reference.shape[1:3]
    for v in range(texels.shape[0]):
        uc, vc, c = texels[v, 0, 0, 0, :3]
        cover = np.float32(max(c, np.float32(1e-6)))
        u, vv = uc / cover, vc / cover
        # grid_sample, bilinear, align_corners=True, zero padding
        x, y = (np.float64(u) + 1) * 0.5 * (w - 1), (np.float64(vv) + 1) * 0.5 * (h - 1)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        acc = np.zeros(4)
        for yy, wy in ((y0, 1 - fy), (y0 + 1, fy)):
            for xx, wx in ((x0, 1 - fx), (x0 + 1, fx)):
                if 0 <= yy < h and 0 <= xx < w:
                    acc += wy * wx * reference[v, yy, xx]
        out[v, :4] = acc
        out[v, 4] = c
    return out


def _box(occupancy: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the pixels with occupancy != 0 (row 0 = top); (0, 0, 0, 0) if none."""
    rows = np.flatnonzero(occupancy.any(axis=1))
    if rows.size == 0:
        return 0, 0, 0, 0
    cols = np.flatnonzero(occupancy[rows[0]:rows[-1] + 1].any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _check_finite(a: np.ndarray, name: str) -> None:
    if not np.isfinite(a).all():
        bad = int(np.size(a) - np.isfinite(a).sum())
        raise InputError(f"{name} contains NaN/inf ({bad} values)")


class LookupPass:
    """``LookupPass(ctx, width, height, views)``; ``set_sheet(table, reference)``;
    ``run(udp) -> (sampled [M, 4, H, W], cover [M, 1, H, W])`` float32.

    ``run`` applies ``LookupNet.encode_pose`` (xyz · occupancy) in the shader
    unless ``encode_pose=False``; a UDP frame from :class:`UdpPass` (occupancy
    exactly 0 or 1) is unchanged by it either way.

    ``filtering="hardware"`` (default) lets the texture units blend;
    ``"exact"`` fetches the 8 + 4 corners and blends in float32 in the shader
    (for GPUs whose filter weights are low-precision fixed point).
    """

    @current
    def __init__(self, ctx: moderngl.Context, width: int = 256, height: int = 256, views: int = 4,
                 filtering: str = "hardware"):
        self.ctx = ctx
        if filtering not in FILTERS:
            raise ConfigError(f"unknown filtering {filtering!r}; valid: {', '.join(FILTERS)}")
        self.filtering = filtering
        width, height, views = int(width), int(height), int(views)
        if width < 1 or height < 1:
            raise ConfigError(f"lookup pass size must be positive, got {width}x{height}")
        if not 1 <= views <= MAX_VIEWS:
            raise ConfigError(f"lookup pass supports 1..{MAX_VIEWS} views, got {views}")
        limit = min(ctx.info["GL_MAX_TEXTURE_SIZE"], ctx.info.get("GL_MAX_RENDERBUFFER_SIZE", 1 << 30))
        if width > limit or height * views > limit:
            raise ConfigError(f"{views} views of {width}x{height} need a {width}x{height * views} target; "
                              f"this GL allows at most {limit} texels per side")
        if ctx.info["GL_MAX_COLOR_ATTACHMENTS"] < OUTPUTS or ctx.info["GL_MAX_DRAW_BUFFERS"] < OUTPUTS:
            raise ConfigError(f"the lookup pass needs {OUTPUTS} colour attachments; this GL has "
                              f"{ctx.info['GL_MAX_COLOR_ATTACHMENTS']}")
        self.width, self.height, self.views = width, height, views
        self.program = load_program(ctx, "lookup", defines={"EXACT_FILTER": 1} if filtering == "exact" else None)
        self._vao = ctx.vertex_array(self.program, [])
        self._fill = load_program(ctx, "lookup", defines={"FILL": 1})  # the constant around the box
        self._fill_vao = ctx.vertex_array(self._fill, [])
        self.box: tuple[int, int, int, int] | None = None  # last frame's drawn box (x, y, w, h), row 0 = top
        self._udp = ctx.texture((width, height), 4, dtype="f4")
        self._udp.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._targets = [ctx.texture((width, height * views), 1, dtype="f4") for _ in range(OUTPUTS)]
        for tex in self._targets:
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.fbo = ctx.framebuffer(color_attachments=self._targets)
        self._tables: list[moderngl.Texture3D] = []
        self._reference: moderngl.TextureArray | None = None
        # the zero border lives in a sampler object: CLAMP_TO_BORDER with (0,0,0,0)
        self._ref_sampler = ctx.sampler(filter=(moderngl.LINEAR, moderngl.LINEAR), border_color=(0.0, 0.0, 0.0, 0.0))
        self.grid = 0
        self.reference_size = (0, 0)
        self.program["u_udp"].value = 0
        self.program["u_table"].value = 1
        self.program["u_reference"].value = 2
        self.program["u_height"].value = height

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    # -- once per character --------------------------------------------------
    @current
    def set_sheet(self, table, reference) -> None:
        """Upload one character's table and reference.

        ``table``: [M, 3, grid³] or [1, M, 3, grid³] (u, v in -1..1, coverage;
        what ``LookupNet.encode_sheet`` caches, index x·grid² + y·grid + z).
        ``reference``: [M, 4, S, S'] or [1, M, 4, S, S'] premultiplied RGBA.
        Everything is checked before anything is uploaded.
        """
        table = _as_numpy(table, "table")
        reference = _as_numpy(reference, "reference")
        if table.ndim == 4 and table.shape[0] == 1:
            table = table[0]
        if reference.ndim == 5 and reference.shape[0] == 1:
            reference = reference[0]
        if table.ndim != 3 or table.shape[1] != 3:
            raise InputError(f"table: expected [M, 3, grid^3] (u, v, coverage), got shape {table.shape}")
        grid = round(table.shape[2] ** (1 / 3))
        if grid < 2 or grid ** 3 != table.shape[2]:
            raise InputError(f"table: last axis {table.shape[2]} is not grid^3 for a grid >= 2")
        if reference.ndim != 4 or reference.shape[1] != 4:
            raise InputError(f"reference: expected [M, 4, H, W] premultiplied RGBA, got shape {reference.shape}")
        if table.shape[0] != self.views or reference.shape[0] != self.views:
            raise InputError(f"the pass was built for {self.views} views but the table has {table.shape[0]} "
                             f"and the reference {reference.shape[0]}")
        max3d = self.ctx.info["GL_MAX_3D_TEXTURE_SIZE"]
        if grid > max3d:
            raise InputError(f"table: grid {grid} is larger than this GL's 3D textures ({max3d})")
        _check_finite(table, "table")
        _check_finite(reference, "reference")
        cover = table[:, 2]
        if cover.min() < 0:
            raise InputError("table: coverage must be >= 0")

        # (u*c, v*c, c, 0) voxel-interleaved: the texture unit then blends
        # exactly look_up's coverage-weighted rows. Memory order
        # [x, y, z, rgba] = depth, height, width of each view's 3D texture.
        texels = np.zeros((self.views, grid, grid, grid, 4), np.float32)
        vox = table.reshape(self.views, 3, grid, grid, grid)
        texels[..., 0] = vox[:, 0] * vox[:, 2]
        texels[..., 1] = vox[:, 1] * vox[:, 2]
        texels[..., 2] = vox[:, 2]
        ref = np.ascontiguousarray(reference.transpose(0, 2, 3, 1))  # [M, H, W, 4], row 0 = top
        h_ref, w_ref = ref.shape[1:3]

        self._release_sheet()
        for v in range(self.views):
            tex = self.ctx.texture3d((grid, grid, grid), 4, texels[v].tobytes(), dtype="f4")
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)  # no mipmaps: plain trilinear
            tex.repeat_x = tex.repeat_y = tex.repeat_z = False  # CLAMP_TO_EDGE
            self._tables.append(tex)
        self._reference = self.ctx.texture_array((w_ref, h_ref, self.views), 4, ref.tobytes(), dtype="f4")
        self._reference.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._corners = _corner_samples(texels, ref)
        self.grid = grid
        self.reference_size = (w_ref, h_ref)
        self.program["u_corner"].value = 0.5 / grid
        self.program["u_ref_size"].value = (float(w_ref), float(h_ref))

    # -- per frame -------------------------------------------------------------
    @current
    def upload(self, udp) -> np.ndarray:
        """Upload a UDP frame (H, W, 4) float32, row 0 = top, without drawing;
        returns its occupancy channel (a view)."""
        data = _as_numpy(getattr(udp, "data", udp), "UDP frame")
        if data.shape != (self.height, self.width, 4):
            raise InputError(f"UDP frame: expected ({self.height}, {self.width}, 4) xyz + occupancy "
                             f"for this pass, got shape {data.shape}")
        _check_finite(data, "UDP frame")
        data = np.ascontiguousarray(data)
        self._udp.write(data)
        return data[..., 3]

    @current
    def render(self, udp=None, encode_pose: bool = True) -> None:
        """Draw the lookup into :attr:`fbo` (no read-back).

        ``udp``: an (H, W, 4) array (uploaded), a ``moderngl.Texture`` on this
        context holding the UDP with row 0 = top (``UdpPass.texture`` with
        the default ``rows="top-first"``), or None for the last upload."""
        if not self._tables:
            raise InputError("LookupPass.run called before set_sheet")
        source = self._udp
        box = (0, 0, self.width, self.height)
        if isinstance(udp, moderngl.Texture):
            if udp.size != (self.width, self.height) or udp.components != 4 or udp.dtype != "f4":
                raise InputError(f"UDP texture: expected {self.width}x{self.height} RGBA32F (f4, 4 components), "
                                 f"got {udp.size[0]}x{udp.size[1]} with {udp.components} x {udp.dtype}")
            if udp.ctx is not self.ctx and udp.ctx.mglo is not self.ctx.mglo:
                raise InputError("UDP texture belongs to another GL context")
            source = udp
        elif udp is not None:
            occupancy = self.upload(udp)
            if encode_pose:
                box = _box(occupancy)
        self.box = box
        self.fbo.use()
        self.ctx.enable_only(moderngl.NOTHING)
        self.program["u_encode_pose"].value = bool(encode_pose)
        source.use(0)
        self._reference.use(2)
        self._ref_sampler.use(2)
        # one draw per view: the view index and its table are uniform per draw
        # (GLSL cannot index an array of samplers per fragment). Host frames:
        # only the bounding box of the occupancy is looked up (llvmpipe pays
        # for every texture fetch, taken branch or not); around it every pixel
        # is the view's background constant (see lookup.glsl).
        x, y, w, h = box
        around = [r for r in ((0, 0, self.width, y), (0, y + h, self.width, self.height - y - h),
                              (0, y, x, h), (x + w, y, self.width - x - w, h)) if r[2] > 0 and r[3] > 0]
        for v, table in enumerate(self._tables):
            corner = tuple(float(c) for c in self._corners[v, :4])
            if around:
                self._fill["u_corner_sample"].value = corner
                for rx, ry, rw, rh in around:
                    self.ctx.viewport = (rx, v * self.height + ry, rw, rh)
                    self._fill_vao.render(moderngl.TRIANGLES, vertices=3)
            if w > 0 and h > 0:
                self.ctx.viewport = (x, v * self.height + y, w, h)
                self.program["u_view"].value = v
                self.program["u_corner_sample"].value = corner
                self.program["u_corner_cover"].value = float(self._corners[v, 4])
                table.use(1)
                self._vao.render(moderngl.TRIANGLES, vertices=3)
        self._ref_sampler.clear(2)  # leave texture unit 2 to its texture's own sampler state

    @current
    def read(self, out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The last render -> (sampled [M, 4, H, W], cover [M, 1, H, W]) float32.

        ``out``: optional preallocated C-contiguous arrays of those shapes
        (reused every frame to skip the allocation)."""
        m, h, w = self.views, self.height, self.width
        if out is None:
            sampled, cover = np.empty((m, 4, h, w), np.float32), np.empty((m, 1, h, w), np.float32)
        else:
            sampled, cover = out
            if sampled.shape != (m, 4, h, w) or cover.shape != (m, 1, h, w) or sampled.dtype != np.float32 \
                    or cover.dtype != np.float32 or not (sampled.flags.c_contiguous and cover.flags.c_contiguous):
                raise InputError(f"read(out=...): expected C-contiguous float32 arrays [{m}, 4, {h}, {w}] and "
                                 f"[{m}, 1, {h}, {w}]")
        # one read per (view, channel) plane straight into its place
        for c in range(4):
            for v in range(m):
                self.fbo.read_into(sampled[v, c], viewport=(0, v * h, w, h), components=1, attachment=c,
                                   dtype="f4", alignment=1)
        self.fbo.read_into(cover, viewport=(0, 0, w, h * m), components=1, attachment=4, dtype="f4", alignment=1)
        return sampled, cover

    def run(self, udp, encode_pose: bool = True, out=None) -> tuple[np.ndarray, np.ndarray]:
        """UDP frame (H, W, 4) array or texture -> (sampled [M, 4, H, W], cover [M, 1, H, W])."""
        self.render(udp, encode_pose)
        return self.read(out)

    # -- lifetime ----------------------------------------------------------------
    def _release_sheet(self) -> None:
        for obj in self._tables + [self._reference]:
            if obj is not None:
                obj.release()
        self._tables, self._reference = [], None

    @current
    def release(self) -> None:
        self._release_sheet()
        for obj in [self.fbo, self._udp, self._ref_sampler, self._vao, self.program, self._fill_vao,
                    self._fill] + self._targets:
            obj.release()
        self._targets = []

    def __enter__(self) -> "LookupPass":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
