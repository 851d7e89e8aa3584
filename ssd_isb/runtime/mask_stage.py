"""Between the two stages: windows, bucketing, crops and branch calls, in numpy (TF-free).

For the detections above the score threshold (no cap: every one of them), the encompassing
windows pick the branches exactly as the graph does (:mod:`ssd_isb.core.encompassing`,
:mod:`ssd_isb.core.branches`); each branch that has people gets one call with all of its crops
(:mod:`ssd_isb.runtime.crops`), so the cost follows the scene, not a padded slot count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..core.branches import BranchSpec, assign_branches
from ..core.encompassing import encompassing_windows
from ..core.stages import LEVELS, feature_names
from ..core.boxes import cells_to_normalized
from .crops import crop_windows

# name of a branch, its crops -> logits [K, h', w', classes]
BranchRunner = Callable[[str, List[np.ndarray]], np.ndarray]


@dataclass
class StageOutput:
    """Detections kept, each with its mask logits over its window.

    Attributes:
        boxes: float32 [K, 4] normalized (ymin, xmin, ymax, xmax).
        scores: float32 [K].
        classes: int32 [K] (1-based).
        logits: K float32 arrays [h', w'] (the branch's native resolution; [0, 0] without
            a mask).
        windows: float32 [K, 4] normalized encompassing windows (zeros: no mask).
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    logits: List[np.ndarray]
    windows: np.ndarray


class MaskStage:
    """Runs the branch stage for the detections of the detect stage.

    Args:
        specs: the model's branches (:func:`ssd_isb.core.branches.variant_specs`).
        grid: (rows, cols) of the stride-32 map.
        skip_steps: FCN skip steps of the branches (0 to 3): how many maps they crop.
    """

    def __init__(self, specs: Sequence[BranchSpec], grid: Sequence[int], skip_steps: int):
        self.specs = list(specs)
        self.grid = (int(grid[0]), int(grid[1]))
        self.levels = LEVELS[:skip_steps + 1]
        self.features = feature_names(skip_steps)
        self.calls: Dict[str, int] = {}  # crops per branch in the last call (for benchmarks)

    def keep(self, detections: Dict[str, np.ndarray], score_threshold: float):
        """Boxes, scores and classes of the detections at or above ``score_threshold``."""
        count = int(np.asarray(detections["count"]).reshape(-1)[0])
        scores = np.asarray(detections["scores"], np.float32).reshape(-1)[:count]
        keep = np.nonzero(scores >= score_threshold)[0]
        boxes = np.asarray(detections["boxes"], np.float32).reshape(-1, 4)[keep]
        classes = np.asarray(detections["classes"]).reshape(-1)[keep].astype(np.int32)
        return boxes, scores[keep], classes

    def maps(self, detections: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """The feature maps the branches crop, [H, W, C] each."""
        return [np.asarray(detections[k])[0] for k in self.features]

    def buckets(self, boxes: np.ndarray, grid=None
                ) -> Iterator[Tuple[BranchSpec, np.ndarray, np.ndarray]]:
        """(branch, indices of its boxes, their cell windows) for each branch with boxes, on
        the model's grid or ``grid`` (rows, cols) of another input size."""
        cells = encompassing_windows(boxes, grid or self.grid)
        assignment = assign_branches(cells[:, 2], cells[:, 3], self.specs)
        for b, spec in enumerate(self.specs):
            members = np.nonzero(assignment == b)[0]
            if len(members):
                yield spec, members, cells[members]

    def crops(self, maps: Sequence[np.ndarray], spec: BranchSpec,
              cells: np.ndarray) -> List[np.ndarray]:
        """One branch's input crops of the given windows (one array per map it reads)."""
        shape = (spec.shape[0] * spec.pool, spec.shape[1] * spec.pool)
        return [crop_windows(m, cells, shape, level, spec.resizes, spec.pool)
                for m, level in zip(maps, self.levels)]

    def __call__(self, detections: Dict[str, np.ndarray], run_branch: BranchRunner,
                 score_threshold: float = 0.5) -> StageOutput:
        """Masks for every kept detection.

        Args:
            detections: the detect stage's outputs (``boxes``, ``scores``, ``classes``,
                ``count`` and the feature maps, batch 1).
            run_branch: runs one branch on a batch of crops.
            score_threshold: detections below get neither a mask nor a place in the output.
        """
        boxes, scores, classes = self.keep(detections, score_threshold)
        views = [View(self.maps(detections), boxes, classes)] if len(boxes) else []
        logits, windows = self.run(views, run_branch)
        if not len(boxes):
            return StageOutput(boxes, scores, classes, [], np.zeros((0, 4), np.float32))
        return StageOutput(boxes, scores, classes, logits[0], windows[0])

    def run(self, views: Sequence["View"], run_branch: BranchRunner
            ) -> Tuple[List[List[np.ndarray]], List[np.ndarray]]:
        """Masks for the boxes of several views (the frame, its tiles, zoomed crops), each
        branch called once on the crops of every view it takes.

        Returns:
            Per view: its boxes' logits ([0, 0] without a mask) and their windows (normalized
            yxyx of that view, zeros without a mask).
        """
        logits = [[np.zeros((0, 0), np.float32)] * len(v.boxes) for v in views]
        windows = [np.zeros((len(v.boxes), 4), np.float32) for v in views]
        self.calls = {}
        jobs: Dict[str, List[Tuple[int, np.ndarray, np.ndarray]]] = {}
        for i, view in enumerate(views):
            if not len(view.boxes):
                continue
            grid = view.grid or self.grid
            for spec, members, cells in self.buckets(view.boxes, grid):
                jobs.setdefault(spec.name, []).append((i, members, cells))
                windows[i][members] = cells_to_normalized(cells, grid)
        for spec in self.specs:  # config order, as a single view always ran
            parts = jobs.get(spec.name)
            if not parts:
                continue
            per_view = [self.crops(views[i].maps, spec, cells) for i, _, cells in parts]
            crops = [np.concatenate(level) if len(per_view) > 1 else level[0]
                     for level in zip(*per_view)]
            out = np.asarray(run_branch(spec.name, crops), np.float32)
            self.calls[spec.name] = len(out)
            row = 0
            for i, members, _ in parts:
                classes = views[i].classes
                for k in members:
                    c = max(int(classes[k]) - 1, 0) if out.shape[-1] > 1 else 0
                    logits[i][k] = out[row, :, :, c]
                    row += 1
        return logits, windows


@dataclass
class View:
    """Boxes to mask on one run of the detect (or features) stage.

    Attributes:
        maps: the maps the branches crop, [H, W, C] each, coarsest first.
        boxes: float32 [K, 4] normalized yxyx of the view's input.
        classes: int32 [K] (1-based).
        grid: the stride-32 grid of the view's input when it is not the model's (a zoomed
            view of another size).
    """

    maps: List[np.ndarray]
    boxes: np.ndarray
    classes: np.ndarray
    grid: Optional[Tuple[int, int]] = None  # (rows, cols) of its stride-32 map; None: the model's
