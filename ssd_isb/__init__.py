"""ssd-isb: real-time person instance segmentation with SSD and instance segmentation branches.

The package is laid out by role (each part imports only the ones before it):

* :mod:`ssd_isb.utils`: errors, result files, progress, quiet logs, stop signals;
* :mod:`ssd_isb.config`: typed configs from YAML;
* :mod:`ssd_isb.core`: the method's rules with no framework (anchors, encompassing windows,
  branches, the two-stage model's names, the model sidecar);
* :mod:`ssd_isb.runtime`: the TF-free deployment runtime (``Segmenter``, backends, tiles and the
  second look); :mod:`ssd_isb.tracking`, :mod:`ssd_isb.peers`, :mod:`ssd_isb.measure`;
* :mod:`ssd_isb.data`, :mod:`ssd_isb.model`, :mod:`ssd_isb.training`, :mod:`ssd_isb.export`,
  :mod:`ssd_isb.evaluation`, :mod:`ssd_isb.tensorrt`, :mod:`ssd_isb.teacher`: training and export
  time (TensorFlow where needed);
* :mod:`ssd_isb.apps`: what users run (predict, demo, streams, serve), and the ``ssd-isb``
  command (:mod:`ssd_isb.cli`, :mod:`ssd_isb.commands`).

The top-level package is TF-free. Modules that moved in 0.2 keep their old import paths for a
release, with a ``DeprecationWarning`` (:data:`MOVED`).
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.2.0"

# Old import path -> new one (0.2 laid the package out by role). ``import ssd_isb.predict``
# still works, warns once, and gives the very module ``ssd_isb.apps.predict``.
MOVED = {
    "ssd_isb.anchors": "ssd_isb.core.anchors",
    "ssd_isb.box_coder": "ssd_isb.core.box_coder",
    "ssd_isb.encompassing": "ssd_isb.core.encompassing",
    "ssd_isb.shapes": "ssd_isb.core.shapes",
    "ssd_isb.branches": "ssd_isb.core.branches",
    "ssd_isb.stages": "ssd_isb.core.stages",
    "ssd_isb.layer_names": "ssd_isb.core.layer_names",
    "ssd_isb.metadata": "ssd_isb.core.metadata",
    "ssd_isb.predict": "ssd_isb.apps.predict",
    "ssd_isb.demo": "ssd_isb.apps.demo",
    "ssd_isb.streams": "ssd_isb.apps.streams",
    "ssd_isb.video": "ssd_isb.runtime.video",
    "ssd_isb.runtime.boxes": "ssd_isb.core.boxes",
    "ssd_isb.frame_pipeline": "ssd_isb.apps.frame_pipeline",
    "ssd_isb.background": "ssd_isb.apps.background",
    "ssd_isb.smoothing": "ssd_isb.apps.smoothing",
    "ssd_isb.semantic_predict": "ssd_isb.apps.semantic_predict",
    "ssd_isb.serve": "ssd_isb.apps.serve",
    "ssd_isb.errors": "ssd_isb.utils.errors",
    "ssd_isb.files": "ssd_isb.utils.files",
    "ssd_isb.progress": "ssd_isb.utils.progress",
    "ssd_isb.quiet": "ssd_isb.utils.quiet",
    "ssd_isb.signals": "ssd_isb.utils.signals",
    "ssd_isb.pretrained": "ssd_isb.model.pretrained",
    "ssd_isb.pseudo_labels": "ssd_isb.data.pseudo_labels",
}


def _new_name(old: str):
    for before, after in MOVED.items():
        if old == before or old.startswith(before + "."):
            return after + old[len(before):]
    return None


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path as its new module (the same object), with a warning."""

    def find_spec(self, fullname, path=None, target=None):
        new = _new_name(fullname)
        return importlib.util.spec_from_loader(fullname, self) if new else None

    def create_module(self, spec):
        new = _new_name(spec.name)
        warnings.warn(f"{spec.name} moved to {new}; the old path goes away in the next "
                      f"release", DeprecationWarning, stacklevel=3)
        module = importlib.import_module(new)
        self._own_spec = module.__spec__  # the import system sets the old one on it next
        return module

    def exec_module(self, module):
        # Already executed under its new name: keep that name's spec on it.
        module.__spec__ = self._own_spec


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())  # before an editable install's finder


def __getattr__(name):
    """``ssd_isb.predict`` as an attribute (after ``import ssd_isb``): the moved module."""
    if f"ssd_isb.{name}" in MOVED:
        return importlib.import_module(f"ssd_isb.{name}")
    raise AttributeError(f"module 'ssd_isb' has no attribute {name!r}")
