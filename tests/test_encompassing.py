"""The encompassing box contains the box, is aligned to the grid and is minimal."""

import numpy as np
import pytest

from ssd_isb.core.encompassing import EDGE_TOLERANCE, encompassing_windows
from ssd_isb.core.boxes import cells_to_normalized as windows_to_boxes


def _random_boxes(rng, n):
    a, b = rng.uniform(0, 1, (2, n, 2))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    hi = np.maximum(hi, lo + 1e-3)
    return np.stack([lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]], -1).astype(np.float32)


@pytest.mark.parametrize("grid", [(20, 20), (10, 10), (10, 20)])
def test_contains_aligned_minimal(grid):
    rng = np.random.default_rng(0)
    boxes = np.clip(_random_boxes(rng, 2000), 0, 1)
    win = encompassing_windows(boxes, grid)
    assert win.dtype == np.int32
    y0, x0, h, w = win.T
    gh, gw = grid
    assert (h >= 1).all() and (w >= 1).all()
    assert (y0 >= 0).all() and (x0 >= 0).all() and (y0 + h <= gh).all() and (x0 + w <= gw).all()
    cells = boxes * np.array([gh, gw, gh, gw], np.float32)
    tol = EDGE_TOLERANCE + 1e-5
    # Contains (up to the edge tolerance).
    assert (y0 <= cells[:, 0] + tol).all() and (x0 <= cells[:, 1] + tol).all()
    assert (y0 + h >= cells[:, 2] - tol).all() and (x0 + w >= cells[:, 3] - tol).all()
    # Minimal: shrinking any side by one cell would cut the box (unless it is one cell wide).
    assert ((y0 + 1 > cells[:, 0] - tol) | (h == 1)).all()
    assert ((y0 + h - 1 < cells[:, 2] + tol) | (h == 1)).all()
    assert ((x0 + 1 > cells[:, 1] - tol) | (w == 1)).all()
    assert ((x0 + w - 1 < cells[:, 3] + tol) | (w == 1)).all()


def test_hand_cases():
    grid = (20, 20)
    boxes = np.array([
        [0.25, 0.25, 0.5, 0.5],        # exactly on grid lines: 5x5 at (5, 5)
        [0.26, 0.26, 0.49, 0.49],      # inside cells 5..9
        [0.0, 0.0, 1.0, 1.0],          # whole image
        [0.5, 0.5, 0.5, 0.5],          # degenerate: one cell
        [-0.1, -0.2, 1.3, 0.04],       # outside the image: clipped
        [0.25 + 1e-6, 0.1, 0.5 - 1e-6, 0.2],  # float noise on a grid line is not a new cell
    ], np.float32)
    win = encompassing_windows(boxes, grid)
    assert win.tolist() == [[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 20, 20], [10, 10, 1, 1],
                            [0, 0, 20, 1], [5, 2, 5, 2]]


def test_windows_to_boxes_inverse():
    win = np.array([[5, 5, 5, 5], [0, 0, 20, 20]], np.int32)
    np.testing.assert_allclose(windows_to_boxes(win, (20, 20)),
                               [[0.25, 0.25, 0.5, 0.5], [0, 0, 1, 1]])
    assert (encompassing_windows(windows_to_boxes(win, (20, 20)), (20, 20)) == win).all()


def test_graph_matches_numpy():
    import keras

    rng = np.random.default_rng(3)
    boxes = _random_boxes(rng, 500)
    ref = encompassing_windows(boxes, (10, 10))
    got = keras.ops.convert_to_numpy(
        encompassing_windows(keras.ops.convert_to_tensor(boxes), (10, 10), xp=keras.ops))
    np.testing.assert_array_equal(got, ref)
