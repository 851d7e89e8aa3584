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
