"""Result files: written whole or not at all (TF-free).

A report or results file is written to a temporary name and moved into place, so a killed run
never leaves half a JSON file behind.
"""

from __future__ import annotations

import json
import os
from typing import Any


def write_json(path: str, data: Any, indent: int = 2) -> str:
    """Write ``data`` as JSON to ``path`` atomically (its folder is created); returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=indent)
    os.replace(tmp, path)
    return path
