"""LiteRT backend for ``.tflite`` models (TF-free; see :mod:`ssd_isb.runtime.tflite`)."""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from ...core.stages import DETECT, FEATURES_STAGE, crop_names, features_output, logits_name
from ..tflite import activation_bytes, dequantize, open_interpreter, quantize
from ...core.stages import FEATURES as FEATURE_KEYS
from .base import Backend, BackendError


class SignatureCall:
    """One signature of a LiteRT model, called with float arrays and returning float arrays.

    Integer inputs (int8/uint8 I/O exports) are quantized from the floats, quantized outputs
    dequantized, so every backend returns the same arrays. A batch size other than the last
    call's resizes the signature's tensors (LiteRT's SignatureRunner does so when called).
    """

    def __init__(self, interpreter, key: str):
        self.key = key
        self.runner = interpreter.get_signature_runner(key)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()

    def __call__(self, **feeds: np.ndarray) -> Dict[str, np.ndarray]:
        out = self.runner(**{k: quantize(v, self.inputs[k]) for k, v in feeds.items()})
        return {k: dequantize(v, self.outputs[k]) for k, v in out.items()}


class TFLiteBackend(Backend):
    """A single graph through its ``serving_default`` signature, or a two-stage model through
    its ``detect`` signature and one signature per branch.

    One interpreter holds every signature, so the stages share one thread pool: several
    interpreters with 2 threads each spin against each other on 2 cores, and a second
    interpreter with 1 thread for the small branch calls was no faster
    (``benchmarks/threads.py``), while it costs a second copy of the packed weights.
    """

    name = "tflite"

    def __init__(self, path, meta=None, threads=None):
        super().__init__(path, meta=meta, threads=threads)
        self.interpreter = open_interpreter(path, threads=threads)
        signatures = self.interpreter.get_signature_list()
        needed = [DETECT] + [b["name"] for b in self.meta.branches or []] if self.two_stage \
            else ["serving_default"]
        missing = [k for k in needed if k not in signatures]
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more"
                                              if len(missing) > 3 else "")
            raise BackendError(f"{path}: lacks the stage(s) {shown} its sidecar names (the file "
                               f"and its .json are not one {self.meta.graph.replace('_', '-')} "
                               f"ssd-isb export)")
        if not self.two_stage:
            self.call = SignatureCall(self.interpreter, "serving_default")
            self.input_name = next(iter(self.call.inputs))
            return
        self.detect_call = SignatureCall(self.interpreter, DETECT)
        self.branch_calls = {k: SignatureCall(self.interpreter, k) for k in needed[1:]}
        self.features_call = None
        if self.meta.features_stage:
            if FEATURES_STAGE not in signatures:
                raise BackendError(f"{path}: its sidecar names a features stage, the file has "
                                   f"no {FEATURES_STAGE} signature")
            self.features_call = SignatureCall(self.interpreter, FEATURES_STAGE)

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        if self.two_stage:
            return super().run(image)
        return self.check_outputs(self.call(**{self.input_name: image}))

    def detect(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        if not self.two_stage:
            return super().detect(image)
        return self.detect_call(image=image)

    def features(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        if self.features_call is None:
            return super().features(images)
        out = self.features_call(images=np.ascontiguousarray(images, np.float32))
        return {k: out[features_output(k)] for k in FEATURE_KEYS if features_output(k) in out}

    def run_branch(self, name: str, crops: List[np.ndarray]) -> np.ndarray:
        steps = len(crops) - 1
        out = self.branch_calls[name](**dict(zip(crop_names(name, steps), crops)))
        return out[logits_name(name)]

    def activation_bytes(self) -> Optional[int]:
        return activation_bytes(self.interpreter)

    def io_lines(self):
        lines = []
        calls = [self.call] if not self.two_stage else [
            self.detect_call, *([self.features_call] if self.features_call else []),
            *self.branch_calls.values()]
        for call in calls:
            for kind, details in (("input ", call.inputs), ("output", call.outputs)):
                for name, d in sorted(details.items()):
                    shape = d.get("shape_signature", d["shape"])
                    lines.append(f"{kind} {call.key}/{name}: {[int(v) for v in shape]} "
                                 f"{np.dtype(d['dtype']).name}")
        return lines
