"""TensorRT: what runs here (batching, calibration cache, engine sidecar, importability) and the
engine build/run, which skips with the reason where TensorRT is absent."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DATA, ROOT, need
from ssd_isb.core.metadata import ModelMetadata, read_sidecar, write_sidecar
from ssd_isb.runtime import model_input, read_image
from ssd_isb.tensorrt import (CalibratorCore, ImageBatcher, engine_metadata,
                              tensorrt_available)

NO_TRT = "TensorRT is not installed (it comes from NVIDIA's own index; build engines on the device)"


@pytest.fixture
def images(tmp_path):
    folder = need(os.path.join(DATA, "pennfudan", "Images"))
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder))[:5]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    return paths[:2] + [str(bad)] + paths[2:]


def test_image_batcher_matches_runtime_preprocessing(images):
    batcher = ImageBatcher(images, (1, 320, 320, 3))
    batches = list(batcher)
    assert len(batches) == 5 and batcher.skipped == 1  # the broken file is skipped and counted
    assert all(b.shape == (1, 320, 320, 3) and b.dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(batches[0], model_input(read_image(images[0]), (320, 320)))
    two = list(ImageBatcher(images, (2, 320, 320, 3)))
    assert len(two) == 2 and two[0].shape == (2, 320, 320, 3)
    assert len(list(ImageBatcher(images, (1, 320, 320, 3), max_batches=3))) == 3
    with pytest.raises(ValueError, match="NHWC"):
        ImageBatcher(images, (1, 3, 320, 320))


def test_calibrator_core_batches_and_cache(images, tmp_path):
    copies = []

    def to_host_buffer(batch):  # stands in for the device copy; records what would be copied
        copies.append(batch.copy())
        return 1000 + len(copies)

    cache = tmp_path / "model.calib"
    core = CalibratorCore(ImageBatcher(images, (1, 320, 320, 3), max_batches=2), str(cache),
                          to_host_buffer)
    assert core.batch_size() == 1 and core.read_cache() is None
    assert core.next_batch(["image"]) == [1001]
    assert core.next_batch(["image"]) == [1002]
    assert core.next_batch(["image"]) is None  # TensorRT stops calibrating here
    assert copies[0].shape == (1, 320, 320, 3)
    core.write_cache(b"TRT-8601-EntropyCalibration2\nimage: 3c010a14\n")
    again = CalibratorCore(None, str(cache))
    assert again.read_cache().startswith(b"TRT-8601") and again.next_batch(["image"]) is None


def test_engine_sidecar_from_onnx_sidecar(tmp_path):
    onnx_path = str(tmp_path / "m.onnx")
    open(onnx_path, "wb").close()
    meta = ModelMetadata(name="m", variant="multi_shape", input_size=[320, 320],
                         class_names=["person"], mask_size=40, max_detections=50,
                         backend_format="onnx", config={"name": "m"})
    write_sidecar(onnx_path, meta)
    engine = engine_metadata(onnx_path, "int8", "10.3.0", "Orin")
    assert engine.backend_format == "tensorrt" and engine.quantization == "int8"
    assert engine.config["tensorrt"] == {"precision": "int8", "version": "10.3.0",
                                         "device": "Orin", "onnx": onnx_path}
    engine_path = str(tmp_path / "m.engine")
    write_sidecar(engine_path, engine)
    assert read_sidecar(engine_path).input_size == [320, 320]
    assert engine_metadata(onnx_path, "fp32").quantization == "none"


def test_tensorrt_modules_import_without_tensorrt():
    code = ("import ssd_isb.tensorrt, ssd_isb.tensorrt.engine, ssd_isb.tensorrt.cuda, "
            "ssd_isb.runtime.backends.tensorrt_backend, sys; "
            "assert 'tensorflow' not in sys.modules")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif(not tensorrt_available(), reason=NO_TRT)
def test_build_and_run_engine(tmp_path):  # pragma: no cover - needs an NVIDIA GPU
    pytest.importorskip("tf2onnx")
    from ssd_isb.cli import main
    from ssd_isb.runtime import Segmenter

    keras_path = str(tmp_path / "m.keras")
    onnx_path = str(tmp_path / "m.onnx")
    zoo = os.path.join(os.path.dirname(DATA), "pretrained", "ssd_mobilenet_v1_0.75_coco_quant",
                       "detect.tflite")
    assert main(["import-weights", "--source", zoo, "--config", "embedded_multi_shape",
                 "--output", keras_path]) == 0
    assert main(["export", "--config", "embedded_multi_shape", "--weights", keras_path,
                 "--format", "onnx", "--output", onnx_path]) == 0
    engine = str(tmp_path / "m.engine")
    res = subprocess.run([sys.executable, os.path.join(ROOT, "convert", "build_engine.py"),
                          "--onnx", onnx_path, "--engine", engine, "--precision", "fp16",
                          "--timing-cache", str(tmp_path / "timing.cache")])
    assert res.returncode == 0 and os.path.exists(engine + ".json")
    image = cv2.imread(os.path.join(DATA, "pennfudan", "Images", "FudanPed00001.jpg"))
    a, b = Segmenter(onnx_path)(image), Segmenter(engine)(image)
    assert len(a) == len(b)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=2.0)
