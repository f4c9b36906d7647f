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

As in :class:`~conrt.runtime.app.frame_loop.Runtime`, the network runs on its own
thread and the GL context stays on the caller's. (On the busy shared 2-core
machine, torch calls from the main thread were in some runs 10-40x slower
than the same calls from a worker thread, in others not; cause not pinned
down, OpenMP team contention suspected.)
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np

from conrt.characters.posing import rest_pose
from conrt.errors import ConfigError, ConrtError, InputError
from conrt.physics.clips import Animator, get_clip
from conrt.types import MAX_ABS_CLIP_TIME, MAX_ABS_JOINT_VALUE, Pose, PoseKind, PoseRequest

from ..defaults import DEFAULT_SIZE
from ..limits import check_size
from .frame_loop import FrameStats, RuntimeSpec, build_runtime

log = logging.getLogger(__name__)


MAX_STEP = 0.25  # seconds: a longer jump forward re-seeks instead of simulating through it
MAX_TIME_SCALE = 16.0  # PhysicsWorld.time_scale tops out at 16 frames per step


class RuntimeFrameSource:
    """``source(request) -> [H, W, 4]`` premultiplied RGBA for the bridge server.

    It drives a :class:`~conrt.runtime.app.frame_loop.Runtime` built like every
    other (``build_runtime``) through its public surface: ``step(pose)``,
    ``set_camera``, ``seek``, ``set_clip``, ``set_time_scale``, ``advance``.
    ``spec`` gives the runtime directly; otherwise the keyword arguments make one
    (physics "optional": a character the physics cannot drive is posed by the
    skinned clip)."""

    def __init__(self, size: int = DEFAULT_SIZE, dtype=np.uint8, character=None, sheet=None, weights=None,
                 backend: str = "auto", context: str = "auto", physics: bool = True, fps: float = 60.0,
                 vmc=None, vmc_send=None, motion=None, facing: str = "auto", name_map: dict | None = None,
                 backend_options: dict | None = None, spec: RuntimeSpec | None = None, antialias="off"):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.uint8), np.dtype(np.float16), np.dtype(np.float32)):
            raise ConfigError(f"bridge pixel dtype must be uint8, float16 or float32, got {self.dtype}")
        if spec is None:
            check_size(size)
            spec = RuntimeSpec(character=character, motion=motion if motion is not None else "idle", sheet=sheet,
                               weights=weights, backend=backend, backend_options=dict(backend_options or {}),
                               size=size, fps=fps, physics="optional" if physics else "off", context=context,
                               facing=facing, name_map=name_map, vmc=vmc, vmc_send=vmc_send, antialias=antialias)
        self.rt = rt = build_runtime(spec)
        self.spec, self.size, self.character = spec, rt.size, rt.character
        self.weights, self.sheet = rt.info.weights, rt.info.sheet
        # a motion source (BVH, glTF animation ...) that CLIP requests may name besides the built-in clips
        self._motions = {}
        if motion is not None and rt.motion is not None:
            self._motions[rt.motion.name] = rt.motion
            log.info("bridge: CLIP requests may also name %r (%s)", rt.motion.name, motion)
        self.vmc = rt.vmc  # a VmcReceiver: its live pose drives the body
        self.live = rt.physics.live if rt.physics is not None else (
            rt.vmc.motion(self.character) if rt.vmc is not None else None)
        self._rest = rest_pose(self.character)
        self._animators: dict = {}
        self._live_tick: float | None = None
        self.last_stats: FrameStats | None = None
        self._last_pose: Pose | None = None
        self._good_pose: Pose = self._rest  # the pose of the last request that shaded cleanly
        self._last_bad_id: int | None = None
        self.bad_requests = 0  # requests this source could not shade (counted once each)
        self.joint_count = self.character.skeleton.num_joints  # put in the bridge header: what JOINTS must send
        self.frames = 0
        log.info("bridge runtime source: %s, sheet %s, weights %s, backend %s, %d px", self.character.name,
                 self.sheet, self.weights, rt.info.backend, self.size)

    @property
    def physics(self):
        """The runtime's physics stage (None: the character is posed by the skinned clip)."""
        return self.rt.physics

    @property
    def fps(self) -> float:
        return float(self.spec.fps)

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
                self.rt.check_clip(request.clip_name)
            elif request.clip_name not in self._motions:
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
                clip = self._motions.get(request.clip_name) or get_clip(request.clip_name, self.character)
                anim = self._animators[request.clip_name] = Animator(self.character, clip)
            return anim.pose(float(request.clip_time))
        if kind == PoseKind.JOINTS and request.joints is not None:
            pose = Pose(joint_world=np.asarray(request.joints, np.float32))
            pose.validate(self.character.skeleton.num_joints)
            return pose
        return self._rest

    def _simulate(self, clip: str, t: float) -> Pose:
        rt, fps = self.rt, self.fps
        rt.check_clip(clip)
        dt = t - rt.time
        max_step = min(MAX_STEP, MAX_TIME_SCALE / fps)
        if clip != rt.clip and self._last_pose is not None:
            # cross-fade (PhysicsWorld.set_clip): hair and cloth carry on, no reset; one frame lands on t
            rt.set_clip(clip, t - 1.0 / fps)
            rt.set_time_scale(1.0)
            self._last_pose = rt.advance()
        elif not (-1e-6 <= dt <= max_step) or self._last_pose is None:
            self._last_pose = rt.seek(t, clip)
        elif dt * fps >= 0.25:  # PhysicsWorld advances whole substeps: skip sub-substep moves
            rt.set_time_scale(min(dt * fps, MAX_TIME_SCALE))
            self._last_pose = rt.advance()
        return self._last_pose

    def _follow_live(self) -> Pose:
        """The live pose with physics on top, advanced by the wall-clock time since the
        last frame; after a longer gap than a clip request may jump (``MAX_STEP``),
        re-placed on the live pose instead (cloth and hair restart), as for clips."""
        rt = self.rt
        if rt.physics is None:  # no physics for this character: the live pose, skinned

            return Animator(self.character, self.live).pose(0.0)
        now = time.perf_counter()
        dt = None if self._live_tick is None else now - self._live_tick
        self._live_tick = now
        if dt is not None and dt > min(MAX_STEP, MAX_TIME_SCALE / self.fps):
            return rt.seek(0.0)
        rt.set_time_scale(1.0 if dt is None else float(np.clip(dt * self.fps, 0.25, MAX_TIME_SCALE)))
        return rt.advance()

    def _bad(self, request, exc) -> None:
        if request.request_id != self._last_bad_id:  # once per request, not once per frame
            self._last_bad_id = request.request_id
            self.bad_requests += 1
            log.warning("request %d: %s; keeping the last good pose", request.request_id, exc)

    def __call__(self, request: PoseRequest) -> np.ndarray:
        t0 = time.perf_counter()
        self.rt.set_camera(yaw=math.degrees(request.camera_yaw()))  # the orbit follows the request's camera
        try:
            self.check_request(request)
            pose = self.pose_for(request)
        except ConrtError as exc:  # a bad request must not stop the server (InputError, ConfigError, PhysicsError)
            self._bad(request, exc)
            pose = self._good_pose
        else:
            self._good_pose = pose
        t1 = time.perf_counter()
        frame = self.rt.step(pose)  # rasterized here, shaded on the runtime's worker thread (see above)
        t4 = time.perf_counter()
        out = np.clip(frame.rgba, 0.0, 1.0)
        out = (out * 255 + 0.5).astype(np.uint8) if self.dtype == np.uint8 else out.astype(self.dtype)
        t5 = time.perf_counter()
        self.frames += 1
        s = frame.stats
        self.last_stats = FrameStats(self.frames - 1, (t1 - t0) * 1e3, s.raster_ms, s.readback_ms,
                                     (t4 - t1) * 1e3 - s.raster_ms - s.readback_ms, (t5 - t4) * 1e3,
                                     1.0 / max(t5 - t0, 1e-9))
        return out

    def close(self) -> None:
        self.rt.close()
