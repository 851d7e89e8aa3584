"""How a teacher's probability maps become one mask and one confidence (numpy, TF-free).

A *recipe* names the maps of :meth:`~ssd_isb.teacher.mediapipe.MediaPipeTeacher.variants` that
are averaged (``pose``, ``selfie``, their mirrored runs ``*_flip``, the body-aligned pose
``aligned``, ``aligned_flip``); the mask is the average above 0.5. Its confidence is how much
the recipe's members agree with each other: the mean pairwise IoU of their own masks. A mask
the models draw differently, or that moves when the picture is mirrored, is a guess.
"""

from __future__ import annotations

from itertools import combinations
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

# Measured by scripts/measure_teacher.py on training-side images (model card, "Teacher").
RECIPES: Dict[str, Tuple[str, ...]] = {
    "pose": ("pose",),
    "selfie": ("selfie",),
    "fusion": ("pose", "selfie"),
    "pose+flip": ("pose", "pose_flip"),
    "fusion+flip": ("pose", "pose_flip", "selfie", "selfie_flip"),
    "aligned": ("aligned",),
    "aligned+flip": ("aligned", "aligned_flip"),
    "aligned+selfie": ("aligned", "selfie"),
    "aligned+selfie+flip": ("aligned", "aligned_flip", "selfie", "selfie_flip"),
}


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks of one shape (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def available(recipe: Sequence[str], maps: Mapping[str, np.ndarray]) -> Tuple[str, ...]:
    """The members of a recipe that were computed (the aligned crop may be missing: then the
    naive pose map stands in for it)."""
    out = []
    for name in recipe:
        if name in maps:
            out.append(name)
        elif name.startswith("aligned") and name.replace("aligned", "pose") in maps:
            out.append(name.replace("aligned", "pose"))
    return tuple(out)


def fuse(maps: Mapping[str, np.ndarray], recipe: Sequence[str]) -> Tuple[np.ndarray, float]:
    """A recipe's mask (bool) and confidence (mean pairwise IoU of its members' masks; 1.0
    for a single map, where nothing can disagree).

    Raises:
        KeyError: none of the recipe's maps is there.
    """
    names = available(recipe, maps)
    if not names:
        raise KeyError(f"none of {', '.join(recipe)} was computed")
    probs = [maps[n] for n in names]
    mask = np.mean(probs, axis=0) > 0.5
    if len(probs) == 1:
        return mask, 1.0
    singles = [p > 0.5 for p in probs]
    agreement = float(np.mean([mask_iou(a, b) for a, b in combinations(singles, 2)]))
    return mask, agreement
