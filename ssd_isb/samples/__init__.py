"""Photos shipped with the package (see README.md here for their licenses): real images for a
first ``predict``, ``demo`` or ``benchmark`` right after ``pip install``."""

from __future__ import annotations

import os
from typing import List

SAMPLES_DIR = os.path.dirname(os.path.abspath(__file__))


def sample_images() -> List[str]:
    """The sample photos (1, 3, 6 and 12 people), sorted by file name."""
    from ..runtime.image_io import list_images

    return list_images(SAMPLES_DIR)
