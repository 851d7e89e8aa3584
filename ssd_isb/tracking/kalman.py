"""Constant-velocity Kalman filter of a person's box, as SORT / ByteTrack track it (TF-free).

The state is (cx, cy, a, h) — centre, aspect ratio w/h, height — and their velocities. The
noise scales with the box height, so a near person and a far one are equally certain in
relative terms (ByteTrack's weights: 1/20 of the height for positions, 1/160 for velocities).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

STD_POSITION = 1.0 / 20
STD_VELOCITY = 1.0 / 160


def xyxy_to_xyah(box: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) -> (cx, cy, w/h, h)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    h = max(y1 - y0, 1e-6)
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / h, h])


def xyah_to_xyxy(state: np.ndarray) -> np.ndarray:
    """(cx, cy, w/h, h, ...) -> (x0, y0, x1, y1)."""
    cx, cy, a, h = state[:4]
    w = a * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


class BoxKalman:
    """One track's filter. ``predict()`` each frame, ``update(box)`` when a detection matched.

    Args:
        box: the first detection, (x0, y0, x1, y1) pixels.
    """

    _F = np.eye(8)
    _F[:4, 4:] = np.eye(4)   # position += velocity, one frame apart
    _H = np.eye(4, 8)

    def __init__(self, box: np.ndarray):
        z = xyxy_to_xyah(box)
        self.mean = np.concatenate([z, np.zeros(4)])
        h = z[3]
        std = [2 * STD_POSITION * h, 2 * STD_POSITION * h, 1e-2, 2 * STD_POSITION * h,
               10 * STD_VELOCITY * h, 10 * STD_VELOCITY * h, 1e-5, 10 * STD_VELOCITY * h]
        self.cov = np.diag(np.square(std))

    def predict(self, frozen_velocity: bool = False) -> np.ndarray:
        """Advance one frame; ``frozen_velocity`` (a lost track) keeps its height still, as
        ByteTrack zeroes the height velocity of tracks it no longer sees. Returns the box."""
        if frozen_velocity:
            self.mean[7] = 0.0
        h = self.mean[3]
        std = [STD_POSITION * h, STD_POSITION * h, 1e-2, STD_POSITION * h,
               STD_VELOCITY * h, STD_VELOCITY * h, 1e-5, STD_VELOCITY * h]
        self.mean = self._F @ self.mean
        self.cov = self._F @ self.cov @ self._F.T + np.diag(np.square(std))
        return self.box

    def update(self, box: np.ndarray) -> np.ndarray:
        """Correct with a detection; returns the filtered box."""
        h = self.mean[3]
        r = np.diag(np.square([STD_POSITION * h, STD_POSITION * h, 1e-1, STD_POSITION * h]))
        s = self._H @ self.cov @ self._H.T + r
        gain = np.linalg.solve(s, self._H @ self.cov).T
        self.mean = self.mean + gain @ (xyxy_to_xyah(box) - self._H @ self.mean)
        self.cov = self.cov - gain @ s @ gain.T
        return self.box

    @property
    def box(self) -> np.ndarray:
        return xyah_to_xyxy(self.mean)

    @property
    def velocity(self) -> Tuple[float, float]:
        """(vx, vy) pixels per frame of the centre."""
        return float(self.mean[4]), float(self.mean[5])
