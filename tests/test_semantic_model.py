"""Semantic models (thesis chapter 4): FCN-32/16/8 and atrous OS-16/8 on MobileNet-v1."""

import numpy as np
import pytest

from conftest import ZOO_TFLITE, need
from ssd_isb.config import ConfigError, from_dict

keras = pytest.importorskip("keras")

from ssd_isb.model.semantic import (  # noqa: E402
    bilinear_kernel,
    build_semantic_inference_model,
    build_semantic_net,
    build_semantic_training_model,
    decoder_stride,
)
from ssd_isb.model.pretrained import import_encoder  # noqa: E402


def semantic(method="fcn", stride=32, **extra):
    return from_dict({"name": "t", "model": {"task": "semantic", "input_size": 320,
                                             "depth_multiplier": extra.pop("depth", 0.75)},
                      "semantic": {"method": method, "stride": stride, **extra}})


@pytest.mark.parametrize("method,stride,grid", [("fcn", 32, 10), ("fcn", 16, 20), ("fcn", 8, 40),
                                                ("atrous", 16, 20), ("atrous", 8, 40)])
def test_output_strides(method, stride, grid):
    cfg = semantic(method, stride)
    net = build_semantic_net(cfg)
    assert tuple(net.output.shape[1:]) == (grid, grid, 2)
    assert decoder_stride(cfg) == 320 // grid
    train = build_semantic_training_model(cfg, 2, net)
    assert tuple(train.output.shape[1:]) == (160, 160, 2)
    inf = build_semantic_inference_model(cfg, net)
    assert tuple(inf.output["probability"].shape) == (1, 320, 320)


def test_atrous_keeps_parameters_and_dilates():
    """Atrous convolution changes no weight (thesis 4.2: 'no increase in parameters'); each
    FCN skip step adds a small score conv and a transposed conv."""
    base = build_semantic_net(semantic("fcn", 32)).count_params()
    for stride, rates in ((16, {"Conv2d_12_depthwise": 1, "Conv2d_13_depthwise": 2}),
                          (8, {"Conv2d_6_depthwise": 1, "Conv2d_7_depthwise": 2,
                               "Conv2d_13_depthwise": 4})):
        net = build_semantic_net(semantic("atrous", stride))
        assert net.count_params() == base
        for name, rate in rates.items():
            layer = net.get_layer(name)
            assert layer.dilation_rate == (rate, rate) and layer.strides == (1, 1), name
    fcn16 = build_semantic_net(semantic("fcn", 16)).count_params()
    fcn8 = build_semantic_net(semantic("fcn", 8)).count_params()
    assert base < fcn16 < fcn8 < base + 2000


def test_last_rate_dilates_only_the_last_layer():
    net = build_semantic_net(semantic("fcn", 32, last_rate=3))
    assert net.get_layer("Conv2d_13_depthwise").dilation_rate == (3, 3)
    assert net.get_layer("Conv2d_12_depthwise").dilation_rate == (1, 1)


def test_bilinear_kernel_upsamples_a_constant_to_a_constant():
    k = bilinear_kernel(4, 2)
    layer = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", use_bias=False)
    x = np.ones((1, 6, 6, 2), np.float32)
    layer.build(x.shape)
    layer.set_weights([k])
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y[0, 1:-1, 1:-1], 1.0, atol=1e-6)  # inside the border
    assert k[:, :, 0, 1].sum() == 0  # channels do not mix


def test_zoo_encoder_import_matches_the_detector():
    from ssd_isb.config import load_config
    from ssd_isb.model import build_detector
    from ssd_isb.model.pretrained import import_into_detector, read_source

    need(ZOO_TFLITE)
    net = build_semantic_net(semantic("fcn", 16))
    report = import_encoder(net, ZOO_TFLITE)
    assert report["layers"] == 27  # Conv2d_0 + 13 depthwise/pointwise pairs
    detector = build_detector(load_config("embedded_multi_shape"))
    import_into_detector(detector, read_source(ZOO_TFLITE))
    for name in ("Conv2d_0", "Conv2d_7_depthwise", "Conv2d_13_pointwise",
                 "Conv2d_13_pointwise_BatchNorm"):
        for a, b in zip(net.get_layer(name).get_weights(), detector.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(Exception, match="depth multiplier"):
        import_encoder(build_semantic_net(semantic("fcn", 16, depth=0.5)), ZOO_TFLITE)


def test_semantic_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="semantic.stride: 32 is the base network"):
        semantic("atrous", 32)
    with pytest.raises(ConfigError, match="semantic.last_rate"):
        semantic("fcn", 32, last_rate=0)
    with pytest.raises(ConfigError, match="semantic.method"):
        semantic("deeplab", 16)
    with pytest.raises(ConfigError, match="model.class_names"):
        from_dict({"model": {"task": "semantic", "input_size": 320,
                             "class_names": ["person", "car"]}})
    # The instance branches are not built, so their defaults need not fit a small grid.
    cfg = from_dict({"model": {"task": "semantic", "input_size": 160}})
    assert cfg.model.task == "semantic"
    with pytest.raises(ConfigError, match="isb.shapes"):
        from_dict({"model": {"task": "instance", "input_size": 160}})
