"""``conrt demo``: the neurally shaded character, live.

With a display: a window showing the shaded character large (as fits the
screen), its UDP and toon reference at half size beside it (toggle with V). Drag with the mouse to orbit the camera,
click the character to poke it (the body gives, the skirt and hair swing),
number keys 1-7 switch clips, R resets, Esc quits. The title shows fps and the
per-stage milliseconds.

Without a display it says so and writes a 5 s video + PNG frames
(``out/demo/``) instead, the body following the clip exactly (hair and
skirt simulated). Defaults: the embedded model, the sample character
and the sample sheet; --character, --sheet and --weights take your own."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from pathlib import Path

import numpy as np

from conrt.commands._motion_args import add_motion_argument
from conrt.commands._vmc import Pacer, add_vmc_arguments, check_addresses
from conrt.commands.render import add_source_arguments, runtime_spec
from conrt.errors import ConfigError, ConrtError, ContextError
from conrt.limits import check_output_file, check_output_folder

log = logging.getLogger(__name__)

_BACKGROUND = (0.93, 0.93, 0.95)


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="live neurally shaded character (window), or a short video without a display",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(p)
    add_motion_argument(p, "walk", "; keys 1-7 switch to the built-in clips, 8 back to this one")
    p.add_argument("--fps", type=float, default=30.0, help="physics/animation frame rate (default 30)")
    p.add_argument("--frames", type=int, default=150,
                   help="frames to write without a display (default 150: 5 s at 30 fps)")
    p.add_argument("--max-frames", type=int, default=None,
                   help="window: close after showing this many shaded frames (default: until Esc)")
    p.add_argument("--scale", type=int, default=None,
                   help="window: pixels per frame pixel (default: the shaded frame as large as fits the screen)")
    p.add_argument("--no-reference", action="store_true", help="window: start without the UDP/toon panels")
    p.add_argument("--screenshot", type=Path, help="window: save what the window shows last to this PNG on exit")
    p.add_argument("--headless", action="store_true", help="do not open a window even if there is a display")
    p.add_argument("-o", "--output", type=Path, default=Path("out/demo"),
                   help="folder for the video and PNG frames without a display (default out/demo)")

    add_vmc_arguments(p)  # --vmc: a VMC sender drives the character (headless: frames paced at --fps)
    p.set_defaults(func=run)


def run(args) -> int:
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


def _body_mode(args, window: bool) -> str:
    # a VMC pose is followed exactly (kinematic body, hair and cloth simulated on top);
    # a PD-driven body lags a target that jumps with each packet. Without a window
    # nobody clicks, and the PD-driven body (what clicks push) lets the head sag
    # up to ~0.2 m below the walk clip's while a push on the torso moves it < 1 cm:
    # the video follows the clip exactly (hair and cloth still simulated).
    return "physical" if window and args.vmc is None else "kinematic"


def _display_problem() -> str | None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "DISPLAY is not set"
    try:
        import glfw  # lazy: optional [window] dependency
    except ImportError:
        return "glfw is not installed (pip install 'conrt[window]')"
    if not glfw.init():
        return f"glfw cannot open display {os.environ.get('DISPLAY')!r}"
    return None


# ---------------------------------------------------------------------------
# headless: a short video + frames


def _run_headless(args) -> int:
    from tqdm import tqdm  # lazy: tqdm, not at CLI startup

    from conrt.runtime.app.frame_loop import build_runtime  # lazy: torch, not at CLI startup
    from conrt.runtime.app.outputs import PngSink, VideoSink, close_sinks  # lazy: torch, not at CLI startup

    spec = runtime_spec(args, context="egl" if args.context == "window" else args.context,
                        physics_mode=_body_mode(args, window=False), vmc=args.vmc, vmc_send=args.vmc_send).check()
    out = check_output_folder(args.output)  # before loading anything
    rt = build_runtime(spec)
    video = VideoSink(out / "demo.mp4", args.fps, _BACKGROUND)
    frames = PngSink(out / "frames", extra={"clip": args.clip, "fps": args.fps, "weights": rt.info.weights})

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


# ---------------------------------------------------------------------------
# window


class DemoControls:
    """What the demo window's mouse and keys do, in window pixel coordinates
    (separate from glfw so it can be driven and tested without a window).

    The window shows the shaded frame large (``panel`` px square, ``scale``
    window pixels per frame pixel) and, with the reference on (V), the UDP
    and the toon reference stacked at half size to its right.

    Drag: orbit (yaw/pitch); click without dragging: poke the body part under
    the cursor (in any panel); number n: the n-th clip; R: camera and clip
    back to the start."""

    DRAG_THRESHOLD = 3.0  # pixels of movement before a press counts as a drag

    def __init__(self, rt, clips: list[str], panel: int, scale: float, home=(0.0, 0.0), show_reference: bool = True):
        self.rt, self.clips, self.panel, self.scale = rt, clips, panel, scale
        self.home = home
        self.show_reference = show_reference
        self.quit = False
        self.last_poke: str | None = None
        self._drag = None
        self._moved = False

    @property
    def window_size(self) -> tuple[int, int]:
        return (self.panel + (self.panel // 2 if self.show_reference else 0), self.panel)

    def frame_pixel(self, x: float, y: float) -> tuple[float, float] | None:
        """Window pixel -> frame pixel (shaded panel or a half-size reference panel), None outside."""
        if 0 <= x < self.panel and 0 <= y < self.panel:
            return x / self.scale, y / self.scale
        side = self.panel // 2
        if self.show_reference and self.panel <= x < self.panel + side and 0 <= y < 2 * side:
            k = self.scale * side / self.panel  # window pixels per frame pixel in a reference panel
            return (x - self.panel) / k, (y % side) / k
        return None

    def number(self, n: int) -> None:
        if 1 <= n <= len(self.clips):
            self.rt.set_clip(self.clips[n - 1])
            log.info("clip %s", self.clips[n - 1])

    def toggle_reference(self) -> None:
        self.show_reference = not self.show_reference

    def reset(self) -> None:
        self.rt.set_camera(*self.home)
        self.rt.seek(0.0)

    def press(self, x: float, y: float) -> None:
        self._drag, self._moved = (x, y, *self.rt.camera_angles), False

    def move(self, x: float, y: float) -> None:
        d = self._drag
        if d is None:
            return
        dx, dy = x - d[0], y - d[1]
        if abs(dx) + abs(dy) > self.DRAG_THRESHOLD:
            self._moved = True
            self.rt.set_camera(yaw=d[2] - dx * 0.4, pitch=float(np.clip(d[3] + dy * 0.3, -60, 60)))

    def release(self, x: float, y: float) -> None:
        if self._drag is not None and not self._moved:
            at = self.frame_pixel(x, y)
            try:  # a click (no drag) pokes the body under the cursor, in any panel
                self.last_poke = self.rt.poke_at_pixel(*at) if at is not None else None
                if self.last_poke:
                    log.info("poked the %s", self.last_poke)
            except ConrtError as exc:
                log.warning("poke failed: %s", exc)
        self._drag = None


def window_scale(size: int, screen: tuple[int, int] | None) -> int:
    """Window pixels per frame pixel: the shaded panel as large as fits ~85 % of
    the screen's height (and the panel + half-size reference column its
    width), at least 1; 512 px panels when the screen size is unknown."""
    if screen is None:
        return max(1, 512 // size)
    w, h = screen
    return max(1, min(int(0.85 * h) // size, int(0.95 * w / 1.5) // size))


def _fit(img: np.ndarray, side: int) -> np.ndarray:
    """Nearest-neighbour resize of a square image to ``side`` px (crisp frame pixels)."""
    idx = np.arange(side) * img.shape[0] // side
    return img[idx][:, idx]


def _shaded_rgb(rgba: np.ndarray) -> np.ndarray:
    from conrt.runtime.app.frame_loop import over_background  # lazy: torch, not at CLI startup

    return over_background(rgba, _BACKGROUND)


def _screen_size() -> tuple[int, int] | None:
    """The primary monitor's (width, height) in pixels, or None when glfw cannot tell."""
    import glfw  # lazy: optional [window] dependency

    try:
        monitor = glfw.get_primary_monitor()
        mode = glfw.get_video_mode(monitor) if monitor else None
    except Exception:  # noqa: BLE001 - a headless or odd display: fall back to fixed panels
        return None
    return (int(mode.size.width), int(mode.size.height)) if mode else None


def _run_window(args) -> int:
    import glfw  # lazy: optional [window] dependency
    import moderngl  # lazy: moderngl, not at CLI startup

    from conrt.physics.clips import list_clips  # lazy: a stage (0.1-0.3 s), not at CLI startup
    from conrt.runtime.app import frame_loop  # lazy: torch, not at CLI startup
    from conrt.shaders import create_context, release_context  # lazy: moderngl, not at CLI startup

    from conrt.runtime.nn.checkpoint import resolve_model  # lazy: torch, not at CLI startup
    from conrt.runtime.app.frame_loop import build_runtime  # lazy: torch, not at CLI startup
    from conrt.runtime.limits import check_size  # lazy: torch, not at CLI startup

    clips = list_clips()
    spec = runtime_spec(args, realtime=True, passes=("toon",), physics_mode=_body_mode(args, window=True),
                        vmc=args.vmc, vmc_send=args.vmc_send).check()
    if args.screenshot is not None:
        check_output_file(args.screenshot, "--screenshot", (".png",))  # before the window opens
    # the model first: a size it cannot take fails before the window opens
    model = resolve_model(spec.weights)
    size = check_size(spec.size, model.cfg.size_multiple)
    spec = dataclasses.replace(spec, weights=model)
    scale = args.scale or window_scale(size, _screen_size())
    panel = size * scale
    show_ref = not args.no_reference
    win_w = panel + (panel // 2 if show_ref else 0)  # shaded | UDP over toon at half size
    ctx = create_context("window", visible=True, window_size=(win_w, panel), title="conrt demo")
    window = ctx.extra["window"]
    try:
        rt = build_runtime(spec, ctx=ctx)
    except BaseException:
        release_context(ctx)
        raise
    if rt.clip not in clips:  # a motion file: its own key after the built-in clips
        clips = clips + [rt.clip]
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
            glfw.set_window_size(win, *controls.window_size)
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
            rt.set_time_scale(float(np.clip((now - tick) * args.fps, 0.25, 2.0)))
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
                half = panel // 2
                udp_rgba = frame_loop.udp_preview(live.udp).astype(np.float32) / 255.0
                column = [_fit(frame_loop.over_background(udp_rgba, _BACKGROUND), half),
                          _fit(frame_loop.straight_over_background(live.toon, _BACKGROUND), half)]
                panels.append(np.concatenate(column, 0))
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
        from PIL import Image  # lazy: Pillow, not at CLI startup

        check_output_file(args.screenshot, "--screenshot", (".png",))
        Image.fromarray(np.ascontiguousarray(last_screen), "RGB").save(args.screenshot)
    print(f"demo: showed {shown} shaded frames")
    return 0
