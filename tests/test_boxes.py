"""The five box formats and their converters (ssd_isb.core.boxes), TF-free."""

import numpy as np

from ssd_isb.core.encompassing import encompassing_windows
from ssd_isb.core.boxes import (cells_to_normalized, center_to_corners, center_xywh_to_xyxy,
                                   iou_matrix, normalized_to_pixels, pixels_to_normalized,
                                   swap_xy, window_pixels, xywh_to_xyxy, xyxy_to_xywh)


def test_pixel_and_normalized_round_trip():
    xyxy = np.array([[10.0, 20.0, 110.0, 220.0], [0.0, 0.0, 640.0, 480.0]], np.float32)
    norm = pixels_to_normalized(xyxy, (480, 640))
    np.testing.assert_allclose(norm[0], [20 / 480, 10 / 640, 220 / 480, 110 / 640], rtol=1e-6)
    np.testing.assert_allclose(norm[1], [0, 0, 1, 1])
    np.testing.assert_allclose(normalized_to_pixels(norm, (480, 640)), xyxy, rtol=1e-6)
    np.testing.assert_array_equal(swap_xy(swap_xy(xyxy)), xyxy)


def test_coco_xywh_and_centres():
    xyxy = np.array([[10.0, 20.0, 110.0, 220.0]])
    np.testing.assert_array_equal(xyxy_to_xywh(xyxy), [[10, 20, 100, 200]])
    np.testing.assert_array_equal(xywh_to_xyxy(xyxy_to_xywh(xyxy)), xyxy)
    np.testing.assert_array_equal(center_xywh_to_xyxy([[60.0, 120.0, 100.0, 200.0]]), xyxy)
    np.testing.assert_allclose(center_to_corners(np.array([[0.5, 0.5, 0.2, 0.4]])),
                               [[0.4, 0.3, 0.6, 0.7]])


def test_cell_windows_to_normalized_and_pixels():
    win = np.array([[2, 3, 4, 2]], np.int32)  # rows 2-5, columns 3-4 of a 10x10 grid
    norm = cells_to_normalized(win, (10, 10))
    np.testing.assert_allclose(norm, [[0.2, 0.3, 0.6, 0.5]], rtol=1e-6)
    assert (encompassing_windows(norm, (10, 10)) == win).all()
    assert window_pixels(norm[0], (480, 640)) == (96, 192, 288, 320)


def test_iou_matrix():
    a = np.array([[0, 0, 2, 2]], np.float32)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1 / 7, 1.0, 0.0]], atol=1e-6)
