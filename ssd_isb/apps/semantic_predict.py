"""``ssd-isb predict --task semantic``: person masks of images or a folder (TF-free with
TFLite/ONNX/TensorRT models).

Per image: ``<stem>_person.png`` (0 background, 255 person), an overlay (``<stem>_overlay.jpg``,
person pixels tinted) unless ``--no-overlays``, and one entry of ``results.json``:
``file_name``, ``person_fraction`` (share of the image that is person) and ``segmentation``
(the person mask as compressed COCO RLE). A semantic ``--model`` gives its map; an instance
model (the shipped default without ``--model``) gives the union of its masks. An unreadable
image is skipped, named and counted.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Dict, Optional

import cv2
import numpy as np

from ..utils.errors import UsageError
from ..utils.files import check_writable, run_folder, write_json
from ..utils.progress import progress
from ..runtime import ImageError, read_image
from ..runtime.image_io import is_image_file, list_images
from ..runtime.rle import encode_mask
from ..runtime.video import SourceError

log = logging.getLogger("ssd_isb.apps.predict")
TINT = np.array([60, 200, 60], np.float32)  # BGR green


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Person pixels tinted, the rest darkened."""
    out = image.astype(np.float32) * 0.55
    out[mask] = image[mask].astype(np.float32) * 0.5 + TINT * 0.5
    return out.astype(np.uint8)


def predict_semantic(model: Optional[str], source: str, output: str,
                     backend: Optional[str] = None, threads: Optional[int] = None,
                     overlays: bool = True, exist_ok: bool = False,
                     score_threshold: float = 0.5) -> Dict:
    """Write the person masks of ``source`` (an image or a folder of images) to ``output``.

    Returns:
        Summary: ``images``, ``unreadable``, ``results``, ``masks``, ``overlays``,
        ``ms_per_image``, ``backend``, ``person_source`` (SemanticSegmenter / InstanceUnion).

    Raises:
        SourceError: no such source, or no image in it.
        UsageError: a video (use ``ssd-isb demo --blur-background`` for those).
    """
    from ..runtime.semantic import person_segmenter

    if not os.path.exists(source):
        raise SourceError(f"{source}: no such image or folder")
    if os.path.isdir(source):
        paths = list_images(source)
    elif is_image_file(source):
        paths = [source]
    else:
        raise UsageError(f"{source}: predict --task semantic takes images or a folder (for a "
                         f"video: ssd-isb demo --source VIDEO --blur-background --output V.mp4)")
    if not paths:
        raise SourceError(f"{source}: no image files")
    output = check_writable(run_folder(output, exist_ok))
    seg = person_segmenter(model, backend, threads, score_threshold)
    results, masks, written, unreadable, times = [], [], [], [], []
    for path in progress(paths, desc="predict"):
        name = os.path.basename(path)
        try:
            image = read_image(path)
        except ImageError as err:
            if len(paths) == 1:
                raise SourceError(str(err)) from None
            log.warning("%s, skipped", err)
            unreadable.append(path)
            continue
        t0 = time.perf_counter()
        person = seg(image)
        times.append((time.perf_counter() - t0) * 1e3)
        mask = person.mask
        stem = os.path.splitext(name)[0]
        mask_path = os.path.join(output, f"{stem}_person.png")
        cv2.imwrite(mask_path, mask.astype(np.uint8) * 255)
        masks.append(mask_path)
        results.append({"file_name": name, "person_fraction": round(float(mask.mean()), 5),
                        "segmentation": encode_mask(mask)})
        if overlays:
            out_path = os.path.join(output, f"{stem}_overlay.jpg")
            cv2.imwrite(out_path, overlay(image, mask))
            written.append(out_path)
    results_path = os.path.join(output, "results.json")
    write_json(results_path, results)
    return {"images": len(results), "unreadable": len(unreadable), "results": results_path,
            "masks": masks, "overlays": written, "backend": seg.name,
            "person_source": type(seg).__name__,
            "ms_per_image": round(float(np.median(times)), 2) if times else None}


def summary_line(s: Dict) -> str:
    skipped = f", {s['unreadable']} unreadable skipped" if s["unreadable"] else ""
    return (f"person masks of {s['images']} images{skipped} ({s['ms_per_image']} ms each, "
            f"{s['backend']}, {s['person_source']}) -> {s['results']}")
