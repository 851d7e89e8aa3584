"""How closely an exported model reproduces the Keras model on real images (TF-free)."""

from __future__ import annotations

from typing import Callable, Dict, Iterable

import numpy as np

from ..core.boxes import iou_matrix
from ..runtime.result import Segmentation

# model input [1, H, W, 3], score threshold -> the Segmentation at H x W
SegmentFn = Callable[[np.ndarray, float], Segmentation]

# An export "agrees" when this fraction of the reference's confident detections is found
# (box IoU > 0.5) and their masks overlap this much on average.
TOLERANCES = {"none": (0.97, 0.97), "fp16": (0.90, 0.90)}


def compare(reference: SegmentFn, exported: SegmentFn, inputs: Iterable[np.ndarray],
            score_threshold: float = 0.3) -> Dict:
    """Run both on the same inputs and measure the agreement (the export keeps detections
    down to 0.8 x the threshold, so a score that moved slightly still finds its match).

    Returns:
        ``images``, ``reference_detections``, ``matched`` (fraction), ``box_iou``,
        ``mask_iou`` (means over matched pairs), ``score_diff`` (mean abs).
    """
    ref_n = matched = 0
    box_ious, mask_ious, score_diffs = [], [], []
    images = 0
    for x in inputs:
        images += 1
        a = reference(x, score_threshold)
        b = exported(x, score_threshold * 0.8)
        ref_n += len(a)
        if not len(a) or not len(b):
            continue
        ious = iou_matrix(a.boxes, b.boxes)
        for i in range(len(a)):
            j = int(np.argmax(ious[i]))
            if ious[i, j] <= 0.5:
                continue
            matched += 1
            box_ious.append(float(ious[i, j]))
            score_diffs.append(abs(float(a.scores[i] - b.scores[j])))
            inter = np.logical_and(a.masks[i], b.masks[j]).sum()
            union = np.logical_or(a.masks[i], b.masks[j]).sum()
            mask_ious.append(1.0 if union == 0 else float(inter / union))
    mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
    return {"images": images, "reference_detections": ref_n,
            "matched": matched / ref_n if ref_n else float("nan"),
            "box_iou": mean(box_ious), "mask_iou": mean(mask_ious),
            "score_diff": mean(score_diffs)}


def within_tolerance(result: Dict, quantization: str) -> bool:
    """Whether fp32/fp16 agreement is good enough (int8 is reported, never failed)."""
    if quantization not in TOLERANCES or not result["reference_detections"]:
        return True
    matched, mask = TOLERANCES[quantization]
    return result["matched"] >= matched and result["mask_iou"] >= mask


def single_graph(run: Callable[[np.ndarray], Dict], class_names) -> SegmentFn:
    """A single graph's raw outputs (``run``: model input -> the six heads) as a SegmentFn."""
    from ..runtime.segmenter import decode_outputs

    return lambda x, t: decode_outputs(run(x), x.shape[1:3], class_names, t)


def two_stage(detect: Callable[[np.ndarray], Dict], run_branch, stage, class_names
              ) -> SegmentFn:
    """Two stages (detect, then ``stage``, a :class:`~ssd_isb.runtime.mask_stage.MaskStage`,
    calling ``run_branch``) as a SegmentFn."""
    from ..runtime.segmenter import decode_stages

    return lambda x, t: decode_stages(stage(detect(x), run_branch, t), x.shape[1:3],
                                      class_names)
