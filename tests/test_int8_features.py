"""The int8-feature simulation: folding, per-channel rounding, the match with a real int8
TFLite export, the per-image mix and its use in the training graph."""

import os

import numpy as np
import pytest

from conftest import DATA, need

pytest.importorskip("tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from ssd_isb.config import ConfigError, from_dict, load_config  # noqa: E402
from ssd_isb.model.int8_features import (  # noqa: E402
    Int8Features, MixFeatures, fold_batch_norm, quantize_per_channel)


def test_folded_conv_equals_conv_then_batch_norm():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 9, 4)).astype("float32")
    for depthwise in (False, True):
        conv = (keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False) if depthwise
                else keras.layers.Conv2D(5, 3, padding="same", use_bias=False))
        bn = keras.layers.BatchNormalization(epsilon=1e-3)
        y = conv(x)
        channels = y.shape[-1]
        bn.build(y.shape)
        bn.gamma.assign(rng.uniform(0.5, 2, channels))
        bn.beta.assign(rng.normal(size=channels))
        bn.moving_mean.assign(rng.normal(size=channels))
        bn.moving_variance.assign(rng.uniform(0.1, 3, channels))
        expected = np.asarray(bn(conv(x), training=False))
        kernel, bias = fold_batch_norm(conv.kernel, bn, depthwise)
        op = tf.nn.depthwise_conv2d if depthwise else tf.nn.conv2d
        got = np.asarray(op(x, kernel, [1, 1, 1, 1], "SAME") + bias)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_per_channel_rounding_is_symmetric_int8():
    kernel = tf.constant(np.random.default_rng(1).normal(size=(3, 3, 4, 6)), tf.float32)
    q = np.asarray(quantize_per_channel(kernel, axis=3))
    k = kernel.numpy()
    for c in range(6):
        scale = np.abs(k[..., c]).max() / 127
        levels = q[..., c] / scale
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)  # whole steps
        assert np.abs(levels).max() <= 127 + 1e-3
        assert np.abs(q[..., c] - k[..., c]).max() <= scale / 2 + 1e-6


def test_simulated_maps_match_the_shipped_int8_export():
    """Closer to the real int8 TFLite maps than the float maps are, at every stride."""
    from ssd_isb.model import load_model
    from ssd_isb.runtime.backends.tflite_backend import interpreter_class
    from ssd_isb.runtime.image_io import model_input, read_image
    from ssd_isb.zoo import ZOO_DIR

    folder = need(os.path.join(DATA, "coco_person_val2017", "images"))
    detector = load_model(os.path.join(ZOO_DIR, "ssd_isb_multi_shape.keras")).get_layer(
        "detector")
    simulate = Int8Features(detector)
    interpreter = interpreter_class()(
        model_path=os.path.join(ZOO_DIR, "ssd_isb_multi_shape_int8.tflite"),
        experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    endpoints = {"stride8": "Conv2d_5_pointwise_relu6", "stride16": "Conv2d_11_pointwise_relu6",
                 "stride32": "Conv2d_13_pointwise_relu6"}
    details = {k: next(d for d in interpreter.get_tensor_details()
                       if v in d["name"] and d["dtype"] == np.int8)
               for k, v in endpoints.items()}
    errors = {k: [] for k in endpoints}
    for name in ("000000001000.jpg", "000000002261.jpg", "000000003156.jpg"):
        x = model_input(read_image(os.path.join(folder, name)), (320, 320))
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        floats, simulated = detector(x), simulate(x)
        for key, d in details.items():
            scale, zero = d["quantization"]
            real = (interpreter.get_tensor(d["index"]).astype(np.float64) - zero) * scale
            f = np.asarray(floats[key])
            rms = lambda a: float(np.sqrt(np.mean((a - real) ** 2)) / f.std())  # noqa: E731
            errors[key].append((rms(np.asarray(simulated[key])), rms(f)))
    for key, pairs in errors.items():
        sim, flt = np.mean(pairs, axis=0)
        assert flt > 0.04, f"{key}: int8 maps should differ from float ones ({flt:.3f})"
        assert sim < 0.6 * flt, f"{key}: simulation {sim:.3f} vs float {flt:.3f} from int8"


def test_mix_picks_per_image_and_only_in_training():
    floats = {"s": tf.zeros((64, 2, 2, 1))}
    int8 = {"s": tf.ones((64, 2, 2, 1))}
    picked = lambda layer, training: np.asarray(  # noqa: E731
        layer(floats, int8, training=training)["s"])[:, 0, 0, 0]
    assert picked(MixFeatures(1.0), True).all()
    assert not picked(MixFeatures(0.0), True).any()
    assert not picked(MixFeatures(1.0), False).any()  # validation and export: float maps
    half = picked(MixFeatures(0.5, seed=3), True)
    assert 10 < half.sum() < 54
    images = np.asarray(MixFeatures(0.5, seed=3)(floats, int8, training=True)["s"])
    assert all(len(np.unique(im)) == 1 for im in images)  # whole images, not pixels


def test_training_graph_feeds_the_branches_int8_maps():
    cfg = load_config("embedded_multi_shape")
    assert cfg.train.int8_feature_fraction == 0.5
    from ssd_isb.model import build_training_model

    net = build_training_model(cfg, batch_size=1, max_boxes=2)
    assert net.get_layer("int8_features") is not None
    # The simulation reads the detector's weights; it adds none of its own.
    assert len(net.weights) == len({id(w) for w in net.weights})
    plain = from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"],
                                                  "int8_feature_fraction": 0.0}})
    with pytest.raises(ValueError):
        build_training_model(plain, batch_size=1, max_boxes=2).get_layer("int8_features")


def test_fraction_is_validated():
    cfg = load_config("embedded_multi_shape").to_dict()
    cfg["train"]["int8_feature_fraction"] = 1.5
    with pytest.raises(ConfigError, match="train.int8_feature_fraction"):
        from_dict(cfg)
