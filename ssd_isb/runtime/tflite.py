"""The one place that talks to LiteRT: opening interpreters, (de)quantizing, reading ops.

Every ``.tflite`` file the package touches (our exports, the zoo detector, the peers, the
importer reading the zoo's weights, the exporter listing ops) is opened here, with one fallback
order: ``ai_edge_litert`` (LiteRT, the maintained runtime), then ``tflite_runtime``, then
TensorFlow's ``tf.lite`` as a last resort (imported only when nothing lighter exists).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np

from ..utils.quiet import native_stderr_hidden
from .backends.base import BackendError

_INTEGER_TYPES = (np.uint8, np.int8, np.int16, np.int32)


def interpreter_class():
    """The first available TFLite ``Interpreter`` class (see the module docstring).

    Raises:
        BackendError: no TFLite runtime is installed.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf  # noqa: F401  (only when nothing lighter is installed)

        return tf.lite.Interpreter
    except ImportError:
        raise BackendError("no TFLite runtime: pip install ai-edge-litert") from None


def open_interpreter(path: Optional[str] = None, content: Optional[bytes] = None,
                     threads: Optional[int] = None, allocate: bool = True):
    """Open a ``.tflite`` file (or flatbuffer bytes) and allocate its tensors.

    Args:
        path: the model file.
        content: the flatbuffer, instead of ``path``.
        threads: CPU threads (None: the runtime's default).
        allocate: allocate tensors (needed to run it; not to read constants or ops).

    Raises:
        BackendError: missing file, or LiteRT cannot load it (one line naming the file).
    """
    name = path or "model content"
    if path is not None and not os.path.exists(path):
        raise BackendError(f"{path}: no such model file")
    cls = interpreter_class()
    try:
        interpreter = (cls(model_path=path, num_threads=threads) if path is not None
                       else cls(model_content=content, num_threads=threads))
        if allocate:
            with native_stderr_hidden():
                interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise BackendError(f"{name}: cannot load TFLite model "
                           f"({str(err).strip().splitlines()[0] if str(err) else err!r})") \
            from None
    return interpreter


def quantize(x: np.ndarray, detail: Dict) -> np.ndarray:
    """Float values -> the tensor's integer type by its (scale, zero point); float tensors pass
    through as float32."""
    dtype = detail["dtype"]
    if dtype not in _INTEGER_TYPES:
        return np.asarray(x, dtype=dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(x, np.float32) / scale + zero), info.min,
                   info.max).astype(dtype)


def dequantize(value: np.ndarray, detail: Dict) -> np.ndarray:
    """A quantized tensor's values as float32 (``scale * (q - zero_point)``); tensors without
    quantization (float, or int32 heads such as ``classes``) are returned unchanged."""
    scale, zero = detail.get("quantization", (0.0, 0))
    if not scale or detail["dtype"] not in _INTEGER_TYPES:
        return value
    return ((np.asarray(value, np.float32) - zero) * scale).astype(np.float32)


def op_details(interpreter) -> List[Dict]:
    """Every op of the graph (``op_name``, ``inputs``, ``outputs``, ...).

    LiteRT exposes them only through the private ``_get_ops_details``; this is the one caller.
    """
    return list(interpreter._get_ops_details())


def op_names(interpreter) -> set:
    """Names of the ops of the interpreter's first subgraph (see :func:`model_op_names` for
    every signature of a multi-signature file)."""
    return {op["op_name"] for op in op_details(interpreter)}


def model_op_names(content: bytes) -> set:
    """Names of the ops in every subgraph of a flatbuffer (builtin names; CUSTOM for custom
    ops, Flex ops among them). LiteRT's interpreter lists only the first subgraph, so a
    two-stage file (a subgraph per signature) is read through the flatbuffer schema."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # older runtimes: the first subgraph is all they tell
        return op_names(open_interpreter(content=content, allocate=False))
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(content, 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        codes.append("CUSTOM" if code == schema.BuiltinOperator.CUSTOM else
                     builtin.get(code, f"BUILTIN_{code}"))
    return {codes[model.Subgraphs(g).Operators(j).OpcodeIndex()]
            for g in range(model.SubgraphsLength())
            for j in range(model.Subgraphs(g).OperatorsLength())}


def _produced(interpreter) -> set:
    produced = set()
    for op in op_details(interpreter):
        produced.update(int(i) for i in op["outputs"])
    return produced


def activation_bytes(interpreter) -> int:
    """Upper bound of a model's activation memory: every op output tensor, summed (LiteRT's
    arena reuses buffers, so the arena itself is smaller)."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    total = 0
    for i in _produced(interpreter):
        t = tensors.get(i)
        if t is not None and len(t["shape"]):
            total += int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
    return total


def parameter_count(interpreter) -> int:
    """Elements of a model's constant tensors (weights and biases): its parameter count, as
    near as the flat file tells (tensors no op produces and no input feeds)."""
    produced = _produced(interpreter)
    inputs = {d["index"] for d in interpreter.get_input_details()}
    total = 0
    for t in interpreter.get_tensor_details():
        if t["index"] in produced or t["index"] in inputs or not len(t["shape"]):
            continue
        if t["dtype"] not in (np.float32, np.float16, np.int8, np.uint8, np.int32):
            continue
        # Unquantized int32 tensors are shapes, axes and indices, not weights.
        if t["dtype"] == np.int32 and t["quantization"][0] == 0:
            continue
        total += int(np.prod(t["shape"]))
    return total
