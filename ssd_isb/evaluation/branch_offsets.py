"""Per-branch mask offsets: one logit offset per Multi-Shape branch, chosen by mask AP (TF-free).

The runtime cuts every mask at one logit threshold, yet the branches do not spill alike: on the
dev split the 4x2 and 5x3 branches' masks cover 1.2-1.3x the person while the 2x1 branch's cover
half of it (``docs/results/mask_analysis_release7_fp32.md``). A constant added to one branch's
logits is the same as a threshold of its own for that branch. :class:`BranchOffsetSearch` picks
those constants by coordinate ascent on COCO mask AP (IoU 0.5:0.95) over images the model ran on
once; :mod:`ssd_isb.training.mask_calibration` then adds them to each branch's scoring-conv bias,
so every exported format carries them and the runtime keeps its single threshold.

A branch is known by the shape of its logits: each Multi-Shape branch emits one fixed shape
(its threshold shape times the FCN factor), which no other branch shares.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..runtime.coco_results import to_coco_results
from ..runtime.mask_stage import StageOutput
from ..runtime.segmenter import decode_stages

NO_BRANCH = ""  # a detection without a mask (no branch took it)


def branch_names_by_shape(specs, factor: int) -> Dict[Tuple[int, int], str]:
    """Logit shape (h', w') -> branch name for branches whose output shape is their own.

    Args:
        specs: the model's :class:`~ssd_isb.core.branches.BranchSpec` list.
        factor: branch output cells per stride-32 cell (4 for FCN-8).

    Raises:
        ValueError: two branches emit the same shape (for example Single-Shape+'s rest branch
            beside an exact branch of its shape), so logits cannot name their branch.
    """
    out: Dict[Tuple[int, int], str] = {}
    for spec in specs:
        shape = (int(spec.shape[0]) * factor, int(spec.shape[1]) * factor)
        if shape in out:
            raise ValueError(f"branches {out[shape]} and {spec.name} both emit {shape} logits; "
                             f"per-branch offsets need one shape per branch")
        out[shape] = spec.name
    return out


def detection_branches(out: StageOutput, names: Dict[Tuple[int, int], str]) -> List[str]:
    """The branch name of each detection of ``out`` (:data:`NO_BRANCH` without a mask)."""
    result = []
    for logits in out.logits:
        shape = tuple(int(v) for v in np.shape(logits)[:2])
        if shape[0] == 0 or shape[1] == 0:
            result.append(NO_BRANCH)
        elif shape in names:
            result.append(names[shape])
        else:
            raise ValueError(f"mask logits of shape {shape} match no branch "
                             f"(known: {sorted(names)})")
    return result


def subset(out: StageOutput, index: Sequence[int], offset: float = 0.0) -> StageOutput:
    """The detections ``index`` of ``out``, their mask logits plus ``offset``."""
    index = np.asarray(index, np.int64)
    return StageOutput(boxes=out.boxes[index], scores=out.scores[index],
                       classes=out.classes[index],
                       logits=[np.asarray(out.logits[i], np.float32) + np.float32(offset)
                               for i in index],
                       windows=out.windows[index])


@dataclasses.dataclass
class Image:
    """One image the model ran on: its COCO id, size (H, W) and the two stages' output."""

    image_id: int
    size: Tuple[int, int]
    output: StageOutput


class BranchOffsetSearch:
    """Mask AP as a function of per-branch logit offsets, with every paste done once.

    Each detection belongs to one branch, so the COCO results of a branch at an offset do not
    depend on the other branches' offsets: they are pasted once per (branch, offset) and a
    trial only re-runs the COCO evaluation.

    Args:
        images: the model's outputs (detections at the score cut-off the caller chose).
        names: logit shape -> branch name (:func:`branch_names_by_shape`).
        metric: COCO results -> the score to maximize (mask AP of the caller's images).
        class_names: the model's class names.
        mask_threshold: the model's logit threshold.
        mask_box_margin: the model's box margin (None: the whole window).
    """

    def __init__(self, images: Sequence[Image], names: Dict[Tuple[int, int], str],
                 metric: Callable[[List[dict]], float], class_names: Sequence[str],
                 mask_threshold: float, mask_box_margin: Optional[float]):
        self.images = list(images)
        self.metric = metric
        self.class_names = list(class_names)
        self.mask_threshold = float(mask_threshold)
        self.mask_box_margin = mask_box_margin
        self.members: Dict[str, List[Tuple[Image, np.ndarray]]] = {}
        for image in self.images:
            branches = np.array(detection_branches(image.output, names), dtype=object)
            for name in set(branches.tolist()):
                self.members.setdefault(name, []).append(
                    (image, np.nonzero(branches == name)[0]))
        self.branches = sorted(n for n in self.members if n != NO_BRANCH)
        self._cache: Dict[Tuple[str, float], List[dict]] = {}

    def count(self, branch: str) -> int:
        """Detections the branch segments over all images."""
        return int(sum(len(index) for _, index in self.members.get(branch, [])))

    def results(self, branch: str, offset: float) -> List[dict]:
        """COCO results of the branch's detections with ``offset`` added to their logits."""
        key = (branch, round(float(offset), 6))
        if key not in self._cache:
            entries: List[dict] = []
            for image, index in self.members.get(branch, []):
                seg = decode_stages(subset(image.output, index, offset), image.size,
                                    self.class_names, self.mask_threshold, self.mask_box_margin)
                entries += to_coco_results(seg, image.image_id)
            self._cache[key] = entries
        return self._cache[key]

    def score(self, offsets: Dict[str, float]) -> float:
        """The metric with each branch's logits shifted by ``offsets`` (missing: 0)."""
        entries = list(self.results(NO_BRANCH, 0.0))
        for branch in self.branches:
            entries += self.results(branch, offsets.get(branch, 0.0))
        return float(self.metric(entries))

    def search(self, candidates: Sequence[float], rounds: int = 2, min_gain: float = 0.1,
               min_detections: int = 20, log: Callable[[str], None] = lambda _: None):
        """Coordinate ascent from all-zero offsets.

        Each round visits the branches by size of their share and moves one to the candidate
        offset that raises the metric most, if by at least ``min_gain`` (a smaller rise is as
        likely noise on a few hundred images as a property of the branch). Branches with
        fewer than ``min_detections`` detections keep 0.

        Returns:
            (offsets by branch, the metric at zero offsets, the metric at the pick, the trials:
            a list of {"round", "branch", "offset", "metric"}).
        """
        offsets = {b: 0.0 for b in self.branches}
        base = best = self.score(offsets)
        log(f"all offsets 0: {base:.3f}")
        trials = []
        order = sorted(self.branches, key=self.count, reverse=True)
        for r in range(rounds):
            moved = False
            for branch in order:
                if self.count(branch) < min_detections:
                    continue
                current = offsets[branch]
                top_offset, top = current, best
                for c in candidates:
                    if c == current:
                        continue
                    value = self.score({**offsets, branch: float(c)})
                    trials.append({"round": r + 1, "branch": branch, "offset": float(c),
                                   "metric": value})
                    if value > top:
                        top_offset, top = float(c), value
                if top_offset != current and top - best >= min_gain:
                    offsets[branch], best, moved = top_offset, top, True
                    log(f"round {r + 1}: {branch} ({self.count(branch)} detections) "
                        f"{current:+g} -> {top_offset:+g}: {best:.3f}")
            if not moved:
                break
        return offsets, base, best, trials
