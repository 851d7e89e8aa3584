"""ssd-isb: real-time person instance segmentation with SSD and instance segmentation branches.

The top-level package is TF-free. The Keras model lives in :mod:`ssd_isb.model` (TensorFlow), the
deployment runtime in :mod:`ssd_isb.runtime` (numpy, OpenCV and a backend's own library).
"""

__version__ = "0.1.0"
