"""GPU copy of one character's skinned mesh, shared code of the render passes.

Each pass owns its own :class:`SkinnedGeometry` (passes never touch each
other's GL objects). Static vertex data is uploaded once in
:meth:`SkinnedGeometry.__init__`; per frame :meth:`update` writes the joint
skinning matrices (a float texture, see ``glsl/include/skinning.glsl``) and the
simulated-vertex override stream, and the morph target weights
(``Pose.morph_weights``; the deltas are uploaded once, sparse: only the
vertices a target moves, and summed per vertex by one transform-feedback
draw when the weights change, see ``glsl/morph_feedback.glsl``).
"""
from __future__ import annotations

import logging

import moderngl
import numpy as np

from conrt.errors import AssetError, InputError
from conrt.shaders.program import load_program
from conrt.types import ALPHA_MODES, Character, Pose

log = logging.getLogger(__name__)


def validate_character(character: Character) -> None:
    """Check the arrays the passes upload; raise AssetError naming the problem."""
    mesh, skel = character.mesh, character.skeleton
    v, j = mesh.num_vertices, skel.num_joints
    checks = [
        (mesh.positions.shape == (v, 3), f"positions shape {mesh.positions.shape}, expected ({v}, 3)"),
        (v > 0 and mesh.num_triangles > 0, "the mesh has no vertices or no triangles"),
        (mesh.normals.shape == (v, 3), f"normals shape {mesh.normals.shape}, expected ({v}, 3)"),
        (mesh.joints.shape == (v, 4), f"joints shape {mesh.joints.shape}, expected ({v}, 4)"),
        (mesh.weights.shape == (v, 4), f"weights shape {mesh.weights.shape}, expected ({v}, 4)"),
        (mesh.triangles.ndim == 2 and mesh.triangles.shape[1] == 3, f"triangles shape {mesh.triangles.shape}, expected (F, 3)"),
        (mesh.parts.shape == (v,), f"parts shape {mesh.parts.shape}, expected ({v},)"),
        (j > 0, "the skeleton has no joints"),
        (skel.inverse_bind.shape == (j, 4, 4), f"inverse_bind shape {skel.inverse_bind.shape}, expected ({j}, 4, 4)"),
    ]
    for ok, msg in checks:
        if not ok:
            raise AssetError(f"character {character.name!r}: {msg}")
    if mesh.uv is not None and mesh.uv.shape != (v, 2):
        raise AssetError(f"character {character.name!r}: uv shape {mesh.uv.shape}, expected ({v}, 2)")
    if mesh.colors is not None and mesh.colors.shape != (v, 4):
        raise AssetError(f"character {character.name!r}: colors shape {mesh.colors.shape}, expected ({v}, 4)")
    for name in ("alpha_mode", "alpha_cutoff", "double_sided"):
        arr = getattr(mesh, name)
        if arr is not None and np.shape(arr) != (v,):
            raise AssetError(f"character {character.name!r}: {name} shape {np.shape(arr)}, expected ({v},)")
    if mesh.alpha_mode is not None and int(np.max(mesh.alpha_mode, initial=0)) >= len(ALPHA_MODES):
        raise AssetError(f"character {character.name!r}: alpha_mode values must index {', '.join(ALPHA_MODES)}")
    if not (np.isfinite(mesh.positions).all() and np.isfinite(mesh.weights).all()):
        raise AssetError(f"character {character.name!r}: NaN/inf in rest positions or weights")
    t = mesh.num_morphs
    if mesh.morph_positions is not None and np.shape(mesh.morph_positions) != (t, v, 3):
        raise AssetError(f"character {character.name!r}: morph_positions shape {np.shape(mesh.morph_positions)}, expected (T, {v}, 3)")
    if mesh.morph_normals is not None and np.shape(mesh.morph_normals) != (t, v, 3):
        raise AssetError(f"character {character.name!r}: morph_normals shape {np.shape(mesh.morph_normals)}, expected ({t}, {v}, 3)")
    if len(mesh.morph_names) != t:
        raise AssetError(f"character {character.name!r}: {len(mesh.morph_names)} morph names for {t} morph targets")
    if t and not np.isfinite(mesh.morph_positions).all():
        raise AssetError(f"character {character.name!r}: NaN/inf in morph target positions")
    if not np.isfinite(skel.inverse_bind).all():
        raise AssetError(f"character {character.name!r}: NaN/inf in inverse bind matrices")
    if mesh.joints.size and int(mesh.joints.max()) >= j:
        raise AssetError(f"character {character.name!r}: joint index {int(mesh.joints.max())} >= {j} joints")
    if int(mesh.triangles.max()) >= v or int(mesh.triangles.min()) < 0:
        raise AssetError(f"character {character.name!r}: triangle index out of range 0..{v - 1}")


class SkinnedGeometry:
    """Vertex buffers, index buffer and joint texture of one character.

    Buffers (per vertex): ``in_position`` 3f, ``in_normal`` 3f, ``in_joints``
    4i, ``in_weights`` 4f, ``in_landmark`` 3f, ``in_uv`` 2f, ``in_color`` 4f,
    ``in_part`` 1i, ``in_alpha`` 3f (glTF alpha mode index, alpha cutoff,
    double-sided 0/1; static) and ``in_sim`` 4f (dynamic: xyz + weight).

    The index buffer holds the solid triangles (OPAQUE, MASK) first and the
    BLEND ones after them (``num_solid_indices``), so a pass can draw the
    layers that blend over the others last.
    """

    def __init__(self, ctx: moderngl.Context, character: Character):
        validate_character(character)
        mesh, skel = character.mesh, character.skeleton
        self.ctx = ctx
        self.character = character
        self.num_vertices = v = mesh.num_vertices
        self.num_joints = skel.num_joints
        max_tex = ctx.info.get("GL_MAX_TEXTURE_SIZE", 4096)
        if self.num_joints > max_tex:
            raise AssetError(f"{self.num_joints} joints exceed the GL texture height limit {max_tex}")
        self._inverse_bind = skel.inverse_bind.astype(np.float64)
        f4 = lambda a: np.ascontiguousarray(a, np.float32)  # noqa: E731
        landmarks = character.box.landmarks(mesh.positions)
        alpha = np.stack([
            np.zeros(v) if mesh.alpha_mode is None else np.asarray(mesh.alpha_mode, np.float64),
            np.full(v, 0.5) if mesh.alpha_cutoff is None else np.asarray(mesh.alpha_cutoff, np.float64),
            np.ones(v) if mesh.double_sided is None else np.asarray(mesh.double_sided, np.float64),
        ], 1)
        normals = mesh.normals
        if not np.isfinite(normals).all():
            # Only shading uses normals: a broken one must not stop the UDP.
            bad = ~np.isfinite(normals).all(1)
            log.warning("character %r: %d non-finite normals replaced by +Z", character.name, int(bad.sum()))
            normals = normals.copy()
            normals[bad] = (0.0, 0.0, 1.0)
        self.buffers: dict[str, tuple[moderngl.Buffer, str]] = {
            "in_position": (ctx.buffer(f4(mesh.positions)), "3f"),
            "in_normal": (ctx.buffer(f4(normals)), "3f"),
            "in_joints": (ctx.buffer(np.ascontiguousarray(mesh.joints, np.int32)), "4i"),
            "in_weights": (ctx.buffer(f4(mesh.weights)), "4f"),
            "in_landmark": (ctx.buffer(f4(landmarks)), "3f"),
            "in_uv": (ctx.buffer(f4(mesh.uv if mesh.uv is not None else np.zeros((v, 2)))), "2f"),
            "in_color": (ctx.buffer(f4(mesh.colors if mesh.colors is not None else np.ones((v, 4)))), "4f"),
            "in_part": (ctx.buffer(np.ascontiguousarray(mesh.parts, np.int32)), "i"),
            "in_alpha": (ctx.buffer(f4(alpha)), "3f"),
            "in_sim": (ctx.buffer(reserve=v * 16, dynamic=True), "4f"),
        }
        # Some MASK/BLEND material or single-sided face: the passes apply glsl/include/alpha.glsl.
        self.alpha_rule = bool(alpha[:, 0].any() or (alpha[:, 2] < 0.5).any())
        self._sim_host = np.zeros((v, 4), np.float32)
        self._sim_dirty = False  # the GPU stream holds a non-zero override
        self.buffers["in_sim"][0].write(self._sim_host)
        blend = alpha[mesh.triangles[:, 0], 0] == ALPHA_MODES.index("BLEND")
        triangles = np.concatenate([mesh.triangles[~blend], mesh.triangles[blend]])  # stable: solid order kept
        self.index_buffer = ctx.buffer(np.ascontiguousarray(triangles, np.uint32))
        self.num_indices = mesh.triangles.size
        self.num_solid_indices = int((~blend).sum()) * 3
        # Joint matrices: 4 texels (the 4 columns) per joint row.
        self.joint_texture = ctx.texture((4, self.num_joints), 4, dtype="f4")
        self.joint_texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._feedback: tuple[moderngl.Program, moderngl.VertexArray, moderngl.Buffer] | None = None
        self._upload_morphs(mesh)

    def _upload_morphs(self, mesh) -> None:
        """Sparse morph deltas: one entry (2 texels) per (vertex, target) the target moves."""
        v, t = self.num_vertices, mesh.num_morphs
        self.num_morphs = t
        self.num_morph_entries = 0
        self._morph_normals = mesh.morph_normals is not None
        self._morph_range = (0, 0)  # [first, end) of the vertices some target moves
        self._morph_weights = np.zeros(max(t, 1), np.float32)
        self._morph_active = False
        first_count = np.zeros((v, 2), np.int32)
        deltas = np.zeros((1, 4), np.float32)
        if t:
            dp = np.asarray(mesh.morph_positions, np.float32)
            dn = np.zeros_like(dp) if mesh.morph_normals is None else np.nan_to_num(np.asarray(mesh.morph_normals, np.float32))
            moved = (dp != 0).any(2) | (dn != 0).any(2)  # [T, V]
            vert, targ = np.nonzero(moved.T)  # ordered by vertex: each vertex's entries are contiguous
            count = np.bincount(vert, minlength=v)
            first_count[:, 0] = np.concatenate([[0], np.cumsum(count)[:-1]])
            first_count[:, 1] = count
            deltas = np.zeros((2 * len(vert), 4), np.float32)
            deltas[0::2, :3] = dp[targ, vert]
            deltas[0::2, 3] = targ
            deltas[1::2, :3] = dn[targ, vert]
            self.num_morph_entries = len(vert)
            if len(vert):  # only this vertex range is summed each frame (face meshes are contiguous)
                self._morph_range = (int(vert.min()), int(vert.max()) + 1)
        width = 4096  # = the `& 4095` / `>> 12` in skinning.glsl
        rows = max(1, -(-len(deltas) // width))
        if rows > self.ctx.info.get("GL_MAX_TEXTURE_SIZE", 16384):
            raise AssetError(f"{len(deltas) // 2} morph entries exceed the GL texture size limit")
        texels = np.zeros((rows * width, 4), np.float32)
        texels[:len(deltas)] = deltas
        self._morph_first_count = self.ctx.buffer(first_count)
        self.morph_deltas = self.ctx.texture((width, rows), 4, texels.tobytes(), dtype="f4")
        self.morph_deltas.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.morph_weight_texture = self.ctx.texture((len(self._morph_weights), 1), 1, self._morph_weights, dtype="f4")
        self.morph_weight_texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        # Summed offsets (position delta, normal delta interleaved), written by glsl/morph_feedback.glsl
        # when the weights change; what the passes read as in_morph_offset / in_morph_normal.
        self.morph_offsets = self.ctx.buffer(np.zeros(v * 6, np.float32))
        self._morph_pending = False  # new weights not summed yet
        self._morph_sum: tuple[moderngl.Program, moderngl.VertexArray] | None = None

    # -- per frame ---------------------------------------------------------

    def update(self, pose: Pose) -> None:
        """Upload the pose: skinning matrices and simulated vertex positions.
        Raises InputError for a malformed or non-finite pose."""
        pose.validate(self.num_joints)
        skin = np.einsum("jab,jbc->jac", pose.joint_world.astype(np.float64), self._inverse_bind)
        # Texel (c, j) = column c of joint j: store each matrix transposed.
        self.joint_texture.write(np.ascontiguousarray(skin.transpose(0, 2, 1), np.float32))
        self._write_sim(pose)
        self._write_morphs(pose)

    def _write_morphs(self, pose: Pose) -> None:
        w = pose.morph_weights
        if w is None:
            self._morph_active = False
            return
        w = np.asarray(w, np.float32)
        if w.shape != (self.num_morphs,):
            raise InputError(f"pose has {w.shape} morph weights; the character has {self.num_morphs} morph targets")
        # VRM / blendshape weights live in 0..1; out-of-range values are clipped, not extrapolated
        w = np.clip(w, 0.0, 1.0)
        self._morph_active = bool(w.any())
        if self._morph_active and not np.array_equal(w, self._morph_weights[:len(w)]):
            self._morph_weights[:] = w
            self.morph_weight_texture.write(self._morph_weights)
            self._morph_pending = True

    def _sum_morphs(self) -> None:
        """Sum the active targets per vertex into :attr:`morph_offsets` (transform feedback).
        Runs where a draw would: Mesa skips it while an incomplete framebuffer is bound."""
        if self._morph_sum is None:
            prog = load_program(self.ctx, "morph_feedback", varyings=["out_offset", "out_normal"])
            vao = self.ctx.vertex_array(prog, [(self._morph_first_count, "2i", "in_morph")])
            self._morph_sum = (prog, vao)
        prog, vao = self._morph_sum
        du, wu = self.MORPH_UNITS
        self.morph_deltas.use(du)
        self.morph_weight_texture.use(wu)
        prog["u_morph_deltas"].value = du
        prog["u_morph_weights"].value = wu
        prog["u_morph_normals"].value = self._morph_normals
        lo, hi = self._morph_range
        if hi > lo:  # outside the range the offsets stay 0 (the buffer starts zeroed)
            vao.transform(self.morph_offsets, mode=moderngl.POINTS, vertices=hi - lo, first=lo, buffer_offset=lo * 24)
        self._morph_pending = False

    def _write_sim(self, pose: Pose) -> None:
        if pose.sim_indices is None and pose.sim_positions is None:
            if self._sim_dirty:
                self._sim_host[:] = 0
                self.buffers["in_sim"][0].write(self._sim_host)
                self._sim_dirty = False
            return
        if pose.sim_indices is None or pose.sim_positions is None:
            raise InputError("pose.sim_indices and pose.sim_positions must be given together")
        idx = np.asarray(pose.sim_indices)
        pos = np.asarray(pose.sim_positions)
        if idx.ndim != 1 or pos.shape != (len(idx), 3):
            raise InputError(f"sim_indices [K] and sim_positions [K, 3] disagree: {idx.shape} vs {pos.shape}")
        if len(idx) and (idx.min() < 0 or idx.max() >= self.num_vertices):
            raise InputError(f"sim_indices out of range 0..{self.num_vertices - 1}")
        self._sim_host[:] = 0
        self._sim_host[idx, :3] = pos
        self._sim_host[idx, 3] = 1.0
        self.buffers["in_sim"][0].write(self._sim_host)
        self._sim_dirty = True

    # -- drawing -----------------------------------------------------------

    def vertex_array(self, program: moderngl.Program, indexed: bool = True, extra=(),
                     index_buffer: moderngl.Buffer | None = None) -> moderngl.VertexArray:
        """A VAO binding every buffer the program reads (and the pass's own
        ``extra`` ``(buffer, format, name)`` entries, e.g. skinned positions);
        ``index_buffer``: u32 indices of the pass's own instead of the mesh's."""
        content = [(buf, fmt, name) for name, (buf, fmt) in self.buffers.items() if program.get(name, None) is not None]
        content += list(extra)
        used = [program.get(n, None) is not None for n in ("in_morph_offset", "in_morph_normal")]
        if any(used):  # one interleaved buffer; "3x4" skips the half a program does not read
            fmt = " ".join("3f" if u else "3x4" for u in used)
            content.append((self.morph_offsets, fmt, *[n for n, u in zip(("in_morph_offset", "in_morph_normal"), used) if u]))
        if indexed:
            index_buffer = self.index_buffer if index_buffer is None else index_buffer
            return self.ctx.vertex_array(program, content, index_buffer=index_buffer,
                                         index_element_size=4)
        return self.ctx.vertex_array(program, content)

    MORPH_UNITS = (6, 7)  # texture units of the morph deltas and weights (passes use 0..3 for their own)

    def bind_joints(self, program: moderngl.Program, unit: int = 0) -> None:
        """Bind what skinning reads: the joint texture and the morph targets."""
        self.joint_texture.use(unit)
        if program.get("u_joints", None) is not None:
            program["u_joints"].value = unit
        if program.get("u_morph_active", None) is not None:
            program["u_morph_active"].value = self._morph_active
            if self._morph_active and self._morph_pending:
                self._sum_morphs()

    def skinned_positions(self, pose: Pose) -> np.ndarray:
        """[V, 3] f32 posed positions computed by the GPU skinning code
        (transform feedback), simulated vertices included."""
        if self._feedback is None:
            prog = load_program(self.ctx, "skin_feedback", varyings=["out_position"])
            vao = self.vertex_array(prog, indexed=False)
            out = self.ctx.buffer(reserve=self.num_vertices * 12)
            self._feedback = (prog, vao, out)
        prog, vao, out = self._feedback
        self.update(pose)
        self.bind_joints(prog)
        vao.transform(out, mode=moderngl.POINTS, vertices=self.num_vertices)
        return np.frombuffer(out.read(), np.float32).reshape(self.num_vertices, 3).copy()

    def release(self) -> None:
        for buf, _ in self.buffers.values():
            buf.release()
        self.index_buffer.release()
        self.joint_texture.release()
        for obj in (self.morph_deltas, self.morph_weight_texture, self.morph_offsets, self._morph_first_count,
                    *(self._morph_sum or ())):
            obj.release()
        self._morph_sum = None
        if self._feedback is not None:
            for obj in self._feedback:
                obj.release()
            self._feedback = None
        self.buffers = {}
