"""How well tracks keep identities against ground truth: ID switches, fragmentation and the
share of frames each true person holds one ID (TF-free).

Each frame, the true boxes are matched to the tracked boxes one to one (Hungarian, IoU at
least ``min_iou``), as CLEAR-MOT does. Then, per true person over the frames where it is
visible:

- an **ID switch** is a match whose track ID differs from the one it last had;
- a **fragmentation** is a return to being matched after a frame it was visible and unmatched;
- its **held share** is the fraction of its visible frames matched to its most frequent ID
  (1.0: one ID from its first frame to its last).
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, List, Sequence

import numpy as np

from ..core.boxes import iou_matrix
from .assignment import linear_assignment


def identity_measures(truth: Sequence[Dict[int, np.ndarray]],
                      tracked: Sequence[Dict[int, np.ndarray]],
                      min_iou: float = 0.5) -> Dict:
    """Measure ``tracked`` (per frame: track ID -> box) against ``truth`` (per frame: true
    ID -> box), boxes as (x0, y0, x1, y1).

    Returns:
        ``id_switches``, ``fragmentations``, ``held_share`` (mean over people), ``matched``
        (share of visible person-frames matched), ``tracks`` (distinct IDs matched), and
        ``people``: the same per true person.
    """
    if len(truth) != len(tracked):
        raise ValueError(f"identity_measures: {len(truth)} frames of truth, {len(tracked)} "
                         "tracked")
    history: Dict[int, List] = {}
    for gt, tr in zip(truth, tracked):
        gt_ids, tr_ids = list(gt), list(tr)
        if gt_ids and tr_ids:
            iou = iou_matrix(np.stack([gt[k] for k in gt_ids]), np.stack([tr[k] for k in tr_ids]))
            matches, _, _ = linear_assignment(1.0 - iou, 1.0 - min_iou)
        else:
            matches = []
        got = {gt_ids[r]: tr_ids[c] for r, c in matches}
        for k in gt_ids:
            history.setdefault(k, []).append(got.get(k))
    people = {}
    for k, seq in sorted(history.items()):
        switches = fragments = 0
        last, was = None, False
        for tid in seq:
            if tid is not None:
                if last is not None and tid != last:
                    switches += 1
                if not was and last is not None:
                    fragments += 1
                last = tid
            was = tid is not None
        counts = Counter(t for t in seq if t is not None)
        held = counts.most_common(1)[0][1] / len(seq) if counts else 0.0
        people[k] = {"frames": len(seq), "matched": sum(counts.values()) / len(seq),
                     "id_switches": switches, "fragmentations": fragments,
                     "held_share": round(held, 4), "ids": sorted(counts)}
    rows = list(people.values())
    total = sum(r["frames"] for r in rows)
    return {"id_switches": sum(r["id_switches"] for r in rows),
            "fragmentations": sum(r["fragmentations"] for r in rows),
            "held_share": round(float(np.mean([r["held_share"] for r in rows])), 4)
            if rows else 0.0,
            "matched": round(sum(r["matched"] * r["frames"] for r in rows) / max(total, 1), 4),
            "tracks": len({t for r in rows for t in r["ids"]}), "people": people}
