#!/usr/bin/env python3
"""HD frames with exact labels: R x C mosaics of real COCO person photos (ssd_isb.measure.mosaic).

    python benchmarks/hd_mosaic.py --annotations ../shared/data/coco_person_val2017/annotations.json \\
        --images ../shared/data/coco_person_val2017/images --split train \\
        --grid 2x2 --size 1280x720 --count 60 --output runs/hd/train_2x2_720
    ssd-isb evaluate --annotations runs/hd/train_2x2_720/annotations.json \\
        --images runs/hd/train_2x2_720/images --tiles auto

TF-free; needs pycocotools (the eval extra) for the crowd regions' masks.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd_isb.measure.mosaic import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
