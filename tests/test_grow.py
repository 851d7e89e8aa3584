"""Growing the shipped FCN-8 model into FCN-4: every trained weight copied, the new stride-4
skip convs zero, so the grown model starts with the shipped model's masks (upsampled 2x)."""

import os

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from conftest import DATA, need, release  # noqa: E402
from ssd_isb.config import load_config  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "ssd_isb", "zoo", "ssd_isb_multi_shape.keras")


@pytest.fixture(scope="module")
def grown():
    from ssd_isb.model import build_model
    from ssd_isb.training.loop import _init_from_model

    model = build_model(load_config(release("finetune_masks_fcn4_multi_shape")))
    _init_from_model(model, SHIPPED)
    return model


def test_grown_branches_give_the_shipped_masks_at_stride_4(grown, person_images):
    import cv2
    import tensorflow as tf

    from ssd_isb.model import load_model

    shipped = load_model(SHIPPED)
    image = cv2.resize(cv2.imread(person_images[0]), (320, 320))[None, :, :, ::-1]
    image = image.astype(np.float32)
    old = shipped.get_layer("detector")(image)
    new = grown.detector(image)
    np.testing.assert_array_equal(old["box_encodings"], new["box_encodings"])
    maps = [new[k] for k in ("stride32", "stride16", "stride8", "stride4")]
    assert tuple(maps[3].shape) == (1, 80, 80, 96)
    for before, after in zip(shipped.get_layer("mask_head").branches, grown.mask_head.branches):
        h, w = (int(v) for v in after.name.split("_")[1].split("x"))
        crops = [m[:, :h * f, :w * f] for m, f in zip(maps, (1, 2, 4, 8))]
        expected = tf.image.resize(before(crops[:3]), (8 * h, 8 * w), method="bilinear")
        np.testing.assert_allclose(after(crops), expected, atol=1e-3, err_msg=after.name)


def test_only_the_stride4_skip_convs_are_new(grown):
    from ssd_isb.model import load_model
    from ssd_isb.training.grow import grow_weights

    report = grow_weights(grown.inference_model, load_model(SHIPPED))
    assert report["new"] and all("/skip_4/" in path for path in report["new"])
    assert len(report["new"]) == 2 * len(grown.mask_head.branches)
    for branch in grown.mask_head.branches:
        assert not np.any(branch.skip[2].get_weights()[0])


def test_a_model_of_another_layout_is_refused():
    from ssd_isb.model import build_model
    from ssd_isb.training.loop import TrainingError, _init_from_model

    model = build_model(load_config(release("finetune_masks_fcn4_multi_shape")))
    single_branch = os.path.join(ROOT, "ssd_isb", "zoo", "ssd_isb_single_branch.keras")
    with pytest.raises(TrainingError, match="its layers do not match this config's"):
        _init_from_model(model, single_branch)


@pytest.mark.parametrize("fmt, suffix", [("tflite", ".tflite"), ("onnx", ".onnx")])
def test_fcn4_two_stage_export_agrees_with_keras(grown, fmt, suffix, tmp_path):
    """The FCN-4 two-stage export: the detect stage also gives the stride-4 map, each branch
    takes four crops, and the runtime's masks match Keras' (the exporter's own check)."""
    from ssd_isb.export import export_model
    from ssd_isb.core.metadata import read_sidecar
    from ssd_isb.model import save_model
    from ssd_isb.runtime import Segmenter
    from ssd_isb.core.stages import stage_io

    if fmt == "onnx":
        pytest.importorskip("tf2onnx")
        pytest.importorskip("onnxruntime")
    need(os.path.join(DATA, "coco_person_val2017"))  # the export checks on real photos
    keras_path = save_model(grown.inference_model, str(tmp_path / "fcn4.keras"), grown.config,
                            params=grown.count_params())
    out = str(tmp_path / f"fcn4{suffix}")
    report = export_model(None, keras_path, fmt, "none", out, check_images=2)
    agreement = report["agreement"]
    assert agreement["matched"] >= 0.97 and agreement["mask_iou"] >= 0.97, agreement
    meta = read_sidecar(out)
    assert meta.skip_steps == 3
    (_, detect_out), (crops, _) = stage_io(meta)
    assert "stride4" in detect_out and "isb_10x5_crop4" in crops
    seg = Segmenter(out, score_threshold=0.3)
    x = np.zeros((1, 320, 320, 3), np.float32)
    assert seg.backend.detect(x)["stride4"].shape == (1, 80, 80, 96)
    if fmt == "onnx":  # the TensorRT build splits the ONNX file by the same names
        import onnx

        from ssd_isb.tensorrt.stages import split_two_stage

        detect, branches, _ = split_two_stage(out, meta, str(tmp_path))
        assert "stride4" in {o.name for o in onnx.load(detect).graph.output}
        assert "isb_10x5_crop4" in {i.name for i in onnx.load(branches).graph.input}
