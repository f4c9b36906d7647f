"""Small real ONNX graphs for the GPU-path tests (exported with torch here, so
the checks run on what the exporter really emits), plus the GPU skip marker."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conrt.runtime.backends.gpu.status import tensorrt_status
from conrt.runtime.backends.onnx_backend import EXPORT_LOCK


def _export(module: nn.Module, args, path, *, opset=17, input_names, output_names, dynamic_axes=None):
    with EXPORT_LOCK, warnings.catch_warnings():  # one export at a time, as the runtime's background ones
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), args, str(path), dynamo=False, opset_version=opset,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes or {})
    return path


class WarpNet(nn.Module):
    """A per-frame-graph look-alike: conv + instance norm on the UDP, views
    fused with a GridSample warp (CoNR's ops, same input/output names)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.norm = nn.InstanceNorm2d(8, affine=True)
        self.head = nn.Conv2d(8 + 4, 4, 3, padding=1)
        with torch.no_grad():  # non-trivial affine params so nothing dedups them
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.1, 0.1)

    def forward(self, udp, reference):
        h = F.relu(self.norm(self.conv(udp)))
        flow = torch.tanh(h[:, :2]).permute(0, 2, 3, 1) * 0.1
        n, v = reference.shape[:2]
        grid = flow.repeat_interleave(v, 0)
        warped = F.grid_sample(reference.flatten(0, 1), grid, mode="bilinear", padding_mode="border",
                               align_corners=True)
        fused = warped.view(n, v, *warped.shape[1:]).mean(1)
        return torch.sigmoid(self.head(torch.cat([h, fused], 1)))


def warpnet_inputs(size=64, views=3):
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 4, size, size, generator=g), torch.rand(1, views, 4, size, size, generator=g)


@pytest.fixture(scope="session")
def warpnet_onnx(tmp_path_factory):
    """GridSample + InstanceNormalization, opset 17, views dynamic, 64x64 fixed."""
    path = tmp_path_factory.mktemp("onnx") / "warpnet.onnx"
    return _export(WarpNet(), warpnet_inputs(), path, input_names=["udp", "reference"], output_names=["rgba"],
                   dynamic_axes={"reference": {1: "views"}})


class Unsupported(nn.Module):
    def forward(self, x):
        d = torch.linalg.det(x[:, 0, :3, :3])  # ONNX Det: no TensorRT importer
        up = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)  # cubic Resize
        return up * d[:, None, None, None]


@pytest.fixture(scope="session")
def unsupported_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "unsupported.onnx"
    return _export(Unsupported(), (torch.rand(1, 4, 8, 8),), path, input_names=["x"], output_names=["y"])


@pytest.fixture(scope="session")
def old_opset_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "opset16.onnx"
    return _export(WarpNet(), warpnet_inputs(), path, opset=16, input_names=["udp", "reference"],
                   output_names=["rgba"])


@pytest.fixture(scope="session")
def real_export(tmp_path_factory):
    """The network engineer's real per-frame export (smallest config at its
    minimum side; the graph structure is the paper's, only narrower)."""
    from conrt.runtime.backends.onnx_backend import export_onnx
    from conrt.runtime.nn.model import create_model

    model = create_model("conr-xs")
    path = tmp_path_factory.mktemp("real") / "conr-xs.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(model, path, model.cfg.size_multiple)
    return path, model


def _gpu_reason() -> str:
    ok, reason = tensorrt_status()
    return "" if ok else f"needs an NVIDIA GPU with TensorRT: {reason}"


GPU_REASON = _gpu_reason()
requires_gpu = pytest.mark.skipif(bool(GPU_REASON), reason=GPU_REASON or "gpu available")
