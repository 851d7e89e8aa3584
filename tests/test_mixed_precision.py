"""train.mixed_precision: float16 compute, the heads' and branches' outputs float32, the loss
scaled; one real update runs (on CPU here, where float16 is only slower) and the policy is
restored after training."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ssd_isb.config import from_dict  # noqa: E402
from test_training import tiny_config, zoo_weights  # noqa: E402,F401


@pytest.mark.slow
def test_one_mixed_precision_update(tmp_path, zoo_weights):  # noqa: F811
    import keras

    from ssd_isb.training import train

    cfg = from_dict(tiny_config(steps=4, checkpoint_every=4, validation_batches=1,
                                mixed_precision=True))
    summary = train(cfg, str(tmp_path / "run"), init=zoo_weights, verbose=0)
    # Dynamic loss scaling starts high (2**15) and skips the updates whose float16 gradients
    # overflow while it halves: some of the 4 steps apply.
    assert 1 <= summary["steps"] <= 4 and np.isfinite(summary["history"]["loss"][0])
    assert keras.mixed_precision.dtype_policy().name == "float32"  # restored


def test_final_layers_stay_float32_under_mixed_policy():
    import keras

    from ssd_isb.model import build_model

    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = build_model(from_dict(tiny_config()))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    net = model.training_model(1, 10, boxes_per_branch=4)
    outs = net.outputs if isinstance(net.outputs, list) else [net.outputs]
    dtypes = {str(o.dtype) for o in keras.tree.flatten(net.output)}
    assert {d for d in dtypes if "float" in d} == {"float32"}, dtypes
    assert len(outs) >= 1
    compute = {layer.compute_dtype for layer in model.detector.layers
               if hasattr(layer, "kernel")}
    assert "float16" in compute  # the convolutions do compute in float16
