"""The ISB layer: output shapes per FCN depth, the thesis' parameter counts, shape errors."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ssd_isb.model.isb import ISBBranch  # noqa: E402


@pytest.mark.parametrize("fcn, factor, params", [(8, 4, 247073), (16, 2, 222433), (32, 1, 140545)])
def test_shapes_and_params_mn10(fcn, factor, params):
    branch = ISBBranch(fcn=fcn)
    crops = [np.zeros((5, 3, 2, 1024), np.float32), np.zeros((5, 6, 4, 512), np.float32),
             np.zeros((5, 12, 8, 256), np.float32)][:{8: 3, 16: 2, 32: 1}[fcn]]
    out = branch(crops)
    assert tuple(out.shape) == (5, 3 * factor, 2 * factor, 1)
    assert branch.count_params() == params


def test_params_mn075_match_thesis():
    branch = ISBBranch(fcn=8)
    branch([np.zeros((1, 2, 2, 768), np.float32), np.zeros((1, 4, 4, 384), np.float32),
            np.zeros((1, 8, 8, 192), np.float32)])
    assert branch.count_params() == 205857  # (5,211,360 - 3,358,647) / 9 in the thesis


def test_wrong_skip_shape_is_a_clear_error():
    branch = ISBBranch(fcn=8, name="ISB_3x2")
    with pytest.raises(ValueError, match=r"ISB_3x2: skip crop 1 has spatial shape \(5, 4\)"):
        branch([np.zeros((1, 3, 2, 8), np.float32), np.zeros((1, 5, 4, 8), np.float32),
                np.zeros((1, 12, 8, 8), np.float32)])
    with pytest.raises(ValueError, match="FCN-8 takes 3 crops"):
        ISBBranch(fcn=8, name="x").build([(1, 3, 2, 8)])


def test_fcn4_shapes_and_its_new_step_starts_as_bilinear_upsampling():
    """FCN-4 emits stride-4 masks; with its zero-initialized stride-4 skip conv it gives an
    FCN-8 branch's logits upsampled 2x (what growing a trained FCN-8 model relies on)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    crops = [rng.uniform(0, 6, (2, 3 * f, 2 * f, c)).astype(np.float32)
             for f, c in zip((1, 2, 4, 8), (48, 24, 12, 8))]
    fcn8, fcn4 = ISBBranch(fcn=8), ISBBranch(fcn=4)
    base = fcn8(crops[:3])
    out = fcn4(crops)
    assert tuple(out.shape) == (2, 24, 16, 1)
    assert fcn4.count_params() == fcn8.count_params() + 8 * 32 + 32
    for layer in ("separable", "score"):
        getattr(fcn4, layer).set_weights(getattr(fcn8, layer).get_weights())
    for i in range(2):
        fcn4.upsample[i].set_weights(fcn8.upsample[i].get_weights())
        fcn4.skip[i].set_weights(fcn8.skip[i].get_weights())
    expected = tf.image.resize(base, (24, 16), method="bilinear")
    np.testing.assert_allclose(fcn4(crops), expected, atol=1e-4)
    with pytest.raises(ValueError, match="FCN-4 takes 4 crops"):
        ISBBranch(fcn=4, name="x").build([(1, 3, 2, 8)] * 3)
