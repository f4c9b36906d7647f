"""Does an ONNX graph pass what TensorRT 10's ONNX parser needs?

A TensorRT build takes minutes and fails late with terse parser messages, so
``check_onnx_for_tensorrt`` looks at the graph first (no GPU needed) and
returns a list of named ``Problem``s — empty means "should parse":

- ``opset``            default-domain opset below ``MIN_OPSET`` (17: GridSample
                       needs 16, our export targets 17)
- ``custom-domain``    nodes from a non-standard domain (would need a plugin)
- ``unsupported-op``   an op the TensorRT 10 parser does not implement
- ``dynamic-rank``     a graph input, output or intermediate tensor whose rank
                       is unknown after shape inference (TensorRT needs static
                       ranks; only dim *sizes* may be dynamic)
- ``unnamed-dynamic-dim`` a graph input dim that is neither a number nor a named
                       symbol (no optimisation profile can bound it)
- ``dtype``            tensors of a type TensorRT cannot hold (float64 is only
                       cast down with clamping, strings/complex not at all)
- ``instancenorm-scale`` InstanceNormalization whose scale/B are computed rather
                       than initializers (the parser's fused path needs
                       constants; earlier TensorRT 10 releases reject it)
- ``gridsample-rank``  GridSample on a non-4D input (TensorRT: 2D sampling only)
- ``gridsample-mode``  a GridSample mode/padding TensorRT does not implement
- ``resize-mode``      Resize with cubic/antialias or an unsupported coordinate mode
- ``constant-input``   an input that must be a build-time constant (Reduce axes,
                       Squeeze/Unsqueeze axes, ...) but is computed
- ``shape-inference``  ONNX shape inference itself failed (message attached)

The op table follows onnx-tensorrt's ``docs/operators.md`` for TensorRT 10.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from conrt.errors import ConfigError

__all__ = ["Problem", "check_onnx_for_tensorrt", "require_tensorrt_ready", "SUPPORTED_OPS", "MIN_OPSET"]

log = logging.getLogger(__name__)

MIN_OPSET = 17

# Ops the TensorRT 10 ONNX parser implements (default domain).
SUPPORTED_OPS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh Attention AveragePool
BatchNormalization BlackmanWindow Cast CastLike Ceil Celu Clip Concat Constant
ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DeformConv DepthToSpace
DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor
Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
Greater GreaterOrEqual GridSample GroupNormalization GRU HammingWindow HannWindow
HardSigmoid HardSwish Hardmax Identity If ImageScaler InstanceNormalization IsInf
IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN LSTM
LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization Min Mish
Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow
PRelu QuantizeLinear RandomNormal RandomNormalLike RandomUniform RandomUniformLike
Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean
ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence
RMSNormalization RNN RoiAlign Round ScaledTanh Scan Scatter ScatterElements ScatterND
Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign
SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose
Trilu Unsqueeze Upsample Where Xor
""".split())

# op -> input indices that must be build-time constants (when present).
_CONSTANT_INPUTS = {
    **{op: (1,) for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                           "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare")},
    "Squeeze": (1,), "Unsqueeze": (1,), "CumSum": (1,), "Dropout": (2,),
    "InstanceNormalization": (1, 2),
}
_GRIDSAMPLE_MODES = {"bilinear", "linear", "nearest", "bicubic", "cubic"}
_GRIDSAMPLE_PADDING = {"zeros", "border", "reflection"}
_RESIZE_COORDS = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}


@dataclass(frozen=True)
class Problem:
    """One reason TensorRT would reject (or mis-build) the graph."""

    code: str  # one of the names in the module docstring
    message: str
    node: str = ""  # node name (or op type if unnamed) / tensor name

    def __str__(self) -> str:
        where = f" [{self.node}]" if self.node else ""
        return f"{self.code}{where}: {self.message}"


def _load(model_or_path):
    import onnx  # lazy: onnx only for export and checks

    if isinstance(model_or_path, (str, os.PathLike)):
        path = Path(model_or_path)
        if not path.is_file():
            raise ConfigError(f"ONNX file not found: {path}")
        try:
            return onnx.load(str(path))
        except Exception as exc:  # protobuf decode errors have no common base
            raise ConfigError(f"{path} is not a readable ONNX model: {exc}") from exc
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    raise ConfigError(f"expected an ONNX path or onnx.ModelProto, got {type(model_or_path).__name__}")


def _attr(node, name, default=None):
    import onnx  # lazy: onnx only for export and checks

    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _where(node) -> str:
    return node.name or node.op_type


def check_onnx_for_tensorrt(model_or_path, *, min_opset: int = MIN_OPSET) -> list[Problem]:
    """Check a graph (path or ModelProto) and return its problems (empty = fine)."""
    import onnx  # lazy: onnx only for export and checks
    import onnx.inliner  # lazy: onnx only for export and checks
    from onnx import TensorProto  # lazy: onnx only for export and checks

    model = _load(model_or_path)
    if model.functions:
        # The parser inlines model-local functions (the dynamo exporter emits
        # them); check what TensorRT will actually see.
        model = onnx.inliner.inline_local_functions(model)
    problems: list[Problem] = []

    # --- opset and domains -------------------------------------------------
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    default_opset = opsets.get("ai.onnx")
    if default_opset is None or default_opset < min_opset:
        problems.append(Problem("opset", f"default-domain opset is {default_opset}, TensorRT path needs >= {min_opset}; "
                                         f"re-export with opset_version={min_opset}"))
    # --- shape inference (for ranks) ----------------------------------------
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # inference errors are plain RuntimeError/ValueError subclasses
        problems.append(Problem("shape-inference", str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        inferred = model
    g = inferred.graph

    types = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        types[vi.name] = vi.type
    const_names = {t.name for t in g.initializer}
    for n in g.node:  # nodes are topologically sorted
        # Constant outputs are build-time constants, and so is an Identity of
        # one (the exporter dedups equal weights into Identity nodes; the
        # parser passes weights through them).
        if n.op_type == "Constant" or (n.op_type == "Identity" and n.input and n.input[0] in const_names):
            const_names.update(n.output)
    init_names = {t.name for t in g.initializer}
    graph_inputs = [i for i in g.input if i.name not in init_names]

    def rank_known(name: str) -> bool:
        t = types.get(name)
        return t is not None and t.HasField("tensor_type") and t.tensor_type.HasField("shape")

    def rank(name: str):
        return len(types[name].tensor_type.shape.dim) if rank_known(name) else None

    # --- graph inputs/outputs ----------------------------------------------
    for vi in graph_inputs:
        if not rank_known(vi.name):
            problems.append(Problem("dynamic-rank", "graph input has no shape (unknown rank)", vi.name))
            continue
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if not d.HasField("dim_value") and not d.dim_param:
                problems.append(Problem("unnamed-dynamic-dim",
                                        f"axis {axis} is dynamic without a name; export with named dynamic axes",
                                        vi.name))
    for vi in g.output:
        if not rank_known(vi.name):
            problems.append(Problem("dynamic-rank", "graph output has unknown rank", vi.name))

    # --- dtypes -------------------------------------------------------------
    bad_types = {TensorProto.DOUBLE: "float64", TensorProto.STRING: "string", TensorProto.COMPLEX64: "complex64",
                 TensorProto.COMPLEX128: "complex128", TensorProto.UINT16: "uint16", TensorProto.UINT32: "uint32",
                 TensorProto.UINT64: "uint64", TensorProto.INT16: "int16"}
    seen_dtype = set()
    for name, t in types.items():
        if t.HasField("tensor_type") and t.tensor_type.elem_type in bad_types and name not in seen_dtype:
            seen_dtype.add(name)
            problems.append(Problem("dtype", f"{bad_types[t.tensor_type.elem_type]} tensor; TensorRT has no such type", name))
    for t in g.initializer:
        if t.data_type in bad_types and t.name not in seen_dtype:
            seen_dtype.add(t.name)
            problems.append(Problem("dtype", f"{bad_types[t.data_type]} initializer; TensorRT has no such type", t.name))

    # --- nodes --------------------------------------------------------------
    reported_rank = set()
    for node in g.node:
        domain = node.domain or "ai.onnx"
        if domain != "ai.onnx":
            problems.append(Problem("custom-domain", f"op {domain}::{node.op_type} needs a TensorRT plugin", _where(node)))
            continue
        if node.op_type not in SUPPORTED_OPS:
            problems.append(Problem("unsupported-op", f"{node.op_type} is not supported by the TensorRT 10 ONNX parser",
                                    _where(node)))
        for out in node.output:
            if out and not rank_known(out) and out not in reported_rank:
                reported_rank.add(out)
                problems.append(Problem("dynamic-rank",
                                        f"output {out!r} of {node.op_type} has unknown rank after shape inference",
                                        _where(node)))
        for idx in _CONSTANT_INPUTS.get(node.op_type, ()):
            if idx < len(node.input) and node.input[idx] and node.input[idx] not in const_names:
                code = "instancenorm-scale" if node.op_type == "InstanceNormalization" else "constant-input"
                what = ("scale" if idx == 1 else "B") if code == "instancenorm-scale" else f"input {idx}"
                problems.append(Problem(code, f"{node.op_type} {what} ({node.input[idx]!r}) must be an initializer/constant",
                                        _where(node)))
        if node.op_type == "GridSample":
            r = rank(node.input[0])
            if r is not None and r != 4:
                problems.append(Problem("gridsample-rank", f"GridSample input is {r}D; TensorRT supports 4D only",
                                        _where(node)))
            mode = _attr(node, "mode", "bilinear")
            padding = _attr(node, "padding_mode", "zeros")
            if mode not in _GRIDSAMPLE_MODES or padding not in _GRIDSAMPLE_PADDING:
                problems.append(Problem("gridsample-mode", f"mode={mode!r} padding_mode={padding!r} not supported",
                                        _where(node)))
        if node.op_type == "Resize":
            mode = _attr(node, "mode", "nearest")
            coord = _attr(node, "coordinate_transformation_mode", "half_pixel")
            if mode not in ("nearest", "linear") or _attr(node, "antialias", 0) or coord not in _RESIZE_COORDS:
                problems.append(Problem("resize-mode", f"Resize mode={mode!r} coordinate_transformation_mode={coord!r} "
                                                       f"antialias={_attr(node, 'antialias', 0)} not supported",
                                        _where(node)))
    return problems


def require_tensorrt_ready(model_or_path, *, min_opset: int = MIN_OPSET) -> None:
    """Raise ``ConfigError`` listing every problem (before a long TensorRT build)."""
    problems = check_onnx_for_tensorrt(model_or_path, min_opset=min_opset)
    if problems:
        lines = "\n  ".join(str(p) for p in problems)
        raise ConfigError(f"the ONNX graph is not ready for TensorRT ({len(problems)} problem(s)):\n  {lines}")
