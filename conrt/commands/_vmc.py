"""VMC options shared by ``simulate``, ``demo`` and ``bridge`` (not a command itself).

``--vmc [HOST:]PORT`` drives the character from received VMC packets,
``--vmc-send HOST:PORT`` sends its pose out as VMC (see docs/vmc.md)."""
from __future__ import annotations

import logging
import time

import numpy as np

from conrt.errors import ConfigError, InputError
from conrt.limits import check_fps

log = logging.getLogger(__name__)

_DEFAULT_PORT = "39539"  # physics.vmc.DEFAULT_PORT (not imported here: the parser is built before NumPy loads)


def add_vmc_arguments(p, receive: bool = True, send: bool = True, wait: bool = False) -> None:
    if receive:
        p.add_argument("--vmc", nargs="?", const=_DEFAULT_PORT, default=None, metavar="[HOST:]PORT",
                       help="drive the character from VMC packets (VSeeFace, Warudo, ...) received on [HOST:]PORT "
                            "(default 127.0.0.1:39539; 0.0.0.0:PORT listens on the network); physics runs on top")
    if receive and wait:
        p.add_argument("--vmc-wait", type=float, default=10.0,
                       help="with --vmc: seconds to wait for the first packet before giving up (default 10)")
    if send:
        p.add_argument("--vmc-send", default=None, metavar="HOST:PORT",
                       help="send the character's pose to HOST:PORT as VMC every frame")


def check_addresses(args) -> None:
    """Bad --vmc / --vmc-send addresses fail before any slow loading."""
    from conrt.physics.vmc import parse_address  # lazy: a stage (0.1-0.3 s), not at CLI startup

    if getattr(args, "vmc", None) is not None:
        parse_address(args.vmc)
    if getattr(args, "vmc_send", None) is not None:
        parse_address(args.vmc_send, need_host=True, what="--vmc-send")


def open_receiver(args):
    """A VmcReceiver for ``--vmc`` (None without it)."""
    if getattr(args, "vmc", None) is None:
        return None
    from conrt.physics.vmc import VmcReceiver  # lazy: a stage (0.1-0.3 s), not at CLI startup

    return VmcReceiver(args.vmc)


def wait_first(receiver, seconds: float) -> None:
    if not (np.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"--vmc-wait must be > 0 seconds, got {seconds}")
    log.info("VMC: waiting up to %.0f s for packets on %s", seconds, receiver.address)
    if receiver.wait(seconds) is None:
        raise InputError(f"no VMC packets arrived on {receiver.address} within {seconds:g} s "
                         f"({receiver.stats_line()}); is the sender sending to this address and port?")


class Pacer:
    """Sleeps so that calls to :meth:`wait` come ``1 / fps`` apart in wall-clock time
    (a late frame is not caught up in a burst)."""

    def __init__(self, fps: float):
        self.period = 1.0 / fps
        self.next = None

    def wait(self) -> None:
        now = time.perf_counter()
        if self.next is None:
            self.next = now
        delay = self.next - now
        if delay > 0:
            time.sleep(delay)
        elif delay < -self.period:
            self.next = now
        self.next += self.period


class Recording:
    """Per-frame VMC bookkeeping for ``simulate --vmc --out``: which received state each
    frame used, and the blendshape values."""

    def __init__(self, motion):
        self.motion = motion
        self.seq, self.time, self.live, self.blends = [], [], [], []

    def add(self) -> None:
        f = self.motion.last
        self.seq.append(f.seq if f is not None else 0)
        self.time.append(f.time if f is not None and f.time is not None else np.nan)
        self.live.append(bool(f is not None and f.live))
        self.blends.append(dict(f.blends) if f is not None else {})

    def arrays(self) -> dict:
        names = sorted({n for b in self.blends for n in b})
        values = np.array([[b.get(n, 0.0) for n in names] for b in self.blends], np.float32).reshape(
            len(self.blends), len(names))
        return {"vmc_seq": np.array(self.seq, np.int64), "vmc_time": np.array(self.time, np.float64),
                "vmc_live": np.array(self.live, bool), "blend_names": np.array(names, dtype=str),
                "blend_values": values}


class LiveSession:
    """``--vmc`` / ``--vmc-send`` of one command run: the receiver and its motion for the
    character, the sender, real-time pacing and the recording. Inert (every hook a
    no-op) without the options. A context manager: closes the sockets, prints the
    receiver's counters."""

    def __init__(self, receiver=None, sender=None, character=None, fps: float = 60.0):
        self.receiver, self.sender = receiver, sender
        self.motion = receiver.motion(character) if receiver is not None else None
        self.record = Recording(self.motion) if self.motion is not None else None
        self.pacer = Pacer(fps) if self.motion is not None else None

    @classmethod
    def from_args(cls, args, character, wait: bool = True) -> "LiveSession":
        vmc, send = getattr(args, "vmc", None), getattr(args, "vmc_send", None)
        if vmc is not None and (getattr(args, "bvh", None) or getattr(args, "animation", None)):
            raise ConfigError("give --vmc or --bvh/--animation, not both")
        fps = float(getattr(args, "fps", 60.0))
        if vmc is not None:
            check_fps(fps)
        receiver = sender = None
        try:
            if send is not None:
                from conrt.physics.vmc import VmcSender  # lazy: a stage (0.1-0.3 s), not at CLI startup

                sender = VmcSender(send, character)
            receiver = open_receiver(args)
            session = cls(receiver, sender, character, fps)
            if receiver is not None and wait:
                wait_first(receiver, getattr(args, "vmc_wait", 10.0))
            return session
        except BaseException:
            for s in (receiver, sender):
                if s is not None:
                    s.close()
            raise

    def before_step(self) -> None:
        if self.pacer is not None:
            self.pacer.wait()

    def after_step(self, pose, t: float | None = None) -> None:
        if self.record is not None:
            self.record.add()
        if self.sender is not None:
            self.sender.send(pose, t)

    def arrays(self) -> dict:
        return self.record.arrays() if self.record is not None else {}

    def close(self) -> None:
        if self.receiver is not None:
            if self.record is not None and self.record.live:
                n, live = len(self.record.live), sum(self.record.live)
                print(f"VMC: {live} of {n} frames followed live packets"
                      + (f", {n - live} held the last pose (no packets)" if live < n else ""), flush=True)
            print(self.receiver.stats_line(), flush=True)
            self.receiver.close()
            self.receiver = None
        if self.sender is not None:
            self.sender.close()
            self.sender = None

    def __enter__(self) -> "LiveSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
