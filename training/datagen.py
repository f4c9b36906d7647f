"""Synthetic CoNR ground truth: procedural characters in motion, seen from random cameras.

Per character (``conrt.characters.procedural.generate(seed)``) we run the
physics world (animation clips + hair/cloth simulation) and take ``poses``
frames; each frame gets its own random orbit camera (yaw, pitch, roll) and
framing margin (scale jitter), and is rendered twice from that SAME camera:

- ``rgba``: the toon pass, ``[P, S, S, 4] u8`` straight alpha, sRGB — the
  ground truth and, for other poses of the character, the sheet images; in
  one look per character (``DataSpec.styles``, default our toon look; several
  teach a network to carry the sheet's style instead of imposing one);
- ``udp``: the UDP pass, ``[P, S, S, 4] f16`` (xyz landmark + occupancy;
  with ``DataSpec.antialias`` > 1 both passes have coverage alpha at the
  silhouette, the landmarks staying one surface's).
  float16 keeps ~3 decimal digits of the 0..1 landmarks (1/2048 at worst),
  far finer than one texel of a 256² frame, at half the size of float32.

Layout of a dataset folder::

    manifest.json             parameters, the split, the list of finished shards
    shard-00000.npz           characters [0, k), arrays with a leading character axis
    shard-00001.npz           ...

A shard holds ``rgba [C, P, S, S, 4] u8``, ``udp [C, P, S, S, 4] f16``,
``seeds [C] i64`` (procedural seeds), ``cams [C, P, 4] f32`` (yaw, pitch,
roll, margin), ``clips [C, P] i16`` (index into ``CLIPS``), ``times [C, P] f32``,
``styles [C] i16`` (index into the manifest's ``spec.styles``).
With ``DataSpec.exact`` (``conrt data make --exact``) also the samples the
runtime's exact correspondences give (``shaders.CorrespondencePass``, the
same GL pass): ``sampled [C, P, P, 4, S, S] u8`` = view v's premultiplied
RGBA sampled at target t's pixels (``[c, t, v]``; every pose is a sheet view
of every other), ``cover [C, P, P, S, S] u8`` (255 = view v sees the point)
and ``gbuf [C, P, 2, S, S] f16`` (each frame's G-buffer as the toon pass's ink
step reads its own: eye depth in character heights, part label; where the
fusion draws the target's lines, ``runtime.nn.lookup_net.toon_line``; data
made before session 13 has none, and the fusion then inks the target's edges
as before).
Shards are written to a temporary name and renamed, so a killed run leaves
only complete shards; rerunning the same command skips them (resume).

Everything is drawn from ``numpy.random.default_rng([seed, character])``, so
a dataset is reproducible from its seed, and any shard can be regenerated alone.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from conrt.errors import ConfigError, InputError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "conrt-sheets-v1"
# Clips sampled for poses (physics/clips.py registry names, fixed order: the
# index is stored in the shards).
CLIPS = ("idle", "walk", "run", "turn", "wave", "jump", "dance")
SPLITS = ("train", "val", "test")
# Procedural seeds of a dataset: seed * SEED_STRIDE + character index. Use
# seeds >= 900_000 (e.g. ``conrt eval --seeds 900000:900032``) for characters
# no dataset with seed 0 has seen.
SEED_STRIDE = 1_000_000
MAX_EXACT_POSES = 8  # shaders.lookup_pass.MAX_VIEWS: one set_sheet holds all poses of a character
CORRESPONDENCE_MODES = ("exact", "udp-nn")


@dataclass(frozen=True)
class CameraJitter:
    """Random camera per frame (degrees; margin = free fraction per side)."""

    yaw: tuple[float, float] = (0.0, 360.0)  # uniform
    pitch: tuple[float, float] = (-20.0, 30.0)  # uniform
    roll_std: float = 8.0  # normal, clipped to +-2.5 std
    margin: tuple[float, float] = (0.03, 0.18)  # uniform: scale jitter of the framing
    fps: float = 30.0  # physics frame rate
    warmup: int = 8  # physics frames before the first pose (hair/cloth settle)
    gap: tuple[int, int] = (2, 7)  # physics frames between two poses (inclusive range)
    switch_clip: float = 0.35  # probability to switch clip before a pose


@dataclass(frozen=True)
class DataSpec:
    characters: int
    poses: int
    size: int
    seed: int = 0
    shard_size: int = 8  # characters per shard
    val: float = 0.05  # fraction of characters in the validation split
    test: float = 0.05  # fraction in the test split
    jitter: CameraJitter = CameraJitter()
    styles: tuple[str, ...] = ("toon",)  # looks (shaders.toon_pass.STYLE_NAMES), one drawn per character
    antialias: int = 1  # supersampling factor of both passes (shaders/coverage.py); 1 = binary coverage
    # store every (target, view) pair's exact sheet samples (the runtime's
    # CorrespondencePass): training as the runtime sees a sheet with cameras
    exact: bool = False
    # fraction of characters drawn with cut-out layer cards (procedural ``layers``: glTF MASK
    # eye highlights, BLEND blush, single- and double-sided), as real VRoid characters have them
    layers: float = 0.0

    def validate(self) -> "DataSpec":
        from conrt.shaders.toon_pass import STYLE_NAMES

        from conrt.shaders.coverage import check_factor

        check_factor(self.antialias)
        bad = [s for s in self.styles if s not in STYLE_NAMES]
        if not self.styles or bad or len(set(self.styles)) != len(self.styles):
            raise ConfigError(f"--styles {','.join(self.styles)!r}: give distinct names from {', '.join(STYLE_NAMES)}")
        if self.characters < 1:
            raise ConfigError(f"--characters must be >= 1, got {self.characters}")
        if self.poses < 2:
            raise ConfigError(f"--poses must be >= 2 (a sheet view and a target), got {self.poses}")
        if self.exact and self.poses > MAX_EXACT_POSES:
            raise ConfigError(f"--exact stores every pose as a view of every other: --poses must be <= "
                              f"{MAX_EXACT_POSES} (the correspondence pass's views), got {self.poses}")
        if self.exact and self.antialias != 1:
            raise ConfigError("--exact needs --antialias 1 (the correspondence pass covers whole pixels)")
        if self.size < 16 or self.size % 16:
            raise ConfigError(f"--size must be a multiple of 16 and >= 16, got {self.size}")
        if self.shard_size < 1:
            raise ConfigError(f"--shard-size must be >= 1, got {self.shard_size}")
        if not (0 <= self.val < 1 and 0 <= self.test < 1 and self.val + self.test < 1):
            raise ConfigError(f"val/test fractions must be in [0, 1) and sum below 1, got {self.val}, {self.test}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        if not 0 <= self.layers <= 1:
            raise ConfigError(f"--layers is a fraction of the characters in [0, 1], got {self.layers}")
        return self

    @property
    def num_shards(self) -> int:
        return (self.characters + self.shard_size - 1) // self.shard_size

    def character_seed(self, index: int) -> int:
        return self.seed * SEED_STRIDE + index

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        d = dict(d)
        j = d.pop("jitter", {})
        j = {k: tuple(v) if isinstance(v, list) else v for k, v in j.items()}
        if "styles" in d:
            d["styles"] = tuple(d["styles"])
        return cls(**d, jitter=CameraJitter(**j))

    def style_of(self, index: int) -> int:
        """Index into ``styles`` of character ``index`` (its own rng stream: the
        cameras and poses are the same whatever the styles)."""
        if len(self.styles) == 1:
            return 0
        return int(np.random.default_rng([self.seed, index, 3]).integers(len(self.styles)))

    def layers_of(self, index: int) -> bool:
        """Whether character ``index`` has the cut-out layer cards (its own rng stream:
        every other draw stays what it is without them)."""
        return self.layers > 0 and bool(np.random.default_rng([self.seed, index, 4]).random() < self.layers)


def split_of(spec: DataSpec) -> dict[str, list[int]]:
    """Character indices per split: a seeded permutation, test and val first.
    Split per character (as the paper): no character is in two splits."""
    n = spec.characters
    perm = np.random.default_rng([spec.seed, 7_777]).permutation(n)
    n_test = int(round(n * spec.test)) if n >= 3 else 0
    n_val = int(round(n * spec.val)) if n >= 3 else 0
    if n >= 3:  # at least one of each when asked for any
        n_test = max(n_test, 1 if spec.test > 0 else 0)
        n_val = max(n_val, 1 if spec.val > 0 else 0)
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return {"train": sorted(map(int, train)), "val": sorted(map(int, val)), "test": sorted(map(int, test))}


# ---------------------------------------------------------------------------
# rendering one character
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CharacterSamples:
    """All frames of one character."""

    seed: int
    rgba: np.ndarray  # [P, S, S, 4] u8 straight alpha (toon pass)
    udp: np.ndarray  # [P, S, S, 4] f16 xyz landmark + occupancy
    cams: np.ndarray  # [P, 4] f32 yaw, pitch, roll, margin
    clips: np.ndarray  # [P] i16 index into CLIPS
    times: np.ndarray  # [P] f32 clip time of the frame (s)
    style: str = "toon"  # the look of its rgba (shaders.toon_pass.STYLE_NAMES)
    poses: tuple = ()  # the Pose of each frame (not stored in shards)
    cameras: tuple = ()  # the Camera of each frame (not stored in shards)
    sampled: np.ndarray | None = None  # [P, P, 4, S, S] u8, with DataSpec.exact
    cover: np.ndarray | None = None  # [P, P, S, S] u8
    gbuf: np.ndarray | None = None  # [P, 2, S, S] f16 each frame's G-buffer (read_gbuf: depth, part), idem


class Renderer:
    """One GL context + UDP and toon passes at one size, reused for every character."""

    def __init__(self, size: int, style: str = "toon", antialias: int = 1):
        from conrt.shaders import UdpPass, create_context

        self.size = size
        self.antialias = antialias
        self.ctx = create_context("auto")
        self.udp = UdpPass(self.ctx, size, size, antialias=antialias)
        self._toons: dict = {}
        self._correspondence = None  # made on first use (view_samples)
        self._correspondence_of = None
        self._sheet_key = None
        self.use_style(style)

    def use_style(self, name: str) -> None:
        """Draw the next characters' rgba in the look ``name`` (one ToonPass per look, made once)."""
        from conrt.shaders import ToonPass
        from conrt.shaders.toon_pass import named_style

        if name not in self._toons:
            self._toons[name] = ToonPass(self.ctx, self.size, self.size, named_style(name, self.size),
                                         antialias=self.antialias)
        self.style, self.toon = name, self._toons[name]

    def set_character(self, character) -> None:
        self.udp.set_character(character)
        self.toon.set_character(character)

    def render(self, character, pose, yaw, pitch, roll, margin, with_camera: bool = False):
        from conrt.characters.posing import posed_positions
        from conrt.shaders import frame_character

        cam = frame_character(posed_positions(character, pose), yaw=yaw, pitch=pitch, roll=roll,
                              size=self.size, margin=margin)
        udp = self.udp.run(pose, cam).data
        rgba = self.toon.run(pose, cam)
        return (rgba, udp, cam) if with_camera else (rgba, udp)

    def view_samples(self, character, frames: CharacterSamples, target: int, views, mode: str = "exact",
                     inked: bool = False, lit: bool = False):
        """What the runtime's correspondence pass gives when ``frames``' poses
        ``views`` are the sheet and pose ``target`` the frame: (sampled [M, 4, S, S]
        premultiplied, cover [M, 1, S, S], the target's G-buffer [2, S, S]: eye depth in character
        heights and part label, ``CorrespondencePass.read_gbuf``: the fusion's ink rule) float32.
        ``mode``: "exact" (the
        views' cameras and poses) or "udp-nn" (only their UDPs); ``inked``: the
        sheet's look (``CorrespondencePass.set_sheet``; training data: ``sheet_look``'s,
        as the runtime's; before session 11 False); ``lit``: the sheet's look is inked or shaded (the
        pass's light agreement, as the runtime's since session 15; training data: False, as before)."""
        from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView

        if mode not in CORRESPONDENCE_MODES:
            raise ConfigError(f"correspondence {mode!r}: valid here: {', '.join(CORRESPONDENCE_MODES)}")
        if not frames.poses or not frames.cameras:
            raise InputError(f"character {frames.seed}: its poses and cameras were not kept; "
                             "exact correspondences need them")
        views = [int(v) for v in views]
        if self._correspondence is None:
            self._correspondence = CorrespondencePass(self.ctx, self.size, self.size)
        cp = self._correspondence
        if self._correspondence_of is not character:
            cp.set_character(character)
            self._correspondence_of, self._sheet_key = character, None
        key = (frames.seed, id(frames), tuple(views), mode, bool(inked), bool(lit))
        if self._sheet_key != key:
            straight = frames.rgba[views].astype(np.float32) / 255.0
            reference = np.concatenate([straight[..., :3] * straight[..., 3:], straight[..., 3:]], -1)
            if mode == "exact":
                sheet = [SheetView("exact", camera=frames.cameras[v], pose=frames.poses[v], name=f"pose {v}")
                         for v in views]
            else:
                sheet = [SheetView("udp-nn", udp=frames.udp[v].astype(np.float32), name=f"pose {v}")
                         for v in views]
            cp.set_sheet(sheet, reference.transpose(0, 3, 1, 2), inked, lit=lit)
            self._sheet_key = key
        sampled, cover = cp.run(frames.poses[target], frames.cameras[target])
        return sampled, cover, cp.read_gbuf()

    def close(self) -> None:
        from conrt.shaders import release_context

        if self._correspondence is not None:
            self._correspondence.release()
        self.udp.release()
        for toon in self._toons.values():
            toon.release()
        release_context(self.ctx)

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sample_poses(character, poses: int, rng: np.random.Generator, jitter: CameraJitter):
    """Run the physics world through random clips; returns (poses, clip ids, times)."""
    from conrt.physics import PhysicsWorld

    clip = int(rng.integers(len(CLIPS)))
    out, clip_ids, times = [], [], []
    with PhysicsWorld(fps=jitter.fps) as world:
        h = world.add(character, CLIPS[clip], start=float(rng.uniform(0, 2.0)))
        for _ in range(jitter.warmup):
            world.step()
        for _ in range(poses):
            if rng.random() < jitter.switch_clip:
                clip = int(rng.integers(len(CLIPS)))
                world.set_clip(h, CLIPS[clip], start=float(rng.uniform(0, 2.0)))
            for _ in range(int(rng.integers(jitter.gap[0], jitter.gap[1] + 1))):
                pose = world.step()[h]
            out.append(pose)
            clip_ids.append(clip)
            times.append(world.time(h))
    return out, np.array(clip_ids, np.int16), np.array(times, np.float32)


def sheet_look(rgba: np.ndarray, udp: np.ndarray):
    """A character's poses as one sheet (rgba [P, S, S, 4] u8 straight, udp [P, S, S, 4])
    -> its ``SheetLook`` as the runtime judges a sheet (``sheet.judge_sheet_look``: inked,
    else shaded or unlit from the views' UDPs): the rule the exact samples and the
    fine-tune's keep-seen / ink / plain-lookup rules follow."""
    from conrt.runtime.nn.sheet import judge_sheet_look

    views, udps = list(rgba), [np.asarray(u, np.float32) for u in udp]
    return judge_sheet_look(views, shading=(views, udps))


def render_character(renderer: Renderer, seed: int, poses: int, jitter: CameraJitter = CameraJitter(),
                     rng_key: tuple[int, ...] | None = None, exact: bool = False,
                     layers: bool = False, character=None) -> CharacterSamples:
    """Generate procedural character ``seed`` (or take ``character``, that seed's, when the
    caller made it already) and render ``poses`` frames of it (keeping each frame's pose and
    camera). ``exact``: also every (target, view) pair's exact sheet samples
    (``Renderer.view_samples``). ``layers``: with the cut-out layer cards
    (``generate(seed, layers=True)``)."""
    from conrt.characters.procedural import generate

    rng = np.random.default_rng(list(rng_key) if rng_key is not None else [seed, 1])
    if character is None:
        character = generate(int(seed), layers=True) if layers else generate(int(seed))
    renderer.set_character(character)
    pose_list, clip_ids, times = sample_poses(character, poses, rng, jitter)
    s = renderer.size
    rgba = np.empty((poses, s, s, 4), np.uint8)
    udp = np.empty((poses, s, s, 4), np.float16)
    cams = np.empty((poses, 4), np.float32)
    cameras = []
    for k, pose in enumerate(pose_list):
        yaw = rng.uniform(*jitter.yaw)
        pitch = rng.uniform(*jitter.pitch)
        roll = float(np.clip(rng.normal(0, jitter.roll_std), -2.5 * jitter.roll_std, 2.5 * jitter.roll_std))
        margin = rng.uniform(*jitter.margin)
        rgba[k], u, cam = renderer.render(character, pose, yaw, pitch, roll, margin, with_camera=True)
        udp[k] = u.astype(np.float16)
        cams[k] = (yaw, pitch, roll, margin)
        cameras.append(cam)
    out = CharacterSamples(int(seed), rgba, udp, cams, clip_ids, times, renderer.style, tuple(pose_list),
                           tuple(cameras))
    if not exact:
        return out
    sampled = np.empty((poses, poses, 4, s, s), np.uint8)
    cover = np.empty((poses, poses, s, s), np.uint8)
    gbuf = np.empty((poses, 2, s, s), np.float16)  # where the fusion draws the lines (lookup_net.toon_line)
    # the pass weighs an inked sheet's contour texels as the runtime does (set_sheet(inked=...))
    inked = sheet_look(rgba, udp).inked
    for t in range(poses):  # one sheet of all poses; each pose in turn is the frame
        smp, cov, gb = renderer.view_samples(character, out, t, range(poses), inked=inked)
        sampled[t] = np.rint(np.clip(smp, 0, 1) * 255)
        cover[t] = np.rint(np.clip(cov[:, 0], 0, 1) * 255)
        gbuf[t] = gb
    return dataclasses.replace(out, sampled=sampled, cover=cover, gbuf=gbuf)


# ---------------------------------------------------------------------------
# the dataset folder
# ---------------------------------------------------------------------------
def shard_name(i: int) -> str:
    return f"shard-{i:05d}.npz"


def shard_ok(path: Path) -> bool:
    """True if ``path`` is a complete, readable shard."""
    try:
        with np.load(path) as z:
            return all(k in z.files for k in ("rgba", "udp", "seeds")) and z["seeds"].size > 0
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return False


def _write_manifest(out: Path, spec: DataSpec, done: list[int], size_bytes: int, seconds: float) -> None:
    split = split_of(spec)
    manifest = {
        "format": FORMAT,
        "spec": spec.to_dict(),
        "clips": list(CLIPS),
        "shards": [{"file": shard_name(i),
                    "characters": list(range(i * spec.shard_size, min((i + 1) * spec.shard_size, spec.characters)))}
                   for i in sorted(done)],
        "num_shards": spec.num_shards,
        "complete": len(done) == spec.num_shards,
        "split": split,
        "seeds": {"first": spec.character_seed(0), "last": spec.character_seed(spec.characters - 1)},
        "rgba": "u8 straight alpha, sRGB, [C, P, S, S, 4]",
        "udp": "f16 xyz landmark + occupancy, [C, P, S, S, 4]",
        **({"sampled": "u8 premultiplied RGBA of view v sampled at target t's pixels through the exact "
                       "correspondences, [C, P(t), P(v), 4, S, S]",
            "cover": "u8 view v sees target t's point (255), [C, P(t), P(v), S, S]",
            "gbuf": "f16 each frame's G-buffer: eye depth in character heights (0 off the character) and part "
                    "label (-1 off it), [C, P, 2, S, S]"}
           if spec.exact else {}),
        "bytes": size_bytes,
        "generation_seconds": round(seconds, 1),
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / MANIFEST)


def make_dataset(out, spec: DataSpec, progress: bool = True) -> dict:
    """Generate (or finish) the dataset in ``out``. Returns the manifest."""
    from tqdm import tqdm

    spec = spec.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mpath = out / MANIFEST
    if mpath.exists():
        old = read_manifest(out)
        if DataSpec.from_dict(old["spec"]) != spec:
            raise ConfigError(f"{out} already holds a dataset made with other parameters ({old['spec']}); "
                              "use another folder or the same parameters to resume")
    done = [i for i in range(spec.num_shards) if (out / shard_name(i)).exists() and shard_ok(out / shard_name(i))]
    if done:
        log.info("resuming: %d of %d shards already done", len(done), spec.num_shards)
    t0 = time.time()
    prev_seconds = read_manifest(out).get("generation_seconds", 0.0) if mpath.exists() else 0.0
    _write_manifest(out, spec, done, _folder_bytes(out), prev_seconds)
    todo = [i for i in range(spec.num_shards) if i not in done]
    n_todo = sum(min((i + 1) * spec.shard_size, spec.characters) - i * spec.shard_size for i in todo)
    if todo:
        with Renderer(spec.size, spec.styles[0], spec.antialias) as renderer, tqdm(total=n_todo, unit="char", desc="data make",
                                                    disable=not progress) as bar:
            for i in todo:
                chars = range(i * spec.shard_size, min((i + 1) * spec.shard_size, spec.characters))
                samples = []
                for c in chars:
                    renderer.use_style(spec.styles[spec.style_of(c)])
                    samples.append(render_character(renderer, spec.character_seed(c), spec.poses, spec.jitter,
                                                    rng_key=(spec.seed, c, 1), exact=spec.exact,
                                                    layers=spec.layers_of(c)))
                    bar.update(1)
                _write_shard(out / shard_name(i), samples, spec.styles)
                done.append(i)
                _write_manifest(out, spec, done, _folder_bytes(out), prev_seconds + time.time() - t0)
    manifest = read_manifest(out)
    log.info("dataset %s: %d characters x %d poses at %d², %.1f MB", out, spec.characters, spec.poses,
             spec.size, manifest["bytes"] / 1e6)
    return manifest


def _write_shard(path: Path, samples: list[CharacterSamples], styles: tuple[str, ...] = ("toon",)) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    extra = {}
    if samples[0].sampled is not None:
        extra = {"sampled": np.stack([s.sampled for s in samples]), "cover": np.stack([s.cover for s in samples]),
                 "gbuf": np.stack([s.gbuf for s in samples])}
    np.savez_compressed(
        tmp,
        **extra,
        rgba=np.stack([s.rgba for s in samples]),
        udp=np.stack([s.udp for s in samples]),
        seeds=np.array([s.seed for s in samples], np.int64),
        cams=np.stack([s.cams for s in samples]),
        clips=np.stack([s.clips for s in samples]),
        times=np.stack([s.times for s in samples]),
        styles=np.array([styles.index(s.style) for s in samples], np.int16),
    )
    os.replace(tmp, path)


def _folder_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.glob("shard-*.npz") if not p.name.endswith(".tmp.npz"))


def read_manifest(folder) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such dataset folder (make one with `conrt data make`)")
    path = folder / MANIFEST
    if not path.is_file():
        raise InputError(f"{folder}: no {MANIFEST}; not a conrt dataset (make one with `conrt data make`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: corrupt manifest ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise InputError(f"{path}: unknown dataset format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest
