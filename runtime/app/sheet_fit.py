"""Register hand-drawn sheet views to the rig (``conrt fit-sheet``).

A drawing of the character is not a render: the artist saw it from a slightly
different angle, drew it bigger or smaller, moved the arms and gave it their
own proportions. Predicting a UDP from one drawing is hard; here the mesh is
known, so each drawing is *registered* to it in three steps:

1. **coarse** (:meth:`SheetFitter.fit`): for each candidate yaw (around the
   view's labelled angle, or all the way round), render the rig's silhouette
   at low resolution, take scale and offset from the silhouette moments
   (area, centroid), score by IoU with the drawn silhouette plus a small
   colour-agreement term (toon colours vs drawn colours: a front and a back
   view have nearly the same silhouette, not the same colours); in a joint
   fit also a part term (:class:`PartLabels`: which of the rig's colour
   regions lies where, compared pixel by pixel); a drawing in the artist's
   own colours is compared through a palette match first
   (:func:`match_palette`, ``PALETTE``);
2. **pose**: a pattern search (coordinate descent with shrinking steps) over
   the camera (yaw, scale, offset) and per-bone turns (arms, legs, spine,
   head) about the viewing axis, plus how far each arm is lowered from the
   T-pose, maximising the same score; the legs swapped (which one is in
   front is nearly invisible from the side or behind) are searched too and
   kept when clearly better;
3. **residual**: a dense 2D warp from the fitted rig's silhouette to the
   drawn one (demons registration of the two signed distance fields and of
   the toon colours against the drawn ones, with a Gaussian regulariser),
   applied to the rig's full-resolution UDP; drawn
   pixels the warp still misses take the UDP of the nearest covered pixel,
   so every drawn pixel gets one.

The camera is the orbit framing of :func:`conrt.shaders.frame_character`
(rest pose, ``SHEET_MARGIN`` border) followed by a 2D scale and offset in
clip space, so it is an ordinary :class:`~conrt.types.Camera` that the view
file (:mod:`conrt.shaders.view_file`) can store.

Drawings are framed the way the runtime frames sheet views
(:func:`conrt.runtime.app.session.fit_sheet`) before anything else, so the
written ``<view>.png`` and ``<view>_udp.npz`` are used as they are.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from conrt.characters.posing import forward_kinematics, rotation_matrix
from conrt.errors import ConfigError, InputError
from conrt.runtime.app.session import SHEET_MARGIN
from conrt.shaders import ToonPass, ToonStyle, UdpPass, frame_character
from conrt.shaders.camera import orbit_direction
from conrt.shaders.toon_pass import without_skin_rule
from conrt.types import Camera, Character, Pose

from ..nn.official import resize
from .session import check_sheet, fit_sheet

# The fitter's renders: all inner lines, in one of FIT_LOOKS: "toon" the toon pass's look (session 12's
# skin rule: skin shaded lighter and warmer, the face lit near flat), "before_skin_rule" the look before it
# (skin shaded like cloth, the face on its true normals), on which the searches and their tests were tuned.
FIT_LOOKS = ("toon", "before_skin_rule")
FIT_LOOK = "before_skin_rule"


def fit_style(look: str = FIT_LOOK, line_width: float | None = None) -> ToonStyle:
    """The toon style of ``look`` (``FIT_LOOKS``) with every inner line, as an artist inks them: the
    fitter's renders and the synthetic drawings (``training/fit_drawings.py``)."""
    if look not in FIT_LOOKS:
        raise ConfigError(f"fit look {look!r}: choose one of {', '.join(FIT_LOOKS)}")
    style = ToonStyle(line_width=line_width, resolved_only=False)
    return style if look == "toon" else without_skin_rule(style)


FIT_INK = fit_style()

log = logging.getLogger(__name__)

# A drawing whose character is smaller than this (longer side of its alpha
# bounding box) carries too little to register: its UDP would be guesswork.
MIN_DRAWING_PX = 64
# Below this silhouette IoU after the pose fit the drawing is taken not to show
# this character (a cat, another body): no UDP is written unless the caller
# lowers it. Between this and WARN_IOU: written, with a warning. Measured on
# drawings (docs/fit_sheet.md): the right character 0.86-0.95, another
# procedural character 0.59-0.67, a fox 0.44-0.64.
MIN_IOU = 0.75
WARN_IOU = 0.9
# The fitted camera and pose alone (without the residual warp) are written as a
# view file only while the warp moves the drawn pixels by at most this many
# pixels on average at 256 px: else projecting the mesh with them would take
# colours from the wrong place.
VIEW_FILE_MAX_RESIDUAL_PX = 1.0
# Bones turned about the viewing axis by the pose search (when the rig has them).
POSE_BONES = ("leftUpperArm", "leftLowerArm", "rightUpperArm", "rightLowerArm",
              "leftUpperLeg", "leftLowerLeg", "rightUpperLeg", "rightLowerLeg", "spine", "neck")
# ... and these also towards / away from the camera (``bone:out``): arms and
# the spine (a twist of the upper body) about the vertical, legs about the
# picture's horizontal axis.
OUT_OF_PLANE_BONES = ("leftUpperArm", "rightUpperArm", "leftUpperLeg", "rightUpperLeg", "spine")
# A joint fit's shared pose turns bones about the body's own axes (x: its left,
# y: up, z: its front), so that every view sees the same pose: each view shows
# the turns in its own picture plane, and only all three axes together give the
# front view's in-plane turns and the side view's. The upper arms' turn about z
# is ``arms_lowered``; twists along a limb barely show and are left out.
JOINT_TURNS = (("leftUpperArm", "xy"), ("rightUpperArm", "xy"), ("leftLowerArm", "xyz"), ("rightLowerArm", "xyz"),
               ("leftUpperLeg", "xz"), ("rightUpperLeg", "xz"), ("leftLowerLeg", "xz"), ("rightLowerLeg", "xz"),
               ("spine", "xz"), ("neck", "xz"))
BODY_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
# The arms start half lowered (between a T- and an A-pose): the search then
# reaches either within a few steps.
ARM_START_DEG = 35.0
ARM_GRID_DEG = (5.0, 35.0, 60.0, 80.0)  # tried for both arms before the search
# levels of a joint fit's fine pose search (4 degree steps, then 2, 1). One level:
# -14 % toon renders against two (9253 -> 7997 on the benchmark's turnarounds), UDP
# error 0.0145 -> 0.0146, shading L1 1.085 -> 1.090 x the true UDPs' (docs/fit_sheet.md).
JOINT_FINE_LEVELS = 1
# A joint search's level ends when a sweep lowered the cost by less than this
# (0: only when a sweep finds nothing, as pattern_search). The last sweeps of a
# level gain little and cost as much as the first (every parameter tried both
# ways, every view rendered per pose trial): on the benchmark's sheet 0 the fine
# stage's 7 sweeps gained 0.026, 0.028, 0.0024, 0.0018, 0.0014, 0.0009, 0.
JOINT_MIN_GAIN = 0.003
# The separate fit's fine pose search at 256²: two levels (4 degree steps, then 2), each until a sweep
# finds nothing. Measured and not kept (sessions 11-12, docs/fit_sheet.md): one level (0.73x the CPU, per
# view UDP error 0.0194 -> 0.0213), a minimum gain of 0.003 (0.0194 -> 0.0203), yaw restarts of 4 degrees
# after it (15 of 16 views unchanged, a back view 0.0098 -> 0.0118).
SEPARATE_FINE_LEVELS = 2
# Session 16 (s16-finerestart): restarts of the separate fit after ``pose_fine``, chosen on the cost at the
# fine size (FINE_WORK), where s15-fiterr's probe found the cost ranks a restart nearer the true yaw lower (6 of
# 6 worst views), where the rough stage's restarts (128², s15) won at wrong yaws as often as at right ones.
# "held": the fit's end with the yaw turned by FINE_RESTART_DEG towards the view's label (the artist drew it
# off the label by a few degrees either way, so a fit off its label is more likely too far than too near; an
# unlabelled view: both ways), moment-matched, the yaw held there while the pose (and scale, offset) is
# searched at the work size with the rough steps' second level (8 degrees), then the fine steps with the yaw
# free at ``fine_restart_work``, FINE_RESTART_LEVELS levels; a restart replaces the fit when its
# cost at the fine size is lower by more than FINE_RESTART_MARGIN. "off": neither (docs/fit_sheet.md,
# "Session 16: restarts at the fine size"). Measured on the per-view folders' separate fits, chosen on sheets 0-1
# and 4-5: "held", 8 degrees, towards the label, 192², margin 0: mean UDP error 0.0187 ->
# 0.0172, median 0.0161 -> 0.0123 (5 views better, none worse), 1.21x the renders; the unseen 2-3, 6-7 0.0268 ->
# 0.0241 (median 0.0189 -> 0.0160; 2 of 16 worse). "turn" walks back to the fit's yaw (its limbs suit it); both
# turns 0.0174 (0.0123) at 1.43x, two views worse (each time the turn away from the label); 12 degrees 0.0173.
# Removed in session 17 (measured worse, numbers above and in the docs): "turn" (the turned fit searched again
# whole at the fine steps, no held-yaw search) and the ways "both" (both turns for a labelled view too) and
# "held_lower" (both held-yaw searches, the lower one's fine search).
FINE_RESTART_MODES = ("off", "held")
FINE_RESTART = "held"
FINE_RESTART_DEG = 8.0
FINE_RESTART_LEVELS = 1
FINE_RESTART_MARGIN = 0.0
FINE_RESTART_WORK = 192  # side of the restarts' search (the choice is made at FINE_WORK)


def rough_steps(bones: int, views: int = 1) -> np.ndarray:
    """The rough pose search's first steps (``FitParams.vector`` order): per view its camera (yaw
    4°, scale and the two offsets 0.03), then the arms' lowering (two angles) and each bone's turn,
    16° each: the separate fit's (views 1) and the joint fit's."""
    return np.array([4.0, 0.03, 0.03, 0.03] * views + [16.0, 16.0] + [16.0] * bones)


# Canonical limb configurations the separate fit's pose search also starts from (``FitParams.turns``,
# degrees, on top of the best coarse camera and its arm-grid arms): the search moves one bone at a time
# and cannot walk from legs together to a stride, nor from one stride to the other. "stride": the left
# leg turned one way in the picture and out of it, the right the other way; "stride_mirrored": the
# signs flipped. Each gets the same search as the coarse candidates (camera and pose, 16 degree steps,
# two levels), as the leg swap does for one pair (session 12, s12-fit2).
LIMB_STARTS = {
    "stride": {"leftUpperLeg": 20.0, "rightUpperLeg": -20.0, "leftUpperLeg:out": 20.0, "rightUpperLeg:out": -20.0},
    "stride_mirrored": {"leftUpperLeg": -20.0, "rightUpperLeg": 20.0, "leftUpperLeg:out": -20.0,
                        "rightUpperLeg:out": 20.0},
}
# A start's search replaces the coarse candidates' best only when clearly better (LEG_SWAP_MARGIN, the leg
# swap's rule), and the starts are tried only on front views (``front_view`` of the label, else of the best
# coarse camera). Session 12, on every view: per view 0.0194 -> 0.0188 UDP error, turnarounds 0.0208 ->
# 0.0211 (from the side the two strides are one silhouette with the legs exchanged: the side views worse).
# Session 13 (docs/fit_sheet.md): on front and back views per view 0.0194 -> 0.0180 (sheets 0-1; a front
# and a back view better, a back view 0.0121 -> 0.0246) and an unlabelled back view of the tests 36 degrees
# off; on front views only 0.0194 -> 0.0178, sheets 2-3 and the turnarounds unchanged, ~1.1x the CPU.
SEPARATE_LIMB_STARTS: tuple[str, ...] = ("stride", "stride_mirrored")  # both fits' (the joint fit's below)
# The same starts in a joint fit (``limb_starts`` names both): its shared pose turns about the body's axes,
# so a stride is the upper legs swung forward / back about the body's left axis (x; -: forward); each is
# searched like the leg swap (the legs and every view's camera, 8 degree steps) and kept when clearly
# better. From one view a side view cannot tell which leg is in front; the sheet's 45 degree and front
# views can. Session 13 (docs/fit_sheet.md): 16 turnaround views 0.0140 -> 0.0133 UDP error (the side views
# s1v2 0.0329 -> 0.0283, s3v2 0.0170 -> 0.0123; 7 better, 4 worse), ~1.15-1.3x the renders.
JOINT_LIMB_STARTS = {
    "stride": {"leftUpperLeg:x": -20.0, "rightUpperLeg:x": 20.0},
    "stride_mirrored": {"leftUpperLeg:x": 20.0, "rightUpperLeg:x": -20.0},
}
# The joint fit's last search step: every view's yaw moved together along one line, the shared pose held
# and each view's scale and offset searched at each shift (SheetFitter._joint_yaw_line, yaw_line_search):
# shifts this many degrees apart (0: off), on while an end is the lowest (at most YAW_LINE_STEPS more),
# then a parabola's vertex. The joint fit's yaws ended 3-10 degrees off the truth, all one way (session
# 12), and its coordinate steps move one view's yaw at a time, without its scale and offset. Measured in
# session 13 (docs/fit_sheet.md): 16 turnaround views 0.0140 -> 0.0137 UDP error (6 better, 2 worse), +2-3 %
# renders; the same line per view at the end of the separate fit (the pose held) moved none of 7 views.
JOINT_YAW_LINE_DEG = 2.0
# ``conrt fit-sheet``'s default (auto): a folder of >= 2 drawings is fitted jointly while it looks like ONE pose.
# The check (SheetFitter.fit_joint(one_pose="separate")), after ``joint_pose``: each view is freed from the shared
# pose (its own camera and the body-axis pose searched from the joint fit's, one level at the joint_pose stage's 8
# degree steps, work size) -- what the view reaches alone; its drop in cost is its gain. When the views' MEAN gain
# is above ONE_POSE_MEAN_GAIN, the shared pose does not explain them: the drawings are not one pose, the joint fit
# stops and each drawing gets its own fit (from the coarse stage the joint fit ran). The mean, not the largest
# gain (session 14's rule, bar 0.15): in a turnaround one view the shared pose fits poorly may gain as much alone
# as a drawing in its own pose (turnaround sheet 1's side view 0.209, per-view folders' largest 0.16-0.47), in a
# folder of drawings in their own poses most views gain. Session 15 (docs/fit_sheet.md,
# fit_sheet_s15_one_pose_probe_*.json), chosen on sheets 0-1 and 4-5: mean gain of the turnarounds 0.014-0.081,
# of the per-view folders 0.120-0.159 (and more); the bar between them. Then sheets 2-3 (0.027, 0.058 | 0.120,
# 0.144) and the unseen 6-7 (0.051, 0.053 | 0.113, 0.149): all 16 folders picked right; again with the coarse stage
# scored as the separate fit scores it (view_coarse): turnarounds 0.023-0.084, per-view folders 0.106-0.179, 16 of 16
# (the unseen per-view folder 7 at 0.106, the closest). Measured and not kept: the
# gain relative to each view's own cost (largest: turnaround sheet 1 0.321, per-view folders from 0.321), the
# check after joint_pose's first search (``pose_only``: a per-view folder's mean gain 0.048, turnarounds' to 0.089).
# Session 15 (s15-fitcheck): the freed view's search cut to ONE_POSE_SWEEPS sweeps (a prefix of the full one: the
# probe records the gain after each sweep, fit_sheet_s15_one_pose_sweeps_*.json), the bar again set on sheets 0-1
# and 4-5 between the folders: after 2 sweeps turnarounds 0.036-0.073, per-view folders 0.114-0.168 (midpoint
# 0.094 -> 0.09); then sheets 2-3 and 6-7: turnarounds 0.023-0.084, per-view folders 0.106-0.140, 16 of 16 right,
# the same closest pair as the full search (0.084 | 0.106) at 0.68x its renders (per-view folders 717 -> 491 a
# folder). Not kept: 1 sweep (0.36x): sheets 0-1, 4-5 separated widely (0.051 | 0.095, a bar at 0.073), but then
# turnaround 7 0.071 and per-view folder 7 0.083: 0.002 and 0.010 from it.
ONE_POSE_MEAN_GAIN = 0.09
# the check's search per freed view: at most this many of pattern_search's sweeps (None: until they fade, 3-7;
# the last of them moves little: ONE_POSE_MEAN_GAIN's note). Auto stops after the first where the views' mean
# gain is already above the bar (a gain only grows sweep by sweep: the same mode): session 16, 7 of the 8
# per-view benchmark folders, the check's renders ~490 -> ~260 a folder (docs/fit_sheet.md)
ONE_POSE_SWEEPS = 2
# Where auto falls back (the drawings not one pose), each view's separate fit starts its pose stage from the
# coarse stage's candidates, as ``--separate`` does. Measured and removed (session 16, docs/fit_sheet.md; the
# code in 377151b, removed in session 17): "check", the check's freed view as the only start (renders 1.05x
# --separate's, UDP error 0.0177 -> 0.0287 and 0.0197 -> 0.0231 on per-view folders 0-1, 4-5: the freed views'
# yaws are the joint fit's); "check_pose", each coarse start posed as the freed view (32 views 0.0227 -> 0.0203,
# median of sheets 2-3 0.0157 -> 0.0233, renders -4 %: an accuracy change with single views moving both ways).
# fit_joint(one_pose=...): no check, check and go on, check and stop when not one pose (return None), or then
# fit each view separately, from the coarse stage the joint fit ran, when they are not (auto)
ONE_POSE_MODES = ("off", "record", "stop", "separate", "only")
# where in ``joint_pose`` the check runs: after its first search (the pose alone at 16 degrees, the yaws
# held: "pose_only") or at its end ("joint_pose"); a probe may name both (SheetFitter.one_pose_at).
# "pose_only" would save the rest of joint_pose (830-1,080 renders a per-view folder) but does not tell
# the folders apart: session 17, per-view folder 2 gains 0.083 / 0.106 after one / two sweeps, turnaround
# 5 0.083 / 0.108 (docs/fit_sheet.md "Session 17: auto's time", fit_sheet_s17_autotime_probe_*.json)
ONE_POSE_POINTS = ("pose_only", "joint_pose")
ONE_POSE_AT = ("joint_pose",)
# Measured and not kept (session 14, docs/fit_sheet.md; the code in a8b84ed): the whole sheet turned by +-8
# degrees as two more starts after ``joint_legs`` (every yaw moved together, pose and cameras searched again
# at 8 degrees, the fit itself searched alike): 24 turnaround views 0.0137 -> 0.0135 UDP error, the unseen
# sheets 4-5 0.0149 -> 0.0151, at 1.1-1.35x the renders.
YAW_LINE_STEPS = 3
YAW_LINE_CAMERA_STEP = 0.0075  # scale (log) and offset (NDC) steps at each shift: the fine search's last
# Front views: labels (else the coarse camera's yaw) within this of 0 degrees, the only ones whose separate
# fit takes the limb starts (``front_view``, SEPARATE_LIMB_STARTS).
FRONT_LABEL_DEG = 30.0
FINE_WORK = 256  # side of the fine pose sweeps (thin limbs are a pixel or two wide at 128)
POSE_CANDIDATES = 2  # coarse fits (yaws >= 30 degrees apart) that get the separate fit's 128² pose search
# ... on front views (``front_view``, as the limb starts): every coarse fit (the coarse stage keeps up to 3).
# Session 14 (docs/fit_sheet.md): with 2 the front view s3v0 ended 34 degrees off (UDP error 0.0348): its
# coarse candidates at 31, -35 and 2 degrees (the truth -3), the third dropped, though its pose search ends
# lowest (0.205 against 0.251); 0.0157 with 3. On every view, 3 also sent the back view s4v3 21 degrees off
# (0.0117 -> 0.0282): from behind the cost ranked a wrong yaw's pose first, as with the limb starts.
FRONT_POSE_CANDIDATES = 3
# Weight of the colour-agreement term beside (1 - IoU): 0.25 let mirrored
# views win (a side view fitted from behind) on synthetic drawings, 1.0 did not.
COLOUR_WEIGHT = 1.0
# The legs swapped (each takes the other's turns) and searched again replace
# the fit when that lowers the cost by more than this: seen from the side or
# behind, which leg is in front barely changes the silhouette, and the local
# search cannot jump from one to the other. On the benchmark's views a swap
# that is right lowered the cost by 0.04 (and the UDP error from 0.028 to
# 0.011); a wrong one by 0.005 at most.
LEG_SWAP_MARGIN = 0.01
# The side views' orders (session 17, s17-side; docs/fit_sheet.md "Session 17: the side views"): seen from the
# side, the silhouette barely tells which leg or arm is the near one or swung forward, nor whether the view is
# turned 90+d or 90-d. After the fine steps a side view (label, else the fitted yaw, within SIDE_VIEW_DEG of 90 or
# 270) tries each of ``side_orders`` from the fit's end: ``legs`` (each leg takes the other's turns),
# ``arms`` (each arm the other's turns and lowering), ``legs_out`` (the upper legs' turns towards the camera
# turned away from it: foreshortened alike), ``yaw`` (the yaw mirrored about the side: 90 + d -> 90 - d,
# moment-matched), each with one level of the fine search (4-degree steps at 256²), the lowest taken where its
# cost at the fine size is below the fit's (SIDE_ORDER_MARGIN).
# On the benchmark's 8 per-view side views the drawing's own pose at its true yaw costs 0.01-0.12 less than
# the fit (the cost is right; the search ends in another basin); legs + arms, chosen on sheets 0-1 and 4-5:
# s4v2 0.0254 -> 0.0144 (arms), s5v2 0.0352 -> 0.0325 (legs), unseen s3v2 0.0442 -> 0.0355, the other 5 kept;
# 32 views' mean 0.0202 -> 0.0195, median 0.0150 -> 0.0148; 100-300 renders an order, legs + arms 258-392 on a
# side view (a 4-view sheet's separate fits 1.05-1.08x).
# ``yaw`` took unseen s6v2 0.0251 -> 0.0129 and moved no view of sheets 0-1, 4-5: measured, not on.
SIDE_ORDERS = ("legs", "arms", "legs_out", "yaw")
SEPARATE_SIDE_ORDERS: tuple[str, ...] = ("legs", "arms")
SIDE_VIEW_DEG = 30.0
SIDE_ORDER_MARGIN = 0.0  # any lower cost: an order gets one level of the fine search, the fit had two
# The same for the other views (front, 3/4, back): which of ``legs``, ``arms`` they try (() off). Session 17
# (the lead; docs "Session 17: the arms exchanged on every view"): the side probe had found a front and a back
# view whose exchanged arms cost less and fit better; "arms" on the per-view folders' separate fits, chosen on
# sheets 0-1 and 4-5 against the side orders alone: mean UDP error 0.0160 -> 0.0150 (median 0.0119 both; s0v3
# 0.0227 -> 0.0169, s4v0 0.0280 -> 0.0183, two views +0.0002-0.0004), unseen 2-3 and 6-7 0.0231 -> 0.0208
# (median 0.0155 -> 0.0150; back views s6v3 0.0545 -> 0.0239, s7v3 0.0156 -> 0.0099, none worse); renders
# 1.13-1.15x session 16's (the side orders alone 1.05-1.08x).
OTHER_VIEW_ORDERS: tuple[str, ...] = ("arms",)
OTHER_VIEW_ORDER_NAMES = ("legs", "arms")  # the orders that mean something seen from the front or back
# Colour channels of the residual warp (SDF pixels per unit colour): the toon
# colours against the drawn ones pull edges inside the silhouette (an arm over
# the body, the hair line, the skirt hem) where the outline alone cannot.
# Measured on the benchmark's 8 fitted views: mean UDP error 0.0222 (outline
# only) -> 0.0204 (gain 20), 0.0203 (40), 0.0202 (80); but the colours pull
# the outline off the drawn one (silhouette IoU after the warp 0.970 -> 0.954):
# WARP_OUTLINE_ITERATIONS steps on the outline alone afterwards put it back
# (0.970) and keep most of the gain (0.0209).
WARP_COLOUR_GAIN = 40.0
WARP_OUTLINE_ITERATIONS = 10
# The warp's pyramid (residual_warp's ``levels``): (size divisor, demons steps, Gaussian sigma in that
# level's pixels, SDF clip x the full-size clip), coarsest first. From 1/8 of the size (its clip twice
# the full-size one: the outline's pull reaches 40 px at 256²) a limb a few to ~20 px off is carried
# before the finer levels refine it; session 16 (docs/fit_sheet.md, benchmarks/fit_sheet_warp_probe.py)
# on main's fits of sheets 0-3 (32 views): mean UDP error after the warp 0.0182 -> 0.0180, median
# 0.0131 -> 0.0127 (before: half then full size, None); with WARP_UDP_BLEND 0.0177 (0.0125). Sigma 2 at the coarse levels, a larger clip at
# 1/4, a pyramid from 1/4 only measured no better. The fits' limbs are mostly 2-7 px off, inside flat
# colour regions that give the warp no cue: a small gain (docs: "Session 16: the residual warp").
WARP_LEVELS = ((8, 80, 1.0, 2.0), (4, 80, 1.0, 1.0), (2, 80, 1.0, 1.0), (1, 40, 2.0, 1.0))
# warp_udp's blend (surface coordinates, per axis): where the four pixels around a warped sample show
# one smooth piece of surface (a step under 0.02 between them: the rig's UDP changes ~0.005 a pixel
# at 256²), the bilinear sample rather than the nearest: nearest sampling alone leaves up to half a
# pixel's step of error everywhere. Session 16, with main's warp on sheets 0-3: per-view folders' mean
# UDP error -1.0 % (median -2.0 %), turnarounds' -2.0 % (-2.8 %).
WARP_UDP_BLEND = 0.02
# Part term: which colour region (hair, face, shirt, skirt, stockings, ...) lies
# where. The rig's own toon colours are clustered once per fitter
# (:class:`PartLabels`: k-means over rest-pose renders from PART_YAWS, a colour
# lookup table to the nearest cluster); every drawn pixel (once per drawing)
# and every pixel of a trial render (the search's own toon render, no extra
# draw) gets its cluster, and the cost adds the part weight x (1 - the IoU of
# the silhouettes counting only pixels whose clusters agree,
# :func:`part_label_iou`). Unlike the mean colour error on the overlap it
# counts a region drawn where the rig shows another (the face where the rig
# shows the back of the head, an arm in front of the body or behind it).
# Measured (docs/fit_sheet.md): in the joint fit (turnarounds, --joint) weight
# 0.5 lowered the mean UDP error 0.0175 -> 0.0145 (7 of 8 views better, none
# worse; 1.0: 0.0195); in the separate fit (drawings in their own poses) it
# helped the front and side views and sent a back view's legs crossed (0.5:
# 0.0194 -> 0.0207): on for the joint fit, off for the separate one.
PART_WEIGHT = 0.0  # the separate fit (SheetFitter.fit)
JOINT_PART_WEIGHT = 0.5  # the joint fit (SheetFitter.fit_joint)
# Other costs measured and dropped (docs/fit_sheet.md; in sheet_fit.py up to
# 23c4424): for thin limbs that miss, a chamfer shape term, a soft (blurred)
# IoU and either as a pose-only pre-pass; for the part term, the mean of the
# per-cluster IoUs and the clusters' centroid distances. Each made the mean
# UDP error worse.
PART_CLUSTERS = 12
PART_YAWS = (0.0, 90.0, 180.0, 270.0)
# A drawn pixel farther than this (RGB distance, 0..1 per channel) from every
# cluster (a blend of ink and colour at an edge, a colour the rig lacks) is
# left out of the part term rather than forced into a cluster.
PART_MAX_DISTANCE = 0.2
# Palette: a hand drawing has the artist's colours, not the rig's toon colours,
# and both the colour error and the part term compare colours. ``match`` moves
# each of the drawing's colour clusters onto the rig cluster it overlaps most
# (:func:`match_palette`: first against the rig at the view's label, rest
# pose, moment-matched, then again against the coarse camera fit, where it
# lies closer); ``keep`` compares the drawn colours as they are; ``auto``
# matches only drawings whose colours are mostly far from the rig's: fewer than
# PALETTE_NEAR_SHARE of the drawn pixels within PART_MAX_DISTANCE of a rig
# cluster (the benchmark's toon drawings: 0.87-0.95; the same recoloured by
# fit_drawings.recolour: 0.08-0.52; docs/fit_sheet.md).
PALETTE_MODES = ("auto", "keep", "match")
PALETTE = "auto"
PALETTE_NEAR_SHARE = 0.75
# The drawing's colours are clustered finer than the rig's (two drawn clusters
# may go to one rig cluster, so fewer drawn clusters straddle two regions):
# on the benchmark's 8 recoloured turnaround views the matched colours took the
# drawing's own part label on 0.79 of the pixels with 24, 0.78 with 12.
PALETTE_CLUSTERS = 24
# A search step is taken when it lowers the cost by more than this.
PATTERN_TOLERANCE = 1e-6


@dataclass
class FitParams:
    """What the fit moves. Angles in degrees; ``scale`` and ``offset`` act in
    clip space on top of the rest-pose framing (offset in NDC, +y up)."""

    yaw: float
    scale: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)
    arms_lowered: tuple[float, float] = (ARM_START_DEG, ARM_START_DEG)  # left, right, about the body's front axis
    turns: dict[str, float] = field(default_factory=dict)  # bone -> turn about the viewing axis
    # the yaw whose viewing axis the turns are about: None = ``yaw`` (a drawing's own
    # pose); a joint fit's shared pose is about the body's own axes (0, the front view)
    pose_yaw: float | None = None

    def vector(self, bones) -> np.ndarray:
        return np.array([*self.camera_vector(), *self.pose_vector(bones)], np.float64)

    def camera_vector(self) -> list[float]:
        return [self.yaw, math.log(self.scale), *self.offset]

    def pose_vector(self, bones) -> list[float]:
        return [*self.arms_lowered, *[self.turns.get(b, 0.0) for b in bones]]

    @classmethod
    def from_vector(cls, v, bones, pose_yaw: float | None = None) -> "FitParams":
        v = [float(x) for x in v]
        return cls(v[0], math.exp(v[1]), (v[2], v[3]), (v[4], v[5]), dict(zip(bones, v[6:])), pose_yaw)


@dataclass
class ViewFit:
    """One registered drawing."""

    name: str
    label_yaw: float | None
    params: FitParams
    camera: Camera  # at the output size
    pose: Pose
    udp: np.ndarray  # [S, S, 4] f32, every drawn pixel covered
    iou_initial: float  # labelled yaw (or the best coarse yaw), moment-matched scale and offset
    iou_coarse: float  # after the camera-only search
    iou_pose: float  # after the pose search: the rig alone, what the view file describes
    iou_warped: float  # after the residual warp (before the nearest fill)
    colour_error: float  # mean |toon - drawn| RGB on the overlap after the fit, 0..1
    residual_mean_px: float  # mean warp displacement on the drawn foreground, output pixels
    residual_max_px: float
    rig_mask: np.ndarray  # [S, S] bool, the fitted rig's silhouette (before the warp)
    palette_matched: bool = False  # the drawn colours were matched to the rig's (PALETTE)
    palette_near_share: float = 1.0  # share of the drawn pixels near a rig colour, as drawn
    seconds: float = 0.0
    # process CPU seconds of the fit (its GL threads included): on a loaded host the wall says little;
    # None in a joint fit, whose searches served every view at once
    cpu_seconds: float | None = None
    # where the time went: stage -> (seconds, toon renders); the stages of :meth:`SheetFitter.fit`
    stages: dict[str, tuple[float, int]] = field(default_factory=dict)

    @property
    def view_file_valid(self) -> bool:
        return self.residual_mean_px <= VIEW_FILE_MAX_RESIDUAL_PX * self.udp.shape[0] / 256

    def summary(self) -> dict:
        p = self.params
        return {
            "label_yaw": self.label_yaw, "yaw": round(p.yaw, 2), "scale": round(p.scale, 4),
            "offset_ndc": [round(x, 4) for x in p.offset],
            "pose_corrections_deg": {"leftArmLowered": round(p.arms_lowered[0], 2),
                                     "rightArmLowered": round(p.arms_lowered[1], 2),
                                     **{b: round(a, 2) for b, a in p.turns.items()}},
            "iou_initial": round(self.iou_initial, 4), "iou_coarse": round(self.iou_coarse, 4),
            "iou_pose": round(self.iou_pose, 4), "iou_warped": round(self.iou_warped, 4),
            "colour_error": round(self.colour_error, 4),
            "palette_matched": self.palette_matched, "palette_near_share": round(self.palette_near_share, 3),
            "residual_mean_px": round(self.residual_mean_px, 3), "residual_max_px": round(self.residual_max_px, 3),
            "seconds": round(self.seconds, 2),
            "cpu_s": None if self.cpu_seconds is None else round(self.cpu_seconds, 2),
            "stages": {k: {"s": round(t, 2), "renders": n} for k, (t, n) in self.stages.items()},
        }

    def stage_line(self) -> str:
        """One line of where the time went, for the terminal."""
        return ", ".join(f"{k} {t:.1f} s/{n} renders" for k, (t, n) in self.stages.items())


# ---------------------------------------------------------------------------
# drawings


def prepare_drawing(rgba: np.ndarray, name: str, size: int) -> np.ndarray:
    """Check one drawing and frame it as the runtime frames sheet views ->
    [size, size, 4] u8 straight RGBA. Named errors for an opaque background, a
    blank image or a character smaller than ``MIN_DRAWING_PX``."""
    img = check_sheet([rgba], [name])[0]  # RGBA with a transparent background, not blank
    ys, xs = np.nonzero(img[..., 3] >= 128)
    if len(ys) == 0:
        raise InputError(f"{name}: the drawing has no opaque pixels (alpha >= 128): nothing to fit")
    h, w = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
    if max(h, w) < MIN_DRAWING_PX:
        raise InputError(f"{name}: the drawn character is only {w}x{h} px; fit-sheet needs at least "
                         f"{MIN_DRAWING_PX} px on its longer side (draw or export it larger)")
    return fit_sheet([img], size)[0]


def label_from_name(stem: str) -> float | None:
    """A view's yaw from words in its file name (front 0, left 90, back 180,
    right -90), else None (searched all the way round)."""
    words = stem.lower().replace("-", "_").split("_")
    for word, yaw in (("front", 0.0), ("back", 180.0), ("left", 90.0), ("right", -90.0)):
        if word in words:
            return yaw
    return None


# ---------------------------------------------------------------------------
# image helpers (NumPy / SciPy)


def downsample_drawing(rgba: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """[S, S, 4] u8 -> (mask [n, n] bool, straight rgb [n, n, 3] f32) by area averaging."""
    f = rgba.astype(np.float32) / 255.0
    pm = np.concatenate([f[..., :3] * f[..., 3:], f[..., 3:]], -1)
    r = resize(pm, n, "smooth")
    a = r[..., 3]
    rgb = np.where(a[..., None] > 1e-4, r[..., :3] / np.maximum(a, 1e-4)[..., None], 0.0)
    return a >= 0.5, rgb.astype(np.float32)


def _yaw_gap(a: float, b: float) -> float:
    """Smallest angle in degrees between two yaws."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


class PartLabels:
    """Colour -> part label: the rig's toon colours clustered (k-means, fixed
    seed), then a 32^3 lookup table from quantised RGB to the nearest cluster
    (-2 where that is farther than ``max_distance``: no part)."""

    BINS = 32

    def __init__(self, colours: np.ndarray, clusters: int = PART_CLUSTERS, max_distance: float = PART_MAX_DISTANCE):
        from scipy.cluster.vq import kmeans2  # lazy: scipy only on this path

        colours = np.asarray(colours, np.float64).reshape(-1, 3)
        if len(colours) < clusters:
            raise InputError(f"the rig shows only {len(colours)} coloured pixels; the part term needs "
                             f"at least {clusters}")
        self.centres, _ = kmeans2(colours, clusters, minit="++", seed=0)
        self.clusters = len(self.centres)
        b = (np.arange(self.BINS) + 0.5) / self.BINS
        grid = np.stack(np.meshgrid(b, b, b, indexing="ij"), -1).reshape(-1, 3)
        d = np.linalg.norm(grid[:, None] - self.centres[None], axis=-1)
        near = d.argmin(1)
        near[d.min(1) > max_distance] = -2
        self.table = near.astype(np.int16)  # flat: index (r * BINS + g) * BINS + b

    def __call__(self, mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """[n, n] int16 labels: the cluster, -1 background, -2 no cluster near."""
        q = np.minimum(rgb * self.BINS, self.BINS - 1).astype(np.int32)
        out = self.table[q @ np.array([self.BINS * self.BINS, self.BINS, 1], np.int32)]
        out[~mask] = -1
        return out


@dataclass
class Palette:
    """Drawn colours -> the rig's (:func:`match_palette`): a pixel takes the
    shift of the drawing's colour cluster nearest to it, so the shading within
    a region is kept and its mean moves onto the rig's colour."""

    centres: np.ndarray  # [K, 3] the drawing's colour clusters
    shifts: np.ndarray  # [K, 3] added to the pixels of each

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        flat = rgb.reshape(-1, 3)
        nearest = np.empty(len(flat), np.int64)
        for i in range(0, len(flat), 1 << 16):  # bounded memory at any size
            d = ((flat[i:i + (1 << 16), None, :] - self.centres[None]) ** 2).sum(-1)
            nearest[i:i + (1 << 16)] = d.argmin(1)
        return np.clip(flat + self.shifts[nearest], 0.0, 1.0).astype(np.float32).reshape(rgb.shape)


def near_share(parts: PartLabels, mask: np.ndarray, rgb: np.ndarray) -> float:
    """Share of the drawn pixels whose colour lies within the part table's
    distance of a rig cluster (1: the rig's palette)."""
    return float((parts(mask, rgb)[mask] >= 0).mean()) if mask.any() else 0.0


def match_palette(views, parts: PartLabels) -> Palette:
    """The drawn colours of ``views`` ([(mask, rgb, rig_labels)] at a work
    size, ``rig_labels`` the rig roughly aligned with that drawing) clustered
    together (k-means, fixed seed), each cluster moved onto the rig cluster
    whose regions it overlaps most (Jaccard: a small drawn region, the eyes,
    is not taken by the large one around it); clusters that overlap none stay
    as drawn."""
    from scipy.cluster.vq import kmeans2  # lazy: scipy only on this path

    colours = np.concatenate([rgb[mask] for mask, rgb, _ in views]).astype(np.float64)
    rig = np.concatenate([labels[mask] for mask, _, labels in views])
    k = min(PALETTE_CLUSTERS, len(colours))
    centres, drawn = kmeans2(colours, k, minit="++", seed=0)
    on = rig >= 0
    co = np.zeros((k, parts.clusters))
    np.add.at(co, (drawn[on], rig[on]), 1.0)
    union = np.bincount(drawn, minlength=k)[:, None] + np.bincount(rig[on], minlength=parts.clusters)[None] - co
    jaccard = co / np.maximum(union, 1.0)
    best = jaccard.argmax(1)
    shifts = np.where((co.sum(1) > 0)[:, None], parts.centres[best] - centres, 0.0)
    return Palette(centres.astype(np.float32), shifts.astype(np.float32))


def part_label_iou(rig: np.ndarray, drawn: np.ndarray) -> float:
    """IoU of the silhouettes counting only pixels whose part labels agree
    (pixels without a cluster in the drawing left out)."""
    covered = rig >= 0
    # a drawn pixel with a cluster (>= 0) is kept; agreeing pixels are such pixels
    n = np.count_nonzero((covered & (drawn != -2)) | (drawn >= 0))
    return np.count_nonzero((rig == drawn) & covered) / n if n else 0.0


def _moments(mask: np.ndarray) -> tuple[float, np.ndarray]:
    """(area in pixels, centroid in NDC (x right, y up))."""
    ys, xs = np.nonzero(mask)
    n = mask.shape[0]
    if len(ys) == 0:
        return 0.0, np.zeros(2)
    return float(len(ys)), np.array([(xs.mean() + 0.5) / n * 2 - 1, 1 - (ys.mean() + 0.5) / n * 2])


def _signed_distance(mask: np.ndarray, clip: float) -> np.ndarray:
    """Signed distance to the silhouette edge (> 0 outside), clipped to ±clip pixels."""
    from scipy.ndimage import distance_transform_edt  # lazy: scipy only on this path

    d = distance_transform_edt(~mask) - distance_transform_edt(mask)
    return np.clip(d, -clip, clip).astype(np.float32)


def residual_warp(moving: np.ndarray, fixed: np.ndarray, iterations: int = 80, sigma: float = 2.0,
                  clip: float | None = None, moving_rgb: np.ndarray | None = None,
                  fixed_rgb: np.ndarray | None = None, colour_gain: float = 0.0,
                  outline_iterations: int = 0, levels=None) -> np.ndarray:
    """Dense displacement ``u`` [2, H, W] (dy, dx in pixels) such that the
    ``moving`` silhouette sampled at ``x + u(x)`` covers the ``fixed`` one:
    demons registration of the two clipped signed distance fields, the field
    smoothed with a Gaussian after every step so it stays a smooth,
    non-folding stretch. Coarse to fine: ``levels`` ((size divisor, steps,
    Gaussian sigma in that level's pixels, SDF clip as a multiple of the
    full-size clip scaled to the level), coarsest first; levels under 32 px
    are skipped); None: half size (``iterations`` steps, ``sigma``/2), then
    full size (``iterations``/2 steps, ``sigma``), as before session 16.

    With ``moving_rgb``/``fixed_rgb`` ([H, W, 3] 0..1, blurred here) and
    ``colour_gain`` > 0 the colours join the SDF as more channels (scaled by
    the gain, in SDF pixels per unit colour): edges inside the silhouette
    (an arm over the body, the hair line) pull too; ``outline_iterations``
    more steps on the SDF alone then bring the outline back onto the drawn
    one where the colours pulled it off."""
    from scipy.ndimage import gaussian_filter, zoom  # lazy: scipy only on this path

    h, w = fixed.shape
    clip = clip or max(8.0, 0.08 * h)
    use_colour = colour_gain > 0 and moving_rgb is not None and fixed_rgb is not None
    if levels is None:
        levels = ((2, iterations, sigma / 2, 1.0), (1, iterations // 2, sigma, 1.0))
    levels = [lv for lv in levels if lv[0] == 1 or min(h // lv[0], w // lv[0]) >= 32]

    def channels(mask, rgb, f, clp, colour):
        if f != 1:
            mask = zoom(mask.astype(np.float32), ((h // f) / h, (w // f) / w), order=1) >= 0.5
        out = [_signed_distance(mask, clp)]
        if colour:
            scale = 1.0 / f
            rgb = zoom(rgb, (scale, scale, 1), order=1) if f != 1 else rgb
            rgb = rgb[:mask.shape[0], :mask.shape[1]] * mask[..., None]
            out += [gaussian_filter(rgb[..., c], 1.5 * scale) * colour_gain * scale for c in range(3)]
        return np.stack(out).astype(np.float32)

    def run(f, u, iters, sig, clp, colour=use_colour):
        return demons_steps(channels(moving, moving_rgb, f, clp, colour), channels(fixed, fixed_rgb, f, clp, colour),
                            u, iters, sig)

    u, prev = None, None
    for f, iters, sig, clip_mult in levels:
        n = (h // f, w // f)
        if u is None:
            u = np.zeros((2, *n), np.float32)
        else:  # the coarser level's field, resized, in this level's pixels
            u = np.stack([zoom(c, (n[0] / c.shape[0], n[1] / c.shape[1]), order=1) for c in u]) * (prev / f)
            u = u[:, :n[0], :n[1]].astype(np.float32)
        u = run(f, u, iters, sig, clip * clip_mult / f)
        prev = f
    if use_colour and outline_iterations > 0:
        u = run(1, u, outline_iterations, levels[-1][2], clip, colour=False)
    return u


def demons_steps(moving: np.ndarray, fixed: np.ndarray, u: np.ndarray, steps: int, sigma: float) -> np.ndarray:
    """``steps`` demons steps on ``u`` [2, H, W] (in place, returned) taking the
    ``moving`` channels [C, H, W] sampled at ``x + u(x)`` towards the ``fixed``
    ones, the field smoothed with a Gaussian of ``sigma`` after every step.
    Thirion's demons: the force follows the *fixed* image's gradient, computed
    once; only the moving channels are resampled per step (the moving
    gradients cost 2 resamplings per channel and step and fit no better)."""
    from scipy.ndimage import gaussian_filter  # lazy: scipy only on this path

    g = np.stack([np.stack(np.gradient(c)) for c in fixed])  # [C, 2, H, W]
    gg = (g * g).sum((0, 1))
    grid = np.mgrid[0:fixed.shape[1], 0:fixed.shape[2]].astype(np.float32)
    for _ in range(steps):
        diff = _bilinear(moving, grid + u) - fixed  # [C, H, W]
        num = (diff[:, None] * g).sum(0)  # [2, H, W]
        denom = gg + (diff * diff).sum(0)
        denom[denom < 1e-6] = np.inf
        u -= num / denom
        u[0], u[1] = gaussian_filter(u[0], sigma), gaussian_filter(u[1], sigma)
    return u


def _bilinear(channels: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """``channels`` [C, H, W] f32 sampled at ``coords`` [2, H, W] (y, x in
    pixels), bilinear, coordinates clamped to the image: scipy's
    ``map_coordinates(order=1, mode="nearest")`` per channel, to float
    rounding, in 0.6x its CPU at 256² (the corners' indices and weights
    worked out once for all channels, each corner one row gather)."""
    c, h, w = channels.shape
    y = np.clip(coords[0], 0, h - 1).ravel()
    x = np.clip(coords[1], 0, w - 1).ravel()
    y0 = np.minimum(y.astype(np.int32), h - 2)  # y >= 0: truncation is floor; the last row and column
    x0 = np.minimum(x.astype(np.int32), w - 2)  # interpolate from the one before at weight 1
    fy, fx = (y - y0).astype(np.float32)[:, None], (x - x0).astype(np.float32)[:, None]
    i00 = y0 * w + x0
    flat = np.ascontiguousarray(channels.reshape(c, -1).T)  # [H*W, C]: a corner's channels side by side
    a, b = np.take(flat, i00, 0), np.take(flat, i00 + 1, 0)
    top = a + (b - a) * fx
    a, b = np.take(flat, i00 + w, 0), np.take(flat, i00 + w + 1, 0)
    bottom = a + (b - a) * fx
    return (top + (bottom - top) * fy).T.reshape(c, h, w)


def warp_udp(udp: np.ndarray, u: np.ndarray, drawn: np.ndarray, blend: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Sample the rig's UDP at ``x + u(x)`` -> (UDP covering exactly ``drawn``
    [H, W] bool, the rig's silhouette after the warp). Nearest, except with
    ``blend`` > 0 where the four pixels around ``x + u(x)`` are all covered and
    their surface coordinates lie within ``blend`` of each other (per axis):
    there one smooth piece of surface is seen, and the bilinear sample is the
    point between them; across a part's edge (an arm over the body) surface
    coordinates are never blended. Drawn pixels the warped silhouette misses
    take the UDP of the nearest covered drawn pixel."""
    from scipy.ndimage import distance_transform_edt  # lazy: scipy only on this path

    h, w = drawn.shape
    yy, xx = np.mgrid[0:h, 0:w]
    iy = np.clip(np.rint(yy + u[0]).astype(np.int64), 0, h - 1)
    ix = np.clip(np.rint(xx + u[1]).astype(np.int64), 0, w - 1)
    warped = udp[iy, ix]
    hit = (warped[..., 3] > 0) & drawn
    if blend > 0 and hit.any():
        y = np.clip(yy + u[0], 0, h - 1)
        x = np.clip(xx + u[1], 0, w - 1)
        y0 = np.minimum(y.astype(np.int64), h - 2)  # as _bilinear: y >= 0, truncation is floor
        x0 = np.minimum(x.astype(np.int64), w - 2)
        corners = np.stack([udp[y0, x0], udp[y0, x0 + 1], udp[y0 + 1, x0], udp[y0 + 1, x0 + 1]])  # [4, H, W, 4]
        smooth = (corners[..., 3] > 0).all(0)
        smooth &= (corners[..., :3].max(0) - corners[..., :3].min(0)).max(-1) <= blend
        smooth &= hit
        if smooth.any():
            coords = np.stack([y, x]).astype(np.float32)
            sampled = _bilinear(np.ascontiguousarray(np.moveaxis(udp[..., :3], -1, 0)), coords)
            warped[smooth, :3] = np.moveaxis(sampled, 0, -1)[smooth]
    out = np.zeros_like(udp)
    if not hit.any():
        return out, warped[..., 3] > 0
    _, (ny, nx) = distance_transform_edt(~hit, return_indices=True)
    filled = warped[ny, nx]
    out[drawn, :3] = filled[drawn, :3]
    out[drawn, 3] = 1.0
    return out, warped[..., 3] > 0


# ---------------------------------------------------------------------------
# the fitter


class SheetFitter:
    """Registers drawings of one character: ``fit(drawing, label_yaw) -> ViewFit``.

    ``size``: the output frame (drawings are framed to it); ``work``: the side
    the searches render at (silhouettes and toon colours)."""

    def __init__(self, ctx, character: Character, size: int = 256, work: int = 128,
                 colour_weight: float = COLOUR_WEIGHT, part_weight: float = PART_WEIGHT,
                 joint_part_weight: float = JOINT_PART_WEIGHT,
                 joint_fine_levels: int = JOINT_FINE_LEVELS, palette: str = PALETTE,
                 joint_min_gain: float = JOINT_MIN_GAIN, limb_starts=SEPARATE_LIMB_STARTS,
                 joint_yaw_line: float = JOINT_YAW_LINE_DEG, look: str = FIT_LOOK,
                 front_pose_candidates: int = FRONT_POSE_CANDIDATES, fine_restart: str = FINE_RESTART,
                 fine_restart_work: int = FINE_RESTART_WORK, side_orders=SEPARATE_SIDE_ORDERS,
                 other_orders=OTHER_VIEW_ORDERS):
        if size < MIN_DRAWING_PX:
            raise ConfigError(f"--size must be at least {MIN_DRAWING_PX}, got {size}")
        if not 32 <= work <= size:
            raise ConfigError(f"the work resolution must be within 32..{size}, got {work}")
        self.character = character
        self.size, self.work = int(size), int(work)
        self.colour_weight = float(colour_weight)
        for w in (part_weight, joint_part_weight):
            if not (math.isfinite(w) and w >= 0):
                raise ConfigError(f"the part weight must be a finite number >= 0, got {w}")
        self.part_weight = float(part_weight)
        self.joint_part_weight = float(joint_part_weight)
        if joint_fine_levels not in (1, 2, 3):
            raise ConfigError(f"joint fine levels: choose 1, 2 or 3 (4, 2, 1 degree steps), got {joint_fine_levels}")
        self.joint_fine_levels = int(joint_fine_levels)
        if not (math.isfinite(joint_min_gain) and joint_min_gain >= 0):
            raise ConfigError(f"the joint search's minimum gain must be a finite number >= 0, got {joint_min_gain}")
        self.joint_min_gain = float(joint_min_gain)
        self.limb_starts = names_once(limb_starts, tuple(LIMB_STARTS), "limb starts")
        if not (math.isfinite(joint_yaw_line) and 0 <= joint_yaw_line <= 10):
            raise ConfigError(f"the joint yaw line's step must be 0 (off) to 10 degrees, got {joint_yaw_line}")
        self.joint_yaw_line = float(joint_yaw_line)
        if front_pose_candidates not in (1, 2, 3):
            raise ConfigError(f"front views' pose candidates: choose 1, 2 or 3 (of the coarse stage's 3), "
                              f"got {front_pose_candidates}")
        self.front_pose_candidates = int(front_pose_candidates)
        if fine_restart not in FINE_RESTART_MODES:
            raise ConfigError(f"fine restart {fine_restart!r}: choose one of {', '.join(FINE_RESTART_MODES)}")
        self.fine_restart = fine_restart
        self.fine_restart_deg, self.fine_restart_levels = FINE_RESTART_DEG, FINE_RESTART_LEVELS
        self.fine_restart_margin = FINE_RESTART_MARGIN
        self.side_orders = names_once(side_orders, SIDE_ORDERS, "side orders")
        self.other_orders = names_once(other_orders, OTHER_VIEW_ORDER_NAMES, "other views' orders")
        if palette not in PALETTE_MODES:
            raise ConfigError(f"palette {palette!r}: choose one of {', '.join(PALETTE_MODES)}")
        self.palette = palette
        self._parts: PartLabels | None = None  # the rig's colour clusters, on first use
        self._drawn_parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(drawn rgb) -> (rgb, labels)
        self.bones = [b for b in POSE_BONES if b in character.humanoid]
        self.bones += [f"{b}:out" for b in OUT_OF_PLANE_BONES if b in character.humanoid]
        self.joint_bones = [f"{b}:{a}" for b, axes in JOINT_TURNS if b in character.humanoid for a in axes]
        self._arms = [b for b in ("leftUpperArm", "rightUpperArm") if b in character.humanoid]
        # the searches at ``work``, the last (fine-step) pose sweeps at ``fine``
        self.fine = min(self.size, FINE_WORK)
        if fine_restart_work < 32:
            raise ConfigError(f"the fine restarts' work resolution must be at least 32 (at most the fine size, "
                              f"{self.fine}, is used), got {fine_restart_work}")
        self.fine_restart_work = min(int(fine_restart_work), self.fine)
        # skin_once: a pose trial is drawn from every camera of a sweep or view of a joint fit, skinned once
        # FIT_INK: every part and crease line, as an artist inks them (the toon pass's default since
        # session 10 drops those its frame does not resolve; the fit's colour and part terms match
        # a drawing's inner lines at the small work sizes)
        self.look = look
        ink = fit_style(look)
        sizes = {self.work, self.fine, self.size} | ({self.fine_restart_work} if fine_restart != "off" else set())
        self._toons = {n: ToonPass(ctx, n, n, ink, skin_once=True) for n in sizes}
        self._udp = UdpPass(ctx, self.size, self.size)
        for toon in self._toons.values():
            toon.set_character(character)
        self._udp.set_character(character)
        self._base: dict[float, Camera] = {}
        self._poses: dict[tuple, Pose] = {}  # FitParams' pose part -> Pose (:meth:`pose`)
        self._views: dict[int, dict] = {}  # a joint fit's views rendered here (view_setup)
        self._search_id = 0  # which joint search a view's cached costs belong to
        self.one_pose_check: dict | None = None  # the last fit_joint's one-pose check (ONE_POSE_MEAN_GAIN)
        self.one_pose_checks: dict[str, dict] = {}  # ... at each point it ran (ONE_POSE_POINTS)
        self.one_pose_at = ONE_POSE_AT
        self.one_pose_bar = ONE_POSE_MEAN_GAIN
        self.one_pose_sweeps = ONE_POSE_SWEEPS
        self.warp_levels = WARP_LEVELS  # the residual warp's pyramid (None: before session 16's, half then full)
        self.warp_udp_blend = WARP_UDP_BLEND  # 0: nearest only (before session 16)
        self.evaluations = 0

    def cost_settings(self) -> dict:
        """The cost's settings (constructor arguments), for a worker's fitter to score alike."""
        return {"colour_weight": self.colour_weight, "part_weight": self.part_weight,
                "joint_part_weight": self.joint_part_weight, "palette": self.palette, "look": self.look,
                "fine_restart": self.fine_restart, "fine_restart_work": self.fine_restart_work}

    def close(self) -> None:
        for toon in self._toons.values():
            toon.release()
        self._udp.release()

    def __enter__(self) -> "SheetFitter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- model -------------------------------------------------------------
    def camera(self, p: FitParams, n: int) -> Camera:
        """The orbit camera of ``p.yaw`` framing the rest pose, then ``p.scale``
        and ``p.offset`` in clip space, at ``n`` x ``n`` pixels."""
        key = round(p.yaw, 6)
        base = self._base.get(key)
        if base is None:
            base = frame_character(self.character.mesh.positions, yaw=p.yaw, size=self.size, margin=SHEET_MARGIN)
            if len(self._base) > 512:
                self._base.clear()
            self._base[key] = base
        s, (tx, ty) = p.scale, p.offset
        similarity = np.array([[s, 0, 0, tx], [0, s, 0, ty], [0, 0, 1, 0], [0, 0, 0, 1]])
        proj = (similarity @ base.proj.astype(np.float64)).astype(np.float32)
        return Camera(view=base.view.copy(), proj=proj, width=n, height=n)

    def pose(self, p: FitParams) -> Pose:
        """Rest pose, arms lowered by ``p.arms_lowered`` about the body's front
        axis, then each bone of ``p.turns`` turned about the viewing axis
        (children follow their parents); ``bone:out`` towards / away from the
        camera, ``bone:x`` (``y``, ``z``) about the body's own axis."""
        # the views of a joint fit and a camera-only trial pose the rig alike: posed once
        key = (p.yaw if p.pose_yaw is None else p.pose_yaw, *p.arms_lowered, *sorted(p.turns.items()))
        pose = self._poses.get(key)
        if pose is None:
            if len(self._poses) > 64:
                self._poses.clear()
            pose = self._poses[key] = self._pose(p)
        return pose

    def _pose(self, p: FitParams) -> Pose:
        skel = self.character.skeleton
        human = self.character.humanoid
        view_axis = orbit_direction(p.yaw if p.pose_yaw is None else p.pose_yaw, 0.0)
        right_axis = np.cross((0.0, 1.0, 0.0), view_axis)  # the picture's horizontal axis
        world_turns: dict[int, np.ndarray] = {}
        for bone, lowered, sign in zip(("leftUpperArm", "rightUpperArm"), p.arms_lowered, (-1.0, 1.0)):
            if bone in human:  # the left arm points +X in the T-pose: a turn about -Z lowers it
                world_turns[human[bone]] = rotation_matrix((0, 0, 1), sign * math.radians(lowered)).astype(np.float64)
        for key, angle in p.turns.items():
            bone, _, out = key.partition(":")
            if bone in human and angle:
                j = human[bone]
                if out in BODY_AXES:
                    axis = BODY_AXES[out]
                else:
                    axis = view_axis if not out else right_axis if "Leg" in bone else (0.0, 1.0, 0.0)
                turn = rotation_matrix(axis, math.radians(angle)).astype(np.float64)
                world_turns[j] = turn @ world_turns.get(j, np.eye(3))
        local = skel.rest_local.astype(np.float64).copy()
        world = np.empty_like(local)
        for j, parent in enumerate(skel.parents):
            if j in world_turns:
                # Turn the joint in character space: local' = local @ A^-1 W A, with A
                # its world rotation before the turn (scale stripped).
                a = (world[parent] @ local[j])[:3, :3] if parent >= 0 else local[j, :3, :3]
                uu, _, vt = np.linalg.svd(a)
                a = uu @ vt
                local[j, :3, :3] = local[j, :3, :3] @ (a.T @ world_turns[j] @ a)
            world[j] = local[j] if parent < 0 else world[parent] @ local[j]
        return Pose(joint_world=forward_kinematics(skel.parents, local.astype(np.float32)))

    def render_toon(self, p: FitParams, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(mask [n, n] bool, rgb [n, n, 3] f32 0..1) of the rig under ``p``; ``n``: work or fine size."""
        n = n or self.work
        rgba = self._toons[n].run(self.pose(p), self.camera(p, n))
        self.evaluations += 1
        return rgba[..., 3] > 0, rgba[..., :3].astype(np.float32) / 255.0

    def render_udp(self, p: FitParams) -> np.ndarray:
        """[size, size, 4] f32: the rig's UDP under ``p`` at the output size."""
        return self._udp.run(self.pose(p), self.camera(p, self.size)).data

    # -- scoring -----------------------------------------------------------
    def _cost(self, p: FitParams, target_mask, target_rgb) -> tuple[float, float, float]:
        """(cost, IoU, colour error) of ``p`` against the drawing at work size:
        1 - IoU + colour weight x colour error (+ part weight x (1 - part IoU))."""
        mask, rgb = self.render_toon(p, target_mask.shape[0])
        score = iou(mask, target_mask)
        both = mask & target_mask
        colour = float(np.abs(rgb[both] - target_rgb[both]).mean()) if both.any() else 1.0
        cost = (1.0 - score) + self.colour_weight * colour
        if self.part_weight:
            rl, dl = self.part_labels()(mask, rgb), self._drawn_labels(target_mask, target_rgb)
            cost += self.part_weight * (1.0 - part_label_iou(rl, dl))
        return cost, score, colour

    def part_labels(self) -> PartLabels:
        """The rig's colour clusters (:class:`PartLabels`), from rest-pose toon
        renders at ``PART_YAWS`` (arms half lowered), once per fitter."""
        if self._parts is None:
            colours = []
            for yaw in PART_YAWS:
                mask, rgb = self.render_toon(FitParams(yaw))
                colours.append(rgb[mask])
            self._parts = PartLabels(np.concatenate(colours))
        return self._parts

    def _drawn_labels(self, mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """The drawing's part labels at a work size, once per drawing and size."""
        hit = self._drawn_parts.get(id(rgb))
        if hit is None or hit[0] is not rgb:
            if len(self._drawn_parts) > 16:
                self._drawn_parts.clear()
            hit = self._drawn_parts[id(rgb)] = (rgb, self.part_labels()(mask, rgb))
        return hit[1]

    def _palette(self, target, label_yaw: float | None) -> tuple[float, Palette | None]:
        """(share of the drawn pixels near a rig colour, the palette match or
        None) for a drawing's work-size ``target``, as ``self.palette`` says;
        the match against the rig at the label (0 without one: a front view),
        rest pose, moment-matched."""
        if self.palette == "keep":
            return 1.0, None
        parts = self.part_labels()
        share = near_share(parts, *target)
        if self.palette == "auto" and share >= PALETTE_NEAR_SHARE:
            return share, None
        ref = FitParams(0.0 if label_yaw is None else float(label_yaw))
        ref = self.moment_match(self.moment_match(ref, target[0]), target[0])
        return share, match_palette([(*target, parts(*self.render_toon(ref)))], parts)

    def moment_match(self, p: FitParams, target_mask) -> FitParams:
        """Scale and offset that give the rig's silhouette the drawing's area and centroid."""
        mask, _ = self.render_toon(p)
        area_r, c_r = _moments(mask)
        area_d, c_d = _moments(target_mask)
        if area_r == 0:
            return p
        s = p.scale * math.sqrt(area_d / area_r)
        # ndc' = k ndc + t with k = s / p.scale about the current framing
        k = s / p.scale
        t = c_d - k * (c_r - np.asarray(p.offset)) + 0.0
        return FitParams(p.yaw, s, (float(t[0]), float(t[1])), p.arms_lowered, dict(p.turns), p.pose_yaw)

    def _best_arms(self, p: FitParams, target) -> FitParams:
        """``p`` with both arms lowered by the best of ``ARM_GRID_DEG`` (moment-matched
        again): the pose search turns bones one at a time and would otherwise
        bend the forearms before it lowers the upper arms."""
        if not self._arms:
            return p
        best = None
        for angle in ARM_GRID_DEG:
            q = self.moment_match(FitParams(p.yaw, p.scale, p.offset, (angle, angle), dict(p.turns), p.pose_yaw),
                                  target[0])
            c = self._cost(q, *target)[0]
            if best is None or c < best[0]:
                best = (c, q)
        return best[1]

    def _search(self, p: FitParams, target, steps: np.ndarray, free: np.ndarray, bounds, levels: int = 4,
                min_gain: float = 0.0):
        """:func:`pattern_search` over ``p``'s camera and pose against one drawing."""
        return self._search_bones(p, target, steps, free, bounds, self.bones, levels, min_gain)

    def _search_bones(self, p: FitParams, target, steps, free, bounds, bones, levels: int, min_gain: float = 0.0):
        """:meth:`_search` with the turns of ``bones``."""
        seen: dict[bytes, tuple[float, float, float]] = {}  # a sweep often tries a point again

        def cost(v):
            key = np.round(v, 6).tobytes()
            if key not in seen:
                seen[key] = self._cost(FitParams.from_vector(v, bones, p.pose_yaw), *target)
            return seen[key]

        x, (best, score, colour) = pattern_search(p.vector(bones), cost, steps, free, bounds, levels, min_gain)
        return FitParams.from_vector(x, bones, p.pose_yaw), best, score, colour

    def _limb_start(self, p: FitParams, name: str, target) -> FitParams:
        """``p`` with the turns of ``LIMB_STARTS[name]`` (for the bones this rig has), moment-matched."""
        turns = {**p.turns, **{b: a for b, a in LIMB_STARTS[name].items() if b in self.bones}}
        return self.moment_match(FitParams(p.yaw, p.scale, p.offset, p.arms_lowered, turns, p.pose_yaw), target[0])

    @staticmethod
    def _leg_indices(bones) -> list[int]:
        """Positions of the legs' turns in :meth:`FitParams.pose_vector` (after the 2 arm angles)."""
        return [2 + i for i, b in enumerate(bones) if "Leg" in b]

    @staticmethod
    def _swap_legs(turns: dict[str, float]) -> dict[str, float]:
        """``turns`` with the legs' turns swapped: each leg takes the other's;
        about the body's axes mirrored (left-right: the turns about y and z
        change sign), about the viewing axis as they are (seen from the side,
        that puts the other leg in front)."""
        return SheetFitter._swap_sides(turns, "Leg")

    def _try_swapped_legs(self, p: FitParams, target, steps: np.ndarray, bounds) -> FitParams:
        """``p`` with the legs and the camera searched again, or, if clearly
        better (``LEG_SWAP_MARGIN``), the same from ``p`` with the legs' turns swapped."""
        legs = self._leg_indices(self.bones)
        if not legs:
            return p
        swapped = self._side_order(p, "legs")
        free = np.zeros(6 + len(self.bones), bool)
        free[:4] = True
        free[[4 + i for i in legs]] = True
        # both get the same legs-and-camera search, so neither wins by having been searched longer
        p, cost = self._search(p, target, steps / 2, free, bounds, levels=1)[:2]
        q, q_cost = self._search(swapped, target, steps / 2, free, bounds, levels=1)[:2]
        return q if q_cost < cost - LEG_SWAP_MARGIN else p

    @staticmethod
    def _swap_sides(turns: dict[str, float], limb: str) -> dict[str, float]:
        """``turns`` with the ``limb`` (``Leg``, ``Arm``) turns of the left and right side exchanged; about the
        body's axes mirrored left-right (the turns about y and z change sign), about the viewing axis as they are."""
        out = {k: v for k, v in turns.items() if limb not in k}
        for key, angle in turns.items():
            if limb in key:
                other = key.replace("left", "RIGHT").replace("right", "left").replace("RIGHT", "right")
                out[other] = -angle if key.endswith((":y", ":z")) else angle
        return out

    def _side_order(self, p: FitParams, order: str) -> FitParams:
        """``p`` in the other ``order`` (``SIDE_ORDERS``) a side view cannot tell from its own: ``legs`` or
        ``arms`` exchanged (the arms with their lowering), or ``yaw`` mirrored about the side (90 or 270
        degrees, as ``p.yaw`` is written) nearest to it: 90 + d -> 90 - d. No render."""
        if order == "legs":
            return FitParams(p.yaw, p.scale, p.offset, p.arms_lowered, self._swap_sides(p.turns, "Leg"), p.pose_yaw)
        if order == "arms":
            return FitParams(p.yaw, p.scale, p.offset, p.arms_lowered[::-1], self._swap_sides(p.turns, "Arm"),
                             p.pose_yaw)
        if order == "legs_out":  # a leg turned towards the camera or as far away is foreshortened alike
            turns = {k: -v if "Leg:out" in k else v for k, v in p.turns.items()}
            return FitParams(p.yaw, p.scale, p.offset, p.arms_lowered, turns, p.pose_yaw)
        if order == "yaw":
            side = 90.0 + 180.0 * round((p.yaw - 90.0) / 180.0)
            return FitParams(2.0 * side - p.yaw, p.scale, p.offset, p.arms_lowered, dict(p.turns), p.pose_yaw)
        raise ConfigError(f"side order {order!r}: choose one of {', '.join(SIDE_ORDERS)}")

    # -- the fit -------------------------------------------------------------
    def _coarse(self, drawing: np.ndarray, name: str, label_yaw: float | None, clock: "_Clock") -> "_Coarse":
        """Step 1 for one framed drawing: candidate yaws, each moment-matched
        and scored, the best few (>= 30 degrees apart) with an arm grid and a
        camera search (rest pose, arms lowered) -> the candidates, best first."""
        if drawing.shape != (self.size, self.size, 4):
            raise InputError(f"{name}: expected a framed {self.size}x{self.size} RGBA drawing, got {drawing.shape}")
        target = downsample_drawing(drawing, self.work)
        if not target[0].any():
            raise InputError(f"{name}: the drawing has no opaque pixels at {self.work} px")
        as_drawn = target
        share, palette = self._palette(target, label_yaw)
        if palette is not None:
            target = (target[0], palette(target[1]))
        nb = len(self.bones)
        if label_yaw is None:
            yaws = np.arange(0.0, 360.0, 15.0)
        else:
            yaws = label_yaw + np.arange(-30.0, 30.1, 7.5)
        scored = []
        for yaw in yaws:
            p = self.moment_match(FitParams(float(yaw)), target[0])
            p = self.moment_match(p, target[0])  # the area depends on the scale: once more
            scored.append((self._cost(p, *target), p))
        if label_yaw is not None:
            at_label = min(scored, key=lambda s: abs(s[1].yaw - label_yaw))
            iou_initial = at_label[0][1]
        scored.sort(key=lambda s: s[0][0])
        if label_yaw is None:
            iou_initial = scored[0][0][1]
        # the best few yaws that differ by >= 30 degrees (a poorly posed rig can
        # prefer a wrong yaw; the pose search settles it)
        distinct: list[FitParams] = []
        for _, p in scored:
            if all(_yaw_gap(p.yaw, q.yaw) >= 30.0 for q in distinct):
                distinct.append(p)
        free_cam = np.zeros(6 + nb, bool)
        free_cam[:4] = True
        cam_steps = np.array([8.0, 0.04, 0.04, 0.04, 10.0, 10.0] + [10.0] * nb)
        starts = [self._best_arms(p, target) for p in distinct[:3]]
        clock.stage("yaws")
        found = _Coarse(target, [], float(iou_initial), 0.0, label_yaw, nb, palette, share)
        coarse = sorted((self._search(p, target, cam_steps, free_cam, found.bounds(p), levels=3)
                         for p in starts), key=lambda c: c[1])
        if palette is not None:  # matched again where the rig now lies closer to the drawing
            found.match_view = (*as_drawn, self.part_labels()(*self.render_toon(coarse[0][0])))
            found.rematch(match_palette([found.match_view], self.part_labels()))
        clock.stage("camera")
        found.candidates, found.iou_coarse = coarse, float(coarse[0][2])
        return found

    def fit(self, drawing: np.ndarray, name: str = "view", label_yaw: float | None = None, trace=None) -> ViewFit:
        """Register one framed drawing ([size, size, 4] u8 from :func:`prepare_drawing`)
        in its own pose (turns about its viewing axis). ``trace(stage, [FitParams])``
        after each stage, as :meth:`fit_joint`."""
        clock = _Clock(self)
        coarse = self._coarse(drawing, name, label_yaw, clock)
        return self._fit_from_coarse(coarse, drawing, name, label_yaw, clock, trace)

    def _fit_from_coarse(self, coarse: "_Coarse", drawing: np.ndarray, name: str, label_yaw: float | None,
                         clock: "_Clock", trace=None) -> ViewFit:
        """:meth:`fit`'s steps after the coarse stage, from ``coarse`` (its own, or the same stage a
        joint fit ran before auto fell back: :meth:`view_fit_separate`)."""
        trace = trace or (lambda stage, params: None)
        trace("camera", [coarse.candidates[0][0]])
        target, bounds, nb = coarse.target, coarse.bounds, len(self.bones)

        # 2. pose: camera, arms lowered and bone turns together. The coarse
        # ranking is not reliable (a badly posed rig prefers a wrong yaw), so
        # each candidate gets the coarse steps of the search and the best one
        # the fine steps.
        free_all = np.ones(6 + nb, bool)
        if not self._arms:
            free_all[4:6] = False
        steps = rough_steps(nb)
        # front views (the label, else the best coarse camera) get more starts: every coarse candidate
        # (FRONT_POSE_CANDIDATES) and the limb starts; from the side the two strides are one silhouette with
        # the legs exchanged, from behind a start won at a wrong yaw (SEPARATE_LIMB_STARTS)
        facing = label_yaw if label_yaw is not None else coarse.candidates[0][0].yaw
        n_starts = self.front_pose_candidates if front_view(facing) else POSE_CANDIDATES
        starts = [q for q, *_ in coarse.candidates[:n_starts]]
        rough = [self._search(q, target, steps, free_all, bounds(q), levels=2) for q in starts]
        p, cost = min(rough, key=lambda c: c[1])[:2]
        limbs = [self._search(q, target, steps, free_all, bounds(q), levels=2)
                 for q in (self._limb_start(starts[0], name, target)
                           for name in (self.limb_starts if front_view(facing) else ()))]
        if limbs and min(c[1] for c in limbs) < cost - LEG_SWAP_MARGIN:  # clearly better, as the leg swap
            p = min(limbs, key=lambda c: c[1])[0]
        clock.stage("pose")
        trace("pose", [p])
        p = self._try_swapped_legs(p, target, steps, bounds(p))
        clock.stage("legs")
        trace("legs", [p])
        fine = coarse.drawn(drawing, self.fine) if self.fine != self.work else target
        p, cost = self._search(p, fine, steps / 4, free_all, bounds(p), levels=SEPARATE_FINE_LEVELS)[:2]
        clock.stage("pose_fine")
        trace("pose_fine", [p])
        if self.fine_restart != "off":
            p, cost = self._fine_restarts(p, cost, coarse, drawing, fine, steps, free_all)[:2]
            clock.stage("fine_restart")
            trace("fine_restart", [p])
        orders = self.side_orders if side_view(p.yaw if label_yaw is None else label_yaw) else self.other_orders
        if orders:
            p = self._try_side_orders(p, cost, fine, steps, free_all, coarse, orders)[0]
            clock.stage("side_orders")
            trace("side_orders", [p])
        return self._finish(p, drawing, name, label_yaw, coarse, clock)

    def _fine_restarts(self, p: FitParams, cost: float, coarse: "_Coarse", drawing: np.ndarray, fine, steps,
                       free_all) -> tuple[FitParams, float, list]:
        """``FINE_RESTART``'s restarts from the fit's end ``p`` (its cost ``cost`` at the fine size, ``fine``
        the drawing there): the yaw turned by ``fine_restart_deg`` towards the label (an unlabelled view: each
        way), the pose searched with the yaw held, then all of it at the fine steps -> (the restart whose
        fine cost is lower than ``cost`` by more than
        ``fine_restart_margin``, the lowest, else ``p``; its fine cost; per turn searched at the fine steps
        (restart, its fine cost, the cost after the held-yaw search at the work size, the fine
        search's renders))."""
        bounds = coarse.bounds
        n = self.fine_restart_work
        search_at = fine if n == self.fine else coarse.drawn(drawing, n)
        turns = (-self.fine_restart_deg, self.fine_restart_deg)
        if coarse.label_yaw is not None:
            towards = (coarse.label_yaw - p.yaw + 180.0) % 360.0 - 180.0
            turns = (math.copysign(self.fine_restart_deg, towards),)
        starts = []
        for turn in turns:
            lo, hi = bounds(p)
            yaw = float(np.clip(p.yaw + turn, lo[0], hi[0]))
            q = FitParams(yaw, p.scale, p.offset, p.arms_lowered, dict(p.turns), p.pose_yaw)
            q = self.moment_match(q, coarse.target[0])
            held = free_all.copy()  # the limbs settled for this yaw first, as the rough stage's second level
            held[0] = False
            q, held_cost = self._search(q, coarse.target, steps / 2, held, bounds(q), levels=1)[:2]
            starts.append((q, held_cost))
        tried = []
        for q, held_cost in starts:
            before = self.evaluations
            q, q_cost = self._search(q, search_at, steps / 4, free_all, bounds(q), levels=self.fine_restart_levels)[:2]
            if n != self.fine:  # the choice at the fine size
                q_cost = self._cost(q, *fine)[0]
            tried.append((q, float(q_cost), held_cost, self.evaluations - before))
        best, best_cost = min(tried, key=lambda t: t[1])[:2]
        if best_cost < cost - self.fine_restart_margin:
            return best, best_cost, tried
        return p, cost, tried

    def _side_order_search(self, p: FitParams, order: str, fine, steps, free_all,
                           coarse: "_Coarse") -> tuple[FitParams, float]:
        """``p`` in the other ``order`` (:meth:`_side_order`; a mirrored yaw moment-matched), within the
        view's bounds, searched at the fine size (every parameter, the fine steps, one level) -> (it, its cost)."""
        q = self._side_order(p, order)
        if order == "yaw":
            q = self.moment_match(q, coarse.target[0])
        q = FitParams.from_vector(np.clip(q.vector(self.bones), *coarse.bounds(q)), self.bones, q.pose_yaw)
        return self._search(q, fine, steps / 4, free_all, coarse.bounds(q), levels=1)[:2]

    def _try_side_orders(self, p: FitParams, cost: float, fine, steps, free_all,
                         coarse: "_Coarse", orders=None) -> tuple[FitParams, float, dict]:
        """The other limb orders (``orders``: default ``side_orders``; a view that is not a side view gets
        ``other_orders``; :meth:`_side_order`) from the fit's end ``p`` (its cost ``cost`` at the fine size,
        ``fine`` the drawing there), each searched at the fine size (every parameter, the fine steps, one
        level) -> (the lowest if lower than ``cost`` by more than ``SIDE_ORDER_MARGIN``, else ``p``; its cost;
        order -> its cost)."""
        orders = self.side_orders if orders is None else orders
        tried = {order: self._side_order_search(p, order, fine, steps, free_all, coarse) for order in orders}
        costs = {k: c for k, (_, c) in tried.items()}
        if tried:
            best, best_cost = min(tried.values(), key=lambda t: t[1])
            if best_cost < cost - SIDE_ORDER_MARGIN:
                return best, best_cost, costs
        return p, cost, costs

    def fit_joint(self, drawings, names, labels, progress=None, trace=None, jobs: int = 1,
                  context: str = "auto", one_pose: str = "off", min_iou: float | None = None) -> list[ViewFit] | None:
        """Register the views of a **turnaround** (one pose drawn from several
        angles) together: each view its own camera (yaw, scale, offset), one
        shared pose (arms lowered, per-bone turns about the body's own axes,
        ``JOINT_TURNS``), the cost the mean over the views. The other views'
        evidence then settles what one view alone cannot (which leg is in
        front, a front view turned one way with the arms turned to match).

        Stages: per view the coarse camera (:meth:`_coarse`); for the sheet
        ``joint_pose`` (labelled views at their label, the pose alone at 16
        degree steps, each view's camera again from a yaw grid, pose and
        cameras at 8 degrees), ``joint_legs`` (the legs
        swapped, as :meth:`fit`), ``joint_pose_fine`` (4 degree steps at the
        fine size); per view the residual warp. Each view's ``stages`` carries
        its share (1/V) of the sheet's joint stages. ``jobs`` > 1: the views
        are split between this process and a worker process (its own GL
        context), which renders its views' trials while this one renders its
        own. ``progress(stage)`` is called after each view's coarse stage and
        warp and after each joint stage, ``trace(stage, [FitParams per view])``
        after each stage (the benchmark's per-stage errors). Scored with the
        part term at ``joint_part_weight`` after the coarse stage (that one as
        :meth:`fit` scores it: the same first stage for both fits).

        ``one_pose``: in ``joint_pose`` (``one_pose_at``) check that the drawings are one pose
        (``ONE_POSE_MEAN_GAIN``; the result in ``self.one_pose_check``): ``off``
        no check, ``record`` check and go on, ``stop`` return None when they are
        not (the caller fits each drawing on its own), ``separate`` then fit each
        view on its own from the coarse stage run here (:meth:`fit`'s first stage,
        in the process that ran it), and so too when the finished joint fit leaves a
        view's rig IoU below ``min_iou`` (``one_pose_check["fallback"]``: "check" or
        "iou"), ``only`` return None after the check (a probe)."""
        if one_pose not in ONE_POSE_MODES:
            raise ConfigError(f"one_pose {one_pose!r}: choose one of {', '.join(ONE_POSE_MODES)}")
        self.one_pose_check, self.one_pose_checks = None, {}
        separate_weight, self.part_weight = self.part_weight, self.joint_part_weight  # workers get it too
        try:
            return self._fit_joint(drawings, names, labels, progress, trace, jobs, context, one_pose, separate_weight,
                                   min_iou)
        finally:
            self.part_weight = separate_weight
            self._views.clear()  # this process's views (a worker's go with it)

    def _fit_joint(self, drawings, names, labels, progress, trace, jobs: int, context: str,
                   one_pose: str = "off", separate_weight: float = PART_WEIGHT,
                   min_iou: float | None = None) -> list[ViewFit] | None:
        progress = progress or (lambda stage: None)
        trace = trace or (lambda stage, params: None)
        if not (len(drawings) == len(names) == len(labels)) or not drawings:
            raise ConfigError(f"a joint fit needs as many names and labels as drawings, got "
                              f"{len(drawings)}, {len(names)}, {len(labels)}")
        nv, bones = len(drawings), self.joint_bones
        nb = len(bones)
        with _ViewSplit(self, jobs if nv > 1 else 1, context) as split:
            split.map("view_setup", {k: (k, d, n, lab) for k, (d, n, lab) in enumerate(zip(drawings, names, labels))})
            # the coarse stage scored as the separate fit scores it (its part weight): one first stage for both
            # fits, so auto's fallback takes it over as it is (a separate fit from the joint fit's coarse stage,
            # scored with the part term, ended on another yaw: per-view back view s1v3 0.0121 -> 0.0209)
            found = split.map("view_coarse", {k: (k, separate_weight) for k in range(nv)})
            coarse = [found[k] for k in range(nv)]
            self._sheet_palette(split, coarse)
            for n in names:
                progress(f"{n}: camera")
            trace("camera", [c.candidates[0][0] for c in coarse])
            sheet = _Clock(self)
            # start: labelled views at their label (in a rough pose the coarse yaw is often off by
            # 20-50 degrees, the label by at most the artist's error), the others at their best
            # coarse camera; the shared arms the median of the views' arm-grid picks
            cams = [c.candidates[0][0] for c in coarse]
            arms = tuple(float(np.median([q.arms_lowered[i] for q in cams])) for i in (0, 1))
            relabelled = split.map("view_relabel", {k: (k, q) for k, (q, c) in enumerate(zip(cams, coarse))
                                                    if c.label_yaw is not None})
            cams = [relabelled.get(k, q) for k, q in enumerate(cams)]
            x = np.array([v for q in cams for v in q.camera_vector()]
                         + FitParams(0.0, arms_lowered=arms).pose_vector(bones), np.float64)
            lo = np.concatenate([*[c.bounds(q)[0][:4] for c, q in zip(coarse, cams)], coarse[0].bounds(cams[0])[0][4:6],
                                 [-90.0] * nb])
            hi = np.concatenate([*[c.bounds(q)[1][:4] for c, q in zip(coarse, cams)], coarse[0].bounds(cams[0])[1][4:6],
                                 [90.0] * nb])
            steps = rough_steps(nb, nv)
            free = np.ones(len(x), bool)
            if not self._arms:
                free[4 * nv:4 * nv + 2] = False

            def recamera():
                # each view's camera again, from a yaw grid, now that the views posed the rig together
                found = split.map("view_recamera", {k: (k, self._view_params(x, nv, k)) for k in range(nv)})
                for k, q in found.items():
                    x[4 * k:4 * k + 4] = q.camera_vector()
                    lo[4 * k:4 * k + 4], hi[4 * k:4 * k + 4] = coarse[k].bounds(q)[0][:4], coarse[k].bounds(q)[1][:4]

            pose_only = free.copy()
            # the yaws held, the labelled views at their label: freeing the side views' took them 0.0227 -> 0.0152
            # UDP error in session 10, but 15 of 16 views got worse in session 11 (docs/fit_sheet.md)
            pose_only[0:4 * nv:4] = False
            x, cost = self._joint_search(split, x, False, steps, pose_only, lo, hi, levels=1)
            if self._one_pose_point(one_pose, "pose_only", split, x, names, steps, free, lo, hi, sheet):
                return self._separate_from_coarse(split, nv, sheet, one_pose, separate_weight)
            recamera()
            x, cost = self._joint_search(split, x, False, steps / 2, free, lo, hi, levels=1)
            if any(c.match_view is not None for c in coarse):  # the sheet's palette again, the shared pose closer
                again = split.map("view_match_view", {k: (k, self._view_params(x, nv, k)) for k in range(nv)})
                for k, view in again.items():
                    coarse[k].match_view = view
                self._sheet_palette(split, coarse)
            sheet.stage("joint_pose")
            progress("joint_pose")
            trace("joint_pose", [self._view_params(x, nv, k) for k in range(nv)])
            if self._one_pose_point(one_pose, "joint_pose", split, x, names, steps / 2, free, lo, hi, sheet):
                return self._separate_from_coarse(split, nv, sheet, one_pose, separate_weight)
            legs = [4 * nv + i for i in self._leg_indices(bones)]
            if legs:
                free_legs = np.zeros(len(x), bool)
                free_legs[:4 * nv] = True
                free_legs[legs] = True
                swapped = x.copy()
                turns = self._swap_legs(self._view_params(x, nv, 0).turns)
                swapped[4 * nv + 2:] = FitParams(0.0, turns=turns).pose_vector(bones)[2:]
                starts = [swapped]
                for name in self.limb_starts:  # the legs from a stride, about the body's axes
                    start = x.copy()
                    turns = {b: v for b, v in self._view_params(x, nv, 0).turns.items() if "Leg" not in b}
                    turns.update(JOINT_LIMB_STARTS[name])
                    start[4 * nv + 2:] = FitParams(0.0, turns=turns).pose_vector(bones)[2:]
                    starts.append(start)
                x, cost = self._joint_search(split, x, False, steps / 2, free_legs, lo, hi, levels=1)
                others = [self._joint_search(split, q, False, steps / 2, free_legs, lo, hi, levels=1) for q in starts]
                xs, cost_s = min(others, key=lambda r: r[1][0])
                if cost_s[0] < cost[0] - LEG_SWAP_MARGIN:
                    x = xs
            sheet.stage("joint_legs")
            progress("joint_legs")
            trace("joint_legs", [self._view_params(x, nv, k) for k in range(nv)])
            x, cost = self._joint_search(split, x, True, steps / 4, free, lo, hi, levels=self.joint_fine_levels)
            sheet.stage("joint_pose_fine")
            progress("joint_pose_fine")
            trace("joint_pose_fine", [self._view_params(x, nv, k) for k in range(nv)])
            if self.joint_yaw_line:
                x, _ = self._joint_yaw_line(split, x, cost[0], lo, hi)
                sheet.stage("joint_yaw_line")
                trace("joint_yaw_line", [self._view_params(x, nv, k) for k in range(nv)])
            done = split.map("view_finish", {k: (k, self._view_params(x, nv, k), sheet.stages, nv) for k in range(nv)})
            for n in names:
                progress(f"{n}: warp")
            fits = [done[k] for k in range(nv)]
            worst = min(fits, key=lambda f: f.iou_pose)
            if one_pose == "separate" and min_iou is not None and worst.iou_pose < min_iou:
                # one pose leaves a view the rig does not match (it would be refused; alone it may not be)
                self.one_pose_check.update(one_pose=False, fallback="iou", iou_view=worst.name,
                                           iou_pose=round(worst.iou_pose, 4), min_iou=min_iou)
                return self._separate_from_coarse(split, nv, sheet, one_pose, separate_weight)
        return fits

    def _one_pose_point(self, one_pose: str, point: str, split: "_ViewSplit", x, names, steps, free, lo, hi,
                        sheet: "_Clock") -> bool:
        """The one-pose check at ``point`` of ``joint_pose`` where ``one_pose`` and ``one_pose_at`` ask
        for it (``self.one_pose_check``; every point's in ``self.one_pose_checks``) -> whether the
        joint fit stops here."""
        if one_pose == "off" or point not in self.one_pose_at:
            return False
        if point == "pose_only":  # joint_pose's first search; "joint_pose" then counts the rest of the stage
            sheet.stage("joint_pose_only")
        # where the check only stops the joint fit, a mean gain above the bar after the first sweep decides
        check = self.one_pose_check = self.one_pose_checks[point] = self._one_pose_check(
            split, x, names, steps, free, lo, hi, early=one_pose in ("stop", "separate"))
        sheet.stage(f"one_pose_check_{point}" if len(self.one_pose_at) > 1 else "one_pose_check")
        check["sheet_stages"] = {k: [round(t, 2), n] for k, (t, n) in sheet.stages.items()}  # so far: s, renders
        last = point == self.one_pose_at[-1]
        check["fallback"] = "check" if not check["one_pose"] else None
        return (one_pose in ("stop", "separate") and not check["one_pose"]) or (one_pose == "only" and last)

    def _separate_from_coarse(self, split: "_ViewSplit", nv: int, sheet: "_Clock", one_pose: str,
                              part_weight: float) -> list[ViewFit] | None:
        """Where the one-pose check stopped the joint fit: None, or (``one_pose`` "separate") each view's
        separate fit from its coarse stage (the same first stage as :meth:`fit`'s), in the process that
        holds it; each view's ``stages`` carries its share of the joint stages run before the check."""
        if one_pose != "separate":
            return None
        done = split.map("view_fit_separate", {k: (k, part_weight, sheet.stages, nv) for k in range(nv)})
        return [done[k] for k in range(nv)]

    def _one_pose_check(self, split: "_ViewSplit", x: np.ndarray, names, steps, free, lo, hi,
                        early: bool = False) -> dict:
        """Are the views one pose? Each view freed from the shared pose (:meth:`view_alone`): their mean
        drop in cost (gain) at most ``one_pose_bar`` -> {"one_pose", "mean_gain", "max_gain" and "view"
        (the one that gains most), "gains" per view name, "costs" per view name (its cost under the
        shared pose, before it was freed)}. ``early``: all views' first sweep, then the rest only when
        the mean gain is not above the bar yet ("early": True when it was): a view's cost only drops
        sweep by sweep, so the mean gain only grows and more sweeps could not make it one pose."""
        nv = len(names)

        def vec(v, k):
            return np.concatenate([v[4 * k:4 * k + 4], v[4 * nv:]])

        def freed(max_sweeps, resume: bool) -> dict:
            return split.map("view_alone", {k: (k, vec(x, k), vec(steps, k), vec(free, k), vec(lo, k), vec(hi, k),
                                                max_sweeps, resume) for k in range(nv)})

        first = early and self.one_pose_sweeps != 1
        found = freed(1 if first else self.one_pose_sweeps, False)
        decided = first and round(float(np.mean([round(float(j - a), 4) for j, a, _ in found.values()])), 4) > \
            self.one_pose_bar
        if first and not decided:
            found = freed(self.one_pose_sweeps, True)
        gains = {names[k]: round(float(found[k][0] - found[k][1]), 4) for k in range(nv)}
        costs = {names[k]: round(float(found[k][0]), 4) for k in range(nv)}
        worst = max(gains, key=gains.get)
        mean = round(float(np.mean(list(gains.values()))), 4)
        # per view, after each sweep: (the gain so far, the view's renders so far); a view that stopped
        # earlier keeps its last
        sweeps = {names[k]: [(round(float(found[k][0] - c), 4), n) for c, n in found[k][2]] for k in range(nv)}
        return {"one_pose": bool(mean <= self.one_pose_bar), "mean_gain": mean, "max_gain": gains[worst],
                "view": worst, "bar": self.one_pose_bar, "gains": gains, "costs": costs,
                "sweeps": sweeps, "renders": sum(s[-1][1] for s in sweeps.values()), "early": decided}

    def _joint_yaw_line(self, split: "_ViewSplit", x: np.ndarray, cost: float, lo, hi) -> tuple[np.ndarray, float]:
        """:func:`yaw_line_search` over every view's yaw together (the shared pose held), each view's
        scale and offset searched at each shift (:meth:`view_yaw_shift`) -> (x, the mean cost)."""
        nv = (len(x) - 2 - len(self.joint_bones)) // 4

        def at(t: float) -> tuple[np.ndarray, float]:
            v = x.copy()
            v[0:4 * nv:4] = np.clip(x[0:4 * nv:4] + t, lo[0:4 * nv:4], hi[0:4 * nv:4])
            found = split.map("view_yaw_shift", {k: (k, self._view_params(v, nv, k)) for k in range(nv)})
            for k, (q, _) in found.items():
                v[4 * k:4 * k + 4] = q.camera_vector()
            return v, float(np.mean([c for _, c in found.values()]))

        return yaw_line_search(at, (x, cost), self.joint_yaw_line)

    def _sheet_palette(self, split: "_ViewSplit", coarse: list) -> Palette | None:
        """One palette match for a turnaround: the artist's palette is the same
        in every view, so the views matched on their own (``_Coarse.match_view``)
        are matched again together (their colours clustered together, the
        overlaps with the rig summed) and compared through it from now on."""
        matched = {k: c.match_view for k, c in enumerate(coarse) if c.match_view is not None}
        if len(matched) < 2:
            return None
        palette = match_palette(list(matched.values()), self.part_labels())
        split.map("view_palette", {k: (k, palette) for k in matched})
        return palette

    def _view_params(self, x: np.ndarray, nv: int, k: int) -> FitParams:
        """View ``k``'s parameters from a joint vector: its camera, the shared pose (body axes)."""
        return FitParams.from_vector(np.concatenate([x[4 * k:4 * k + 4], x[4 * nv:]]), self.joint_bones, pose_yaw=0.0)

    def _joint_search(self, split: "_ViewSplit", x, fine: bool, steps, free, lo, hi, levels):
        """:func:`pattern_search` over the joint vector (every view's camera,
        then the shared pose), cost = mean over the views, in the same order
        with the same steps and acceptance. A view's camera moves only that
        view's cost, so each sweep's camera block runs as one camera sweep per
        view (:meth:`view_camera_sweep`), all views at once (split between the
        processes) instead of one trial at a time; a pose trial renders every
        view. Each view caches its costs for the search (a sweep often tries a
        point again)."""
        nv = (len(x) - 2 - len(self.joint_bones)) // 4
        self._search_id += 1
        search = self._search_id
        x = np.asarray(x, np.float64).copy()
        steps = np.asarray(steps, np.float64).copy()

        def vec(v, k):
            return np.concatenate([v[4 * k:4 * k + 4], v[4 * nv:]])

        def view_costs(v) -> dict:
            return split.map("view_cost_cached", {k: (k, search, fine, vec(v, k)) for k in range(nv)})

        def mean(costs: dict) -> tuple:
            return tuple(float(c) for c in np.mean([costs[k] for k in range(nv)], 0))

        def pose_cost(v) -> tuple:
            trial_costs = view_costs(v)
            return (*mean(trial_costs), trial_costs)

        costs = view_costs(x)
        best = mean(costs)
        cams = {k: slice(4 * k, 4 * k + 4) for k in range(nv) if free[4 * k:4 * k + 4].any()}
        pose_free = np.asarray(free, bool) & (np.arange(len(x)) >= 4 * nv)
        for _ in range(levels):
            improved = True
            while improved:
                improved, start = False, best[0]
                # the camera block: the mean moves by a view's change / nv, hence nv x the tolerance
                swept = split.map("view_camera_sweep", {
                    k: (k, search, fine, vec(x, k), steps[s], free[s], lo[s], hi[s], costs[k], nv * PATTERN_TOLERANCE)
                    for k, s in cams.items()})
                for k, (cam, c, moved) in swept.items():
                    x[cams[k]], costs[k] = cam, c
                    improved |= moved
                # the pose block, as pattern_search (the views' costs ride along as the last entry)
                x, swept, moved = coordinate_sweep(x, (*mean(costs), costs), pose_cost, steps, pose_free, lo, hi,
                                                   PATTERN_TOLERANCE)
                best, costs = swept[:-1], swept[-1]
                improved |= moved
                if start - best[0] < self.joint_min_gain:
                    improved = False  # the sweeps' gains have faded: the next level (or done)
            steps *= 0.5
        return x, best

    # -- one view of a joint fit, by its index (in whichever process renders it)
    def view_setup(self, k: int, drawing: np.ndarray, name: str, label_yaw: float | None) -> None:
        self._views[k] = {"drawing": drawing, "name": name, "label": label_yaw}

    def view_coarse(self, k: int, part_weight: float | None = None) -> "_Coarse":
        """View ``k``'s coarse stage (:meth:`_coarse`), scored with ``part_weight`` (None: the fitter's)."""
        v = self._views[k]
        v["clock"] = _Clock(self)
        weight = self.part_weight
        self.part_weight = weight if part_weight is None else float(part_weight)
        try:
            v["coarse"] = self._coarse(v["drawing"], v["name"], v["label"], v["clock"])
        finally:
            self.part_weight = weight
        v["own"] = copy.copy(v["coarse"])  # as a separate fit has it: the sheet's palette replaces the match
        v["coarse_stages"] = dict(v["clock"].stages)
        v["fine"] = v["coarse"].drawn(v["drawing"], self.fine) if self.fine != self.work else v["coarse"].target
        return v["coarse"]

    def view_palette(self, k: int, palette: Palette) -> None:
        """The view compared through ``palette`` (a joint fit's, for the sheet) from now on."""
        v = self._views[k]
        v["coarse"].rematch(palette)
        v["fine"] = v["coarse"].drawn(v["drawing"], self.fine) if self.fine != self.work else v["coarse"].target

    def view_match_view(self, k: int, p: FitParams) -> tuple | None:
        """The view's ``match_view`` with the rig's part labels under ``p`` (None: not matched)."""
        c = self._views[k]["coarse"]
        if c.match_view is not None:
            c.match_view = (*c.match_view[:2], self.part_labels()(*self.render_toon(p)))
        return c.match_view

    def view_relabel(self, k: int, p: FitParams) -> FitParams:
        """``p`` at the view's labelled yaw, moment-matched."""
        v = self._views[k]
        q = FitParams(float(v["label"]), p.scale, p.offset, p.arms_lowered, dict(p.turns), p.pose_yaw)
        return self.moment_match(self.moment_match(q, v["coarse"].target[0]), v["coarse"].target[0])

    def view_cost(self, k: int, p: FitParams, fine: bool) -> tuple[float, float, float]:
        v = self._views[k]
        return self._cost(p, *(v["fine"] if fine else v["coarse"].target))

    def view_cost_cached(self, k: int, search: int, fine: bool, v: np.ndarray) -> tuple[float, float, float]:
        """:meth:`view_cost` of the joint search ``search`` at ``v`` (the view's
        camera, then the shared pose), each point rendered once per search."""
        view = self._views[k]
        if view.get("search") != search:
            view["search"], view["seen"] = search, {}
        key = np.round(v, 6).tobytes()
        if key not in view["seen"]:
            view["seen"][key] = self.view_cost(k, FitParams.from_vector(v, self.joint_bones, pose_yaw=0.0), fine)
        return view["seen"][key]

    def view_alone(self, k: int, v: np.ndarray, steps, free, lo, hi,
                   max_sweeps: int | None = None, resume: bool = False) -> tuple[float, float, list]:
        """View ``k``'s cost (work size) at the joint vector ``v`` (its camera, the shared pose)
        and after a search of its own camera and pose from there (:func:`pattern_search`'s sweeps,
        one level, the joint search's gain bar; at most ``max_sweeps``): what the view reaches
        alone -> (joint cost, alone cost, [(cost, renders so far) after each sweep]: the gain a
        shorter check would have seen, on the same run). ``resume``: go on from where the last
        call for this view stopped (the same sweeps as one call with the larger ``max_sweeps``;
        the view keeps where it got in ``"alone"``)."""
        view = self._views[k]
        target = view["coarse"].target
        state = view.get("alone") if resume else None
        if state is None:
            # seen: a sweep often tries a point again (as _search_bones)
            state = view["alone"] = {"seen": {}, "sweeps": [], "improved": True}
        seen = state["seen"]

        def cost(x):
            key = np.round(x, 6).tobytes()
            if key not in seen:
                seen[key] = self._cost(FitParams.from_vector(x, self.joint_bones, pose_yaw=0.0), *target)
            return seen[key]

        if "x" not in state:
            state["x"] = np.asarray(v, np.float64).copy()
            state["joint"] = state["best"] = cost(state["x"])
        x, best, sweeps, improved = state["x"], state["best"], state["sweeps"], state["improved"]
        while improved and (max_sweeps is None or len(sweeps) < max_sweeps):
            start = best[0]
            x, best, improved = coordinate_sweep(x, best, cost, steps, free, lo, hi, PATTERN_TOLERANCE)
            improved = improved and start - best[0] >= self.joint_min_gain
            sweeps.append((float(best[0]), len(seen)))
        state.update(x=x, best=best, improved=improved)
        return state["joint"][0], best[0], list(sweeps)

    def view_camera_sweep(self, k: int, search: int, fine: bool, v: np.ndarray, steps, free, lo, hi,
                          cost: tuple, tolerance: float) -> tuple[np.ndarray, tuple, bool]:
        """One sweep of :func:`pattern_search` over the view's camera (the first
        4 entries of ``v``; the shared pose held) from its ``cost`` ->
        (camera, its cost, whether it moved)."""
        v, cost, moved = coordinate_sweep(np.asarray(v, np.float64).copy(), cost,
                                          lambda trial: self.view_cost_cached(k, search, fine, trial),
                                          steps, free, lo, hi, tolerance)
        return v[:4], cost, moved

    def view_recamera(self, k: int, p: FitParams) -> FitParams:
        """``p``'s pose seen from the best camera: yaws around the label (or
        around ``p.yaw``) 7.5 degrees apart, each moment-matched and scored,
        then a camera search from the best of them and from ``p``."""
        v = self._views[k]
        target, coarse = v["coarse"].target, v["coarse"]
        centre = p.yaw if v["label"] is None else v["label"]
        scored = []
        for yaw in centre + np.arange(-30.0, 30.1, 7.5):
            q = self.moment_match(FitParams(float(yaw), p.scale, p.offset, p.arms_lowered, dict(p.turns), p.pose_yaw),
                                  target[0])
            scored.append((self._cost(q, *target)[0], q))
        starts = [p] + [q for _, q in sorted(scored, key=lambda s: s[0])[:1] if _yaw_gap(q.yaw, p.yaw) >= 7.5]
        bones = list(p.turns)
        free = np.zeros(6 + len(bones), bool)
        free[:4] = True
        steps = np.array([4.0, 0.03, 0.03, 0.03] + [0.0] * (2 + len(bones)))
        best = None
        for q in starts:
            lo, hi = coarse.bounds(q)
            held = q.pose_vector(bones)
            r = self._search_bones(q, target, steps, free, (np.concatenate([lo[:4], held]),
                                                           np.concatenate([hi[:4], held])), bones, levels=1)
            if best is None or r[1] < best[1]:
                best = r
        return best[0]

    def view_yaw_shift(self, k: int, p: FitParams) -> tuple[FitParams, float]:
        """View ``k`` at ``p``'s yaw and pose (held), scale and offset searched at the fine size ->
        (its parameters, its cost): a point of :meth:`_joint_yaw_line`."""
        v = self._views[k]
        bones = list(p.turns)
        free = np.zeros(6 + len(bones), bool)
        free[1:4] = True
        steps = np.array([0.0] + [YAW_LINE_CAMERA_STEP] * 3 + [0.0] * (2 + len(bones)))
        lo, hi = v["coarse"].bounds(p)
        held = p.pose_vector(bones)
        bounds = (np.concatenate([lo[:4], held]), np.concatenate([hi[:4], held]))
        q, c = self._search_bones(p, v["fine"], steps, free, bounds, bones, levels=1)[:2]
        return q, c

    def view_fit_separate(self, k: int, part_weight: float, shared_stages: dict, nv: int) -> ViewFit:
        """View ``k`` fitted on its own (:meth:`fit`, scored with ``part_weight``) from its coarse stage;
        its ``stages``: the coarse stage's, its share of the joint stages before, the separate fit's."""
        v = self._views.pop(k)
        clock = _Clock(self)  # its CPU from here: this process fits its views one after the other
        clock.stages = dict(v["coarse_stages"])
        clock.share(shared_stages, nv)
        if "warp" in v["clock"].stages:  # the joint fit finished (view_finish) before the IoU fallback
            clock.stages["joint_warp"] = v["clock"].stages["warp"]
        joint_weight, self.part_weight = self.part_weight, part_weight
        try:
            return self._fit_from_coarse(v["own"], v["drawing"], v["name"], v["label"], clock)
        finally:
            self.part_weight = joint_weight

    def view_finish(self, k: int, p: FitParams, shared_stages: dict, nv: int) -> ViewFit:
        v = self._views[k]  # kept for view_fit_separate (auto's fallback on a view below min_iou)
        v["clock"].restart()
        v["clock"].share(shared_stages, nv)
        return self._finish(p, v["drawing"], v["name"], v["label"], v["coarse"], v["clock"])

    def _finish(self, p: FitParams, drawing: np.ndarray, name: str, label_yaw: float | None,
                coarse: "_Coarse", clock: "_Clock") -> ViewFit:
        """Step 3: the rig's UDP at full resolution under ``p``, then the residual warp onto the drawing."""
        camera, pose = self.camera(p, self.size), self.pose(p)
        rig = self.render_udp(p)
        rig_mask = rig[..., 3] > 0
        drawn = drawing[..., 3] >= 128
        iou_pose = iou(rig_mask, drawn)
        # the colour error at the fit, full resolution would cost another pass; the work-size one is enough
        _, _, colour = self._cost(p, *coarse.target)
        toon_rgb = self.render_toon(p, self.size)[1]
        drawn_rgb = drawing[..., :3].astype(np.float32) / 255.0
        if coarse.palette is not None:
            drawn_rgb = coarse.palette(drawn_rgb)
        u = residual_warp(rig_mask, drawn, moving_rgb=toon_rgb, fixed_rgb=drawn_rgb, colour_gain=WARP_COLOUR_GAIN,
                          outline_iterations=WARP_OUTLINE_ITERATIONS, levels=self.warp_levels)
        udp, warped_mask = warp_udp(rig, u, drawing[..., 3] > 0, blend=self.warp_udp_blend)
        iou_warped = iou(warped_mask, drawn)
        disp = np.hypot(u[0], u[1])[drawn]
        clock.stage("warp")
        return ViewFit(name=name, label_yaw=label_yaw, params=p, camera=camera, pose=pose, udp=udp,
                       iou_initial=coarse.iou_initial, iou_coarse=coarse.iou_coarse, iou_pose=iou_pose,
                       iou_warped=iou_warped, colour_error=colour,
                       palette_matched=coarse.palette is not None, palette_near_share=coarse.near_share,
                       residual_mean_px=float(disp.mean()), residual_max_px=float(disp.max()),
                       rig_mask=rig_mask, seconds=clock.seconds(), cpu_seconds=clock.cpu_seconds(),
                       stages=dict(clock.stages))


def pattern_search(x: np.ndarray, cost, steps: np.ndarray, free: np.ndarray, bounds, levels: int,
                   min_gain: float = 0.0):
    """Pattern search (coordinate descent with shrinking steps): each free
    parameter in turn tries ± its step (and keeps going while that helps);
    steps halve when a sweep finds nothing, or lowers the cost by less than
    ``min_gain`` (the last sweeps of a level gain little and cost as much as
    the first). ``cost(v) -> (cost, *extra)`` -> (x, cost(x))."""
    lo, hi = bounds
    x = np.asarray(x, np.float64).copy()
    best = cost(x)
    steps = steps.astype(np.float64).copy()
    for _ in range(levels):
        improved = True
        while improved:
            start = best[0]
            x, best, improved = coordinate_sweep(x, best, cost, steps, free, lo, hi, PATTERN_TOLERANCE)
            improved = improved and start - best[0] >= min_gain
        steps *= 0.5
    return x, best


def coordinate_sweep(x: np.ndarray, best: tuple, cost, steps, free, lo, hi, tolerance: float):
    """One sweep of :func:`pattern_search` from ``x`` (whose cost is ``best``): each free
    parameter in turn tries ± its step, and keeps going while the cost drops by more than
    ``tolerance`` -> (x, its cost, whether it moved)."""
    moved_any = False
    for i in np.flatnonzero(free):
        for sign in (1.0, -1.0):
            moved = False
            while True:
                trial = x.copy()
                trial[i] = np.clip(trial[i] + sign * steps[i], lo[i], hi[i])
                if trial[i] == x[i]:
                    break
                c = cost(trial)
                if c[0] < best[0] - tolerance:
                    x, best, moved, moved_any = trial, c, True, True
                else:
                    break
            if moved:
                break
    return x, best, moved_any


def yaw_line_search(at, start: tuple, d: float, max_steps: int = YAW_LINE_STEPS) -> tuple:
    """A 1-D search along the yaw: ``at(t) -> (state, cost)`` with ``t`` degrees added; ``start`` is
    (state, cost) at 0. ``at(-d)``, ``at(d)``, on while an end is the lowest (at most ``max_steps``
    more), then the vertex of the parabola through the lowest and its two neighbours -> the lowest
    (state, cost) tried."""
    tried = {0.0: start, -d: at(-d), d: at(d)}
    for _ in range(max_steps):
        lowest = min(tried, key=lambda t: tried[t][1])
        if lowest not in (min(tried), max(tried)):
            break
        nxt = lowest + math.copysign(d, lowest)
        tried[nxt] = at(nxt)
    lowest = min(tried, key=lambda t: tried[t][1])
    if lowest - d in tried and lowest + d in tried:
        c0, c1, c2 = tried[lowest - d][1], tried[lowest][1], tried[lowest + d][1]
        curvature = c0 - 2 * c1 + c2
        if curvature > 0:
            vertex = lowest + d * (c0 - c2) / (2 * curvature)  # within lowest +- d/2
            if abs(vertex - lowest) > 0.05 * d:
                tried[vertex] = at(vertex)
    return min(tried.values(), key=lambda r: r[1])


def names_once(names, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """``names`` (one name or several) as a tuple, each one of ``allowed`` and none twice, else a ConfigError
    naming ``what`` and the choices."""
    names = (names,) if isinstance(names, str) else tuple(names)
    if [n for n in names if n not in allowed] or len(set(names)) != len(names):
        raise ConfigError(f"{what} {list(names)}: unknown or repeated names; choose each at most once "
                          f"from {', '.join(allowed)}")
    return names


def side_view(yaw: float) -> bool:
    """Whether a view at ``yaw`` (degrees) is a side view: within ``SIDE_VIEW_DEG`` of 90 or 270."""
    return min(_yaw_gap(yaw, 90.0), _yaw_gap(yaw, 270.0)) <= SIDE_VIEW_DEG


def front_view(yaw: float) -> bool:
    """Whether a view at ``yaw`` (degrees) is a front view: within ``FRONT_LABEL_DEG`` of 0."""
    return _yaw_gap(yaw, 0.0) <= FRONT_LABEL_DEG


def search_bounds(yaw: float, width: float, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of a search vector (:meth:`FitParams.vector` with ``nb`` turns):
    yaw within ``width`` degrees of ``yaw``, scale 0.6-1.6, offset ±0.5 NDC,
    arms lowered -10..85 degrees, turns ±90."""
    lo = np.array([yaw - width, math.log(0.6), -0.5, -0.5, -10, -10] + [-90] * nb, np.float64)
    hi = np.array([yaw + width, math.log(1.6), 0.5, 0.5, 85, 85] + [90] * nb, np.float64)
    return lo, hi


@dataclass
class _Coarse:
    """What step 1 found for one drawing."""

    target: tuple[np.ndarray, np.ndarray]  # (mask, rgb) at the work size
    candidates: list  # (FitParams, cost, IoU, colour error), best first
    iou_initial: float
    iou_coarse: float
    label_yaw: float | None
    n_bones: int
    palette: Palette | None = None  # the drawing's colours onto the rig's, or None: as drawn
    near_share: float = 1.0  # share of the drawn pixels near a rig colour (before any match)
    # (mask, rgb as drawn, the rig's part labels at the coarse fit) at the work size, where matched:
    # what a joint fit pools over its views (SheetFitter.view_palette)
    match_view: tuple | None = None

    def rematch(self, palette: Palette) -> None:
        """Compare the drawing through ``palette`` from now on (the work-size target too)."""
        self.palette = palette
        self.target = (self.match_view[0], palette(self.match_view[1]))

    def drawn(self, drawing: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(mask, rgb) of the framed drawing at ``n`` x ``n``, colours matched to the rig's."""
        mask, rgb = downsample_drawing(drawing, n)
        return mask, (self.palette(rgb) if self.palette is not None else rgb)

    def bounds(self, q: FitParams) -> tuple[np.ndarray, np.ndarray]:
        """A labelled view stays within 35 degrees of its label, the others within 45 of ``q``'s yaw."""
        if self.label_yaw is None:
            return search_bounds(q.yaw, 45.0, self.n_bones)
        return search_bounds(self.label_yaw, 35.0, self.n_bones)


class _ViewSplit:
    """Runs a joint fit's per-view calls (``SheetFitter.view_*``) for the
    views it names: with ``jobs`` > 1 the odd views in a worker process (its
    own GL context and fitter: llvmpipe draws on one core per context) while
    this process runs the even ones, so a pose trial renders on two cores."""

    def __init__(self, fitter: "SheetFitter", jobs: int, context: str):
        self.fitter, self.conn, self.proc = fitter, None, None
        if jobs > 1:
            import multiprocessing  # lazy: only a joint fit with --jobs starts a process

            mp = multiprocessing.get_context("spawn")
            self.conn, child = mp.Pipe()
            self.proc = mp.Process(target=_view_worker, daemon=True,
                                   args=(child, fitter.character, fitter.size, fitter.work, context,
                                         fitter.cost_settings()))
            self.proc.start()
            child.close()

    def map(self, method: str, calls: dict[int, tuple]) -> dict:
        """{view: args} -> {view: getattr(fitter, method)(*args)}, both processes at once."""
        remote = {k: a for k, a in calls.items() if self.conn is not None and k % 2 == 1}
        if remote:
            self.conn.send((method, remote))
        out = {k: getattr(self.fitter, method)(*a) for k, a in calls.items() if k not in remote}
        if remote:
            ok, result, renders = self.conn.recv()
            if not ok:
                raise result
            self.fitter.evaluations += renders
            out.update(result)
        return out

    def __enter__(self) -> "_ViewSplit":
        return self

    def __exit__(self, *exc) -> None:
        if self.conn is not None:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(timeout=10)
            if self.proc.is_alive():
                self.proc.terminate()
            self.conn.close()


def _view_worker(conn, character: Character, size: int, work: int, context: str, settings: dict) -> None:
    """A :class:`_ViewSplit` worker: its own GL context and fitter, calls until ``None``."""
    from conrt.shaders import create_context, release_context  # lazy: only in the worker

    ctx = create_context(context)
    try:
        with SheetFitter(ctx, character, size, work, **settings) as fitter:
            while (msg := conn.recv()) is not None:
                method, calls = msg
                before = fitter.evaluations
                try:
                    result = {k: getattr(fitter, method)(*a) for k, a in calls.items()}
                    conn.send((True, result, fitter.evaluations - before))
                except Exception as exc:  # noqa: BLE001 - raised again in the calling process
                    conn.send((False, exc, 0))
    except EOFError:
        pass
    finally:
        release_context(ctx)


class _Clock:
    """Where a fit's time goes: stage -> (seconds, toon renders) since the last mark."""

    def __init__(self, fitter: SheetFitter):
        self.fitter = fitter
        self.stages: dict[str, tuple[float, int]] = {}
        self.mark = time.perf_counter()
        self.renders = fitter.evaluations
        self.cpu_start: float | None = time.process_time()

    def stage(self, key: str) -> None:
        now = time.perf_counter()
        self.stages[key] = (now - self.mark, self.fitter.evaluations - self.renders)
        self.mark, self.renders = now, self.fitter.evaluations

    def restart(self) -> None:
        """Count from now (the time since the last mark went to other views)."""
        self.mark, self.renders = time.perf_counter(), self.fitter.evaluations
        self.cpu_start = None  # the process's CPU since then is not this view's alone

    def share(self, stages: dict, n: int) -> None:
        """Add a 1/n share of a sheet's joint stages."""
        for key, (t, r) in stages.items():
            self.stages[key] = (t / n, int(round(r / n)))

    def seconds(self) -> float:
        return sum(t for t, _ in self.stages.values())

    def cpu_seconds(self) -> float | None:
        """Process CPU seconds since the clock started (None once restarted)."""
        return None if self.cpu_start is None else time.process_time() - self.cpu_start


# ---------------------------------------------------------------------------
# the check picture


def fit_picture(drawing: np.ndarray, fit: ViewFit) -> np.ndarray:
    """[S, 3S, 3] u8: the drawing | the fitted UDP over it | contours (drawn:
    green, the fitted rig before the warp: magenta) over it, on light grey."""
    from scipy.ndimage import binary_erosion  # lazy: scipy only on this path

    s = drawing.shape[0]
    a = drawing[..., 3:4].astype(np.float32) / 255.0
    grey = np.full((s, s, 3), 235.0, np.float32)
    over = drawing[..., :3].astype(np.float32) * a + grey * (1 - a)
    udp_rgb = np.clip(fit.udp[..., :3], 0, 1) * 255.0
    cover = fit.udp[..., 3:4] > 0
    panel_udp = np.where(cover, 0.75 * udp_rgb + 0.25 * over, over)
    panel_contour = 0.5 * over + 0.5 * grey
    drawn = drawing[..., 3] >= 128
    for mask, colour in ((drawn, (0, 170, 0)), (fit.rig_mask, (220, 0, 200))):
        edge = mask & ~binary_erosion(mask)
        panel_contour[edge] = colour
    return np.concatenate([over, panel_udp, panel_contour], 1).clip(0, 255).astype(np.uint8)
