"""Training samples from a ``conrt data make`` folder.

One sample = one character: ``views`` sheet images (other poses of the same
character, augmented) + one target pose (its UDP and ground-truth RGBA, never
augmented: the UDP and the target must stay pixel-aligned, and the sheet's
geometry is only a reference the network looks things up in).

Tensors (float32, 0..1, channels first):
- ``sheet_rgb``  [M, 3, S, S] premultiplied rgb (what ``CoNR.encode_sheet`` takes)
- ``sheet_mask`` [M, 1, S, S] alpha
- ``udp``        [4, S, S] landmark xyz + occupancy
- ``target``     [4, S, S] premultiplied RGBA ground truth
- ``sheet_udp``  [M, 4, S, S] the sheet images' own UDP (moved with them by the
  affine augmentation): target of the auxiliary UDP-detector loss

Datasets made with ``conrt data make --exact`` also give, per sample, what the
runtime's exact correspondences give for that sheet and frame (never
augmented: the samples are where the views' own pixels are):

- ``sampled``    [M, 4, S, S] each view's premultiplied RGBA at the target's pixels
- ``cover``      [M, 1, S, S] 1 where the view sees the target's surface point
"""
from __future__ import annotations

import logging
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from conrt.errors import ConfigError, InputError

from .datagen import SPLITS, read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Augment:
    """Sheet-image augmentation (colour jitter + small affine)."""

    brightness: float = 0.15  # rgb x U(1 - b, 1 + b)
    contrast: float = 0.15
    saturation: float = 0.2
    hue: float = 0.04  # fraction of a full turn
    rotate: float = 8.0  # degrees, U(-r, r)
    scale: float = 0.08  # U(1 - s, 1 + s)
    translate: float = 0.05  # fraction of the side, U(-t, t)


@dataclass(frozen=True)
class CharacterFrames:
    """All frames of one character (as stored)."""

    seed: int
    rgba: np.ndarray  # [P, S, S, 4] u8 straight alpha
    udp: np.ndarray  # [P, S, S, 4] f16
    sampled: np.ndarray | None = None  # [P(t), P(v), 4, S, S] u8 exact sheet samples (data make --exact)
    cover: np.ndarray | None = None  # [P(t), P(v), S, S] u8
    style: str = "toon"
    poses: tuple = ()  # Pose per frame, when rendered here (conrt eval --seeds): exact correspondences
    cameras: tuple = ()  # Camera per frame, idem
    # frames that are the sheet, drawn after the clip frames (conrt eval --sheet-poses turnaround);
    # empty: the sheet is other clip frames (the paper's protocol)
    sheet: tuple = ()
    # [P, 2, S, S] f16 each frame's G-buffer (data make --exact since session 13: eye depth, part label; where
    # the fusion draws the target's lines, lookup_net.toon_line); None: not stored (the edges' rule before)
    gbuf: np.ndarray | None = None
    # [P, S, S, 4] u8 each frame drawn again without the painted eyes (``evaluate.render_eyeless``:
    # the eye score); None: not drawn
    eyeless: np.ndarray | None = None


def _load_shard(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as z:
            data = {k: z[k] for k in ("rgba", "udp", "seeds") + tuple(k for k in ("sampled", "cover", "styles", "gbuf")
                                                                      if k in z.files)}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: corrupt or incomplete shard ({type(exc).__name__}: {exc}); "
                         "delete it and rerun the same `conrt data make` command to regenerate it") from exc
    c, p = data["rgba"].shape[:2]
    if data["rgba"].ndim != 5 or data["udp"].shape != data["rgba"].shape or data["seeds"].shape != (c,):
        raise InputError(f"{path}: inconsistent shard arrays {[(k, v.shape) for k, v in data.items()]}")
    s = data["rgba"].shape[2]
    if "sampled" in data and (data["sampled"].shape != (c, p, p, 4, s, s) or data["cover"].shape != (c, p, p, s, s)):
        raise InputError(f"{path}: exact samples {data['sampled'].shape} / {data['cover'].shape} do not fit "
                         f"{c} characters x {p} poses at {s}²")
    if "gbuf" in data and data["gbuf"].shape != (c, p, 2, s, s):
        raise InputError(f"{path}: target G-buffers {data['gbuf'].shape} do not fit {c} characters x {p} poses at {s}²")
    return data


def load_split(folder, split: str = "train", limit: int | None = None) -> list[CharacterFrames]:
    """The characters of one split of a dataset folder (all their frames)."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    folder = Path(folder)
    manifest = read_manifest(folder)
    wanted = set(manifest["split"][split])
    if limit is not None:
        wanted = set(sorted(wanted)[:limit])
    out: list[CharacterFrames] = []
    for shard in manifest["shards"]:
        idx = [k for k, c in enumerate(shard["characters"]) if c in wanted]
        if not idx:
            continue
        path = folder / shard["file"]
        if not path.is_file():
            raise InputError(f"{path}: listed in the manifest but missing; rerun `conrt data make` to regenerate it")
        data = _load_shard(path)
        if data["rgba"].shape[0] != len(shard["characters"]):
            raise InputError(f"{path}: holds {data['rgba'].shape[0]} characters, the manifest says "
                             f"{len(shard['characters'])}")
        styles = manifest["spec"].get("styles", ["toon"])
        for k in idx:
            out.append(CharacterFrames(int(data["seeds"][k]), data["rgba"][k], data["udp"][k],
                                       data["sampled"][k] if "sampled" in data else None,
                                       data["cover"][k] if "cover" in data else None,
                                       styles[int(data["styles"][k])] if "styles" in data else styles[0],
                                       gbuf=data["gbuf"][k] if "gbuf" in data else None))
    if not manifest.get("complete", False):
        log.warning("%s: the dataset is incomplete (%d of %d shards); using what is there",
                    folder, len(manifest["shards"]), manifest["num_shards"])
    return out


# ---------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------
def rgba_to_premul(rgba_u8: np.ndarray) -> torch.Tensor:
    """[..., S, S, 4] u8 straight -> [..., 4, S, S] f32 premultiplied."""
    x = torch.from_numpy(np.ascontiguousarray(rgba_u8)).float() / 255.0
    x = torch.cat([x[..., :3] * x[..., 3:4], x[..., 3:4]], -1)
    return x.movedim(-1, -3).contiguous()


def udp_tensor(udp: np.ndarray) -> torch.Tensor:
    """[..., S, S, 4] f16 -> [..., 4, S, S] f32."""
    return torch.from_numpy(np.ascontiguousarray(udp)).float().movedim(-1, -3).contiguous()


def resize_pair(rgba: torch.Tensor, udp: torch.Tensor | None, size: int):
    """Downsample by an integer factor: premultiplied RGBA by box average,
    UDP by taking the centre sample (landmarks must not be blended)."""
    s = rgba.shape[-1]
    if s == size:
        return rgba, udp
    if s % size:
        raise ConfigError(f"cannot resize {s}² data to {size}²: needs an integer factor (make data at {size})")
    f = s // size
    lead = rgba.shape[:-3]
    rgba = F.avg_pool2d(rgba.reshape(-1, *rgba.shape[-3:]), f).reshape(*lead, 4, size, size)
    if udp is not None:
        udp = udp[..., f // 2::f, f // 2::f].contiguous()  # like rasterising at the lower size
    return rgba, udp


def augment_sheet(premul: torch.Tensor, rng: np.random.Generator, aug: Augment,
                  udp: torch.Tensor | None = None):
    """[M, 4, S, S] premultiplied -> augmented copy (colour jitter + small affine).

    With ``udp`` ([M, 4, S, S], the sheet images' own UDP, the target of the
    auxiliary UDP-detector loss) returns ``(image, udp)``, the UDP moved by
    the same affine (nearest: landmarks are not blended)."""
    m = premul.shape[0]
    a = premul[:, 3:4]
    rgb = torch.where(a > 0, premul[:, :3] / a.clamp_min(1e-6), torch.zeros_like(premul[:, :3]))
    r = lambda lo, hi: torch.tensor(rng.uniform(lo, hi, m), dtype=torch.float32).view(m, 1, 1, 1)  # noqa: E731
    # colour jitter on straight rgb
    rgb = rgb * r(1 - aug.brightness, 1 + aug.brightness)
    mean = (rgb * a).sum((2, 3), keepdim=True) / a.sum((2, 3), keepdim=True).clamp_min(1e-6)
    rgb = (rgb - mean) * r(1 - aug.contrast, 1 + aug.contrast) + mean
    grey = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    rgb = (rgb - grey) * r(1 - aug.saturation, 1 + aug.saturation) + grey
    rgb = _hue_rotate(rgb, r(-aug.hue, aug.hue) * 2 * math.pi)
    out = torch.cat([rgb.clamp(0, 1) * a, a], 1)
    # small affine on the premultiplied image (bilinear is correct on premultiplied colour)
    ang = np.radians(rng.uniform(-aug.rotate, aug.rotate, m))
    sc = rng.uniform(1 - aug.scale, 1 + aug.scale, m)
    tx, ty = (rng.uniform(-aug.translate, aug.translate, (2, m)) * 2)
    theta = np.zeros((m, 2, 3), np.float32)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = np.cos(ang) / sc, -np.sin(ang) / sc, tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = np.sin(ang) / sc, np.cos(ang) / sc, ty
    grid = F.affine_grid(torch.from_numpy(theta), list(out.shape), align_corners=False)
    image = F.grid_sample(out, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)
    if udp is None:
        return image
    return image, F.grid_sample(udp, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _hue_rotate(rgb: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate hue in YIQ space by ``angle`` [M,1,1,1] radians."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    from_yiq = torch.linalg.inv(to_yiq)
    yiq = torch.einsum("ij,mjhw->mihw", to_yiq, rgb)
    c, s = torch.cos(angle[:, 0]), torch.sin(angle[:, 0])  # [M,1,1]
    i, q = yiq[:, 1:2], yiq[:, 2:3]
    yiq = torch.cat([yiq[:, :1], i * c[:, None] - q * s[:, None], i * s[:, None] + q * c[:, None]], 1)
    return torch.einsum("ij,mjhw->mihw", from_yiq, yiq)


def exact_samples(c: CharacterFrames, target: int, views, size: int | None = None):
    """The stored exact sheet samples of ``views`` for frame ``target`` ->
    (sampled [M, 4, S, S] premultiplied, cover [M, 1, S, S], the target's G-buffer [2, S, S] or
    None when the data holds none) float32, box-downsampled to ``size`` (the G-buffer by its centre
    sample, as the UDP: ``resize_pair``)."""
    views = np.asarray(views)
    sampled = torch.from_numpy(c.sampled[target, views]).float() / 255.0
    cover = torch.from_numpy(c.cover[target, views]).float().unsqueeze(1) / 255.0
    gbuf = None if c.gbuf is None else torch.from_numpy(c.gbuf[target]).float()
    s = sampled.shape[-1]
    if size and size != s:
        if s % size:
            raise ConfigError(f"cannot resize {s}² exact samples to {size}²: needs an integer factor")
        f = s // size
        sampled, cover = F.avg_pool2d(sampled, f), F.avg_pool2d(cover, f)
        gbuf = None if gbuf is None else gbuf[..., f // 2::f, f // 2::f].contiguous()
    return sampled, cover, gbuf


# ---------------------------------------------------------------------------
# the dataset
# ---------------------------------------------------------------------------
class SheetDataset:
    """Indexable samples; ``sample(idx, key)`` is deterministic in (idx, key).

    ``idx`` picks the character (``idx % characters``) and the target pose;
    ``key`` (e.g. the training step) seeds the choice of sheet views and the
    augmentation, so every DDP rank and a resumed run draw the same batches.
    """

    def __init__(self, characters: list[CharacterFrames], views: int = 4, size: int | None = None,
                 augment: Augment | None = Augment(), seed: int = 0, head_boxes: bool = False):
        if not characters:
            raise InputError("the dataset split holds no characters")
        poses = characters[0].rgba.shape[0]
        if views < 1 or views >= poses:
            raise ConfigError(f"--views {views}: need 1 <= views < poses per character ({poses})")
        self.characters, self.views, self.augment, self.seed = characters, views, augment, seed
        self.poses = poses
        self.data_size = characters[0].rgba.shape[1]
        self.size = size or self.data_size
        # every character has its exact samples (conrt data make --exact)
        self.exact = all(c.sampled is not None for c in characters)
        self._looks: dict[int, tuple[float, float]] = {}  # character index -> (ink, shaded), judged on first use
        # each sample's head box on screen (``head_box`` [4]: the face loss, ``LossWeights.face``), from
        # the procedural character's head landmark box (regenerated from its seed on first use)
        self.head_boxes = head_boxes
        self._head_landmarks: dict[int, np.ndarray] = {}

    def look(self, index: int) -> tuple[float, float]:
        """Character ``index``'s look as the runtime's rules take it (FusionNet's ``ink``,
        ``shaded``): its poses judged as one sheet (``datagen.sheet_look``, as ``data make
        --exact`` weighed the samples), once per character, on the stored (unaugmented) frames."""
        if index not in self._looks:
            from .datagen import sheet_look

            c = self.characters[index]
            look = sheet_look(c.rgba, c.udp)
            self._looks[index] = (float(look.inked), float(look.shaded))
        return self._looks[index]

    def head_landmarks(self, index: int) -> np.ndarray:
        """Character ``index``'s head landmark box (``evaluate.head_landmark_box``), once per character."""
        if index not in self._head_landmarks:
            from conrt.characters.procedural import generate  # lazy: only the face loss needs the meshes

            from .evaluate import head_landmark_box  # lazy: evaluate imports this module

            self._head_landmarks[index] = head_landmark_box(generate(int(self.characters[index].seed)))
        return self._head_landmarks[index]

    def __len__(self) -> int:
        return len(self.characters) * self.poses

    def sample(self, idx: int, key: int = 0, views: int | None = None) -> dict[str, torch.Tensor]:
        m = views or self.views
        ci = idx // self.poses % len(self.characters)
        c = self.characters[ci]
        t = idx % self.poses
        rng = np.random.default_rng([self.seed, key, idx])
        others = np.array([k for k in range(self.poses) if k != t])
        sheet_idx = rng.choice(others, m, replace=False)
        sheet, sheet_udp = resize_pair(rgba_to_premul(c.rgba[sheet_idx]), udp_tensor(c.udp[sheet_idx]), self.size)
        target, udp = resize_pair(rgba_to_premul(c.rgba[t]), udp_tensor(c.udp[t]), self.size)
        out = {}
        if self.exact:
            out["sampled"], out["cover"], gbuf = exact_samples(c, t, sheet_idx, self.size)
            if gbuf is not None:  # the target's G-buffer: where the lines go (data made before: the edges' rule)
                out["gbuf"] = gbuf
            out["ink"], out["shaded"] = (torch.tensor(v) for v in self.look(ci))
        if self.head_boxes:
            from .evaluate import head_pixel_box  # lazy: evaluate imports this module

            out["head_box"] = torch.tensor(head_pixel_box(udp, self.head_landmarks(ci)))
        if self.augment is not None:
            sheet, sheet_udp = augment_sheet(sheet, rng, self.augment, sheet_udp)
        return {"sheet_rgb": sheet[:, :3].contiguous(), "sheet_mask": sheet[:, 3:4].contiguous(),
                "udp": udp, "target": target, "sheet_udp": sheet_udp, **out}

    def batch(self, indices, key: int = 0, views: int | None = None) -> dict[str, torch.Tensor]:
        items = [self.sample(int(i), key, views) for i in indices]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}
