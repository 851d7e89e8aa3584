"""Other people's models, run as their authors specify, for side-by-side comparison only.

Nothing here ships or converts their weights: each class reads a file the user points at
(``../shared/peers``, ``../shared/pretrained``) and returns the same
:class:`~ssd_isb.runtime.Segmentation` as :class:`~ssd_isb.runtime.Segmenter`, with the same
``last_timings``, so benchmarks and evaluation treat every model alike. TF-free.
"""

from .yolo_seg import Yolo11Seg, YoloV8Seg
from .zoo_detector import ZooBoxDetector

__all__ = ["Yolo11Seg", "YoloV8Seg", "ZooBoxDetector"]
