"""The paper's Table 1 on our synthetic test characters.

For every test character, ``targets`` of its poses are shaded from ``n``
sheet views (other poses of the same character), n in {1, 2, 4, 8}; the views
are nested (the n=1 view is among the n=2 views, ...), so the rows differ only
in how many views the network sees. Sheet poses (``sheet_poses=``, ``conrt
eval --sheet-poses``): "clip" (default, the paper's protocol) takes the
views from random frames of the same clip; "turnaround" draws them as a user's
sheet is drawn, ``conrt sheet --strength 0 --views N`` (the rest pose; front,
side, back, other side, ...), and shades the same clip targets. Metrics on premultiplied RGBA in 0..1,
averaged over all (character, target) pairs: L1, SSIM, PSNR, and two that see
detail: ``face_ssim`` (the SSIM map averaged inside the head's box on screen)
and ``sharpness`` (mean gradient magnitude of the prediction / the ground
truth's on the inner foreground; below 1 = blurred).

Two baselines score the same frames without learning: :class:`FlatColourBaseline`
(silhouette x mean sheet colour) and :class:`ExactLookupBaseline` (each pixel
copies the sheet pixel with the nearest true UDP, no network).

Correspondences (``correspondence=``, ``conrt eval --correspondence``): the
runtime shades a sheet with view files from EXACT correspondences (the GL
``CorrespondencePass``: the views' cameras and poses), one with only its UDPs
by UDP-NN, and otherwise through the lookup model's 32³ table. Here,
characters rendered on the fly keep every frame's pose and camera, so the
same pass gives the samples (:func:`view_samples`); a dataset made with
``--exact`` brings them. :class:`ViewsShader` is a lookup model's fusion on
those samples (as ``LookupNet.render_views``), :class:`PlainLookup` the same
samples with no network (the "plain exact lookup" baseline).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from conrt.errors import ConfigError, InputError

from .dataset import CharacterFrames, load_split, resize_pair, rgba_to_premul, udp_tensor
from .losses import eyes_kept, metrics

log = logging.getLogger(__name__)

VIEW_COUNTS = (1, 2, 4, 8)
CORRESPONDENCES = ("auto", "exact", "udp-nn", "table")
SHEET_POSES = ("clip", "turnaround")


def check_sheet_poses(choice: str) -> str:
    if choice not in SHEET_POSES:
        raise ConfigError(f"--sheet-poses {choice!r}: valid: {', '.join(SHEET_POSES)} (clip: n random frames of "
                          "the clip, the paper's protocol; turnaround: the views `conrt sheet` draws at the rest pose)")
    return choice


def max_turnaround_views() -> int:
    """Turnaround views that nest (the first n of them are ``conrt sheet --views n``'s views)."""
    from conrt.shaders.camera import SHEET_ORDER, SHEET_YAW_ORDERS

    return len(SHEET_YAW_ORDERS[SHEET_ORDER])


def parse_seeds(text: str) -> range:
    """"A:B" -> range(A, B)."""
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected A:B, e.g. 900000:900016") from None
    if a < 0 or b <= a:
        raise ConfigError(f"--seeds {text!r}: need 0 <= A < B")
    return range(a, b)


def characters_from_seeds(seeds, poses: int = 12, size: int = 128, progress: bool = True,
                          style: str = "toon", sheet_poses: str = "clip", sheet_views: int = 8,
                          sheet_order: str | None = None, eyeless: bool = False) -> list[CharacterFrames]:
    """Render unseen procedural characters on the fly (same recipe as ``conrt data make``),
    in the toon pass look ``style`` (``shaders.toon_pass.STYLE_NAMES``).

    ``sheet_poses`` "turnaround": also ``sheet_views`` views at the rest pose as
    ``conrt sheet --strength 0`` draws them (:func:`render_turnaround`), after the
    ``poses`` clip frames (``CharacterFrames.sheet``); the clip frames are the same
    either way (:func:`clip_sheets` drops the turnaround). ``sheet_order``: the
    turnaround's yaws in another of ``shaders.camera.SHEET_YAW_ORDERS`` (None:
    ``conrt sheet``'s, ``SHEET_ORDER``: front, side, back, other side, ...). ``eyeless``: also every
    frame drawn again with the painted eyes left off the face texture (``CharacterFrames.eyeless``:
    the eye score, :func:`evaluate`)."""
    from tqdm import tqdm

    from conrt.characters.procedural import generate

    from .datagen import Renderer, render_character

    check_sheet_poses(sheet_poses)
    if sheet_poses == "turnaround" and not 1 <= sheet_views <= max_turnaround_views():
        raise ConfigError(f"--sheet-poses turnaround: 1..{max_turnaround_views()} views (front, side, back, other "
                          f"side, ... as `conrt sheet` adds them; more would not nest), got {sheet_views}")
    out = []
    with Renderer(size, style) as renderer:
        for s in tqdm(list(seeds), unit="char", desc="render test characters", disable=not progress):
            character = generate(int(s))  # once: the clip frames and the turnaround draw the same one
            cs = render_character(renderer, int(s), poses, rng_key=(int(s), 2), character=character)
            c = CharacterFrames(cs.seed, cs.rgba, cs.udp, style=style, poses=cs.poses, cameras=cs.cameras)
            if sheet_poses == "turnaround":
                rgba, udp, views_poses, cameras = render_turnaround(renderer, character, sheet_views, sheet_order)
                c = dataclasses.replace(c, rgba=np.concatenate([c.rgba, rgba]), udp=np.concatenate([c.udp, udp]),
                                        poses=c.poses + views_poses, cameras=c.cameras + cameras,
                                        sheet=tuple(range(poses, poses + sheet_views)))
            if eyeless:
                c = dataclasses.replace(c, eyeless=render_eyeless(renderer, int(s), c))
                renderer.set_character(character)  # back to the character the next seed replaces
            out.append(c)
    return out


def render_eyeless(renderer, seed: int, frames: CharacterFrames) -> np.ndarray:
    """Every frame of procedural character ``seed`` (its poses and cameras) drawn again in
    ``renderer``'s look with the painted eyes left off its face texture (``painted_eyes=False``:
    the same mesh) -> [P, S, S, 4] u8: where a frame differs from it are its eye pixels."""
    from conrt.characters.procedural import generate

    renderer.set_character(generate(seed, painted_eyes=False))
    return np.stack([renderer.toon.run(pose, camera) for pose, camera in zip(frames.poses, frames.cameras)])


def render_turnaround(renderer, character, views: int, order: str | None = None):
    """The ``views`` views ``conrt sheet --strength 0 --views N`` draws of ``character``
    (the rest pose; cameras by ``shaders.camera.sheet_view_camera``), in ``renderer``'s
    look and size -> (rgba [V, S, S, 4] u8, udp [V, S, S, 4] f16, poses, cameras)."""
    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.shaders.camera import SHEET_ORDER, sheet_view_camera

    order = order or SHEET_ORDER
    s = renderer.size
    rgba, udp = np.empty((views, s, s, 4), np.uint8), np.empty((views, s, s, 4), np.float16)
    pose = rest_pose(character)
    positions = posed_positions(character, pose)
    renderer.set_character(character)
    cameras = []
    for k in range(views):
        _, camera = sheet_view_camera(positions, k, views, s, order=order)
        rgba[k] = renderer.toon.run(pose, camera)
        udp[k] = renderer.udp.run(pose, camera).data.astype(np.float16)
        cameras.append(camera)
    return rgba, udp, (pose,) * views, tuple(cameras)


def clip_sheets(characters: list[CharacterFrames]) -> list[CharacterFrames]:
    """The same characters with their sheets from clip frames again (the turnaround dropped):
    both sheet-pose choices score the same targets."""
    out = []
    for c in characters:
        if c.sheet:
            p = c.sheet[0]
            c = dataclasses.replace(c, rgba=c.rgba[:p], udp=c.udp[:p], poses=c.poses[:p], cameras=c.cameras[:p],
                                    sheet=(), eyeless=None if c.eyeless is None else c.eyeless[:p])
        out.append(c)
    return out


def clip_frames(c: CharacterFrames) -> int:
    """Frames of ``c`` that are clip poses (the targets; the sheet too without a turnaround)."""
    return c.rgba.shape[0] - len(c.sheet)


def max_sheet_views(characters: list[CharacterFrames]) -> int:
    """The most views a sheet of every character can have: its turnaround's views, else its other clip frames."""
    return min(len(c.sheet) if c.sheet else clip_frames(c) - 1 for c in characters)


def characters_from_data(folder, split: str = "test") -> list[CharacterFrames]:
    chars = load_split(folder, split)
    if not chars:
        raise InputError(f"{folder}: the {split!r} split is empty; make the dataset with --test > 0")
    return chars


HEAD_MARGIN = 0.01  # landmark units (fraction of the canonical box) added around the head's box


def head_landmark_box(character) -> np.ndarray:
    """[2, 3] (min, max) landmark box of the head: the rest-pose vertices whose
    strongest joint is the humanoid ``head`` (skull, face, hair cap; not the hair
    chains that hang from it)."""
    mesh = character.mesh
    head = character.humanoid.get("head")
    if head is None:
        raise InputError(f"character {character.name!r} has no humanoid head joint; the face score needs one")
    top = mesh.joints[np.arange(mesh.num_vertices), mesh.weights.argmax(1)]
    lm = character.box.landmarks(mesh.positions[top == head])
    if not len(lm):
        raise InputError(f"character {character.name!r}: no vertex is bound mainly to the head joint")
    return np.stack([lm.min(0) - HEAD_MARGIN, lm.max(0) + HEAD_MARGIN]).astype(np.float32)


def head_pixel_box(udp: torch.Tensor, box: np.ndarray, min_pixels: int = 16) -> tuple[int, int, int, int]:
    """The head's box on screen, found through the UDP (exact, no camera needed):
    the pixel bounds of covered pixels whose landmark lies in the head's landmark
    box. ``udp`` [4, H, W]; -> (y0, y1, x0, x1), empty (0, 0, 0, 0) when fewer than
    ``min_pixels`` head pixels are visible."""
    lo, hi = torch.from_numpy(box[0]), torch.from_numpy(box[1])
    xyz = udp[:3].permute(1, 2, 0)
    inside = (udp[3] > 0.5) & (xyz >= lo).all(-1) & (xyz <= hi).all(-1)
    if int(inside.sum()) < min_pixels:
        return 0, 0, 0, 0
    ys, xs = torch.nonzero(inside, as_tuple=True)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def procedural_head_boxes(characters) -> dict[int, np.ndarray]:
    """{seed: head landmark box} of procedural characters (regenerated from their seeds)."""
    from conrt.characters.procedural import generate

    return {c.seed: head_landmark_box(generate(int(c.seed))) for c in characters}


class FlatColourBaseline(torch.nn.Module):
    """Reference, not a model: the target's UDP silhouette filled with the mean
    colour of the sheet views. Whatever a trained model scores, it should
    beat this, which needs no learning at all (most of an L1 over the whole
    frame is background and silhouette, both given by the UDP)."""

    def __init__(self, image_size: int):
        super().__init__()
        self.cfg = type("Cfg", (), {"image_size": image_size, "name": "flat-colour baseline"})()

    @staticmethod
    def mean_colour(sheet_rgb, sheet_mask):
        return sheet_rgb.sum((1, 3, 4)) / sheet_mask.sum((1, 3, 4)).clamp_min(1.0)  # [N, 3] straight colour

    def forward(self, sheet_rgb, sheet_mask, udp):
        mean = self.mean_colour(sheet_rgb, sheet_mask)
        occ = udp[:, 3:4]
        return torch.cat([mean[:, :, None, None] * occ, occ], 1)


class ExactLookupBaseline(torch.nn.Module):
    """Reference, not a model: the plain exact lookup with no network. Each
    covered target pixel takes the colour of the sheet pixel whose TRUE UDP is
    nearest to its own (a KD-tree per view), averaged over the views whose
    nearest match is within ``radius`` (landmark units: a fraction of the
    canonical box), i.e. the views that see that surface point; when none is,
    the nearest view's. Bounds what exact correspondences alone can do: on
    sheets whose look does not change with the pose it is nearly exact; on
    toon sheets it copies the sheet's lighting and lines to the wrong place."""

    needs_sheet_udp = True

    def __init__(self, image_size: int, radius: float = 0.01):
        super().__init__()
        self.radius = float(radius)
        self.cfg = type("Cfg", (), {"image_size": image_size, "name": "exact-lookup baseline"})()

    def forward(self, sheet_rgb, sheet_mask, udp, sheet_udp=None):
        from scipy.spatial import cKDTree

        if sheet_udp is None:
            raise ConfigError("the exact-lookup baseline needs the sheet views' true UDP")
        n, m = sheet_rgb.shape[:2]
        out = torch.zeros(n, 4, *udp.shape[-2:])
        for b in range(n):
            occ = udp[b, 3] > 0.5
            query = udp[b, :3].permute(1, 2, 0)[occ].double().numpy()
            dist, colour = [], []
            for v in range(m):
                cov = sheet_udp[b, v, 3] > 0.5
                if not bool(cov.any()) or not len(query):
                    continue
                pts = sheet_udp[b, v, :3].permute(1, 2, 0)[cov].double().numpy()
                straight = (sheet_rgb[b, v] / sheet_mask[b, v].clamp_min(1e-6)).permute(1, 2, 0)[cov]
                d, i = cKDTree(pts).query(query)
                dist.append(torch.from_numpy(d))
                colour.append(straight[torch.from_numpy(i)])
            if not dist:
                continue
            d, c = torch.stack(dist), torch.stack(colour)  # [V, P], [V, P, 3]
            w = (d <= self.radius).float()
            none = w.sum(0) == 0
            w[d.argmin(0)[none], torch.nonzero(none, as_tuple=True)[0]] = 1.0  # nobody close: the nearest view
            rgb = (w[..., None] * c).sum(0) / w.sum(0)[:, None]
            out[b, :3][:, occ] = rgb.T.float().clamp(0, 1)
            out[b, 3] = occ.float()
        return out


def resolve_correspondence(mode: str, characters: list[CharacterFrames]) -> str:
    """``auto`` -> what the runtime would use for these sheets: exact when the
    views' cameras and poses are known (or their exact samples stored), else
    the table (a dataset keeps the views' UDPs but no poses)."""
    if mode not in CORRESPONDENCES:
        raise ConfigError(f"--correspondence {mode!r}: valid: {', '.join(CORRESPONDENCES)}")
    has_cameras = all(c.poses and c.cameras for c in characters)
    has_samples = all(c.sampled is not None for c in characters)
    if mode == "auto":
        return "exact" if has_cameras or has_samples else "table"
    if mode == "exact" and not (has_cameras or has_samples):
        raise ConfigError("--correspondence exact needs the views' cameras and poses: characters generated "
                          "with --seeds, or a dataset made with `conrt data make --exact`")
    if mode == "udp-nn" and not has_cameras:
        raise ConfigError("--correspondence udp-nn needs the frames' poses and cameras (the target is "
                          "rasterized): use --seeds")
    return mode


def eval_jobs(characters: list[CharacterFrames], targets: int, seed: int = 0) -> list[tuple[int, int, np.ndarray]]:
    """(character index, target pose, sheet order) triples, fixed by the seed;
    the n views of a job are ``order[:n]`` (nested view sets). The targets are
    clip frames; the sheet order is the other clip frames in random order, or a
    character's turnaround in ``conrt sheet``'s order (``CharacterFrames.sheet``;
    the same targets: the random draws do not depend on it)."""
    jobs = []
    for ci, c in enumerate(characters):
        poses = clip_frames(c)
        rng = np.random.default_rng([seed, c.seed])
        for t in rng.permutation(poses)[:targets]:
            others = rng.permutation([k for k in range(poses) if k != t])
            jobs.append((ci, int(t), np.array(c.sheet) if c.sheet else others))
    return jobs


def _inked(rgba: np.ndarray) -> bool:
    """A sheet's views [M, S, S, 4] u8 straight -> its look as the runtime judges it (inked?)."""
    from conrt.runtime.nn.sheet import judge_inks

    sheet = rgba_to_premul(rgba)[None]  # as evaluate() gives ViewsShader the sheet
    return bool(judge_inks(sheet[:, :, :3], sheet[:, :, 3:])[1][0])


def view_samples(characters: list[CharacterFrames], jobs, views: int, mode: str, size: int,
                 progress: bool = True, judge_look: bool = True) -> list[tuple]:
    """Per job: (sampled [V, 4, S, S], cover [V, 1, S, S], the target's G-buffer [2, S, S] or
    None: ``CorrespondencePass.read_gbuf``) of its first ``views``
    sheet views through the runtime's correspondences (``mode`` "exact" or
    "udp-nn": the GL ``CorrespondencePass``; a view's samples do not depend on
    the other views, so the nested view sets take the first n). ``judge_look``:
    the pass takes the sheet's look as the runtime gives it (``sheet.judge_inks``
    of the ``views`` views; an inked sheet's contour texels count less; inked or shaded: the
    light agreement, ``CorrespondencePass.set_sheet(lit=)``), False: every sheet as unlit (each
    texel as drawn)."""
    from tqdm import tqdm

    from conrt.characters.procedural import generate
    from conrt.shaders.lookup_pass import MAX_VIEWS

    from .datagen import CharacterSamples, Renderer
    from .dataset import exact_samples

    if views > MAX_VIEWS:
        raise ConfigError(f"--correspondence {mode}: at most {MAX_VIEWS} views (the correspondence pass), got {views}")
    out = []
    renderer = None
    bar = tqdm(total=len(jobs), unit="frame", desc=f"{mode} correspondences", disable=not progress)
    try:
        built = {}
        for ci, t, others in jobs:
            c = characters[ci]
            order = others[:views]
            if mode == "exact" and c.sampled is not None and not c.poses:
                sampled, cover, gbuf = exact_samples(c, t, order, size)
            else:
                if c.rgba.shape[1] != size:
                    raise ConfigError(f"{mode} correspondences are computed at the frames' size "
                                      f"({c.rgba.shape[1]}), not {size}: render the characters at --size")
                if renderer is None:
                    renderer = Renderer(size)
                if ci not in built:
                    built = {ci: (generate(int(c.seed)), CharacterSamples(c.seed, c.rgba, c.udp, None, None, None,
                                                                          c.style, c.poses, c.cameras))}
                character, frames = built[ci]
                inked = judge_look and _inked(c.rgba[order])
                lit = judge_look and (inked or _shaded(c.rgba[order], c.udp[order]))  # the light agreement's gate
                sampled, cover, gbuf = (torch.from_numpy(a) for a in
                                        renderer.view_samples(character, frames, t, order, mode, inked, lit))
            out.append((sampled.half(), cover.half(), gbuf))  # the G-buffer at f32
            bar.update(1)
    finally:
        bar.close()
        if renderer is not None:
            renderer.close()
    return out


def view_samples_per_count(characters: list[CharacterFrames], jobs, views, mode: str, size: int,
                           progress: bool = True) -> dict[int, list[tuple]]:
    """{n: :func:`view_samples` of the first n views} for each view count: a job's samples of n
    views are not the first n of a larger sheet's, since the sheet's look is judged on the views it
    has and the light agreement lowers a view's cover where another view agrees better."""
    return {n: view_samples(characters, jobs, n, mode, size, progress) for n in sorted(set(int(v) for v in views))}


def _shaded(rgba: np.ndarray, udp: np.ndarray) -> bool:
    """A sheet's views [M, S, S, 4] u8 straight and their UDPs -> whether the runtime judges it shaded
    (``datagen.sheet_look``: an inkless sheet whose colours change with the light)."""
    from .datagen import sheet_look  # lazy: as view_samples' (datagen draws with GL)

    return sheet_look(rgba, udp).shaded


class ViewsShader(torch.nn.Module):
    """A lookup model's fusion net on the runtime's sheet samples (as
    ``LookupNet.render_views``); ``keep_seen`` as ``FusionNet.forward``.

    ``judge_look``: with ``keep_seen``, each sheet's look is judged as the
    runtime judges it once per sheet (``sheet.judge_inks``) and decides the
    rule; False = the rule before the look (seen colour kept, the target's
    edges refined, on every sheet). ``looks`` counts the looks judged (``look_summary``).
    ``shaded``: None (default) = each sheet without ink judged shaded or unlit from its
    views' UDPs as the runtime judges it (``sheet.shading_fraction``; ``evaluate`` hands
    them over: ``needs_sheet_udp``); True / False = every inkless sheet shaded (the unlit
    rule without the plain lookup) / unlit.
    The frame is clipped to the target's occupancy, as the runtime shows it
    (``ShadeStage(clip_to_udp=True)``): the refinement paints a little
    outside the silhouette, which no runtime frame keeps."""

    takes_view_samples = True
    takes_target_gbuf = True  # the targets' G-buffer (view_samples): where the ink rule draws the lines

    def __init__(self, model, keep_seen: bool = True, judge_look: bool = True, shaded: bool | None = None,
                 own_ink: bool = True):
        super().__init__()
        self.model, self.keep_seen, self.judge_look, self.shaded = model, keep_seen, judge_look, shaded
        # an inked sheet's lines in its own ink (shaders.sheet_ink.estimate_ink on its views and their UDPs,
        # as udp-nn correspondences take them for the surface map); False: our toon pass's (before session 14)
        self.own_ink = own_ink
        self.inks: dict[str, int] = {}  # the inks estimated (str(SheetInk) -> jobs)
        self.cfg = model.cfg
        self.looks: dict[str, int] = {}

    @property
    def needs_sheet_udp(self) -> bool:
        """``evaluate`` hands over the sheet views' UDPs: the shading is judged from them."""
        return self.keep_seen and self.judge_look and self.shaded is None

    def forward(self, sheet_rgb, sheet_mask, udp, sampled=None, cover=None, sheet_udp=None, gbuf=None):
        m = self.model
        ink = shaded = None
        if self.keep_seen and self.judge_look:
            from conrt.runtime.nn.sheet import judge_inks  # lazy: only lookup models take this path

            _, ink = judge_inks(sheet_rgb, sheet_mask)
            inks = self._sheet_inks(sheet_rgb, sheet_mask, sheet_udp, ink)
            if inks:  # inked by its ink fraction or by the line the estimate finds (sheet_ink.judge_ink)
                ink = torch.tensor([float(found is not None) for found in inks], dtype=ink.dtype)
            if self.shaded is None:
                shaded = torch.tensor([0.0 if inked else float(_judged_shaded(rgb, mask, views_udp))
                                       for inked, rgb, mask, views_udp in zip(ink.tolist(), sheet_rgb, sheet_mask,
                                                                              sheet_udp)])
            else:
                shaded = torch.full_like(ink, float(self.shaded))
            for inked, lit in zip(ink.tolist(), shaded.tolist()):
                label = "inked" if inked else "shaded" if lit else "unlit"
                self.looks[label] = self.looks.get(label, 0) + 1
        pose = m.encode_pose(udp)[0]
        inks = [] if ink is None else self._own_inks(inks)
        if len(set(inks)) <= 1:
            rgba = m.fusion(sampled, cover, pose, keep_seen=self.keep_seen, ink=ink, shaded=shaded, gbuf=gbuf,
                            sheet_ink=inks[0] if inks else None)
        else:  # one ink per call (its radius is a constant of the rule): each sheet of the batch alone
            rgba = torch.cat([m.fusion(sampled[i:i + 1], cover[i:i + 1], pose[i:i + 1], keep_seen=self.keep_seen,
                                       ink=ink[i:i + 1], shaded=shaded[i:i + 1],
                                       gbuf=None if gbuf is None else gbuf[i:i + 1], sheet_ink=inks[i])
                              for i in range(len(inks))])
        return rgba * udp[:, 3:4]

    def _sheet_inks(self, sheet_rgb, sheet_mask, sheet_udp, ink) -> list:
        """Each sheet's ink as the runtime's correspondence pass judges it (``shaders.sheet_ink.judge_ink``
        on its views and their UDPs, as udp-nn correspondences take them: None where not inked), [] when
        the views' UDPs are not given (the ink fraction's look alone)."""
        if sheet_udp is None:
            return []
        from conrt.shaders.sheet_ink import judge_ink  # lazy: lookup models only

        out = []
        for inked, rgb, mask, views_udp in zip(ink.tolist(), sheet_rgb, sheet_mask, sheet_udp):
            reference = torch.cat([rgb.float(), mask.float().clamp(0, 1)], 1).permute(0, 2, 3, 1).cpu().numpy()
            found = judge_ink(bool(inked), views_udp.float().permute(0, 2, 3, 1).cpu().numpy(), reference)
            label = "not inked" if found is None else str(found)
            self.inks[label] = self.inks.get(label, 0) + 1
            out.append(found)
        return out

    def _own_inks(self, inks: list) -> list:
        """The inks the lines are drawn in: each sheet's own (ours where not inked), [] with ``own_ink``
        off (our toon pass's everywhere) or none judged."""
        if not (self.own_ink and inks):
            return []
        from conrt.shaders.sheet_ink import TOON_INK  # lazy: lookup models only

        return [TOON_INK if found is None else found for found in inks]

    def look_summary(self) -> str:
        """"look: unlit" (every sheet alike) or "looks: inked 3, unlit 1" (per sheet scored); "" if none judged."""
        if not self.looks:
            return ""
        if len(self.looks) == 1:
            return f"look: {next(iter(self.looks))}"
        return "looks: " + ", ".join(f"{k} {v}" for k, v in sorted(self.looks.items()))


def _judged_shaded(rgb: torch.Tensor, mask: torch.Tensor, udp: torch.Tensor) -> bool:
    """One inkless sheet: rgb [M, 3, S, S] premultiplied, mask [M, 1, S, S], its views' UDPs
    [M, 4, S, S] -> shaded (``sheet.SheetLook.shaded``, the runtime's judgement)."""
    from conrt.runtime.nn.sheet import SHADED_FROM, shading_fraction  # lazy: lookup models only

    a = mask.float().clamp(0, 1)
    straight = torch.cat([rgb.float() / a.clamp_min(1e-6), a], 1).clamp(0, 1)
    views = list((straight.permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8))
    fraction = shading_fraction(views, list(udp.float().permute(0, 2, 3, 1).cpu().numpy()))
    return fraction is not None and fraction >= SHADED_FROM


class PlainLookup(torch.nn.Module):
    """Reference, not a model: the runtime's sheet samples with no network.
    Each covered pixel takes the mean colour of the views that see its
    surface point (cover > 0.5), or the best-covered view's when none does
    (``lookup_net.plain_lookup``, the rule the runtime keeps on unlit sheets);
    the flat fill where no view has it."""

    takes_view_samples = True

    def __init__(self, image_size: int, label: str = "plain lookup"):
        super().__init__()
        self.cfg = type("Cfg", (), {"image_size": image_size, "name": label})()

    def forward(self, sheet_rgb, sheet_mask, udp, sampled=None, cover=None):
        from conrt.runtime.nn.lookup_net import plain_lookup  # lazy: the runtime's rule, one place

        occ = udp[:, 3:4]
        plain, has = plain_lookup(sampled, cover, occ)
        flat = FlatColourBaseline.mean_colour(sheet_rgb, sheet_mask)[:, :, None, None].clamp(0, 1) * occ
        return torch.cat([torch.where(has, plain[:, :3], flat), occ], 1)


@torch.no_grad()
def evaluate(model, characters: list[CharacterFrames], views=VIEW_COUNTS, targets: int = 4, seed: int = 0,
             batch: int = 4, progress: bool = True, grid_rows: int = 4,
             true_sheet_udp: bool = False, size: int | None = None,
             head_boxes: dict[int, np.ndarray] | None = None,
             samples: list | None = None) -> tuple[dict, dict]:
    """-> ({"n=1": {"l1", "ssim", "psnr", "sharpness"[, "face_ssim", "face_samples"][, "eyes_kept",
    "eye_samples"], "samples"}, ...}, {n: grid batch}) for one model.

    ``size``: shading size (default the model's ``image_size``); the frames are
    box-downsampled to it by an integer factor. ``head_boxes``: {character seed:
    head landmark box} (:func:`head_landmark_box`) for the face score; frames
    where the head is hidden do not count in it (``face_samples``). Characters with their
    eyeless frames (``characters_from_seeds(eyeless=True)``) also get the eye score
    (``losses.eyes_kept``: the share of the target's eye pixels the prediction keeps), over the
    frames that show the eyes (``eye_samples``); the grids then hold each frame's
    ``eyes_kept`` (NaN: no eyes shown) and ``eye_pixels``.

    ``true_sheet_udp``: a lookup-architecture model builds its table from the
    sheet's true UDP (a sheet rendered from the rigged mesh) instead of its
    own UDP prediction (drawings).

    ``samples``: per job of :func:`eval_jobs` (same seed and targets), the
    runtime's sheet samples (:func:`view_samples`) for models that take them
    (:class:`ViewsShader`, :class:`PlainLookup`); or {n: such a list} per view count
    (:func:`view_samples_per_count`: each row's samples as the runtime makes them for n views)."""
    from tqdm import tqdm

    if not characters:
        raise InputError("no characters to evaluate")
    views = tuple(sorted(set(int(v) for v in views)))
    most = max_sheet_views(characters)
    if views[0] < 1 or views[-1] > most:
        raise ConfigError(f"view counts {views}: each must be in 1..{most} (" +
                          ("the turnaround's views)" if characters[0].sheet else "poses per character - 1)"))
    targets = min(targets, min(clip_frames(c) for c in characters))
    size = int(size or model.cfg.image_size)
    use_sheet_udp = true_sheet_udp or getattr(model, "needs_sheet_udp", False)
    model.eval()
    jobs = eval_jobs(characters, targets, seed)
    takes_samples = getattr(model, "takes_view_samples", False)
    per_count = samples if isinstance(samples, dict) else {n: samples for n in views}
    if takes_samples and any(per_count.get(n) is None or len(per_count[n]) != len(jobs)
                             or per_count[n][0][0].shape[0] < n for n in views):
        raise ConfigError(f"{model.cfg.name}: needs the sheet samples of every job for {views[-1]} views")
    with_eyes = all(c.eyeless is not None for c in characters)
    keys = (("l1", "ssim", "psnr", "sharpness") + (("face_ssim",) if head_boxes is not None else ())
            + (("eyes_kept",) if with_eyes else ()))
    sums = {n: dict.fromkeys(keys, 0.0) for n in views}
    faces = dict.fromkeys(views, 0)
    eye_frames = dict.fromkeys(views, 0)
    grids: dict[int, dict] = {}
    bar = tqdm(total=len(jobs) * len(views), unit="img", desc="eval", disable=not progress)
    for n in views:
        for i in range(0, len(jobs), batch):
            chunk = jobs[i:i + batch]
            sheets, sheet_udps, udps, tgts, boxes, eyeless = [], [], [], [], [], []
            for ci, t, others in chunk:
                c = characters[ci]
                sheet_udp = udp_tensor(c.udp[others[:n]]) if use_sheet_udp else None  # read only when used
                sheet, sheet_udp = resize_pair(rgba_to_premul(c.rgba[others[:n]]), sheet_udp, size)
                sheet_udps.append(sheet_udp)
                tgt, udp = resize_pair(rgba_to_premul(c.rgba[t]), udp_tensor(c.udp[t]), size)
                sheets.append(sheet), udps.append(udp), tgts.append(tgt)
                if head_boxes is not None:
                    boxes.append(head_pixel_box(udp, head_boxes[c.seed]))
                if with_eyes:
                    eyeless.append(resize_pair(rgba_to_premul(c.eyeless[t]), None, size)[0])
            sheet = torch.stack(sheets)
            b = {"sheet_rgb": sheet[:, :, :3].contiguous(), "sheet_mask": sheet[:, :, 3:4].contiguous(),
                 "udp": torch.stack(udps), "target": torch.stack(tgts)}
            if takes_samples:
                picked = [per_count[n][j] for j in range(i, i + len(chunk))]
                # the targets' G-buffer (view_samples' third), for models that take it (ViewsShader)
                gbuf = [p[2] for p in picked if len(p) > 2 and p[2] is not None]
                takes_gbuf = getattr(model, "takes_target_gbuf", False) and len(gbuf) == len(picked)
                pred = model(b["sheet_rgb"], b["sheet_mask"], b["udp"],
                             sampled=torch.stack([p[0][:n] for p in picked]).float(),
                             cover=torch.stack([p[1][:n] for p in picked]).float(),
                             **({"sheet_udp": torch.stack(sheet_udps)} if use_sheet_udp else {}),
                             **({"gbuf": torch.stack(gbuf).float()} if takes_gbuf else {}))
            elif use_sheet_udp:
                pred = model(b["sheet_rgb"], b["sheet_mask"], b["udp"], sheet_udp=torch.stack(sheet_udps))
            else:
                pred = model(b["sheet_rgb"], b["sheet_mask"], b["udp"])
            scores = metrics(pred, b["target"], torch.tensor(boxes) if boxes else None)
            if with_eyes:
                scores["eyes_kept"], eye_count = eyes_kept(pred, b["target"], torch.stack(eyeless))
                eye_frames[n] += int((~torch.isnan(scores["eyes_kept"])).sum())
            for k, v in scores.items():
                seen = ~torch.isnan(v)  # face_ssim: only frames that show the head
                sums[n][k] += float(v[seen].sum())
            if "face_ssim" in scores:
                faces[n] += int((~torch.isnan(scores["face_ssim"])).sum())
            shown = {**b, "pred": pred}
            if boxes:
                shown["head_box"] = torch.tensor(boxes)
            if with_eyes:
                shown["eyes_kept"], shown["eye_pixels"] = scores["eyes_kept"], eye_count
            if n not in grids:
                grids[n] = shown
            elif grids[n]["udp"].shape[0] < grid_rows:
                grids[n] = {k: torch.cat([grids[n][k], v])[:grid_rows] for k, v in shown.items()}
            bar.update(len(chunk))
    bar.close()
    table = {}
    for n in views:
        row = {k: round(v / len(jobs), 5) for k, v in sums[n].items() if k not in ("face_ssim", "eyes_kept")}
        if head_boxes is not None:
            row["face_ssim"] = round(sums[n]["face_ssim"] / faces[n], 5) if faces[n] else None
            row["face_samples"] = faces[n]
        if with_eyes:
            row["eyes_kept"] = round(sums[n]["eyes_kept"] / eye_frames[n], 4) if eye_frames[n] else None
            row["eye_samples"] = eye_frames[n]
        table[f"n={n}"] = row | {"samples": len(jobs)}
    return table, grids


def format_table(results: dict) -> str:
    """Text table; ``results`` = {label: {"n=1": {...}}} or one model's {"n=1": {...}}."""
    nested = results and all(isinstance(v, dict) and any(k.startswith("n=") for k in v) for v in results.values())
    models = results if nested else {"": results}
    width = max([22] + [len(label) for label in models])
    lines = [f"{'model':<{width}} {'views':>6} {'L1':>8} {'SSIM':>8} {'PSNR':>8} {'face SSIM':>10} {'sharp':>7} "
             f"{'eyes':>6}"]
    for label, table in models.items():
        for key, row in table.items():
            face = row.get("face_ssim")
            face = f"{face:>10.4f}" if face is not None else f"{'-':>10}"
            sharp = f"{row['sharpness']:>7.3f}" if "sharpness" in row else f"{'-':>7}"
            eyes = f"{row['eyes_kept']:>6.3f}" if row.get("eyes_kept") is not None else f"{'-':>6}"
            lines.append(f"{label:<{width}} {key:>6} {row['l1']:>8.4f} {row['ssim']:>8.4f} {row['psnr']:>8.2f} "
                         f"{face} {sharp} {eyes}")
    return "\n".join(lines)


def save_eval_grid(path, grids: dict, rows: int = 4) -> Path:
    """Grid PNG of the largest view count evaluated: sheet views | UDP | prediction | ground truth,
    then (when the head boxes are known) the face of the prediction | of the ground truth, enlarged
    to the row height (nearest neighbour: the pixels the face score sees)."""
    from PIL import Image

    from .trainer import save_grid

    n = max(grids)
    save_grid(path, grids[n], rows)
    g = grids[n]
    if "head_box" not in g:
        return Path(path)
    grid = np.asarray(Image.open(path).convert("RGB"))
    size = g["udp"].shape[-1]
    faces = []
    for r in range(min(rows, g["udp"].shape[0])):
        y0, y1, x0, x1 = (int(v) for v in g["head_box"][r])
        row = []
        for key in ("pred", "target"):
            x = g[key][r].detach().float().clamp(0, 1).permute(1, 2, 0).numpy()
            shown = (x[..., :3] + 0.75 * (1 - x[..., 3:4])) * 255
            if y1 > y0 and x1 > x0:
                # a square around the head box, enlarged to the row height
                side = max(y1 - y0, x1 - x0)
                cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
                top, left = max(0, min(size - side, cy - side // 2)), max(0, min(size - side, cx - side // 2))
                crop = shown[top:top + side, left:left + side].astype(np.uint8)
                row.append(np.asarray(Image.fromarray(crop).resize((size, size), Image.NEAREST)))
            else:
                row.append(np.full((size, size, 3), 191, np.uint8))
        faces.append(np.concatenate(row, 1))
    Image.fromarray(np.concatenate([grid, np.concatenate(faces, 0)], 1)).save(path)
    return Path(path)
