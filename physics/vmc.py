"""VMC protocol (Virtual Motion Capture, OSC over UDP): live body poses in and out.

VTuber apps (VSeeFace, Warudo, VNyan, Waidayo, ...) send an avatar's pose as
OSC messages, by default to UDP port 39539:

- ``/VMC/Ext/Root/Pos name px py pz qx qy qz qw [sx sy sz ox oy oz]``: the model root;
- ``/VMC/Ext/Bone/Pos name px py pz qx qy qz qw``: one humanoid bone's *local*
  position and rotation (Unity ``HumanBodyBones`` names: ``Hips``, ``LeftUpperArm``...);
- ``/VMC/Ext/Blend/Val name value`` then ``/VMC/Ext/Blend/Apply``: blendshapes (VRM expressions);
- ``/VMC/Ext/OK loaded ...`` (model loaded) and ``/VMC/Ext/T time`` (sender time, s).

OSC parsing is python-osc's (``OscPacket``); this module checks what the
messages carry, keeps the latest state and turns it into our poses.

Conventions. Unity is left-handed (+X right, +Y up, +Z forward); ours is
right-handed with the character facing +Z and +X its left (types.py). The
avatar faces +Z in both, so a point maps by negating X and a rotation
quaternion (x, y, z, w) by negating y and z. VMC senders use normalised
humanoid rigs (every bone's rest rotation is the identity, as UniVRM makes
them), so a bone's local rotation is a rotation in rest-aligned axes relative
to its humanoid parent: the convention of our clips (clips.py). Joints are
matched to our humanoid joints through the BVH name mapping (``bvh.humanoid_map``);
the hierarchy differences (a sender without ``UpperChest``, a character
without ``chest``) are resolved through world rotations, as in BVH retargeting.
Root motion is taken as sent, in metres (``scale`` multiplies it).

Robustness: a datagram python-osc cannot parse, a message with wrong argument
types or counts, an unknown bone, NaN/inf or huge numbers, a rotation that is
not one, a reordered older frame (by ``/VMC/Ext/T``), and datagrams beyond
the receiver's CPU budget (a flood) are each counted in :class:`VmcStats`
and dropped; the first of each kind is logged. Memory is bounded (only known
bones and at most ``MAX_BLENDS`` blendshape names are kept).

    with VmcReceiver("127.0.0.1:39539") as vmc, PhysicsWorld(fps=60) as world:
        h = world.add(character, vmc.motion(character))   # hair and cloth on top
        pose = world.step()[h]
"""
from __future__ import annotations

import logging
import math
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError
from pythonosc.udp_client import UDPClient

from conrt.errors import ConfigError
from conrt.types import HUMANOID_BONES, Character, Pose

from .bvh import humanoid_map
from .transforms import matrix_to_quat, quat_to_matrix

log = logging.getLogger(__name__)

DEFAULT_PORT = 39539  # the VMC protocol's performer (receiver) port
DEFAULT_HOST = "127.0.0.1"  # listen on this machine only unless a host is given (0.0.0.0: the LAN)

# Unity's HumanBodyBones in enum order: what /VMC/Ext/Bone/Pos names.
UNITY_BONES = (
    "Hips", "LeftUpperLeg", "RightUpperLeg", "LeftLowerLeg", "RightLowerLeg", "LeftFoot", "RightFoot",
    "Spine", "Chest", "Neck", "Head", "LeftShoulder", "RightShoulder", "LeftUpperArm", "RightUpperArm",
    "LeftLowerArm", "RightLowerArm", "LeftHand", "RightHand", "LeftToes", "RightToes", "LeftEye", "RightEye",
    "Jaw",
    *(f"{side}{finger}{seg}" for side in ("Left", "Right")
      for finger in ("Thumb", "Index", "Middle", "Ring", "Little") for seg in ("Proximal", "Intermediate", "Distal")),
    "UpperChest",
)

# The humanoid hierarchy (Unity's and VRM's): each bone's parent bone.
HUMANOID_PARENT = {
    "hips": None, "spine": "hips", "chest": "spine", "upperChest": "chest", "neck": "upperChest",
    "head": "neck", "leftEye": "head", "rightEye": "head", "jaw": "head",
    **{f"{s}{b}": f"{s}{p}" if p else "upperChest" for s in ("left", "right") for b, p in (
        ("Shoulder", None), ("UpperArm", "Shoulder"), ("LowerArm", "UpperArm"), ("Hand", "LowerArm"))},
    **{f"{s}{b}": f"{s}{p}" if p else "hips" for s in ("left", "right") for b, p in (
        ("UpperLeg", None), ("LowerLeg", "UpperLeg"), ("Foot", "LowerLeg"), ("Toes", "Foot"))},
}


def _humanoid_order() -> tuple[str, ...]:
    def depth(h):
        d = 0
        while HUMANOID_PARENT[h] is not None:
            h, d = HUMANOID_PARENT[h], d + 1
        return d
    return tuple(sorted(HUMANOID_BONES, key=depth))


_ORDER = _humanoid_order()  # parents before children

MAX_BLENDS = 256  # distinct blendshape names kept (VRM presets plus custom clips fit easily)
MAX_NAME = 128  # characters in a bone or blendshape name
MAX_POSITION = 1000.0  # metres: larger positions are junk, not motion
MAX_BATCH = 64  # datagrams parsed per wake-up; older queued ones are dropped (the newest state wins)
CPU_BUDGET = 0.3  # share of one core the receiver may spend parsing, per 0.1 s window


def _vmc_to_humanoid() -> dict[str, str]:
    """Unity bone name -> our humanoid name, through the one name table (bvh.humanoid_map)."""
    return {UNITY_BONES[k]: h for h, k in humanoid_map(UNITY_BONES).items()}


VMC_TO_HUMANOID = _vmc_to_humanoid()
HUMANOID_TO_VMC = {h: n for n, h in VMC_TO_HUMANOID.items()}


def parse_address(text, *, default_host: str = DEFAULT_HOST, need_host: bool = False,
                  what: str = "--vmc") -> tuple[str, int]:
    """``"[HOST:]PORT"`` (or ``(host, port)``) -> (host, port). ConfigError naming the problem."""
    if isinstance(text, tuple) and len(text) == 2:
        host, port = text
    else:
        s = str(text).strip()
        host, sep, port = s.rpartition(":")
        if not sep:
            host = ""
        if need_host and not host:
            raise ConfigError(f"{what} {s!r}: give HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}")
        host = host.strip("[]") or default_host
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {text!r}: the port must be an integer in 0..65535 "
                          f"(e.g. {DEFAULT_PORT}, the VMC default)") from None
    if not 0 <= port <= 65535 or (need_host and port == 0):
        raise ConfigError(f"{what} {text!r}: port {port} outside {1 if need_host else 0}..65535")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"{what} {text!r}: unknown host {host!r} ({exc})") from None
    return host, port


def _resolve(host: str, port: int) -> tuple:
    """(family, sockaddr) of ``host``, IPv4 first: "localhost" must mean the same
    address to a receiver and a sender (getaddrinfo may list ::1 first)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    info = min(infos, key=lambda i: i[0] != socket.AF_INET)
    return info[0], info[4]


# ---------------------------------------------------------------------------
# axes


def unity_position(p) -> np.ndarray:
    """Unity (left-handed) <-> ours (right-handed): negate X. Its own inverse."""
    return np.array([-p[0], p[1], p[2]], np.float64)


def unity_rotation(q) -> np.ndarray:
    """Quaternion (x, y, z, w) under the X mirror: negate y and z. Its own inverse."""
    return np.array([q[0], -q[1], -q[2], q[3]], np.float64)


# ---------------------------------------------------------------------------
# receiver


@dataclass(frozen=True)
class VmcFrame:
    """The latest received VMC state, in our axes (right-handed, metres)."""

    seq: int  # datagrams that changed the state so far
    arrival: float  # time.perf_counter() of the last such datagram
    time: float | None  # the sender's /VMC/Ext/T of it (None if it sends none)
    root_position: np.ndarray  # [3] f64
    root_rotation: np.ndarray  # [4] f64 quaternion (x, y, z, w)
    bones: dict  # humanoid name -> ([3] local position, [4] local rotation quaternion)
    blends: dict  # blendshape name -> value (as of the last /VMC/Ext/Blend/Apply)
    loaded: bool | None  # /VMC/Ext/OK: the sender has a model loaded
    live: bool  # False while packets have stopped (the state is held)


@dataclass
class VmcStats:
    datagrams: int = 0  # received datagrams
    messages: int = 0  # OSC messages in them
    applied: int = 0  # datagrams whose content changed the state
    ignored: int = 0  # messages with other addresses (other VMC features, other OSC apps) or unused bones (fingers)
    dropped: dict = field(default_factory=dict)  # reason -> count (malformed, wrong_args, not_finite, ...)
    gaps: int = 0  # times the packets stopped

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict:
        return {"datagrams": self.datagrams, "messages": self.messages, "applied": self.applied,
                "ignored": self.ignored, "dropped": dict(self.dropped), "gaps": self.gaps}


class _Drop(Exception):
    """A message that is dropped, with the counter it goes to."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _numbers(args, start: int, count: int, what: str) -> list[float]:
    vals = args[start:start + count]
    if any(type(v) not in (int, float) for v in vals):  # bool is not a number here
        raise _Drop("wrong_args", f"{what}: expected {count} numbers, got {vals!r}")
    vals = [float(v) for v in vals]
    if not all(math.isfinite(v) for v in vals):
        raise _Drop("not_finite", f"{what}: NaN/inf in {vals!r}")
    return vals


def _name(args, what: str) -> str:
    if not args or not isinstance(args[0], str):
        raise _Drop("wrong_args", f"{what}: the first argument must be a name string, got {args[:1]!r}")
    if len(args[0]) > MAX_NAME:
        raise _Drop("wrong_args", f"{what}: a {len(args[0])}-character name")
    return args[0]


def _transform(args, what: str, counts=(8,)) -> tuple[np.ndarray, np.ndarray]:
    if len(args) not in counts:
        raise _Drop("wrong_args", f"{what}: {len(args)} arguments, expected {' or '.join(map(str, counts))} "
                                  f"(name, px, py, pz, qx, qy, qz, qw)")
    v = _numbers(args, 1, len(args) - 1, what)
    pos, q = np.array(v[:3]), np.array(v[3:7])
    if np.abs(pos).max() > MAX_POSITION:
        raise _Drop("out_of_range", f"{what}: position {pos.tolist()} beyond {MAX_POSITION:g} m")
    n = float(np.linalg.norm(q))
    if not 0.5 <= n <= 1.5:  # senders send unit quaternions; far from 1 is not a rotation
        raise _Drop("out_of_range", f"{what}: quaternion {q.tolist()} of length {n:.3g}")
    return unity_position(pos), unity_rotation(q / n)


class _QuietPythonOsc(logging.Filter):
    """python-osc logs each datagram it cannot read on the root logger; the receiver
    counts those itself (one warning per kind), so a flood must not flood the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"{os.sep}pythonosc{os.sep}" not in record.pathname


def _quiet_python_osc() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, _QuietPythonOsc) for f in root.filters):
        root.addFilter(_QuietPythonOsc())


class VmcReceiver:
    """Listens for VMC on UDP ``[HOST:]PORT`` on its own thread; :meth:`latest` is
    the newest state (thread-safe, never blocks on the network).

    ``timeout``: seconds without a valid packet before the state counts as held
    (logged once per gap; the next packet resumes). Port 0 picks a free port
    (:attr:`port` says which)."""

    def __init__(self, address="127.0.0.1:39539", timeout: float = 0.5, cpu_budget: float = CPU_BUDGET):
        if not timeout > 0:
            raise ConfigError(f"VMC timeout must be > 0 seconds, got {timeout}")
        self.host, port = parse_address(address)
        _quiet_python_osc()
        self.timeout, self.cpu_budget = float(timeout), float(cpu_budget)
        family, sockaddr = _resolve(self.host, port)
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind(sockaddr)
        except OSError as exc:
            self._sock.close()
            raise ConfigError(f"cannot listen for VMC on {self.host}:{port}: {exc.strerror or exc} "
                              f"(is another VMC receiver running there? pick another port)") from None
        self.port = self._sock.getsockname()[1]
        self._sock.setblocking(False)  # waits are select()s, so draining the queue never waits
        self._lock = threading.Lock()
        self.stats = VmcStats()
        self._seq = 0
        self._arrival = 0.0
        self._time: float | None = None
        self._root = (np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]))
        self._bones: dict = {}
        self._blends: dict = {}
        self._pending_blends: dict = {}
        self._loaded: bool | None = None
        self._live = False
        self._snapshot: VmcFrame | None = None
        self._logged: set = set()
        self.sender: tuple | None = None  # address of the last sender
        self.streams = 0  # starts of a stream: the first packets, packets after a gap, a restarted sender
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"conrt-vmc-{self.port}", daemon=True)
        self._thread.start()
        log.info("VMC: listening on %s:%d", self.host, self.port)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- public state -------------------------------------------------------
    def latest(self) -> VmcFrame | None:
        """The newest state, or None before the first valid packet."""
        with self._lock:
            if self._seq == 0:
                return None
            s = self._snapshot
            if s is None or s.seq != self._seq or s.live != self._live:
                s = self._snapshot = VmcFrame(self._seq, self._arrival, self._time, self._root[0].copy(),
                                              self._root[1].copy(), dict(self._bones), dict(self._blends),
                                              self._loaded, self._live)
            return s

    @property
    def receiving(self) -> bool:
        """True while valid packets keep arriving (within ``timeout``)."""
        with self._lock:
            return self._live

    def wait(self, timeout: float) -> VmcFrame | None:
        """Wait up to ``timeout`` seconds for the first valid packet."""
        end = time.monotonic() + timeout
        while (frame := self.latest()) is None and time.monotonic() < end and self._thread.is_alive():
            time.sleep(0.01)
        return frame

    def motion(self, character: Character, scale: float = 1.0) -> "VmcMotion":
        """A clip-like driver of ``character`` (``PhysicsWorld.add(character, motion)``)."""
        return VmcMotion(self, character, scale)

    def stats_line(self) -> str:
        s = self.stats
        drops = ", ".join(f"{k} {v}" for k, v in sorted(s.dropped.items())) or "none"
        return (f"VMC {self.address}: {s.datagrams} datagrams, {s.messages} messages, {s.applied} applied, "
                f"{s.ignored} ignored, dropped: {drops}, {s.gaps} gaps")

    # -- lifecycle ----------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> "VmcReceiver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- receiver thread ----------------------------------------------------
    def _drop(self, reason: str, detail: str, count: int = 1) -> None:
        self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + count
        if reason not in self._logged:  # the first of each kind, so a flood does not flood the log
            self._logged.add(reason)
            log.warning("VMC: dropped (%s): %s; further ones are only counted", reason, detail)

    def _run(self) -> None:
        sock = self._sock
        # the budget counts this thread's CPU time (thread_time), not waits for the GIL
        window_start, busy = time.perf_counter(), 0.0
        while not self._stop.is_set():
            try:  # wake up at least every 50 ms to notice silence and close()
                readable = select.select([sock], [], [], 0.05)[0]
            except (OSError, ValueError):
                break  # closed
            batch = []
            while readable and len(batch) < 4096:  # everything queued (cheap: no parsing)
                try:
                    batch.append(sock.recvfrom(65536))
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # e.g. ICMP errors surfacing on the socket: nothing to read
                    break
            if not batch:
                self._check_silence()
                continue
            self.stats.datagrams += len(batch)
            if len(batch) > MAX_BATCH:  # a backlog: keep the newest
                self._drop("flood", f"{len(batch)} datagrams queued at once", len(batch) - MAX_BATCH)
                batch = batch[-MAX_BATCH:]
            k = 0
            while k < len(batch):
                now, cpu = time.perf_counter(), time.thread_time()
                if now - window_start >= 0.1:
                    window_start, busy = now, 0.0
                if busy > self.cpu_budget * 0.1 and k < len(batch) - 1:
                    # over budget: rest until the window ends, then read only the newest datagram
                    self._drop("flood", f"over the receiver's CPU budget ({self.cpu_budget:.0%} of a core)",
                               len(batch) - 1 - k)
                    self._stop.wait(max(0.0, window_start + 0.1 - now))
                    k = len(batch) - 1
                    continue
                try:
                    self._handle(*batch[k])
                except Exception as exc:  # a bug here must not end the thread
                    self._drop("error", f"{type(exc).__name__}: {exc}")
                busy += time.thread_time() - cpu
                k += 1
            self._check_silence()

    def _check_silence(self) -> None:
        with self._lock:
            if self._live and time.perf_counter() - self._arrival > self.timeout:
                self._live = False
                self.stats.gaps += 1
                log.warning("VMC: no packets on %s for %.1f s; holding the last pose until they return",
                            self.address, self.timeout)

    def _handle(self, data: bytes, addr) -> None:
        try:
            packet = OscPacket(data)
        except ParseError as exc:
            self._drop("malformed", f"a {len(data)}-byte datagram python-osc cannot parse ({exc})")
            return
        bones, root, t, loaded, blend_ops = {}, None, None, None, []
        for tm in packet.messages:
            msg = tm.message
            self.stats.messages += 1
            addr_, args = msg.address, msg.params
            try:
                if addr_ == "/VMC/Ext/Bone/Pos":
                    name = _name(args, addr_)
                    h = VMC_TO_HUMANOID.get(name)
                    if h is None:
                        if name in UNITY_BONES:
                            self.stats.ignored += 1  # fingers: our characters have none
                            continue
                        raise _Drop("unknown_bone", f"bone {name!r} is not a Unity humanoid bone "
                                                    f"(valid: {', '.join(UNITY_BONES[:24])}, UpperChest, fingers)")
                    bones[h] = _transform(args, f"{addr_} {name}")
                elif addr_ == "/VMC/Ext/Root/Pos":
                    _name(args, addr_)
                    root = _transform(args, addr_, counts=(8, 14))
                elif addr_ == "/VMC/Ext/Blend/Val":
                    name = _name(args, addr_)
                    if len(args) != 2:
                        raise _Drop("wrong_args", f"{addr_}: {len(args)} arguments, expected 2 (name, value)")
                    v = _numbers(args, 1, 1, f"{addr_} {name}")[0]
                    if not -1.0 <= v <= 2.0:
                        raise _Drop("out_of_range", f"{addr_} {name}: value {v} (weights are 0..1)")
                    blend_ops.append((name, min(max(v, 0.0), 1.0)))
                elif addr_ == "/VMC/Ext/Blend/Apply":
                    blend_ops.append(None)
                elif addr_ == "/VMC/Ext/OK":
                    if not 1 <= len(args) <= 4 or any(type(v) is not int for v in args):
                        raise _Drop("wrong_args", f"{addr_}: expected 1-4 integers, got {args!r}")
                    loaded = args[0] == 1
                elif addr_ == "/VMC/Ext/T":
                    if len(args) != 1:
                        raise _Drop("wrong_args", f"{addr_}: expected 1 number, got {args!r}")
                    t = _numbers(args, 0, 1, addr_)[0]
                else:
                    self.stats.ignored += 1
            except _Drop as d:
                self._drop(d.reason, str(d))
        if not (bones or root is not None or t is not None or loaded is not None or blend_ops):
            return
        now = time.perf_counter()
        with self._lock:
            # a reordered older datagram (by the sender's clock) must not pull the pose back;
            # a clock more than 1 s behind is a restarted sender, whose frames are taken
            if t is not None and self._time is not None and self._time - 1.0 < t < self._time:
                self.stats.dropped["stale"] = self.stats.dropped.get("stale", 0) + 1
                return
            restarted = t is not None and self._time is not None and t <= self._time - 1.0
            self._bones.update(bones)
            if root is not None:
                self._root = root
            if t is not None:
                self._time = t
            if loaded is not None:
                self._loaded = loaded
            for op in blend_ops:
                if op is None:
                    self._blends = dict(self._pending_blends)
                elif op[0] in self._pending_blends or len(self._pending_blends) < MAX_BLENDS:
                    self._pending_blends[op[0]] = op[1]
                else:
                    self.stats.dropped["too_many_blends"] = self.stats.dropped.get("too_many_blends", 0) + 1
            self._seq += 1
            self._arrival = now
            self.stats.applied += 1
            was_live, self._live = self._live, True
            first = self._seq == 1
            if restarted or not was_live:
                self.streams += 1
            self.sender = addr
        if first:
            log.info("VMC: receiving from %s:%s on %s", addr[0], addr[1], self.address)
        elif not was_live:
            log.info("VMC: packets on %s again; following them", self.address)


# ---------------------------------------------------------------------------
# received state -> a character's motion


def _nearest_humanoid_ancestor(character: Character) -> dict[str, str | None]:
    """Our humanoid joint -> the nearest ancestor joint that is also humanoid (None at the top)."""
    inv = {j: h for h, j in character.humanoid.items()}
    out = {}
    for h, j in character.humanoid.items():
        p = character.skeleton.parents[j]
        while p >= 0 and p not in inv:
            p = character.skeleton.parents[p]
        out[h] = inv.get(p) if p >= 0 else None
    return out


def world_rotations(frame: VmcFrame) -> dict[str, np.ndarray]:
    """Rest-aligned world rotation [3, 3] of every humanoid bone (unsent bones: their parent's)."""
    out: dict[str, np.ndarray] = {}
    root = quat_to_matrix(frame.root_rotation)
    for h in _ORDER:
        b = frame.bones.get(h)
        local = quat_to_matrix(b[1]) if b is not None else np.eye(3)
        p = HUMANOID_PARENT[h]
        out[h] = (out[p] if p is not None else root) @ local
    return out


class VmcMotion:
    """The received VMC state as a clip of one character (what :class:`~conrt.physics.clips.Animator`
    and :class:`~conrt.physics.world.PhysicsWorld` take): ``sample(t)`` ignores
    ``t`` and returns the latest pose; before the first packet, the rest pose.

    :attr:`last` is the :class:`VmcFrame` of the last sample (for latency
    bookkeeping and recordings)."""

    loop = False
    interpolation = "LINEAR"

    def __init__(self, receiver: VmcReceiver, character: Character, scale: float = 1.0):
        if not (np.isfinite(scale) and scale > 0):
            raise ConfigError(f"VMC scale must be > 0, got {scale}")
        if "hips" not in character.humanoid:
            raise ConfigError(f"character {character.name!r} has no humanoid hips joint; VMC drives humanoid joints")
        self.receiver, self.character, self.scale = receiver, character, float(scale)
        self.name = "vmc"
        self.fps = 60.0  # nominal (clips have one); the pose is the newest received whenever sampled
        self.joints = tuple(h for h in _ORDER if h in character.humanoid)
        self._ancestor = _nearest_humanoid_ancestor(character)
        self._rest_hips = character.skeleton.rest_world[character.humanoid["hips"], :3, 3].astype(np.float64)
        self._rest = (np.tile([0.0, 0.0, 0.0, 1.0], (len(self.joints), 1)), np.zeros(3))
        self._cache: tuple | None = None
        self.last: VmcFrame | None = None
        self._streams = 0

    def take_jump(self) -> bool:
        """True once per new stream (first packets, packets after a gap, a restarted
        sender): the pose may have jumped, so cloth and hair should restart from it
        (``PhysicsWorld.reset``) rather than be flung."""
        n = self.receiver.streams
        jumped, self._streams = n != self._streams, n
        return jumped

    def sample_offsets(self, t: float = 0.0) -> None:
        """No per-joint translation offsets (the Clip interface Animator reads)."""
        return None

    def sample(self, t: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """([N, 4] rest-aligned local quaternions for ``joints``, [3] hips offset)."""
        frame = self.receiver.latest()
        self.last = frame
        if frame is None:
            return self._rest[0].copy(), self._rest[1].copy()
        if self._cache is None or self._cache[0] != frame.seq:
            a = world_rotations(frame)
            q = np.empty((len(self.joints), 3, 3))
            for k, h in enumerate(self.joints):
                anc = self._ancestor[h]
                q[k] = a[h] if anc is None else a[anc].T @ a[h]
            hips = frame.bones.get("hips")
            local = hips[0] if hips is not None else self._rest_hips / self.scale
            world = frame.root_position + quat_to_matrix(frame.root_rotation) @ local
            self._cache = (frame.seq, matrix_to_quat(q), world * self.scale - self._rest_hips)
        return self._cache[1].copy(), self._cache[2].copy()


# ---------------------------------------------------------------------------
# sender


class VmcSender:
    """Sends a character's poses as VMC to ``HOST:PORT`` (python-osc), so other VMC
    apps follow a conrt character: Root at the origin, every humanoid bone the
    character has (local rotation relative to its humanoid parent, rest offset
    as local position; Hips carries the root motion), ``/VMC/Ext/T``, blendshapes.

    A frame goes out as one datagram (a receiver never sees half a frame; ~2 KB
    for 25 bones, so IP fragments it on a 1500-byte-MTU network, which a LAN
    reassembles); ``max_datagram=1400`` splits frames under the MTU instead,
    each datagram led by ``/VMC/Ext/T`` so a receiver can drop reordered ones
    (a receiver may then show a frame whose datagrams have not all arrived)."""

    def __init__(self, address, character: Character, max_datagram: int = 60000):
        self.host, self.port = parse_address(address, need_host=True, what="--vmc-send")
        if "hips" not in character.humanoid:
            raise ConfigError(f"character {character.name!r} has no humanoid hips joint; VMC sends humanoid bones")
        if not 200 <= max_datagram <= 65000:
            raise ConfigError(f"max_datagram must be in 200..65000 bytes, got {max_datagram}")
        self.character, self.max_datagram = character, int(max_datagram)
        family, sockaddr = _resolve(self.host, self.port)
        self._client = UDPClient(sockaddr[0], self.port, family=family)
        ch = character.humanoid
        self._bones = [h for h in _ORDER if h in ch and h in HUMANOID_TO_VMC]
        sent = set(self._bones)
        self._parent = {}
        for h in self._bones:
            p = HUMANOID_PARENT[h]
            while p is not None and p not in sent:  # the receiver composes through unsent bones as identity
                p = HUMANOID_PARENT[p]
            self._parent[h] = p
        rest = character.skeleton.rest_world.astype(np.float64)
        self._rest_rot = {h: rest[ch[h], :3, :3] for h in self._bones}
        self._offset = {h: rest[ch[h], :3, 3] - (rest[ch[self._parent[h]], :3, 3] if self._parent[h] else 0)
                        for h in self._bones}
        self.sent = 0  # frames
        self.failed = 0  # datagrams the network refused

    def messages(self, pose: Pose, t: float | None = None, blends: dict | None = None) -> list:
        """The OSC messages of one frame (python-osc ``OscMessage``)."""
        def msg(address, *args):
            m = OscMessageBuilder(address)
            for a in args:
                m.add_arg(a, "s" if isinstance(a, str) else ("i" if isinstance(a, int) else "f"))
            return m.build()

        ch = self.character.humanoid
        jw = pose.joint_world.astype(np.float64)
        a = {h: jw[ch[h], :3, :3] @ self._rest_rot[h].T for h in self._bones}  # rest-aligned world rotations
        out = [msg("/VMC/Ext/OK", 1), msg("/VMC/Ext/Root/Pos", "root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)]
        for h in self._bones:
            p = self._parent[h]
            local = a[h] if p is None else a[p].T @ a[h]
            pos = jw[ch[h], :3, 3] if p is None else self._offset[h]
            pu, qu = unity_position(pos), unity_rotation(matrix_to_quat(local))
            out.append(msg("/VMC/Ext/Bone/Pos", HUMANOID_TO_VMC[h], *map(float, pu), *map(float, qu)))
        for name, v in (blends or {}).items():
            out.append(msg("/VMC/Ext/Blend/Val", str(name), float(v)))
        if blends:
            out.append(msg("/VMC/Ext/Blend/Apply"))
        t_msg = msg("/VMC/Ext/T", float(t if t is not None else time.monotonic()))
        return [t_msg, *out]

    def bundles(self, pose: Pose, t: float | None = None, blends: dict | None = None) -> list:
        """One frame as python-osc bundles of at most ``max_datagram`` bytes, each led by ``/VMC/Ext/T``."""
        msgs = self.messages(pose, t, blends)
        t_msg, rest = msgs[0], msgs[1:]
        out, cur, size = [], [t_msg], 16 + 4 + t_msg.size
        for m in rest:
            if size + 4 + m.size > self.max_datagram and len(cur) > 1:
                out.append(cur)
                cur, size = [t_msg], 16 + 4 + t_msg.size
            cur.append(m)
            size += 4 + m.size
        out.append(cur)
        bundles = []
        for group in out:
            b = OscBundleBuilder(IMMEDIATELY)
            for m in group:
                b.add_content(m)
            bundles.append(b.build())
        return bundles

    def send(self, pose: Pose, t: float | None = None, blends: dict | None = None) -> int:
        """Send one frame; returns the datagrams sent. Network errors are logged, not raised
        (a receiver that went away must not stop the sender's own loop)."""
        return self.send_bundles(self.bundles(pose, t, blends))

    def send_bundles(self, bundles) -> int:
        """Send a frame made by :meth:`bundles` earlier (or reordered, for tests)."""
        n = 0
        for b in bundles:
            try:
                self._client.send(b)
                n += 1
            except OSError as exc:
                self.failed += 1
                if self.failed == 1:
                    log.warning("VMC: sending to %s:%d failed (%s); further failures are only counted",
                                self.host, self.port, exc)
                break
        self.sent += 1
        return n

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "VmcSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
