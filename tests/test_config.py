"""Config loading and validation: every experiment loads, every bad value fails with its key."""

import os

import pytest
import yaml

from conftest import CONFIGS, RELEASES, ROOT, release
from ssd_isb.config import ConfigError, load_config

THESIS = {
    "single_shape": [(7, 2), (6, 3), (6, 2), (5, 3), (5, 2), (4, 3), (4, 2), (3, 3), (3, 2),
                     (3, 1), (2, 2), (2, 1)],
    "multi_shape": [(15, 10), (9, 4), (7, 3), (6, 3), (5, 2), (4, 2), (3, 2), (2, 2), (2, 1),
                    (1, 1)],
    "ms_new_shapes": [(15, 15), (10, 10), (8, 8), (6, 6), (4, 4), (2, 2), (1, 1)],
    "ms_small_shapes": [(10, 10), (8, 6), (6, 4), (5, 3), (4, 2), (2, 2), (2, 1), (1, 1)],
}
EXPECTED = {"single_branch", "single_shape", "single_shape_plus", "multi_shape", "sb_mn075",
            "sb_fcn16", "ms_mn075", "ms_fcn16", "ms_new_shapes", "ms_small_shapes",
            "embedded_single_branch", "embedded_multi_shape", "ssd_isb_multi_shape",
            "ssd_isb_single_branch", "coco_person_multiworker", "semantic_fcn32",
            "semantic_fcn16", "semantic_fcn8", "semantic_os16", "semantic_os8",
            "semantic_fcn16_mn050_scratch"}
RELEASE_STEPS = {"finetune_masks_multi_shape", "finetune_masks_single_branch",
                 "finetune_masks_stride4_multi_shape", "finetune_masks_stride4_single_branch",
                 "finetune_masks_fcn4_multi_shape", "finetune_detector_multi_shape",
                 "finetune_detector_stride2_multi_shape", "finetune_zoom_crops_multi_shape"}


def test_all_experiments_present():
    names = {os.path.splitext(os.path.basename(p))[0] for p in CONFIGS}
    assert names == EXPECTED


@pytest.mark.parametrize("name", sorted(RELEASE_STEPS))
def test_release_steps_load_from_docs(name):
    """The release-step configs left configs/ for docs/releases (issue 27); they still load."""
    assert sorted(os.listdir(RELEASES)) == sorted(f"{n}.yaml" for n in RELEASE_STEPS)
    cfg = load_config(release(name))
    assert cfg.model.input_size == (320, 320) and cfg.model.depth_multiplier == 0.75


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.basename(p))
def test_config_loads(path):
    cfg = load_config(path)
    assert cfg.name == os.path.splitext(os.path.basename(path))[0]
    if cfg.name.startswith(("embedded", "finetune", "ssd_isb", "coco_person")):
        assert cfg.model.input_size == (320, 320) and cfg.model.depth_multiplier == 0.75
    elif cfg.name.startswith("semantic_"):  # chapter 4: the embedded input, person only
        assert cfg.model.task == "semantic" and cfg.model.input_size == (320, 320)
        assert cfg.semantic.encoder == ("scratch" if "scratch" in cfg.name else "zoo")
    else:
        assert cfg.model.input_size == (640, 640) and cfg.model.grid == (20, 20)
        assert cfg.thesis.params


def test_finetune_configs_keep_their_models_layout():
    """A mask fine-tune continues a shipped model: it must agree on every model section."""
    from ssd_isb.config import MODEL_SECTIONS, config_differences

    for name in ("multi_shape", "single_branch"):
        base = load_config(f"embedded_{name}")
        first = load_config(release(f"finetune_masks_{name}"))
        second = load_config(release(f"finetune_masks_stride4_{name}"))
        for tune in (first, second):
            assert not config_differences(base, tune, MODEL_SECTIONS)
            assert tune.train.mask_dice_weight > 0 and tune.postprocess.mask_box_margin is not None
        assert first.train.mask_loss_stride is None and second.train.mask_loss_stride == 4
        assert second.train.calibrate_box_encoding and not base.train.calibrate_box_encoding


def test_fcn4_config_grows_the_shipped_layout():
    """The FCN-4 fine-tune starts from the FCN-8 model (ssd_isb.training.grow): it may differ
    from it in isb.fcn only."""
    from ssd_isb.config import config_differences, mask_target_stride
    from ssd_isb.training.grow import grows_from

    fcn8 = load_config(release("finetune_masks_stride4_multi_shape"))
    fcn4 = load_config(release("finetune_masks_fcn4_multi_shape"))
    assert config_differences(fcn4, fcn8) == ["isb.fcn: 4 != 8"]
    assert grows_from(fcn4, fcn8) and not grows_from(fcn8, fcn4) and not grows_from(fcn8, fcn8)
    assert not grows_from(fcn4, load_config(release("finetune_masks_stride4_single_branch")))
    assert fcn4.isb.skip_steps == 3 and fcn4.isb.out_factor == 8
    assert mask_target_stride(fcn4.train, fcn4.isb) == 4


def test_detector_config_trains_the_heads_on_the_shipped_layout():
    """The detector fine-tune is the release-6 recipe with the SSD heads learning: same layout
    and mask recipe, backbone frozen (the branches' maps stay), heads at a tenth of the rate."""
    from ssd_isb.config import config_differences

    masks = load_config(release("finetune_masks_stride4_multi_shape"))
    detector = load_config(release("finetune_detector_multi_shape"))
    everything = ("model", "isb", "postprocess", "train", "data")
    assert config_differences(detector, masks, everything) == [
        "train.box_loss_weight: 0.1 != 1.0", "train.class_loss_weight: 0.1 != 1.0",
        "train.freeze_backbone: True != False", "train.freeze_detector: False != True"]


def test_stride2_config_differs_from_the_detector_config_in_the_loss_stride_only():
    """Release 8's recipe: release 7's, the mask loss scored on stride-2 ground truth."""
    from ssd_isb.config import config_differences, mask_target_stride

    stride4 = load_config(release("finetune_detector_multi_shape"))
    stride2 = load_config(release("finetune_detector_stride2_multi_shape"))
    everything = ("model", "isb", "postprocess", "train", "data")
    assert config_differences(stride2, stride4, everything) == [
        "train.mask_loss_stride: 2 != 4"]
    assert mask_target_stride(stride2.train, stride2.isb) == 2


def test_thesis_shapes_exact():
    assert load_config(os.path.join(ROOT, "configs/single_shape.yaml")).isb.shapes == \
        THESIS["single_shape"]
    ssp = load_config(os.path.join(ROOT, "configs/single_shape_plus.yaml")).isb
    assert ssp.shapes == THESIS["single_shape"] and ssp.rest_shape == (14, 14)
    for name in ("multi_shape", "ms_mn075", "ms_fcn16"):
        assert load_config(os.path.join(ROOT, f"configs/{name}.yaml")).isb.shapes == \
            THESIS["multi_shape"]
    for name in ("ms_new_shapes", "ms_small_shapes"):
        assert load_config(os.path.join(ROOT, f"configs/{name}.yaml")).isb.shapes == THESIS[name]
    sb = load_config(os.path.join(ROOT, "configs/single_branch.yaml"))
    assert sb.isb.shapes == [(10, 10)] and sb.isb.pool == 2 and sb.isb.boxes_per_branch == 100
    assert load_config(os.path.join(ROOT, "configs/sb_fcn16.yaml")).isb.fcn == 16
    assert load_config(os.path.join(ROOT, "configs/ms_mn075.yaml")).model.depth_multiplier == 0.75


def _write(tmp_path, data, name="bad.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("data, message", [
    ({"isb": {"shpes": [[1, 1]]}}, "bad.yaml: isb.shpes: unknown key"),
    ({"modle": {}}, "bad.yaml: modle: unknown key"),
    ({"model": {"input_size": 300}}, "model.input_size: 300 is not a multiple of 32"),
    ({"isb": {"variant": "multi_shape", "shapes": [[21, 10]]}},
     "isb.shapes[0]: 21x10 does not fit the 20x20 stride-32 grid"),
    ({"model": {"input_size": 320}, "isb": {"variant": "multi_shape", "shapes": [[15, 10]]}},
     "isb.shapes[0]: 15x10 does not fit the 10x10 stride-32 grid"),
    ({"isb": {"variant": "multi_shapes"}}, "isb.variant: 'multi_shapes' is not one of"),
    ({"isb": {"fcn": 2}}, "isb.fcn: 2 is not one of"),
    ({"isb": {"variant": "single_shape_plus", "shapes": [[2, 1]]}},
     "isb.rest_shape: single_shape_plus needs"),
    ({"isb": {"shapes": [[2, "a"]]}}, "isb.shapes[0]: expected integer sizes"),
    ({"isb": {"boxes_per_branch": "30"}}, "isb.boxes_per_branch: expected an integer"),
    ({"postprocess": {"iou_threshold": 1.5}}, "postprocess.iou_threshold: must be in (0, 1]"),
    ({"train": {"batch_size": 0}}, "train.batch_size: must be >= 1"),
    ({"isb": {"fcn": 8}, "train": {"mask_loss_stride": 16}},
     "train.mask_loss_stride: 16 is not a power of two from 2 up to the branch output stride"),
    ({"train": {"mask_loss_stride": 3}}, "train.mask_loss_stride: 3 is not a power of two"),
    ({"model": {"score_converter": "relu"}}, "model.score_converter: 'relu' is not one of"),
    ({"isb": {"variant": "multi_shape", "shapes": [[2, 1], [2, 1]]}}, "listed twice"),
    ({"train": {"phases": [{"name": "a", "set": {"freeze_detectr": True}}]}},
     "train.phases[0].set.freeze_detectr: unknown key"),
    ({"train": {"phases": [{"name": "a"}, {"name": "b", "set": {"mask_loss_stride": "4"}}]}},
     "train.phases[1].set.mask_loss_stride: expected an integer"),
    ({"train": {"phases": [{"name": "a", "set": {"steps": 3}}]}},
     "train.phases[0].set.steps: not a phase setting (use train.phases[0].steps)"),
    ({"train": {"phases": [{"name": "a"}, {"name": "a"}]}}, "two phases share a name"),
    ({"train": {"phases": [{"name": "a b"}]}}, "train.phases[0].name: a short name"),
    ({"train": {"phases": [{"name": "a", "stpes": 3}]}}, "train.phases[0].stpes: unknown key"),
    ({"train": {"phases": [{"name": "a", "augment": {"zoom_crop_probabilty": 0.5}}]}},
     "train.phases[0].augment.zoom_crop_probabilty: unknown key"),
    ({"train": {"phases": [{"name": "a", "layer_score_offsets": [0, -1]}]}},
     "train.phases[0].layer_score_offsets: one number per SSD anchor layer"),
])
def test_config_errors_name_the_key(tmp_path, data, message):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, data))
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(bad)


def test_shapes_accept_strings_and_roundtrip(tmp_path):
    cfg = load_config(_write(tmp_path, {"isb": {"variant": "multi_shape",
                                                "shapes": ["3x2", [2, 1]]}}, "ok.yaml"))
    assert cfg.isb.shapes == [(3, 2), (2, 1)]
    again = load_config(_write(tmp_path, cfg.to_dict(), "again.yaml"))
    assert again == cfg


def test_model_files_describe_themselves(tmp_path):
    """A model's sidecar carries its config: train --init and export take it from there, and
    a config given beside it must agree on what the weights depend on."""
    from ssd_isb.utils.errors import UsageError
    from ssd_isb.core.metadata import ModelMetadata, model_config, write_sidecar
    from ssd_isb.training.loop import resolve_config

    ems = load_config("embedded_multi_shape")
    model = str(tmp_path / "m.keras")
    write_sidecar(model, ModelMetadata.from_config(ems))
    assert model_config(model) == ems
    assert resolve_config(None, model, str(tmp_path / "run"), resuming=False) == ems
    # Other data and training settings are the user's: the weights do not depend on them.
    mine = _write(tmp_path, {**ems.to_dict(), "name": "mine", "train": {"steps": 7}}, "mine.yaml")
    assert resolve_config(mine, model, str(tmp_path / "run"), resuming=False).train.steps == 7
    with pytest.raises(ConfigError, match=r"does not describe .*m\.keras.*isb\.variant"):
        model_config(model, load_config("embedded_single_branch"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(ems.to_dict()))
    assert resolve_config(None, None, str(tmp_path / "run"), resuming=True) == ems
    with pytest.raises(UsageError, match="--config is required"):
        resolve_config(None, None, str(tmp_path / "elsewhere"), resuming=False)


def _phase_against_step(recipe, index, path):
    """A recipe phase's config, its release step's, and the train keys where they differ."""
    import dataclasses

    from ssd_isb.training.recipe import phase_config

    phase, step = phase_config(recipe, index), load_config(os.path.join(ROOT, path))
    differ = {k for k, v in dataclasses.asdict(phase.train).items()
              if v != getattr(step.train, k)}
    return phase, step, differ


def test_the_shipped_recipe_replays_the_release_configs():
    """Each phase of configs/ssd_isb_multi_shape.yaml trains as the release config it stands
    for did (train block, data, model): the recipe is the nine releases, not a new model."""
    recipe = load_config("ssd_isb_multi_shape")
    releases = ["configs/embedded_multi_shape.yaml", release("finetune_masks_multi_shape")] + \
        [release("finetune_masks_stride4_multi_shape")] * 3 + \
        [release("finetune_detector_multi_shape")] * 2 + \
        [release("finetune_detector_stride2_multi_shape"),
         release("finetune_zoom_crops_multi_shape")]
    assert len(recipe.train.phases) == len(releases)
    for i, name in enumerate(releases):
        phase, step, differ = _phase_against_step(recipe, i, name)
        # release 4 ran without the box calibration its stride-4 config has since release 5
        assert differ <= {"calibrate_box_encoding"} if i == 2 else not differ, (name, differ)
        assert phase.data == step.data and phase.model == step.model
        assert phase.isb == step.isb
    assert [p.calibrate_scores for p in recipe.train.phases] == [False] * 7 + [True, False]
    # release 9: after its zoom-crop fine-tune, the coarse layers' logits go down
    assert [p.layer_score_offsets for p in recipe.train.phases][-1] == [0, 0, 0, -0.8, -0.8, -0.8]


def test_the_single_branch_recipe_replays_its_releases_then_takes_the_detector():
    import dataclasses

    recipe = load_config("ssd_isb_single_branch")
    releases = ["configs/embedded_single_branch.yaml", release("finetune_masks_single_branch"),
                release("finetune_masks_stride4_single_branch")]
    for i, name in enumerate(releases):
        phase, step, differ = _phase_against_step(recipe, i, name)
        # release 2 was stopped at its 400-update checkpoint (its config said 1,200)
        assert differ <= {"steps"} if i == 0 else not differ, (name, differ)
        assert phase.data == step.data and phase.isb == step.isb
    # release 9 moved the NMS IoU to 0.5 with the detector (the frame-sized false person)
    assert recipe.postprocess == dataclasses.replace(step.postprocess, iou_threshold=0.5)
    assert [p.detector_from for p in recipe.train.phases] == ["", "", "runs/ssd_isb_multi_shape"]
