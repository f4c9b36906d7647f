"""glTF material alpha in the toon and UDP passes, on a hand-built glTF
(pygltflib): an opaque grey body with textured layers in front of it, as VRoid
eyes and brows are made.

- MASK layer (alphaCutoff 0.5): left half of its texture transparent black,
  right half opaque red -> body grey on the left (not a dark box), red on the right;
- BLEND layer: top half blue at alpha 160, bottom half at alpha 64, reaching
  past the body's edge -> blended over the body; beyond it, covered (and in the
  UDP) only where its alpha reaches 0.5, in its own colour;
- a single-sided quad facing away from the camera is culled, the same quad
  double-sided is drawn.
"""
from __future__ import annotations

import numpy as np
import pygltflib
import pytest

from conrt.characters.gltf_io import load_character
from conrt.characters.posing import rest_pose
from conrt.errors import AssetError
from conrt.shaders.camera import orbit_camera, project
from conrt.shaders.toon_pass import ToonPass, ToonStyle
from conrt.shaders.udp_pass import UdpPass
from conrt.types import ALPHA_MODES

SIZE = 96
GREY = 0.5  # linear body colour -> sRGB 188
GREY_SRGB = 188


def _png(rgba: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return buf.getvalue()


def _layered_gltf(path, back_double_sided: bool, mask_mode: str = "MASK", skinned: bool = False):
    """Body quad z=0 (x -0.5..0.5, y 0..1); MASK quad z=0.01 (x -0.4..-0.05, y 0.55..0.9);
    BLEND quad z=0.01 (x 0.2..0.7, y 0.55..0.9); back-facing quad z=0.01 (x -0.4..0.1, y 0.1..0.4)."""
    blob = bytearray()
    g = pygltflib.GLTF2(asset=pygltflib.Asset(version="2.0"), scene=0, scenes=[pygltflib.Scene(nodes=[0])],
                        nodes=[pygltflib.Node(mesh=0)], meshes=[pygltflib.Mesh(primitives=[])],
                        samplers=[pygltflib.Sampler(magFilter=9728, minFilter=9728)])  # nearest: crisp halves

    def view(data: bytes) -> int:
        while len(blob) % 4:
            blob.append(0)
        g.bufferViews.append(pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data)))
        blob.extend(data)
        return len(g.bufferViews) - 1

    def acc(arr, ctype, typ) -> int:
        arr = np.ascontiguousarray(arr)
        a = pygltflib.Accessor(bufferView=view(arr.tobytes()), componentType=ctype, count=len(arr), type=typ)
        if typ == "VEC3":
            a.min, a.max = arr.min(0).tolist(), arr.max(0).tolist()
        g.accessors.append(a)
        return len(g.accessors) - 1

    def texture(rgba) -> int:
        g.images.append(pygltflib.Image(bufferView=view(_png(rgba)), mimeType="image/png"))
        g.textures.append(pygltflib.Texture(source=len(g.images) - 1, sampler=0))
        return len(g.textures) - 1

    def quad(x0, x1, y0, y1, z, material, facing=1.0):
        pos = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], np.float32)
        uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)  # glTF v down: top row is v = 0
        nrm = np.tile([0, 0, facing], (4, 1)).astype(np.float32)
        tri = np.array([0, 1, 2, 0, 2, 3] if facing > 0 else [0, 2, 1, 0, 3, 2], np.uint32)
        attrs = pygltflib.Attributes(POSITION=acc(pos, 5126, "VEC3"), NORMAL=acc(nrm, 5126, "VEC3"),
                                     TEXCOORD_0=acc(uv, 5126, "VEC2"))
        if skinned:  # every vertex on the one joint
            attrs.JOINTS_0 = acc(np.zeros((4, 4), np.uint16), 5123, "VEC4")
            attrs.WEIGHTS_0 = acc(np.tile(np.array([1, 0, 0, 0], np.float32), (4, 1)), 5126, "VEC4")
        g.meshes[0].primitives.append(pygltflib.Primitive(attributes=attrs, indices=acc(tri, 5125, "SCALAR"),
                                                          material=material))

    def material(name, mode, tex=None, double=True, factor=(1, 1, 1, 1), cutoff=None):
        pbr = pygltflib.PbrMetallicRoughness(baseColorFactor=list(factor), metallicFactor=0.0)
        if tex is not None:
            pbr.baseColorTexture = pygltflib.TextureInfo(index=tex)
        g.materials.append(pygltflib.Material(name=name, pbrMetallicRoughness=pbr, alphaMode=mode,
                                              alphaCutoff=cutoff, doubleSided=double))
        return len(g.materials) - 1

    white = np.full((8, 8, 4), 255, np.uint8)
    mask = np.zeros((8, 8, 4), np.uint8)
    mask[:, 4:] = (255, 0, 0, 255)  # left half transparent black, right half opaque red
    blend = np.zeros((8, 8, 4), np.uint8)
    blend[:4] = (0, 0, 255, 160)
    blend[4:] = (0, 0, 255, 64)
    quad(-0.5, 0.5, 0.0, 1.0, 0.0, material("body", "OPAQUE", texture(white), factor=(GREY, GREY, GREY, 1)))
    quad(-0.4, -0.05, 0.55, 0.9, 0.01, material("layer_a", mask_mode, texture(mask), cutoff=0.5))
    quad(0.2, 0.7, 0.55, 0.9, 0.01, material("layer_b", "BLEND", texture(blend)))
    quad(-0.4, 0.1, 0.1, 0.4, 0.01, material("back", "OPAQUE", texture(white), double=back_double_sided,
                                              factor=(0.0, 0.6, 0.0, 1)), facing=-1.0)
    if skinned:
        g.nodes[0].skin = 0
        g.nodes.append(pygltflib.Node(name="root"))
        g.scenes[0].nodes.append(1)
        g.skins = [pygltflib.Skin(joints=[1], inverseBindMatrices=acc(np.eye(4, dtype=np.float32)[None], 5126, "MAT4"))]
    g.buffers = [pygltflib.Buffer(byteLength=len(blob))]
    g.set_binary_blob(bytes(blob))
    g.save_binary(str(path))
    return path


def _draw(gl_ctx, character):
    pose = rest_pose(character)
    camera = orbit_camera((0.1, 0.5, 0.0), 0.75, size=SIZE)
    with ToonPass(gl_ctx, SIZE, SIZE, ToonStyle(line_width=0)) as toon, UdpPass(gl_ctx, SIZE, SIZE) as udp:
        toon.set_character(character)
        udp.set_character(character)
        return toon.run(pose, camera), udp.run(pose, camera).data, camera


def _px(camera, x, y, z=0.01):
    (px, py), = project(camera, np.array([[x, y, z]]))
    return int(py), int(px)  # row, column


def test_loader_keeps_each_primitives_alpha_mode(tmp_path):
    c = load_character(_layered_gltf(tmp_path / "layers.glb", back_double_sided=False), allow_static=True)
    modes = {ALPHA_MODES[m] for m in np.unique(c.mesh.alpha_mode)}
    assert modes == {"OPAQUE", "MASK", "BLEND"}
    assert c.mesh.double_sided is not None and c.mesh.double_sided.sum() == 12  # body, MASK, BLEND: 4 each
    assert np.allclose(c.mesh.alpha_cutoff[c.mesh.alpha_mode == 1], 0.5)
    # several textures -> an atlas: a layer's uv spans its whole 8-texel tile (u = 1 once wrapped to 0)
    u = c.mesh.uv[c.mesh.alpha_mode == 1, 0]
    assert (u.max() - u.min()) * c.mesh.material.base_color_texture.shape[1] > 0.8 * 8  # (less half a texel each side)


def test_mask_and_blend_layers_and_single_sided_culling(gl_ctx, tmp_path):
    c = load_character(_layered_gltf(tmp_path / "layers.glb", back_double_sided=False), allow_static=True)
    rgba, udp, cam = _draw(gl_ctx, c)
    # coverage: toon alpha > 0 exactly where the UDP covers
    assert np.array_equal(rgba[..., 3] > 0, udp[..., 3] == 1)
    body = rgba[_px(cam, 0.0, 0.05)][:3].astype(int)
    assert np.abs(body - GREY_SRGB).max() <= 2
    # MASK: transparent half shows the body (no dark box), opaque half is red
    assert np.abs(rgba[_px(cam, -0.33, 0.72)][:3].astype(int) - GREY_SRGB).max() <= 2
    assert tuple(rgba[_px(cam, -0.12, 0.72)][:3]) == (255, 0, 0)
    # BLEND over the body: sRGB "over" mix of blue and grey
    for y, a in ((0.82, 160 / 255), (0.62, 64 / 255)):
        r, g_, b, _ = rgba[_px(cam, 0.35, y)].astype(int)
        assert abs(r - GREY_SRGB * (1 - a)) <= 3 and abs(b - (255 * a + GREY_SRGB * (1 - a))) <= 3
    # BLEND past the body's edge: covered (toon and UDP) where alpha >= 0.5, in its own colour
    top, bottom = _px(cam, 0.62, 0.82), _px(cam, 0.62, 0.62)
    assert udp[top][3] == 1 and tuple(rgba[top][:3]) == (0, 0, 255) and rgba[top][3] == 255
    assert udp[bottom][3] == 0 and rgba[bottom][3] == 0
    # single-sided quad seen from behind: culled, the body shows through
    assert np.abs(rgba[_px(cam, -0.15, 0.25)][:3].astype(int) - GREY_SRGB).max() <= 2
    # the UDP under a culled face or a MASK hole is the body's (z landmark of the body plane)
    assert udp[_px(cam, -0.15, 0.25)][2] == pytest.approx(udp[_px(cam, 0.0, 0.05)][2], abs=1e-6)
    assert udp[_px(cam, -0.33, 0.72)][2] == pytest.approx(udp[_px(cam, 0.0, 0.05)][2], abs=1e-6)
    assert udp[_px(cam, -0.12, 0.72)][2] > udp[_px(cam, 0.0, 0.05)][2]  # the opaque MASK half is in front


def test_double_sided_quad_is_drawn_from_behind(gl_ctx, tmp_path):
    c = load_character(_layered_gltf(tmp_path / "layers2.glb", back_double_sided=True), allow_static=True)
    rgba, udp, cam = _draw(gl_ctx, c)
    r, g_, b, _ = rgba[_px(cam, -0.15, 0.25)].astype(int)
    assert g_ > 100 and r < 60 and b < 60  # its green, shaded as a surface
    assert np.array_equal(rgba[..., 3] > 0, udp[..., 3] == 1)


def test_opaque_ignores_texture_alpha_and_bad_modes_are_named(gl_ctx, tmp_path):
    """glTF OPAQUE: the transparent texels render (black): alpha is not coverage."""
    c = load_character(_layered_gltf(tmp_path / "opaque.glb", back_double_sided=True, mask_mode="OPAQUE"),
                       allow_static=True)
    rgba, udp, cam = _draw(gl_ctx, c)
    assert rgba[_px(cam, -0.33, 0.72)][:3].max() < 40
    with pytest.raises(AssetError, match="alphaMode 'CUTOUT'"):
        load_character(_layered_gltf(tmp_path / "bad.glb", back_double_sided=True, mask_mode="CUTOUT"),
                       allow_static=True)


def test_conrt_sheet_draws_layers_not_dark_boxes(tmp_path):
    """`conrt sheet` on a skinned file with the layers: the MASK hole shows the body."""
    import subprocess
    import sys

    from PIL import Image

    from conrt.shaders.view_file import load_view_file

    path = _layered_gltf(tmp_path / "skinned.glb", back_double_sided=False, skinned=True)
    out = tmp_path / "sheet"
    r = subprocess.run([sys.executable, "-m", "conrt", "sheet", str(path), "--views", "1", "--strength", "0",
                        "--size", "128", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out / "view_00.png").convert("RGBA"))
    cam, _ = load_view_file(out / "view_00_view.npz")
    assert np.abs(img[_px(cam, -0.33, 0.72)][:3].astype(int) - GREY_SRGB).max() <= 2
    assert tuple(img[_px(cam, -0.12, 0.72)][:3]) == (255, 0, 0)
    r_, g_, b, _ = img[_px(cam, 0.35, 0.82)].astype(int)
    assert b > r_ + 60  # the BLEND layer's blue over the grey body
