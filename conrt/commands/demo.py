"""``conrt demo``: the neurally shaded character, live.

With a display: a window showing the shaded character next to its UDP and
toon reference (toggle with V). Drag with the mouse to orbit the camera,
click the character to poke it (the body gives, the skirt and hair swing),
number keys 1-7 switch clips, R resets, Esc quits. The title shows fps and the
per-stage milliseconds.

Without a display it says so and writes a short video + PNG frames
(``out/demo/``) instead. Defaults: the embedded model, the sample character
and the sample sheet; --character, --sheet and --weights take your own."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from pathlib import Path

import numpy as np

from conrt.commands._motion_args import add_motion_argument, loading_kwargs
from conrt.commands.render import add_source_arguments
from conrt.errors import ConfigError, ConrtError, ContextError
from conrt.limits import check_output_file

log = logging.getLogger(__name__)

_BACKGROUND = (0.93, 0.93, 0.95)


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="live neurally shaded character (window), or a short video without a display",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(p)
    add_motion_argument(p, "walk", "; keys 1-7 switch to the built-in clips, 8 back to this one")
    p.add_argument("--fps", type=float, default=30.0, help="physics/animation frame rate (default 30)")
    p.add_argument("--frames", type=int, default=48, help="frames to write without a display (default 48)")
    p.add_argument("--max-frames", type=int, default=None,
                   help="window: close after showing this many shaded frames (default: until Esc)")
    p.add_argument("--scale", type=int, default=None, help="window: pixels per frame pixel (default: ~512 px panels)")
    p.add_argument("--no-reference", action="store_true", help="window: start without the UDP/toon panels")
    p.add_argument("--screenshot", type=Path, help="window: save what the window shows last to this PNG on exit")
    p.add_argument("--headless", action="store_true", help="do not open a window even if there is a display")
    p.add_argument("-o", "--output", type=Path, default=Path("out/demo"),
                   help="folder for the video and PNG frames without a display (default out/demo)")
    from conrt.commands._vmc import add_vmc_arguments

    add_vmc_arguments(p)  # --vmc: a VMC sender drives the character (headless: frames paced at --fps)
    p.set_defaults(func=run)


def run(args) -> int:
    from conrt.commands._vmc import check_addresses

    check_addresses(args)
    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"--max-frames must be at least 1, got {args.max_frames}")
    reason = None if not args.headless else "--headless given"
    if reason is None:
        reason = _display_problem()
    if reason is None:
        try:
            return _run_window(args)
        except ContextError as exc:
            reason = f"the window could not open ({exc})"
    log.warning("no display: %s. Writing %d frames to %s/ (demo.mp4 + PNG frames) instead.",
                reason, args.frames, args.output)
    return _run_headless(args)


def _body_mode(args) -> str:
    # a VMC pose is followed exactly (kinematic body, hair and cloth simulated on top);
    # a PD-driven body lags a target that jumps with each packet
    return "kinematic" if args.vmc is not None else "physical"


def _display_problem() -> str | None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "DISPLAY is not set"
    try:
        import glfw
    except ImportError:
        return "glfw is not installed (pip install 'conrt[window]')"
    if not glfw.init():
        return f"glfw cannot open display {os.environ.get('DISPLAY')!r}"
    return None


# ---------------------------------------------------------------------------
# headless: a short video + frames


def _run_headless(args) -> int:
    from tqdm import tqdm

    from conrt.runtime.frame_loop import open_runtime
    from conrt.limits import check_output_folder
    from conrt.runtime.outputs import PngSink, VideoSink, close_sinks

    out = check_output_folder(args.output)  # before loading anything
    rt = open_runtime(args.character, args.sheet, args.weights, backend=args.backend, size=args.size, clip=args.clip,
                      fps=args.fps, context="egl" if args.context == "window" else args.context,
                      yaw=args.yaw, pitch=args.pitch, physics_mode=_body_mode(args), vmc=args.vmc,
                      vmc_send=args.vmc_send, **loading_kwargs(args))
    video = VideoSink(out / "demo.mp4", args.fps, _BACKGROUND)
    frames = PngSink(out / "frames", extra={"clip": args.clip, "fps": args.fps, "weights": rt.info.weights})
    poke_at = args.frames // 2

    from conrt.commands._vmc import Pacer

    pacer = Pacer(args.fps) if args.vmc is not None else None  # live input: frames in real time

    def write(frame):
        video(frame)
        frames(frame)
        if pacer is not None:
            pacer.wait()

    last, failed = None, True
    try:
        with tqdm(total=args.frames, desc="demo", unit="frame") as bar:
            for frame in rt.frames(args.frames, sink=write):
                last = frame.stats
                if frame.index == poke_at and args.vmc is None:
                    # a poke half way, so the video shows the body and cloth react
                    _poke_centre(rt)
                bar.set_postfix_str(f"{last.fps:.1f} fps")
                bar.update()
        failed = False
    finally:
        rt.close()
        close_sinks([video, frames], failed)
    print(f"no display: wrote {out / 'demo.mp4'} and {args.frames} PNG frames in {out / 'frames'}/"
          + (f" ({last.title()})" if last else ""))
    if rt.info.untrained:
        print("note: untrained weights (the embedded model is missing): colours are not the character's")
    return 0


def _poke_centre(rt) -> None:
    job = rt.last_produced
    if job is None:
        return
    ys, xs = np.nonzero(job.udp[..., 3] > 0)
    if len(ys):
        try:
            hit = rt.poke_at_pixel(float(np.median(xs)), float(np.percentile(ys, 35)))
            log.info("poked the %s", hit)
        except ConrtError as exc:
            log.warning("poke failed: %s", exc)


# ---------------------------------------------------------------------------
# window


class DemoControls:
    """What the demo window's mouse and keys do, in window pixel coordinates
    (separate from glfw so it can be driven and tested without a window).

    Drag: orbit (yaw/pitch); click without dragging: poke the body part under
    the cursor; number n: the n-th clip; R: camera and clip back to the start."""

    DRAG_THRESHOLD = 3.0  # pixels of movement before a press counts as a drag

    def __init__(self, rt, clips: list[str], panel: int, scale: int, home=(0.0, 0.0), show_reference: bool = True):
        self.rt, self.clips, self.panel, self.scale = rt, clips, panel, scale
        self.home = home
        self.show_reference = show_reference
        self.quit = False
        self.last_poke: str | None = None
        self._drag = None
        self._moved = False

    def number(self, n: int) -> None:
        if 1 <= n <= len(self.clips):
            self.rt.set_clip(self.clips[n - 1])
            log.info("clip %s", self.clips[n - 1])

    def toggle_reference(self) -> None:
        self.show_reference = not self.show_reference

    def reset(self) -> None:
        self.rt.raster.yaw, self.rt.raster.pitch = self.home
        self.rt.physics.seek(self.rt.physics.clip, 0.0)

    def press(self, x: float, y: float) -> None:
        self._drag, self._moved = (x, y, self.rt.raster.yaw, self.rt.raster.pitch), False

    def move(self, x: float, y: float) -> None:
        d = self._drag
        if d is None:
            return
        dx, dy = x - d[0], y - d[1]
        if abs(dx) + abs(dy) > self.DRAG_THRESHOLD:
            self._moved = True
            self.rt.raster.yaw = d[2] - dx * 0.4
            self.rt.raster.pitch = float(np.clip(d[3] + dy * 0.3, -60, 60))

    def release(self, x: float, y: float) -> None:
        if self._drag is not None and not self._moved:
            try:  # a click (no drag) pokes the body under the cursor, in any panel
                self.last_poke = self.rt.poke_at_pixel((x % self.panel) / self.scale, y / self.scale)
                if self.last_poke:
                    log.info("poked the %s", self.last_poke)
            except ConrtError as exc:
                log.warning("poke failed: %s", exc)
        self._drag = None


def _fit(img: np.ndarray, side: int) -> np.ndarray:
    k = max(1, side // img.shape[0])
    return np.repeat(np.repeat(img, k, 0), k, 1)


def _shaded_rgb(rgba: np.ndarray) -> np.ndarray:
    from conrt.runtime.frame_loop import over_background

    return over_background(rgba, _BACKGROUND)


def window_scale(size: int, panels: int, screen: tuple[int, int] | None, requested: int | None = None) -> int:
    """Window pixels per frame pixel: ~512 px panels, shrunk until ``panels`` of them
    fit in 90 % of the screen (1536 px of panels were cut off on a 1280 px screen)."""
    if requested:
        return requested
    scale = max(1, 512 // size)
    if screen:
        fit = min(int(screen[0] * 0.9) // (size * panels), int(screen[1] * 0.9) // size)
        scale = max(1, min(scale, fit))
    return scale


def _screen_size() -> tuple[int, int] | None:
    """The primary monitor's size in pixels (None: unknown)."""
    try:
        import glfw

        mode = glfw.get_video_mode(glfw.get_primary_monitor())
        return (int(mode.size.width), int(mode.size.height)) if mode else None
    except Exception as exc:  # no monitor information: keep the default scale
        log.debug("screen size unknown: %s", exc)
        return None


def _run_window(args) -> int:
    import glfw
    import moderngl

    from conrt.physics.clips import list_clips
    from conrt.runtime.frame_loop import over_background, udp_preview
    from conrt.shaders import create_context, release_context

    from conrt.physics.motion import check_motion

    clips = list_clips()
    check_motion(args.clip)
    loading = loading_kwargs(args)
    if args.screenshot is not None:
        check_output_file(args.screenshot, "--screenshot", (".png",))  # before the window opens
    from conrt.runtime.frame_loop import check_size
    from conrt.runtime.session import load_model_source

    # the window's size depends on the frame size, which defaults to the model's
    model, _ = load_model_source(args.weights)
    size = check_size(args.size or int(model.cfg.image_size), model.cfg.size_multiple)
    show_ref = not args.no_reference
    scale = window_scale(size, 3 if show_ref else 1, _screen_size(), args.scale)
    panel = size * scale
    win_w = panel * (3 if show_ref else 1)
    ctx = create_context("window", visible=True, window_size=(win_w, panel), title="conrt demo")
    window = ctx.extra["window"]
    from conrt.runtime.frame_loop import open_runtime

    try:
        rt = open_runtime(args.character, args.sheet, backend=args.backend, size=size, model=model,
                          clip=args.clip, fps=args.fps, realtime=True, toon=True, ctx=ctx, yaw=args.yaw,
                          pitch=args.pitch, physics_mode=_body_mode(args), vmc=args.vmc, vmc_send=args.vmc_send,
                          **loading)
    except BaseException:
        release_context(ctx)
        raise
    if rt.physics.clip not in clips:  # a motion file: its own key after the built-in clips
        clips = clips + [rt.physics.clip]
    controls = DemoControls(rt, clips, panel, scale, home=(args.yaw, args.pitch), show_reference=show_ref)

    def on_key(win, key, scancode, action, mods):
        if action != glfw.PRESS:
            return
        if glfw.KEY_1 <= key <= glfw.KEY_9:
            controls.number(key - glfw.KEY_1 + 1)
        elif key == glfw.KEY_ESCAPE:
            controls.quit = True
        elif key == glfw.KEY_V:
            controls.toggle_reference()
            glfw.set_window_size(win, panel * (3 if controls.show_reference else 1), panel)
        elif key == glfw.KEY_R:
            controls.reset()

    def on_button(win, button, action, mods):
        if button != glfw.MOUSE_BUTTON_LEFT:
            return
        x, y = glfw.get_cursor_pos(win)
        if action == glfw.PRESS:
            controls.press(x, y)
        elif action == glfw.RELEASE:
            controls.release(x, y)

    def on_move(win, x, y):
        controls.move(x, y)

    glfw.set_key_callback(window, on_key)
    glfw.set_mouse_button_callback(window, on_button)
    glfw.set_cursor_pos_callback(window, on_move)
    tex = fbo = None
    shaded = np.zeros((size, size, 3), np.uint8) + np.uint8(_BACKGROUND[0] * 255)
    shown = 0
    last_screen = None
    tick = time.perf_counter()
    present_ms = 0.0
    log.info("demo window: drag = orbit, click = poke, 1-%d = clips (%s), V = reference panels, R = reset, "
             "Esc = quit", len(clips), ", ".join(clips))
    try:
        while not glfw.window_should_close(window) and not controls.quit:
            glfw.poll_events()
            now = time.perf_counter()
            # animation in wall-clock time: a slow loop advances the clip further
            # per frame (capped, so physics does not spiral into ever more substeps)
            rt.physics.world.time_scale = float(np.clip((now - tick) * args.fps, 0.25, 2.0))
            tick = now
            rt.produce()  # physics + raster of the next frame; shading runs on the worker
            frame = rt.latest()
            t_out = time.perf_counter()
            if frame is not None:
                shaded = _shaded_rgb(frame.rgba)
                shown += 1
                # output = presenting (compose, upload, blit, swap) of the previous loop
                stats = dataclasses.replace(frame.stats, output_ms=present_ms)
                glfw.set_window_title(window, f"conrt demo [{frame.clip}] {stats.title()}"
                                      + (" | UNTRAINED weights" if rt.info.untrained else ""))
            panels = [_fit(shaded, panel)]
            live = rt.last_produced
            if controls.show_reference and live is not None:
                panels.append(_fit(over_background(udp_preview(live.udp).astype(np.float32) / 255.0, _BACKGROUND),
                                   panel))
                toon = live.toon.astype(np.float32) / 255.0
                panels.append(_fit(over_background(np.concatenate([toon[..., :3] * toon[..., 3:], toon[..., 3:]], -1),
                                                   _BACKGROUND), panel))
            img = np.ascontiguousarray(np.concatenate(panels, 1)[::-1])  # GL rows go bottom-up
            h, w = img.shape[:2]
            if tex is None or tex.size != (w, h):
                if fbo is not None:
                    fbo.release()
                    tex.release()
                tex = ctx.texture((w, h), 3)
                fbo = ctx.framebuffer(color_attachments=[tex])
            tex.write(img.tobytes())
            ctx.screen.use()
            ctx.copy_framebuffer(ctx.screen, fbo)
            if args.screenshot is not None:  # read the window back before the swap
                last_screen = np.frombuffer(ctx.screen.read(viewport=(0, 0, w, h), components=3), np.uint8)
                last_screen = last_screen.reshape(h, w, 3)[::-1]
            glfw.swap_buffers(window)
            present_ms = (time.perf_counter() - t_out) * 1e3
            if args.max_frames is not None and shown >= args.max_frames:
                break
    finally:
        if fbo is not None:
            fbo.release()
            tex.release()
        rt.close()
        release_context(ctx)
        del moderngl
    if args.screenshot is not None and last_screen is not None:
        from PIL import Image

        check_output_file(args.screenshot, "--screenshot", (".png",))
        Image.fromarray(np.ascontiguousarray(last_screen), "RGB").save(args.screenshot)
    print(f"demo: showed {shown} shaded frames")
    return 0
