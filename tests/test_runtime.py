"""The TF-free runtime: import hygiene, image handling, mask pasting, the Keras backend."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DATA, ROOT, need
from ssd_isb.core.metadata import MetadataError, ModelMetadata, read_sidecar, write_sidecar
from ssd_isb.runtime import (BackendError, ImageError, Segmenter, infer_backend, load_backend,
                             model_input, paste_mask, read_image, to_bgr)


def test_import_runtime_does_not_import_tensorflow():
    code = ("import sys, ssd_isb, ssd_isb.runtime, ssd_isb.config, ssd_isb.core.anchors, "
            "ssd_isb.core.branches, ssd_isb.core.encompassing, ssd_isb.core.shapes, ssd_isb.core.metadata, "
            "ssd_isb.cli, ssd_isb.apps.demo, ssd_isb.apps.streams, ssd_isb.apps.frame_pipeline, ssd_isb.tracking, "
            "ssd_isb.measure.benchmark, ssd_isb.runtime.video, "
            "ssd_isb.tensorrt, ssd_isb.export, ssd_isb.export.onnx_export, ssd_isb.zoo, "
            "ssd_isb.apps.predict, ssd_isb.measure.comparison, ssd_isb.peers, "
            "ssd_isb.measure.memory, ssd_isb.runtime.tflite, ssd_isb.runtime.protocol, "
            "ssd_isb.runtime.semantic, ssd_isb.runtime.person_map, ssd_isb.apps.background, "
            "ssd_isb.apps.semantic_predict, ssd_isb.peers.selfie, ssd_isb.evaluation.semantic, "
            "ssd_isb.export.semantic\n"
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
            "assert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_read_image_formats_and_errors(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), rgb)
    cv2.imwrite(str(tmp_path / "g.png"), rgb[:, :, 0])
    cv2.imwrite(str(tmp_path / "a.png"), np.dstack([rgb, np.full((20, 30), 128, np.uint8)]))
    cv2.imwrite(str(tmp_path / "d.png"), (rgb.astype(np.uint16) * 257))
    for name in ("c.png", "g.png", "a.png", "d.png"):
        img = read_image(tmp_path / name)
        assert img.shape == (20, 30, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(read_image(tmp_path / "c.png"), rgb)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageError, match=r"bad\.jpg: not a readable image"):
        read_image(tmp_path / "bad.jpg")
    with pytest.raises(ImageError, match="no such image"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="expected an H x W"):
        to_bgr(np.zeros((4, 4, 5), np.uint8))
    # Each once gave a raw cv2.error or a silent 0 persons (issue 27).
    for bad, message in ((np.zeros((0, 0, 3), np.uint8), "empty image"),
                         (np.zeros((4, 0), np.uint8), "empty image"),
                         (np.ones((4, 4, 3), bool), "bool array is not an image"),
                         (np.full((4, 4, 3), np.nan, np.float32), "NaN or infinite")):
        with pytest.raises(ImageError, match=message):
            to_bgr(bad)
    assert to_bgr(np.full((4, 4, 3), 0.5, np.float32)).max() == 127


def test_read_image_applies_exif_orientation_and_reads_truncated_jpegs(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    upright = np.zeros((20, 30, 3), np.uint8)
    upright[:, :10] = 255  # white on the left of the stored pixels
    exif = pil.Exif()
    exif[0x0112] = 6  # the phone was turned: viewers rotate 90 degrees clockwise
    pil.fromarray(upright).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "phone.jpg")
    assert image.shape == (30, 20, 3)  # as every viewer shows it
    assert image[:10].mean() > 200 and image[-10:].mean() < 50  # the white band is on top
    photo = os.path.join(DATA, "coco_person_val2017", "images", "000000001000.jpg")
    data = open(need(photo), "rb").read()
    (tmp_path / "cut.jpg").write_bytes(data[:int(len(data) * 0.95)])
    assert read_image(tmp_path / "cut.jpg").shape == read_image(photo).shape


def test_model_input_is_rgb_float_at_input_size():
    bgr = np.zeros((100, 200, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    x = model_input(bgr, (64, 32))
    assert x.shape == (1, 64, 32, 3) and x.dtype == np.float32
    assert (x[..., 2] == 255).all() and (x[..., 0] == 0).all()


def test_paste_mask_places_window():
    logits = -np.ones((8, 8), np.float32)
    logits[:, :4] = 1.0  # left half foreground
    out = paste_mask(logits, np.array([0.25, 0.5, 0.75, 1.0]), (40, 80))
    assert out.shape == (40, 80) and out.dtype == bool
    ys, xs = np.nonzero(out)
    assert ys.min() == 10 and ys.max() == 29
    assert xs.min() == 40 and 58 <= xs.max() <= 60
    assert not paste_mask(logits, np.zeros(4), (40, 80)).any()


def test_sidecar_roundtrip_and_errors(tmp_path):
    meta = ModelMetadata(name="m", variant="multi_shape", input_size=[320, 320],
                         class_names=["person"], mask_size=40, max_detections=50)
    model = tmp_path / "m.tflite"
    model.write_bytes(b"")
    write_sidecar(str(model), meta)
    assert read_sidecar(str(model)) == meta
    with pytest.raises(MetadataError, match="no metadata sidecar"):
        read_sidecar(str(tmp_path / "other.tflite"))
    (tmp_path / "x.onnx.json").write_text("{not json")
    with pytest.raises(MetadataError, match=r"x\.onnx\.json: unreadable metadata"):
        read_sidecar(str(tmp_path / "x.onnx"))


def test_backend_selection_errors(tmp_path):
    assert infer_backend("a/b.tflite") == "tflite" and infer_backend("m.keras") == "keras"
    with pytest.raises(BackendError, match="unknown model type '.pt'"):
        infer_backend("m.pt")
    with pytest.raises(BackendError, match="no such model file"):
        load_backend(str(tmp_path / "none.keras"))


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    pytest.importorskip("tensorflow")
    from ssd_isb.config import load_config
    from ssd_isb.model import build_model, save_model

    cfg = load_config("embedded_single_branch")
    model = build_model(cfg)
    path = str(tmp_path_factory.mktemp("model") / "esb.keras")
    return save_model(model.inference_model, path, cfg, graph="single"), model


def test_segmenter_keras_backend_on_real_image(keras_model, person_images):
    path, model = keras_model
    seg = Segmenter(path, score_threshold=0.0)
    image = cv2.imread(person_images[1])
    result = seg(image)
    h, w = image.shape[:2]
    assert result.masks.shape == (len(result), h, w) and result.masks.dtype == bool
    assert len(result) > 0 and result.labels[0] == "person"
    assert (result.boxes[:, [0, 2]] >= 0).all() and (result.boxes[:, [0, 2]] <= w + 1e-3).all()
    assert (np.diff(result.scores) <= 1e-6).all()
    assert set(seg.last_timings) == {"preprocess", "inference", "postprocess", "total"}
    # The same pixels through the graph directly: the runtime only resizes and pastes.
    raw = seg.backend.run(model_input(image, seg.input_size))
    direct = {k: np.asarray(v) for k, v in model.inference_model(
        model_input(image, seg.input_size)).items()}
    np.testing.assert_allclose(raw["boxes"], direct["boxes"], atol=1e-5)
    # Each mask lies inside its encompassing window.
    windows = raw["mask_windows"][0][:len(result)]
    for i in np.nonzero(result.has_mask)[0][:5]:
        ys, xs = np.nonzero(result.masks[i])
        if len(ys):
            y0, x0, y1, x1 = windows[i] * np.array([h, w, h, w])
            assert ys.min() >= np.floor(y0) - 1 and ys.max() <= np.ceil(y1)
            assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1)


def test_segmenter_rgb_and_grayscale_inputs(keras_model, person_images):
    path, _ = keras_model
    seg = Segmenter(path, score_threshold=0.0)
    bgr = cv2.imread(person_images[2])
    a = seg(bgr)
    b = seg(np.ascontiguousarray(bgr[:, :, ::-1]), color="rgb")
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
    gray = seg(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert gray.masks.shape[1:] == bgr.shape[:2]
    with pytest.raises(ValueError, match="color must be"):
        seg(bgr, color="hsv")


def test_paste_masks_into_one_array_equals_one_by_one():
    from ssd_isb.runtime.paste import paste_masks

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (4, 8, 8)).astype(np.float32)
    windows = np.array([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0, 0, 0, 0],
                        [0.5, 0.7, 1.0, 1.0]], np.float32)
    out = paste_masks(logits, windows, (48, 64), threshold=-0.5)
    assert out.shape == (4, 48, 64) and out.dtype == bool
    for i in range(4):
        np.testing.assert_array_equal(out[i], paste_mask(logits[i], windows[i], (48, 64), -0.5))
    assert not out[2].any()


def test_masks_limited_to_their_grown_box():
    from ssd_isb.runtime.paste import mask_limits, paste_masks

    logits = np.ones((2, 8, 8), np.float32)  # all foreground over the window
    windows = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5]], np.float32)
    boxes = np.array([[0.25, 0.25, 0.75, 0.75], [0.1, 0.1, 0.3, 0.3]], np.float32)
    assert mask_limits(boxes, None) is None
    limits = mask_limits(boxes, 0.1)
    np.testing.assert_allclose(limits[0], [0.2, 0.2, 0.8, 0.8], atol=1e-6)
    out = paste_masks(logits, windows, (100, 100), 0.0, limits)
    ys, xs = np.nonzero(out[0])
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (20, 79, 20, 79)
    ys, xs = np.nonzero(out[1])
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (8, 31, 8, 31)
    # Without a limit the whole window is pasted (thesis).
    assert paste_masks(logits, windows, (100, 100), 0.0)[0].all()
    # A limit that misses the window leaves the mask empty.
    far = np.array([[0.0, 0.0, 1.0, 1.0], [0.8, 0.8, 0.9, 0.9]], np.float32)
    assert not paste_masks(logits, windows, (100, 100), 0.0, far)[1].any()


def test_segmenter_limits_masks_to_boxes(person_images):
    """The shipped model with margin 0: every mask inside its box, and a subset of the
    unlimited mask; a margin outside [0, 1] is refused."""
    from ssd_isb.utils.errors import UsageError
    from ssd_isb.zoo import default_model_path

    image = cv2.imread(person_images[1])
    whole = Segmenter(default_model_path(), score_threshold=0.3, mask_box_margin=None)(image)
    boxed = Segmenter(default_model_path(), score_threshold=0.3, mask_box_margin=0.0)(image)
    assert len(boxed) == len(whole) > 0
    assert (boxed.masks <= whole.masks).all() and boxed.masks.sum() < whole.masks.sum()
    for mask, (x0, y0, x1, y1) in zip(boxed.masks, boxed.boxes):
        ys, xs = np.nonzero(mask)
        if len(ys):
            assert ys.min() >= np.floor(y0) - 1 and ys.max() <= np.ceil(y1)
            assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1)
    with pytest.raises(UsageError, match="mask_box_margin 2: must be between"):
        Segmenter(default_model_path(), mask_box_margin=2)


def test_none_image_is_a_clear_error(keras_model):
    """cv2.imread gives None for a file it cannot read; say so instead of failing deep inside."""
    seg = Segmenter(keras_model[0])
    with pytest.raises(ImageError, match="image is None .*cv2.imread"):
        seg(None)


def test_keras_two_stage_equals_the_keras_single_graph(keras_model, person_images):
    """A .keras model saved with its default two-stage sidecar runs detect + branch stages
    made of the same layers: the same detections as its single graph."""
    from ssd_isb.config import load_config
    from ssd_isb.model import save_model

    path, model = keras_model
    staged = save_model(model.inference_model, path.replace(".keras", "_two.keras"),
                        load_config("embedded_single_branch"))
    # One pass each: the single graph has no stages to tile or zoom with.
    one, two = (Segmenter(p, score_threshold=0.2, tiles="off", zoom="off") for p in (path, staged))
    assert not one.backend.two_stage and two.backend.two_stage
    image = cv2.imread(person_images[1])
    a, b = one(image), two(image)
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
    assert b.has_mask.all() and two.mask_stage.calls
