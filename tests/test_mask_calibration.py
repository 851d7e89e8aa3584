"""Per-branch mask calibration: branches named by their logit shapes, the offset search scored
exactly as the runtime pastes (on the shipped model and real images), and the offsets baked into
the branches' scoring-conv biases."""

import json
import os

import numpy as np
import pytest

from conftest import DATA, ROOT, need
from ssd_isb.core.branches import variant_specs
from ssd_isb.evaluation.branch_offsets import (NO_BRANCH, BranchOffsetSearch, Image,
                                               branch_names_by_shape, detection_branches)

MULTI = os.path.join(ROOT, "ssd_isb", "zoo", "ssd_isb_multi_shape.keras")
MULTI_FP32 = os.path.join(ROOT, "ssd_isb", "zoo", "ssd_isb_multi_shape_fp32.tflite")
COCO = os.path.join(DATA, "coco_person_val2017")


def test_branches_are_named_by_their_logit_shape():
    specs = variant_specs("multi_shape", [[10, 5], [5, 3], [2, 1]])
    names = branch_names_by_shape(specs, 4)
    assert names == {(40, 20): "ISB_10x5", (20, 12): "ISB_5x3", (8, 4): "ISB_2x1"}
    # Single-Shape+'s rest branch may share an exact branch's shape: logits cannot tell them.
    plus = variant_specs("single_shape_plus", [[5, 3], [2, 1]], rest_shape=[5, 3])
    with pytest.raises(ValueError, match="ISB_5x3 and ISB_rest_5x3 both emit"):
        branch_names_by_shape(plus, 4)


@pytest.fixture(scope="module")
def real_search():
    """The shipped Multi-Shape fp32 model on 16 training-side images (score >= 0.05)."""
    need(COCO)
    from ssd_isb.data.coco import is_holdout
    from ssd_isb.evaluation.evaluate import load_ground_truth
    from ssd_isb.evaluation.metrics import coco_metrics
    from ssd_isb.runtime import Segmenter

    gt = load_ground_truth(os.path.join(COCO, "annotations.json"))
    ids = sorted(i for i in gt.getImgIds() if not is_holdout(gt.imgs[i]["file_name"], 5))[:16]
    seg = Segmenter(MULTI_FP32, threads=1, score_threshold=0.05)
    images, raw = [], []
    for image_id in ids:
        pixels, order = seg.read(os.path.join(COCO, "images", gt.imgs[image_id]["file_name"]))
        out = seg.infer(seg.preprocess(pixels, order)[0])
        images.append(Image(image_id, pixels.shape[:2], out))
        raw.append((image_id, pixels.shape[:2], out))
    names = branch_names_by_shape(seg.meta.branch_specs(), 4)
    metric = lambda entries: coco_metrics(gt, entries, "segm", ids, 1)["AP"]  # noqa: E731
    search = BranchOffsetSearch(images, names, metric, seg.class_names, seg.mask_threshold,
                                seg.mask_box_margin)
    return search, seg, raw, metric, names


def runtime_ap(seg, raw, metric, threshold):
    """Mask AP of the runtime's own decode at one threshold for every mask."""
    from ssd_isb.runtime.coco_results import to_coco_results
    from ssd_isb.runtime.segmenter import decode_stages

    entries = []
    for image_id, size, out in raw:
        entries += to_coco_results(decode_stages(out, size, seg.class_names, threshold,
                                                 seg.mask_box_margin), image_id)
    return metric(entries)


def test_search_scores_what_the_runtime_pastes(real_search):
    search, seg, raw, metric, names = real_search
    branches = [b for _, _, out in raw for b in detection_branches(out, names)]
    assert len(set(branches) - {NO_BRANCH}) >= 3 and len(search.branches) >= 3
    assert sum(search.count(b) for b in search.branches) == \
        sum(b != NO_BRANCH for b in branches)
    # All offsets 0: the runtime's masks. The same offset on every branch: the runtime's masks
    # at the threshold moved the other way.
    assert search.score({}) == pytest.approx(runtime_ap(seg, raw, metric, seg.mask_threshold))
    everywhere = {b: 1.0 for b in search.branches}
    assert search.score(everywhere) == pytest.approx(
        runtime_ap(seg, raw, metric, seg.mask_threshold - 1.0))
    assert search.score(everywhere) != pytest.approx(search.score({}))


def test_search_only_takes_moves_that_raise_the_metric(real_search):
    search = real_search[0]
    offsets, base, best, trials = search.search([-1.0, 0.0, 1.0], rounds=2, min_gain=0.0,
                                                min_detections=1)
    assert base == pytest.approx(search.score({}))
    assert best == pytest.approx(search.score(offsets)) and best >= base
    assert best == pytest.approx(max([base] + [t["metric"] for t in trials]))
    # A gain no move can reach leaves every branch at 0.
    offsets, base, best, _ = search.search([-1.0, 1.0], min_gain=100.0)
    assert set(offsets.values()) == {0.0} and best == base


def test_shift_adds_the_offset_to_one_branch_only(tmp_path):
    pytest.importorskip("tensorflow")
    from ssd_isb.utils.errors import UsageError
    from ssd_isb.model import load_model
    from ssd_isb.training.mask_calibration import shift_model_file

    out = str(tmp_path / "shifted.keras")
    report = shift_model_file(MULTI, out, {"ISB_5x3": -0.75, "ISB_2x1": 0.0})
    assert report["branch_logit_offsets"] == {"ISB_5x3": -0.75}
    before = {b.name: b for b in load_model(MULTI).get_layer("mask_head").branches}
    after = {b.name: b for b in load_model(out).get_layer("mask_head").branches}
    rng = np.random.default_rng(0)
    for name in ("ISB_5x3", "ISB_2x1"):
        h, w = before[name].compute_output_shape([(1, 1, 1, 1)])[1:3]
        crops = [rng.uniform(0, 6, (2, h // 4 * s, w // 4 * s, c)).astype(np.float32)
                 for s, c in ((1, 768), (2, 384), (4, 192))]
        delta = np.asarray(after[name](crops)) - np.asarray(before[name](crops))
        np.testing.assert_allclose(delta, -0.75 if name == "ISB_5x3" else 0.0, atol=1e-4)
    with pytest.raises(UsageError, match="no branch ISB_9x9 in this model"):
        shift_model_file(MULTI, str(tmp_path / "o.keras"), {"ISB_9x9": 1.0})
    with pytest.raises(UsageError, match="o.h5: the calibrated model must be a .keras file"):
        shift_model_file(MULTI, str(tmp_path / "o.h5"), {})


def test_tune_branch_masks_script_picks_and_applies(tmp_path, capsys):
    """The script end to end on a few real training-side images with the shipped model."""
    pytest.importorskip("tensorflow")
    need(COCO)
    import importlib.util

    path = os.path.join(ROOT, "scripts", "tune_branch_masks.py")
    spec = importlib.util.spec_from_file_location("tune_branch_masks", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = str(tmp_path / "calibrated.keras")
    assert script.main(["--model", MULTI_FP32, "--split", "train", "--max-images", "8",
                        "--threads", "1", "--offsets", "-1", "1", "--rounds", "1",
                        "--min-gain", "0", "--min-detections", "1",
                        "--apply", MULTI, "--output", out]) == 0
    report = json.load(open(out + ".masks.json"))
    assert report["images"] == 8 and report["mask_AP_after"] >= report["mask_AP_before"]
    moved = {b: o for b, o in report["offsets"].items() if o}
    assert report["calibration"]["branch_logit_offsets"] == moved
    assert os.path.isfile(out) and "pick:" in capsys.readouterr().out
