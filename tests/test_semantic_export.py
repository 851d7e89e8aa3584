"""Export of a semantic model: TFLite fp32/int8 (builtin ops), ONNX; run without TensorFlow."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import BLOCK_TF, DATA, ROOT, ZOO_TFLITE, need

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def semantic_keras(tmp_path_factory):
    from ssd_isb.config import from_dict
    from ssd_isb.model import save_model
    from ssd_isb.model.semantic import build_semantic_inference_model, build_semantic_net
    from ssd_isb.model.pretrained import import_encoder

    need(ZOO_TFLITE)
    root = need(os.path.join(DATA, "pennfudan"))
    cfg = from_dict({"name": "export_semantic",
                     "model": {"task": "semantic", "input_size": 160, "depth_multiplier": 0.75},
                     "semantic": {"method": "fcn", "stride": 8, "last_rate": 2},
                     "data": {"train": [{"name": "pf", "masks": os.path.join(root, "PedMasks"),
                                         "images": os.path.join(root, "Images")}]}})
    net = build_semantic_net(cfg)
    import_encoder(net, ZOO_TFLITE)
    # A score layer that answers (the zero-initialized one gives 0.5 everywhere).
    score = net.get_layer("score_stride32")
    k, b = score.get_weights()
    k[..., 1] = np.random.default_rng(0).normal(0, 0.05, k[..., 1].shape)
    score.set_weights([k, b])
    path = str(tmp_path_factory.mktemp("sem") / "sem.keras")
    save_model(build_semantic_inference_model(cfg, net), path, cfg)
    return path


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_tflite_export_is_builtin_and_agrees(semantic_keras, tmp_path, quantize):
    from ssd_isb.export import export_model

    out = str(tmp_path / f"sem_{quantize}.tflite")
    report = export_model(None, semantic_keras, "tflite", quantize, out,
                          calibration_images=8, check_images=6)
    assert not any(o.startswith("Flex") or o == "CUSTOM" for o in report["ops"])
    assert "DEPTHWISE_CONV_2D" in report["ops"] and "RESIZE_BILINEAR" in report["ops"]
    a = report["agreement"]
    assert a["mask_iou"] >= (0.98 if quantize == "none" else 0.8), a
    code = BLOCK_TF + f"""
import numpy as np
from ssd_isb.runtime.semantic import SemanticSegmenter
seg = SemanticSegmenter({out!r}, threads=2)
img = (np.random.default_rng(0).uniform(0, 255, (90, 130, 3))).astype(np.uint8)
pm = seg(img)
assert pm.probability.shape == (90, 130) and 0 <= pm.probability.min() <= 1
print("ok", seg.quantization, sorted(seg.last_timings))
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("ok"), res.stderr[-1500:]


def test_onnx_export_runs(semantic_keras, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    from ssd_isb.export import export_model
    from ssd_isb.runtime.semantic import SemanticSegmenter

    out = str(tmp_path / "sem.onnx")
    report = export_model(None, semantic_keras, "onnx", "none", out, check_images=4)
    assert report["agreement"]["mask_iou"] >= 0.98
    pm = SemanticSegmenter(out)(np.zeros((64, 64, 3), np.uint8))
    assert pm.probability.shape == (64, 64)
    # The TensorRT path: the ONNX file passes the engine builder's checks (static shapes,
    # supported ops) and the engine's sidecar stays a semantic single graph.
    sys.path.insert(0, os.path.join(ROOT, "convert"))
    from build_engine import check_onnx

    from ssd_isb.tensorrt.metadata import engine_metadata

    assert check_onnx(out) == 0
    meta = engine_metadata(out, "fp16", "10.3.0")
    assert meta.task == "semantic" and not meta.two_stage and meta.output_names == (
        "probability",)


def test_instance_model_is_refused_as_semantic():
    from ssd_isb.utils.errors import UsageError
    from ssd_isb.runtime.semantic import SemanticSegmenter
    from ssd_isb.zoo import default_model_path

    with pytest.raises(UsageError, match="an instance model"):
        SemanticSegmenter(default_model_path())
