#!/usr/bin/env python3
"""Every model side by side in one run (thesis Table 5.5): FPS, memory, parameters, and mask /
box AP50 when annotations are given; ``--peer`` adds YOLOv8n-seg and the zoo detector.

    python benchmarks/compare.py --models ssd_isb/zoo --threads 2 --runs 50 \\
        --peer ../shared/peers --pretrained ../shared/pretrained \\
        --annotations ../shared/data/coco_person_val2017/annotations.json \\
        --images ../shared/data/coco_person_val2017/images --split val \\
        --output compare.json --markdown compare.md

TF-free unless a ``.keras`` model is among the models (ssd_isb.measure.comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def our_models(given):
    """The SSD-ISB models to compare: the shipped ones unless ``--models`` was given (an
    empty ``--models`` compares only the peers). ``--peer`` adds to them, as its help says."""
    if given is None:
        from ssd_isb.zoo import ZOO_DIR

        return [ZOO_DIR]
    return list(given)


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.measure.benchmark import default_images
    from ssd_isb.measure.comparison import compare, markdown_table
    from ssd_isb.runtime.image_io import list_images

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=None,
                   help="SSD-ISB model files or folders of them (default: the shipped models, "
                        "with or without --peer; --models alone: none of ours)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=50, help="timed runs per model, alternated")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--timing-images", help="folder of photos to time on (default: 20 of "
                   "../shared/data/coco_person_val2017)")
    p.add_argument("--peer", help="folder of peer TFLite files (e.g. ../shared/peers)")
    p.add_argument("--pretrained", help="folder with the zoo detect.tflite "
                   "(e.g. ../shared/pretrained)")
    p.add_argument("--annotations", help="COCO json: also measure mask and box AP")
    p.add_argument("--images", help="image folder of --annotations")
    p.add_argument("--split", default="all", choices=("all", "train", "val"),
                   help="'val' = the dev-validation split (crc32(file name) %% 5 == 0)")
    p.add_argument("--max-images", type=int, help="score only the first N images of the split")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS processes")
    p.add_argument("--timing-count", type=int, default=20,
                   help="time on this many images of --timing-images (default folder: "
                   "coco_person_val2017)")
    p.add_argument("--people", type=int, nargs="*", default=[],
                   help="also time each model on a real frame with these numbers of people")
    p.add_argument("--tiles", nargs="+", default=["off"], metavar="auto|off|RxC",
                   help="sliced inference settings of our models, one row each (default: off)")
    p.add_argument("--zoom", nargs="+", default=["off"], metavar="auto|off|FACTOR",
                   help="second-look settings of our models, paired with --tiles in order "
                        "(one value: used for every --tiles)")
    p.add_argument("--output", help="JSON report")
    p.add_argument("--markdown", help="write the table here too")
    p.add_argument("--readme", help="replace the block between '<!-- compare:start -->' and "
                   "'<!-- compare:end -->' in this markdown file with the table and command")
    args = p.parse_args(argv)

    models = our_models(args.models)
    if not models and not args.peer and not args.pretrained:
        p.error("nothing to compare: give --models, --peer or --pretrained")
    if args.annotations and not args.images:
        p.error("--annotations needs --images")
    timing = list_images(args.timing_images) if args.timing_images else default_images(
        args.timing_count)
    timing = timing[:args.timing_count]
    zooms = args.zoom if len(args.zoom) == len(args.tiles) else args.zoom[:1] * len(args.tiles)
    if len(args.zoom) not in (1, len(args.tiles)):
        p.error("--zoom takes one value or as many as --tiles")
    if not timing:
        p.error("no images to time on: pass --timing-images")
    try:
        report = compare(models, timing, runs=args.runs, warmup=args.warmup,
                         threads=args.threads, peers=args.peer, pretrained=args.pretrained,
                         annotations=args.annotations, annotation_images=args.images,
                         split=args.split, memory=not args.no_memory,
                         max_images=args.max_images, people=args.people,
                         progress=lambda m: print(m, file=sys.stderr, flush=True),
                         passes=list(zip(args.tiles, zooms)))
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"compare.py: {err}", file=sys.stderr)
        return 1
    table = markdown_table(report)
    print(table)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(table)
    if args.readme:
        command = "python benchmarks/compare.py " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:]))
        try:
            update_readme(args.readme, table, command)
        except ValueError as err:
            print(f"compare.py: {err}", file=sys.stderr)
            return 1
    return 0


START, END = "<!-- compare:start -->", "<!-- compare:end -->"


def update_readme(path: str, table: str, command: str) -> None:
    """Put ``table`` and the command that produced it between the markers of ``path``."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if START not in text or END not in text:
        raise ValueError(f"{path}: no '{START}' ... '{END}' block to fill")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    block = f"{START}\n```bash\n{command}\n```\n\n{table}{END}"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head + block + tail)


if __name__ == "__main__":
    sys.exit(main())
