"""Where shaded frames go: a video, a folder of PNGs, a sprite-sheet atlas.

Every sink takes ``RuntimeFrame``s (premultiplied f32 RGBA) and writes them
in the file format's own convention:
- video (.mp4/.gif): composited over a flat background colour (no alpha);
- PNG frames and the atlas: straight (non-premultiplied) alpha, as PNG expects.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from conrt.errors import ConfigError, InputError
from conrt.limits import check_output_file, check_output_folder, make_output_folder, make_parents, remove_if_empty

from .frame_loop import RuntimeFrame, atlas_layout, over_background, to_straight_u8

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".gif")


class VideoSink:
    """The writer is checked where it can fail: the path before the work, each
    frame's hand-over to ffmpeg, and the file after closing (ffmpeg that fails
    on a few buffered frames only says so when it exits). The file and its
    missing folders are made with the first frame, so a run that fails to load
    leaves nothing behind."""

    def __init__(self, path, fps: float = 30.0, background=(1.0, 1.0, 1.0)):
        self.path = check_output_file(path, "-o", VIDEO_SUFFIXES, create_parents=False)
        self.fps, self.background = fps, background
        self.created: list[Path] = []  # folders made for the first frame (removed again by abort)
        self.writer = None
        self.count = 0

    def _open(self) -> None:
        import imageio.v2 as iio  # lazy: imageio only for video

        self.created = make_parents(self.path)
        try:
            if self.path.suffix.lower() == ".mp4":
                # quality 8: small files; macro_block_size 16 keeps sizes legal for H.264
                self.writer = iio.get_writer(str(self.path), fps=self.fps, codec="libx264", quality=8,
                                             macro_block_size=16, ffmpeg_log_level="error")
            else:
                self.writer = iio.get_writer(str(self.path), mode="I", duration=1000.0 / self.fps, loop=0)
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(f"-o {self.path}: cannot open the video writer ({_first_line(exc)})") from None

    def __call__(self, frame: RuntimeFrame) -> None:
        if self.writer is None:
            self._open()
        try:
            self.writer.append_data(over_background(frame.rgba, self.background))
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(f"-o {self.path}: writing frame {self.count} failed ({_first_line(exc)})") from None
        self.count += 1

    def close(self) -> None:
        if self.writer is None:
            return
        try:
            self.writer.close()
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(f"-o {self.path}: the video could not be finished ({_first_line(exc)})") from None
        if self.count and not (self.path.is_file() and self.path.stat().st_size > 0):
            raise InputError(f"-o {self.path}: the video writer finished without writing the file")

    def abort(self) -> None:
        """After a failure elsewhere: stop the writer, keep no half-written video."""
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as exc:  # the failure being reported matters, not this one
                log.debug("closing %s after a failure: %s", self.path, exc)
            if self.path.is_file():
                self.path.unlink()
        for folder in reversed(self.created):
            remove_if_empty(folder)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PngSink:
    """``frame_0000.png``... straight alpha, plus ``frames.json`` (clip times).
    The folder is checked up front but created only with the first frame."""

    def __init__(self, folder, prefix: str = "frame", extra: dict | None = None):
        self.folder = check_output_folder(folder)
        self.created = not self.folder.exists()
        self.prefix, self.extra = prefix, extra or {}
        self.entries: list[dict] = []

    def __call__(self, frame: RuntimeFrame) -> None:
        if not self.entries:
            make_output_folder(self.folder)
        name = f"{self.prefix}_{frame.index:04d}.png"
        try:
            Image.fromarray(to_straight_u8(frame.rgba), "RGBA").save(self.folder / name)
        except OSError as exc:
            raise InputError(f"-o {self.folder}: cannot write {name} ({exc})") from None
        self.entries.append({"file": name, "clip": frame.clip, "time": round(frame.time, 6)})

    def close(self) -> None:
        if not self.entries:  # nothing shaded: no frames.json listing 0 frames
            self.abort()
            return
        meta = {"alpha": "straight", "frames": self.entries, **self.extra}
        (self.folder / "frames.json").write_text(json.dumps(meta, indent=1))

    def abort(self) -> None:
        """After a failure: frames written so far stay; a folder this run made and left empty goes."""
        if self.created:
            remove_if_empty(self.folder)


class AtlasSink:
    """A sprite sheet: one PNG (straight alpha) with the frames in a grid, and a
    JSON in the TexturePacker "hash" layout most 2D engines read (Phaser,
    PixiJS, Godot/Unity importers):
    ``{"frames": {"walk_000": {"frame": {"x","y","w","h"}, ...}}, "animations": {...}, "meta": {...}}``."""

    def __init__(self, path, fps: float = 30.0, columns: int | None = None):
        self.path = Path(path)
        if self.path.suffix.lower() != ".png":
            raise ConfigError(f"--atlas {self.path}: the atlas is a .png file (its .json is written beside it)")
        check_output_file(self.path, "--atlas", create_parents=False)
        self.fps, self.columns = fps, columns
        self.frames: list[tuple[str, str, float, np.ndarray]] = []

    def __call__(self, frame: RuntimeFrame) -> None:
        self.frames.append((f"{frame.clip}_{frame.index:04d}", frame.clip, frame.time, to_straight_u8(frame.rgba)))

    def close(self) -> Path:
        if not self.frames:
            raise InputError("no frames for the atlas")
        h, w = self.frames[0][3].shape[:2]
        cols, rows = atlas_layout(len(self.frames), self.columns)
        sheet = np.zeros((rows * h, cols * w, 4), np.uint8)
        entries, animations = {}, {}
        for k, (name, clip, t, img) in enumerate(self.frames):
            y, x = (k // cols) * h, (k % cols) * w
            sheet[y:y + h, x:x + w] = img
            entries[name] = {"frame": {"x": x, "y": y, "w": w, "h": h}, "rotated": False, "trimmed": False,
                             "spriteSourceSize": {"x": 0, "y": 0, "w": w, "h": h},
                             "sourceSize": {"w": w, "h": h}, "pivot": {"x": 0.5, "y": 1.0},
                             "duration": round(1000.0 / self.fps, 3), "time": round(t, 6)}
            animations.setdefault(clip, []).append(name)
        make_parents(self.path, "--atlas")
        Image.fromarray(sheet, "RGBA").save(self.path)
        meta = {"frames": entries, "animations": animations,
                "meta": {"app": "conrt", "image": self.path.name, "format": "RGBA8888", "premultipliedAlpha": False,
                         "size": {"w": cols * w, "h": rows * h}, "frameRate": self.fps, "columns": cols, "rows": rows}}
        json_path = self.path.with_suffix(".json")
        json_path.write_text(json.dumps(meta, indent=1))
        log.info("atlas: %d frames in a %dx%d grid -> %s + %s", len(self.frames), cols, rows, self.path, json_path.name)
        return json_path

    def abort(self) -> None:
        self.frames.clear()  # nothing written yet: the atlas is made at close


def close_sinks(sinks, failed: bool) -> None:
    """Close every sink; after a failure abort them instead, so the error that
    stopped the run is the one reported (not "no frames for the atlas")."""
    error = None
    for s in sinks:
        if failed:
            s.abort()
            continue
        try:
            s.close()
        except InputError as exc:  # close the others, then report the first
            error = error or exc
    if error is not None:
        raise error


def make_sink(output, fps: float = 30.0, extra: dict | None = None):
    """``out.mp4``/``out.gif`` -> a video; a folder (existing, trailing slash or no suffix) -> PNG frames."""
    path = Path(output)
    text = str(output)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoSink(path, fps)
    if text.endswith(("/", "\\")) or path.is_dir() or not path.suffix:
        return PngSink(path, extra=extra)
    raise ConfigError(f"-o {output}: unknown output kind {path.suffix!r}; valid: a video "
                      f"({', '.join(VIDEO_SUFFIXES)}) or a folder for PNG frames (e.g. frames/)")
