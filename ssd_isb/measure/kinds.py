"""The kinds of model a measurement can open, each as a
:class:`~ssd_isb.runtime.SegmenterBase` (TF-free unless the model is ``.keras``)."""

from __future__ import annotations

from typing import Optional

from ..utils.errors import UsageError

KINDS = ("ssd-isb", "yolov8-seg", "yolo11-seg", "zoo-detector", "semantic", "instance-union",
         "selfie-segmentation")
# Per kind: detections kept when timing (what an application keeps) and when scoring AP
# (everything the model gives, Ultralytics' validation conf).
APP_THRESHOLD = {"ssd-isb": 0.5, "yolov8-seg": 0.25, "yolo11-seg": 0.25, "zoo-detector": 0.5,
                 "semantic": 0.5, "instance-union": 0.5, "selfie-segmentation": 0.5}
EVAL_THRESHOLD = {"ssd-isb": 0.0, "yolov8-seg": 0.001, "yolo11-seg": 0.001,
                  "zoo-detector": 0.0, "semantic": 0.5, "instance-union": 0.5,
                  "selfie-segmentation": 0.5}


def make_segmenter(kind: str, path: str, backend: Optional[str] = None,
                   threads: Optional[int] = None, score_threshold: Optional[float] = None,
                   tiles="off", zoom="off"):
    """Open ``path`` as a segmenter of ``kind`` (see :data:`KINDS`).

    Args:
        kind: "ssd-isb" (any of our model files), "yolov8-seg", "yolo11-seg",
            "zoo-detector", or a person-map source: "semantic" (a semantic model file),
            "instance-union" (an instance model's masks merged), "selfie-segmentation"
            (MediaPipe's file; ``path`` may be empty for the installed one).
        path: the model file.
        backend: backend of an SSD-ISB model (from the file when None).
        threads: CPU threads.
        score_threshold: detections kept (default: :data:`APP_THRESHOLD` of the kind).
        tiles, zoom: an SSD-ISB model's sliced inference and second look
            (:class:`~ssd_isb.runtime.Segmenter`; the measurement names them, so the default
            here is the single pass).
    """
    if kind not in KINDS:
        raise UsageError(f"unknown model kind {kind!r} (one of {', '.join(KINDS)})")
    threshold = APP_THRESHOLD[kind] if score_threshold is None else score_threshold
    if kind == "semantic":
        from ..runtime.semantic import SemanticSegmenter

        return SemanticSegmenter(path, backend, threads)
    if kind == "instance-union":
        from ..runtime import Segmenter
        from ..runtime.semantic import InstanceUnion

        return InstanceUnion(Segmenter(path, backend=backend, threads=threads,
                                       score_threshold=threshold, tiles=tiles, zoom=zoom))
    if kind == "selfie-segmentation":
        from ..peers.selfie import SelfieSegmentation

        return SelfieSegmentation(path or None, threads=threads)
    if kind == "ssd-isb":
        from ..runtime import Segmenter

        return Segmenter(path, backend=backend, threads=threads, score_threshold=threshold,
                         tiles=tiles, zoom=zoom)
    if kind in ("yolov8-seg", "yolo11-seg"):
        from ..peers import Yolo11Seg, YoloV8Seg

        cls = YoloV8Seg if kind == "yolov8-seg" else Yolo11Seg
        return cls(path, threads=threads, score_threshold=threshold)
    from ..peers import ZooBoxDetector

    return ZooBoxDetector(path, threads=threads, score_threshold=threshold)
