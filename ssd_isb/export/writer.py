"""From a SavedModel to the file ``ssd-isb export`` writes: the step both exporters share.

The instance exporter (:mod:`ssd_isb.export.exporter`) and the semantic one
(:mod:`ssd_isb.export.semantic`) differ in the graph they save and in how they check the
result; what happens between (TFLite conversion with the builtin-op check, ONNX conversion,
the SavedModel copy, the atomic write, the stage timings) is this module.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from .formats import ExportError, ExportFormat, Quantization


class Stopwatch:
    """Seconds per export stage, in the order the stages ran (the report's ``seconds``)."""

    def __init__(self):
        self.seconds: Dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 2)
        self._last = now


def write_format(saved: str, output: str, fmt: ExportFormat, quantization: Quantization,
                 report: Dict, input_shape: Sequence[int],
                 representative: Optional[Callable[[], Iterable[List]]] = None,
                 integer_io: bool = False, signature: str = "serving_default",
                 signature_keys: Optional[List[str]] = None) -> None:
    """Write ``output`` in ``fmt`` from the SavedModel folder ``saved``.

    Args:
        saved: the SavedModel to convert.
        output: the file (or folder, for SavedModel) to write; a TFLite file is written to
            ``output.tmp`` and renamed, so a killed export never leaves a half file.
        fmt, quantization: what to write.
        report: the export report; TFLite adds ``ops`` (the builtin op names).
        input_shape: the image input's shape with its batch of 1 (ONNX needs it fixed).
        representative: int8 calibration samples (a new iterator per call).
        integer_io: int8 with a uint8 image input.
        signature: the SavedModel signature ONNX converts.
        signature_keys: TFLite signatures to convert (None: the default one).

    Raises:
        ExportError: the TFLite file holds custom or Flex ops (LiteRT on a device has neither).
    """
    if fmt == ExportFormat.SAVED_MODEL:
        if os.path.exists(output):
            shutil.rmtree(output)
        shutil.copytree(saved, output)
    elif fmt == ExportFormat.TFLITE:
        from .tflite import op_names, to_tflite

        content = to_tflite(saved, quantization, representative, integer_io, signature_keys)
        ops = op_names(content)
        bad = sorted(o for o in ops if o == "CUSTOM" or o.startswith("Flex"))
        if bad:
            raise ExportError(f"TFLite export has non-builtin ops: {', '.join(bad)}")
        report["ops"] = sorted(ops)
        with open(output + ".tmp", "wb") as fh:
            fh.write(content)
        os.replace(output + ".tmp", output)
    else:
        from .onnx_export import to_onnx

        to_onnx(saved, output, tuple(input_shape), signature=signature)


def file_size(path: str) -> int:
    """Bytes of a file, or of every file in a folder (a SavedModel)."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)
