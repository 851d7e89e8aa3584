"""ONNX Runtime backend for ``.onnx`` models (TF-free)."""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from ...utils.errors import require
from ...core.stages import FEATURES, crop_names, features_io, features_output, logits_name, stage_io
from .base import Backend, BackendError


class ONNXBackend(Backend):
    """An exported ONNX graph through onnxruntime (CUDA provider first when it is present).

    A two-stage export is one ONNX graph holding both stages side by side (what TensorRT's
    builder splits into two engines). ONNX Runtime would run every node of a graph on each
    call, so the graph is cut at load time into one session for the detect stage and one per
    branch (``onnx.utils.Extractor``); each call then runs only its stage.
    """

    name = "onnx"

    def __init__(self, path, meta=None, threads=None):
        super().__init__(path, meta=meta, threads=threads)
        ort = require("onnxruntime", "onnx", f"{path} (an ONNX model)")
        self.options = ort.SessionOptions()
        if threads:
            self.options.intra_op_num_threads = int(threads)
            self.options.inter_op_num_threads = 1
        # Idle ONNX Runtime threads spin by default; a two-stage model has a session per stage,
        # and spinning pools of idle sessions take the cores from the one that runs.
        self.options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                          if p in ort.get_available_providers()]
        if not self.two_stage:
            self.session = self._session(path)
            self.input_name = self.session.get_inputs()[0].name
            self.output_names = [o.name for o in self.session.get_outputs()]
            return
        onnx = require("onnx", "onnx", f"{path} (a two-stage ONNX model)")
        from onnx.utils import Extractor

        try:
            extractor = Extractor(onnx.load(path))
        except Exception as err:  # onnx raises its own types for a broken file
            raise BackendError(f"{path}: cannot load ONNX model ({str(err).splitlines()[0]})") \
                from None
        steps = int(self.meta.skip_steps)
        (inputs, self.detect_names), _ = stage_io(self.meta)
        self.detect_session = self._session(
            extractor.extract_model(inputs, self.detect_names).SerializeToString(), path)
        self.features_session = None
        if self.meta.features_stage:
            inputs, outputs = features_io(self.meta)
            self.features_session = self._session(
                extractor.extract_model(inputs, outputs).SerializeToString(), path)
        self.branch_sessions = {}
        for b in self.meta.branches:
            sub = extractor.extract_model(crop_names(b["name"], steps), [logits_name(b["name"])])
            self.branch_sessions[b["name"]] = self._session(sub.SerializeToString(), path)

    def _session(self, model, path=None):
        import onnxruntime as ort

        try:
            return ort.InferenceSession(model, self.options, providers=self.providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise BackendError(f"{path or model}: cannot load ONNX model "
                               f"({str(err).splitlines()[0]})") from None

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        if self.two_stage:
            return super().run(image)
        values = self.session.run(self.output_names,
                                  {self.input_name: np.asarray(image, np.float32)})
        return self.check_outputs(dict(zip(self.output_names, values)))

    def detect(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        if not self.two_stage:
            return super().detect(image)
        values = self.detect_session.run(self.detect_names,
                                         {"image": np.asarray(image, np.float32)})
        return dict(zip(self.detect_names, values))

    def features(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        if self.features_session is None:
            return super().features(images)
        names = [o.name for o in self.features_session.get_outputs()]
        values = self.features_session.run(names, {"images": np.asarray(images, np.float32)})
        out = dict(zip(names, values))
        return {k: out[features_output(k)] for k in FEATURES if features_output(k) in out}

    def run_branch(self, name: str, crops: List[np.ndarray]) -> np.ndarray:
        feeds = dict(zip(crop_names(name, len(crops) - 1), crops))
        return self.branch_sessions[name].run([logits_name(name)], feeds)[0]

    def io_lines(self):
        sessions = {"": self.session} if not self.two_stage else {
            "detect/": self.detect_session,
            **({"features/": self.features_session} if self.features_session else {}),
            **{f"{k}/": v for k, v in self.branch_sessions.items()}}
        lines = []
        for prefix, s in sessions.items():
            lines += [f"input  {prefix}{i.name}: {i.shape} {i.type}" for i in s.get_inputs()]
            lines += [f"output {prefix}{o.name}: {o.shape} {o.type}" for o in s.get_outputs()]
        return lines
