#!/usr/bin/env python3
"""Build the second held-out split: mask-labelled people that no setting was chosen on.

    python experiments/second_split.py --output runs/second_split

The dev split (``coco_person_val2017``, crc32 % 5 == 0) is where releases are measured; choices
are made on training-side images. This split is for reporting only, beside dev: the held-out
side (crc32 % 5 == 0) of the other mask-labelled sets, which every training config leaves out
by the same rule (``coco_mini``, ``coco_tiny``, ``coco128`` with all their person masks, and
Penn-Fudan), minus any image that is also a dev image. Writes ``OUTPUT/annotations.json``
(person only; Penn-Fudan's PNG masks as RLE) and ``OUTPUT/images/`` (links to the originals),
then evaluate with ``ssd-isb evaluate --annotations OUTPUT/annotations.json --images
OUTPUT/images``. Box AP on more people: ``coco_train_person_boxes`` with ``--split val
--crowd-nesting 3``.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETS = (("coco_mini", "annotations/instances_train2017.json", "train2017"),
        ("coco_mini", "annotations/instances_val2017.json", "val2017"),
        ("coco_tiny", "annotations/instances_train2017.json", "train2017"),
        ("coco_tiny", "annotations/instances_val2017.json", "val2017"),
        ("coco128", "annotations/instances_train2017.json", "train2017"))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.config import data_root
    from ssd_isb.data.coco import is_holdout, person_category_id, read_coco_json
    from ssd_isb.data.convert import convert_instance_masks
    from ssd_isb.utils.files import write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="folder for annotations.json and images/")
    p.add_argument("--data", default=data_root(), help="the shared data folder")
    args = p.parse_args(argv)

    dev = read_coco_json(os.path.join(args.data, "coco_person_val2017", "annotations.json"))
    dev_names = {im["file_name"] for im in dev["images"] if is_holdout(im["file_name"], 5)}
    images_dir = os.path.join(args.output, "images")
    os.makedirs(images_dir, exist_ok=True)
    images, anns, seen, counts = [], [], set(), {}

    def add(name, data, folder, source):
        person = person_category_id(data, source)
        by_image = {}
        for a in data["annotations"]:
            if int(a.get("category_id", -1)) == person:
                by_image.setdefault(a["image_id"], []).append(a)
        for im in data["images"]:
            fname = im["file_name"]
            if not is_holdout(fname, 5) or fname in dev_names or fname in seen:
                continue
            src = os.path.join(folder, fname)
            if not os.path.exists(src):
                continue
            seen.add(fname)
            new_id = len(images) + 1
            images.append({"id": new_id, "file_name": fname, "width": im["width"],
                           "height": im["height"], "source": name})
            link = os.path.join(images_dir, fname)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(src), link)
            for a in by_image.get(im["id"], []):
                anns.append(dict(a, id=len(anns) + 1, image_id=new_id, category_id=1))
            counts[name] = counts.get(name, 0) + 1

    for folder, ann_file, image_folder in SETS:
        path = os.path.join(args.data, folder, ann_file)
        add(f"{folder}/{image_folder}", read_coco_json(path),
            os.path.join(args.data, folder, image_folder), path)
    penn = os.path.join(args.data, "pennfudan")
    add("pennfudan", convert_instance_masks(os.path.join(penn, "PedMasks"),
                                            os.path.join(penn, "Images")),
        os.path.join(penn, "Images"), penn)
    persons = sum(1 for a in anns if not a.get("iscrowd"))
    out = write_json(os.path.join(args.output, "annotations.json"),
                     {"info": {"description": "ssd-isb second split (report only)",
                               "images_per_source": counts},
                      "images": images, "annotations": anns,
                      "categories": [{"id": 1, "name": "person", "supercategory": "person"}]})
    with_people = len({a["image_id"] for a in anns if not a.get("iscrowd")})
    print(f"{len(images)} images ({with_people} with people), {persons} persons, "
          f"per source {counts} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
