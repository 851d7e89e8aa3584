"""SavedModel -> ONNX (tf2onnx, opset <= 18) with static shapes and only ops TensorRT parses.

After tf2onnx: the input gets its static shape, ``Resize`` nodes get explicit ``sizes`` (tf2onnx
writes float scales such as 40/12, whose floor gives 39 where TensorFlow declared 40), constants
are folded (onnx-graphsurgeon), and :func:`tensorrt_issues` walks the graph against TensorRT's
ONNX parser support matrix (TensorRT 8.6-10, ``onnx-tensorrt/docs/operators.md``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import List

import numpy as np

from .formats import ExportError

OPSET = 17

# ONNX ops TensorRT 8.6 and 10 both parse (a subset of their support matrix: what SSD-ISB
# graphs can contain). Restrictions checked below: FLOAT_ONLY ops take FP32/FP16 inputs; the
# CONSTANT_INPUTS of an op must be initializers or constants.
TENSORRT_OPS = {
    "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast", "Ceil",
    "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "CumSum",
    "DepthToSpace", "Div", "Equal", "Exp", "Expand", "Flatten", "Floor", "Gather",
    "GatherElements", "GatherND", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater",
    "GreaterOrEqual", "Identity", "LeakyRelu", "Less", "LessOrEqual", "Log", "MatMul", "Max",
    "MaxPool", "Min", "Mul", "Neg", "NonMaxSuppression", "Not", "Or", "Pad", "Pow", "Range",
    "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Reshape", "Resize", "Round",
    "ScatterElements", "ScatterND", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Sqrt",
    "Squeeze", "Sub", "Sum", "Tanh", "Tile", "TopK", "Transpose", "Unsqueeze", "Where", "Xor",
}
FLOAT_ONLY = {"ArgMax": [0], "ArgMin": [0], "CumSum": [0], "TopK": [0], "Floor": [0],
              "Ceil": [0], "Exp": [0], "Sigmoid": [0], "Softmax": [0], "ReduceMax": [0],
              "ReduceMin": [0], "Resize": [0], "NonMaxSuppression": [0, 1]}
CONSTANT_INPUTS = {"TopK": [1], "CumSum": [1], "NonMaxSuppression": [2, 3, 4],
                   "Conv": [1], "ConvTranspose": [1]}
_FLOAT_TYPES = {1, 10}  # onnx.TensorProto.FLOAT, FLOAT16


def convert_saved_model(saved_model: str, output: str, opset: int = OPSET,
                        signature: str = "serving_default") -> str:
    """Run tf2onnx on one signature of a SavedModel (in a subprocess: it mutates TensorFlow's
    global state)."""
    if opset > 18:
        raise ExportError(f"opset {opset}: tf2onnx 1.17 writes opset <= 18")
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved_model,
           "--output", output, "--opset", str(opset), "--signature_def", signature]
    res = subprocess.run(cmd, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if res.returncode != 0 or not os.path.exists(output):
        lines = [line for line in (res.stderr + res.stdout).splitlines() if "rror" in line]
        raise ExportError(f"tf2onnx failed: {(lines or ['(no message)'])[-1].strip()[:300]}")
    return output


def finalize(path: str, input_shape) -> "onnx.ModelProto":  # noqa: F821
    """Static image shape, explicit Resize sizes, folded constants; saves over ``path``.

    A two-stage graph keeps one dynamic dimension per branch, named ``K_<branch>``: the number
    of crops (people) that branch gets, on its crop inputs and its logits output; its features
    stage keeps a dynamic batch and size (``N_features``, ``H_features``, ``W_features``: the
    zoomed views of a frame, any multiple of 32 on a side).
    """
    import onnx
    import onnx_graphsurgeon as gs

    model = onnx.load(path)
    graph = gs.import_onnx(model)
    image = next((t for t in graph.inputs if t.name == "image"), graph.inputs[0])
    image.shape = list(input_shape)
    for t in graph.inputs + graph.outputs:
        if t.name == "images" or t.name.startswith("features_stride"):
            t.shape = ["N_features", "H_features" if t.name == "images" else None,
                       "W_features" if t.name == "images" else None, t.shape[-1] if t.shape
                       else (3 if t.name == "images" else None)]
            continue
        for suffix in ("_crop32", "_crop16", "_crop8", "_logits"):
            if t.name.endswith(suffix) and t.shape:
                t.shape = [f"K_{t.name[:-len(suffix)].lower()}"] + list(t.shape[1:])
    graph.fold_constants().cleanup()
    # Input shapes are reliable after inference; Resize outputs are not (floor(12 * 40/12)).
    graph = gs.import_onnx(onnx.shape_inference.infer_shapes(gs.export_onnx(graph)))
    for node in graph.nodes:
        if node.op != "Resize" or len(node.inputs) < 3:
            continue
        scales, shape = node.inputs[2], node.inputs[0].shape
        if not isinstance(scales, gs.Constant) or scales.values.size == 0 or shape is None:
            continue
        if not all(isinstance(d, (int, np.integer)) for d in shape):
            continue
        sizes = np.round(np.array(shape, np.float64) * scales.values).astype(np.int64)
        node.inputs = [node.inputs[0], node.inputs[1], gs.Variable.empty(),
                       gs.Constant(f"{node.name}_sizes", sizes)]
        node.outputs[0].shape = [int(v) for v in sizes]
    graph.fold_constants().cleanup().toposort()
    model = gs.export_onnx(graph)
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model


def tensorrt_issues(model) -> List[str]:
    """Why TensorRT's ONNX parser would reject this graph (empty list: it would not)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(model)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in
             list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    types.update({init.name: init.data_type for init in model.graph.initializer})
    constants = {init.name for init in model.graph.initializer}
    constants |= {out for node in model.graph.node if node.op_type == "Constant"
                  for out in node.output}
    issues = []
    for node in model.graph.node:
        where = f"{node.op_type} '{node.name}'"
        if node.op_type not in TENSORRT_OPS:
            issues.append(f"{where}: op not supported by TensorRT's ONNX parser")
            continue
        for i in FLOAT_ONLY.get(node.op_type, []):
            if i < len(node.input) and node.input[i] and types.get(node.input[i]) not in (
                    None, *_FLOAT_TYPES):
                issues.append(f"{where}: input {i} is "
                              f"{onnx.TensorProto.DataType.Name(types[node.input[i]])}, "
                              f"TensorRT takes FP32/FP16 only")
        for i in CONSTANT_INPUTS.get(node.op_type, []):
            if i < len(node.input) and node.input[i] and node.input[i] not in constants:
                issues.append(f"{where}: input {i} must be a constant for TensorRT")
    return issues


def to_onnx(saved_model: str, output: str, input_shape, opset: int = OPSET,
            require_tensorrt: bool = True, signature: str = "serving_default"):
    """Full ONNX export of one signature; raises :class:`ExportError` listing TensorRT issues
    if any."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        convert_saved_model(saved_model, raw, opset, signature)
        model = finalize(raw, input_shape)
        issues = tensorrt_issues(model)
        if issues and require_tensorrt:
            raise ExportError("ONNX graph has ops TensorRT cannot parse: " + "; ".join(issues[:5]))
        import onnx

        onnx.save(model, output)
    return model
