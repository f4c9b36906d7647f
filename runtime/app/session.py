"""Loading what a runtime needs: a character, a character sheet and weights,
with the project's defaults (sample character, sample sheet, embedded
weights) and loud fallbacks while those are missing. One resolver each:

    character = load_character_source(None)            # characters/sources.py: the sample, a file by suffix
    model, desc = load_model_source(None)              # checkpoint.resolve_model: embedded default weights
    sheet = load_sheet("my_sheet/")                    # a Sheet: views, their files and what lies beside them

Motions resolve in :mod:`conrt.physics.motion`; :func:`conrt.runtime.app.frame_loop.build_runtime`
brings them together.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

# characters resolve in one place (layer 1, no torch; re-exported for the runtime's callers)
from conrt.characters.sources import (CHARACTER_LOADERS, load_character_source,  # noqa: F401
                                      register_character_loader, resolve_character)
from conrt.errors import ConfigError, InputError
from conrt.shaders.correspondence_pass import Framing
from conrt.shaders.view_file import SUFFIX, load_view_file, view_file_for
from conrt.types import Character

from .. import limits
from ..defaults import DEFAULT_WEIGHTS, FALLBACK_CONFIG, SAMPLE_CHARACTER, SAMPLE_SHEET_DIR, SAMPLES_DIR  # noqa: F401
from ..nn import official as off
from ..nn.checkpoint import resolve_model
from ..nn.sheet import check_sheet_image, read_sheet_image, read_udp

log = logging.getLogger(__name__)

SHEET_SUFFIXES = (".png", ".webp", ".tif", ".tiff")
MAX_SHEET_VIEWS = limits.MAX_SHEET_VIEWS
# free border per side (fraction of the frame) when a sheet view is re-framed;
# the default model's training frames had 0.03-0.18 (training/datagen.py)
SHEET_MARGIN = 0.06


# ---------------------------------------------------------------------------
# weights


def load_model_source(weights=None, config: str | None = None):
    """-> (model in eval mode, a one-line description for logs/metadata): the
    pair form of :func:`conrt.runtime.nn.checkpoint.resolve_model`, the one model
    resolver (its fallbacks and errors)."""
    model = resolve_model(weights, config)
    return model, model.conrt_description


# ---------------------------------------------------------------------------
# sheet


def list_sheet_files(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"sheet folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"--sheet {folder} is not a folder (give a folder of RGBA PNGs, one per view)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SHEET_SUFFIXES and not p.stem.endswith("_udp"))
    if not files:
        raise InputError(f"sheet folder {folder} has no images ({', '.join(SHEET_SUFFIXES)}); "
                         "put 4-8 RGBA drawings of the character there")
    if len(files) > MAX_SHEET_VIEWS:  # counted before any is decoded
        raise InputError(f"sheet folder {folder} has {len(files)} images; a sheet holds 1-{MAX_SHEET_VIEWS} "
                         "views (4-8 recommended)")
    return files


@dataclass(frozen=True, eq=False)
class Sheet:
    """A character sheet, loaded once (:func:`load_sheet`): the views as drawn,
    the files they came from, and what those files have beside them.

    The pipeline asks it instead of passing the sheet's source around:
    ``udps_for(model)`` (each view's own UDP, ``view_NN_udp.npz``),
    ``correspondences(character, mode)`` (``view_NN_view.npz`` cameras),
    ``fitted(size)`` / ``framing(k, size)`` (the views re-framed for the network)."""

    images: tuple  # [H, W, 4] u8 straight RGBA views, as drawn
    description: str
    files: tuple[Path, ...] | None = None  # the views' image files (None: arrays, or drawn on the fly)

    @property
    def views(self) -> int:
        return len(self.images)

    @cached_property
    def udps(self) -> list[np.ndarray] | None:
        """Each view's own UDP when every view has a ``*_udp.npz`` beside it, else None (read once)."""
        return _load_udps(list(self.files)) if self.files else None

    def udps_for(self, model) -> list[np.ndarray] | None:
        """The views' UDPs for a model that builds its sheet tensors from them (conr-rt), else None."""
        return self.udps if model.takes_sheet_udp else None

    def correspondences(self, character: Character, mode: str = "auto"):
        """:func:`choose_correspondences` for this sheet's files."""
        return _choose(list(self.files) if self.files else None, self.images, character, mode)

    def fitted(self, size: int) -> list[np.ndarray]:
        """The views auto-centred and scaled to ``size`` (:func:`fit_sheet`)."""
        return fit_sheet(self.images, size)

    def framing(self, k: int, size: int):
        """View ``k``'s pixels -> the pixels ``fitted(size)`` gives the network."""
        return sheet_framing(self.images[k], size)


def load_sheet(sheet=None, fallback: Callable[[], list[np.ndarray]] | None = None,
               matting: str | None = None) -> Sheet:
    """A :class:`Sheet` from a folder of images, a list of image paths/arrays, a
    Sheet (passed through), or None (the sample sheet; if it is missing,
    ``fallback()`` draws one). Image files are read by their suffix
    (``SHEET_SUFFIXES``); ``matting="uniform"`` keys out a uniform background
    of opaque views instead of refusing them."""
    if isinstance(sheet, Sheet):
        return sheet
    if sheet is None:
        if SAMPLE_SHEET_DIR.is_dir() and any(p.suffix.lower() == ".png" for p in SAMPLE_SHEET_DIR.iterdir()):
            sheet = SAMPLE_SHEET_DIR
        elif fallback is not None:
            log.info("sample sheet %s is missing: drawing a 4-view sheet of the character with the toon pass",
                     SAMPLE_SHEET_DIR)
            return Sheet(tuple(check_sheet(fallback())), "toon-rendered 4-view sheet (drawn on the fly)")
        else:
            raise InputError(f"no --sheet given and the sample sheet {SAMPLE_SHEET_DIR} is missing")
    if isinstance(sheet, (str, Path)):
        files = list_sheet_files(sheet)
        images = check_sheet([read_sheet_image(p) for p in files], files, matting)
        return Sheet(tuple(images), f"{len(files)} views from {sheet}", tuple(files))
    items = list(sheet)
    if not items:
        raise InputError(f"the sheet is an empty list; give 1-{MAX_SHEET_VIEWS} RGBA views (4-8 recommended)")
    if len(items) > MAX_SHEET_VIEWS:  # before decoding any of them
        raise InputError(f"the sheet has {len(items)} views; a sheet holds 1-{MAX_SHEET_VIEWS} (4-8 recommended)")
    images = [read_sheet_image(x) if isinstance(x, (str, Path)) else np.asarray(x) for x in items]
    names = [x if isinstance(x, (str, Path)) else None for x in items]
    files = tuple(Path(x) for x in items) if all(n is not None for n in names) else None
    return Sheet(tuple(check_sheet(images, names, matting)), f"{len(images)} views", files)


def load_sheet_source(sheet=None, fallback: Callable[[], list[np.ndarray]] | None = None):
    """-> (list of [H, W, 4] u8 straight RGBA views, description) of :func:`load_sheet`."""
    loaded = load_sheet(sheet, fallback)
    return list(loaded.images), loaded.description


def check_sheet(images: Sequence[np.ndarray], names: Sequence | None = None,
                matting: str | None = None) -> list[np.ndarray]:
    """Validate sheet views (RGBA with a transparent background, or keyed out by
    ``matting``) -> u8 straight RGBA."""
    if not 1 <= len(images) <= MAX_SHEET_VIEWS:
        raise InputError(f"a sheet needs 1-{MAX_SHEET_VIEWS} views (4-8 recommended), got {len(images)}")
    out = []
    for i, img in enumerate(images):
        label = str(names[i]) if names is not None and names[i] is not None else f"view {i}"
        img = np.asarray(img)
        if matting is None and img.ndim == 3 and img.shape[2] == 4 and img.dtype == np.uint8 and img[..., 3].min() == 255:
            raise InputError(f"sheet {label} has no alpha (fully opaque): CoNR needs cut-out RGBA drawings "
                             "on a transparent background")
        try:
            img = check_sheet_image(img, i, matting)
        except InputError as exc:
            raise InputError(f"sheet {label}: {exc}") from None
        if img.dtype != np.uint8:
            img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
        out.append(img)
    return out


def _sheet_crop(img: np.ndarray, size: int) -> "off.Crop | None":
    """The re-framing crop of one view (None: already ``size`` x ``size``, used as drawn)."""
    if img.shape[:2] == (size, size):
        return None
    c = off.find_crop(img[..., 3])
    pad = int(round(c.side * SHEET_MARGIN / (1 - 2 * SHEET_MARGIN)))  # keep a border, as the training frames have
    return off.Crop(c.top - pad, c.left - pad, c.side + 2 * pad, c.frame_h, c.frame_w)


def fit_sheet(images: Sequence[np.ndarray], size: int) -> list[np.ndarray]:
    """Auto-centre each view on its alpha and scale it to ``size`` x ``size`` (with a
    ``SHEET_MARGIN`` border) so the network runs at the frame size; views already
    ``size`` x ``size`` are used as drawn."""
    out = []
    for img in images:
        c = _sheet_crop(img, size)
        if c is None:
            out.append(img)
            continue
        # Resize premultiplied so the transparent black background does not bleed into edges.
        f = img.astype(np.float32) / 255.0
        pm = np.concatenate([f[..., :3] * f[..., 3:], f[..., 3:]], -1)
        r = off.apply_crop(pm, c, size)
        a = r[..., 3:]
        rgb = np.where(a > 1e-6, r[..., :3] / np.maximum(a, 1e-6), 0.0)
        out.append((np.clip(np.concatenate([rgb, a], -1), 0, 1) * 255 + 0.5).astype(np.uint8))
    return out


def fit_sheet_udps(udps: Sequence[np.ndarray], images: Sequence[np.ndarray], size: int) -> list[np.ndarray]:
    """The sheet views' UDPs re-framed exactly like ``fit_sheet`` re-frames their images
    (nearest: surface coordinates must not be blended)."""
    out = []
    for udp, img in zip(udps, images):
        c = _sheet_crop(img, size)
        out.append(udp if c is None else off.apply_crop(udp, c, size, "nearest"))
    return out


def _sheet_paths(sheet) -> list[Path] | None:
    """The image files a sheet source names (None: arrays, no files)."""
    if sheet is None:
        sheet = SAMPLE_SHEET_DIR
    if isinstance(sheet, (str, Path)):
        return list_sheet_files(sheet) if Path(sheet).is_dir() else None
    items = list(sheet)
    return [Path(x) for x in items] if items and all(isinstance(x, (str, Path)) for x in items) else None


def load_sheet_udps(sheet=None) -> list[np.ndarray] | None:
    """The sheet views' own UDPs when every view has one beside it
    (``view_00.png`` -> ``view_00_udp.npz``, as ``conrt sheet --udp`` writes them),
    else None. A lookup model (conr-rt) then takes its correspondences from
    them instead of from its UDP prediction: exact for a sheet rendered from the
    rigged mesh or painted over such renders."""
    return _load_udps(_sheet_paths(sheet))


def _load_udps(paths: list[Path] | None) -> list[np.ndarray] | None:
    if not paths:
        return None
    found = [p.with_name(p.stem + "_udp.npz") for p in paths]
    have = [f.is_file() for f in found]
    if not any(have):
        return None
    if not all(have):
        log.warning("only %d of %d sheet views have a *_udp.npz beside them; using the model's UDP prediction "
                    "for all views", sum(have), len(have))
        return None
    udps = []
    for p, f in zip(paths, found):
        udp = read_udp(f)
        with Image.open(p) as im:
            w, h = im.size
        if udp.shape[:2] != (h, w):
            raise InputError(f"{f}: UDP is {udp.shape[1]}x{udp.shape[0]}, its sheet view {p.name} is {w}x{h}")
        udps.append(udp)
    return udps


# ---------------------------------------------------------------------------
# sheet correspondences (conr-rt): how each view's sheet position is found

CORRESPONDENCES = ("auto", "table", "exact", "udp-nn")
FIT_SHEET_REPORT = "fit.json"  # what conrt fit-sheet writes beside the views it fitted


def sheet_framing(img: np.ndarray, size: int):
    """``shaders.correspondence_pass.Framing`` of one view: its own pixels ->
    the pixels ``fit_sheet`` gives the network (the same ``_sheet_crop``)."""
    c = _sheet_crop(img, size)
    if c is None:
        return Framing()
    scale = size / c.side  # apply_crop: window [top, top+side) x [left, left+side) resized to size
    return Framing(scale, -c.left * scale, -c.top * scale)


def choose_correspondences(sheet, images: Sequence[np.ndarray], character: Character,
                           mode: str = "auto") -> list[tuple[str, object, str]] | None:
    """Per sheet view, how the runtime finds its sheet positions:
    ``("exact", (camera, pose), file name)`` from ``view_NN_view.npz``
    (``conrt sheet`` writes it), ``("udp-nn", udp, file name)`` from
    ``view_NN_udp.npz`` alone; None = the lookup table for every view (no
    files, ``mode="table"``, or in ``auto`` a ``conrt fit-sheet`` output
    without view files: its fitted UDPs read by the network as the sheet's).

    ``mode="auto"`` takes the best each view has; files that do not fit the
    views (count, size, character, NaN or singular cameras) are an
    ``InputError``, never a quiet fall back to worse correspondences."""
    return _choose(_sheet_paths(sheet), images, character, mode)


def _choose(paths: list[Path] | None, images: Sequence[np.ndarray], character: Character, mode: str):
    if mode not in CORRESPONDENCES:
        raise ConfigError(f"unknown correspondence mode {mode!r}; valid: {', '.join(CORRESPONDENCES)}")
    if mode == "table":
        return None
    if not paths:
        if mode != "auto":
            raise InputError(f"correspondence {mode!r} needs a sheet folder whose views have "
                             f"*{SUFFIX} / *_udp.npz files beside them; this sheet has no files")
        return None
    if len(paths) != len(images):  # e.g. the sample sheet is missing and one was drawn on the fly
        if mode != "auto":
            raise InputError(f"correspondence {mode!r}: {len(images)} sheet views but {len(paths)} files")
        return None
    folder = paths[0].parent
    stems = {p.stem for p in paths}
    orphans = sorted(f.name for f in folder.glob(f"*{SUFFIX}") if f.name[:-len(SUFFIX)] not in stems)
    if orphans:
        raise InputError(f"sheet {folder}: view files without a view image: {', '.join(orphans)} "
                         f"({len(paths)} views: {', '.join(p.name for p in paths)})")
    cams = [view_file_for(p) for p in paths]
    udps = [p.with_name(p.stem + "_udp.npz") for p in paths]
    has_cam = [f.is_file() for f in cams]
    has_udp = [f.is_file() for f in udps]
    if mode == "auto":
        if not any(has_cam) and not all(has_udp):
            return None  # a plain drawing sheet: the table from the model's UDP prediction
        if not any(has_cam) and (folder / FIT_SHEET_REPORT).is_file():
            # conrt fit-sheet's output: fitted UDPs, 0.01-0.02 off, shade better through the table path (the
            # network reads them as the sheet's UDPs) than by udp-nn's nearest lookups, which copy each error
            # into the colour (docs/fit_sheet.md, "Real character": Godette 0.485 -> 0.338x flat)
            log.info("sheet %s: fitted by conrt fit-sheet (%s): its UDP files through the table path",
                     folder, FIT_SHEET_REPORT)
            return None
        mode = "exact" if any(has_cam) else "udp-nn"
    out = []
    for k, p in enumerate(paths):
        h, w = images[k].shape[:2]
        if mode == "exact" and has_cam[k]:
            camera, pose = load_view_file(cams[k], character.skeleton.num_joints)
            if (camera.width, camera.height) != (w, h):
                raise InputError(f"{cams[k]}: the camera is {camera.width}x{camera.height}, "
                                 f"its view {p.name} is {w}x{h}")
            out.append(("exact", (camera, pose), p.name))
        elif has_udp[k]:
            udp = read_udp(udps[k])
            if udp.shape[:2] != (h, w):
                raise InputError(f"{udps[k]}: UDP is {udp.shape[1]}x{udp.shape[0]}, its view {p.name} is {w}x{h}")
            out.append(("udp-nn", udp, p.name))
        else:
            missing = [q.name for q, c, u in zip(paths, has_cam, has_udp) if not (u or (c and mode == "exact"))]
            need = f"a *{SUFFIX} or *_udp.npz" if mode == "exact" else "a *_udp.npz"
            raise InputError(f"sheet {folder}: correspondence {mode!r} needs {need} beside every view; "
                             f"missing for {', '.join(missing)}")
    log.info("sheet correspondences: %s", ", ".join(f"{name} {m}" for m, _, name in out))
    return out
