"""Growing a trained model into a finer FCN: an FCN-8 model's weights start an FCN-4 one.

The FCN-4 step's skip conv starts at zero (:mod:`ssd_isb.model.isb`), so the grown model gives
the trained model's masks (at stride 4) until training moves it: fine-tuning starts from the
shipped branches instead of from scratch, which on 2 CPU cores is the difference between
minutes and a day.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..config import Config, ConfigError, config_differences


def grows_from(given: Config, stored: Config) -> bool:
    """Whether a ``stored`` model can start a ``given`` config by growing: the model and branch
    sections differ only in ``isb.fcn``, and ``given`` has more skip steps."""
    diffs = config_differences(given, stored)
    return (bool(diffs) and all(d.startswith("isb.fcn:") for d in diffs)
            and given.isb.skip_steps > stored.isb.skip_steps)


def source_config(path: str, given: Optional[Config]) -> Tuple[Config, bool]:
    """The config a ``.keras`` model starts training under, and whether it grows into it.

    As :func:`~ssd_isb.core.metadata.model_config` (``given`` must describe the model), except that
    a ``given`` config the model grows into (:func:`grows_from`) is accepted too.

    Raises:
        ConfigError: ``given`` neither describes the model nor grows from it.
    """
    from ..core.metadata import model_config

    try:
        return model_config(path, given), False
    except ConfigError:
        if given is not None and grows_from(given, model_config(path)):
            return given, True
        raise


def grow_weights(target, source) -> Dict[str, List[str]]:
    """Copy every weight of ``source`` into the same-named weight of ``target``.

    Args:
        target: Keras model of the grown config (its new layers keep their initialization).
        source: the trained Keras model (same layer names, fewer skip steps).

    Returns:
        ``{"copied": [...], "new": [...]}`` weight paths.

    Raises:
        ValueError: a source weight has no same-named, same-shaped place in ``target``.
    """
    targets = {w.path: w for w in target.weights}
    copied = []
    for w in source.weights:
        t = targets.get(w.path)
        if t is None or tuple(t.shape) != tuple(w.shape):
            raise ValueError(f"weight {w.path} {tuple(w.shape)} has no place in the grown model"
                             + ("" if t is None else f" (there: {tuple(t.shape)})"))
        t.assign(w)
        copied.append(w.path)
    new = sorted(set(targets) - set(copied))
    return {"copied": copied, "new": new}
