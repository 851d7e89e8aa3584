"""HD frames with exact labels: mosaics of real COCO person photos (a benchmark, TF-free).

No HD person dataset with instance masks is at hand, yet the frames users point the model at
are 1280x720 and 1920x1080 with many small people. A mosaic of R x C real photos, each scaled
to fit its cell at its own aspect (the rest of the cell a flat grey), is such a frame with
exact ground truth: every polygon and box is scaled and moved with its photo, crowd regions
(RLE) are resized with theirs, areas scale by the square of the factor. People come out smaller
than in the photos, as they are in a wide camera view.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..data.coco import decode_segmentation, is_holdout, person_category_id, read_coco_json
from ..utils.errors import UsageError, require
from ..utils.files import write_json

FILL = 114  # cell background (grey, as letterbox padding)


def place(width: int, height: int, cell: Tuple[int, int, int, int]) -> Tuple[float, int, int]:
    """(scale, x offset, y offset) that fits a ``width`` x ``height`` photo inside a cell
    (x0, y0, cell width, cell height), centred, aspect kept."""
    cx, cy, cw, ch = cell
    scale = min(cw / width, ch / height)
    return scale, cx + int((cw - round(width * scale)) // 2), cy + int((ch - round(height * scale)) // 2)


def move_annotation(ann: Dict, scale: float, dx: int, dy: int, src_size: Tuple[int, int],
                    canvas: Tuple[int, int], new_id: int, image_id: int) -> Dict:
    """One annotation scaled by ``scale`` and moved by (dx, dy) onto a canvas (H, W)."""
    from pycocotools import mask as mask_utils

    x, y, w, h = (float(v) for v in ann["bbox"])
    seg = ann.get("segmentation")
    if isinstance(seg, list):
        moved = [[float(v) * scale + (dx if i % 2 == 0 else dy) for i, v in enumerate(poly)]
                 for poly in seg]
    else:
        import cv2

        mask = decode_segmentation(seg, *src_size)
        small = cv2.resize(mask, (max(1, round(src_size[1] * scale)),
                                  max(1, round(src_size[0] * scale))),
                           interpolation=cv2.INTER_NEAREST)
        full = np.zeros(canvas, np.uint8)
        full[dy:dy + small.shape[0], dx:dx + small.shape[1]] = small
        rle = mask_utils.encode(np.asfortranarray(full))
        moved = {"size": list(canvas), "counts": rle["counts"].decode("ascii")}
    return {"id": new_id, "image_id": image_id, "category_id": 1,
            "bbox": [x * scale + dx, y * scale + dy, w * scale, h * scale],
            "area": float(ann.get("area", w * h)) * scale * scale,
            "iscrowd": int(ann.get("iscrowd", 0)), "segmentation": moved}


def build_mosaics(annotations: str, images: str, output: str, grid: Sequence[int] = (2, 2),
                  size: Sequence[int] = (1280, 720), count: int = 40, split: str = "train",
                  holdout_every: int = 5, seed: int = 0, quality: int = 95) -> Dict:
    """Write ``count`` mosaic frames and their COCO annotations (person only).

    Args:
        annotations: COCO json of the photos.
        images: their folder.
        output: folder for ``images/`` and ``annotations.json``.
        grid: (rows, cols) of photos per frame.
        size: (width, height) of a frame.
        count: frames; each photo is used at most once while photos last.
        split: which side of the hold-out the photos come from ("train", "val" or "all").
        holdout_every: the hold-out modulus (:func:`ssd_isb.data.coco.is_holdout`).
        seed: photo order.
        quality: JPEG quality of the frames.

    Returns:
        ``{"frames", "persons", "photos", "annotations"}``.
    """
    require("pycocotools", "eval", "the mosaic benchmark")
    import cv2

    rows, cols = int(grid[0]), int(grid[1])
    width, height = int(size[0]), int(size[1])
    if rows < 1 or cols < 1 or width < 64 or height < 64 or count < 1:
        raise UsageError(f"mosaic: grid {rows}x{cols}, size {width}x{height}, count {count}: "
                         f"need positive grid and count, and at least 64 px")
    data = read_coco_json(annotations)
    person = person_category_id(data, annotations)
    by_image: Dict[int, List[Dict]] = {}
    for ann in data["annotations"]:
        if ann.get("category_id") == person:
            by_image.setdefault(ann["image_id"], []).append(ann)
    pool = [im for im in sorted(data["images"], key=lambda i: i["id"])
            if im["id"] in by_image and (split == "all" or is_holdout(
                im["file_name"], holdout_every) == (split == "val"))
            and os.path.exists(os.path.join(images, im["file_name"]))]
    if len(pool) < rows * cols:
        raise UsageError(f"{annotations}: {len(pool)} photos with persons on the {split} side, "
                         f"fewer than one {rows}x{cols} mosaic needs")
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(pool)))
    os.makedirs(os.path.join(output, "images"), exist_ok=True)
    out_images, out_anns = [], []
    cw, ch = width // cols, height // rows
    for f in range(int(count)):
        if len(order) < rows * cols:
            order += list(rng.permutation(len(pool)))
        picks = [pool[order.pop()] for _ in range(rows * cols)]
        canvas = np.full((height, width, 3), FILL, np.uint8)
        image_id = f + 1
        for k, info in enumerate(picks):
            photo = cv2.imread(os.path.join(images, info["file_name"]), cv2.IMREAD_COLOR)
            ph, pw = photo.shape[:2]
            cell = ((k % cols) * cw, (k // cols) * ch, cw, ch)
            scale, dx, dy = place(pw, ph, cell)
            small = cv2.resize(photo, (round(pw * scale), round(ph * scale)),
                               interpolation=cv2.INTER_AREA)
            canvas[dy:dy + small.shape[0], dx:dx + small.shape[1]] = small
            for ann in by_image[info["id"]]:
                out_anns.append(move_annotation(ann, scale, dx, dy, (ph, pw), (height, width),
                                                len(out_anns) + 1, image_id))
        name = f"mosaic_{rows}x{cols}_{width}x{height}_{image_id:04d}.jpg"
        cv2.imwrite(os.path.join(output, "images", name), canvas,
                    [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        out_images.append({"id": image_id, "file_name": name, "width": width, "height": height,
                           "sources": [p["file_name"] for p in picks]})
    result = {"images": out_images, "annotations": out_anns,
              "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
              "info": {"description": f"{rows}x{cols} mosaics of {os.path.basename(annotations)} "
                                      f"({split} side) at {width}x{height}", "seed": seed}}
    path = os.path.join(output, "annotations.json")
    write_json(path, result)
    return {"frames": len(out_images),
            "persons": sum(1 for a in out_anns if not a["iscrowd"]),
            "photos": len(out_images) * rows * cols, "annotations": path}


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--annotations", required=True, help="COCO json of the photos")
    p.add_argument("--images", required=True, help="their folder")
    p.add_argument("--output", required=True, help="folder for images/ and annotations.json")
    p.add_argument("--grid", default="2x2", help="photos per frame, RxC (default: 2x2)")
    p.add_argument("--size", default="1280x720", help="frame WxH (default: 1280x720)")
    p.add_argument("--count", type=int, default=40, help="frames (default: 40)")
    p.add_argument("--split", choices=("train", "val", "all"), default="train",
                   help="side of the hold-out the photos come from (default: train)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        grid = tuple(int(v) for v in args.grid.lower().split("x"))
        size = tuple(int(v) for v in args.size.lower().split("x"))
        assert len(grid) == 2 and len(size) == 2
    except (ValueError, AssertionError):
        p.error("--grid and --size take RxC and WxH")
    out = build_mosaics(args.annotations, args.images, args.output, grid, size, args.count,
                        args.split, seed=args.seed)
    print(f"{out['frames']} frames, {out['persons']} persons -> {out['annotations']}")
    return 0
