"""The Ultra-Dense Pose pass (CoNR's pose input).

Renders the posed character into an RGBA32F target:

- ``rgb`` = the landmark of the visible surface point: its rest-pose position
  normalised by the character's canonical box (``Character.box``), exact float
  values (no 8-bit loss, no MSAA blending);
- ``a`` = 1 where the character covers the pixel centre, 0 elsewhere; glTF
  materials decide what covers (``glsl/include/alpha.glsl``, same rule as the
  toon pass): MASK where albedo alpha >= alphaCutoff, BLEND where it is >= 0.5,
  back faces of single-sided materials never;
- background is exactly ``(0, 0, 0, 0)``.

With ``antialias=k`` (odd k > 1, off by default) the pass draws at k x the size
and ``a`` becomes the covered fraction of the k x k samples (smooth edges),
while ``rgb`` stays one surface's landmark: the covered sample nearest the pixel
centre (fully covered pixels: exactly the unsupersampled value). Consumers
that need a binary mask test ``a > 0`` (or ``a >= 0.5``), not ``a == 1``.

With ``coverage=k`` (k > 1) the UDP stays exactly what ``antialias=1`` draws
and the pass also draws the occupancy alone at k x the size (one byte a sample,
no depth test, the same skinned vertices), only the triangles that touch a
thin band at the silhouette and the inner contours (``shaders.coverage.drop_masks``:
everything else is "solid", coverage 1; the host picks the triangles each frame,
``shaders.coverage.kept_triangles``, and draws them from an index buffer of
their own); :meth:`read_coverage` reduces it on
the host (``shaders.coverage.resolve_coverage``: the covered fraction of each
pixel's k x k samples, 1 on solid pixels): the runtime's anti-aliased
silhouette (``shaders.coverage.soften_edges``) without touching the network's
input. The UDP read back to find the band is what the next :meth:`read` returns.

With ``visibility=True`` the same draw also writes the visibility buffer of
the exact sheet correspondences (:attr:`visibility`: triangle id + 1, the
eye depth in character heights and the barycentrics per pixel,
``glsl/udp_vbuf.glsl``), which
:class:`~conrt.shaders.correspondence_pass.CorrespondencePass` resolves
instead of rasterizing the target a second time. The UDP is the same as
without it (the geometry stage passes every varying through unchanged).

Skinning runs once a frame on the GPU (transform feedback,
``glsl/skin_feedback.glsl`` with ``glsl/include/skinning.glsl``) into a vertex
buffer that every draw of the pass reads (the coverage draw does not skin
again: on llvmpipe skinning is the vertex stage's main cost); the nearest
surface wins (depth test; back faces are culled only for glTF
materials with ``doubleSided: false``, see ``characters/gltf_io.py``).
"""
from __future__ import annotations

import logging

import moderngl
import numpy as np

from conrt.errors import ConfigError, InputError
from conrt.limits import check_gl_frame
from conrt.shaders.camera import eye_depth_coefficients, raster_view_proj
from conrt.shaders.context import current
from conrt.shaders.coverage import (CoverageResolve, check_factor, closed_surface_vertices, drop_masks,
                                    kept_triangles, resolve_coverage, solid_distance)
from conrt.shaders.geometry import SkinnedGeometry
from conrt.shaders.material import albedo_image, albedo_texture, base_color
from conrt.shaders.program import load_program
from conrt.types import Camera, Character, Pose, UdpFrame

log = logging.getLogger(__name__)


def _check_size(width: int, height: int) -> tuple[int, int]:
    if int(width) < 1 or int(height) < 1:
        raise ConfigError(f"render size must be positive, got {width}x{height}")
    return int(width), int(height)


class UdpPass:
    """``UdpPass(ctx, w, h)``, ``set_character(c)``, ``run(pose, camera) -> UdpFrame``.

    For GPU interop, :meth:`render` draws without reading back and
    :attr:`texture` / :attr:`fbo` expose the RGBA32F colour attachment. With
    ``rows="top-first"`` (default) its first row in memory is the TOP of the
    picture (the pass draws with a y-flipped projection), the same layout as
    :class:`UdpFrame`, and :meth:`read` needs no flip. ``rows="gl"`` keeps
    GL's bottom-up order in the texture for consumers that expect it
    (:meth:`read` then flips on the host); coverage equality with the toon
    pass is guaranteed for the default only.
    """

    ROW_ORDERS = ("top-first", "gl")

    @current
    def __init__(self, ctx: moderngl.Context, width: int = 256, height: int = 256, rows: str = "top-first",
                 antialias: int = 1, visibility: bool = False, coverage: int = 1):
        check_gl_frame(ctx, width, height, "UDP frame")  # before GL allocates (or fails to)
        if rows not in self.ROW_ORDERS:
            raise ConfigError(f"unknown row order {rows!r}; choose one of {', '.join(self.ROW_ORDERS)}")
        self.rows = rows
        self.ctx = ctx
        # antialias k > 1: draw at k x the size, alpha = coverage (shaders/coverage.py)
        self.antialias = check_factor(antialias)
        self._resolve = CoverageResolve(ctx, "udp", self.antialias) if self.antialias > 1 else None
        self._hi: tuple | None = None
        # coverage k > 1: the occupancy alone at k x beside the plain UDP (any surface covers: no depth test)
        self.coverage = check_factor(coverage)
        if self.coverage > 1 and self.antialias > 1:
            raise ConfigError("coverage=k is the supersampled occupancy beside a plain UDP; with antialias=k the "
                              "UDP's own alpha is already the coverage (give one of them)")
        self._cover: tuple | None = None  # (k x fbo, its one-byte texture: 255 where a sample is covered)
        self._occupancy: np.ndarray | None = None  # [H, W] bool of the last render, in the draw's row order
        self._solid: np.ndarray | None = None  # its solid pixels (coverage.drop_masks), the same order
        self._drawn: tuple[slice, slice] | None = None  # the box the coverage draw can reach (draw's rows)
        self._udp_read: np.ndarray | None = None  # the UDP the coverage draw read, handed to the next read()
        if visibility and (self.antialias > 1 or rows != "top-first"):
            raise ConfigError("the UDP pass writes the visibility buffer only at antialias=1 with rows='top-first' "
                              "(the correspondence pass's layout)")
        self.visibility_buffer = bool(visibility)
        # (triangle + 1, eye depth in character heights, b0, b1) per pixel, with visibility=True
        self.visibility: moderngl.Texture | None = None
        # the UDP draw's program; its variant follows the character (the alpha rules' varyings only where
        # they apply: ALPHA_RULE, include/udp_vertex.glsl), chosen in set_character
        self._program_name = "udp_vbuf" if visibility else "udp"
        self._variants: dict[bool, moderngl.Program] = {False: load_program(ctx, self._program_name)}
        self.program = self._variants[False]
        # skins the vertices once a frame into self._skinned, which every draw reads
        self._skin_program = load_program(ctx, "skin_feedback", varyings=["out_position"])
        self._skin_vao: moderngl.VertexArray | None = None
        self._skinned: moderngl.Buffer | None = None
        # the coverage draw: writes 1 where covered, only the triangles coverage.kept_triangles keeps
        # (its variant follows the character: the alpha rules' varyings only where they apply)
        self._triangles: np.ndarray | None = None  # [T, 3] u32 the mesh's triangles, whose indices the draw takes
        self._corners: np.ndarray | None = None  # [3, T] the same, a row a corner (coverage.kept_triangles)
        self._closed: np.ndarray | None = None  # [T] bool: all corners coverage.closed_surface_vertices
        self._cover_indices: moderngl.Buffer | None = None  # the kept triangles' indices, written each frame
        self._cover_variants: dict[bool, moderngl.Program] = {}  # by geometry.alpha_rule
        self._cover_program: moderngl.Program | None = None
        self._cover_vao: moderngl.VertexArray | None = None
        self.geometry: SkinnedGeometry | None = None
        self._vao: moderngl.VertexArray | None = None
        self.texture: moderngl.Texture | None = None
        self.fbo: moderngl.Framebuffer | None = None
        self._depth: moderngl.Renderbuffer | None = None
        self._albedo: moderngl.Texture | None = None  # only for glTF MASK/BLEND/single-sided materials
        self.resize(width, height)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @current
    def resize(self, width: int, height: int) -> None:
        self.width, self.height = _check_size(width, height)
        self._release_targets()
        # samples=0: no MSAA, so landmarks are exact interpolated values.
        self.texture = self.ctx.texture((self.width, self.height), 4, dtype="f4")
        self.texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._depth = self.ctx.depth_renderbuffer((self.width, self.height))
        targets = [self.texture]
        if self.visibility_buffer:
            self.visibility = self.ctx.texture((self.width, self.height), 4, dtype="f4")
            self.visibility.filter = (moderngl.NEAREST, moderngl.NEAREST)
            targets.append(self.visibility)
        self.fbo = self.ctx.framebuffer(color_attachments=targets, depth_attachment=self._depth)
        if self._resolve is not None:
            k = self.antialias
            hi_tex = self.ctx.texture((k * self.width, k * self.height), 4, dtype="f4")
            hi_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            hi_depth = self.ctx.depth_renderbuffer((k * self.width, k * self.height))
            self._hi = (self.ctx.framebuffer(color_attachments=[hi_tex], depth_attachment=hi_depth), hi_tex, hi_depth)
        if self.coverage > 1:
            k = self.coverage
            cover_tex = self.ctx.texture((k * self.width, k * self.height), 1, dtype="f1")  # 255 = covered
            cover_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._cover = (self.ctx.framebuffer(color_attachments=[cover_tex]), cover_tex)

    @current
    def set_character(self, character: Character) -> None:
        """Upload a character's mesh once (replaces the previous one)."""
        self._release_geometry()
        self.geometry = SkinnedGeometry(self.ctx, character)
        self._skinned = self.ctx.buffer(reserve=self.geometry.num_vertices * 12)  # [V, 3] f32
        self._skin_vao = self.geometry.vertex_array(self._skin_program, indexed=False)
        skinned = [(self._skinned, "3f", "in_skinned")]
        alpha_rule = self.geometry.alpha_rule
        if alpha_rule not in self._variants:
            self._variants[alpha_rule] = load_program(self.ctx, self._program_name, defines={"ALPHA_RULE": 1})
        self.program = self._variants[alpha_rule]
        self._vao = self.geometry.vertex_array(self.program, extra=skinned)
        if self.coverage > 1:
            if alpha_rule not in self._cover_variants:
                self._cover_variants[alpha_rule] = load_program(self.ctx, "udp_coverage",
                                                                defines={"ALPHA_RULE": 1} if alpha_rule else None)
            self._cover_program = self._cover_variants[alpha_rule]
            self._triangles = np.ascontiguousarray(character.mesh.triangles, np.uint32)
            self._corners = np.ascontiguousarray(self._triangles.T, np.intp)
            self._closed = closed_surface_vertices(character)[self._triangles].all(1)
            self._cover_indices = self.ctx.buffer(reserve=self._triangles.nbytes, dynamic=True)
            self._cover_vao = self.geometry.vertex_array(self._cover_program, extra=skinned,
                                                         index_buffer=self._cover_indices)
        if self.geometry.alpha_rule:
            # The toon pass's texture rules, so both passes cover the same pixels.
            self._albedo = albedo_texture(self.ctx, albedo_image(character), character.mesh.material.mipmaps)
        for program in self._programs():  # the ALPHA_RULE variants' uniforms
            program["u_has_alpha"].value = True
            program["u_base_alpha"].value = float(base_color(character)[3])
        log.debug("UDP pass: %s, %d vertices, %d triangles", character.name,
                  character.mesh.num_vertices, character.mesh.num_triangles)

    @current
    def render(self, pose: Pose, camera: Camera) -> None:
        """Draw into :attr:`fbo` (no read-back)."""
        if self.geometry is None:
            raise InputError("UdpPass.run called before set_character")
        if (camera.width, camera.height) != self.size:
            raise InputError(f"camera is {camera.width}x{camera.height} but the pass is {self.width}x{self.height}; call resize()")
        mvp = raster_view_proj(camera, flip_y=self.rows == "top-first")
        if not np.isfinite(mvp).all():
            raise InputError("camera matrices contain NaN/inf")
        self.geometry.update(pose)  # validates the pose before anything is drawn
        self._udp_read = None
        fbo = self._hi[0] if self._hi is not None else self.fbo
        fbo.use()  # Mesa skips transform feedback too while an incomplete framebuffer is bound
        self.geometry.bind_joints(self._skin_program, 0)
        self._skin_vao.transform(self._skinned, mode=moderngl.POINTS, vertices=self.geometry.num_vertices)
        fbo.viewport = (0, 0, self.antialias * self.width, self.antialias * self.height)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.ctx.enable_only(moderngl.DEPTH_TEST)
        self.ctx.depth_func = "<"
        self.ctx.front_face = "cw" if self.rows == "top-first" else "ccw"  # a y flip mirrors the winding
        if self.visibility_buffer:  # its eye depth, in character heights (glsl/include/eye_depth.glsl)
            self.program["u_eye_depth"].value = eye_depth_coefficients(camera, self.geometry.character.height)
        self._draw(self.program, self._vao, mvp)
        if self._cover is not None:  # after the UDP, which it leaves as it is
            self._draw_coverage(mvp)
        self.ctx.front_face = "ccw"  # leave the GL default for whoever draws next
        if self._hi is not None:
            self._resolve.run(self._hi[1], self.fbo, self.size)

    def _draw_coverage(self, mvp: np.ndarray) -> None:
        """The occupancy alone at k x, only the triangles near the UDP's silhouette and inner contours."""
        udp = np.empty((self.height, self.width, 4), np.float32)
        self.fbo.read_into(udp, components=4, dtype="f4", alignment=1)
        self._occupancy = udp[..., 3] > 0  # in the draw's own row order
        self._udp_read = udp  # read() returns it instead of reading the same pixels again
        # the skinned vertices in the pass's window coordinates (pixels, the draw's rows), as the GPU places them
        skinned = np.frombuffer(self._skinned.read(), np.float32).reshape(-1, 3)
        m = mvp.astype(np.float32)
        clip_w = skinned @ m[3, :3] + m[3, 3]
        front = clip_w > 0
        inv_w = np.float32(0.5) / np.where(front, clip_w, np.float32(1))
        x = (skinned @ m[0, :3] + m[0, 3]) * inv_w + np.float32(0.5)
        y = (skinned @ m[1, :3] + m[1, 3]) * inv_w + np.float32(0.5)
        x *= np.float32(self.width)
        y *= np.float32(self.height)
        # Everything covered or drawn lies in the vertices' box (grown by a pixel): the masks are made
        # and the samples read and counted there only; outside it nothing is solid and no contour is
        # near (the same masks as on the whole frame: the box's border pixels are empty, as the
        # frame's outside counts). With a vertex behind the camera: the whole frame.
        box = (slice(0, self.height), slice(0, self.width))
        if front.all():
            x0, x1 = max(int(np.floor(x.min())) - 1, 0), min(int(np.floor(x.max())) + 2, self.width)
            y0, y1 = max(int(np.floor(y.min())) - 1, 0), min(int(np.floor(y.max())) + 2, self.height)
            box = (slice(y0, max(y1, y0)), slice(x0, max(x1, x0)))
        self._drawn = box
        solid, far = np.zeros(self._occupancy.shape, bool), np.ones(self._occupancy.shape, bool)
        distance = np.zeros(self._occupancy.shape, np.uint8)
        solid[box], far[box] = drop_masks(udp[box])
        distance[box] = solid_distance(solid[box])
        self._solid = solid
        kept = kept_triangles(x, y, front, self._corners, self._closed, distance, far,
                              front_ccw=self.ctx.front_face == "ccw")
        indices = np.compress(kept, self._triangles, axis=0)  # ~4x a boolean index's speed on [T, 3]
        fbo, _ = self._cover
        fbo.use()
        fbo.viewport = (0, 0, self.coverage * self.width, self.coverage * self.height)
        fbo.clear(0.0, 0.0, 0.0, 0.0)
        if not len(indices):
            return
        self._cover_indices.write(indices)
        self.ctx.enable_only(moderngl.NOTHING)  # any surface covers: no depth test
        self._draw(self._cover_program, self._cover_vao, mvp, vertices=indices.size)

    def _draw(self, program: moderngl.Program, vao: moderngl.VertexArray, mvp: np.ndarray,
              vertices: int | None = None) -> None:
        if self._albedo is not None:
            self._albedo.use(1)
            program["u_texture"].value = 1
        program["u_view_proj"].write(np.ascontiguousarray(mvp.T))
        vao.render(moderngl.TRIANGLES, vertices=self.geometry.num_indices if vertices is None else vertices)

    def _programs(self) -> list[moderngl.Program]:
        """The programs that apply the alpha rules (none for a character without them)."""
        if self.geometry is None or not self.geometry.alpha_rule:
            return []
        return [self.program] + ([self._cover_program] if self._cover_program is not None else [])

    @current
    def read(self) -> UdpFrame:
        """Read the last render back: [H, W, 4] f32, row 0 = top."""
        data, self._udp_read = self._udp_read, None  # the coverage draw read it already (once)
        if data is None:
            data = np.empty((self.height, self.width, 4), np.float32)
            # Default: rows are already top-first in the target (raster_view_proj flips y).
            self.fbo.read_into(data, components=4, dtype="f4", alignment=1)
        if self.rows == "gl":
            data = np.ascontiguousarray(data[::-1])
        return UdpFrame(data=data)

    @current
    def read_coverage(self) -> np.ndarray:
        """The last render's coverage (``coverage=k``): [H, W] f32, row 0 = top
        like :meth:`read`: at the silhouette the covered fraction of each
        pixel's k x k samples, elsewhere the occupancy
        (``shaders.coverage.resolve_coverage``). Reads and counts only the box
        of the skinned vertices the draw projected (grown by a pixel), where
        every sample drawn lies; with a vertex behind the camera the whole frame."""
        if self._cover is None:
            raise ConfigError("read_coverage needs a UdpPass made with coverage=k (k > 1)")
        if self._occupancy is None:
            raise InputError("read_coverage called before render")
        k = self.coverage
        rows, cols = self._drawn
        h, w = rows.stop - rows.start, cols.stop - cols.start
        cover = np.zeros((self.height, self.width), np.float32)  # outside the drawn box nothing covers
        if h and w:
            samples = np.empty((k * h, k * w), np.uint8)
            self._cover[0].read_into(samples, viewport=(k * cols.start, k * rows.start, k * w, k * h), components=1,
                                     alignment=1, dtype="f1")
            cover[rows, cols] = resolve_coverage(samples, self._occupancy[rows, cols], k, solid=self._solid[rows, cols])
        return np.ascontiguousarray(cover[::-1]) if self.rows == "gl" else cover

    def run(self, pose: Pose, camera: Camera) -> UdpFrame:
        self.render(pose, camera)
        return self.read()

    @current
    def skinned_positions(self, pose: Pose) -> np.ndarray:
        """[V, 3] f32 vertex positions from the same GPU skinning code."""
        if self.geometry is None:
            raise InputError("skinned_positions called before set_character")
        # Mesa skips a draw (transform feedback included) while the bound
        # framebuffer is incomplete, as a surfaceless EGL context's default is.
        self.fbo.use()
        return self.geometry.skinned_positions(pose)

    @current
    def release(self) -> None:
        self._release_targets()
        self._release_geometry()
        if self._resolve is not None:
            self._resolve.release()
        for program in [*self._variants.values(), *self._cover_variants.values()]:
            program.release()
        self._variants.clear()
        self._cover_variants.clear()
        self.program = self._cover_program = None
        self._skin_program.release()

    def _release_geometry(self) -> None:
        if self.geometry is not None:
            for obj in (self._cover_vao, self._vao, self._skin_vao, self._skinned, self._cover_indices):
                if obj is not None:
                    obj.release()
            self.geometry.release()
            self.geometry = self._vao = self._cover_vao = self._skin_vao = self._skinned = self._cover_indices = None
            self._triangles = self._corners = self._closed = None
        if self._albedo is not None:
            self._albedo.release()
            self._albedo = None

    def _release_targets(self) -> None:
        for obj in (self.fbo, self.texture, self.visibility, self._depth, *(self._hi or ()), *(self._cover or ())):
            if obj is not None:
                obj.release()
        self.fbo = self.texture = self.visibility = self._depth = self._hi = self._cover = None
        self._occupancy = self._solid = self._udp_read = self._drawn = None

    def __enter__(self) -> "UdpPass":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
