"""``ssd-isb evaluate``: run a model (any backend) over a COCO dataset and score it.

Person only, over the images actually evaluated; ``segm`` and ``bbox`` figures in percent with
the thesis' IoU-0.50 set. ``box_masks`` scores each detection's filled box as its mask (the
floor the mask branches must beat). An image missing on disk or unreadable is reported and
skipped; an annotation file that is not COCO, a dataset with no image on disk or a model without
a person class each stop with one clear error.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from typing import Dict, List, Optional

from ..data.coco import DatasetError, is_holdout, person_category_id, read_coco_json
from ..utils.errors import SSDISBError, check_range, require
from ..utils.files import OutputError, check_output_file, check_writable, write_json
from ..utils.progress import progress
from ..runtime import ImageError, Segmenter
from ..runtime.coco_results import to_coco_results, with_box_masks
from ..runtime.image_io import truncated
from ..runtime.protocol import SegmenterBase
from .metrics import coco_metrics

log = logging.getLogger("ssd_isb.evaluate")


class EvaluationError(SSDISBError, ValueError):
    """Evaluation cannot run; the message names the file and the problem."""


def is_box_only(data: Dict) -> bool:
    """Whether a COCO file has boxes and no masks at all (e.g. ``coco_train_person_boxes``):
    it scores ``bbox`` only. Box-only means no annotation has a ``segmentation`` key; an
    empty one (``[]``) is a broken mask, reported by :func:`check_segmentations`."""
    anns = data["annotations"]
    return bool(anns) and not any("segmentation" in a for a in anns)


def _check_subset(max_images: Optional[int], holdout_every: int, num_overlays: int = 0,
                  crowd_nesting: Optional[int] = None) -> None:
    # 0 would score every image and -1 all but one; a modulus of 0 divides by zero; -1
    # overlays wrote 9 of each and a nesting of -1 marked every box a crowd.
    check_range("--max-images", max_images, 1)
    check_range("--holdout-every", holdout_every, 1)
    check_range("--num-overlays", num_overlays, 0)
    check_range("--crowd-nesting", crowd_nesting, 1)


def rle_string_counts(counts: str) -> List[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString`` format:
    6-bit groups with a sign bit, each run after the second stored as a difference to the run
    two before). pycocotools decodes a string whose runs do not cover the image without a
    word; this reads them so that can be checked."""
    runs: List[int] = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def check_annotations(data: Dict, path: str) -> None:
    """Boxes and categories every annotation must have, then :func:`check_segmentations`.

    Each was once accepted without a word: a negative box, a category missing from
    ``categories``.
    """
    known = {c.get("id") for c in data.get("categories", [])}
    for ann in data["annotations"]:
        where = f"{path}: annotation {ann.get('id')} (image {ann.get('image_id')})"
        if known and ann.get("category_id") not in known:
            raise EvaluationError(f"{where}: category_id {ann.get('category_id')} is not in "
                                  f"'categories' ({sorted(known)})")
    check_segmentations(data, path)


def check_segmentations(data: Dict, path: str) -> None:
    """Every annotation's mask must be one pycocotools can score: polygons of at least 3
    points, RLE of its image's size whose runs cover that image. Checked before any
    inference, so a bad file costs nothing (pycocotools would fail after the whole run, or
    score a wrong-sized RLE). A box-only file (:func:`is_box_only`) has nothing to check."""
    if is_box_only(data):
        return
    sizes = {im.get("id"): (im.get("height"), im.get("width")) for im in data["images"]}
    for ann in data["annotations"]:
        seg, where = ann.get("segmentation"), (f"{path}: annotation {ann.get('id')} (image "
                                                f"{ann.get('image_id')})")
        if ann.get("image_id") not in sizes:
            raise EvaluationError(f"{where}: no such image in 'images'")
        if isinstance(seg, list):
            if not seg:
                raise EvaluationError(f"{where}: empty segmentation list")
            for poly in seg:
                if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
                    n = len(poly) if isinstance(poly, list) else type(poly).__name__
                    raise EvaluationError(f"{where}: a polygon needs an even number >= 6 of "
                                          f"coordinates, got {n}")
        elif isinstance(seg, dict):
            if list(seg.get("size", [])) != list(sizes[ann["image_id"]]):
                raise EvaluationError(f"{where}: RLE size {seg.get('size')} is not its image's "
                                      f"{list(sizes[ann['image_id']])} (height, width)")
            counts = seg.get("counts")
            runs = rle_string_counts(counts) if isinstance(counts, str) else counts
            h, w = sizes[ann["image_id"]]
            if not isinstance(runs, list) or sum(runs) != h * w:
                covered = sum(runs) if isinstance(runs, list) else "no"
                raise EvaluationError(f"{where}: RLE counts cover {covered} pixels, not its "
                                      f"image's {h} x {w} = {h * w}")
        else:
            raise EvaluationError(f"{where}: no segmentation (polygons or RLE)")


def load_ground_truth(annotations: str, crowd_nesting: Optional[int] = None):
    """pycocotools COCO of an annotation file, checked first for a clear error.

    ``crowd_nesting``: boxes around that many others become ``iscrowd`` regions (which COCO
    scoring ignores), for box-only files that drew their crowds as ordinary boxes
    (:func:`ssd_isb.data.coco.nested_crowds`, the rule training applies to them).
    """
    require("pycocotools", "eval", "evaluate (COCO metrics)")
    from pycocotools.coco import COCO

    try:
        data = read_coco_json(annotations, scoring=True)
    except DatasetError as err:
        raise EvaluationError(str(err)) from None
    check_annotations(data, annotations)
    if crowd_nesting:
        mark_nested_crowds(data, crowd_nesting)
    if "categories" not in data:
        data["categories"] = [{"id": 1, "name": "person"}]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = data
        gt.createIndex()
    return gt


def mark_nested_crowds(data: Dict, nesting: int) -> int:
    """Set ``iscrowd`` on the boxes of ``data`` that hold ``nesting`` others; returns how
    many."""
    import numpy as np

    from ..data.coco import nested_crowds

    by_image: Dict[int, List[Dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    marked = 0
    for anns in by_image.values():
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                           a["bbox"][1] + a["bbox"][3]] for a in anns], np.float32)
        for ann, crowd in zip(anns, nested_crowds(boxes, nesting)):
            if crowd and not ann.get("iscrowd"):
                ann["iscrowd"] = 1
                marked += 1
    return marked


def select_image_ids(gt, split: str = "all", holdout_every: int = 5,
                     max_images: Optional[int] = None) -> List[int]:
    """Sorted image ids of one side of the deterministic hold-out ("all": every image), the
    first ``max_images`` of them when given."""
    ids = sorted(gt.getImgIds())
    if split != "all":
        ids = [i for i in ids
               if is_holdout(gt.imgs[i]["file_name"], holdout_every) == (split == "val")]
    return ids[:max_images] if max_images else ids


def evaluate(model: Optional[str], annotations: str, images: str, backend: Optional[str] = None,
             box_masks: bool = False, threads: Optional[int] = None,
             max_images: Optional[int] = None, split: str = "all", holdout_every: int = 5,
             plots: Optional[str] = None, num_overlays: int = 4,
             output: Optional[str] = None, crowd_nesting: Optional[int] = None,
             tiles="auto", zoom="auto") -> Dict:
    """Evaluate a model file on a COCO dataset (a box-only file: ``bbox`` only, ``segm``
    None).

    Args:
        model: model file (``.keras``, ``.tflite``, ``.onnx``, ``.engine``); None: the shipped
            default.
        annotations: COCO json with the ground truth.
        images: folder with the images.
        backend: backend name (inferred from the file when None).
        box_masks: score filled boxes as masks.
        threads: CPU threads of the backend.
        max_images: evaluate only the first N images (sorted by id).
        split: "all", or "val"/"train" for one side of the deterministic hold-out
            (:func:`ssd_isb.data.coco.is_holdout`), e.g. the dev-validation split.
        holdout_every: the hold-out modulus.
        plots: folder for the PR curve and the worst/best overlays (listed in ``plots``).
        num_overlays: overlays of each kind.
        output: write the report here as JSON too.
        crowd_nesting: see :func:`load_ground_truth`.
        tiles, zoom: sliced inference and the second look per person
            (:class:`~ssd_isb.runtime.Segmenter`), as an application runs them.

    Returns:
        The report: ``segm``, ``bbox``, ``images``, ``backend``, ``model``, ``box_masks``,
        ``missing_images``, ``unreadable_images``, ``seconds``, ``ms_per_image``.
    """
    _check_subset(max_images, holdout_every, num_overlays, crowd_nesting)  # before the model
    # Outputs are checked before the work, not found unwritable after it.
    if output:
        check_output_file(output, "--output")
    if plots:
        try:
            check_writable(plots)
        except OutputError as err:
            raise OutputError(f"--plots {err}") from None
    seg = Segmenter(model, backend=backend, threads=threads, score_threshold=0.0, tiles=tiles,
                    zoom=zoom)
    report = evaluate_segmenter(seg, annotations, images, seg.path, box_masks, max_images,
                                split, holdout_every, plots, num_overlays, crowd_nesting)
    if output:
        write_json(output, report)
    return report


def evaluate_segmenter(seg: SegmenterBase, annotations: str, images: str, model: str,
                       box_masks: bool = False, max_images: Optional[int] = None,
                       split: str = "all", holdout_every: int = 5,
                       plots: Optional[str] = None, num_overlays: int = 4,
                       crowd_nesting: Optional[int] = None) -> Dict:
    """Evaluate any segmenter (an SSD-ISB model or a peer) on a COCO dataset.

    The same loop scores SSD-ISB models and the peers of ``benchmarks/compare.py``, so every
    model's figures come from identical matching and the same images. Arguments as
    :func:`evaluate`; ``seg`` must keep every detection it is to be scored on (a low threshold).
    """
    _check_subset(max_images, holdout_every, num_overlays, crowd_nesting)
    class_names, backend_name = seg.class_names, seg.name
    gt = load_ground_truth(annotations, crowd_nesting)
    boxes_only = is_box_only(gt.dataset)
    person = person_category_id(gt.dataset, annotations)
    if "person" not in class_names:
        raise EvaluationError(f"{model}: the model's classes {list(class_names)[:5]} do not "
                              f"include person")
    ids = select_image_ids(gt, split, holdout_every, max_images)
    missing = [gt.imgs[i]["file_name"] for i in ids
               if not os.path.exists(os.path.join(images, gt.imgs[i]["file_name"]))]
    if len(missing) == len(ids):
        raise EvaluationError(f"{images}: none of the {len(ids)} images of {annotations} is "
                              f"there")
    for name in missing:
        log.warning("missing image %s, skipped", os.path.join(images, name))
    skip = set(missing)
    results: List[Dict] = []
    evaluated, unreadable, cut_short, per_image = [], [], [], {}
    started = time.perf_counter()
    for image_id in progress(ids, desc="evaluate"):
        info = gt.imgs[image_id]
        if info["file_name"] in skip:
            continue
        path = os.path.join(images, info["file_name"])
        if truncated(path):  # segmented as far as it goes (read_image warns), and counted
            cut_short.append(info["file_name"])
        try:
            result = seg(path)
        except ImageError as err:
            log.warning("%s, skipped", err)
            unreadable.append(info["file_name"])
            continue
        if tuple(result.image_size) != (info.get("height"), info.get("width")):
            # Boxes and masks would be scored against a ground truth of another size.
            raise EvaluationError(
                f"{path}: the image is {result.image_size[1]} x {result.image_size[0]} but "
                f"{annotations} says {info.get('width')} x {info.get('height')} (width x "
                f"height)")
        if box_masks:
            result = with_box_masks(result)  # scored and drawn alike
        entries = to_coco_results(result, image_id, category_ids={"person": person})
        results += entries
        evaluated.append(image_id)
        if plots:
            per_image[image_id] = {"path": path, "result": result}
    seconds = time.perf_counter() - started
    if not evaluated:
        raise EvaluationError(f"{images}: no readable image to evaluate")
    report = {
        "segm": None if boxes_only else coco_metrics(gt, results, "segm", evaluated, person),
        "bbox": coco_metrics(gt, results, "bbox", evaluated, person),
        "images": len(evaluated), "backend": backend_name, "model": os.path.abspath(model),
        "box_masks": bool(box_masks), "missing_images": missing,
        "unreadable_images": unreadable, "truncated_images": cut_short,
        "seconds": round(seconds, 2),
        "ms_per_image": round(1000 * seconds / len(evaluated), 2),
        "annotations": os.path.abspath(annotations), "split": split,
        "crowd_nesting": crowd_nesting,
    }
    if hasattr(seg, "tiles"):  # an SSD-ISB model: how its passes ran
        from ..runtime.regions import tiles_text
        from ..runtime.zoom import zoom_text

        report["tiles"], report["zoom"] = tiles_text(seg.tiles), zoom_text(seg.zoom)
    if plots and not boxes_only:
        from .plots import write_plots

        report["plots"] = write_plots(gt, results, per_image, person, plots,
                                      os.path.basename(model), num_overlays)
    return report
