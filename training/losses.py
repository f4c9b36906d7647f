"""Training losses and evaluation metrics, all on premultiplied RGBA in 0..1
(``[N, 4, H, W]``: rgb * a, a), the network's output convention."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    l1: float = 1.0  # photometric L1 on premultiplied RGBA
    grad: float = 1.0  # structural term: L1 between image gradients
    bce: float = 0.1  # alpha binary cross-entropy
    # Auxiliary UDP-detector loss (paper sec. 4.1): the sheet encoder's U-Net
    # head predicts each sheet image's UDP (L1 on the landmarks where covered +
    # BCE on the mask). It teaches the sheet features which body point each
    # pixel shows, which the collaborative decoder needs to copy colours.
    udp: float = 0.5
    # Head-box terms (session 14): the mean L1 and 1 - SSIM inside each target's head box (the box
    # the face score uses, ``evaluate.head_pixel_box``), per frame that shows the head. A face is
    # ~3 % of the frame, so the frame's L1 hardly sees it; 0 = off (every run before session 14).
    face: float = 0.0


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    (px, py), (tx, ty) = image_gradients(pred), image_gradients(target)
    return 0.5 * ((px - tx).abs().mean() + (py - ty).abs().mean())


def alpha_bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # The RGBA decoder ends in a sigmoid; clamp keeps the log finite where it saturates.
    return F.binary_cross_entropy(pred[:, 3:4].clamp(1e-4, 1 - 1e-4), target[:, 3:4])


def udp_detector_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pred [K, 4, H, W] raw head output (xyz, mask logit), target [K, 4, H, W] UDP."""
    occ = target[:, 3:4]
    xyz = ((torch.sigmoid(pred[:, :3]) - target[:, :3]).abs() * occ).sum() / (3 * occ.sum()).clamp_min(1.0)
    return xyz + F.binary_cross_entropy_with_logits(pred[:, 3:4], occ)


def face_loss(pred: torch.Tensor, target: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Mean over the frames whose head box ``[y0, y1, x0, x1)`` ([N, 4]) is not empty of the mean
    |error| (premultiplied RGBA) + 1 - SSIM (:func:`ssim_map`, on the whole frame as the face score)
    inside the box; 0 when no frame shows a head."""
    err = (pred - target).abs().mean(1)
    sim = ssim_map(pred.clamp(0, 1), target)
    terms = [err[i, y0:y1, x0:x1].mean() + 1 - sim[i, y0:y1, x0:x1].mean()
             for i, (y0, y1, x0, x1) in enumerate(boxes.long().tolist()) if y1 > y0 and x1 > x0]
    return torch.stack(terms).mean() if terms else pred.sum() * 0


def training_loss(pred: torch.Tensor, target: torch.Tensor, w: LossWeights = LossWeights(),
                  udp_pred: torch.Tensor | None = None, udp_target: torch.Tensor | None = None,
                  head_box: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """-> (total, {"loss", "l1", "grad", "bce"[, "udp"][, "face"]}) for premultiplied RGBA pred/target
    [N, 4, H, W]; with ``udp_pred``/``udp_target`` ([K, 4, H, W]) also the UDP-detector term, with
    ``head_box`` ([N, 4]) and ``w.face`` the head-box term (:func:`face_loss`)."""
    l1 = (pred - target).abs().mean()
    grad = gradient_l1(pred, target)
    bce = alpha_bce(pred, target)
    total = w.l1 * l1 + w.grad * grad + w.bce * bce
    parts = {"l1": l1, "grad": grad, "bce": bce}
    if udp_pred is not None and w.udp:
        parts["udp"] = udp_detector_loss(udp_pred, udp_target)
        total = total + w.udp * parts["udp"]
    if head_box is not None and w.face:
        parts["face"] = face_loss(pred, target, head_box)
        total = total + w.face * parts["face"]
    return total, {"loss": float(total.detach()), **{k: float(v.detach()) for k, v in parts.items()}}


# ---------------------------------------------------------------------------
# metrics (per image, then averaged by the caller)
# ---------------------------------------------------------------------------
def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_map(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N, H, W] SSIM per pixel, mean over channels (Gaussian window 11, sigma 1.5, data range 1)."""
    c = pred.shape[1]
    win = _gauss().to(pred).expand(c, 1, 11, 11)
    mu_x = F.conv2d(pred, win, padding=5, groups=c)
    mu_y = F.conv2d(target, win, padding=5, groups=c)
    sxx = F.conv2d(pred * pred, win, padding=5, groups=c) - mu_x ** 2
    syy = F.conv2d(target * target, win, padding=5, groups=c) - mu_y ** 2
    sxy = F.conv2d(pred * target, win, padding=5, groups=c) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return m.mean(1)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N] mean SSIM over channels and pixels (see :func:`ssim_map`)."""
    return ssim_map(pred, target).mean((1, 2))


def box_ssim(pred: torch.Tensor, target: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """[N] mean of the full-frame SSIM map inside each image's box ``[y0, y1, x0, x1)``
    (e.g. the head): computed on the whole frame, so a small box has no padding
    artefacts. NaN where the box is empty (nothing to score)."""
    m = ssim_map(pred, target)
    out = torch.full((m.shape[0],), float("nan"))
    for i, (y0, y1, x0, x1) in enumerate(boxes.tolist()):
        if y1 > y0 and x1 > x0:
            out[i] = m[i, int(y0):int(y1), int(x0):int(x1)].mean()
    return out


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, H-1, W-1] forward-difference gradient magnitude over all channels."""
    gx = x[..., :-1, 1:] - x[..., :-1, :-1]
    gy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (gx ** 2 + gy ** 2).sum(1).sqrt()


def sharpness_ratio(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N] mean gradient magnitude of the prediction's colour / the ground truth's,
    over the ground truth's inner foreground (all three pixels of the difference
    stencil fully covered: the silhouette edge, which the UDP gives away, does
    not count). 1 = as much detail as the ground truth; blur < 1; noise > 1."""
    a = target[:, 3] > 0.999
    inner = (a[:, :-1, :-1] & a[:, :-1, 1:] & a[:, 1:, :-1]).float()
    gp = (gradient_magnitude(pred[:, :3]) * inner).sum((1, 2))
    gt = (gradient_magnitude(target[:, :3]) * inner).sum((1, 2))
    return gp / gt.clamp_min(1e-8)


EYE_STEP = 0.1  # |frame - its eyeless twin| above this (any channel, premultiplied): an eye pixel
EYE_MIN_PIXELS = 6  # a frame with fewer eye pixels does not show its eyes (no eye score)


def eye_pixels(target: torch.Tensor, eyeless: torch.Tensor) -> torch.Tensor:
    """[N, H, W] bool: the frame's eye pixels, where it differs visibly from the same frame drawn with
    a face texture without the painted eyes (``eyeless``; procedural characters, ``painted_eyes``)."""
    return (target.float() - eyeless.float()).abs().amax(1) > EYE_STEP


def eyes_kept(pred: torch.Tensor, target: torch.Tensor, eyeless: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> ([N] the share of the frame's eye pixels whose predicted colour lies within half the eye's
    contrast of the ground truth (premultiplied RGBA, Euclidean: |pred - truth| < |truth - eyeless| / 2,
    so nearer the eye's colour than the skin's, and no further from it than half way): a face shaded
    blank scores 0, the ground truth 1; NaN where fewer than ``EYE_MIN_PIXELS`` eye pixels show,
    [N] their counts). Not the half-space nearer the truth than the skin alone: any dark colour
    (a flat fill in a navy coat's mean) is nearer a dark iris than a light skin."""
    pred, target, eyeless = pred.float().clamp(0, 1), target.float(), eyeless.float()
    eyes = eye_pixels(target, eyeless)
    kept = ((pred - target).norm(dim=1) < 0.5 * (target - eyeless).norm(dim=1)) & eyes
    count = eyes.sum((1, 2))
    share = kept.sum((1, 2)).float() / count.clamp_min(1)
    return torch.where(count >= EYE_MIN_PIXELS, share, torch.full_like(share, float("nan"))), count


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N] PSNR in dB (data range 1)."""
    mse = ((pred - target) ** 2).mean((1, 2, 3)).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


def metrics(pred: torch.Tensor, target: torch.Tensor, head_boxes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-image L1, SSIM, PSNR, sharpness ratio ([N] each) on premultiplied RGBA;
    with ``head_boxes`` ([N, 4] y0, y1, x0, x1) also ``face_ssim`` (NaN where the head is not seen)."""
    pred, target = pred.float().clamp(0, 1), target.float()
    out = {"l1": (pred - target).abs().mean((1, 2, 3)), "ssim": ssim(pred, target), "psnr": psnr(pred, target),
           "sharpness": sharpness_ratio(pred, target)}
    if head_boxes is not None:
        out["face_ssim"] = box_ssim(pred, target, head_boxes)
    return out
