"""`conrt shade/convert/export`: the golden fixture through real processes."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from conrt.cli import main
from conrt.runtime.nn.model import create_model

TOL = 1e-4


def _conrt(*args):
    return subprocess.run([sys.executable, "-m", "conrt", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


# the torch backend reproduces the golden frame in-process (test_backends.test_golden_through_backends);
# here the CLI's plumbing (--weights, --official, --backend, --onnx) end to end, through one backend
@pytest.mark.parametrize("backend", ["onnxruntime"])
def test_shade_cli_reproduces_golden(paper_safetensors, paper_onnx, golden_files, golden, tmp_path, backend):
    sheets, pose = golden_files
    out = tmp_path / "out.npz"
    extra = ["--onnx", paper_onnx] if backend == "onnxruntime" else []
    r = _conrt("shade", "--weights", paper_safetensors, "--sheet", *sheets, "--udp", pose, "-o", out,
               "--official", "--backend", backend, *extra)
    assert r.returncode == 0, r.stderr
    rgba = np.load(out)["rgba"]
    assert rgba.dtype == np.float32 and rgba.shape == (4, 128, 128)
    np.testing.assert_allclose(rgba[None], golden["rgba"], atol=TOL, rtol=0)


def test_shade_cli_refuses_opaque_sheet(tmp_path, golden_files):
    _, pose = golden_files
    Image.new("RGB", (128, 128), (10, 200, 30)).save(tmp_path / "opaque.png")
    r = _conrt("shade", "--config", "conr-xs", "--sheet", tmp_path / "opaque.png", "--udp", pose,
               "-o", tmp_path / "o.npz", "--backend", "torch")
    assert r.returncode == 1
    assert "transparent background" in r.stderr and not (tmp_path / "o.npz").exists()


def test_convert_and_export_cli(tmp_path, golden_files):
    src = create_model("conr-xs")
    (tmp_path / "w").mkdir()
    for part, sd in src.part_state_dicts().items():
        torch.save(sd, tmp_path / "w" / f"{part}.pth")
    out = tmp_path / "xs.safetensors"
    assert main(["convert", str(tmp_path / "w"), "--config", "conr-xs", "-o", str(out)]) == 0
    assert main(["export", "--weights", str(out), "--size", "64", "-o", str(tmp_path / "xs.onnx")]) == 0
    m = onnx.load(str(tmp_path / "xs.onnx"))
    assert [o.name for o in m.graph.output] == ["rgba"]
    assert m.graph.input[1].type.tensor_type.shape.dim[-1].dim_value == 64
    # PNG output: premultiplied RGBA, same values as the .npz (truncated to uint8)
    sheets, pose = golden_files
    args = ["shade", "--weights", str(out), "--sheet", *map(str, sheets), "--udp", str(pose), "--backend", "torch"]
    assert main(args + ["-o", str(tmp_path / "o.png")]) == 0
    assert main(args + ["-o", str(tmp_path / "o.npz")]) == 0
    img = np.asarray(Image.open(tmp_path / "o.png"))
    want = (np.load(tmp_path / "o.npz")["rgba"].transpose(1, 2, 0) * 255).astype(np.uint8)
    assert img.shape == (128, 128, 4) and np.abs(img.astype(int) - want).max() <= 1
    assert (img[..., :3] <= img[..., 3:4]).all()
    # a folder that does not fit the config: exit code 1, the error names the file
    assert main(["convert", str(tmp_path / "w"), "-o", str(tmp_path / "p.safetensors")]) == 1
