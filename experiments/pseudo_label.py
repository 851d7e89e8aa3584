#!/usr/bin/env python3
"""Pseudo-label the people in videos and image folders with a trained model (issue 14, step 4).

    python experiments/pseudo_label.py --model ssd_isb/zoo/ssd_isb_multi_shape_fp32.tflite \\
        --video ../shared/data/videos/pedestrians_480x360.avi --every 4 \\
        --output runs/pseudo/pedestrians

writes ``OUTPUT/images/*.jpg`` and ``OUTPUT/annotations.json`` (COCO, compressed RLE); add it
to a config's ``data.train`` as ``{name: pseudo, annotations: OUTPUT/annotations.json, images:
OUTPUT/images, split: all}``. Which detections become labels: :mod:`ssd_isb.data.pseudo_labels`.
Unreadable images are skipped and counted. TF-free.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.utils.errors import SSDISBError, UsageError, check_range
    from ssd_isb.utils.files import write_json
    from ssd_isb.utils.progress import progress
    from ssd_isb.data.pseudo_labels import (PseudoLabeller, PseudoLabelSettings, teacher_info,
                                       video_frames)
    from ssd_isb.runtime import ImageError, Segmenter, read_image
    from ssd_isb.runtime.image_io import list_images

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="teacher model (default: the shipped one)")
    p.add_argument("--video", action="append", default=[], help="video file (repeatable)")
    p.add_argument("--images", action="append", default=[], help="image folder (repeatable)")
    p.add_argument("--every", type=int, default=4, help="label every N-th video frame")
    p.add_argument("--output", required=True, help="folder for images/ and annotations.json")
    p.add_argument("--min-score", type=float, default=0.7)
    p.add_argument("--min-flip-iou", type=float, default=0.8)
    p.add_argument("--min-height", type=float, default=32.0)
    p.add_argument("--ignore-score", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if not args.video and not args.images:
            raise UsageError("give at least one --video or --images")
        check_range("--every", args.every, 1)
        for path in args.video:
            if not os.path.isfile(path):
                raise UsageError(f"{path}: no such video file")
        for folder in args.images:
            if not os.path.isdir(folder):
                raise UsageError(f"{folder}: no such image folder")
        settings = PseudoLabelSettings(args.min_score, args.min_flip_iou, args.min_height,
                                       args.ignore_score)
        images_dir = os.path.join(args.output, "images")
        os.makedirs(images_dir, exist_ok=True)
        teacher = Segmenter(args.model, threads=args.threads,
                            score_threshold=settings.ignore_score)
        labeller = PseudoLabeller(teacher, settings, images_dir)
        for video in args.video:
            for name, frame in progress(video_frames(video, args.every), desc=video):
                labeller.add(name, frame)
        for folder in args.images:
            for path in progress(list_images(folder), desc=folder):
                try:
                    image = read_image(path)
                except ImageError as err:
                    labeller.counts.unreadable += 1
                    logging.warning("%s", err)
                    continue
                labeller.add(os.path.basename(path), image)
        out = write_json(os.path.join(args.output, "annotations.json"),
                         labeller.dataset(teacher_info(teacher, args.video + args.images)))
    except SSDISBError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    c = labeller.counts
    print(f"{out}: {c.images_kept} of {c.images} images kept, {c.kept} people labelled, "
          f"{c.ignored} ignore regions ({c.rejected_flip} sure detections rejected by the flip "
          f"check, {c.rejected_small} as too small), {c.unreadable} unreadable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
