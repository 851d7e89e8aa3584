"""Gather-based crops equal numpy slicing; resizing crops equal OpenCV's bilinear resize."""

import cv2
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from ssd_isb.model.crops import crop_windows  # noqa: E402


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(0)
    grid = 10
    return {level: rng.normal(size=(2, grid * level, grid * level, 6)).astype(np.float32)
            for level in (1, 2, 4)}


@pytest.mark.parametrize("level", [1, 2, 4])
def test_exact_crop_equals_slicing(maps, level):
    fmap = maps[level]
    windows = np.array([[0, 0, 3, 2], [7, 8, 3, 2], [4, 1, 3, 2]], np.int32)
    batch = np.array([0, 1, 1], np.int32)
    got = crop_windows(tf.constant(fmap), windows, batch, (3, 2), level).numpy()
    assert got.shape == (3, 3 * level, 2 * level, 6)
    for k, (y0, x0, h, w) in enumerate(windows):
        ref = fmap[batch[k], y0 * level:(y0 + h) * level, x0 * level:(x0 + w) * level]
        np.testing.assert_array_equal(got[k], ref)


@pytest.mark.parametrize("level", [1, 2, 4])
def test_resize_crop_equals_opencv_bilinear(maps, level):
    fmap = maps[level]
    windows = np.array([[2, 3, 1, 1], [0, 0, 10, 10], [5, 6, 3, 2], [1, 2, 4, 7]], np.int32)
    batch = np.array([0, 1, 0, 1], np.int32)
    out = (5, 3)
    got = crop_windows(tf.constant(fmap), windows, batch, out, level, resize=True).numpy()
    assert got.shape == (4, 5 * level, 3 * level, 6)
    for k, (y0, x0, h, w) in enumerate(windows):
        src = fmap[batch[k], y0 * level:(y0 + h) * level, x0 * level:(x0 + w) * level]
        ref = cv2.resize(src, (out[1] * level, out[0] * level), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(got[k], ref, atol=1e-4)


def test_resize_to_same_shape_is_exact(maps):
    fmap = maps[2]
    windows = np.array([[1, 2, 4, 3], [6, 0, 4, 3]], np.int32)
    batch = np.array([1, 0], np.int32)
    exact = crop_windows(tf.constant(fmap), windows, batch, (4, 3), 2).numpy()
    resized = crop_windows(tf.constant(fmap), windows, batch, (4, 3), 2, resize=True).numpy()
    np.testing.assert_allclose(resized, exact, atol=1e-6)


@pytest.mark.parametrize("level", [1, 2, 4])
@pytest.mark.parametrize("resize", [False, True])
def test_runtime_numpy_crops_equal_the_graph_crops(level, resize):
    """The two-stage runtime crops in numpy what the single graph crops with gathers: the same
    cells and the same bilinear samples (768 channels: more than an OpenCV image may have)."""
    from ssd_isb.runtime.crops import crop_windows as numpy_crop

    rng = np.random.default_rng(level)
    fmap = rng.normal(size=(1, 10 * level, 10 * level, 768)).astype(np.float32)
    windows = np.array([[0, 0, 3, 2], [7, 8, 3, 2], [2, 3, 1, 1], [0, 0, 10, 10], [5, 6, 4, 3]],
                       np.int32)
    if not resize:
        windows[:, 2:] = (3, 2)
        windows[:, :2] = np.minimum(windows[:, :2], (7, 8))
    out = (3, 2) if not resize else (5, 3)
    graph = crop_windows(tf.constant(fmap), windows, np.zeros(5, np.int32), out, level,
                         resize=resize).numpy()
    ours = numpy_crop(fmap[0], windows, out, level, resize=resize)
    assert ours.shape == graph.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, graph, atol=1e-5, rtol=1e-6)


def test_runtime_crop_and_pool_equals_max_pool():
    from ssd_isb.runtime.crops import crop_windows as numpy_crop

    fmap = np.random.default_rng(5).normal(size=(1, 40, 40, 8)).astype(np.float32)
    windows = np.array([[1, 2, 4, 3], [0, 0, 10, 10]], np.int32)
    graph = tf.nn.max_pool2d(crop_windows(tf.constant(fmap), windows, np.zeros(2, np.int32),
                                          (10, 10), 4, resize=True), 2, 2, "VALID").numpy()
    ours = numpy_crop(fmap[0], windows, (10, 10), 4, resize=True, pool=2)
    assert ours.shape == (2, 20, 20, 8)
    np.testing.assert_allclose(ours, graph, atol=1e-5)
