"""The paper's Table 1 on our synthetic test characters.

For every test character, ``targets`` of its poses are shaded from ``n``
sheet views (other poses of the same character), n in {1, 2, 4, 8}; the views
are nested (the n=1 view is among the n=2 views, ...), so the rows differ only
in how many views the network sees. Metrics on premultiplied RGBA in 0..1,
averaged over all (character, target) pairs: L1, SSIM, PSNR.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from conrt.errors import ConfigError, InputError

from .dataset import CharacterFrames, load_split, resize_pair, rgba_to_premul, udp_tensor
from .losses import metrics

log = logging.getLogger(__name__)

VIEW_COUNTS = (1, 2, 4, 8)


def parse_seeds(text: str) -> range:
    """"A:B" -> range(A, B)."""
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected A:B, e.g. 900000:900016") from None
    if a < 0 or b <= a:
        raise ConfigError(f"--seeds {text!r}: need 0 <= A < B")
    return range(a, b)


def characters_from_seeds(seeds, poses: int = 12, size: int = 128, progress: bool = True) -> list[CharacterFrames]:
    """Render unseen procedural characters on the fly (same recipe as ``conrt data make``)."""
    from tqdm import tqdm

    from .datagen import Renderer, render_character

    out = []
    with Renderer(size) as renderer:
        for s in tqdm(list(seeds), unit="char", desc="render test characters", disable=not progress):
            cs = render_character(renderer, int(s), poses, rng_key=(int(s), 2))
            out.append(CharacterFrames(cs.seed, cs.rgba, cs.udp))
    return out


def characters_from_data(folder, split: str = "test") -> list[CharacterFrames]:
    chars = load_split(folder, split)
    if not chars:
        raise InputError(f"{folder}: the {split!r} split is empty; make the dataset with --test > 0")
    return chars


class FlatColourBaseline(torch.nn.Module):
    """Reference, not a model: the target's UDP silhouette filled with the mean
    colour of the sheet views. Whatever a trained model scores, it should
    beat this, which needs no learning at all (most of an L1 over the whole
    frame is background and silhouette, both given by the UDP)."""

    def __init__(self, image_size: int):
        super().__init__()
        self.cfg = type("Cfg", (), {"image_size": image_size, "name": "flat-colour baseline"})()

    def forward(self, sheet_rgb, sheet_mask, udp):
        mean = sheet_rgb.sum((1, 3, 4)) / sheet_mask.sum((1, 3, 4)).clamp_min(1.0)  # [N, 3] straight colour
        occ = udp[:, 3:4]
        return torch.cat([mean[:, :, None, None] * occ, occ], 1)


@torch.no_grad()
def evaluate(model, characters: list[CharacterFrames], views=VIEW_COUNTS, targets: int = 4, seed: int = 0,
             batch: int = 4, progress: bool = True, grid_rows: int = 4,
             true_sheet_udp: bool = False) -> tuple[dict, dict]:
    """-> ({"n=1": {"l1", "ssim", "psnr", "samples"}, ...}, {n: grid batch}) for one model.

    ``true_sheet_udp``: a lookup-architecture model builds its table from the
    sheet's true UDP (a sheet rendered from the rigged mesh) instead of its
    own UDP prediction (drawings)."""
    from tqdm import tqdm

    if not characters:
        raise InputError("no characters to evaluate")
    poses = characters[0].rgba.shape[0]
    views = tuple(sorted(set(int(v) for v in views)))
    if views[0] < 1 or views[-1] + 1 > poses:
        raise ConfigError(f"view counts {views}: each must be in 1..{poses - 1} (poses per character - 1)")
    targets = min(targets, poses)
    size = model.cfg.image_size
    model.eval()
    # (character, target, sheet order) triples, fixed by the seed
    jobs = []
    for ci, c in enumerate(characters):
        rng = np.random.default_rng([seed, c.seed])
        for t in rng.permutation(poses)[:targets]:
            others = rng.permutation([k for k in range(poses) if k != t])
            jobs.append((ci, int(t), others))
    sums = {n: {"l1": 0.0, "ssim": 0.0, "psnr": 0.0} for n in views}
    grids: dict[int, dict] = {}
    bar = tqdm(total=len(jobs) * len(views), unit="img", desc="eval", disable=not progress)
    for n in views:
        for i in range(0, len(jobs), batch):
            chunk = jobs[i:i + batch]
            sheets, sheet_udps, udps, tgts = [], [], [], []
            for ci, t, others in chunk:
                c = characters[ci]
                sheet_udp = udp_tensor(c.udp[others[:n]]) if true_sheet_udp else None  # read only when used
                sheet, sheet_udp = resize_pair(rgba_to_premul(c.rgba[others[:n]]), sheet_udp, size)
                sheet_udps.append(sheet_udp)
                tgt, udp = resize_pair(rgba_to_premul(c.rgba[t]), udp_tensor(c.udp[t]), size)
                sheets.append(sheet), udps.append(udp), tgts.append(tgt)
            sheet = torch.stack(sheets)
            b = {"sheet_rgb": sheet[:, :, :3].contiguous(), "sheet_mask": sheet[:, :, 3:4].contiguous(),
                 "udp": torch.stack(udps), "target": torch.stack(tgts)}
            if true_sheet_udp:
                pred = model(b["sheet_rgb"], b["sheet_mask"], b["udp"], sheet_udp=torch.stack(sheet_udps))
            else:
                pred = model(b["sheet_rgb"], b["sheet_mask"], b["udp"])
            for k, v in metrics(pred, b["target"]).items():
                sums[n][k] += float(v.sum())
            if n not in grids:
                grids[n] = {**b, "pred": pred}
            elif grids[n]["udp"].shape[0] < grid_rows:
                grids[n] = {k: torch.cat([grids[n][k], v])[:grid_rows]
                            for k, v in {**b, "pred": pred}.items()}
            bar.update(len(chunk))
    bar.close()
    table = {f"n={n}": {k: round(v / len(jobs), 5) for k, v in sums[n].items()} | {"samples": len(jobs)}
             for n in views}
    return table, grids


def format_table(results: dict) -> str:
    """Text table; ``results`` = {label: {"n=1": {...}}} or one model's {"n=1": {...}}."""
    nested = results and all(isinstance(v, dict) and any(k.startswith("n=") for k in v) for v in results.values())
    models = results if nested else {"": results}
    lines = [f"{'model':<22} {'views':>6} {'L1':>8} {'SSIM':>8} {'PSNR':>8}"]
    for label, table in models.items():
        for key, row in table.items():
            lines.append(f"{label:<22} {key:>6} {row['l1']:>8.4f} {row['ssim']:>8.4f} {row['psnr']:>8.2f}")
    return "\n".join(lines)


def save_eval_grid(path, grids: dict, rows: int = 4) -> Path:
    """Grid PNG of the largest view count evaluated: sheet views | UDP | prediction | ground truth."""
    from .trainer import save_grid

    n = max(grids)
    save_grid(path, grids[n], rows)
    return Path(path)
