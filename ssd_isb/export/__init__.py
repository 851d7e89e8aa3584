"""Export library: one entry point for TFLite (fp32/fp16/int8), ONNX and SavedModel.

Importing it imports TensorFlow (the export side needs the Keras model); the deployment side
(:mod:`ssd_isb.runtime`, ``convert/build_engine.py``) does not.
"""

from .formats import ExportError, ExportFormat, Quantization

__all__ = ["ExportError", "ExportFormat", "Quantization", "export_model"]


def export_model(*args, **kwargs):
    """See :func:`ssd_isb.export.exporter.export_model`."""
    from .exporter import export_model as _export

    return _export(*args, **kwargs)
