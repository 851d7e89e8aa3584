"""Photos shipped with the package (see README.md here for their licenses): real images for a
first ``predict``, ``demo`` or ``benchmark`` right after ``pip install``."""

from __future__ import annotations

import os
from typing import List

SAMPLES_DIR = os.path.dirname(os.path.abspath(__file__))


SOURCE_NAME = "samples"  # ``--source samples``: these photos, wherever the package is installed


def resolve_source(source: str) -> str:
    """``samples`` (when no such file or folder exists here) -> the shipped photos' folder, so
    the first command after ``pip install`` needs no data; anything else as given."""
    import os as _os

    if source == SOURCE_NAME and not _os.path.exists(source):
        return SAMPLES_DIR
    return source


def sample_images() -> List[str]:
    """The sample photos (1, 3, 6 and 12 people), sorted by file name."""
    from ..runtime.image_io import list_images

    return list_images(SAMPLES_DIR)
