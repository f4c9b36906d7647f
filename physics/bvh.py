"""BVH motion capture: parse, write, and retarget onto a character.

Handles 3- and 6-channel joints, any rotation channel order (the listed order
is the multiplication order: ``ZXY`` means ``Rz @ Rx @ Ry``), ``mixamorig:``
style prefixes, and CMU / Biovision / Mixamo / VRM joint names (mapped onto
the VRM humanoid names). Bad files raise :class:`AssetError` naming the line.

Retargeting works on rotations in rest-aligned axes (see ``clips.py``) and
does not trust the file's rest pose: every humanoid bone is turned so its
direction(s) match the file's joint positions at each frame, with the twist
taken from the file's rotations (see ``_rest_aligned_rotations``). A BVH
captured from an A-pose rest, or one whose joints keep their own rest
orientations (bones along +X), still puts our T-posed character's limbs
where the actor's were.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conrt.characters.rig_names import expected_names, recognise_humanoid
from conrt.errors import AssetError
from conrt.types import HUMANOID_BONES, Character

from .clips import Animator, Clip
from .transforms import (axis_angle, best_rotations, euler, matrix_to_euler, matrix_to_quat, quat_to_matrix, rotation_between,
                         rotations_between)

log = logging.getLogger(__name__)

_CHANNELS = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")


@dataclass(frozen=True)
class BvhJoint:
    name: str
    parent: int  # index into Bvh.joints, -1 for the root
    offset: np.ndarray  # [3] f64 rest offset from the parent, file units
    channels: tuple[str, ...]  # e.g. ("Xposition", ..., "Zrotation", "Xrotation", "Yrotation")
    end_site: np.ndarray | None = None  # [3] f64 offset of an "End Site" child, if any

    @property
    def rotation_order(self) -> str:
        return "".join(c[0].upper() for c in self.channels if c.endswith("rotation"))


@dataclass(frozen=True)
class Bvh:
    joints: tuple[BvhJoint, ...]
    frame_time: float  # seconds
    motion: np.ndarray  # [F, C] f64 channel values in joint/channel order, degrees and file units
    source: str = "<bvh>"

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    def channel_slices(self) -> list[slice]:
        out, c = [], 0
        for j in self.joints:
            out.append(slice(c, c + len(j.channels)))
            c += len(j.channels)
        return out

    def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """([F, B, 3, 3] local rotations, [F, B, 3] local translations)."""
        f, b = self.num_frames, len(self.joints)
        rot = np.broadcast_to(np.eye(3), (f, b, 3, 3)).copy()
        trans = np.broadcast_to(np.array([j.offset for j in self.joints]), (f, b, 3)).copy()
        for k, (j, sl) in enumerate(zip(self.joints, self.channel_slices())):
            vals = self.motion[:, sl]
            rcols = [i for i, c in enumerate(j.channels) if c.endswith("rotation")]
            if rcols:
                rot[:, k] = euler(vals[:, rcols], j.rotation_order)
            for i, c in enumerate(j.channels):
                if c.endswith("position"):  # position channels replace the offset
                    trans[:, k, "XYZ".index(c[0])] = vals[:, i]
        return rot, trans

    def world_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """([F, B, 3, 3] world rotations, [F, B, 3] world positions) in file units."""
        rot, trans = self.local_transforms()
        wr, wp = np.empty_like(rot), np.empty_like(trans)
        for k, j in enumerate(self.joints):
            if j.parent < 0:
                wr[:, k], wp[:, k] = rot[:, k], trans[:, k]
            else:
                wr[:, k] = wr[:, j.parent] @ rot[:, k]
                wp[:, k] = wp[:, j.parent] + np.einsum("fab,fb->fa", wr[:, j.parent], trans[:, k])
        return wr, wp

    def rest_positions(self) -> np.ndarray:
        """[B, 3] joint positions with all rotations zero (the file's rest pose), root at its offset."""
        out = np.zeros((len(self.joints), 3))
        for k, j in enumerate(self.joints):
            out[k] = j.offset + (out[j.parent] if j.parent >= 0 else 0)
        return out


# ---------------------------------------------------------------------------
# Parsing


class _Tokens:
    def __init__(self, text: str, source: str):
        self.source = source
        self.items: list[tuple[str, int]] = []
        for n, line in enumerate(text.splitlines(), 1):
            for tok in line.split():
                self.items.append((tok, n))
        self.i = 0

    def error(self, msg: str, line: int | None = None) -> AssetError:
        if line is None:
            line = self.items[min(self.i, len(self.items) - 1)][1] if self.items else 1
        return AssetError(f"{self.source}:{line}: {msg}")

    def next(self, what: str) -> tuple[str, int]:
        if self.i >= len(self.items):
            raise self.error(f"unexpected end of file, expected {what}")
        tok = self.items[self.i]
        self.i += 1
        return tok

    def expect(self, word: str) -> int:
        tok, line = self.next(repr(word))
        if tok.upper() != word.upper():
            raise self.error(f"expected {word!r}, got {tok!r}", line)
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            raise self.error(f"expected a number for {what}, got {tok!r}", line) from None
        if not np.isfinite(v):
            raise self.error(f"{what} is {tok}", line)
        return v

    def peek(self) -> str | None:
        return self.items[self.i][0] if self.i < len(self.items) else None


def parse_bvh(text: str, source: str = "<bvh>") -> Bvh:
    """Parse BVH text. Raises AssetError("<source>:<line>: ...") on any problem."""
    tk = _Tokens(text, source)
    tk.expect("HIERARCHY")
    joints: list[dict] = []

    def parse_joint(parent: int):
        name_tok, line = tk.next("a joint name")
        if name_tok == "{":
            raise tk.error("joint without a name", line)
        name = name_tok
        # names may contain spaces in some exporters: join tokens up to "{"
        while tk.peek() not in ("{", None):
            name += " " + tk.next("joint name")[0]
        if any(j["name"] == name for j in joints):
            raise tk.error(f"duplicate joint name {name!r}", line)
        tk.expect("{")
        tk.expect("OFFSET")
        offset = np.array([tk.number(f"OFFSET of {name}") for _ in range(3)])
        tk.expect("CHANNELS")
        ntok, nline = tk.next("channel count")
        if ntok not in ("0", "3", "6"):
            if not ntok.isdigit():
                raise tk.error(f"expected a channel count for {name}, got {ntok!r}", nline)
        chans = []
        for _ in range(int(ntok)):
            c, cl = tk.next(f"a channel of {name}")
            match = [k for k in _CHANNELS if k.lower() == c.lower()]
            if not match:
                raise tk.error(f"unknown channel {c!r} of joint {name} (valid: {', '.join(_CHANNELS)})", cl)
            chans.append(match[0])
        if sum(c.endswith("rotation") for c in chans) not in (0, 3):
            raise tk.error(f"joint {name} has {len(chans)} channels; need 3 rotations (plus optional 3 positions)", nline)
        me = len(joints)
        joints.append(dict(name=name, parent=parent, offset=offset, channels=tuple(chans), end_site=None))
        while True:
            tok, tline = tk.next(f"JOINT, End Site or '}}' in {name}")
            up = tok.upper()
            if up == "JOINT":
                parse_joint(me)
            elif up == "END":
                tk.expect("Site")
                tk.expect("{")
                tk.expect("OFFSET")
                joints[me]["end_site"] = np.array([tk.number("End Site OFFSET") for _ in range(3)])
                tk.expect("}")
            elif tok == "}":
                return
            else:
                raise tk.error(f"expected JOINT, End Site or '}}' in {name}, got {tok!r}", tline)

    while tk.peek() is not None and tk.peek().upper() == "ROOT":
        tk.next("ROOT")
        parse_joint(-1)
    if not joints:
        raise tk.error("no ROOT joint after HIERARCHY")
    tk.expect("MOTION")
    tk.expect("Frames:")
    nf_tok, nf_line = tk.next("frame count")
    if not nf_tok.isdigit():
        raise tk.error(f"expected a frame count, got {nf_tok!r}", nf_line)
    nframes = int(nf_tok)
    tk.expect("Frame")
    tk.expect("Time:")
    ft = tk.number("Frame Time")
    if ft <= 0:
        raise tk.error(f"Frame Time must be > 0, got {ft}")
    ncols = sum(len(j["channels"]) for j in joints)
    rest = tk.items[tk.i:]
    lines: dict[int, list[str]] = {}
    for tok, line in rest:
        lines.setdefault(line, []).append(tok)
    rows = []
    for line, toks in lines.items():
        if len(toks) != ncols:
            raise AssetError(f"{source}:{line}: frame has {len(toks)} values, the hierarchy has {ncols} channels")
        try:
            rows.append([float(t) for t in toks])
        except ValueError:
            bad = next(t for t in toks if not _is_float(t))
            raise AssetError(f"{source}:{line}: not a number: {bad!r}") from None
    if len(rows) != nframes:
        raise AssetError(f"{source}: header says {nframes} frames but the file has {len(rows)}")
    motion = np.array(rows, np.float64).reshape(nframes, ncols)
    if not np.isfinite(motion).all():
        raise AssetError(f"{source}: motion has NaN/inf values")
    return Bvh(joints=tuple(BvhJoint(**j) for j in joints), frame_time=ft, motion=motion, source=source)


def _is_float(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def load_bvh(path) -> Bvh:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AssetError(f"cannot read BVH file {path}: {exc}") from None
    return parse_bvh(text, source=str(path))


def write_bvh(bvh: Bvh, path=None) -> str:
    """BVH text (written to ``path`` when given)."""
    out = ["HIERARCHY"]
    children: dict[int, list[int]] = {}
    for k, j in enumerate(bvh.joints):
        children.setdefault(j.parent, []).append(k)

    def emit(k: int, depth: int):
        j = bvh.joints[k]
        ind = "\t" * depth
        out.append(f"{ind}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}")
        out.append(f"{ind}{{")
        out.append(f"{ind}\tOFFSET {j.offset[0]:.6f} {j.offset[1]:.6f} {j.offset[2]:.6f}")
        out.append(f"{ind}\tCHANNELS {len(j.channels)} {' '.join(j.channels)}".rstrip())
        for c in children.get(k, []):
            emit(c, depth + 1)
        if j.end_site is not None:
            e = j.end_site
            out.extend([f"{ind}\tEnd Site", f"{ind}\t{{", f"{ind}\t\tOFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}", f"{ind}\t}}"])
        out.append(f"{ind}}}")

    for r in children.get(-1, []):
        emit(r, 0)
    out += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.10g}"]
    out += [" ".join(f"{v:.6f}" for v in row) for row in bvh.motion]
    text = "\n".join(out) + "\n"
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


# ---------------------------------------------------------------------------
# Name mapping

_CORE = ("hips", "spine", "head", "leftUpperArm", "leftLowerArm", "rightUpperArm", "rightLowerArm",
         "leftUpperLeg", "leftLowerLeg", "rightUpperLeg", "rightLowerLeg")
def normalize_name(name: str) -> str:
    """'mixamorig:LeftUpLeg' -> 'leftupleg' (for display; recognition is ``rig_names``)."""
    name = name.rsplit(":", 1)[-1]
    name = re.sub(r"^(mixamorig|bip0?1|valvebiped|def)[_ ]?", "", name, flags=re.I)
    return re.sub(r"[^a-z0-9]", "", name.lower())


def humanoid_map(names, name_map: dict[str, str] | None = None, joints=None) -> dict[str, int]:
    """BVH joint names -> {humanoid name: BVH joint index}.

    ``name_map`` (joint name -> humanoid name) overrides the built-in
    conventions (``conrt.characters.rig_names``). Its names that the file does
    not have are skipped (one map may cover the motion file and the
    character) unless none of them is in the file."""
    names = list(names)
    out: dict[str, int] = {}
    if name_map:
        for src, dst in name_map.items():
            if dst not in HUMANOID_BONES:
                raise AssetError(f"name_map target {dst!r} is not a humanoid bone (valid: {', '.join(HUMANOID_BONES)})")
        if not any(src in names for src in name_map):
            raise AssetError(f"name_map names none of the joints the BVH file has: it gives "
                             f"{', '.join(name_map)}, the file does not have them (joints: {', '.join(names)})")
        for src, dst in name_map.items():
            if src in names:
                out[dst] = names.index(src)
    taken = set(out.values())
    parents = [j.parent for j in joints] if joints is not None else None
    for h, k in recognise_humanoid(names, parents).items():
        if h not in out and k not in taken:
            out[h] = k
    return out


# ---------------------------------------------------------------------------
# Retargeting


# A BVH's rest pose (all channels zero) is only a T-pose by convention: some
# files keep per-joint rest orientations (bones along +X, every joint with
# its own frame), so the rest pose is a tangle. Retargeting therefore works
# from what does not depend on how the joint frames were chosen: the joints'
# world positions per frame. Bones whose rest directions agree with ours
# (angle <= this) also take their twist from the file's rotations.
_TPOSE_LIKE_DEG = 60.0


def _rest_aligned_rotations(bvh: Bvh, character: Character, hmap: dict, order: list, wr, wp) -> dict:
    """{humanoid bone: [F, 3, 3] rest-aligned world rotation A} (see clips.py).

    - A bone with two or more mapped child bones that are not collinear (hips:
      spine and both legs; the upper chest: neck and shoulders) gets the
      rotation that best turns our rest directions to its children onto the
      file's directions at each frame (Kabsch), which fixes its twist too.
    - A bone with one child direction is swung so our rest direction lands
      exactly on the file's direction at each frame. Its twist (a head
      turning, a forearm rolling) is the file's rotation relative to a
      reference: the rest pose when that is T-pose-like (every such bone
      within ``_TPOSE_LIKE_DEG`` of ours, the hips facing our way), else the
      first frame, where the bone is placed by the minimal swing from its parent.
    - Leaves (head, hands, toes without a child in the file) use the file's
      End Site as their direction when it has one, else turn with the file's
      rotation from the same reference.
    Directions depend on joint positions only and twists on rotation
    differences, so a file whose joint frames are rotated differently (with
    compensated channels) retargets to the same joint positions."""
    ch, sk = character.humanoid, character.skeleton
    cpos = sk.rest_world[:, :3, 3].astype(np.float64)
    rest_b = bvh.rest_positions()
    f = bvh.num_frames
    used = set(order)

    def used_parent(h):
        p = sk.parents[ch[h]]
        while p >= 0:
            for k in used:
                if ch[k] == p:
                    return k
            p = sk.parents[p]
        return None

    parent = {h: used_parent(h) for h in order}
    kids = {h: [c for c in order if parent[c] == h] for h in order}
    # A child at the same place as its parent in the file (CMU: Neck and the
    # shoulders sit on Spine1) gives no direction: look through it to its own child.
    eps = 1e-4 * max(float(np.ptp(wp[0], axis=0).max()), 1e-9)
    for h in order:
        far = []
        for c in kids[h]:
            while np.linalg.norm(wp[0, hmap[c]] - wp[0, hmap[h]]) < eps and kids[c]:
                c = kids[c][0]
            far.append(c)
        kids[h] = far
    end_dir = {}  # bvh joint -> local direction of an End Site / only child (for leaves)
    for k, j in enumerate(bvh.joints):
        if j.end_site is not None and np.linalg.norm(j.end_site) > 1e-9:
            end_dir[k] = j.end_site
    for k, j in enumerate(bvh.joints):
        if j.parent >= 0 and j.parent not in end_dir and np.linalg.norm(j.offset) > 1e-9:
            end_dir[j.parent] = j.offset

    def frame_dirs(h, c):
        return wp[:, hmap[c]] - wp[:, hmap[h]]  # [F, 3]

    def rest_dirs(h, c):
        return cpos[ch[c]] - cpos[ch[h]], rest_b[hmap[c]] - rest_b[hmap[h]]

    # Is the file's rest pose T-pose-like? (then the twist comes from its rotations)
    angles = []
    for h in order:
        if len(kids[h]) == 1:
            dc, db = rest_dirs(h, kids[h][0])
            if np.linalg.norm(dc) > 1e-6 and np.linalg.norm(db) > 1e-9:
                angles.append(np.degrees(np.arccos(np.clip(np.dot(dc, db) / np.linalg.norm(dc) / np.linalg.norm(db), -1, 1))))
    hip_kids = kids.get("hips", [])
    hip_turn = 0.0
    if len(hip_kids) >= 2:
        u = np.array([rest_dirs("hips", c)[0] for c in hip_kids])
        v = np.array([rest_dirs("hips", c)[1] for c in hip_kids])
        r0 = best_rotations(_unit(u), _unit(v)[None])[0]
        hip_turn = float(np.degrees(np.arccos(np.clip((np.trace(r0) - 1) / 2, -1, 1))))
    tpose_like = hip_turn <= 30.0 and (not angles or max(angles) <= _TPOSE_LIKE_DEG)
    log.info("%s: rest pose %s (largest bone difference %.0f deg, hips %.0f deg)", bvh.source,
             "T-pose-like: twist from the file's rotations" if tpose_like else
             "is not a T-pose: bones follow the joint positions", max(angles, default=0.0), hip_turn)

    out: dict[str, np.ndarray] = {}
    corr: dict[str, np.ndarray] = {}  # T-pose-like: our rest frame -> the file's rest frame, per bone
    for h in order:
        up = out[parent[h]] if parent[h] is not None else np.broadcast_to(np.eye(3), (f, 3, 3))
        b = hmap[h]
        corr[h] = corr[parent[h]] if parent[h] is not None else np.eye(3)
        dirs = [c for c in kids[h] if np.linalg.norm(rest_dirs(h, c)[0]) > 1e-6]
        if len(dirs) >= 2:
            u = _unit(np.array([rest_dirs(h, c)[0] for c in dirs]))
            if np.linalg.svd(u, compute_uv=False)[1] > 0.1:  # not collinear
                out[h] = best_rotations(u, _unit(np.stack([frame_dirs(h, c) for c in dirs], 1)))
                corr[h] = best_rotations(u, _unit(np.array([rest_dirs(h, c)[1] for c in dirs]))[None])[0]
                continue
        if dirs:
            dc, db = rest_dirs(h, dirs[0])
            target = frame_dirs(h, dirs[0])
        elif b in end_dir:  # a leaf with an End Site / child in the file
            kid_c = [j for j in range(sk.num_joints) if sk.parents[j] == ch[h]]
            dc = cpos[kid_c].mean(0) - cpos[ch[h]] if kid_c else np.zeros(3)
            if np.linalg.norm(dc) < 1e-6:  # no child of ours: continue the parent bone
                pj = sk.parents[ch[h]]
                dc = cpos[ch[h]] - cpos[pj] if pj >= 0 else np.array([0, 1.0, 0])
            db = end_dir[b]  # at rest every joint frame is the file's world frame
            target = np.einsum("fab,b->fa", wr[:, b], end_dir[b])
        else:
            out[h] = wr[:, b] @ corr[h] if tpose_like else wr[:, b] @ wr[0, b].T @ up[0]
            continue
        if tpose_like:
            corr[h] = rotation_between(dc, db)
            base = wr[:, b] @ corr[h]  # the file's rotation from its rest, rest-aligned
        else:
            # the file's rotation from its first frame, where the bone hangs on its parent without twist
            first = rotations_between(up[0] @ dc, target[0]) @ up[0]
            base = wr[:, b] @ wr[0, b].T @ first
        now = np.einsum("fab,b->fa", base, dc)
        out[h] = rotations_between(now, target) @ base
    return out


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def bvh_to_clip(bvh: Bvh, character: Character, name_map: dict[str, str] | None = None,
                name: str | None = None, loop: bool = True, root: str = "ground") -> Clip:
    """Retarget a BVH onto ``character`` (its ``humanoid`` mapping) as a Clip.

    Root motion is scaled by the ratio of leg lengths. ``root="ground"``
    turns the capture about +Y so it faces +Z on average (like our
    characters), starts it at the character's rest x/z and puts the lowest
    foot of the whole clip at the character's rest foot height; ``root="absolute"`` keeps
    the scaled file position (for files written by :func:`clip_to_bvh`)."""
    if root not in ("ground", "absolute"):
        raise AssetError(f"unknown root mode {root!r}; valid: ground, absolute")

    hmap = humanoid_map(bvh.names, name_map, bvh.joints)
    missing = [b for b in _CORE if b not in hmap]
    if missing:
        known = set(hmap.values())
        unknown = [n for k, n in enumerate(bvh.names) if k not in known]
        raise AssetError(
            f"{bvh.source}: cannot map BVH joints onto humanoid bones {', '.join(missing)}; "
            f"unrecognised joints: {', '.join(unknown) or '(none)'}; expected names like {expected_names()}; "
            f"or pass a name map (--name-map FILE.json, name_map=): {{\"bvh joint\": \"humanoid bone\"}}"
        )
    ch = character.humanoid
    if "hips" not in ch:
        sk_names = character.skeleton.names
        raise AssetError(
            f"character {character.name!r} has no humanoid 'hips' joint to retarget onto (its joints: "
            f"{', '.join(sk_names[:12])}{'...' if len(sk_names) > 12 else ''}); expected names like "
            f"{expected_names()}; or load it with a name map (--name-map FILE.json)")
    sk = character.skeleton
    cpos = sk.rest_world[:, :3, 3].astype(np.float64)
    used = [h for h in hmap if h in ch]
    order = sorted(used, key=lambda h: ch[h])  # parents before children
    wr, wp = bvh.world_transforms()  # [F, B, 3, 3], [F, B, 3]
    f = bvh.num_frames
    a_used = _rest_aligned_rotations(bvh, character, hmap, order, wr, wp)
    heading = np.eye(3)
    if root == "ground":  # face +Z on average like the character (and the front camera), whatever the capture's heading
        fwd = a_used["hips"][:, :, 2]  # [F, 3] where the hips face
        fwd = (fwd[:, [0, 2]] / np.maximum(np.linalg.norm(fwd[:, [0, 2]], axis=1, keepdims=True), 1e-9)).mean(0)
        heading = axis_angle((0, 1, 0), -np.arctan2(fwd[0], fwd[1]))
        a_used = {h: heading @ a for h, a in a_used.items()}

    # Rest-aligned world rotations A for every character joint (joints that are
    # not mapped turn with their parent), then local Q = A_parent^T A.
    inv_ch = {ch[h]: h for h in order}
    a_world = np.empty((f, sk.num_joints, 3, 3))
    for j, p in enumerate(sk.parents):
        h = inv_ch.get(j)
        if h is not None:
            a_world[:, j] = a_used[h]
        else:
            a_world[:, j] = a_world[:, p] if p >= 0 else np.eye(3)
    joints = tuple(order)
    rots = np.empty((f, len(joints), 4))
    for c, h in enumerate(joints):
        j = ch[h]
        p = sk.parents[j]
        q = a_world[:, j] if p < 0 else np.einsum("fba,fbc->fac", a_world[:, p], a_world[:, j])
        rots[:, c] = matrix_to_quat(q)
    bpos = wp[0]  # bone lengths from a real frame: the same whatever the file's rest pose

    # Root motion: scale by leg length (bone chain lengths: rest-pose independent),
    # x/z relative to the first frame; the ground is fixed afterwards with our own FK.
    hb, hc = hmap["hips"], ch["hips"]
    leg_b = leg_c = 0.0
    for side in ("left", "right"):
        names_ = [f"{side}UpperLeg", f"{side}LowerLeg", f"{side}Foot"]
        for a_, b_ in zip(names_[:-1], names_[1:]):  # the leg bones both rigs have
            if all(n in hmap and n in ch for n in (a_, b_)):
                leg_b += float(np.linalg.norm(bpos[hmap[b_]] - bpos[hmap[a_]]))
                leg_c += float(np.linalg.norm(cpos[ch[b_]] - cpos[ch[a_]]))
    if leg_b <= 1e-9 or leg_c <= 1e-9:
        raise AssetError(f"{bvh.source}: cannot scale root motion: no upper/lower leg bones that both the file and "
                         f"character {character.name!r} have (the character's humanoid bones: "
                         f"{', '.join(sorted(ch)) or 'none'}; a name map (--name-map) can add the legs)")
    s = leg_c / leg_b
    root_b = wp[:, hb]
    if root == "absolute":
        target = s * root_b
    else:
        moved = (root_b - root_b[0]) @ heading.T
        target = np.empty((f, 3))
        target[:, 0] = cpos[hc, 0] + s * moved[:, 0]
        target[:, 2] = cpos[hc, 2] + s * moved[:, 2]
        target[:, 1] = s * root_b[:, 1]
    offset = target - cpos[hc]
    clip = Clip(name=name or Path(bvh.source).stem, joints=joints, rotations=rots, root_offset=offset,
                fps=1.0 / bvh.frame_time, loop=loop)
    if root == "ground":
        feet = [ch[k] for k in ("leftFoot", "rightFoot", "leftToes", "rightToes") if k in ch]
        if feet:
            anim = Animator(character, clip)
            frames = np.unique(np.linspace(0, f - 1, min(f, 600)).astype(int))
            low = min(float(anim.pose(k / clip.fps).joint_world[feet, 1, 3].min()) for k in frames)
            offset[:, 1] += float(cpos[feet, 1].min()) - low  # lowest foot of the clip on the rest foot height
            clip = Clip(name=clip.name, joints=joints, rotations=rots, root_offset=offset, fps=clip.fps, loop=loop)
    log.info("retargeted %s: %d frames, %d humanoid bones, scale %.4f", bvh.source, f, len(joints), s)
    return clip


def clip_to_bvh(clip: Clip, character: Character, order: str = "ZXY", unit: float = 1.0) -> Bvh:
    """Write a clip as a BVH over the character's humanoid joints (rest pose = the
    character's T-pose, offsets in ``unit`` per metre). Used for exporting and round trips."""
    ch = {h: j for h, j in character.humanoid.items()}
    sk = character.skeleton
    keep = sorted(ch.values())
    names = {j: h for h, j in ch.items()}
    cpos = sk.rest_world[:, :3, 3].astype(np.float64)
    joints, index = [], {}
    for j in keep:
        p = sk.parents[j]
        while p >= 0 and p not in names:
            p = sk.parents[p]
        bp = index.get(p, -1)
        off = (cpos[j] - (cpos[p] if p >= 0 else 0)) * unit
        chans = tuple(f"{a}rotation" for a in order)
        if bp < 0:
            chans = ("Xposition", "Yposition", "Zposition") + chans
        index[j] = len(joints)
        joints.append(BvhJoint(name=names[j], parent=bp, offset=off, channels=chans))
    rows = []
    col = {h: c for c, h in enumerate(clip.joints)}
    for k in range(clip.num_frames):
        q = quat_to_matrix(clip.rotations[k])
        row = []
        for bj, j in zip(joints, keep):
            # joints between written humanoid joints stay at rest in clips, so the
            # humanoid local rotation is also the local rotation w.r.t. the written parent
            local = q[col[names[j]]] if names[j] in col else np.eye(3)
            if bj.parent < 0:
                row += list((cpos[j] + clip.root_offset[k]) * unit)
            row += list(matrix_to_euler(local, order))
        rows.append(row)
    return Bvh(joints=tuple(joints), frame_time=1.0 / clip.fps, motion=np.array(rows), source=f"{clip.name}.bvh")
