"""Tracks written per frame: JSON lines with masks, and MOTChallenge boxes (TF-free).

One JSON object per tracked person per frame::

    {"frame": 12, "track_id": 3, "box": [x, y, w, h], "score": 0.81,
     "segmentation": {"size": [H, W], "counts": "..."}}

``frame`` counts from 0 as in ``results.json``; ``box`` is in pixels as COCO's ``bbox``;
``segmentation`` is COCO compressed RLE (``pycocotools.mask.decode`` reads it). The ``.txt``
beside it is the MOTChallenge layout, ``frame,id,x,y,w,h,conf,-1,-1,-1`` with frames from 1,
which MOT evaluation tools (TrackEval, py-motmetrics) read directly.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from ..utils.files import check_output_file
from ..core.boxes import xyxy_to_xywh
from ..runtime.result import Segmentation
from ..runtime.rle import encode_mask


def mot_path(jsonl_path: str) -> str:
    """The MOTChallenge ``.txt`` written beside a tracks ``.jsonl``."""
    return os.path.splitext(jsonl_path)[0] + "_mot.txt"


class TrackWriter:
    """Append each frame's tracked people to ``path`` (.jsonl) and its ``_mot.txt``.

    Lines are flushed per frame, so a run stopped by Ctrl-C or a lost stream keeps every
    frame it finished.

    Args:
        path: the JSON-lines file (its folder must be writable).
        masks: write each person's RLE mask (False: boxes only, smaller files).
    """

    def __init__(self, path: str, masks: bool = True):
        check_output_file(path, "--tracks")
        self.path = path
        self.mot = mot_path(path)
        self.masks = masks
        self.lines = 0
        self._ids = set()
        self._jsonl = open(path, "w")
        self._txt = open(self.mot, "w")

    def write(self, frame: int, result: Segmentation) -> None:
        """Write the people of frame ``frame`` (0-based); ``result`` must carry track IDs."""
        if result.track_ids is None:
            raise ValueError("TrackWriter.write: the result has no track_ids (run a Tracker)")
        xywh = xyxy_to_xywh(result.boxes)
        for i in range(len(result)):
            entry = {"frame": int(frame), "track_id": int(result.track_ids[i]),
                     "box": [round(float(v), 2) for v in xywh[i]],
                     "score": round(float(result.scores[i]), 4)}
            if self.masks:
                entry["segmentation"] = encode_mask(result.masks[i])
            self._jsonl.write(json.dumps(entry) + "\n")
            x, y, w, h = (float(v) for v in xywh[i])
            self._txt.write(f"{frame + 1},{int(result.track_ids[i])},{x:.2f},{y:.2f},{w:.2f},"
                            f"{h:.2f},{float(result.scores[i]):.4f},-1,-1,-1\n")
            self.lines += 1
            self._ids.add(int(result.track_ids[i]))
        self._jsonl.flush()
        self._txt.flush()

    @property
    def identities(self) -> int:
        """Distinct track IDs written (what the files hold, not the tracker's counter)."""
        return len(self._ids)

    def close(self) -> None:
        self._jsonl.close()
        self._txt.close()

    def __enter__(self) -> "TrackWriter":
        return self

    def __exit__(self, *exc) -> Optional[bool]:
        self.close()
        return None
