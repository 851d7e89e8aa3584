"""Training: the Keras model with SSD-ISB losses, checkpoints, callbacks and the run loop."""

from .loop import TrainingError, train

__all__ = ["TrainingError", "train"]
