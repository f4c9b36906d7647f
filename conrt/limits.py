"""What conrt takes and makes, bounded: one place for the limits and the checks
that enforce them *before* the work (a bad output path found after shading
120 frames, or a 12000 x 12000 PNG decoded before its size is looked at, are
the failures this module exists to prevent).

- frame sides (``check_frame_side``, ``check_gl_frame``) against a fixed cap,
  the GL implementation's limits and the memory the frame needs;
- images (``check_image_file``: pixels counted from the header, before decoding);
- files an asset refers to (``read_confined``: inside the asset's folder,
  regular files only, at most the bytes the asset declares);
- outputs (``check_output_file``, ``check_output_folder``: the path can be
  written, before the work; folders are created only when something is written);
- repeated warnings (``WarningTally``: the first few, then a count at the end).

Every check raises a ``conrt.errors`` error naming the input and the limit.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import stat as _stat
import tempfile
from pathlib import Path

import numpy as np

from conrt.errors import AssetError, ConfigError, InputError

log = logging.getLogger(__name__)

# The runtime's frame side when none is given (open_runtime(size=None), conrt render, demo,
# bridge): 256² is where exact sheet correspondences pay (eyes and line art survive) and
# conr-rt still holds ~30 fps end to end on 2 cores (docs/runtime.md); the embedded model
# was trained at 128². Here (layer 0) so the CLI's argument defaults need no torch import.
DEFAULT_SIZE = 256
# Frame rates a runtime steps its clips and physics at (RuntimeSpec.fps, every --fps that sets
# it): below 1 a clip is a slide show; above 240 the physics' substeps (240 Hz) are finer than a frame.
MIN_FPS, MAX_FPS = 1, 240
# Largest square frame any command renders. 8192^2 RGBA32F is 1 GiB per buffer;
# the network needs far more per pixel (``RUNTIME_BYTES_PER_PIXEL``).
MAX_FRAME_SIDE = 8192
# Peak resident bytes per frame pixel of the shading runtime (physics + UDP +
# network + outputs) above its fixed cost: `conrt render --frames 3` of the
# default model peaked at 593 / 925 / 1934 MB at 256^2 / 512^2 / 1024^2, i.e.
# 1727 and 1315 B per added pixel; rounded up. Used to refuse sizes that cannot fit.
RUNTIME_BYTES_PER_PIXEL = 1800
# Raster-only commands (udp, sheet): `conrt udp` peaked at 155 / 438 MB at
# 512^2 / 2048^2 (74 B per added pixel); rounded up.
RASTER_BYTES_PER_PIXEL = 96
# Images conrt decodes (sheet views, textures, UDP PNGs): 64 M pixels is 256 MB
# as RGBA8 (Pillow's own bomb limit is 89 M pixels, and it only warns below 179 M).
MAX_IMAGE_PIXELS = 64 * 1024 * 1024
# Views a character sheet may hold (4-8 recommended); backends and passes
# declare lower limits of their own (conrt/runtime/limits.py brings them together).
MAX_SHEET_VIEWS = 16
# Sheet views smaller than this cannot show a character (a 1x1 "drawing").
MIN_SHEET_VIEW_SIDE = 16
# Files an asset refers to without declaring a length (images): read at most this.
MAX_REFERENCED_FILE_BYTES = 512 * 1024 * 1024
# Elements one glTF accessor may claim when it has no data behind it (zeros):
# 16 M vertices is far beyond any character.
MAX_ACCESSOR_COUNT = 16 * 1024 * 1024
# Side of the one texture a character's base-colour textures are tiled into
# (characters/gltf_io.py): within every desktop GL's GL_MAX_TEXTURE_SIZE (16384 on
# llvmpipe; a larger upload fails with GL_INVALID_VALUE and samples black) and
# 256 MB as RGBA8. A VRoid-style export has 10-20 textures: a grid of 1024^2 tiles fits.
MAX_ATLAS_SIDE = 8192


# ---------------------------------------------------------------------------
# frame sizes


def available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (None: unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_frame_side(side, what: str = "--size", bytes_per_pixel: int = RASTER_BYTES_PER_PIXEL,
                     minimum: int = 8) -> int:
    """A square frame side: an integer in ``minimum..MAX_FRAME_SIDE`` whose frame
    fits in the available memory at ``bytes_per_pixel``."""
    if isinstance(side, float) and not math.isfinite(side):
        raise ConfigError(f"{what} must be a whole number of pixels, got {side}")
    if int(side) != side:
        raise ConfigError(f"{what} must be a whole number of pixels, got {side}")
    side = int(side)
    if not minimum <= side <= MAX_FRAME_SIDE:
        raise ConfigError(f"{what} {side}: frame sides must be within {minimum}..{MAX_FRAME_SIDE} pixels")
    need = side * side * bytes_per_pixel
    have = available_memory()
    if have is not None and need > have:
        fits = int(math.sqrt(have / bytes_per_pixel)) // 8 * 8
        raise ConfigError(f"{what} {side}: a {side}x{side} frame needs about {need / 2**30:.1f} GiB, only "
                          f"{have / 2**30:.1f} GiB is available; the largest that fits is about {fits}")
    return side


def check_fps(fps, what: str = "--fps") -> float:
    """A runtime's frame rate: a number in ``MIN_FPS..MAX_FPS``."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not MIN_FPS <= fps <= MAX_FPS:
        raise ConfigError(f"{what} must be in {MIN_FPS}..{MAX_FPS} frames per second, got {fps!r}")
    return float(fps)


def check_gl_frame(ctx, width: int, height: int, what: str = "frame") -> None:
    """Refuse a framebuffer the GL implementation cannot make (before allocating it)."""
    info = getattr(ctx, "info", None) or {}
    limits = [("GL_MAX_TEXTURE_SIZE", info.get("GL_MAX_TEXTURE_SIZE")),
              ("GL_MAX_RENDERBUFFER_SIZE", info.get("GL_MAX_RENDERBUFFER_SIZE"))]
    dims = info.get("GL_MAX_VIEWPORT_DIMS")
    if dims:
        limits.append(("GL_MAX_VIEWPORT_DIMS", min(dims)))
    for name, value in limits:
        if value and max(width, height) > int(value):
            raise ConfigError(f"{what} {width}x{height}: this OpenGL ({info.get('GL_RENDERER', '?')}) allows at "
                              f"most {int(value)} pixels a side ({name})")
    if width < 1 or height < 1:
        raise ConfigError(f"{what} {width}x{height}: sides must be at least 1 pixel")


# ---------------------------------------------------------------------------
# images


def check_image_pixels(width: int, height: int, where) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"{where}: image is {width}x{height} ({width * height / 1e6:.0f} M pixels); conrt decodes "
                         f"at most {MAX_IMAGE_PIXELS / 1e6:.0f} M pixels (scale it down)")


def open_image(source, where):
    """``PIL.Image.open`` with the pixel count checked from the header, before
    anything is decoded; every Pillow failure (bombs included) -> InputError."""
    from PIL import Image, UnidentifiedImageError  # lazy: Pillow; conrt.limits loads at CLI startup

    try:
        im = Image.open(source)
    except Image.DecompressionBombError as exc:
        raise InputError(f"{where}: image too large to decode safely ({exc})") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise InputError(f"{where}: cannot read the image ({exc})") from None
    try:
        check_image_pixels(*im.size, where)
    except InputError:
        im.close()
        raise
    return im


def decode_rgba(source, where):
    """An image file (path or file object) -> (H, W, 4) uint8 RGBA, bounded (see ``open_image``)."""
    from PIL import Image  # lazy: Pillow; conrt.limits loads at CLI startup

    im = open_image(source, where)
    try:
        with im:
            return np.asarray(im.convert("RGBA"), np.uint8).copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"{where}: cannot decode the image ({exc})") from None


# ---------------------------------------------------------------------------
# files an asset refers to


def read_confined(base: Path, relative: str, max_bytes: int, where) -> bytes:
    """The file ``relative`` (a URI path, already unquoted) inside ``base``'s folder:
    no absolute paths, no ``..`` out of it, no devices/FIFOs, at most ``max_bytes``."""
    base = Path(base).resolve()
    if os.path.isabs(relative) or "\\" in relative or ":" in relative.split("/")[0]:
        raise AssetError(f"{where}: refers to {relative!r}; files an asset uses must be relative paths "
                         f"inside its folder ({base})")
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise AssetError(f"{where}: refers to {relative!r}, which is outside the asset's folder {base}")
    try:
        st = target.stat()
    except OSError:
        raise AssetError(f"{where}: file {target} is missing") from None

    if not _stat.S_ISREG(st.st_mode):
        raise AssetError(f"{where}: {target} is not a regular file")
    try:
        with open(target, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise AssetError(f"{where}: cannot read {target} ({exc.strerror})") from None
    if len(data) > max_bytes:
        data = data[:max_bytes]
    return data


# ---------------------------------------------------------------------------
# outputs


def _probe_writable(folder: Path, what: str, path) -> None:
    """Create and remove a temporary file in ``folder`` (works for root, read-only mounts, ACLs)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".conrt-probe-", dir=folder)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot write in {folder} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def check_output_file(path, what: str = "-o", suffixes: tuple[str, ...] | None = None,
                      create_parents: bool = True) -> Path:
    """An output file path, checked before the work: right suffix, not a folder,
    its folder exists (created here with its parents, unless ``create_parents``
    is False: then ``make_parents`` when the first byte is written) and can be written."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{what} {path}: the output must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise InputError(f"{what} {path}: is an existing folder; give a file name (e.g. {path / ('out' + (suffixes or ('.png',))[0])})")
    anc = _existing_ancestor(path.parent)
    if not anc.is_dir():
        raise InputError(f"{what} {path}: {anc} is a file, not a folder")
    _probe_writable(anc, what, path)
    if create_parents:
        make_parents(path, what)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{what} {path}: the file exists and is read-only")
    return path


def check_output_folder(path, what: str = "-o") -> Path:
    """An output folder, checked before the work: not a file, and it (or the
    nearest existing folder above it) can be written. Not created here, so a
    failed load leaves nothing behind (see ``make_output_folder``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path}: is an existing file, not a folder")
    anc = _existing_ancestor(path)
    if not anc.is_dir():
        raise InputError(f"{what} {path}: {anc} is a file, not a folder")
    _probe_writable(anc, what, path)
    return path


def make_parents(path, what: str = "-o") -> list[Path]:
    """Create the missing folders above ``path``; returns them (deepest last), so a
    run that fails can remove the ones it made (``remove_if_empty``)."""
    path = Path(path)
    missing = []
    p = path.parent
    while not p.exists() and p.parent != p:
        missing.append(p)
        p = p.parent
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot create the folder {path.parent} ({exc.strerror or exc})") from None
    return missing[::-1]


def make_output_folder(path, what: str = "-o") -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot create the folder ({exc.strerror or exc})") from None
    return path


def remove_if_empty(path) -> None:
    """Remove a folder this run created when nothing was written into it."""
    try:
        Path(path).rmdir()
    except OSError:
        pass


# ---------------------------------------------------------------------------
# repeated warnings


class WarningTally:
    """Log the first ``first`` warnings of each kind, count the rest, and log one
    summary line per kind at the end (``summarise``): a character whose cloth
    resets every substep must not print 8 lines a frame."""

    def __init__(self, logger: logging.Logger, first: int = 3):
        self.log, self.first = logger, first
        self.counts: dict[str, int] = {}

    def warn(self, kind: str, msg: str, *args) -> None:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n <= self.first:
            self.log.warning(msg + (" (further ones counted, summary at the end)" if n == self.first else ""), *args)

    def summarise(self) -> None:
        for kind, n in self.counts.items():
            if n > self.first:
                self.log.warning("%s: %d times in all (%d not shown)", kind, n, n - self.first)


# ---------------------------------------------------------------------------
# argparse types: the checks above at parse time (argparse turns the
# ArgumentTypeError into "argument --size: ..." and rc 2)


def _arg_type(check, name: str):
    def parse(text: str):
        try:
            return check(text)
        except (ConfigError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in "invalid <name> value"
    return parse


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ConfigError(f"{text} is not a finite number")
    return value


def _side(text: str, bpp: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a whole number of pixels") from None
    return check_frame_side(value, "size", bpp)


finite_float = _arg_type(_finite, "finite number")
raster_side = _arg_type(lambda t: _side(t, RASTER_BYTES_PER_PIXEL), "frame size")
runtime_side = _arg_type(lambda t: _side(t, RUNTIME_BYTES_PER_PIXEL), "frame size")


# ---------------------------------------------------------------------------
# characters

# Heights (metres) the physics and clips are made for; outside them cloth and
# hair blow up and gravity looks wrong.
CHARACTER_HEIGHT_RANGE = (0.05, 50.0)


def check_character_scale(character, where) -> list[str]:
    """Warn (and return the warnings) when a character cannot look right: a
    height far from metres, or a rest mesh mostly outside its canonical box
    (a file scaled after its box was saved: every UDP frame would be empty)."""
    pos = np.asarray(character.mesh.positions, np.float64)
    out = []
    if len(pos):
        h = float(np.ptp(pos[:, 1]))
        lo, hi = CHARACTER_HEIGHT_RANGE
        if not lo <= h <= hi:
            out.append(f"{where}: the character is {h:.3g} m tall; physics and clips assume metres "
                       f"({lo}..{hi} m): expect cloth/hair resets and odd motion (rescale the file)")
        rel = (pos - character.box.origin) / character.box.size
        inside = float(np.mean(np.all((rel > -0.05) & (rel < 1.05), axis=1)))
        if inside < 0.5:
            out.append(f"{where}: only {inside:.0%} of the rest mesh lies inside its canonical box (saved at another "
                       "scale?): its UDP coordinates clip to the box's faces and frames shade as garbage; re-save the "
                       "character or drop its box")
    for msg in out:
        log.warning("%s", msg)
    return out


def check_npz_array(path, key: str, max_elements: int = 4 * MAX_IMAGE_PIXELS) -> None:
    """Refuse an .npz member whose header declares more than ``max_elements``
    values, before NumPy allocates them (a 1 kB file can claim 100000^2 x 4 floats)."""
    import zipfile  # lazy: not at CLI startup

    try:
        with zipfile.ZipFile(path) as z, z.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                               else np.lib.format.read_array_header_2_0(f))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError):
        return  # np.load names what is wrong with the file itself
    n = int(np.prod(shape, dtype=object)) if shape else 1
    if n > max_elements:
        raise InputError(f"{path}: array {key!r} has shape {shape} ({n / 1e6:.0f} M values); conrt reads at most "
                         f"{max_elements / 1e6:.0f} M")
