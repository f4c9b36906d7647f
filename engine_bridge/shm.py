"""POSIX shared-memory segments: owner-only creation, safe opening, liveness.

``multiprocessing.shared_memory`` cannot set a mode, so segments are files in
``/dev/shm`` opened with ``os.open(..., 0o600)`` and mapped with ``mmap``. The
file ``/dev/shm/conrt-bridge.NAME`` is what ``shm_open("/conrt-bridge.NAME")``
opens in C, so every language finds the same segment by name.
"""
from __future__ import annotations

import logging
import mmap
import os
import re
import secrets
import stat
import time

from conrt.errors import BridgeProtocolError

from . import protocol as P

log = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"
PREFIX = "conrt-bridge."
STARTING_GRACE = 2.0  # seconds a header-less segment counts as "being created", not stale
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise BridgeProtocolError(
            f"bad bridge name {name!r}: use 1-200 of A-Z a-z 0-9 _ . - (not starting with '.')")
    return name


def unique_name() -> str:
    """A fresh name nobody else uses: pid + random suffix."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def segment_path(name: str) -> str:
    return os.path.join(SHM_DIR, PREFIX + check_name(name))


# ---------------------------------------------------------------------------
# Process liveness


def proc_start_ticks(pid: int) -> int:
    """Field 22 (starttime) of /proc/<pid>/stat, 0 if unknown; with the pid it names a process uniquely."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data.rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def pid_ns_inode() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def process_alive(pid: int, start_ticks: int = 0, ns_inode: int = 0) -> bool | None:
    """True/False when we can tell, None when the pid lives in another pid namespace.

    Zombies (killed but not yet reaped by their parent) count as dead, and so
    does a reused pid whose start time differs from the writer's.
    """
    if pid <= 0:
        return False
    if ns_inode and pid_ns_inode() and ns_inode != pid_ns_inode():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X"):
            return False
        if start_ticks and int(fields[19]) != start_ticks:
            return False  # the pid was reused by another process
    except (OSError, ValueError, IndexError):
        pass
    return True


# ---------------------------------------------------------------------------
# Segments


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def _open_regular(path: str, flags: int) -> tuple[int, os.stat_result]:
    """Open ``path`` only if it is a regular file (not a symlink, FIFO, directory, ...).

    lstat first, so a symlink or FIFO is named before anything is opened;
    O_NOFOLLOW | O_NONBLOCK, so a file swapped in between cannot be followed
    or block the open; fstat after, so what we hold is what we checked.
    FileNotFoundError passes through; every other problem is a BridgeProtocolError.
    """
    try:
        st = before = os.lstat(path)
    except FileNotFoundError:  # the caller's business
        raise
    except OSError as exc:
        raise BridgeProtocolError(f"cannot inspect bridge segment {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BridgeProtocolError(
            f"{path} is {_kind(st.st_mode)}, not a bridge segment (a regular file); remove it or pick another name")
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise BridgeProtocolError(f"cannot open bridge segment {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BridgeProtocolError(f"{path} is {_kind(st.st_mode)}, not a bridge segment (a regular file)")
        if (st.st_ino, st.st_dev) != (before.st_ino, before.st_dev):
            raise BridgeProtocolError(f"{path} was replaced while it was being opened")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _remove_if_stale(path: str) -> None:
    """Unlink a leftover segment whose writer is dead; refuse if it is alive.

    Dead (PROTOCOL.md "Cleanup"): ``writer_pid`` is 0 or names no live process
    (zombie or reused pid included), or the file is shorter than a header and
    at least 2 s old (a writer that died before writing its pid). A file of
    another owner, or one that is not a regular file, is never removed.
    """
    try:
        fd, st = _open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        if st.st_uid != os.geteuid():
            raise BridgeProtocolError(f"{path} exists and belongs to uid {st.st_uid}; pick another name")
        head = os.pread(fd, P.HEADER_SIZE, 0)
    finally:
        os.close(fd)
    pid = 0
    if len(head) == P.HEADER_SIZE:
        h = P.Header.from_buffer_copy(head)
        pid, ticks, ns = h.writer_pid, h.writer_start_ticks, h.pid_ns_inode
        alive = process_alive(pid, ticks, ns) if pid else False
        if alive is None:
            raise BridgeProtocolError(f"{path} belongs to pid {pid} in another pid namespace; pick another name")
        if alive:
            raise BridgeProtocolError(f"bridge segment {path} is in use by the live writer pid {pid}")
    elif time.time() - st.st_mtime < STARTING_GRACE:
        # Shorter than a header and brand new: someone is creating it right now.
        raise BridgeProtocolError(f"{path} is being created by another process")
    log.warning("removing stale bridge segment %s (writer pid %d is gone)", path, pid)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def create_segment(name: str, size: int) -> tuple[int, mmap.mmap, str]:
    """Create ``name`` owner-only (0600), exclusively; cleans a stale one left by a crash."""
    path = segment_path(name)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(2):
        try:
            fd = os.open(path, flags, 0o600)
            break
        except FileExistsError:
            if attempt:
                raise BridgeProtocolError(f"bridge segment {path} appeared again while starting") from None
            _remove_if_stale(path)
    try:
        os.fchmod(fd, 0o600)  # the umask can only remove bits; make the mode exact anyway
        os.ftruncate(fd, size)
        mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    return fd, mm, path


def open_segment(name: str) -> tuple[int, mmap.mmap, str]:
    """Open an existing segment read-write (readers write the pose region).

    Refuses anything but a regular file owned by our effective uid with mode
    exactly 0600: a reader must not feed poses into, or trust frames from, a
    segment it did not expect (PROTOCOL.md "Segment").
    """
    path = segment_path(name)
    try:
        fd, st = _open_regular(path, os.O_RDWR)
    except FileNotFoundError:
        raise BridgeProtocolError(
            f"no bridge named {name!r} ({path} does not exist); is `conrt bridge` running?") from None
    try:
        check_owner_only(path, st)
        if st.st_size < P.HEADER_SIZE:
            raise BridgeProtocolError(
                f"{path} has {st.st_size} bytes, smaller than the {P.HEADER_SIZE}-byte header (not initialised yet?)")
        mm = mmap.mmap(fd, st.st_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd, mm, path


def check_owner_only(path: str, st: os.stat_result) -> None:
    if st.st_uid != os.geteuid():
        raise BridgeProtocolError(f"{path} belongs to uid {st.st_uid}, not to us (uid {os.geteuid()})")
    if stat.S_IMODE(st.st_mode) != P.OWNER_ONLY_MODE:
        raise BridgeProtocolError(
            f"{path} has mode {stat.S_IMODE(st.st_mode):04o}, expected owner-only {P.OWNER_ONLY_MODE:04o}")
