"""Bad inputs, run the way a user runs them: the table in docs/reliability.md.

    python benchmarks/reliability_table.py                  # all cases -> docs/reliability.md
    python benchmarks/reliability_table.py --only udp --print   # a subset, table on stdout

Every case is one ``conrt`` command line on a prepared bad input (a truncated
.npz, a glTF buffer pointing at /dev/zero, an unwritable output, ...). Cases
run in worker processes (one per command group, so torch and GL load once per
group), each through ``conrt.cli.main`` with its stdout/stderr captured, and
record:

- rc: the exit status (1 = a named conrt error, 2 = argparse's usage error);
- traceback: an exception escaped ``main`` or "Traceback" appeared in the output;
- claimed: rc 0 but a file the case writes is missing or empty (the "wrote 2
  frames, rc 0, no file" failure);
- the error line the user sees.

The aim is 0 tracebacks and 0 claimed-without-output. A small subset runs in
the test suite (tests/test_reliability.py).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from conrt.samples import SAMPLE_CHARACTER as SAMPLE, SAMPLE_SHEET_DIR as SHEET

ROOT = Path(__file__).resolve().parents[1]
ROBOT = ROOT / "tests" / "fixtures" / "assets" / "gltf" / "RobotExpressive.glb"
BVH = ROOT / "tests" / "fixtures" / "assets" / "bvh" / "cmu_npybvh_example.bvh"
CASE_TIMEOUT_S = 300


@dataclass
class Case:
    group: str  # worker process it runs in
    input: str  # what is wrong, in words
    argv: list[str]  # conrt arguments; {W} = the work folder
    outputs: list[str] = field(default_factory=list)  # files that must exist if rc == 0
    expect_ok: bool = False  # a good input in the table (rc 0 expected)
    absent: list[str] = field(default_factory=list)  # must not exist afterwards (no leftovers)


def _c(group, what, cmd, outputs=(), ok=False, absent=()) -> Case:
    return Case(group, what, cmd.split(), list(outputs), ok, list(absent))


S, SH, RB = str(SAMPLE), str(SHEET), str(ROBOT)
FIX = str(ROBOT.parent)
FAST = "--frames 2 --size 64"


def cases() -> list[Case]:
    out = [
        # -- render: output paths --------------------------------------------------
        _c("render", "output in a folder that cannot be written (/proc)", f"render {FAST} -o /proc/nope/out.mp4"),
        _c("render", "-o names an existing folder x.mp4", f"render {FAST} -o {{W}}/isdir.mp4"),
        _c("render", "-o below a regular file", f"render {FAST} -o {{W}}/afile/out.mp4"),
        _c("render", "-o with an unknown suffix", f"render {FAST} -o {{W}}/out.avi"),
        _c("render", "-o in missing parent folders (created)", f"render {FAST} -o {{W}}/new/deep/out.mp4",
           ["{W}/new/deep/out.mp4"], ok=True),
        _c("render", "-o a folder for PNG frames", f"render {FAST} -o {{W}}/frames_ok/",
           ["{W}/frames_ok/frame_0000.png", "{W}/frames_ok/frames.json"], ok=True),
        _c("render", "--atlas that is not a .png", f"render {FAST} --atlas {{W}}/atlas.jpg"),
        _c("render", "--atlas in an unwritable place", f"render {FAST} --atlas /proc/nope/a.png"),
        _c("render", "--atlas with a bad --sheet (real error shown)", f"render {FAST} --sheet {{W}}/sheets/empty "
           f"--atlas {{W}}/atlas_bad.png"),
        _c("render", "--atlas (good)", f"render {FAST} --atlas {{W}}/atlas_ok.png",
           ["{W}/atlas_ok.png", "{W}/atlas_ok.json"], ok=True),
        _c("render", "no output given", f"render {FAST}"),
        _c("render", "--frames 0", "render --frames 0 -o {W}/f0.mp4"),
        _c("render", "--fps 0", "render --fps 0 -o {W}/fps0.mp4"),
        _c("render", "--fps nan", "render --fps nan -o {W}/fpsnan.mp4"),
        _c("render", "unknown clip", "render --clip moonwalk -o {W}/clip.mp4"),
        _c("render", "--size 0", "render --size 0 -o {W}/s0.mp4"),
        _c("render", "--size -64", "render --size -64 -o {W}/sneg.mp4"),
        _c("render", "--size 4096 (more memory than the machine has)", "render --size 4096 -o {W}/s4096.mp4"),
        _c("render", "--size 100000", "render --size 100000 -o {W}/s1e5.mp4"),
        _c("render", "--size abc", "render --size abc -o {W}/sabc.mp4"),
        _c("render", "--size not a multiple the model takes", "render --size 100 --frames 1 -o {W}/s100.mp4"),
        _c("render", "--yaw inf", "render --yaw inf -o {W}/yaw.mp4"),
        _c("render", "--yaw nan", "render --yaw nan -o {W}/yawnan.mp4"),
        _c("render", "--pitch -inf", "render --pitch=-inf -o {W}/pitch.mp4"),
        _c("render", "unknown --backend", f"render {FAST} --backend vulkan -o {{W}}/be.mp4"),
        _c("render", "--character missing", f"render {FAST} --character {{W}}/nope.glb -o {{W}}/c1.mp4"),
        _c("render", "--character is a folder", f"render {FAST} --character {{W}} -o {{W}}/c2.mp4"),
        _c("render", "--character .obj", f"render {FAST} --character {{W}}/bad/model.obj -o {{W}}/c3.mp4"),
        _c("render", "--character empty .glb", f"render {FAST} --character {{W}}/bad/empty.glb -o {{W}}/c4.mp4"),
        _c("render", "--character procedural:abc", f"render {FAST} --character procedural:abc -o {{W}}/c5.mp4"),
        _c("render", "load fails: no empty output folder left", f"render {FAST} --character {{W}}/bad/empty.glb "
           f"-o {{W}}/left_behind/", absent=["{W}/left_behind"]),
        _c("render", "load fails: no empty video folder left", f"render {FAST} --character {{W}}/bad/empty.glb "
           f"-o {{W}}/left_video/deep/x.mp4", absent=["{W}/left_video"]),
        _c("render2", "--sheet missing", f"render {FAST} --sheet {{W}}/nosheet -o {{W}}/sh1.mp4"),
        _c("render2", "--sheet is a file", f"render {FAST} --sheet {SHEET}/view0_yaw000.png -o {{W}}/sh2.mp4"),
        _c("render2", "--sheet empty folder", f"render {FAST} --sheet {{W}}/sheets/empty -o {{W}}/sh3.mp4"),
        _c("render2", "--sheet with opaque views", f"render {FAST} --sheet {{W}}/sheets/opaque -o {{W}}/sh4.mp4"),
        _c("render2", "--sheet with 1x1 views", f"render {FAST} --sheet {{W}}/sheets/tiny -o {{W}}/sh5.mp4"),
        _c("render2", "--sheet with a 12000x12000 view", f"render {FAST} --sheet {{W}}/sheets/huge -o {{W}}/sh6.mp4"),
        _c("render2", "--sheet with 20 views", f"render {FAST} --sheet {{W}}/sheets/many -o {{W}}/sh7.mp4"),
        _c("render2", "--sheet with a file that is not an image", f"render {FAST} --sheet {{W}}/sheets/text "
           f"-o {{W}}/sh8.mp4"),
        _c("render2", "--sheet with fully transparent views", f"render {FAST} --sheet {{W}}/sheets/clear "
           f"-o {{W}}/sh9.mp4"),
        _c("render2", "--sheet whose _udp.npz files are corrupt", f"render {FAST} --sheet {{W}}/sheets/bad_udp "
           f"-o {{W}}/sh10.mp4"),
        _c("render2", "--sheet whose _udp.npz files are the wrong size", f"render {FAST} --sheet "
           f"{{W}}/sheets/small_udp -o {{W}}/sh11.mp4"),
        _c("render2", "--weights missing", f"render {FAST} --weights {{W}}/nope.safetensors -o {{W}}/w1.mp4"),
        _c("render2", "--weights empty file", f"render {FAST} --weights {{W}}/w/empty.safetensors -o {{W}}/w2.mp4"),
        _c("render2", "--weights random bytes", f"render {FAST} --weights {{W}}/w/garbage.safetensors -o {{W}}/w3.mp4"),
        _c("render2", "--weights config metadata not JSON", f"render {FAST} --weights {{W}}/w/notjson.safetensors "
           f"-o {{W}}/w4.mp4"),
        _c("render2", "--weights config metadata a JSON list", f"render {FAST} --weights {{W}}/w/list.safetensors "
           f"-o {{W}}/w5.mp4"),
        _c("render2", "--weights without conrt metadata", f"render {FAST} --weights {{W}}/w/nometa.safetensors "
           f"-o {{W}}/w6.mp4"),
        _c("render2", "--weights with NaN values", f"render {FAST} --weights {{W}}/w/nan.safetensors -o {{W}}/w7.mp4"),
        _c("render2", "--weights with integer tensors", f"render {FAST} --weights {{W}}/w/int.safetensors "
           f"-o {{W}}/w8.mp4"),
        _c("render2", "--weights missing tensors", f"render {FAST} --weights {{W}}/w/missing.safetensors "
           f"-o {{W}}/w9.mp4"),
        _c("render2", "--weights fp16 (converted)", f"render {FAST} --weights {{W}}/w/fp16.safetensors "
           f"-o {{W}}/w10.mp4", ["{W}/w10.mp4"], ok=True),
        _c("render2", "--weights empty folder", f"render {FAST} --weights {{W}}/w/emptydir -o {{W}}/w11.mp4"),
        _c("render2", "--weights folder of corrupt .pth", f"render {FAST} --weights {{W}}/w/badpth -o {{W}}/w12.mp4"),
        _c("render2", "--weights unknown shipped name", f"render {FAST} --weights conr-nope -o {{W}}/w13.mp4"),
        # -- udp -------------------------------------------------------------------
        _c("udp", "--size 100000", f"udp {S} --size 100000 -o {{W}}/u1.npz"),
        _c("udp", "--size 0", f"udp {S} --size 0 -o {{W}}/u2.npz"),
        _c("udp", "--size 1e3 (not an integer)", f"udp {S} --size 1e3 -o {{W}}/u3.npz"),
        _c("udp", "--yaw inf", f"udp {S} --yaw inf -o {{W}}/u4.npz"),
        _c("udp", "--fov nan", f"udp {S} --projection perspective --fov nan -o {{W}}/u5.npz"),
        _c("udp", "--clip walk --frames 0", f"udp {S} --clip walk --frames 0 -o {{W}}/u6.npz"),
        _c("udp", "--frames 3 without --clip", f"udp {S} --frames 3 -o {{W}}/u7.npz"),
        _c("udp", "--time inf", f"udp {S} --clip walk --time inf -o {{W}}/u8.npz"),
        _c("udp", "-o not .npz", f"udp {S} -o {{W}}/u9.png"),
        _c("udp", "-o an existing folder", f"udp {S} -o {{W}}/isdir.npz"),
        _c("udp", "-o unwritable", f"udp {S} -o /proc/nope/u.npz"),
        _c("udp", "-o in missing folders (created)", f"udp {S} --size 64 -o {{W}}/udp_new/deep/u.npz",
           ["{W}/udp_new/deep/u.npz", "{W}/udp_new/deep/u.png"], ok=True),
        _c("udp", "--strength 10", f"udp {S} --pose random --strength 10 -o {{W}}/u10.npz"),
        _c("udp", "character missing", "udp {W}/nope.glb -o {W}/u11.npz"),
        _c("udp", "character: random bytes .glb", "udp {W}/bad/garbage.glb -o {W}/u12.npz"),
        _c("udp", "character: truncated .glb", "udp {W}/bad/truncated.glb -o {W}/u13.npz"),
        _c("udp", "character: .gltf that is not JSON", "udp {W}/bad/notjson.gltf -o {W}/u14.npz"),
        _c("udp", "character: .gltf without meshes", "udp {W}/bad/nomesh.gltf -o {W}/u15.npz"),
        _c("udp", "glTF buffer uri ../outside (confined)", "udp {W}/g/outside.gltf -o {W}/u16.npz"),
        _c("udp", "glTF buffer uri /etc/passwd (absolute)", "udp {W}/g/absolute.gltf -o {W}/u17.npz"),
        _c("udp", "glTF buffer uri /dev/zero", "udp {W}/g/devzero.gltf -o {W}/u18.npz"),
        _c("udp", "glTF buffer uri file:///etc/passwd", "udp {W}/g/fileuri.gltf -o {W}/u19.npz"),
        _c("udp", "glTF buffer file missing", "udp {W}/g/missing.gltf -o {W}/u20.npz"),
        _c("udp", "glTF buffer shorter than byteLength", "udp {W}/g/short.gltf -o {W}/u21.npz"),
        _c("udp", "glTF buffer a FIFO in the folder", "udp {W}/g/fifo.gltf -o {W}/u22.npz"),
        _c("udp", "glTF accessor claims 10^9 elements, no data", "udp {W}/g/count_nodata.gltf -o {W}/u23.npz"),
        _c("udp", "glTF accessor claims 10^9 elements of a buffer", "udp {W}/g/count_big.gltf -o {W}/u24.npz"),
        _c("udp", "glTF node cycle", "udp {W}/g/cycle.gltf -o {W}/u25.npz"),
        _c("udp", "glTF node child out of range", "udp {W}/g/badchild.gltf -o {W}/u26.npz"),
        _c("udp", "glTF image uri outside the folder (texture dropped)", "udp {W}/g/image_outside.gltf --size 64 "
           "-o {W}/u27.npz", ["{W}/u27.npz"], ok=True),
        _c("udp", "glTF data: buffer (good)", "udp {W}/g/datauri.gltf --size 64 -o {W}/u28.npz", ["{W}/u28.npz"],
           ok=True),
        _c("udp", "glTF image a 20000x20000 PNG (texture dropped)", "udp {W}/g/image_bomb.gltf --size 64 "
           "-o {W}/u29.npz", ["{W}/u29.npz"], ok=True),
        _c("udp", "character scaled x1000 (warned)", "udp {W}/g/scaled_big.gltf --size 64 -o {W}/u30.npz",
           ["{W}/u30.npz"], ok=True),
        _c("udp", "character scaled x1e-6 (warned)", "udp {W}/g/scaled_small.gltf --size 64 -o {W}/u31.npz",
           ["{W}/u31.npz"], ok=True),
        # -- sheet -----------------------------------------------------------------
        _c("sheet", "--views 0", f"sheet {S} --views 0 -o {{W}}/sv0"),
        _c("sheet", "--views 1000", f"sheet {S} --views 1000 -o {{W}}/sv1"),
        _c("sheet", "-o an existing file", f"sheet {S} -o {{W}}/afile"),
        _c("sheet", "-o unwritable", f"sheet {S} -o /proc/nope/sheet"),
        _c("sheet", "--size 100000", f"sheet {S} --size 100000 -o {{W}}/sv2"),
        _c("sheet", "character missing: no empty folder left", "sheet {W}/nope.glb -o {W}/sheet_left_behind",
           absent=["{W}/sheet_left_behind"]),
        _c("udp", "character missing: no empty folder left", "udp {W}/bad/empty.glb -o {W}/udp_left/x.npz",
           absent=["{W}/udp_left"]),
        _c("sheet", "--udp: previews kept apart from the views", f"sheet {S} --views 2 --size 64 --udp "
           f"-o {{W}}/sheet_udp", ["{W}/sheet_udp/view_00.png", "{W}/sheet_udp/view_00_udp.npz",
                                   "{W}/sheet_udp/previews/view_00_udp.png"], ok=True),
        # -- shade -----------------------------------------------------------------
        _c("shade", "a UDP preview given as a sheet view", f"shade --sheet {SH}/view0_yaw000.png "
           "{W}/sheets/udp_preview/view_00_udp.png --udp {W}/udp/ok.npz -o {W}/sd1.png"),
        _c("shade", "--sheet DIR (a folder, like render)", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz "
           "-o {W}/sd2.png", ["{W}/sd2.png"], ok=True),
        _c("shade", "--udp empty .npz file", f"shade --sheet {SH} --udp {{W}}/udp/empty.npz -o {{W}}/sd3.png"),
        _c("shade", "--udp truncated .npz", f"shade --sheet {SH} --udp {{W}}/udp/truncated.npz -o {{W}}/sd4.png"),
        _c("shade", "--udp .npz without key i", f"shade --sheet {SH} --udp {{W}}/udp/nokey.npz -o {{W}}/sd5.png"),
        _c("shade", "--udp shape (0, 0, 4)", f"shade --sheet {SH} --udp {{W}}/udp/shape0.npz -o {{W}}/sd6.png"),
        _c("shade", "--udp shape (H, W, 3)", f"shade --sheet {SH} --udp {{W}}/udp/shape3.npz -o {{W}}/sd7.png"),
        _c("shade", "--udp int array", f"shade --sheet {SH} --udp {{W}}/udp/int.npz -o {{W}}/sd8.png"),
        _c("shade", "--udp bool array", f"shade --sheet {SH} --udp {{W}}/udp/bool.npz -o {{W}}/sd9.png"),
        _c("shade", "--udp complex array", f"shade --sheet {SH} --udp {{W}}/udp/complex.npz -o {{W}}/sd10.png"),
        _c("shade", "--udp with NaN", f"shade --sheet {SH} --udp {{W}}/udp/nan.npz -o {{W}}/sd11.png"),
        _c("shade", "--udp values outside 0..1", f"shade --sheet {SH} --udp {{W}}/udp/range.npz -o {{W}}/sd12.png"),
        _c("shade", "--udp object array (pickle)", f"shade --sheet {SH} --udp {{W}}/udp/pickle.npz "
           "-o {W}/sd13.png"),
        _c("shade", "--udp .npz claiming 100000x100000x4 floats", f"shade --sheet {SH} --udp {{W}}/udp/bomb.npz "
           "-o {W}/sd25.png"),
        _c("shade", "--udp an RGB PNG", f"shade --sheet {SH} --udp {{W}}/udp/rgb.png -o {{W}}/sd14.png"),
        _c("shade", "--udp a 20000x20000 PNG", f"shade --sheet {SH} --udp {{W}}/img/bomb.png -o {{W}}/sd15.png"),
        _c("shade", "--udp a text file", f"shade --sheet {SH} --udp {{W}}/img/notpng.png -o {{W}}/sd16.png"),
        _c("shade", "--udp missing", f"shade --sheet {SH} --udp {{W}}/udp/nope.npz -o {{W}}/sd17.png"),
        _c("shade", "--sheet a 12000x12000 PNG", "shade --sheet {W}/sheets/huge/view.png --udp {W}/udp/ok.npz "
           "-o {W}/sd18.png"),
        _c("shade", "--sheet a 20000x20000 PNG (Pillow bomb)", "shade --sheet {W}/img/bomb.png "
           "--udp {W}/udp/ok.npz -o {W}/sd19.png"),
        _c("shade", "--sheet a truncated PNG", "shade --sheet {W}/img/truncated.png --udp {W}/udp/ok.npz "
           "-o {W}/sd20.png"),
        _c("shade", "--sheet a 1x1 view", "shade --sheet {W}/img/tiny.png --udp {W}/udp/ok.npz -o {W}/sd21.png"),
        _c("shade", "-o an existing folder", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz -o {{W}}/isdir.png"),
        _c("shade", "-o unwritable", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz -o /proc/nope/x.png"),
        _c("shade", "-o in missing folders (created)", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz "
           "-o {W}/shade_new/deep/x.npz", ["{W}/shade_new/deep/x.npz"], ok=True),
        _c("shade", "-o .jpg", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz -o {{W}}/x.jpg"),
        _c("shade", "--weights with NaN values", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz "
           "--weights {W}/w/nan.safetensors -o {W}/sd22.png"),
        _c("shade", "--weights fp16 (converted)", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz "
           "--weights {W}/w/fp16.safetensors -o {W}/sd23.png", ["{W}/sd23.png"], ok=True),
        _c("shade", "--size 100 (not a multiple)", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz --size 100 "
           "-o {W}/sd26.png"),
        _c("shade", "--official with an odd-sized UDP", f"shade --sheet {SH} --udp {{W}}/udp/odd.npz --official "
           "-o {W}/sd27.png", ["{W}/sd27.png"], ok=True),
        _c("shade", "opaque views --matting uniform", "shade --sheet {W}/sheets/opaque --udp {W}/udp/ok.npz "
           "--matting uniform -o {W}/sd28.png", ["{W}/sd28.png"], ok=True),
        _c("shade", "opaque views without --matting", "shade --sheet {W}/sheets/opaque --udp {W}/udp/ok.npz "
           "-o {W}/sd29.png"),
        _c("shade", "--config unknown", f"shade --sheet {SH} --udp {{W}}/udp/ok.npz --config conr-nope "
           "-o {W}/sd24.png"),
        # -- simulate, bvh, character --------------------------------------------
        _c("physics", "simulate -o in missing folders (created)", "simulate --frames 3 -o {W}/sim_new/p.npz",
           ["{W}/sim_new/p.npz"], ok=True),
        _c("physics", "simulate --out an existing folder", "simulate --frames 3 --out {W}/isdir.npz"),
        _c("physics", "simulate --out unwritable", "simulate --frames 3 --out /proc/nope/p.npz"),
        _c("physics", "simulate --out .txt", "simulate --frames 3 --out {W}/p.txt"),
        _c("physics", "simulate --frames 0", "simulate --frames 0"),
        _c("physics", "simulate --fps 0", "simulate --fps 0 --frames 2"),
        _c("physics", "simulate unknown clip", "simulate --clip moonwalk --frames 2"),
        _c("physics", "simulate --bvh missing", "simulate --bvh {W}/nope.bvh --frames 2"),
        _c("physics", "simulate --bvh empty file", "simulate --bvh {W}/m/empty.bvh --frames 2"),
        _c("physics", "simulate --bvh garbage", "simulate --bvh {W}/m/garbage.bvh --frames 2"),
        _c("physics", "simulate --bvh truncated", "simulate --bvh {W}/m/truncated.bvh --frames 2"),
        _c("physics", "simulate --animation on a procedural character", "simulate --character procedural:1 "
           "--animation 0 --frames 2"),
        _c("physics", "simulate --animation that does not exist", f"simulate --character {S} --animation 7 "
           "--frames 2"),
        _c("physics", "simulate --mode physical, RobotExpressive (finite joints)", f"simulate --character {RB} "
           "--mode physical --frames 30 -o {W}/robot.npz", ["{W}/robot.npz"], ok=True),
        _c("physics", "simulate --mode physical, RiggedSimple (no humanoid bones for the clip)", "simulate "
           f"--character {FIX}/RiggedSimple.glb --mode physical --frames 5"),
        _c("physics", "simulate --mode physical, RiggedSimple's own animation", "simulate --character "
           f"{FIX}/RiggedSimple.glb --animation 0 --mode physical --frames 5 -o {{W}}/rs.npz", ["{W}/rs.npz"],
           ok=True),
        _c("physics", "simulate --mode physical, Fox (no humanoid bones)", f"simulate --character {FIX}/Fox.glb "
           "--mode physical --frames 5"),
        _c("physics", "simulate --mode physical, VRM 0.x sphere", f"simulate --character {FIX}/univrm_sphere_vrm0.vrm "
           "--mode physical --frames 5"),
        _c("physics", "simulate --mode physical, SimpleSkin.gltf", f"simulate --character {FIX}/SimpleSkin.gltf "
           "--mode physical --frames 5"),
        _c("physics", "character info RobotExpressive", f"character info {RB}"),
        _c("udp", "udp --clip walk on Fox (no humanoid bones)", f"udp {FIX}/Fox.glb --clip walk -o {{W}}/fox.npz"),
        _c("physics", "simulate --character garbage .glb", "simulate --character {W}/bad/garbage.glb --frames 2"),
        _c("physics", "bvh info missing file", "bvh info {W}/nope.bvh"),
        _c("physics", "bvh info garbage", "bvh info {W}/m/garbage.bvh"),
        _c("physics", "character info missing", "character info {W}/nope.glb"),
        _c("physics", "character info truncated .glb", "character info {W}/bad/truncated.glb"),
        _c("physics", "character info node cycle", "character info {W}/g/cycle.gltf"),
        _c("physics", "character new -o unwritable", "character new --seed 1 -o /proc/nope/h.glb"),
        _c("physics", "character new -o an existing folder", "character new --seed 1 -o {W}/isdir.glb"),
        _c("physics", "character new -o .txt", "character new --seed 1 -o {W}/h.txt"),
        # -- export, convert -------------------------------------------------------
        _c("export", "export -o unwritable", "export -o /proc/nope/m.onnx"),
        _c("export", "export -o an existing folder", "export -o {W}/isdir.onnx"),
        _c("export", "export -o .txt", "export -o {W}/m.txt"),
        _c("export", "export --size 100000", "export --size 100000 -o {W}/big.onnx"),
        _c("export", "export --size 100 (not a multiple)", "export --size 100 -o {W}/s100.onnx"),
        _c("export", "export --weights not JSON metadata", "export --weights {W}/w/notjson.safetensors "
           "-o {W}/m.onnx"),
        _c("export", "convert a missing folder", "convert {W}/nope -o {W}/c.safetensors"),
        _c("export", "convert an empty folder", "convert {W}/w/emptydir -o {W}/c.safetensors"),
        _c("export", "convert corrupt .pth files", "convert {W}/w/badpth -o {W}/c.safetensors"),
        _c("export", "convert -o unwritable", "convert {W}/w/badpth -o /proc/nope/c.safetensors"),
        _c("export", "convert -o .pth", "convert {W}/w/badpth -o {W}/c.pth"),
        _c("export", "data make -o an existing file", "data make --characters 1 --poses 1 -o {W}/afile"),
        _c("export", "train --out an existing file", "train --data {W}/nope --out {W}/afile"),
        _c("export", "train --data missing", "train --data {W}/nope --out {W}/run"),
        _c("export", "bench --sizes abc", "bench --sizes abc"),
        _c("export", "bench --frames 0", "bench --frames 0"),
        _c("export", "bench --sizes 100000", "bench --sizes 128,100000"),
        _c("export", "demo -o an existing file", "demo --frames 2 -o {W}/afile"),
        _c("export", "eval --seeds backwards", "eval --seeds 10:5"),
        _c("physics", "character new --count 2 -o an existing file", "character new --seed 1 --count 2 -o {W}/afile"),
        _c("physics", "character new -o in missing folders (created)", "character new --seed 1 -o {W}/ch/new/h.glb",
           ["{W}/ch/new/h.glb"], ok=True),
    ]
    return out


# ---------------------------------------------------------------------------
# fixtures


def _png(path: Path, arr) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _glb_parts(path: Path):
    raw = path.read_bytes()
    clen, _ = struct.unpack_from("<II", raw, 12)
    doc = json.loads(raw[20:20 + clen])
    off = 20 + clen
    blen, _ = struct.unpack_from("<II", raw, off)
    return doc, raw[off + 8: off + 8 + blen]


def _gltf(folder: Path, name: str, doc: dict, edit) -> None:
    doc = json.loads(json.dumps(doc))
    edit(doc)
    (folder / f"{name}.gltf").write_text(json.dumps(doc))


def make_fixtures(w: Path) -> None:
    import numpy as np
    from PIL import Image

    w.mkdir(parents=True, exist_ok=True)
    (w / "isdir.mp4").mkdir(exist_ok=True)
    for n in ("isdir.npz", "isdir.png", "isdir.glb", "isdir.onnx"):
        (w / n).mkdir(exist_ok=True)
    (w / "afile").write_text("a regular file\n")
    bad = w / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "empty.glb").write_bytes(b"")
    (bad / "garbage.glb").write_bytes(os.urandom(4096))
    raw = SAMPLE.read_bytes()
    (bad / "truncated.glb").write_bytes(raw[: len(raw) // 2])
    (bad / "notjson.gltf").write_text("{ this is not json")
    (bad / "nomesh.gltf").write_text(json.dumps({"asset": {"version": "2.0"}}))
    (bad / "model.obj").write_text("v 0 0 0\n")
    # glTF variants of the sample character with an external buffer
    g = w / "g"
    g.mkdir(exist_ok=True)
    (w / "outside").mkdir(exist_ok=True)
    doc, blob = _glb_parts(SAMPLE)
    (g / "char.bin").write_bytes(blob)
    (w / "outside" / "secret.bin").write_bytes(blob)
    (g / "short.bin").write_bytes(blob[:1000])
    if not (g / "fifo.bin").exists():
        os.mkfifo(g / "fifo.bin")
    base = dict(doc)
    base["buffers"] = [{"byteLength": len(blob), "uri": "char.bin"}]

    def uri(u):
        return lambda d: d["buffers"][0].__setitem__("uri", u)

    for name, edit in {
        "good": lambda d: None,
        "outside": uri("../outside/secret.bin"),
        "absolute": uri("/etc/passwd"),
        "devzero": uri("/dev/zero"),
        "fileuri": uri("file:///etc/passwd"),
        "missing": uri("nope.bin"),
        "short": uri("short.bin"),
        "fifo": uri("fifo.bin"),
        "count_nodata": lambda d: d["accessors"].append({"componentType": 5126, "count": 10 ** 9, "type": "VEC3"})
        or d["meshes"][0]["primitives"][0]["attributes"].__setitem__("POSITION", len(d["accessors"]) - 1),
        "count_big": lambda d: d["accessors"][d["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
        .__setitem__("count", 10 ** 9),
        "cycle": lambda d: d["nodes"][1].setdefault("children", []).append(0),
        "badchild": lambda d: d["nodes"][0]["children"].append(100000),
        "scaled_big": lambda d: d["nodes"][0].__setitem__("scale", [1000.0, 1000.0, 1000.0]),
        "scaled_small": lambda d: d["nodes"][0].__setitem__("scale", [1e-6, 1e-6, 1e-6]),
        "datauri": lambda d: d["buffers"][0].__setitem__(
            "uri", "data:application/octet-stream;base64," + base64.b64encode(blob).decode()),
    }.items():
        _gltf(g, name, base, edit)
    # images: a texture outside the folder / a decompression bomb
    bomb = w / "img" / "bomb.png"
    bomb.parent.mkdir(exist_ok=True)
    if not bomb.exists():
        Image.new("1", (20000, 20000)).save(bomb)  # 400 M pixels, a few kB on disk
    shutil.copy(bomb, g / "bomb.png")
    shutil.copy(bomb, w / "outside" / "tex.png")

    def image_uri(u):
        def edit(d):
            d["images"] = [{"uri": u}]
        return edit

    _gltf(g, "image_outside", base, image_uri("../outside/tex.png"))
    _gltf(g, "image_bomb", base, image_uri("bomb.png"))
    # images
    img = w / "img"
    _png(img / "tiny.png", np.full((1, 1, 4), 200, np.uint8))
    (img / "notpng.png").write_text("not a png")
    good = (SHEET / "view0_yaw000.png").read_bytes()
    (img / "truncated.png").write_bytes(good[: len(good) // 3])
    # sheets
    sheets = w / "sheets"
    for name in ("empty", "opaque", "tiny", "huge", "many", "text", "clear", "bad_udp", "small_udp", "udp_preview"):
        (sheets / name).mkdir(parents=True, exist_ok=True)
    view = np.asarray(Image.open(SHEET / "view0_yaw000.png").convert("RGBA"))
    for k in range(4):
        _png(sheets / "opaque" / f"v{k}.png", np.concatenate([view[..., :3], np.full(view.shape[:2] + (1,), 255,
                                                                                      np.uint8)], -1))
        _png(sheets / "tiny" / f"v{k}.png", np.full((1, 1, 4), 200, np.uint8))
        _png(sheets / "clear" / f"v{k}.png", np.zeros((64, 64, 4), np.uint8))
        (sheets / "text" / f"v{k}.png").write_text("text")
    huge = sheets / "huge" / "view.png"
    if not huge.exists():
        Image.new("LA", (12000, 12000)).save(huge)
    for k in range(20):
        shutil.copy(SHEET / "view0_yaw000.png", sheets / "many" / f"v{k:02d}.png")
    for k, p in enumerate(sorted(SHEET.glob("*.png"))[:4]):
        shutil.copy(p, sheets / "bad_udp" / p.name)
        (sheets / "bad_udp" / (p.stem + "_udp.npz")).write_bytes(b"PK\x03\x04 truncated")
        shutil.copy(p, sheets / "small_udp" / p.name)
        np.savez(sheets / "small_udp" / (p.stem + "_udp.npz"), i=np.zeros((8, 8, 4), np.float32))
    udp_ok = np.load(SHEET / "view0_yaw000_udp.npz")["i"]
    _png(sheets / "udp_preview" / "view_00_udp.png", (np.clip(udp_ok, 0, 1) * 255).astype(np.uint8))
    np.savez(sheets / "udp_preview" / "view_00_udp.npz", i=udp_ok)
    # UDP files
    u = w / "udp"
    u.mkdir(exist_ok=True)
    np.savez(u / "ok.npz", i=udp_ok)
    (u / "empty.npz").write_bytes(b"")
    okb = (u / "ok.npz").read_bytes()
    (u / "truncated.npz").write_bytes(okb[: len(okb) // 2])
    np.savez(u / "nokey.npz", x=udp_ok)
    np.savez(u / "odd.npz", i=np.pad(udp_ok, ((3, 20), (7, 0), (0, 0))))
    np.savez(u / "shape0.npz", i=np.zeros((0, 0, 4), np.float32))
    np.savez(u / "shape3.npz", i=udp_ok[..., :3])
    np.savez(u / "int.npz", i=(udp_ok * 255).astype(np.int32))
    np.savez(u / "bool.npz", i=udp_ok > 0.5)
    np.savez(u / "complex.npz", i=udp_ok.astype(np.complex64))
    nan = udp_ok.copy()
    nan[0, 0, 0] = np.nan
    np.savez(u / "nan.npz", i=nan)
    np.savez(u / "range.npz", i=udp_ok * 5 - 2)
    np.savez(u / "pickle.npz", i=np.array([{"a": 1}], dtype=object))
    _png(u / "rgb.png", (np.clip(udp_ok[..., :3], 0, 1) * 255).astype(np.uint8))
    header = io.BytesIO()  # claims 100000 x 100000 x 4 floats in a 1 kB file
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (100000, 100000, 4)})
    import zipfile

    with zipfile.ZipFile(u / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("i.npy", header.getvalue() + bytes(1000))
    # weights
    _make_weights(w / "w")
    # motion files
    m = w / "m"
    m.mkdir(exist_ok=True)
    (m / "empty.bvh").write_text("")
    (m / "garbage.bvh").write_bytes(os.urandom(2048))
    text = BVH.read_text()
    (m / "truncated.bvh").write_text(text[: len(text) // 3])


def _make_weights(d: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from conrt.runtime.nn.checkpoint import DEFAULT_WEIGHTS, FORMAT, read_config

    d.mkdir(parents=True, exist_ok=True)
    (d / "emptydir").mkdir(exist_ok=True)
    (d / "badpth").mkdir(exist_ok=True)
    for part in ("udpparsernet", "target_pose_encoder", "shader", "rgbadecodernet"):
        (d / "badpth" / f"{part}.pth").write_bytes(os.urandom(512))
    (d / "empty.safetensors").write_bytes(b"")
    (d / "garbage.safetensors").write_bytes(os.urandom(4096))
    sd = load_file(str(DEFAULT_WEIGHTS))
    cfg = read_config(DEFAULT_WEIGHTS).to_json()
    meta = {"format": FORMAT, "config": cfg}
    save_file(sd, str(d / "notjson.safetensors"), metadata={"format": FORMAT, "config": "{not json"})
    save_file(sd, str(d / "list.safetensors"), metadata={"format": FORMAT, "config": "[1, 2]"})
    save_file(sd, str(d / "nometa.safetensors"))
    save_file({k: v.half() for k, v in sd.items()}, str(d / "fp16.safetensors"), metadata=meta)
    nan = dict(sd)
    k0 = next(iter(nan))
    nan[k0] = torch.full_like(nan[k0], float("nan"))
    save_file(nan, str(d / "nan.safetensors"), metadata=meta)
    save_file({k: v.to(torch.int32) for k, v in sd.items()}, str(d / "int.safetensors"), metadata=meta)
    missing = dict(sd)
    missing.pop(k0)
    save_file(missing, str(d / "missing.safetensors"), metadata=meta)


# ---------------------------------------------------------------------------
# running


def _outputs_missing(case: Case, w: Path) -> list[str]:
    missing = []
    for o in case.outputs:
        p = Path(o.replace("{W}", str(w)))
        if not (p.is_file() and p.stat().st_size > 0):
            missing.append(str(p))
    return missing


def run_case(case: Case, w: Path) -> dict:
    """Run one case in this process through conrt.cli.main, output captured."""
    import logging

    from conrt.cli import main

    argv = [a.replace("{W}", str(w)) for a in case.argv]
    root = logging.getLogger()
    for h in list(root.handlers):  # basicConfig binds to the captured stderr below
        root.removeHandler(h)
    out, err = io.StringIO(), io.StringIO()
    escaped = None

    def on_alarm(*_):
        raise TimeoutError(f"case ran over {CASE_TIMEOUT_S} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(CASE_TIMEOUT_S)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse
                rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # noqa: BLE001 - this is what the table counts
        import traceback

        escaped = "".join(traceback.format_exception(exc))
        rc = "exception"
    finally:
        signal.alarm(0)
    seconds = time.perf_counter() - t0
    text = out.getvalue() + err.getvalue()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    error = next((ln for ln in lines if ln.startswith("ERROR")), None) or \
        next((ln for ln in reversed(lines) if "error:" in ln), None)
    warning = next((ln for ln in lines if ln.startswith("WARNING")), None)
    error, warning = (x.replace(str(w), "{W}") if x else x for x in (error, warning))
    return {"group": case.group, "input": case.input, "command": "conrt " + " ".join(case.argv), "rc": rc,
            "traceback": bool(escaped) or "Traceback (most recent call last)" in text,
            "claimed_missing": _outputs_missing(case, w) if rc == 0 else [],
            "leftovers": [p for p in (a.replace("{W}", str(w)) for a in case.absent) if Path(p).exists()],
            "expect_ok": case.expect_ok, "error": error, "warning": warning, "seconds": round(seconds, 2),
            "escaped": escaped, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def worker(group: str, w: Path, only: str | None) -> None:
    os.environ.pop("DISPLAY", None)
    all_cases = cases()
    ids = {id(c): k for k, c in enumerate(all_cases)}
    for case in all_cases:
        if case.group != group or (only and only not in case.input + " ".join(case.argv)):
            continue
        row = run_case(case, w)
        row["id"] = ids[id(case)]
        print("ROW " + json.dumps(row), flush=True)


def run_all(w: Path, only: str | None = None, jobs: int = 2) -> list[dict]:
    groups = sorted({c.group for c in cases()})
    procs = {}
    rows: list[dict] = []
    pending = list(groups)
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    while pending or procs:
        while pending and len(procs) < jobs:
            g = pending.pop(0)
            procs[g] = subprocess.Popen([sys.executable, __file__, "--worker", g, "--work", str(w)]
                                        + (["--only", only] if only else []), stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, env=env, cwd=w)
        for g, p in list(procs.items()):
            if p.poll() is not None:
                for line in p.stdout.read().splitlines():
                    if line.startswith("ROW "):
                        rows.append(json.loads(line[4:]))
                if p.returncode:
                    rows.append({"id": 10 ** 6, "group": g, "input": f"worker {g} died (rc {p.returncode})", "command": "",
                                 "rc": p.returncode, "traceback": True, "claimed_missing": [], "leftovers": [],
                                 "expect_ok": False,
                                 "error": None, "warning": None, "seconds": 0, "escaped": None, "rss_mb": 0})
                del procs[g]
        time.sleep(0.2)
    rows.sort(key=lambda r: r.get("id", 10 ** 6))
    return rows


def markdown(rows: list[dict], seconds: float) -> str:
    tb = sum(r["traceback"] for r in rows)
    claimed = sum(bool(r["claimed_missing"]) for r in rows)
    wrong_ok = [r for r in rows if r["expect_ok"] and r["rc"] != 0]
    left = sum(bool(r["leftovers"]) for r in rows)
    peak = max((r["rss_mb"] for r in rows), default=0)
    lines = [
        "# Reliability: bad inputs",
        "",
        "Generated by `python benchmarks/reliability_table.py` (do not edit by hand): every row is",
        "one `conrt` command line on a prepared bad input (`{W}`: the work folder the script fills),",
        "run through the CLI's `main` in a worker process per command group.",
        "",
        "- *rc*: 1 is a named conrt error (one line, `ERROR conrt: ...`), 2 argparse's usage error;",
        "- *traceback*: an exception escaped or a traceback was printed;",
        "- *claimed*: rc 0 but a file the command writes is missing or empty;",
        "- *left behind*: a failed run left a folder or file it made;",
        "- rows marked ✓ are good inputs beside the bad ones (they must succeed and write their files).",
        "",
        f"**{len(rows)} cases: {tb} tracebacks, {claimed} rc 0 without the output, "
        f"{len(wrong_ok)} good inputs failing, {left} leaving files behind.**",
        "",
        f"Largest worker peak RSS {peak} MB: the 12000² and 20000² images, the /dev/zero buffer and",
        "the 10⁹-element accessors are refused before any large allocation;",
        f"run time {seconds:.0f} s on a shared 2-core machine.",
        "",
        "Limits live in one place, `conrt/limits.py` (frame side ≤ 8192 and the memory it needs, ≤ 64 M",
        "image pixels checked from the header, glTF files inside the asset's folder and at most their",
        "`byteLength`, ≤ 16 M accessor elements, output paths checked before the work).",
        "",
        "| # | input | command | rc | what the user sees | traceback | claimed | left behind |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(rows, 1):
        msg = r["error"] or r["warning"] or ("(ok)" if r["rc"] == 0 else "")
        msg = msg.replace("|", "\\|").replace(str(ROOT), ".")
        msg = msg if len(msg) <= 200 else msg[:197] + "..."
        cmd = r["command"].replace("|", "\\|").replace(str(ROOT) + "/", "")
        mark = " ✓" if r["expect_ok"] else ""
        lines.append(f"| {k} | {r['input']}{mark} | `{cmd}` | {r['rc']} | {msg} | "
                     f"{'**yes**' if r['traceback'] else 'no'} | {'**yes**' if r['claimed_missing'] else 'no'} | "
                     f"{'**yes**' if r['leftovers'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    ap.add_argument("--only", default=None, help="only cases whose input or command contains this text")
    ap.add_argument("--print", action="store_true", help="print the table instead of writing --out")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.work, args.only)
        return 0
    tmp = None
    w = args.work
    if w is None:
        tmp = tempfile.TemporaryDirectory(prefix="conrt-reliability-")
        w = Path(tmp.name)
    t0 = time.perf_counter()
    make_fixtures(w)
    rows = run_all(w, args.only, args.jobs)
    text = markdown(rows, time.perf_counter() - t0)
    if args.print:
        print(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}: {len(rows)} cases")
    for r in rows:
        if r["traceback"] or r["claimed_missing"] or r["leftovers"] or (r["expect_ok"] and r["rc"] != 0):
            print(f"FAIL {r['input']}: rc {r['rc']} {r['error']}\n{r['escaped'] or ''}", file=sys.stderr)
    (w / "rows.json").write_text(json.dumps(rows, indent=1))
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
