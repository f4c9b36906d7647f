"""CoNR v1: the published network (CVPR 2022), for any ``CoNRConfig``.

Four parts, named like the four official checkpoint files so that
``model.udpparsernet.load_state_dict(torch.load("udpparsernet.pth"))``
works strictly:

- ``udpparsernet``: sheet encoder (ResNet-50-like, instance norm, the
  max-pool replaced by a 3x3/2 conv) + a U-Net decoder used in training only.
- ``target_pose_encoder``: ResNet-18-like on the 4-channel UDP.
- ``shader``: the collaborative decoder (CINN): one ``DecoderBlock`` per
  pyramid level, each predicting flows, messages and masks; views are fused
  with ``mask * softmax_views(mask)``.
- ``rgbadecodernet``: one residual block + a 3x3 conv + sigmoid.

Views are folded into the batch (``N*M``) so every level runs as one conv
call for all views. Feature lists run coarse to fine.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from conrt.errors import ConfigError

from .architectures import register_model
from .config import CinnConfig, CoNRConfig, EncoderConfig
from .model import ShaderNet

MEAN, STD = 0.6, 0.2970  # the official input normalisation (all channels)


# ---------------------------------------------------------------------------
# encoders
# ---------------------------------------------------------------------------
class MyNorm(nn.Module):
    """Instance norm with affine parameters, no running statistics (key ``.norm.*``)."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(c, affine=True, track_running_stats=False)

    def forward(self, x):
        return self.norm(x)


def _conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.conv1, self.bn1 = _conv(cin, width, 1), MyNorm(width)
        self.conv2, self.bn2 = _conv(width, width, 3, stride), MyNorm(width)
        self.conv3, self.bn3 = _conv(width, cout, 1), MyNorm(cout)
        self.downsample = (nn.Sequential(_conv(cin, cout, 1, stride), MyNorm(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, width, 3, stride), MyNorm(width)
        self.conv2, self.bn2 = _conv(width, width, 3), MyNorm(width)
        self.downsample = (nn.Sequential(_conv(cin, width, 1, stride), MyNorm(width))
                           if stride != 1 or cin != width else None)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class UpsampleBlock(nn.Module):
    """ConvT 4/2 -> norm -> ReLU -> concat skip -> conv3x3 -> norm -> ReLU."""

    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        self.bn1 = MyNorm(cout)
        self.conv2 = _conv(cout + cskip, cout, 3)
        self.bn2 = MyNorm(cout)

    def forward(self, x, skip=None):
        x = F.relu(self.bn1(self.up(x)))
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return F.relu(self.bn2(self.conv2(x)))


class ResEncUnet(nn.Module):
    """ResNet encoder (``backbone`` = stem, pool, stages) + optional U-Net decoder."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        block = Bottleneck if cfg.block == "bottleneck" else BasicBlock
        pool = (nn.Conv2d(cfg.stem_width, cfg.stem_width, 3, 2, 1, bias=False) if cfg.pool == "conv"
                else nn.MaxPool2d(3, 2, 1))
        layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, cfg.stem_width, 7, 2, 3, bias=False),
                                   MyNorm(cfg.stem_width), nn.ReLU(inplace=True), pool]
        cin = cfg.stem_width
        for i, (width, depth) in enumerate(zip(cfg.widths, cfg.depths)):
            blocks = []
            for j in range(depth):
                blocks.append(block(cin, width, 2 if (i > 0 and j == 0) else 1))
                cin = width * block.expansion
            layers.append(nn.Sequential(*blocks))
        self.backbone = nn.Sequential(*layers)
        self.feature_channels = cfg.feature_channels
        if cfg.decoder_filters:
            skips = self.feature_channels[1:-1] + (self.feature_channels[-1], 0)
            ups, c = [], self.feature_channels[0]
            for i, f in enumerate(cfg.decoder_filters):
                # the last block reaches full size, where there is no skip
                ups.append(UpsampleBlock(c, skips[i] if i < len(cfg.decoder_filters) - 1 else 0, f))
                c = f
            self.upsample_blocks = nn.ModuleList(ups)
            self.final_conv = nn.Conv2d(c, cfg.classes, 1)
        else:
            self.upsample_blocks, self.final_conv = None, None

    def forward(self, x) -> list[torch.Tensor]:
        """Features coarse to fine: last stage, ..., first stage, stem (H/2)."""
        stem = self.backbone[2](self.backbone[1](self.backbone[0](x)))
        feats = [stem]
        y = self.backbone[3](stem)
        for stage in self.backbone[4:]:
            y = stage(y)
            feats.append(y)
        return feats[::-1]

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """The U-Net head (training only): features -> ``classes`` maps at full size."""
        if self.upsample_blocks is None:
            raise RuntimeError("this encoder was built without a decoder")
        y = feats[0]
        for i, up in enumerate(self.upsample_blocks):
            y = up(y, feats[i + 1] if i + 1 < len(feats) else None)
        return self.final_conv(y)


# ---------------------------------------------------------------------------
# collaborative decoder (CINN)
# ---------------------------------------------------------------------------
def _conv_prelu(cin, cout, stride=1):
    return [nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout)]


class DecoderBlock(nn.Module):
    """Downsample x4, residual conv stacks, upsample x4 (RIFE-style block)."""

    def __init__(self, cin, cout, hidden, stacks, convs):
        super().__init__()
        self.conv0 = nn.Sequential(*_conv_prelu(cin, hidden, 2), *_conv_prelu(hidden, hidden, 2))
        self.convblocks = nn.ModuleList(
            nn.Sequential(*[m for _ in range(convs) for m in _conv_prelu(hidden, hidden)])
            for _ in range(stacks))
        self.conv_last = nn.Sequential(nn.ConvTranspose2d(hidden, hidden, 4, 2, 1), nn.PReLU(hidden),
                                       nn.ConvTranspose2d(hidden, cout, 4, 2, 1))

    def forward(self, x):
        x = self.conv0(x)
        for stack in self.convblocks:
            x = stack(x) + x
        return self.conv_last(x)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``x`` (B,C,h,w) by ``flow`` (B,2,h,w) in pixels (x, y)."""
    b, _, h, w = flow.shape
    gx = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
    gy = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
    grid = torch.cat([gx + flow[:, 0:1] / ((w - 1.0) / 2.0), gy + flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    return F.grid_sample(x, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border",
                         align_corners=True)


def group_warp(x: torch.Tensor, flows: torch.Tensor, groups: int) -> torch.Tensor:
    """Warp ``groups`` channel groups of ``x`` each by its own flow pair."""
    b, c, h, w = x.shape
    return warp(x.reshape(b * groups, c // groups, h, w), flows.reshape(b * groups, 2, h, w)).reshape(b, c, h, w)


def _resize(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _rescale_flow(flow, scale: float):
    return F.interpolate(flow, scale_factor=scale, mode="bilinear", align_corners=False,
                         recompute_scale_factor=False) * scale


class CINN(nn.Module):
    """Collaborative decoder. ``forward(pose_feats, reference, sheet_feats)``.

    pose_feats: L tensors (N, Cp, h, w); reference: (N, M, 4, H, W);
    sheet_feats: L tensors (N, M, Cs, h, w). Returns (N, messages[-1], H, W).
    """

    def __init__(self, cfg: CinnConfig, sheet_channels, pose_channels):
        super().__init__()
        self.cfg = cfg
        n = len(sheet_channels)
        g2 = 2 * cfg.flow_groups
        blocks = []
        for p in range(n + 1):
            cin = 2 + 4 + 2 + 4
            if p < n:
                cin += pose_channels[p] + sheet_channels[p]
            if p > 0:
                cin += cfg.messages[p - 1] + cfg.locals[p - 1]
            cout = 2 + cfg.messages[p] + g2 + (cfg.locals[p] + g2 if cfg.locals[p] else 0) + 2 + cfg.messages[p]
            hidden = cfg.hidden[p] if isinstance(cfg.hidden, tuple) else cfg.hidden
            blocks.append(DecoderBlock(cin, cout, hidden, cfg.block_nums[p], cfg.convs_per_stack))
        self.decoder_blocks = nn.ModuleList(blocks)

    def _split(self, out, p):
        c, g2 = self.cfg, 2 * self.cfg.flow_groups
        sizes = [2, c.messages[p], g2] + ([c.locals[p], g2] if c.locals[p] else []) + [2 + c.messages[p]]
        parts = list(torch.split(out, sizes, 1))
        flow, msg, msg_flow = parts[:3]
        loc, loc_flow = (parts[3], parts[4]) if c.locals[p] else (None, None)
        return flow, msg, msg_flow, loc, loc_flow, torch.sigmoid(parts[-1])

    def run_block(self, p: int, parts, n: int, m: int) -> torch.Tensor:
        """Decoder block ``p`` on its input parts, in concatenation order:
        ``(tensor, per_view)`` pairs, per-view tensors (N*M, C, h, w), shared
        ones (N, C, h, w), the same for every view. Here: broadcast the shared
        ones, concatenate once, run the block; ``FastCINN`` overrides it."""
        x = torch.cat([t.reshape(n, m, *t.shape[1:]) if per_view else t.unsqueeze(1).expand(n, m, *t.shape[1:])
                       for t, per_view in parts], 2)
        return self.decoder_blocks[p](x.reshape(n * m, x.shape[2], x.shape[3], x.shape[4]))

    def forward(self, pose_feats, reference, sheet_feats):
        n, m = reference.shape[:2]
        b = n * m
        full = reference.shape[-2:]
        ref = reference.reshape(b, *reference.shape[2:])
        levels = len(sheet_feats)
        groups = self.cfg.flow_groups

        def fuse(weights, x, lo, hi=None):  # sum over views of w[:, :, lo:hi] * x -> (N, C, h, w)
            w = weights[:, :, lo:hi] if hi is not None else weights[:, :, lo:]
            return (w * x.reshape(n, m, *x.shape[1:])).sum(1)

        size = sheet_feats[0].shape[-2:]
        flow = ref.new_zeros(b, 2, *size)
        wref = _resize(ref, size)
        feat = sheet_feats[0].reshape(b, *sheet_feats[0].shape[2:])
        # level 0: each view's own flow and reference stand in for the fused ones
        w_flow, w_ref, fused_per_view = flow, wref, True
        w_msg = loc = None
        for p in range(len(self.decoder_blocks)):
            parts = [(flow, True)]
            if p < levels:
                parts.append((pose_feats[p], False))
            parts.append((wref, True))
            if p < levels:
                parts.append((feat, True))
            parts += [(w_flow, fused_per_view), (w_ref, fused_per_view)]
            if p > 0:
                parts += [(w_msg, False), (loc, True)]
            d_flow, msg, msg_flow, loc, loc_flow, mask = self._split(self.run_block(p, parts, n, m), p)
            flow = flow + d_flow
            if p == levels:
                # the last block's messages are warped by their own flows too
                msg = group_warp(msg, msg_flow, groups)
                mask = mask.reshape(n, m, *mask.shape[1:])
                weights = mask * torch.softmax(mask, 1)
                return fuse(weights, msg, 2)
            # move everything to the next level's size
            size = sheet_feats[p + 1].shape[-2:] if p + 1 < levels else full
            scale = int(size[-1]) / int(flow.shape[-1])  # static sides: a constant in exported graphs
            flow = _rescale_flow(flow, scale)
            msg = group_warp(_resize(msg, size), _rescale_flow(msg_flow, scale), groups)
            loc = group_warp(_resize(loc, size), _rescale_flow(loc_flow, scale), groups)
            mask = _resize(mask, size)
            wref = warp(_resize(ref, size) if p + 1 < levels else ref, flow)
            if p + 1 < levels:
                feat = warp(sheet_feats[p + 1].reshape(b, *sheet_feats[p + 1].shape[2:]), flow)
            mask = mask.reshape(n, m, *mask.shape[1:])
            weights = mask * torch.softmax(mask, 1)
            w_flow = fuse(weights, flow, 0, 1)  # shared by the views from here on
            w_ref = fuse(weights, wref, 0, 1)
            w_msg = fuse(weights, msg, 2)
            fused_per_view = False
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------
# RGBA decoder
# ---------------------------------------------------------------------------
class ResBlock2d(nn.Module):
    """out = conv2(relu(norm2(conv1(relu(norm1(x)))))) + x; the norms are 1x1 convs."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)
        self.norm1 = nn.Conv2d(c, c, 1)
        self.norm2 = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x)))))) + x


class RGBADecoderNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bottleneck = nn.Sequential()
        self.bottleneck.add_module("r0", ResBlock2d(c))
        self.conv_rgba = nn.Sequential(nn.Conv2d(c, 4, 3, 1, 1), nn.Sigmoid())

    def forward(self, x):
        """(N, C, H, W) fused message -> (N, 4, H, W) straight RGBA in 0..1."""
        return self.conv_rgba(self.bottleneck(x))


# ---------------------------------------------------------------------------
# the whole network
# ---------------------------------------------------------------------------
def normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - MEAN) / STD


def pose_input(udp: torch.Tensor) -> torch.Tensor:
    """udp (N,4,H,W) xyz + visibility -> cat(xyz * a, a) (before normalisation)."""
    a = udp[:, 3:4]
    return torch.cat([udp[:, :3] * a, a], 1)


def premultiply(dec: torch.Tensor) -> torch.Tensor:
    """Straight RGBA (N,4,H,W) -> cat(rgb * a, a)."""
    return torch.cat([dec[:, :3] * dec[:, 3:4], dec[:, 3:4]], 1)


@register_model
class CoNR(ShaderNet):
    """The CoNR network for one config. All inputs are float in 0..1.

    Per character: ``encode_sheet(rgb, mask)``; per frame: ``encode_pose`` +
    ``render``. ``forward`` runs all of it (training).
    """

    architecture = "conr"
    PARTS = ("udpparsernet", "target_pose_encoder", "shader", "rgbadecodernet")
    FRAME_PARTS = ("target_pose_encoder", "shader", "rgbadecodernet")  # what runs per frame
    has_official_baseline = True

    # -- the config -------------------------------------------------------------
    @classmethod
    def sheet_levels(cls, cfg: CoNRConfig) -> int:
        return len(cfg.sheet_encoder.depths) + 1  # one per pyramid level

    @classmethod
    def size_multiple(cls, cfg: CoNRConfig) -> int:
        return cfg.sheet_encoder.coarsest_stride * 4  # coarsest level / 4 by the blocks

    @classmethod
    def validate_config(cls, cfg: CoNRConfig) -> None:
        s, p, c = cfg.sheet_encoder, cfg.pose_encoder, cfg.cinn
        n = cls.sheet_levels(cfg)
        if len(p.depths) != len(s.depths):
            raise ConfigError(f"{cfg.name}: sheet and pose encoders need the same number of stages "
                              f"({len(s.depths)} vs {len(p.depths)})")
        for enc, what in ((s, "sheet_encoder"), (p, "pose_encoder")):
            if len(enc.widths) != len(enc.depths):
                raise ConfigError(f"{cfg.name}: {what}.widths and depths differ in length")
            if enc.decoder_filters and len(enc.decoder_filters) != n:
                raise ConfigError(f"{cfg.name}: {what}.decoder_filters needs {n} entries or none")
        keys = ("block_nums", "messages", "locals") + (("hidden",) if isinstance(c.hidden, tuple) else ())
        for key in keys:
            if len(getattr(c, key)) != n + 1:
                raise ConfigError(f"{cfg.name}: cinn.{key} needs {n + 1} entries (levels + full size)")
        if c.locals[-1] != 0:
            raise ConfigError(f"{cfg.name}: cinn.locals[-1] must be 0 (no level follows the last)")
        for m in c.messages + tuple(x for x in c.locals if x):
            if m % c.flow_groups:
                raise ConfigError(f"{cfg.name}: message width {m} is not a multiple of "
                                  f"flow_groups={c.flow_groups}")

    def __init__(self, cfg: CoNRConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.udpparsernet = ResEncUnet(cfg.sheet_encoder)
        self.target_pose_encoder = ResEncUnet(cfg.pose_encoder)
        self.shader = CINN(cfg.cinn, cfg.sheet_encoder.feature_channels, cfg.pose_encoder.feature_channels)
        self.rgbadecodernet = RGBADecoderNet(cfg.rgba_channels)

    def encode_sheet(self, rgb: torch.Tensor, mask: torch.Tensor, sheet_udp: torch.Tensor | None = None):
        """rgb (N,M,3,H,W) as the encoder sees it (premultiplied), mask (N,M,1,H,W)
        (``sheet_udp`` is not used: CoNR finds its correspondences itself).

        Returns (features: L tensors (N,M,C,h,w), reference (N,M,4,H,W)).
        The reference RGB is ``mask * rgb``: the official pipeline multiplies
        the (already premultiplied) RGB by alpha a second time.
        """
        n, m = rgb.shape[:2]
        feats = self.udpparsernet(normalize(rgb.reshape(n * m, *rgb.shape[2:])))
        feats = [f.reshape(n, m, *f.shape[1:]) for f in feats]
        return feats, torch.cat([mask * rgb, mask], 2)

    def pose_input(self, udp: torch.Tensor) -> torch.Tensor:
        """udp (N,4,H,W) xyz + visibility -> cat(xyz * a, a) (before normalisation)."""
        return pose_input(udp)

    def encode_pose(self, udp: torch.Tensor) -> list[torch.Tensor]:
        return self.target_pose_encoder(normalize(pose_input(udp)))

    def render(self, pose_feats, reference, sheet_feats, return_features=False):
        """-> premultiplied RGBA (N,4,H,W) = cat(rgb * a, a)."""
        y = self.shader(pose_feats, reference, sheet_feats)
        rgba = premultiply(self.rgbadecodernet(y))
        return (rgba, y) if return_features else rgba

    def forward(self, sheet_rgb, sheet_mask, udp, sheet_udp=None):
        feats, reference = self.encode_sheet(sheet_rgb, sheet_mask)
        return self.render(self.encode_pose(udp), reference, feats)

    def sheet_tensor_shapes(self, size: int, views: int) -> list[tuple[int, ...]]:
        """Coarse to fine: the stem at S/2, the first stage at S/4 (after the pool), then /2 per stage."""
        enc = self.cfg.sheet_encoder
        sides = [size // 2] + [size // 4 // (2 ** i) for i in range(len(enc.depths))]
        return [(1, views, c, s, s) for c, s in zip(reversed(enc.feature_channels), sides)][::-1]

    def example_inputs(self, size: int, views: int = 2) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(0)
        udp = torch.rand(1, 4, size, size, generator=g)
        ref = torch.rand(1, views, 4, size, size, generator=g)
        feats = [torch.rand(*shape, generator=g) for shape in self.sheet_tensor_shapes(size, views)[::-1]]
        return (udp, ref, *feats[::-1])

    def frame_graph(self, phase_deconvs: bool = False) -> nn.Module:
        return CoNRFrameGraph(self, phase_deconvs)

    # -- official checkpoint layout ----------------------------------------
    def part_state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """{official file stem: state dict}, keys exactly as in the .pth files."""
        return {name: getattr(self, name).state_dict() for name in self.PARTS}


class CoNRFrameGraph(nn.Module):
    """The per-frame part of CoNR with the sheet tensors as plain inputs (ONNX export).

    ``phase_deconvs``: run the decoder blocks' transposed convs as four 2x2
    convs each (same maths, a copy of the shader; ORT runs them faster).
    """

    def __init__(self, model: CoNR, phase_deconvs: bool = False):
        super().__init__()
        self.pose_encoder = model.target_pose_encoder
        self.shader = with_phase_deconvs(copy.deepcopy(model.shader)) if phase_deconvs else model.shader
        self.rgba_decoder = model.rgbadecodernet

    def forward(self, udp, reference, *sheet_features):
        pose = self.pose_encoder(normalize(pose_input(udp)))
        return premultiply(self.rgba_decoder(self.shader(pose, reference, list(sheet_features))))


# ---------------------------------------------------------------------------
# export helper: ConvTranspose(k4, s2, p1) as four 2x2 convs + depth-to-space
# ---------------------------------------------------------------------------
class PhaseConvTranspose2d(nn.Module):
    """The same maths as ``ConvTranspose2d(k=4, s=2, p=1)``, as one stride-1
    2x2 conv per output phase (exact FLOPs) interleaved by pixel shuffle.
    ONNX Runtime runs plain convs much faster than ConvTranspose on CPU."""

    # kernel taps used by output phase 0 / 1 for input offsets (-1, 0) / (0, +1)
    _TAPS = ((3, 1), (2, 0))

    def __init__(self, deconv: nn.ConvTranspose2d):
        super().__init__()
        w = deconv.weight.detach()  # (cin, cout, 4, 4)
        cin, cout = w.shape[:2]
        phases = []
        for a in (0, 1):
            for b in (0, 1):
                sub = w[:, :, list(self._TAPS[a])][:, :, :, list(self._TAPS[b])]  # (cin, cout, 2, 2)
                phases.append(sub.permute(1, 0, 2, 3))
        self.weight = nn.Parameter(torch.cat(phases, 0).contiguous())  # (4*cout, cin, 2, 2), phase-major
        bias = deconv.bias.detach() if deconv.bias is not None else w.new_zeros(cout)
        self.bias = nn.Parameter(bias.repeat(4))
        self.cout = cout

    def forward(self, x):
        n, _, h, w = x.shape
        xp = F.pad(x, (1, 1, 1, 1))
        c = self.cout
        outs = [F.conv2d(xp[:, :, a:a + h + 1, b:b + w + 1], self.weight[i * c:(i + 1) * c],
                         self.bias[i * c:(i + 1) * c])
                for i, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1)))]
        # (n, 4, c, h, w) -> (n, c, 4, h, w): channel o*4 + 2a + b for pixel_shuffle
        y = torch.stack(outs, 2)
        return F.pixel_shuffle(y.reshape(n, c * 4, h, w), 2)


def with_phase_deconvs(module: nn.Module) -> nn.Module:
    """Replace every ConvTranspose2d(k4, s2, p1) in ``module`` (in place) by ``PhaseConvTranspose2d``."""
    for name, child in list(module.named_children()):
        if (isinstance(child, nn.ConvTranspose2d) and child.kernel_size == (4, 4) and child.stride == (2, 2)
                and child.padding == (1, 1) and child.groups == 1 and child.dilation == (1, 1)):
            setattr(module, name, PhaseConvTranspose2d(child))
        else:
            with_phase_deconvs(child)
    return module
