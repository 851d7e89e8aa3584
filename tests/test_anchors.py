"""Anchors match the TF OD API generator, checked against the zoo model's own anchor tensor."""

import numpy as np
import pytest

from conftest import ZOO_TFLITE, need
from ssd_isb.core.anchors import anchors_per_layer, center_to_corners, feature_map_sizes, generate_anchors
from ssd_isb.config import AnchorConfig


def _zoo_anchors():
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(need(ZOO_TFLITE))
    detail = next(d for d in it.get_tensor_details() if d["name"] == "anchors")
    scale, zero = detail["quantization"]
    return scale * (it.get_tensor(detail["index"]).astype(np.float32) - zero), scale


def test_anchors_equal_zoo_tensor_at_300():
    ours = generate_anchors(AnchorConfig(), (300, 300))
    zoo, scale = _zoo_anchors()
    assert ours.shape == zoo.shape == (1917, 4)
    # uint8 quantization: every value within half a step of ours.
    assert np.abs(ours - zoo).max() <= scale / 2 + 1e-6


@pytest.mark.parametrize("size, count, grids", [
    (300, 1917, [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]),
    (320, 2034, [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]),
    (640, 8028, [(40, 40), (20, 20), (10, 10), (5, 5), (3, 3), (2, 2)]),
])
def test_counts_and_grids(size, count, grids):
    assert feature_map_sizes((size, size)) == grids
    assert generate_anchors(AnchorConfig(), (size, size)).shape == (count, 4)
    assert anchors_per_layer(AnchorConfig()) == [3, 6, 6, 6, 6, 6]


def test_layout_layer_y_x_anchor():
    a = generate_anchors(AnchorConfig(), (320, 320))
    # First cell of the lowest layer: 0.1 @ 1:1, 0.2 @ 2:1, 0.2 @ 1:2, centred at (0.025, 0.025).
    np.testing.assert_allclose(a[:3, :2], 0.025, atol=1e-7)
    np.testing.assert_allclose(a[0, 2:], [0.1, 0.1], atol=1e-6)
    np.testing.assert_allclose(a[1, 2:], [0.2 / np.sqrt(2), 0.2 * np.sqrt(2)], atol=1e-6)
    # Next anchor triple moves along x first.
    np.testing.assert_allclose(a[3, :2], [0.025, 0.075], atol=1e-7)
    corners = center_to_corners(a[:1])
    np.testing.assert_allclose(corners, [[-0.025, -0.025, 0.075, 0.075]], atol=1e-6)


def test_non_square_input_keeps_anchors_square_in_pixels():
    a = generate_anchors(AnchorConfig(), (320, 640))
    h_px, w_px = a[0, 2] * 320, a[0, 3] * 640
    assert abs(h_px - w_px) < 1e-3

