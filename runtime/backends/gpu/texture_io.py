"""Give the per-frame graph OpenGL texture layout at its edges.

The UDP pass renders into an RGBA32F texture: [H, W, 4] float32 (HWC), with
row 0 the top of the picture by default (``UdpPass(rows="top-first")`` draws
with a y-flipped projection) or the bottom (``rows="gl"``). The network wants
NCHW with row 0 at the top, and returns premultiplied RGBA as NCHW. Rather
than running a CUDA kernel to reorder (pycuda would need nvcc at runtime),
the reorder is put *into the graph*: a Transpose (plus, for ``rows="gl"``, a
Slice flipping the rows) in front of the UDP input and behind the RGBA
output. TensorRT fuses these into its first/last layers, and the CUDA side
becomes two plain pitched copies (``cuMemcpy2D``) between the mapped texture
arrays and the engine's buffers. The output texture gets the same row order
as the input.

    udp_gl [N, H, W, 4] -> (flip) -> transpose -> udp [N, 4, H, W]
    rgba [N, 4, H, W] -> transpose -> (flip) -> rgba_gl [N, H, W, 4]

Pure ONNX; tested against ONNX Runtime on the CPU.
"""
from __future__ import annotations

from conrt.errors import ConfigError

__all__ = ["add_texture_io", "GL_SUFFIX", "ROW_ORDERS"]

GL_SUFFIX = "_gl"
ROW_ORDERS = ("top-first", "gl")  # the same names as UdpPass(rows=...)
_INT64_MIN = -(2**63)  # Slice "to the beginning" when stepping backwards


def _io(graph, kind: str, name: str):
    items = graph.input if kind == "input" else graph.output
    for vi in items:
        if vi.name == name:
            return vi
    names = [vi.name for vi in items]
    raise ConfigError(f"the graph has no {kind} {name!r}; its {kind}s are {', '.join(names)}")


def _nchw_dims(vi, what: str):
    t = vi.type.tensor_type
    dims = list(t.shape.dim) if t.HasField("shape") else []
    if len(dims) != 4:
        raise ConfigError(f"{what} {vi.name!r} must be 4D NCHW to map onto a texture, got rank {len(dims)}")
    if dims[1].HasField("dim_value") and dims[1].dim_value != 4:
        raise ConfigError(f"{what} {vi.name!r} has {dims[1].dim_value} channels; an RGBA texture has 4")
    return dims


def _copy_dim(src, dst) -> None:
    if src.HasField("dim_value"):
        dst.dim_value = src.dim_value
    elif src.dim_param:
        dst.dim_param = src.dim_param


def add_texture_io(model, udp_input: str = "udp", rgba_output: str = "rgba", *, rows: str = "top-first"):
    """Return a copy of ``model`` whose ``udp_input`` and ``rgba_output`` are
    replaced by ``<name>_gl`` tensors in texture layout ([N, H, W, 4]; row 0
    = top for ``rows="top-first"``, bottom for ``rows="gl"``). Either name may
    be None to leave that side."""
    import onnx  # lazy: onnx only for export and checks
    from onnx import TensorProto, helper  # lazy: onnx only for export and checks

    if rows not in ROW_ORDERS:
        raise ConfigError(f"unknown row order {rows!r}; choose one of {', '.join(ROW_ORDERS)}")
    flip_rows = rows == "gl"

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    nodes_front, nodes_back = [], []

    def flip(src: str, dst: str, prefix: str) -> list:
        consts = [
            helper.make_node("Constant", [], [f"{prefix}_starts"], value=helper.make_tensor("", TensorProto.INT64, [1], [-1])),
            helper.make_node("Constant", [], [f"{prefix}_ends"], value=helper.make_tensor("", TensorProto.INT64, [1], [_INT64_MIN])),
            helper.make_node("Constant", [], [f"{prefix}_axes"], value=helper.make_tensor("", TensorProto.INT64, [1], [1])),
            helper.make_node("Constant", [], [f"{prefix}_steps"], value=helper.make_tensor("", TensorProto.INT64, [1], [-1])),
        ]
        return consts + [helper.make_node(
            "Slice", [src, f"{prefix}_starts", f"{prefix}_ends", f"{prefix}_axes", f"{prefix}_steps"], [dst],
            name=f"{prefix}_flip_rows")]

    if udp_input is not None:
        vi = _io(g, "input", udp_input)
        n, c, h, w = _nchw_dims(vi, "input")
        new = helper.make_tensor_value_info(udp_input + GL_SUFFIX, vi.type.tensor_type.elem_type, None)
        for d in (n, h, w, c):
            _copy_dim(d, new.type.tensor_type.shape.dim.add())
        src = new.name
        if flip_rows:
            nodes_front += flip(src, f"{udp_input}_gl_flipped", f"{udp_input}_gl")
            src = f"{udp_input}_gl_flipped"
        nodes_front.append(helper.make_node("Transpose", [src], [udp_input], perm=[0, 3, 1, 2],
                                            name=f"{udp_input}_gl_to_nchw"))
        idx = list(g.input).index(vi)
        g.input.remove(vi)
        g.input.insert(idx, new)

    if rgba_output is not None:
        vi = _io(g, "output", rgba_output)
        n, c, h, w = _nchw_dims(vi, "output")
        new = helper.make_tensor_value_info(rgba_output + GL_SUFFIX, vi.type.tensor_type.elem_type, None)
        for d in (n, h, w, c):
            _copy_dim(d, new.type.tensor_type.shape.dim.add())
        dst = new.name
        nhwc = f"{rgba_output}_nhwc" if flip_rows else dst
        nodes_back.append(helper.make_node("Transpose", [rgba_output], [nhwc], perm=[0, 2, 3, 1],
                                           name=f"{rgba_output}_to_nhwc"))
        if flip_rows:
            nodes_back += flip(nhwc, dst, f"{rgba_output}_gl")
        idx = list(g.output).index(vi)
        g.output.remove(vi)
        g.output.insert(idx, new)

    # Nodes must stay topologically sorted: new producers first, consumers last.
    body = list(g.node)
    del g.node[:]
    g.node.extend(nodes_front + body + nodes_back)
    return out
