"""Box coder: encode/decode are inverse, in numpy and in the graph."""

import numpy as np

from ssd_isb.core.box_coder import decode, encode


def _boxes(rng, n):
    y0, x0 = rng.uniform(0, 0.7, (2, n))
    h, w = rng.uniform(0.02, 0.3, (2, n))
    return np.stack([y0, x0, y0 + h, x0 + w], -1).astype(np.float32)


def test_roundtrip_numpy():
    rng = np.random.default_rng(0)
    boxes = _boxes(rng, 200)
    anchors = np.concatenate([rng.uniform(0.1, 0.9, (200, 2)), rng.uniform(0.05, 0.5, (200, 2))],
                             -1).astype(np.float32)
    codes = encode(boxes, anchors)
    np.testing.assert_allclose(decode(codes, anchors), boxes, atol=1e-5)


def test_known_values():
    anchor = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    box = np.array([[0.45, 0.3, 0.65, 0.9]], np.float32)  # centre (0.55, 0.6), size 0.2 x 0.6
    codes = encode(box, anchor)
    np.testing.assert_allclose(codes, [[0.05 / 0.2 * 10, 0.1 / 0.4 * 10, 0.0,
                                        np.log(1.5) * 5]], atol=1e-4)


def test_graph_matches_numpy():
    import keras

    rng = np.random.default_rng(1)
    codes = rng.normal(0, 1, (50, 4)).astype(np.float32)
    anchors = np.concatenate([rng.uniform(0.1, 0.9, (50, 2)), rng.uniform(0.05, 0.5, (50, 2))],
                             -1).astype(np.float32)
    ref = decode(codes, anchors)
    got = keras.ops.convert_to_numpy(decode(keras.ops.convert_to_tensor(codes),
                                            keras.ops.convert_to_tensor(anchors), xp=keras.ops))
    np.testing.assert_allclose(got, ref, atol=1e-6)
