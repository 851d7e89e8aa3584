"""``--plots DIR``: precision-recall curves and overlays of the worst and best images."""

from __future__ import annotations

import contextlib
import io
import os
from typing import Dict, List

import cv2
import numpy as np

from ..runtime.draw import draw_segmentation


def pr_curve(gt, results: List[Dict], image_ids, category_id: int, path: str,
             title: str = "") -> str:
    """Precision-recall at IoU 0.50 for masks and boxes, all areas, 100 detections (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pycocotools.cocoeval import COCOeval

    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    recall = np.linspace(0, 1, 101)
    for iou_type, style in (("segm", "-"), ("bbox", "--")):
        if not results:
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(gt, gt.loadRes(results), iou_type)
            ev.params.catIds = [category_id]
            ev.params.imgIds = list(image_ids)
            ev.evaluate()
            ev.accumulate()
        p = ev.eval["precision"][0, :, 0, 0, -1]  # IoU .5, all recall, cat, all areas, 100
        valid = p > -1
        ap = 100 * p[valid].mean() if valid.any() else 0.0
        ax.plot(recall[valid], p[valid], style, label=f"{iou_type} AP50 {ap:.1f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title(title or "person, IoU 0.50")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def image_f1(gt, image_id: int, entries: List[Dict], category_id: int,
             score_threshold: float = 0.5) -> float:
    """Mask F1 at IoU 0.5 of one image's confident detections (greedy, score order)."""
    from pycocotools import mask as mask_utils

    anns = [a for a in gt.imgToAnns.get(image_id, [])
            if a["category_id"] == category_id and not a.get("iscrowd")]
    dets = sorted((e for e in entries if e["score"] >= score_threshold),
                  key=lambda e: -e["score"])
    if not anns and not dets:
        return 1.0
    if not anns or not dets:
        return 0.0
    gts = [gt.annToRLE(a) for a in anns]
    rles = [dict(e["segmentation"], counts=e["segmentation"]["counts"].encode())
            for e in dets]
    iou = mask_utils.iou(rles, gts, [0] * len(gts))
    used, tp = set(), 0
    for i in range(len(dets)):
        order = np.argsort(-iou[i])
        for j in order:
            if iou[i, j] < 0.5:
                break
            if j not in used:
                used.add(int(j))
                tp += 1
                break
    return 2 * tp / (len(dets) + len(anns))


def overlays(gt, per_image: Dict, results: List[Dict], category_id: int, folder: str,
             n: int = 4) -> List[str]:
    """Write ``worst_k.jpg`` and ``best_k.jpg`` overlays (predictions coloured, ground truth as
    white contours) for the n lowest and highest mask-F1 images with people."""
    from pycocotools import mask as mask_utils

    by_image: Dict[int, List[Dict]] = {}
    for e in results:
        by_image.setdefault(e["image_id"], []).append(e)
    scored = []
    for image_id in per_image:
        if not any(a["category_id"] == category_id for a in gt.imgToAnns.get(image_id, [])):
            continue
        scored.append((image_f1(gt, image_id, by_image.get(image_id, []), category_id),
                       image_id))
    scored.sort()
    written = []
    for tag, chosen in (("worst", scored[:n]), ("best", scored[::-1][:n])):
        for k, (f1, image_id) in enumerate(chosen):
            item = per_image[image_id]
            image = cv2.imread(item["path"])
            result = item["result"]
            keep = result.scores >= 0.5
            from ..runtime.result import Segmentation

            confident = Segmentation(result.boxes[keep], result.scores[keep],
                                     result.class_ids[keep], result.masks[keep],
                                     result.has_mask[keep], result.image_size,
                                     result.class_names)
            out = draw_segmentation(image, confident)
            for a in gt.imgToAnns.get(image_id, []):
                if a["category_id"] != category_id:
                    continue
                m = mask_utils.decode(gt.annToRLE(a)).astype(np.uint8)
                contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                cv2.drawContours(out, contours, -1, (255, 255, 255), 1, cv2.LINE_AA)
            cv2.putText(out, f"mask F1@0.5 {f1:.2f}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                        (255, 255, 255), 2, cv2.LINE_AA)
            path = os.path.join(folder, f"{tag}_{k + 1}_{image_id}.jpg")
            cv2.imwrite(path, out)
            written.append(path)
    return written


def write_plots(gt, results: List[Dict], per_image: Dict, category_id: int, folder: str,
                title: str = "", count: int = 4) -> List[str]:
    """The PR curve and the worst/best overlays into ``folder``; returns the files written."""
    os.makedirs(folder, exist_ok=True)
    written = [pr_curve(gt, results, sorted(per_image), category_id,
                        os.path.join(folder, "pr_curve.png"), title)]
    return written + overlays(gt, per_image, results, category_id, folder, count)
