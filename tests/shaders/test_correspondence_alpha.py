"""The exact correspondences' surface maps apply the UDP pass's alpha rule
(issue #15 item 2: real characters with cut-outs).

A sheet from ``conrt sheet --udp`` of the hand-built glTF of
test_alpha_modes.py (an opaque grey body; in front of it a MASK quad whose
left half is transparent, a BLEND quad whose bottom half is under 0.5 alpha,
and a single-sided quad seen from its back). The sheet's UDP file is drawn
with the UDP pass's rule: behind the MASK hole, the thin BLEND half and the
culled quad it shows the body. The correspondence pass draws its own surface
map of the view from the mesh: it must be that UDP file (before: the cut-out
quads hid the body there, so a target point on the body behind them was
judged unseen by the view and left to the network instead of taking the
sheet's grey).
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SIZE = 128
# the body plane's points behind the MASK hole, the thin BLEND half and the culled back-facing quad
BEHIND = {"MASK hole": (-0.33, 0.72), "thin BLEND": (0.35, 0.62), "culled back face": (-0.15, 0.25)}

_spec = importlib.util.spec_from_file_location("conrt_test_alpha_layers", Path(__file__).with_name("test_alpha_modes.py"))
layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layers)


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    """``conrt sheet --udp`` (1 front view, rest pose) of the layered file: the
    character as the CLI loads it, the view's camera and pose, its picture
    (premultiplied [1, 4, S, S]) and its UDP file."""
    from PIL import Image

    from conrt.commands.udp import load_character_file
    from conrt.shaders.view_file import load_view_file
    from runtime.nn.sheet import read_udp

    tmp = tmp_path_factory.mktemp("alpha_sheet")
    path = layers._layered_gltf(tmp / "layers.glb", back_double_sided=False, skinned=True)
    out = tmp / "sheet"
    r = subprocess.run([sys.executable, "-m", "conrt", "sheet", str(path), "--views", "1", "--strength", "0",
                        "--size", str(SIZE), "--udp", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    character = load_character_file(path)
    camera, pose = load_view_file(out / "view_00_view.npz", character.skeleton.num_joints)
    img = np.asarray(Image.open(out / "view_00.png").convert("RGBA")).astype(np.float32) / 255.0
    reference = np.concatenate([img[..., :3] * img[..., 3:], img[..., 3:]], -1).transpose(2, 0, 1)[None]
    return character, camera, pose, img, reference, read_udp(out / "view_00_udp.npz")


def _surface_map(p) -> np.ndarray:
    """The pass's surface map of view 0, decoded from its packed sheet texture
    (``pack_sheet``): [S, S, 4] landmark xyz, w = 1 where shown."""
    packed = np.frombuffer(p._surface.read(), np.uint32).reshape(-1, p.side, p.side, 4)[0]
    lo, hi = (packed & 0xFFFF).astype(np.float32) / 65535.0, (packed >> 16).astype(np.float32) / 65535.0
    return np.stack([lo[..., 0], hi[..., 0], lo[..., 1], hi[..., 3]], -1)


def _pixel(camera, x, y, z=0.0):
    from conrt.shaders.camera import project

    (px, py), = project(camera, np.array([[x, y, z]]))
    return int(py), int(px)  # row, column


def _pass(gl_ctx, character, camera, pose, reference):
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView

    p = CorrespondencePass(gl_ctx, SIZE, SIZE)
    p.set_character(character)
    p.set_sheet([SheetView("exact", camera=camera, pose=pose, name="view_00")], reference)
    return p


def test_the_surface_map_is_the_sheets_own_udp_file(gl_ctx, sheet):
    character, camera, pose, _, reference, udp = sheet
    with _pass(gl_ctx, character, camera, pose, reference) as p:
        surface = _surface_map(p)
    shown, covered = surface[..., 3] > 0.5, udp[..., 3] > 0.5
    # the same pixels: the views' vertices are projected on the host in float64 here and by the
    # GPU's matrix there, so a vertex can land across a pixel centre on a silhouette (measured: none)
    assert (shown != covered).sum() <= 0.005 * covered.sum(), (shown != covered).sum()
    both = shown & covered
    # the same surface there: the landmarks within the map's 16-bit storage (7.6e-6) and the two
    # interpolations' float32 rounding, far below the 0.01 between the body and the quads in front
    assert np.abs(surface[both][:, :3] - udp[both][:, :3]).max() < 1e-4
    body_z = udp[_pixel(camera, 0.0, 0.05)][2]
    for name, (x, y) in BEHIND.items():
        row, col = _pixel(camera, x, y)
        assert shown[row, col] and abs(surface[row, col, 2] - body_z) < 1e-4, (name, surface[row, col])


def test_a_target_behind_a_cut_out_takes_the_sheet_colour_behind_it(gl_ctx, sheet):
    """A target camera turned 15° from the sheet's, through the UDP pass's
    visibility buffer (as the runtime): the body behind each cut-out is seen
    by the view and takes the sheet's colour of that point."""
    from conrt.shaders import UdpPass, frame_character
    from conrt.characters.posing import posed_positions

    character, camera, pose, img, reference, _ = sheet
    target = frame_character(posed_positions(character, pose), yaw=15.0, size=SIZE)
    with UdpPass(gl_ctx, SIZE, SIZE, visibility=True) as udp, _pass(gl_ctx, character, camera, pose, reference) as p:
        udp.set_character(character)
        udp.render(pose, target)
        sampled, cover = p.run(pose, target, visibility=udp.visibility)
    for name, (x, y) in BEHIND.items():
        t, s = _pixel(target, x, y), _pixel(camera, x, y)
        assert cover[0, 0][t] > 0.99, (name, cover[0, 0][t])
        # the sheet's colour of the point (sRGB, straight): a bilinear sample of flat-coloured texels
        np.testing.assert_allclose(sampled[0, :3][:, t[0], t[1]], img[s][:3], atol=3 / 255, err_msg=name)


def test_the_pass_own_raster_covers_as_the_udp_pass(gl_ctx, sheet):
    """Without the UDP pass's visibility buffer the pass rasterizes the target
    itself: with the same alpha rule, so each pixel shows the same triangle."""
    from conrt.shaders import UdpPass, frame_character
    from conrt.characters.posing import posed_positions

    character, camera, pose, _, reference, _ = sheet
    target = frame_character(posed_positions(character, pose), yaw=15.0, size=SIZE)
    with UdpPass(gl_ctx, SIZE, SIZE, visibility=True) as udp, _pass(gl_ctx, character, camera, pose, reference) as p:
        udp.set_character(character)
        udp.render(pose, target)
        p.run(pose, target)
        own = np.frombuffer(p._vbuf.read(), np.float32).reshape(SIZE, SIZE, 4)[..., 0]
        shared = np.frombuffer(udp.visibility.read(), np.float32).reshape(SIZE, SIZE, 4)[..., 0]
    np.testing.assert_array_equal(own, shared)


def test_procedural_layer_cards_are_cut_outs_in_the_udp_and_the_surface_map(gl_ctx):
    """``generate(seed, layers=True)``: MASK highlight cards over the eyes
    (double-sided) and BLEND blush cards (single-sided), textured with alpha;
    the default keeps every seed's mesh. Seen from the front and from 30° to
    the side, the surface map is the UDP pass's UDP."""
    from conrt.characters.expressions import with_expressions
    from conrt.characters.posing import posed_positions, rest_pose
    from conrt.characters.procedural import generate
    from conrt.shaders import UdpPass, frame_character
    from conrt.shaders.correspondence_pass import CorrespondencePass, SheetView
    from conrt.types import ALPHA_MODES

    assert generate(900001).mesh.alpha_mode is None  # off by default: the seed's mesh as before
    character = generate(900001, layers=True)
    mesh = character.mesh
    mask, blend = mesh.alpha_mode == ALPHA_MODES.index("MASK"), mesh.alpha_mode == ALPHA_MODES.index("BLEND")
    assert mask.sum() > 0 and blend.sum() > 0 and mesh.double_sided[mask].all() and not mesh.double_sided[blend].any()
    pose = rest_pose(character)
    positions = posed_positions(character, pose)
    size = 256  # the whole character framed (as a sheet view: its depth range), the face ~40 px wide
    cameras = [frame_character(positions, yaw=yaw, size=size) for yaw in (0.0, 30.0)]
    with UdpPass(gl_ctx, size, size, visibility=True) as udp:
        udp.set_character(character)
        udps = [udp.run(pose, cam).data.copy() for cam in cameras]
        cards = []  # per pixel the triangle the UDP shows
        for q, cam in [(pose, c) for c in cameras] + [(with_expressions(pose, character, {"blink": 1.0}), cameras[0])]:
            udp.run(q, cam)
            cards.append(np.frombuffer(udp.visibility.read(), np.float32).reshape(size, size, 4)[..., 0].astype(int) - 1)
    with CorrespondencePass(gl_ctx, size, size) as p:
        p.set_character(character)
        reference = np.stack([u.transpose(2, 0, 1) for u in udps])
        p.set_sheet([SheetView("exact", camera=c, pose=pose) for c in cameras], reference)
        packed = np.frombuffer(p._surface.read(), np.uint32).reshape(2, size, size, 4)
        on_mask = [np.where(t >= 0, mask[p._triangles[np.maximum(t, 0), 0]], False) for t in cards]
    for k, u in enumerate(udps):
        shown = (packed[k, ..., 3] >> 16) > 0
        landmark = np.stack([packed[k, ..., 0] & 0xFFFF, packed[k, ..., 0] >> 16, packed[k, ..., 1] & 0xFFFF], -1)
        covered = u[..., 3] > 0.5
        assert (shown != covered).sum() <= 0.005 * covered.sum(), (shown != covered).sum()
        both = shown & covered
        assert np.abs(landmark[both] / 65535.0 - u[both][:, :3]).max() < 1e-4
        assert on_mask[k].sum() > 0  # the highlight discs show (a pixel or two each at this size)
    assert on_mask[2].sum() == 0  # closed lids: the highlights sank under them (the blink morph)


def test_saved_characters_keep_their_alpha_flags(tmp_path):
    """``save_character`` writes one material: the per-vertex MASK/BLEND modes,
    cutoffs and double-sided flags travel in conrt's extras and load back
    (before: the cards came back OPAQUE, drawn as white and pink squares)."""
    from conrt.characters.gltf_io import load_character, save_character
    from conrt.characters.procedural import generate

    character = generate(900001, layers=True)
    loaded = load_character(save_character(character, tmp_path / "layers.glb"))
    for name in ("alpha_mode", "alpha_cutoff", "double_sided"):
        np.testing.assert_array_equal(getattr(loaded.mesh, name), getattr(character.mesh, name), err_msg=name)
    plain = load_character(save_character(generate(900001), tmp_path / "plain.glb"))
    assert plain.mesh.alpha_mode is None and plain.mesh.double_sided is None


def test_training_data_draws_a_fraction_of_characters_with_layer_cards():
    """``conrt data make --layers F``: about F of the characters get the cut-out
    cards (their own rng stream), the spec round-trips through the manifest,
    and manifests from before the option read as 0."""
    from conrt.errors import ConfigError
    from conrt.training.datagen import DataSpec

    spec = DataSpec(characters=200, poses=2, size=32, layers=0.5).validate()
    drawn = np.array([spec.layers_of(i) for i in range(200)])
    assert 70 < drawn.sum() < 130
    assert not any(DataSpec(characters=200, poses=2, size=32).layers_of(i) for i in range(200))
    assert DataSpec.from_dict(spec.to_dict()) == spec
    old = spec.to_dict()
    del old["layers"]
    assert DataSpec.from_dict(old).layers == 0.0
    with pytest.raises(ConfigError, match="--layers"):
        DataSpec(characters=2, poses=2, size=32, layers=1.5).validate()
