"""Toon pass: a cel-shaded, ink-outlined picture of the posed character.

Used to draw character sheets and ground truth. Same skinning code and camera
as :class:`~conrt.shaders.udp_pass.UdpPass`, so pixel (x, y) of both shows the
same surface point, and the coverage is identical: ``alpha > 0`` exactly where
the UDP has ``a = 1``.

Output: ``[H, W, 4] u8`` straight-alpha RGBA (sRGB colour), row 0 = top;
background ``(0, 0, 0, 0)``, character pixels alpha 255; with ``antialias=k``
(k > 1) alpha is the covered fraction of k x k samples at the silhouette and
the colour the mean of the covered samples (same coverage as a UdpPass with the
same k: alpha > 0 exactly where its ``a > 0``).

glTF materials: OPAQUE ignores alpha; MASK covers where albedo alpha >=
alphaCutoff; BLEND layers are drawn after the rest and blended over it
(covering where their alpha >= 0.5); back faces of single-sided materials
are culled (``glsl/include/alpha.glsl``, shared with the UDP pass). A
character without such materials gets the shader variant with no alpha test
at all (nothing would be discarded; a raster without discard is cheaper).
Likewise the face rule and per-vertex shade colours are compiled in only for
a character (and style) that uses them (``defines``: FACE_RULE,
SHADE_PER_VERTEX; each per-vertex input costs the raster).

``skin_once=True`` (the fit-sheet searches, which draw one pose from many
cameras): the pose is skinned once by transform feedback
(``glsl/skin_feedback.glsl``, positions and normals) and drawn from that buffer
until a different pose comes (compared by value: joint matrices; a pose with
simulated vertices or morph weights is always skinned afresh); the same
expressions, so the same pixels as the default, which skins in the draw.

Shading:
- albedo = ``material.base_color_factor`` x ``texture(uv)`` (when the material
  has a texture and the mesh has uv) x ``COLOR_0`` (when present), glTF rules;
- three tones from a fixed key light (upper left, in front of the camera):
  lit = albedo, shade = MToon shade colour (x texture x COLOR_0) when the
  material has one (on skin the face's: ``face_shade_on_skin``), otherwise albedo
  x ``ToonStyle.shade_tint`` (cool) or, on skin, x ``skin_shade_tint`` (lighter,
  warmer); deep shade = shade x 0.7; the
  face lit near flat (``flat_face``: its normals bent toward the head's forward
  direction, ``shaders/material.py`` ``face_region``) and the neck under it in
  shade (``chin_shadow``, ``neck_region``);
- ink lines inside the silhouette: at the silhouette, at depth jumps
  (occlusion contours), where the part label changes (not where the loader
  inferred the labels from colour: ``part_labels.draws_part_lines``) and at
  hard creases;
  part and crease lines only between surfaces the frame resolves at the
  line's width (``ToonStyle.resolved_only``: sub-pixel hair locks draw no dots).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import moderngl
import numpy as np

from conrt.characters.colour import srgb_to_linear
from conrt.characters.part_labels import draws_part_lines
from conrt.errors import ConfigError, InputError
from conrt.limits import check_gl_frame
from conrt.shaders.camera import raster_view_proj
from conrt.shaders.context import current
from conrt.shaders.coverage import CoverageResolve, check_factor
from conrt.shaders.geometry import SkinnedGeometry
from conrt.shaders.material import (albedo_image, albedo_texture, base_color, face_forward, face_joint, face_region,
                                    neck_region, shade_colors, skin_shade_colors, skin_told_apart)
from conrt.shaders.program import load_program
from conrt.shaders.udp_pass import _check_size
from conrt.types import Camera, Character, Pose

log = logging.getLogger(__name__)


# an occlusion contour: a surface in front by more than this fraction of the character's height within
# the line's radius inks the pixel behind it (glsl/toon_outline.glsl). The fusion draws the target's inner
# lines on the same side by the same step (runtime/nn/lookup_net.py far_side, on the visibility buffer's
# eye depth in character heights)
CONTOUR_DEPTH_STEP = 0.04
# the ink: the surface's colour times this in linear RGB (a dark, warm tint); the fusion draws the target's
# lines with the same law (runtime/nn/lookup_net.py ink_lines)
OUTLINE_INK = (0.12, 0.08, 0.1)


def ink_terms(darken, fixed=None) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """An ink law -> (scale, add): the ink in linear RGB = the surface's colour x scale + add. ``fixed``
    (sRGB 0..1) a pen's own colour (0 x the surface's + the pen's, linear); None: the surface's colour
    darkened, times ``darken`` (linear; ``OUTLINE_INK``). The toon pass's uniforms and the fusion's
    lines in a sheet's own ink (``sheet_ink.SheetInk.terms``)."""
    if fixed is None:
        return tuple(float(x) for x in darken), (0.0, 0.0, 0.0)
    return (0.0, 0.0, 0.0), tuple(float(x) for x in srgb_to_linear(np.asarray(fixed, np.float64)))


def default_line_width(height: int) -> float:
    """The ink line's half-width in pixels of a ``height``-pixel frame when the style gives none
    (``ToonStyle.line_width`` None): 1 px per 256 px of height, at least 1; the outline shader's
    radius is it rounded (the fusion's lines follow it: runtime/nn/lookup_net.py toon_line)."""
    return max(1.0, height / 256)


@dataclass(frozen=True)
class ToonStyle:
    """Look of the toon pass (all fixed per pass)."""

    light: tuple[float, float, float] = (-0.45, 0.6, 0.66)  # towards the key light, eye space
    lit_threshold: float = 0.15  # N.L above: lit tone
    deep_threshold: float = -0.45  # N.L below: deep-shade tone
    deep_multiplier: float = 0.7
    line_width: float | None = None  # ink half-width in pixels; None: 1 px per 256 px of frame height
    depth_step: float = CONTOUR_DEPTH_STEP  # contour when the depth jumps by this fraction of the character height
    crease_angle: float | None = 60.0  # degrees between neighbouring normals that draw a crease line; None = off
    # part and crease lines only between surfaces resolved at the line's width (glsl/toon_outline.glsl);
    # False: every pixel pair is tested (before session 10: hair locks a pixel wide stippled the crown)
    resolved_only: bool = True
    ink: tuple[float, float, float] = OUTLINE_INK  # ink colour = surface colour x ink (linear)
    # a fixed ink colour (sRGB 0..1: a brown or black pen) instead of the surface's darkened; None: ``ink``'s law
    ink_colour: tuple[float, float, float] | None = None
    # False: the silhouette's line only (no occlusion, part or crease lines inside: some artists' sheets)
    inner_lines: bool = True
    look: str = "toon"  # surface shading, one of LOOKS: "toon" three tones, "flat" unlit albedo, "soft" smooth
    # shade = albedo x tint where the material has no MToon shade colour: a cool grey-lavender on cloth,
    # hair, shoes; on skin (Part.SKIN) a lighter, warmer one (anime skin shadows; session 12, before it
    # skin took the cool tint too: a grey mask over half of each face)
    shade_tint: tuple[float, float, float] = (0.62, 0.60, 0.78)
    skin_shade_tint: tuple[float, float, float] = (0.84, 0.66, 0.62)
    # the face lit near flat: normals of the face region (shaders/material.py face_region) bent toward
    # the head's forward direction; False: every surface by its own normal (before session 12)
    flat_face: bool = True
    # the neck under the chin always in shade (shaders/material.py neck_region; session 13); False: lit
    # by its own normal like any surface
    chin_shadow: bool = True
    # skin shaded in the face's MToon shade colour wherever its material's differs (shaders/material.py
    # skin_shade_colors; session 14); False: each vertex in its own material's
    face_shade_on_skin: bool = True


def without_skin_rule(style: ToonStyle) -> ToonStyle:
    """``style`` with skin shaded like cloth (``shade_tint``) on its true normals, the neck too: the look
    before session 12 (the fit-sheet searches keep it, runtime/app/sheet_fit.py FIT_INK)."""
    return dataclasses.replace(style, skin_shade_tint=style.shade_tint, flat_face=False, chin_shadow=False,
                               face_shade_on_skin=False)


LOOKS = ("toon", "flat", "soft")  # index = u_style in glsl/toon.glsl

# Named looks for training data in more than one style (``conrt data make --styles``).
STYLE_NAMES = ("toon", "unlit", "flat", "soft", "no-outline", "thick-outline")
# Other artists' inks (the toon look with another line: session 14's sheets whose own ink the runtime
# estimates, shaders/sheet_ink.py): a fixed dark-brown pen, a "colour trace" (the fill darkened less,
# its hue kept), lines 3 px per 256 px, the silhouette's line only
INK_STYLE_NAMES = ("brown-ink", "trace-ink", "thick-ink", "silhouette-ink")
BROWN_INK = (0.24, 0.14, 0.08)  # sRGB
TRACE_INK = (0.3, 0.22, 0.22)  # linear, as OUTLINE_INK


def named_style(name: str, height: int) -> ToonStyle:
    """The ToonStyle called ``name`` (STYLE_NAMES) for a ``height``-pixel frame:
    toon = our default; unlit = textured/flat albedo, no ink; flat = unlit with
    ink; soft = smooth shading ramp; no-outline = toon without ink;
    thick-outline = toon with ink twice as wide."""
    if name not in STYLE_NAMES + INK_STYLE_NAMES:
        raise ConfigError(f"unknown style {name!r}; choose from {', '.join(STYLE_NAMES + INK_STYLE_NAMES)}")
    thin = max(1.0, height / 256)
    return {
        "toon": ToonStyle(),
        "unlit": ToonStyle(look="flat", line_width=0),
        "flat": ToonStyle(look="flat"),
        "soft": ToonStyle(look="soft"),
        "no-outline": ToonStyle(line_width=0),
        "thick-outline": ToonStyle(line_width=min(16.0, 2 * thin)),
        "brown-ink": ToonStyle(ink_colour=BROWN_INK),
        "trace-ink": ToonStyle(ink=TRACE_INK),
        "thick-ink": ToonStyle(line_width=min(16.0, 3 * thin)),
        "silhouette-ink": ToonStyle(inner_lines=False),
    }[name]


def _plain(pose: Pose) -> bool:
    """A pose given by its joint matrices alone (what skin_once may draw again)."""
    return pose.sim_indices is None and pose.sim_positions is None and pose.morph_weights is None


class ToonPass:
    """``ToonPass(ctx, w, h)``, ``set_character(c)``, ``run(pose, camera) -> [H, W, 4] u8``."""

    @current
    def __init__(self, ctx: moderngl.Context, width: int = 256, height: int = 256, style: ToonStyle = ToonStyle(),
                 antialias: int = 1, skin_once: bool = False):
        check_gl_frame(ctx, width, height, "toon frame")  # before GL allocates (or fails to)
        self.ctx = ctx
        self.style = style
        # antialias k > 1: draw and ink at k x the size, alpha = coverage (shaders/coverage.py)
        self.antialias = check_factor(antialias)
        light = np.asarray(style.light, np.float64)
        if light.shape != (3,) or not np.isfinite(light).all() or np.linalg.norm(light) == 0:
            raise ConfigError(f"toon light must be a non-zero 3-vector, got {style.light}")
        self._light = (light / np.linalg.norm(light)).astype(np.float32)
        if style.line_width is not None and not 0 <= style.line_width <= 16:
            raise ConfigError(f"toon line_width must be in 0..16 pixels (or None), got {style.line_width}")
        if not style.depth_step > 0:
            raise ConfigError(f"toon depth_step must be positive, got {style.depth_step}")
        for name in ("shade_tint", "skin_shade_tint"):
            tint = np.asarray(getattr(style, name), np.float64)
            if tint.shape != (3,) or not np.isfinite(tint).all() or (tint < 0).any():
                raise ConfigError(f"toon {name} must be 3 finite non-negative floats, got {getattr(style, name)}")
        if style.look not in LOOKS:
            raise ConfigError(f"toon look {style.look!r}: choose one of {', '.join(LOOKS)}")
        # the geometry step's program: its variant follows the character (set_character)
        self.skin_once = bool(skin_once)
        self._variants: dict[tuple, moderngl.Program] = {}  # by the defines of set_character
        self.defines: dict[str, int] = {}  # the current character's variant
        self.program: moderngl.Program | None = None
        self._skin_program = load_program(ctx, "skin_feedback", defines={"NORMALS": 1},
                                          varyings=["out_position", "out_normal"]) if self.skin_once else None
        self._skin_vao: moderngl.VertexArray | None = None
        self._skinned: moderngl.Buffer | None = None  # [V] (position, normal) 6f of the last skinned pose
        self._skinned_pose: np.ndarray | None = None  # its joint matrices (None: skin at the next draw)
        self.outline = load_program(ctx, "toon_outline")
        self._resolve = CoverageResolve(ctx, "color", self.antialias) if self.antialias > 1 else None
        self._screen_vao = ctx.vertex_array(self.outline, [])
        self.geometry: SkinnedGeometry | None = None
        self._vao: moderngl.VertexArray | None = None
        self._albedo: moderngl.Texture | None = None
        self._face: moderngl.Buffer | None = None  # [V, 2] f32 face_region, neck_region of the character
        self._shade: moderngl.Buffer | None = None  # [V, 4] f32 shade_colors of the character
        self.material_buffers: list = []  # VAO entries of the two above, for every draw of the toon program
        self._head: int | None = None  # its head joint (the face rule), None: no face rule
        self._targets: list = []
        self._height_m = 1.0
        self.resize(width, height)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @current
    def resize(self, width: int, height: int) -> None:
        self.width, self.height = _check_size(width, height)
        self._release_targets()
        ctx, k = self.ctx, self.antialias
        size = (k * self.width, k * self.height)  # steps 1-2 draw supersampled when antialiasing
        self._color = ctx.texture(size, 4)  # step 1 shaded colour, RGBA8
        self._gbuf = ctx.texture(size, 4, dtype="f4")  # depth (0 = background), part, normal (octahedral)
        for tex in (self._color, self._gbuf):
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._depth = ctx.depth_renderbuffer(size)
        self._geo_fbo = ctx.framebuffer(color_attachments=[self._color, self._gbuf], depth_attachment=self._depth)
        self.texture = ctx.texture((self.width, self.height), 4)  # final straight-alpha RGBA8
        self.fbo = ctx.framebuffer(color_attachments=[self.texture])
        self._targets = [self._geo_fbo, self.fbo, self._color, self._gbuf, self._depth, self.texture]
        self._inked = self._inked_fbo = None  # step 2's supersampled output, reduced by the resolve step
        if self._resolve is not None:
            self._inked = ctx.texture(size, 4)
            self._inked.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._inked_fbo = ctx.framebuffer(color_attachments=[self._inked])
            self._targets += [self._inked_fbo, self._inked]
        # step 2 draws into its target with step 1's depth buffer (read, never written): the
        # depth test leaves the background's pixels out (glsl/toon_outline.glsl)
        ink_target = self.texture if self._inked is None else self._inked
        self._ink_fbo = ctx.framebuffer(color_attachments=[ink_target], depth_attachment=self._depth)
        self._ink_fbo.depth_mask = False
        self._targets.insert(0, self._ink_fbo)

    @current
    def set_character(self, character: Character) -> None:
        """Upload a character's mesh and material once (replaces the previous one)."""
        mat = character.mesh.material
        # Check the material before anything is uploaded.
        base = base_color(character)
        shade = skin_shade_colors(character) if self.style.face_shade_on_skin else shade_colors(character)
        image = albedo_image(character)

        self._release_character()
        self.geometry = SkinnedGeometry(self.ctx, character)
        # the program variant: only the per-vertex inputs this character and style use (each costs the raster:
        # the fit's toon renders, which use neither, ran 5-10 % slower with both always on)
        # the face rule's per-vertex weights: x the face lit near flat, y the neck in shade (style permitting)
        # (the neck only with the rule on: finding its mesh pieces takes ~6-10 ms a character)
        neck = neck_region(character) if self.style.chin_shadow else np.zeros(character.mesh.num_vertices, np.float32)
        face = np.stack([face_region(character) * self.style.flat_face, neck], 1).astype(np.float32)
        self._head = face_joint(character) if face.any() else None
        per_vertex_shade = character.mesh.shade_colors is not None
        self.defines = {name: 1 for name, on in (("ALPHA_RULE", self.geometry.alpha_rule), ("SKINNED", self.skin_once),
                                                 ("FACE_RULE", self._head is not None),
                                                 ("SHADE_PER_VERTEX", per_vertex_shade)) if on}
        key = tuple(sorted(self.defines))
        if key not in self._variants:
            self._variants[key] = load_program(self.ctx, "toon", defines=self.defines)
        self.program = self._variants[key]
        self.program["u_skin_rule"].value = skin_told_apart(character)
        self.program["u_part_lines"].value = draws_part_lines(character)
        self.material_buffers = []  # the variant's per-vertex inputs beside the geometry's
        if self._head is not None:  # the face region's and the neck's weights (the face rule, glsl/toon.glsl)
            self._face = self.ctx.buffer(np.ascontiguousarray(face, np.float32))
            self.material_buffers.append((self._face, "2f", "in_face"))
        if per_vertex_shade:
            self._shade = self.ctx.buffer(shade)
            self.material_buffers.append((self._shade, "4f", "in_shade"))
        else:
            self.program["u_shade_color"].value = tuple(float(x) for x in shade[0])
        extra = list(self.material_buffers)
        if self.skin_once:
            self._skinned = self.ctx.buffer(reserve=self.geometry.num_vertices * 24)
            self._skin_vao = self.geometry.vertex_array(self._skin_program, indexed=False)
            extra.append((self._skinned, "3f 3f", "in_skinned", "in_skinned_normal"))
            self._skinned_pose = None
        self._vao = self.geometry.vertex_array(self.program, extra=extra)
        self._albedo = albedo_texture(self.ctx, image, mat.mipmaps)
        self.program["u_base_color"].value = tuple(float(x) for x in base)
        self._height_m = float(character.height)

    @current
    def render(self, pose: Pose, camera: Camera) -> None:
        """Draw into :attr:`fbo` (no read-back)."""
        if self.geometry is None:
            raise InputError("ToonPass.run called before set_character")
        if (camera.width, camera.height) != self.size:
            raise InputError(f"camera is {camera.width}x{camera.height} but the pass is {self.width}x{self.height}; call resize()")
        mvp = raster_view_proj(camera)
        if not np.isfinite(mvp).all():
            raise InputError("camera matrices contain NaN/inf")
        ctx, st = self.ctx, self.style
        k = self.antialias
        self._geo_fbo.use()  # Mesa skips transform feedback too while an incomplete framebuffer is bound
        if not self.skin_once:
            self.geometry.update(pose)
        elif not self._holds(pose):
            self._skinned_pose = None
            self.geometry.update(pose)  # validates the pose (an InputError leaves nothing remembered)
            self.geometry.bind_joints(self._skin_program, 0)
            self._skin_vao.transform(self._skinned, mode=moderngl.POINTS, vertices=self.geometry.num_vertices)
            if _plain(pose):
                self._skinned_pose = np.array(pose.joint_world, copy=True)

        # Step 1: shaded colour + G-buffer.
        self._geo_fbo.viewport = (0, 0, k * self.width, k * self.height)
        self._geo_fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        ctx.enable_only(moderngl.DEPTH_TEST)
        ctx.depth_func = "<"
        ctx.front_face = "cw"  # the y-flipped projection mirrors the winding
        prog = self.program
        if not self.skin_once:
            self.geometry.bind_joints(prog, 0)
        self._albedo.use(1)
        prog["u_texture"].value = 1
        prog["u_view_proj"].write(np.ascontiguousarray(mvp.T))
        prog["u_view"].write(np.ascontiguousarray(camera.view.astype(np.float32).T))
        prog["u_light"].value = tuple(float(x) for x in self._light)
        prog["u_tones"].value = (st.lit_threshold, st.deep_threshold, st.deep_multiplier)
        prog["u_stage"].value = 0
        prog["u_style"].value = LOOKS.index(st.look)
        prog["u_shade_tint"].value = tuple(float(x) for x in st.shade_tint)
        prog["u_skin_shade_tint"].value = tuple(float(x) for x in st.skin_shade_tint)
        if self._head is not None:  # the FACE_RULE variant
            forward = camera.view[:3, :3].astype(np.float64) @ face_forward(self.geometry.character, pose.joint_world,
                                                                             self._head)
            forward /= max(np.linalg.norm(forward), 1e-12)
            prog["u_face_forward"].value = tuple(float(x) for x in forward)
        geo = self.geometry
        solid, layers = geo.num_solid_indices, geo.num_indices - geo.num_solid_indices
        self._vao.render(moderngl.TRIANGLES, vertices=solid)
        if layers:
            self._draw_blend_layers(solid, layers)
        self.ctx.front_face = "ccw"  # leave the GL default for whoever draws next

        self.draw_ink()
        if self._resolve is not None:
            self._resolve.run(self._inked, self.fbo, self.size)

    @current
    def draw_ink(self, covered_only: bool = True) -> None:
        """Step 2: outlines inside the silhouette, composited to the output, from step 1's
        colour and G-buffer. Only covered pixels are shaded (step 1's depth, tested:
        glsl/toon_outline.glsl); the background keeps the clear, (0, 0, 0, 0), what the
        shader writes there: the same pixels as on the whole frame, without the shader
        on the background (docs/fit_sheet.md, session 12). ``covered_only=False``: the
        shader on every pixel, as before (benchmarks and tests compare the two)."""
        ctx, st, k = self.ctx, self.style, self.antialias
        target = self._inked_fbo if self._resolve is not None else self.fbo
        if covered_only:
            target.clear(0.0, 0.0, 0.0, 0.0)
            target = self._ink_fbo  # the same colour target with step 1's depth buffer
            ctx.enable_only(moderngl.DEPTH_TEST)
            ctx.depth_func = ">="
        else:
            ctx.disable(moderngl.DEPTH_TEST)
        target.use()
        target.viewport = (0, 0, k * self.width, k * self.height)
        self._color.use(2)
        self._gbuf.use(3)
        out = self.outline
        out["u_color"].value = 2
        out["u_gbuf"].value = 3
        width = st.line_width if st.line_width is not None else default_line_width(self.height)
        out["u_radius"].value = int(round(width * k))  # the same width in output pixels
        out["u_depth_step"].value = float(st.depth_step * self._height_m)
        out["u_crease_cos"].value = -2.0 if st.crease_angle is None else float(np.cos(np.radians(st.crease_angle)))
        out["u_resolved_only"].value = bool(st.resolved_only)
        out["u_ink"].value, out["u_ink_add"].value = ink_terms(st.ink, st.ink_colour)
        out["u_inner"].value = bool(st.inner_lines)
        self._screen_vao.render(moderngl.TRIANGLES, vertices=3)
        ctx.depth_func = "<"
        ctx.disable(moderngl.DEPTH_TEST)

    def _holds(self, pose: Pose) -> bool:
        """skin_once: True when :attr:`_skinned` already holds ``pose``: the same
        joint matrices, and no simulated vertices or morph weights (those are
        always skinned afresh)."""
        last = self._skinned_pose
        return last is not None and _plain(pose) and np.array_equal(np.asarray(pose.joint_world), last)

    def _draw_blend_layers(self, first: int, count: int) -> None:
        """glTF BLEND triangles, after the solid ones: (1) their coverage (alpha >=
        0.5, the UDP pass's rule) into the depth buffer and the G-buffer's depth
        only, so they join the silhouette without adding part or crease lines;
        (2) their colour, alpha-blended over what lies behind them (their own
        coverage included, depth test <=)."""
        ctx, fbo, prog = self.ctx, self._geo_fbo, self.program
        off, on = (False,) * 4, (True,) * 4
        fbo.color_mask = (off, (True, False, False, False))
        fbo.use()
        self._vao.render(moderngl.TRIANGLES, vertices=count, first=first)
        fbo.color_mask = (on, off)  # colour target only
        fbo.depth_mask = False
        fbo.use()
        ctx.enable(moderngl.BLEND)
        # "over" into a target cleared to (0, 0, 0, 0) with solids at alpha 1: it then holds
        # premultiplied colour, which the outline step divides back (a layer over nothing keeps its hue).
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA
        ctx.depth_func = "<="
        prog["u_stage"].value = 1
        self._vao.render(moderngl.TRIANGLES, vertices=count, first=first)
        prog["u_stage"].value = 0
        ctx.disable(moderngl.BLEND)
        ctx.depth_func = "<"
        fbo.color_mask = (on, on)
        fbo.depth_mask = True

    @current
    def read(self) -> np.ndarray:
        """The last render: [H, W, 4] u8 straight-alpha RGBA, row 0 = top."""
        out = np.empty((self.height, self.width, 4), np.uint8)
        self.fbo.read_into(out, components=4, alignment=1)  # rows already top-first
        return out

    def run(self, pose: Pose, camera: Camera) -> np.ndarray:
        self.render(pose, camera)
        return self.read()

    @current
    def read_gbuffer(self) -> np.ndarray:
        """The last render's G-buffer, what the ink step reads: [kH, kW, 4] float32
        (eye depth, 0 = background; part label; normal, octahedral), row 0 = top,
        at the supersampled size when antialiasing."""
        k = self.antialias
        out = np.empty((k * self.height, k * self.width, 4), np.float32)
        self._gbuf.read_into(out, alignment=1)
        return out

    @current
    def release(self) -> None:
        self._release_targets()
        self._release_character()
        self._screen_vao.release()
        for program in self._variants.values():
            program.release()
        self._variants = {}
        if self._skin_program is not None:
            self._skin_program.release()
        self.outline.release()
        if self._resolve is not None:
            self._resolve.release()

    def _release_character(self) -> None:
        if self.geometry is not None:
            self._vao.release()
            if self._skin_vao is not None:
                self._skin_vao.release()
                self._skinned.release()
                self._skin_vao = self._skinned = self._skinned_pose = None
            self.geometry.release()
            self.geometry = None
        if self._albedo is not None:
            self._albedo.release()
            self._albedo = None
        for buffer in (self._face, self._shade):
            if buffer is not None:
                buffer.release()
        self._face = self._shade = None
        self.material_buffers = []

    def _release_targets(self) -> None:
        for obj in self._targets:
            obj.release()
        self._targets = []

    def __enter__(self) -> "ToonPass":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
