"""Recognise humanoid bones from joint names: the one table for glTF rigs and BVH files.

Conventions covered (examples of the left upper arm / upper leg):

| convention | names |
|---|---|
| VRM / ours | ``leftUpperArm``, ``leftUpperLeg`` |
| Mixamo | ``mixamorig:LeftArm``, ``LeftForeArm``, ``LeftUpLeg``, ``LeftLeg``, ``Spine``, ``Spine1``, ``Spine2`` |
| CMU | ``LeftArm``, ``LeftForeArm``, ``LeftUpLeg``, ``LeftLeg``, ``LowerBack``, ``Spine``, ``Spine1`` |
| Biovision / MotionBuilder | ``Hips``, ``Chest``, ``Chest2``, ``LeftCollar``, ``LeftShoulder`` (= upper arm when a collar exists), ``LeftElbow``, ``LeftWrist``, ``LeftHip``, ``LeftKnee``, ``LeftAnkle`` |
| VRoid | ``J_Bip_L_UpperArm``, ``J_Bip_C_Hips``, ``J_Bip_L_ToeBase`` |
| Unreal | ``pelvis``, ``spine_01..03``, ``clavicle_l``, ``upperarm_l``, ``lowerarm_l``, ``thigh_l``, ``calf_l``, ``ball_l`` |
| Blender / Rigify | ``UpperArm.L``, ``DEF-upper_arm.L``, ``DEF-thigh.L``, ``DEF-shin.L``, ``DEF-spine.001`` |
| 3ds Max Biped | ``Bip01 L UpperArm``, ``Bip01 L Thigh``, ``Bip01 L Calf`` |

Numbered exports (``b_LeftForeArm_07``) drop the trailing number. Numbered
spines count from 0 (Mixamo/CMU ``Spine``, ``Spine1``, ``Spine2``) or, with a
leading zero, from 1 (Unreal ``spine_01..03``) onto spine, chest, upperChest;
``Chest``, ``Chest2`` ... fill the torso bones still free in depth order
(Biovision ``Chest``/``Chest2`` without a spine: spine, chest).
Conservative: unknown names stay unmapped; when two joints claim one bone,
the first in the list (closest to the root, since parents come first) wins.
"""
from __future__ import annotations

import re

from conrt.types import HUMANOID_BONES

__all__ = ["recognise_humanoid", "split_name", "expected_names"]

_PREFIX = re.compile(r"^(mixamorig\d*|j_bip|j_adj|def|org|bip0*1|valvebiped\.bip01|b|cc_base|rig)[-_.: ]+")
_SIDED = {
    "shoulder": "Shoulder", "clavicle": "Shoulder", "collar": "Shoulder",
    "upperarm": "UpperArm", "uparm": "UpperArm", "arm": "UpperArm", "shldr": "UpperArm",
    "lowerarm": "LowerArm", "forearm": "LowerArm", "lowarm": "LowerArm", "elbow": "LowerArm",
    "hand": "Hand", "wrist": "Hand",
    "upperleg": "UpperLeg", "upleg": "UpperLeg", "thigh": "UpperLeg", "hip": "UpperLeg",
    "lowerleg": "LowerLeg", "leg": "LowerLeg", "lowleg": "LowerLeg", "calf": "LowerLeg", "shin": "LowerLeg",
    "knee": "LowerLeg",
    "foot": "Foot", "ankle": "Foot",
    "toes": "Toes", "toe": "Toes", "toebase": "Toes", "ball": "Toes",
    "eye": "Eye", "faceeye": "Eye",
}
_CENTRAL = {"hips": "hips", "hip": "hips", "pelvis": "hips", "root": None, "upperchest": "upperChest",
            "neck": "neck", "head": "head", "jaw": "jaw", "abdomen": "spine", "torso": "chest"}
_SPINE = re.compile(r"^chest\d*$")
_SPINE_ORDER = ("spine", "chest", "upperChest")
# Rigify's DEF-spine chain starts at the pelvis.
_RIGIFY_SPINE = {"spine": "hips", "spine001": "spine", "spine002": "chest", "spine003": "upperChest",
                 "spine004": "neck", "spine006": "head"}


def split_name(raw: str) -> tuple[str | None, str]:
    """'mixamorig:LeftUpLeg' -> ('left', 'upleg'); 'J_Bip_C_Hips' -> (None, 'hips')."""
    n = raw.split(":")[-1].split("|")[-1].strip().lower()
    n = _PREFIX.sub("", n)
    n = re.sub(r"[-_.]\d+$", "", n) if not re.match(r"^spine[-_.]\d+$", n) else n
    side = None
    m = re.match(r"^([lcr])[._\- ](.+)$", n)
    if m:
        side, n = {"l": "left", "r": "right", "c": None}[m.group(1)], m.group(2)
    m = re.match(r"^(.+?)[._\- ]([lr])$", n)
    if m:
        n, side = m.group(1), {"l": "left", "r": "right"}[m.group(2)]
    for word in ("left", "right"):
        if word in n:
            side, n = word, n.replace(word, "", 1)
    n = re.sub(r"[^a-z0-9]", "", n)
    return side, n


_CHAINS = [("hips", "spine", "chest", "upperChest", "neck", "head")] + [
    tuple(side + b for b in bones) for side in ("left", "right")
    for bones in (("Shoulder", "UpperArm", "LowerArm", "Hand"), ("UpperLeg", "LowerLeg", "Foot", "Toes"))]


def recognise_humanoid(names, parents=None) -> dict[str, int]:
    """Joint names (parents before children) -> {humanoid bone: index}.

    With ``parents`` ([J] parent indices, -1 for roots) a bone that does not
    hang below the previous bone of its chain is dropped (RobotExpressive's
    ``Foot.L`` is an IK target under the root, not the foot of the leg)."""
    out = _by_name(list(names))
    if parents is not None:
        out = _prune(out, [int(p) for p in parents])
    return out


def _prune(out: dict[str, int], parents: list[int]) -> dict[str, int]:
    def below(j, a):
        while j >= 0:
            j = parents[j]
            if j == a:
                return True
        return False

    for chain in _CHAINS:
        prev = None
        for bone in chain:
            if bone not in out:
                continue
            if prev is not None and not below(out[bone], out[prev]):
                del out[bone]
                continue
            prev = bone
    return out


def _by_name(names: list) -> dict[str, int]:
    parsed = [split_name(n) for n in names]
    out: dict[str, int] = {}

    def claim(bone, k):
        if bone in HUMANOID_BONES and bone not in out:
            out[bone] = k

    rigify = any(re.match(r"^(def|org)-spine", n.lower()) for n in names)
    collars = {s for s, b in parsed if s and b in ("collar", "clavicle")}
    spine = []
    for k, (side, base) in enumerate(parsed):
        if base.endswith("end") or base.endswith("nub") or base.endswith("top"):
            continue  # end markers: toe_end, HeadTop_End, Bip01 L Toe0Nub
        if side is None:
            if rigify and base in _RIGIFY_SPINE:
                claim(_RIGIFY_SPINE[base], k)
            elif re.match(r"^spine\d*$", base):
                d = base[5:]  # Mixamo/CMU Spine, Spine1, Spine2 count from 0; Unreal spine_01.. from 1
                i = 0 if not d else int(d) - 1 if d.startswith("0") else int(d)
                if i < len(_SPINE_ORDER):
                    claim(_SPINE_ORDER[i], k)
            elif _SPINE.match(base):
                spine.append(k)
            elif base in _CENTRAL and _CENTRAL[base]:
                claim(_CENTRAL[base], k)
            elif re.match(r"^neck\d*$", base):
                claim("neck", k)
            continue
        part = _SIDED.get(base)
        if base == "shoulder" and side in collars:
            part = "UpperArm"  # Biovision: Collar = clavicle, Shoulder = upper arm
        if part is not None:
            claim(side + part, k)
    for bone, k in zip([b for b in _SPINE_ORDER if b not in out], spine):
        claim(bone, k)
    return out


def expected_names() -> str:
    """A short list of accepted names, for error messages."""
    return ("hips/pelvis/Hips, spine/Spine/spine_01, chest/Chest/Spine1, neck, head, "
            "LeftArm|UpperArm.L|upperarm_l|LeftShoulder(with LeftCollar), LeftForeArm|LowerArm.L|LeftElbow, "
            "LeftHand|LeftWrist, LeftUpLeg|Thigh.L|thigh_l|LeftHip, LeftLeg|Shin.L|calf_l|LeftKnee, "
            "LeftFoot|LeftAnkle, LeftToeBase (Right... likewise; mixamorig:, J_Bip_L_, DEF- prefixes)")
