"""The runtime as the engine bridge's frame source (``conrt bridge --source runtime``).

For each pose request the engine writes (see engine_bridge/PROTOCOL.md):
- ``CLIP``: the named clip at ``clip_time`` seconds. Requests that move
  forward in time on the same clip (by at most ``MAX_STEP`` s) step the
  physics world, so skirt and hair swing; another clip cross-fades from the
  current one (hair and cloth carry on); a jump back in time or far ahead
  re-seeks the world (cloth and hair restart from rest). Characters
  the physics cannot drive fall back to the clip's skinned pose;
- ``JOINTS``: the engine's own joint world matrices (skeleton order);
- ``NONE``: the rest pose;
with ``vmc`` (a :class:`~conrt.physics.vmc.VmcReceiver`) the live VMC pose
drives the body instead, physics stepped in wall-clock time (the request
still sets the camera);
the camera orbits the character at the request camera's yaw. The UDP is
rasterized, shaded with the encoded sheet and returned as premultiplied RGBA
(u8 or float16, the bridge's pixel format). Synchronous: the frame published
for a request is that request's frame (its id is echoed), so an engine can
match them; the shader is the bottleneck either way.

As in :class:`~conrt.runtime.frame_loop.Runtime`, the network runs on its own
thread and the GL context stays on the caller's. (On the busy shared 2-core
machine, torch calls from the main thread were in some runs 10-40x slower
than the same calls from a worker thread, in others not; cause not pinned
down, OpenMP team contention suspected.)
"""
from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from conrt.errors import ConfigError, ConrtError, InputError
from conrt.types import MAX_ABS_CLIP_TIME, MAX_ABS_JOINT_VALUE, Pose, PoseKind, PoseRequest

from .frame_loop import FrameStats, RasterStage, ShadeStage, check_size, sheet_udps_for

log = logging.getLogger(__name__)


MAX_STEP = 0.25  # seconds: a longer jump forward re-seeks instead of simulating through it


class RuntimeFrameSource:
    """``source(request) -> [H, W, 4]`` premultiplied RGBA for the bridge server."""

    def __init__(self, size: int = 256, dtype=np.uint8, character=None, sheet=None, weights=None,
                 backend: str = "auto", context: str = "auto", physics: bool = True, fps: float = 60.0,
                 vmc=None, vmc_send=None, motion=None, facing: str = "auto", name_map: dict | None = None,
                 backend_options: dict | None = None):
        from conrt.characters.posing import rest_pose

        from .session import load_character_source, load_model_source, load_sheet_source

        check_size(size)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.uint8), np.dtype(np.float16), np.dtype(np.float32)):
            raise ConfigError(f"bridge pixel dtype must be uint8, float16 or float32, got {self.dtype}")
        model, self.weights = load_model_source(weights)
        check_size(size, model.cfg.size_multiple)
        self.character = load_character_source(character, facing=facing, name_map=name_map)
        # a motion source (BVH, glTF animation ...) that CLIP requests may name besides the built-in clips
        self._motions = {}
        if motion is not None:
            from conrt.physics.motion import resolve_motion

            clip = resolve_motion(motion, self.character, character_file=character, name_map=name_map)
            self._motions[clip.name] = clip
            log.info("bridge: CLIP requests may also name %r (%s)", clip.name, motion)
        self.raster = RasterStage(self.character, size, context=context)
        try:
            images, self.sheet = load_sheet_source(sheet, fallback=self.raster.draw_sheet)
            self.shader = ShadeStage(model, images, size, backend, sheet_udps=sheet_udps_for(model, sheet, images),
                                     backend_options=backend_options)
        except BaseException:
            self.raster.close()
            raise
        self.size = size
        self._shade_thread = ThreadPoolExecutor(1, thread_name_prefix="conrt-bridge-shade")
        self._rest = rest_pose(self.character)
        self._animators: dict = {}
        self.physics = None
        self._owned: list = []  # VMC sockets opened here from addresses
        if isinstance(vmc, (str, int, tuple)):
            from conrt.physics.vmc import VmcReceiver

            vmc = VmcReceiver(vmc)
            self._owned.append(vmc)
        if isinstance(vmc_send, (str, tuple)):
            from conrt.physics.vmc import VmcSender

            vmc_send = VmcSender(vmc_send, self.character)
            self._owned.append(vmc_send)
        self.vmc = vmc  # a VmcReceiver ("[HOST:]PORT" opens one): its live pose drives the body
        self.live = vmc.motion(self.character) if vmc is not None else None
        self._live_tick: float | None = None
        if physics or self.live is not None:
            from .frame_loop import PhysicsStage

            try:
                self.physics = PhysicsStage(self.character, next(iter(self._motions.values()), "idle"), fps=fps,
                                            live=self.live)
            except ConrtError as exc:  # e.g. no humanoid joints for the clips
                log.warning("bridge: no physics for %s (%s); CLIP requests use the skinned clip pose",
                            self.character.name, exc)
        self.vmc_send = vmc_send  # a VmcSender ("HOST:PORT" opens one): each frame's pose goes out as VMC
        self.last_stats: FrameStats | None = None
        self._last_pose: Pose | None = None
        self._good_pose: Pose = self._rest  # the pose of the last request that shaded cleanly
        self._last_bad_id: int | None = None
        self.bad_requests = 0  # requests this source could not shade (counted once each)
        self.joint_count = self.character.skeleton.num_joints  # put in the bridge header: what JOINTS must send
        self.frames = 0
        log.info("bridge runtime source: %s, sheet %s, weights %s, backend %s, %d px", self.character.name,
                 self.sheet, self.weights, self.shader.name, size)

    def check_request(self, request: PoseRequest) -> None:
        """Raise InputError/ConfigError for a request this source cannot shade
        (the bridge server then keeps the last good request). Stateless: the
        physics is not touched."""
        if request.kind == PoseKind.JOINTS:
            if request.joints is None:
                raise InputError(f"request {request.request_id}: JOINTS without joint matrices")
            pose = Pose(joint_world=np.asarray(request.joints, np.float32))
            pose.validate(self.joint_count)
            if np.abs(pose.joint_world).max() > MAX_ABS_JOINT_VALUE:
                raise InputError(f"request {request.request_id}: joint matrix entries beyond +-{MAX_ABS_JOINT_VALUE:g}")
        elif request.kind == PoseKind.CLIP and request.clip_name:
            t = float(request.clip_time)
            if not (math.isfinite(t) and abs(t) <= MAX_ABS_CLIP_TIME):
                raise InputError(f"request {request.request_id}: clip time {t} outside +-{MAX_ABS_CLIP_TIME:g} s")
            if self.physics is not None:
                self.physics._check_clip(request.clip_name)
            elif request.clip_name not in self._motions:
                from conrt.physics.clips import get_clip

                get_clip(request.clip_name)

    def pose_for(self, request: PoseRequest) -> Pose:
        kind = request.kind
        if self.live is not None:
            return self._follow_live()
        if kind == PoseKind.CLIP and request.clip_name and self.physics is not None:
            return self._simulate(request.clip_name, float(request.clip_time))
        if kind == PoseKind.CLIP and request.clip_name:
            anim = self._animators.get(request.clip_name)
            if anim is None:
                from conrt.physics.clips import Animator, get_clip

                clip = self._motions.get(request.clip_name) or get_clip(request.clip_name, self.character)
                anim = self._animators[request.clip_name] = Animator(self.character, clip)
            return anim.pose(float(request.clip_time))
        if kind == PoseKind.JOINTS and request.joints is not None:
            pose = Pose(joint_world=np.asarray(request.joints, np.float32))
            pose.validate(self.character.skeleton.num_joints)
            return pose
        return self._rest

    def _simulate(self, clip: str, t: float) -> Pose:
        ph = self.physics
        ph._check_clip(clip)
        dt = t - ph.time
        max_step = min(MAX_STEP, 16.0 / ph.fps)  # PhysicsWorld.time_scale tops out at 16 frames per step
        if clip != ph.clip and self._last_pose is not None:
            # cross-fade (PhysicsWorld.set_clip): hair and cloth carry on, no reset; one frame lands on t
            ph.set_clip(clip, t - 1.0 / ph.fps)
            ph.world.time_scale = 1.0
            self._last_pose = ph.step()
        elif not (-1e-6 <= dt <= max_step) or self._last_pose is None:
            self._last_pose = ph.seek(clip, t)
        elif dt * ph.fps >= 0.25:  # PhysicsWorld advances whole substeps: skip sub-substep moves
            ph.world.time_scale = min(dt * ph.fps, 16.0)
            self._last_pose = ph.step()
        return self._last_pose

    def _follow_live(self) -> Pose:
        """The live pose with physics on top, advanced by the wall-clock time since the
        last frame; after a longer gap than a clip request may jump (``MAX_STEP``),
        re-placed on the live pose instead (cloth and hair restart), as for clips."""
        ph = self.physics
        if ph is None:  # no physics for this character: the live pose, skinned
            from conrt.physics.clips import Animator

            return Animator(self.character, self.live).pose(0.0)
        now = time.perf_counter()
        dt = None if self._live_tick is None else now - self._live_tick
        self._live_tick = now
        if dt is not None and dt > min(MAX_STEP, 16.0 / ph.fps):
            return ph.seek(ph.clip, 0.0)
        ph.world.time_scale = 1.0 if dt is None else float(np.clip(dt * ph.fps, 0.25, 16.0))
        return ph.step()

    def _bad(self, request, exc) -> None:
        if request.request_id != self._last_bad_id:  # once per request, not once per frame
            self._last_bad_id = request.request_id
            self.bad_requests += 1
            log.warning("request %d: %s; keeping the last good pose", request.request_id, exc)

    def __call__(self, request: PoseRequest) -> np.ndarray:
        t0 = time.perf_counter()
        self.raster.yaw = math.degrees(request.camera_yaw())  # before camera(): the orbit follows it
        try:
            self.check_request(request)
            pose = self.pose_for(request)
            camera = self.raster.camera(pose)
        except ConrtError as exc:  # a bad request must not stop the server (InputError, ConfigError, PhysicsError)
            self._bad(request, exc)
            pose = self._good_pose
            camera = self.raster.camera(pose)
        else:
            self._good_pose = pose
        if self.vmc_send is not None:
            self.vmc_send.send(pose)
        t1 = time.perf_counter()
        self.raster.render(pose, camera)
        t2 = time.perf_counter()
        udp = self.raster.read()
        t3 = time.perf_counter()
        rgba = self._shade_thread.submit(self.shader.shade, udp).result()
        t4 = time.perf_counter()
        out = np.clip(rgba, 0.0, 1.0)
        out = (out * 255 + 0.5).astype(np.uint8) if self.dtype == np.uint8 else out.astype(self.dtype)
        t5 = time.perf_counter()
        self.frames += 1
        self.last_stats = FrameStats(self.frames - 1, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3,
                                     (t4 - t3) * 1e3, (t5 - t4) * 1e3, 1.0 / max(t5 - t0, 1e-9))
        return out

    def close(self) -> None:
        self._shade_thread.shutdown(wait=True)
        self.raster.close()
        self.shader.close()
        if self.physics is not None:
            self.physics.close()
        for o in self._owned:
            o.close()
