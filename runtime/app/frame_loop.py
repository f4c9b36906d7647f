"""The runtime frame loop: physics -> UDP rasterizer -> neural shader -> output.

Three stage objects, injected into :class:`Runtime` (no globals), each usable
and testable on its own with real inputs; :func:`build_runtime` makes them
from a :class:`RuntimeSpec` (the one place a pipeline is assembled):

- :class:`PhysicsStage`  -- a :class:`~conrt.physics.world.PhysicsWorld` with one
  character on a clip: ``step() -> Pose``, ``set_clip``, ``poke``.
- :class:`RasterStage`   -- a GL context + :class:`~conrt.shaders.UdpPass` (and
  named render passes, e.g. "toon": :mod:`conrt.runtime.app.passes`): ``camera(pose)``,
  ``render(pose, camera)``, ``read() -> [H, W, 4] f32 UDP``, ``read_buffers()``.
- :class:`ShadeStage`    -- an inference backend with the encoded sheet:
  ``shade(udp) -> [H, W, 4] f32 premultiplied RGBA`` (with the raster stage's
  ``coverage`` buffer: anti-aliased at the silhouette, ``shaders.coverage.soften_edges``).

Threads: physics and rasterization run on the caller's thread (the GL context
stays where it was made, which glfw windows require); shading runs on a worker
thread fed through a bounded slot (1-2 pending UDP frames), so physics and
rasterization of frame t+1 overlap the shading of frame t (torch and ONNX
Runtime release the GIL while they compute).

Two delivery modes:
- ``realtime=False`` (render, bench): every frame is shaded and delivered in
  order; the producer waits for the shader when the slot is full.
- ``realtime=True`` (demo, bridge): the producer never waits; a newer UDP
  frame replaces the oldest pending one, and finished frames go into a short
  mailbox that drops the oldest when the consumer is slow. ``FrameStats.dropped``
  counts both.
"""
from __future__ import annotations

import collections
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal, Mapping

import numpy as np

from conrt.characters.posing import posed_positions, rest_pose
from conrt.errors import ConfigError, ConrtError, InputError
from conrt.limits import check_fps
from conrt.physics.clips import Clip, list_clips
from conrt.physics.motion import check_motion, motion_poses, resolve_motion
from conrt.physics.vmc import VmcReceiver, VmcSender, parse_address
from conrt.physics.world import PhysicsWorld
from conrt.shaders import ToonPass, UdpPass, create_context, frame_character, orbit_camera, project, release_context
from conrt.shaders.camera import motion_radius, sheet_yaws
from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView, ViewsRead
from conrt.shaders.coverage import check_factor, parse_switch, soften_edges
from conrt.types import Camera, Character, Pose

from ..backends import create_backend
from ..defaults import DEFAULT_SIZE
from ..limits import check_size
from ..nn.checkpoint import resolve_model
from ..nn.model import ShaderNet
from ..nn.sheet import look_side, prepare_sheet
from .passes import check_passes, create_pass
from .session import CORRESPONDENCES, Sheet, fit_sheet, fit_sheet_udps, load_sheet, resolve_character, sheet_framing

log = logging.getLogger(__name__)

STAGES = ("physics", "raster", "readback", "shade", "output")


# ---------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class FrameStats:
    """Per-stage wall time of one frame (milliseconds) and the delivered frame rate.

    ``*_start``/``*_end`` are ``time.perf_counter()`` stamps (seconds) of the
    raster and shade stages, kept so callers/tests can see the overlap."""

    index: int
    physics_ms: float
    raster_ms: float
    readback_ms: float
    shade_ms: float
    output_ms: float = 0.0
    fps: float = 0.0  # delivered frames per second, averaged over the last ~30 frames
    dropped: int = 0  # frames dropped so far (realtime mode)
    raster_start: float = 0.0
    raster_end: float = 0.0
    shade_start: float = 0.0
    shade_end: float = 0.0

    def as_dict(self) -> dict:
        return {"fps": round(self.fps, 3), **{f"{s}_ms": round(getattr(self, f"{s}_ms"), 3) for s in STAGES}}

    def title(self) -> str:
        """One line for a window title / overlay."""
        return (f"{self.fps:5.1f} fps | phys {self.physics_ms:.1f} raster {self.raster_ms:.1f} "
                f"read {self.readback_ms:.1f} shade {self.shade_ms:.1f} out {self.output_ms:.1f} ms"
                + (f" | dropped {self.dropped}" if self.dropped else ""))


class _NamedBuffers:
    """``udp`` and ``toon`` of a frame's ``buffers`` (the render passes' outputs by name)."""

    buffers: Mapping[str, np.ndarray]

    @property
    def udp(self) -> np.ndarray:
        """[H, W, 4] f32 UDP the network saw."""
        return self.buffers["udp"]

    @property
    def coverage(self) -> np.ndarray | None:
        """[H, W] f32 covered fraction of each pixel (``antialias`` > 1), else None."""
        return self.buffers.get("coverage")

    @property
    def toon(self) -> np.ndarray | None:
        """[H, W, 4] u8 straight RGBA toon reference (``passes=("toon",)``), else None."""
        return self.buffers.get("toon")


@dataclass(frozen=True)
class RuntimeFrame(_NamedBuffers):
    """One shaded frame and what made it."""

    index: int
    clip: str
    time: float  # clip time in seconds
    rgba: np.ndarray  # [H, W, 4] f32 premultiplied RGBA, row 0 = top
    buffers: Mapping[str, np.ndarray]  # by pass: "udp" ([H, W, 4] f32, what the network saw), "coverage", "toon", ...
    camera: Camera
    stats: FrameStats


# ---------------------------------------------------------------------------
# stages


class PhysicsStage:
    """One character in its own :class:`PhysicsWorld`, driven by a clip.

    ``mode="physical"`` lets :meth:`poke` push the body (the demo); the
    default ``"kinematic"`` follows the clip exactly (render, bench).

    ``lookahead=True`` (render, bench: every frame in order, nobody steering):
    each :meth:`step` returns the pose stepped in the background since the
    previous call and starts the next one on a thread of its own, so the
    physics of frame t+1 overlaps the rasterizing of frame t (measured: a
    physics step and a raster on two threads took about the longer of the
    two, not their sum). The poses are the same, in the
    same order; a change (``set_clip``, ``set_expressions``) shows from the
    pose after the one already stepped; ``seek`` drops that pose (exact)."""

    def __init__(self, character: Character, clip="idle", fps: float = 30.0,
                 mode: Literal["kinematic", "physical"] = "kinematic", substeps: int = 4, live=None,
                 lookahead: bool = False):
        self.clip_names = list_clips()
        # clips resolved from motion files (conrt.physics.motion), switchable by name
        self.extra_clips: dict[str, Clip] = {clip.name: clip} if isinstance(clip, Clip) else {}
        clip = self._named(clip)
        # live: a clip-like live motion (physics/vmc.py VmcMotion) drives the body instead of the clip
        self.live = live
        self.character, self.fps, self.clip = character, float(fps), clip if live is None else live.name
        self.world = PhysicsWorld(fps=fps, substeps=substeps)
        try:
            self.handle = self.world.add(character, self.extra_clips.get(clip, clip) if live is None else live,
                                         mode=mode)
        except Exception:
            self.world.close()
            raise
        self._ahead_pool = ThreadPoolExecutor(1, thread_name_prefix="conrt-physics") if lookahead else None
        self._ahead = None  # the next (pose, time) being stepped in the background
        self._time = self.world.time(self.handle)  # the clip time of the pose step() returned last

    def _named(self, clip) -> str:
        """A clip name (a Clip is remembered under its name); unknown names are a ConfigError."""
        if isinstance(clip, Clip):
            self.extra_clips[clip.name] = clip
            return clip.name
        self.check_clip(clip)
        return clip

    def check_clip(self, clip: str) -> None:
        """ConfigError naming the valid clips unless ``clip`` is one this stage can play."""
        if clip not in self.clip_names and clip not in self.extra_clips:
            raise ConfigError(f"unknown clip {clip!r}; valid clips: {', '.join(self.clip_names + list(self.extra_clips))}")

    @property
    def time(self) -> float:
        """Clip time of the last pose :meth:`step` returned."""
        return self._time if self._ahead_pool is not None else self.world.time(self.handle)

    def _step_world(self) -> tuple[Pose, float]:
        if self.live is not None and self.live.take_jump():  # a new live stream: restart cloth/hair on its pose
            self.world.reset(self.handle)
        pose = self.world.step()[self.handle]
        return pose, self.world.time(self.handle)

    def step(self, ahead: bool = True) -> Pose:
        """The next pose. ``ahead=False`` (a steered caller: ``Runtime.advance``,
        the bridge): no step starts in the background, so a time scale or clip
        set next applies to the very next step, not one frame late."""
        if self._ahead_pool is None:
            return self._step_world()[0]
        pending, self._ahead = self._ahead, None
        # a failed step raises here, for the frame it was for
        pose, self._time = pending.result() if pending is not None else self._step_world()
        if ahead:
            self._ahead = self._ahead_pool.submit(self._step_world)
        return pose

    @property
    def time_scale(self) -> float:
        return self.world.time_scale

    @time_scale.setter
    def time_scale(self, scale: float) -> None:
        """Clip time advanced per step, in frames (``PhysicsWorld.time_scale``)."""
        self.settle()
        self.world.time_scale = scale

    def settle(self, drop: bool = False) -> None:
        """Wait for the pose being stepped ahead (``lookahead``), so the world
        is free to change; ``drop``: forget it (the next step() steps anew)."""
        if self._ahead is None:
            return
        try:
            self._ahead.result()
        except Exception:
            drop = True  # step() would re-raise it; nothing to keep
        if drop:
            self._ahead = None

    def set_clip(self, clip, start: float = 0.0) -> None:
        clip = self._named(clip)
        self.settle()
        self.world.set_clip(self.handle, self.extra_clips.get(clip, clip), start)
        self.clip = clip

    def seek(self, clip, t: float) -> Pose:
        """Jump to time ``t`` of ``clip`` (cloth/hair settle from their rest shape)."""
        if getattr(clip, "name", clip) != self.clip:
            self.set_clip(clip, t)
        self.settle(drop=True)
        pose = self.world.reset(self.handle, t)[self.handle]
        self._time = self.world.time(self.handle)
        return pose

    def set_expressions(self, weights: dict, replace: bool = False) -> None:
        """Expression weights by name from the next frame on (``PhysicsWorld.set_expressions``)."""
        self.settle()
        self.world.set_expressions(self.handle, weights, replace=replace)

    def poke(self, point, impulse) -> str:
        """Push the body at ``point`` (character space); needs ``mode="physical"``."""
        self.settle()
        return self.world.poke(self.handle, point, impulse)

    def close(self) -> None:
        if self._ahead_pool is not None:
            self.settle(drop=True)
            self._ahead_pool.shutdown(wait=True)
        self.world.close()


class RasterStage:
    """GL context + UDP pass (+ named render passes, ``passes=("toon",)``) and the camera rig.

    The camera orbits a point that follows the hips on the ground plane at
    half the character's height, at a fixed radius, so the character stays
    centred and the same size while it walks (what the network was trained on:
    auto-centred frames)."""

    def __init__(self, character: Character, size: int = DEFAULT_SIZE, *, ctx=None, context: str = "auto",
                 toon: bool = False, yaw: float = 0.0, pitch: float = 0.0, zoom: float = 1.0, passes=(),
                 antialias: int = 1):
        check_size(size)
        self.character, self.size = character, int(size)
        self.yaw, self.pitch, self.zoom = float(yaw), float(pitch), float(zoom)
        # antialias k > 1: the UDP pass also draws the occupancy at k x, read as buffers["coverage"]
        self.antialias = check_factor(antialias)
        self._own_ctx = ctx is None
        self.ctx = create_context(context) if ctx is None else ctx
        self.udp = UdpPass(self.ctx, self.size, self.size, coverage=self.antialias)
        self.udp.set_character(character)
        self.correspondence = None  # CorrespondencePass once set_correspondences is called
        # the named render passes besides the UDP (runtime/app/passes.py), each read into frame.buffers[name]
        self.passes: dict = {}
        try:
            for name in check_passes((("toon",) if toon and "toon" not in passes else ()) + tuple(passes)):
                self.passes[name] = create_pass(name, self.ctx, self.size, character)
        except BaseException:
            self.close()
            raise
        self.toon = self.passes.get("toon")
        hips = character.humanoid.get("hips")
        roots = np.flatnonzero(character.skeleton.parents < 0)
        self._follow = int(hips if hips is not None else roots[0])
        rest = character.mesh.positions
        lo, hi = rest.min(0), rest.max(0)
        # half the diagonal of the rest box in the x/y plane: arms out (T-pose) still fit
        self.radius = 0.5 * float(max(hi[1] - min(lo[1], 0.0), hi[0] - lo[0]) * 1.08)
        self._rest_follow = character.skeleton.rest_world[self._follow, :3, 3].astype(np.float64)
        self._center_y = 0.5 * float(hi[1] + min(lo[1], 0.0))

    def fit_motion(self, poses) -> float:
        """Widen the camera radius so every pose of a motion fits at any yaw (raised
        hands, a jump); one radius for the whole clip so the framing stays steady."""
        self.radius = max(self.radius, motion_radius(self.character, poses, self._follow, self._rest_follow,
                                                     self._center_y))
        return self.radius

    def camera(self, pose: Pose) -> Camera:
        p = pose.joint_world[self._follow, :3, 3].astype(np.float64)
        center = (p[0], self._center_y + (p[1] - self._rest_follow[1]) * 0.5, p[2])
        return orbit_camera(center, self.radius / max(self.zoom, 1e-3), yaw=self.yaw, pitch=self.pitch, size=self.size)

    def set_correspondences(self, views, reference, inked: bool = False, ink_sheet=None, lit: bool = False) -> None:
        """Exact sheet correspondences (``shaders.correspondence_pass``): from
        now on every frame also rasterizes each view's sampled reference and
        coverage (``read_views``). ``views``: one ``SheetView`` per sheet view;
        ``reference``: ``SheetCache.reference``; ``inked``: the sheet's look;
        ``ink_sheet``: the drawings where the sheet's ink is estimated
        (``ink_sheet()``; ``CorrespondencePass.set_sheet``); ``lit``: the look is inked or shaded (the
        pass's light agreement; never on unlit sheets)."""
        new = CorrespondencePass(self.ctx, self.size, self.size)
        udp = None
        try:
            new.set_character(self.character)
            new.set_sheet(views, reference, inked, ink_sheet, lit=lit)
            if not self.udp.visibility_buffer:  # one raster of the target: the UDP pass draws the visibility too
                udp = UdpPass(self.ctx, self.size, self.size, visibility=True, coverage=self.antialias)
                udp.set_character(self.character)
        except BaseException:
            new.release()
            if udp is not None:
                udp.release()
            raise
        if udp is not None:
            self.udp.release()
            self.udp = udp
        if self.correspondence is not None:
            self.correspondence.release()
        self.correspondence = new

    def render(self, pose: Pose, camera: Camera) -> None:
        self.udp.render(pose, camera)
        for p in self.passes.values():
            p.render(pose, camera)
        if self.correspondence is not None:
            self.correspondence.render(pose, camera, visibility=self.udp.visibility)
        self.ctx.finish()  # so raster time is the GPU's work, not the read-back's

    def read(self) -> np.ndarray:
        """[H, W, 4] f32 UDP of the last render (row 0 = top)."""
        return self.udp.read().data

    def read_views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(sampled [M, 4, H, W], cover [M, 1, H, W], the target's G-buffer [2, H, W]: where an inked
        look's lines go, ``CorrespondencePass.read_gbuf``) of the last render, or None without exact
        correspondences (the shader then looks the UDP up in its table)."""
        if self.correspondence is None:
            return None
        return (*self.correspondence.read(), self.correspondence.read_gbuf())

    def read_views_box(self) -> ViewsRead | None:
        """``read_views`` as read back, laid out later on the shading thread (``ShadeStage.shade``):
        the frame loop's thread only reads the covered box; a banded fusion lays out its band only."""
        return None if self.correspondence is None else self.correspondence.read_box()

    def read_toon(self) -> np.ndarray | None:
        return None if self.toon is None else self.toon.read()

    def read_buffers(self) -> dict[str, np.ndarray]:
        """Every pass's buffer of the last render by name: "udp" first, "coverage"
        ([H, W] f32 covered fraction, with ``antialias`` > 1), then the named passes."""
        cover = {"coverage": self.udp.read_coverage()} if self.antialias > 1 else {}
        return {"udp": self.read(), **cover, **{name: p.read() for name, p in self.passes.items()}}

    def draw_sheet(self, views: int = 4) -> list[np.ndarray]:
        """A toon-shaded sheet of the character in its rest pose from ``views``
        yaws (front, side, back, other side): the fallback when no sheet is given."""
        pose = rest_pose(self.character)
        pts = posed_positions(self.character, pose)
        yaws = sheet_yaws(views, "spread")
        with ToonPass(self.ctx, self.size, self.size) as toon:
            toon.set_character(self.character)
            return [toon.run(pose, frame_character(pts, yaw=y, size=self.size)) for y in yaws]

    def close(self) -> None:
        self.udp.release()
        for p in self.passes.values():
            p.release()
        if self.correspondence is not None:
            self.correspondence.release()
        if self._own_ctx:
            release_context(self.ctx)


class ShadeStage:
    """An inference backend holding the encoded sheet (encoded once, here).

    ``sheet``: a :class:`~conrt.runtime.app.session.Sheet` (its views' own UDPs
    are used when the model takes them), or a list of [H, W, 4] views (with
    ``sheet_udps`` beside them, if known).

    Output: [H, W, 4] f32 premultiplied RGBA; with ``clip_to_udp`` (default)
    the alpha is limited to the UDP's occupancy, and given the frame's
    ``coverage`` (``RasterStage(antialias=k)``) the silhouette is anti-aliased:
    ``shaders.coverage.soften_edges``, edge pixels only, the interior and the
    network's input untouched."""

    def __init__(self, model, sheet, size: int, backend: str = "auto", clip_to_udp: bool = True,
                 sheet_udps=None, backend_options: dict | None = None):
        if isinstance(sheet, Sheet):
            sheet_udps = sheet.udps_for(model) if sheet_udps is None else sheet_udps
            sheet = sheet.images
        sheet_images = list(sheet)
        check_size(size, model.cfg.size_multiple)
        self.size = int(size)
        # The rasterizer knows the exact coverage (hair and cloth included), so
        # the network's alpha is clipped to it: a weak or untrained network must
        # not paint the background.
        self.clip_to_udp = clip_to_udp
        self.backend = create_backend(backend, model, sheet_views=len(sheet_images), **(backend_options or {}))
        t0 = time.perf_counter()
        try:
            self.sheet_images = fit_sheet(sheet_images, self.size)  # [S, S, 4] u8 straight RGBA views
            # the views' own UDPs (if known), framed like the images
            self.sheet_udps = fit_sheet_udps(sheet_udps, sheet_images, self.size) if sheet_udps is not None else None
            # on a thread of its own, like per-frame shading (see bridge_source.py)
            with ThreadPoolExecutor(1, thread_name_prefix="conrt-sheet") as pool:
                self.cache = pool.submit(self.backend.encode_sheet, self.sheet_images, sheet_udp=self.sheet_udps,
                                         look_from=sheet_images, look_udps=sheet_udps).result()  # the drawings' look
        except BaseException:
            self.backend.close()
            raise
        log.info("sheet encoded once: %d views at %d px in %.2f s (%s backend), look: %s", self.cache.views,
                 self.size, time.perf_counter() - t0, self.backend.name, self.cache.look)

    @property
    def name(self) -> str:
        return self.backend.name

    def set_sheet_ink(self, ink) -> None:
        """The sheet's own ink (``shaders.sheet_ink.SheetInk``, estimated once by the correspondence pass
        from the views and their surface maps): the target's lines are drawn in it from now on (before
        ``prepare_views``: the graphs hold it)."""
        self.cache = self.backend.cache = self.backend.cache.with_ink(ink)
        log.info("sheet look: %s", self.cache.look)

    def shade(self, udp: np.ndarray, views: tuple | ViewsRead | None = None,
              coverage: np.ndarray | None = None) -> np.ndarray:
        """``views``: the frame's (sampled, cover[, gbuf]) from exact correspondences
        (``RasterStage.read_views``), or their read-back (``read_views_box``);
        None = the backend's table lookup.
        ``coverage``: the frame's [H, W] covered fraction (``buffers["coverage"]``)."""
        if udp.shape[:2] != (self.size, self.size):
            raise InputError(f"UDP frame is {udp.shape[1]}x{udp.shape[0]}, the shader runs at {self.size}")
        if views is None:
            rgba = self.backend.shade(udp)
        elif isinstance(views, ViewsRead):
            rgba = self.backend.shade_read(udp, views)
        else:
            rgba = self.backend.shade_views(udp, *views)
        if self.clip_to_udp or coverage is not None:  # premultiplied: scale all four channels
            # in place when the backend handed over an array of its own (finish_frame's copy): one pass less
            rgba = np.multiply(rgba, udp[..., 3:4], out=rgba if rgba.flags.owndata and rgba.flags.writeable else None)
        if coverage is not None:
            if np.shape(coverage) != udp.shape[:2]:
                raise InputError(f"coverage is {np.shape(coverage)}, the UDP frame {udp.shape[:2]}")
            soften_edges(rgba, udp[..., 3], coverage)
        return rgba

    def close(self) -> None:
        """Free the backend (its threads, GL context, sessions)."""
        self.backend.close()

    def __enter__(self) -> "ShadeStage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# the correspondence pass samples the sheet's drawings at up to this many times the frame's
# side (``pass_sheet``), not the frame-size copy the network's sheet encoder takes: a 256²
# drawing shaded at 128² lost its detail twice, averaged down to 128² and then sampled
# bilinearly there (Godette at 128²: sharpness 0.75 where the aim is 0.85-1.15)
PASS_SHEET_SCALE = 2


def pass_sheet(images, size: int, reference) -> tuple[int, np.ndarray]:
    """(side, reference [M, 4, S, S] premultiplied) the correspondence pass samples the sheet's
    drawings ``images`` at, for ``size`` frames: the drawings' largest side, at most
    ``PASS_SHEET_SCALE`` x ``size``, re-framed as ``fit_sheet`` re-frames them for the network;
    ``reference`` (``SheetCache.reference``) itself when that side is ``size``. Frames larger
    than the drawings get the drawings' own side too (session 15), not a copy up-sampled to the
    frame's: the pass's samples are positions in the view, and the copy's bilinear blur was
    sampled bilinearly once more and widened the outline past the band it un-inks."""
    side = min(PASS_SHEET_SCALE * size, max(max(im.shape[:2]) for im in images))
    if side == size:
        return size, reference
    return side, framed_reference(images, side)


def framed_reference(images, side: int) -> np.ndarray:
    """The drawings re-framed at ``side`` as ``fit_sheet`` re-frames them for the network (views
    already ``side`` x ``side`` as drawn) -> [M, 4, S, S] premultiplied."""
    rgb, mask = prepare_sheet(fit_sheet(images, side), 1, side, False, None, side)
    return np.concatenate([rgb, mask], 2)[0]


def ink_sheet(chosen, images, side: int) -> tuple[list, np.ndarray] | None:
    """(views, reference) of the drawings at the side the sheet's ink is estimated at
    (``CorrespondencePass.set_sheet(ink_sheet=)``), or None where that is ``side``, the pass's (its
    own surface maps serve). That side is the one the sheet's look is judged at (``look_side``: the
    drawings' own, at most ``LOOK_MAX_SIDE`` = 512), whatever the frame size: not the pass's copy
    where that is another side (frames under half the drawings' side; a copy up-sampled blurs the
    lines: the sample sheet's 256² drawings up-sampled to 512² measured 1.5 px per 256 in a lighter
    ink, 1 px in our toon pass's as drawn); larger drawings are averaged down to it (a line of 1 px
    per 256 still 2 px there)."""
    ink_side = look_side(images)
    if ink_side == side:
        return None
    return sheet_views(chosen, images, ink_side), framed_reference(images, ink_side)


def sheet_views(chosen, images, size: int) -> list:
    """``choose_correspondences`` output -> ``SheetView`` per view, in the
    sheet's framing at ``size`` (what ``fit_sheet`` gives the network)."""
    views = []
    for (mode, data, name), img in zip(chosen, images):
        if mode == "exact":
            camera, pose = data
            views.append(SheetView("exact", camera=camera, pose=pose, framing=sheet_framing(img, size), name=name))
        else:
            views.append(SheetView("udp-nn", udp=fit_sheet_udps([data], [img], size)[0], name=name))
    return views


# ---------------------------------------------------------------------------
# the loop


@dataclass
class _Job(_NamedBuffers):
    index: int
    clip: str
    time: float
    buffers: dict  # RasterStage.read_buffers(): "udp" and the named passes'
    camera: Camera
    pose: Pose
    physics_ms: float
    raster_ms: float
    readback_ms: float
    raster_start: float
    raster_end: float
    views: tuple[np.ndarray, np.ndarray] | None = None  # exact correspondences (sampled, cover)
    shade_start: float = 0.0
    shade_end: float = 0.0
    rgba: np.ndarray | None = None
    error: BaseException | None = None


class _Mailbox:
    """Bounded FIFO; ``put(drop_oldest=True)`` never blocks and evicts the oldest."""

    def __init__(self, maxsize: int | None):
        self.items: collections.deque = collections.deque()
        self.maxsize = maxsize
        self.cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item, drop_oldest: bool) -> None:
        with self.cond:
            while self.maxsize and len(self.items) >= self.maxsize and not drop_oldest and not self.closed:
                self.cond.wait()
            if self.maxsize and len(self.items) >= self.maxsize:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.cond.notify_all()

    def get(self, timeout: float | None = None):
        with self.cond:
            if not self.cond.wait_for(lambda: self.items or self.closed, timeout):
                return None
            if not self.items:
                return None
            item = self.items.popleft()
            self.cond.notify_all()
            return item

    def get_latest(self):
        """Newest item (older ones are dropped), or None; never blocks."""
        with self.cond:
            if not self.items:
                return None
            self.dropped += len(self.items) - 1
            item = self.items.pop()
            self.items.clear()
            self.cond.notify_all()
            return item

    def __len__(self) -> int:
        with self.cond:
            return len(self.items)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


SHADE_WORKERS = ("auto", 1, 2)


def check_shade_workers(shade_workers, realtime: bool) -> None:
    """The rule for frames shaded at once, for the spec (before loading) and the Runtime itself
    (``"auto"``: the spec's default, resolved by :func:`choose_shade_workers`)."""
    if shade_workers not in SHADE_WORKERS or isinstance(shade_workers, bool):
        raise ConfigError(f"shade_workers must be auto, 1 or 2 (frames shaded at once), got {shade_workers!r}")
    if shade_workers == 2 and realtime:
        raise ConfigError("shade_workers=2 delivers frames in order; a realtime runtime shades one at a time")


def choose_shade_workers(shade_workers, *, realtime: bool, in_order: bool, exact: bool, concurrent: bool) -> int:
    """Frames shaded at once: the one rule. ``"auto"`` is 2 where every frame is taken in order
    and nobody steers (``in_order``: render, bench: ``RuntimeSpec.lookahead``), not realtime,
    from exact correspondences (``exact``) on a backend that can (``concurrent``:
    ``Backend.concurrent_views``), else 1: on 2 cores the second shading thread uses the core
    the producer leaves idle while it waits on the slot (1.18x fps at 0.98x CPU near-quiet,
    docs/runtime.md "Session 10"); a steered or realtime loop takes one frame at a time.
    An explicit 2 where it cannot run is a ConfigError naming why."""
    check_shade_workers(shade_workers, realtime)
    if shade_workers == "auto":
        return 2 if in_order and not realtime and exact and concurrent else 1
    if shade_workers == 2 and not exact:
        raise ConfigError("shade_workers=2 shades from exact correspondences only; this runtime looks "
                          "the UDP up in the sheet's table (use shade_workers=1)")
    return shade_workers


class Runtime:
    """Physics -> raster -> shade, pipelined. Build with injected stages, or with
    :func:`open_runtime` from files.

        with open_runtime(clip="walk", size=128) as rt:
            for frame in rt.frames(60):
                frame.rgba, frame.stats.fps

    ``frames(n)`` delivers every frame in order. For live use call
    :meth:`produce` once per tick and :meth:`latest` to get the newest shaded
    frame (``realtime=True``: neither ever waits on the other). ``step(pose)``
    shades one given pose and returns its frame (the engine bridge).

    Control goes through the runtime, never into its stages: ``set_camera``,
    ``set_clip``, ``seek``, ``set_time_scale``, ``advance``, ``check_clip``,
    ``poke_at_pixel``. ``physics`` may be None (poses then come from ``step(pose)``).
    """

    def __init__(self, physics: PhysicsStage | None, raster: RasterStage, shader: ShadeStage, *,
                 realtime: bool = False, pending: int = 1, outputs: int = 2, shade_workers: int = 1):
        if not 1 <= pending <= 2:
            raise ConfigError(f"pending must be 1 or 2 (frames waiting for the shader), got {pending}")
        check_shade_workers(shade_workers, realtime)
        if shade_workers == "auto":  # the spec's default; build_runtime resolves it (choose_shade_workers)
            raise ConfigError("Runtime takes shade_workers=1 or 2; 'auto' is RuntimeSpec's, resolved by build_runtime")
        if shade_workers > 1 and not getattr(shader.backend, "concurrent_views", False):
            raise ConfigError(f"backend {shader.name!r} cannot shade two frames at once; use shade_workers=1")
        if raster.size != shader.size:
            raise ConfigError(f"raster stage renders {raster.size} px but the shader runs at {shader.size} px")
        self.physics, self.raster, self.shader = physics, raster, shader
        self.realtime = realtime
        self._inbox = _Mailbox(pending)
        self._outbox = _Mailbox(outputs if realtime else None)
        self._produced = 0
        self._delivered: collections.deque = collections.deque(maxlen=30)
        self._stop = threading.Event()
        # shade_workers=2: two frames shaded at once (the shading of one frame is a single ONNX
        # Runtime thread, the pipeline's longest stage), handed on in order (_in_order)
        self._order = threading.Lock()
        self._finished: dict[int, _Job] = {}  # shaded ahead of an earlier frame, by index
        self._next_out = 0
        self._workers = [threading.Thread(target=self._shade_loop, name=f"conrt-shade_{i}", daemon=True)
                         for i in range(shade_workers)]
        for worker in self._workers:
            worker.start()
        self._closed = False
        self.last_produced: _Job | None = None
        self.owned: list = []  # closed with the runtime (e.g. a VMC receiver open_runtime opened)
        # called with (pose, clip time) for every produced frame's pose, e.g. a VMC sender's send
        self.pose_listeners: list[Callable] = []

    # -- properties ---------------------------------------------------------
    @property
    def size(self) -> int:
        return self.raster.size

    @property
    def shade_workers(self) -> int:
        """Frames shaded at once (1, or 2: ``RuntimeSpec.shade_workers``)."""
        return len(self._workers)

    @property
    def dropped(self) -> int:
        return self._inbox.dropped + self._outbox.dropped

    # -- producer (caller's thread: owns the GL context) ---------------------
    def produce(self, pose: Pose | None = None) -> int:
        """Step physics (or take ``pose`` as given), rasterize and read back one
        frame, hand it to the shader. Returns the frame index. In realtime mode
        this never waits."""
        if self._closed:
            raise InputError("the runtime is closed")
        t0 = time.perf_counter()
        if pose is None:
            pose = self._physics().step()  # the pipelined loop: the physics may step a frame ahead
        for fn in self.pose_listeners:
            fn(pose, self.time)
        t1 = time.perf_counter()
        camera = self.raster.camera(pose)
        self.raster.render(pose, camera)
        t2 = time.perf_counter()
        buffers = self.raster.read_buffers()
        views = self.raster.read_views_box()  # laid out on the shading thread, as much as the shader needs
        t3 = time.perf_counter()
        job = _Job(self._produced, self.clip, self.time, buffers, camera, pose,
                   (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, t1, t2, views)
        self._produced += 1
        self.last_produced = job  # the live UDP/toon/camera, for previews and picking
        self._inbox.put(job, drop_oldest=self.realtime)
        return job.index

    # -- shader worker ------------------------------------------------------
    def _shade_loop(self) -> None:
        while not self._stop.is_set():
            job = self._inbox.get(timeout=0.1)
            if job is None:
                continue
            job.shade_start = time.perf_counter()
            try:
                job.rgba = self.shader.shade(job.udp, job.views, job.buffers.get("coverage"))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                job.error = exc
            job.shade_end = time.perf_counter()
            if len(self._workers) == 1:
                self._outbox.put(job, drop_oldest=self.realtime)
            else:
                self._in_order(job)

    def _in_order(self, job: _Job) -> None:
        """Hand shaded frames on by index (two workers finish out of order); the outbox is
        unbounded here (not realtime), so the put never waits under the lock."""
        with self._order:
            self._finished[job.index] = job
            while self._next_out in self._finished:
                self._outbox.put(self._finished.pop(self._next_out), drop_oldest=False)
                self._next_out += 1

    # -- consumer -----------------------------------------------------------
    def _finish(self, job: _Job | None) -> RuntimeFrame | None:
        if job is None:
            return None
        if job.error is not None:
            raise job.error
        now = time.perf_counter()
        self._delivered.append(now)
        d = self._delivered
        fps = (len(d) - 1) / (d[-1] - d[0]) if len(d) > 1 and d[-1] > d[0] else 0.0
        stats = FrameStats(job.index, job.physics_ms, job.raster_ms, job.readback_ms,
                           (job.shade_end - job.shade_start) * 1e3, 0.0, fps, self.dropped,
                           job.raster_start, job.raster_end, job.shade_start, job.shade_end)
        return RuntimeFrame(job.index, job.clip, job.time, job.rgba, job.buffers, job.camera, stats)

    def latest(self) -> RuntimeFrame | None:
        """The newest shaded frame since the last call (older ones dropped), or None."""
        return self._finish(self._outbox.get_latest())

    def next(self, timeout: float | None = None) -> RuntimeFrame | None:
        """The next shaded frame in order (waits up to ``timeout`` seconds)."""
        return self._finish(self._outbox.get(timeout))

    def frames(self, count: int, sink: Callable[[RuntimeFrame], None] | None = None) -> Iterator[RuntimeFrame]:
        """Produce and deliver ``count`` frames in order, pipelined. ``sink`` (optional)
        runs on each frame before it is yielded; its time is ``stats.output_ms``."""
        if count < 1:
            raise ConfigError(f"frame count must be >= 1, got {count}")
        if self.realtime:
            raise ConfigError("frames() delivers every frame; use produce()/latest() on a realtime runtime")
        done = 0

        def deliver(frame: RuntimeFrame) -> RuntimeFrame:
            t = time.perf_counter()
            if sink is not None:
                sink(frame)
            return _with_output(frame, (time.perf_counter() - t) * 1e3)

        produced = 0
        while done < count:
            if produced < count:
                self.produce()  # waits only when the shader is `pending` frames behind
                produced += 1
                frame = self.next(timeout=0)
            else:
                frame = self.next(timeout=None)
            while frame is not None:
                yield deliver(frame)
                done += 1
                frame = self.next(timeout=0) if done < count else None

    def step(self, pose: Pose | None = None) -> RuntimeFrame:
        """One frame, synchronously: ``pose`` (or the physics' next one) rasterized
        and shaded, returned when the shader is done. Not on a realtime runtime."""
        if self.realtime:
            raise ConfigError("step() waits for its own frame; use produce()/latest() on a realtime runtime")
        self.produce(pose)
        return self.next(timeout=None)

    # -- control ------------------------------------------------------------
    def _physics(self) -> PhysicsStage:
        if self.physics is None:
            raise ConfigError("this runtime has no physics (the character cannot be simulated); "
                              "give poses to step(pose)")
        return self.physics

    @property
    def clip(self) -> str:
        """The clip (or motion, or live stream) the physics plays; "" without physics."""
        return "" if self.physics is None else self.physics.clip

    @property
    def time(self) -> float:
        """Clip time of the physics in seconds (0 without physics)."""
        return 0.0 if self.physics is None else self.physics.time

    def advance(self) -> Pose:
        """Step the physics one frame (``time_scale`` frames of clip time) without rendering;
        synchronous, so steering set after it (time scale, clip, seek) applies to the next step."""
        return self._physics().step(ahead=False)

    def check_clip(self, clip: str) -> None:
        """ConfigError naming the valid clips unless the physics can play ``clip``."""
        self._physics().check_clip(clip)

    def set_clip(self, clip, start: float = 0.0) -> None:
        """Cross-fade to ``clip`` (hair and cloth carry on), from clip time ``start``."""
        self._physics().set_clip(clip, start)

    def seek(self, t: float, clip=None) -> Pose:
        """Jump to time ``t`` of ``clip`` (default: the current one); cloth and hair restart from rest."""
        ph = self._physics()
        return ph.seek(ph.clip if clip is None else clip, t)

    def set_time_scale(self, scale: float) -> None:
        """Frames of clip time each physics step advances (1 = real time at the runtime's fps)."""
        self._physics().time_scale = scale

    @property
    def camera_angles(self) -> tuple[float, float]:
        """(yaw, pitch) of the orbit camera in degrees."""
        return self.raster.yaw, self.raster.pitch

    def set_camera(self, yaw: float | None = None, pitch: float | None = None, zoom: float | None = None) -> None:
        """Orbit the camera (degrees; None keeps the current value) from the next produced frame on."""
        for name, value in (("yaw", yaw), ("pitch", pitch), ("zoom", zoom)):
            if value is not None:
                if not math.isfinite(value):
                    raise InputError(f"camera {name} must be finite, got {value}")
                setattr(self.raster, name, float(value))

    def poke_at_pixel(self, x: float, y: float, strength: float = 3.0) -> str | None:
        """Push the body part under pixel (x, y) of the latest produced frame away
        from the camera with an impulse of ``strength`` N s. Returns the joint hit,
        or None if the pixel is not on the character. Needs ``physics_mode="physical"``."""
        job = self.last_produced
        if job is None:
            return None
        xi, yi = int(x), int(y)
        if not (0 <= xi < self.size and 0 <= yi < self.size) or job.udp[yi, xi, 3] <= 0:
            return None
        joints = job.pose.joint_world[:, :3, 3].astype(np.float64)
        px = project(job.camera, joints)
        # nearest joint on screen; the physics picks the capsule nearest to that point
        k = int(np.argmin(np.sum((px - (x, y)) ** 2, axis=1)))
        forward = -job.camera.view[2, :3].astype(np.float64)  # the eye looks down -Z
        return self._physics().poke(joints[k], forward * strength)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._inbox.close()
        self._outbox.close()
        for worker in self._workers:
            worker.join(timeout=30)
        self.raster.close()
        if self.physics is not None:
            self.physics.close()
        self.shader.close()
        for o in self.owned:
            o.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _with_output(frame: RuntimeFrame, output_ms: float) -> RuntimeFrame:
    s = frame.stats
    stats = FrameStats(s.index, s.physics_ms, s.raster_ms, s.readback_ms, s.shade_ms, output_ms, s.fps, s.dropped,
                       s.raster_start, s.raster_end, s.shade_start, s.shade_end)
    return RuntimeFrame(frame.index, frame.clip, frame.time, frame.rgba, frame.buffers, frame.camera, stats)


# ---------------------------------------------------------------------------
# convenience


@dataclass
class RuntimeInfo:
    """What :func:`build_runtime` loaded (for logs, metadata and the bench)."""

    character: str
    sheet: str
    weights: str
    backend: str
    size: int
    untrained: bool = False
    extra: dict = field(default_factory=dict)


PHYSICS = ("on", "optional", "off")


@dataclass(frozen=True)
class RuntimeSpec:
    """Everything that defines a runtime, as data: what :func:`build_runtime`
    (the one place a pipeline is assembled) loads and wires. Every entry point
    (``open_runtime``, the bridge's frame source, ``conrt demo``/``render``,
    the bench) makes one of these.

    ``character``: None (the sample), a path (loader by suffix,
    ``session.CHARACTER_LOADERS``), "procedural:SEED" or a Character;
    ``motion``: a motion source (a clip name, a .bvh/.vrma file,
    ``animation:NAME``, ``FILE.glb#NAME`` or a Clip; :mod:`conrt.physics.motion`);
    ``sheet``: None (the sample sheet, else one drawn with the toon pass), a
    folder, a list of images or a ``session.Sheet``; ``weights``: None (the
    embedded default), a path, shipped weights by name, or a loaded model
    (``checkpoint.resolve_model`` resolves the rest); ``backend`` +
    ``backend_options`` (``Backend.option_names``); ``size``: the square frame
    side; ``yaw``/``pitch``: the orbit camera (degrees); ``correspondence``
    (lookup models, conr-rt): ``auto`` (exact where the sheet has
    ``view_NN_view.npz``, UDP nearest-neighbour where it has only
    ``view_NN_udp.npz``, else the table), ``table``, ``exact``, ``udp-nn``;
    ``physics``: "on", "optional" (a character the physics cannot drive gets
    none; poses then come from ``step(pose)``) or "off"; ``physics_mode``:
    "kinematic" follows the motion exactly, "physical" lets ``poke`` push the
    body; ``passes``: named render passes besides the UDP (runtime/app/passes.py),
    e.g. ("toon",); ``facing``/``name_map``: see
    :func:`conrt.characters.gltf_io.load_character`; ``vmc``: a
    :class:`~conrt.physics.vmc.VmcReceiver` (or "[HOST:]PORT", then the runtime
    owns and closes it) whose live pose drives the body instead of ``motion``;
    ``vmc_send``: "HOST:PORT" to send each produced pose to as VMC;
    ``lookahead``: step the physics a frame ahead on a thread of its own
    (``PhysicsStage``) — only for callers that take every frame in order and
    never steer (render, the bench): a steer would show a frame late;
    ``shade_workers``: frames shaded at once, "auto" (default), 1 or 2 (not realtime;
    exact correspondences on a backend that can, ``concurrent_views``: gl-lookup
    on ONNX Runtime; the same frames, in order): "auto" is 2 where ``lookahead``
    holds (render, bench) and the backend can, else 1 (:func:`choose_shade_workers`);
    ``antialias``: anti-aliased silhouettes in the shaded frame: "off"
    (default: it costs ~10-15 % more CPU per frame at 256², ~20 % at 128², docs/runtime.md
    "Anti-aliased silhouettes"), "on" (3 x 3 coverage samples per pixel) or
    the samples per pixel side 1..5 (``shaders.coverage.parse_switch``; the
    network's UDP is the same either way). ``conrt render`` and ``conrt demo``
    turn it on.
    """

    character: object = None
    motion: object = "idle"
    sheet: object = None
    weights: object = None
    backend: str = "auto"
    backend_options: Mapping = field(default_factory=dict)
    size: int = DEFAULT_SIZE
    yaw: float = 0.0
    pitch: float = 0.0
    correspondence: str = "auto"
    fps: float = 30.0
    physics: str = "on"
    physics_mode: Literal["kinematic", "physical"] = "kinematic"
    realtime: bool = False
    passes: tuple = ()
    context: str = "auto"
    facing: str = "auto"
    name_map: Mapping | None = None
    vmc: object = None
    vmc_send: object = None
    lookahead: bool = False
    antialias: object = "off"
    shade_workers: object = "auto"

    def check(self) -> "RuntimeSpec":
        """The checks that need no loading (motion text, size, modes, addresses,
        pass names), so bad input fails before anything slow starts."""
        if not isinstance(self.motion, Clip):
            check_motion(self.motion)
        check_size(self.size)
        if self.correspondence not in CORRESPONDENCES:
            raise ConfigError(f"unknown correspondence mode {self.correspondence!r}; "
                              f"valid: {', '.join(CORRESPONDENCES)}")
        if self.physics not in PHYSICS:
            raise ConfigError(f"physics must be one of {', '.join(PHYSICS)}, got {self.physics!r}")
        if self.physics_mode not in ("kinematic", "physical"):
            raise ConfigError(f"physics_mode must be kinematic or physical, got {self.physics_mode!r}")
        check_fps(self.fps, "fps")
        check_passes(self.passes)
        check_shade_workers(self.shade_workers, self.realtime)
        parse_switch(self.antialias, "antialias")
        if isinstance(self.vmc, (str, int)) or self.vmc_send is not None:
            if isinstance(self.vmc, (str, int)):
                parse_address(self.vmc)
            if isinstance(self.vmc_send, str):
                parse_address(self.vmc_send, need_host=True, what="vmc_send")
        return self


def build_runtime(spec: RuntimeSpec, *, ctx=None) -> Runtime:
    """Load what ``spec`` names and build its :class:`Runtime`: the one place a
    pipeline is assembled (``rt.info`` says what was loaded, ``rt.spec`` what
    was asked). ``ctx``: an existing GL context to render into (a window's)."""
    spec.check()
    model = spec.weights if isinstance(spec.weights, ShaderNet) else resolve_model(spec.weights)
    weights_desc = getattr(model, "conrt_description", f"{model.cfg.name} (given)")
    size = check_size(spec.size, model.cfg.size_multiple)
    char, char_file = resolve_character(spec.character, facing=spec.facing, name_map=spec.name_map)
    motion = None
    try:
        motion = resolve_motion(spec.motion, char, character_file=char_file, name_map=spec.name_map)
    except ConrtError as exc:
        if spec.physics != "optional":
            raise
        log.warning("no motion %r for %s (%s): poses come from the caller", spec.motion, char.name, exc)
    sheet = None
    if spec.sheet is not None:  # a bad sheet fails before GL and physics start
        sheet = load_sheet(spec.sheet)
    raster = RasterStage(char, size, ctx=ctx, context=spec.context, yaw=spec.yaw, pitch=spec.pitch,
                         passes=spec.passes, antialias=parse_switch(spec.antialias, "antialias"))
    physics = shader = None
    owned: list = []  # what the runtime closes with itself (a VMC receiver/sender it opened)
    try:
        if motion is not None:
            raster.fit_motion(motion_poses(char, motion))
        if sheet is None:
            sheet = load_sheet(None, fallback=raster.draw_sheet)
        sheet_desc = sheet.description + (" (with their UDPs)" if sheet.udps_for(model) is not None else "")
        chosen = _choose_correspondences(model, sheet, char, spec.correspondence)
        shader = ShadeStage(model, sheet, size, spec.backend, backend_options=dict(spec.backend_options))
        if chosen is not None and not shader.backend.takes_views:
            if spec.correspondence != "auto":
                raise ConfigError(f"backend {shader.name!r} cannot shade from exact sheet correspondences; "
                                  "use gl-lookup or torch (or correspondence='table')")
            log.warning("backend %s cannot shade from exact sheet correspondences: every view uses the "
                        "lookup table (use gl-lookup or torch for exact ones)", shader.name)
            chosen = None
        if chosen is not None:
            look = shader.cache.look  # None: not judged, shaded as inked (SheetCache.ink)
            side, reference = pass_sheet(sheet.images, size, shader.cache.reference)
            if side != size:
                log.info("the correspondence pass samples the sheet's drawings at %d px (frames at %d px)", side, size)
            drawn = ink_sheet(chosen, sheet.images, side)
            if drawn is not None:
                log.info("the sheet's ink is estimated on its drawings at %d px (the pass's at %d px)",
                         drawn[1].shape[-1], side)
            raster.set_correspondences(sheet_views(chosen, sheet.images, side), reference,
                                       inked=look is None or look.inked, ink_sheet=drawn,
                                       lit=look is None or look.inked or look.shaded)
            if raster.correspondence.sheet_ink is not None:  # an inked sheet: its own ink, found by the pass
                shader.set_sheet_ink(raster.correspondence.sheet_ink)
            shader.backend.prepare_views()
            sheet_desc += f" ({'/'.join(sorted({m for m, _, _ in chosen}))} correspondences)"
        elif getattr(model, "takes_views", False):  # conr-rt without the views' files: the 32³ table, every view
            own = model.fusion_for("table") is not model.fusion
            sheet_desc += " (table correspondences, the table-mode fusion net)" if own else " (table correspondences)"
        receiver = live = None
        if spec.vmc is not None:
            receiver = VmcReceiver(spec.vmc) if isinstance(spec.vmc, (str, int, tuple)) else spec.vmc
            if receiver is not spec.vmc:
                owned.append(receiver)
            live = receiver.motion(char)
        # every frame taken in order and nothing steers: the physics may step a frame ahead (kinematic),
        # two frames may be shaded at once (choose_shade_workers)
        in_order = spec.lookahead and not spec.realtime and live is None and spec.vmc_send is None
        if spec.physics == "on" or live is not None or (spec.physics == "optional" and motion is not None):
            lookahead = in_order and spec.physics_mode == "kinematic"
            try:
                physics = PhysicsStage(char, motion if motion is not None else "idle", fps=spec.fps,
                                       mode=spec.physics_mode, live=live, lookahead=lookahead)
            except ConrtError as exc:  # e.g. no humanoid joints for the clips
                if spec.physics != "optional":
                    raise
                log.warning("no physics for %s (%s): poses come from the caller", char.name, exc)
        workers = choose_shade_workers(spec.shade_workers, realtime=spec.realtime, in_order=in_order,
                                       exact=chosen is not None,
                                       concurrent=getattr(shader.backend, "concurrent_views", False))
        rt = Runtime(physics, raster, shader, realtime=spec.realtime, shade_workers=workers)
        if spec.vmc_send is not None:
            sender = VmcSender(spec.vmc_send, char) if isinstance(spec.vmc_send, (str, tuple)) else spec.vmc_send
            if sender is not spec.vmc_send:
                owned.append(sender)
            rt.pose_listeners.append(sender.send)
        rt.owned = owned
    except BaseException:
        raster.close()
        if physics is not None:
            physics.close()
        if shader is not None:
            shader.close()
        for o in owned:
            o.close()
        raise
    rt.spec, rt.model, rt.character, rt.motion, rt.sheet, rt.vmc = spec, model, char, motion, sheet, receiver
    rt.info = RuntimeInfo(char.name, sheet_desc, weights_desc, shader.name, size, "UNTRAINED" in weights_desc)
    log.info("runtime: character %s, sheet %s, weights %s, backend %s, %d px, anti-aliasing %s", char.name,
             sheet_desc, weights_desc, shader.name, size,
             f"{raster.antialias}x{raster.antialias}" if raster.antialias > 1 else "off")
    return rt


def _choose_correspondences(model, sheet, character, mode: str):
    if not model.takes_views:  # exact/udp-nn shade from the views found: conr-rt's FusionNet
        if mode not in ("auto", "table"):
            raise ConfigError(f"correspondence {mode!r} needs a model that shades from sheet views (conr-rt); "
                              f"{model.cfg.name} is {model.cfg.architecture!r}")
        return None
    return sheet.correspondences(character, mode)


def open_runtime(character=None, sheet=None, weights=None, *, backend: str = "auto", size: int | None = None,
                 clip="idle", fps: float = 30.0, physics_mode: Literal["kinematic", "physical"] = "kinematic",
                 realtime: bool = False, toon: bool = False, ctx=None, context: str = "auto",
                 yaw: float = 0.0, pitch: float = 0.0, model=None, facing: str = "auto",
                 name_map: dict | None = None, vmc=None, vmc_send=None, correspondence: str = "auto",
                 backend_options: dict | None = None, passes=(), antialias="off") -> Runtime:
    """:func:`build_runtime` of a :class:`RuntimeSpec` from keyword arguments
    (``clip`` is its ``motion``; ``model``: a loaded model instead of
    ``weights``; ``toon=True`` adds the "toon" pass; ``size=None``: the
    project's default frame side, ``DEFAULT_SIZE``)."""
    spec = RuntimeSpec(character=character, motion=clip, sheet=sheet, weights=model if model is not None else weights,
                       backend=backend, backend_options=dict(backend_options or {}),
                       size=DEFAULT_SIZE if size is None else size, yaw=yaw, pitch=pitch,
                       correspondence=correspondence, fps=fps, physics_mode=physics_mode, realtime=realtime,
                       passes=(("toon",) if toon and "toon" not in passes else ()) + tuple(passes), context=context,
                       facing=facing, name_map=name_map, vmc=vmc, vmc_send=vmc_send, antialias=antialias)
    return build_runtime(spec, ctx=ctx)


# ---------------------------------------------------------------------------
# output helpers (premultiplied float -> files)


def to_straight_u8(rgba: np.ndarray) -> np.ndarray:
    """[H, W, 4] f32 premultiplied -> u8 straight alpha (what PNG expects):
    colour / alpha where alpha > 1e-6, else 0, then * 255 rounded. Worked on
    the pixels with alpha only (the character covers ~20 % of a frame; the
    rest stays zero): 5x less CPU than over every pixel, the same bytes; each
    pixel scattered as one 32-bit word: another 0.55x (0.73 -> 0.39 ms at 256²)."""
    x = np.asarray(rgba, np.float32)
    h, w = x.shape[:2]
    flat = x.reshape(-1, 4)
    out = np.zeros(h * w, np.uint32)  # a pixel's 4 bytes as one word: the scatter below is 1-D
    seen = np.flatnonzero(flat[:, 3] > 1e-6)  # NaN alpha: not seen
    p = np.take(flat, seen, axis=0)  # take: a fresh array, faster than fancy indexing
    np.clip(p, 0.0, 1.0, out=p)
    p[:, :3] /= p[:, 3:4]
    np.clip(p, 0.0, 1.0, out=p)
    p *= 255
    p += 0.5
    out[seen] = p.astype(np.uint8).view(np.uint32)[:, 0]
    return out.view(np.uint8).reshape(h, w, 4)


def over_background(rgba: np.ndarray, background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """[H, W, 4] f32 premultiplied -> [H, W, 3] u8 composited over a flat colour (for video)."""
    rgba = np.clip(np.asarray(rgba, np.float32), 0.0, 1.0)
    bg = np.asarray(background, np.float32)
    rgb = rgba[..., :3] + (1.0 - rgba[..., 3:]) * bg
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def straight_over_background(rgba: np.ndarray, background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """[H, W, 4] straight-alpha RGBA (u8 as the toon pass and PNG files hold it, or f32 in [0, 1]) ->
    [H, W, 3] u8 composited over a flat colour: ``over_background`` of it premultiplied."""
    x = np.asarray(rgba)
    x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
    return over_background(np.concatenate([x[..., :3] * x[..., 3:], x[..., 3:]], -1), background)


def udp_preview(udp: np.ndarray) -> np.ndarray:
    """[H, W, 4] f32 UDP -> [H, W, 4] u8 straight RGBA picture of it."""
    return (np.clip(udp, 0, 1) * 255 + 0.5).astype(np.uint8)


def atlas_layout(count: int, max_columns: int | None = None) -> tuple[int, int]:
    """(columns, rows) of a near-square sprite grid for ``count`` frames."""
    cols = max(1, math.ceil(math.sqrt(count)))
    if max_columns:
        cols = min(cols, max_columns)
    return cols, math.ceil(count / cols)
