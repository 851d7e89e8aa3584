"""A shipped model's recipe: ``train.phases`` run in order, each from the last one's model.

``ssd-isb train --config configs/ssd_isb_multi_shape.yaml --init W.weights.h5 --workdir R`` runs
phase ``k`` in ``R/<k>_<name>/`` as an ordinary training run (checkpoints, logs, its
``model.keras``), from the previous phase's model (the first from ``--init``). A phase is done
when its ``phase.json`` is written, after its calibrations; a killed recipe, run again with the
same command, skips the done phases and resumes the one it was in from its last checkpoint.
The last phase's model is copied to ``R/model.keras``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from typing import Dict, List, Optional

from ..config import Config, phase_augment, phase_train
from ..utils.files import check_writable, write_json

log = logging.getLogger("ssd_isb.train")
DONE = "phase.json"


def phase_config(cfg: Config, index: int) -> Config:
    """The config phase ``index`` trains with (its train block and augmentation, no phases)."""
    augment = phase_augment(cfg.data.augment, cfg.train.phases[index], index)
    return dataclasses.replace(cfg, train=phase_train(cfg.train, index),
                               data=dataclasses.replace(cfg.data, augment=augment))


def phase_dir(workdir: str, index: int, name: str) -> str:
    """``workdir/<k>_<name>`` (k from 1, two digits: folders sort in order)."""
    return os.path.join(workdir, f"{index + 1:02d}_{name}")


def _done(folder: str) -> Optional[Dict]:
    path = os.path.join(folder, DONE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def calibrate_scores(cfg: Config, model: str, images: int, output: str) -> Dict:
    """Shift ``model``'s class logits so its best F1 on the first ``images`` training-side
    images of ``data.train[0]`` reads 0.5 (``scripts/tune_score.py``, in the recipe)."""
    from ..data import load_datasets
    from .score_calibration import best_f1_threshold, logit_offset, shift_model_file

    first = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data,
                                                               train=cfg.data.train[:1]))
    records, _ = load_datasets(first, "train")
    measured = best_f1_threshold(model, records[:images])
    shift = shift_model_file(model, output, logit_offset(measured["threshold"]))
    log.info("score calibration: best F1 %.3f at %.2f on %d training-side images; class logits "
             "%+.3f", measured["best"]["f1"], measured["threshold"], measured["images"],
             shift["logit_offset"])
    return {"threshold": measured["threshold"], "best": measured["best"],
            "images": measured["images"], "logit_offset": shift["logit_offset"]}


def run_recipe(cfg: Config, workdir: str, init: Optional[str], verbose: int = 1,
               steps: Optional[int] = None) -> Dict:
    """Run every phase of ``cfg.train.phases`` not yet done; see the module docstring.

    Args:
        cfg: a config with ``train.phases``.
        workdir: the recipe's folder (one subfolder per phase).
        init: the first phase's start (detector ``.weights.h5`` or a ``.keras`` model).
        verbose: Keras progress bars.
        steps: run each phase for this many updates instead (a short check of the recipe).

    Returns:
        ``phases`` (per phase: name, folder, model, steps, seconds, calibrations, skipped),
        ``model`` (the final one), written to ``workdir/recipe.json``.
    """
    from .callbacks import read_checkpoint_state
    from .loop import train

    check_writable(workdir)
    for index, phase in enumerate(cfg.train.phases):  # hours before it is needed: check now
        source = phase.detector_from
        if source and not os.path.exists(os.path.join(source, "model.keras") if
                                         os.path.isdir(source) else source):
            from ..utils.errors import UsageError

            raise UsageError(f"train.phases[{index}].detector_from: {source}: no such model "
                             f"(a .keras file or a finished recipe's workdir)")
    previous, rows = init, []
    for index, phase in enumerate(cfg.train.phases):
        folder = phase_dir(workdir, index, phase.name)
        done = _done(folder)
        if done is not None:
            log.info("phase %d/%d %s: done before, %s", index + 1, len(cfg.train.phases),
                     phase.name, done["model"])
            rows.append({**done, "skipped": True})
            previous = done["model"]
            continue
        pcfg = phase_config(cfg, index)
        if steps and steps < pcfg.train.checkpoint_every:  # a short check: a checkpoint each
            pcfg = dataclasses.replace(pcfg, train=dataclasses.replace(
                pcfg.train, checkpoint_every=steps))
        resume = read_checkpoint_state(os.path.join(folder, "checkpoints")) is not None
        log.info("phase %d/%d %s: %d updates from %s%s", index + 1, len(cfg.train.phases),
                 phase.name, steps or phase.steps, previous, " (resumed)" if resume else "")
        summary = train(pcfg, folder, init=None if resume else previous, resume=resume,
                        verbose=verbose, steps=steps)
        model = os.path.join(folder, "model.keras")
        row = {"phase": phase.name, "folder": folder, "init": previous, "steps": summary["steps"],
               "seconds": summary["seconds"], "model": model, "skipped": False}
        if phase.calibrate_scores:
            calibrated = os.path.join(folder, "model_scores.keras")
            row["score_calibration"] = calibrate_scores(pcfg, model,
                                                        phase.calibrate_scores_images,
                                                        calibrated)
            row["model"] = calibrated
        if phase.layer_score_offsets:
            from .score_calibration import shift_model_file

            shifted = os.path.join(folder, "model_layers.keras")
            shift_model_file(row["model"], shifted, [float(x) for x in phase.layer_score_offsets])
            log.info("class logits per anchor layer shifted by %s", phase.layer_score_offsets)
            row.update(layer_score_offsets=list(phase.layer_score_offsets), model=shifted)
        if phase.detector_from:
            from .transplant import transplant_detector

            source = phase.detector_from
            source = os.path.join(source, "model.keras") if os.path.isdir(source) else source
            joined = os.path.join(folder, "model_detector.keras")
            transplant_detector(source, row["model"], joined)
            row.update(detector_from=source, model=joined)
        write_json(os.path.join(folder, DONE), row)
        rows.append(row)
        previous = row["model"]
    final = os.path.join(workdir, "model.keras")
    shutil.copyfile(previous, final)
    if os.path.exists(previous + ".json"):
        shutil.copyfile(previous + ".json", final + ".json")
    report = {"phases": rows, "model": final}
    write_json(os.path.join(workdir, "recipe.json"), report)
    return report


def recipe_line(report: Dict) -> str:
    """The one line ``ssd-isb train`` prints about a recipe."""
    ran = [r for r in report["phases"] if not r["skipped"]]
    seconds = sum(r["seconds"] for r in ran)
    return (f"{len(report['phases'])} phases ({len(ran)} run now, "
            f"{sum(r['steps'] for r in ran)} updates in {seconds:.0f} s) -> {report['model']}")


__all__: List[str] = ["run_recipe", "phase_config", "phase_dir", "recipe_line",
                      "calibrate_scores"]
