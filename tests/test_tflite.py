"""The one LiteRT module (ssd_isb.runtime.tflite): opening, (de)quantizing, ops, parameters."""

import numpy as np
import pytest

from conftest import ZOO_TFLITE, need
from ssd_isb.runtime import BackendError
from ssd_isb.runtime.tflite import (activation_bytes, dequantize, op_names, open_interpreter,
                                    parameter_count, quantize)


def test_quantize_dequantize_round_trip_and_float_passthrough():
    detail = {"dtype": np.int8, "quantization": (0.5, -3)}
    x = np.array([-100.0, -1.0, 0.0, 0.26, 10.0, 1000.0], np.float32)
    q = quantize(x, detail)
    assert q.dtype == np.int8 and q.min() == -128 and q.max() == 127  # clipped
    np.testing.assert_allclose(dequantize(q, detail)[1:5], [-1.0, 0.0, 0.5, 10.0])
    f = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert quantize(x, f).dtype == np.float32 and dequantize(x, f) is x
    ints = np.array([1, 0], np.int32)  # an int32 head without quantization stays as it is
    assert dequantize(ints, {"dtype": np.int32, "quantization": (0.0, 0)}) is ints


def test_zoo_detector_ops_and_parameters():
    it = open_interpreter(need(ZOO_TFLITE), threads=1)
    assert "TFLite_Detection_PostProcess" in op_names(it) and "CONV_2D" in op_names(it)
    # SSD-MobileNet-v1 0.75 at 300 with the 91-class head: 4.2 M weights.
    assert 4.0e6 < parameter_count(it) < 4.5e6
    assert activation_bytes(it) > 1e6


def test_open_errors_are_one_line(tmp_path):
    with pytest.raises(BackendError, match="no such model file"):
        open_interpreter(str(tmp_path / "missing.tflite"))
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(BackendError, match="bad.tflite: cannot load TFLite model") as err:
        open_interpreter(str(bad))
    assert "\n" not in str(err.value)
