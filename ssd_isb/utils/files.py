"""Result files and folders (TF-free).

A report or results file is written to a temporary name and moved into place, so a killed run
never leaves half a JSON file behind; an output folder is checked before the work starts, so a
read-only place fails at once instead of after the inference; a second run into a used folder
gets the next numbered one.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from .errors import SSDISBError, UsageError


def write_json(path: str, data: Any, indent: int = 2) -> str:
    """Write ``data`` as JSON to ``path`` atomically (its folder is created); returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=indent)
        os.replace(tmp, path)
    except OSError as err:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OutputError(f"{path}: cannot write ({err.strerror or err})") from None
    return path


def check_output_file(path: str, option: str = "--output") -> str:
    """Before any work: ``path`` is not a folder and a file can be written beside it.

    Raises:
        OutputError: one line naming the option and the path.
    """
    if os.path.isdir(path):
        raise OutputError(f"{option} {path}: is a folder, give a file name (e.g. "
                          f"{os.path.join(path, 'report.json')})")
    try:
        check_writable(os.path.dirname(os.path.abspath(path)))
    except OutputError as err:
        raise OutputError(f"{option} {err}") from None
    return path


def check_keras_paths(sources: Sequence[str], output: str, made: str = "new",
                      hint: str = "") -> None:
    """Before a command rewrites ``.keras`` models (calibrations, transplants): each source is
    an existing ``.keras`` file and ``output`` ends in ``.keras``.

    Args:
        made: what the output is called in the error ("the {made} model").
        hint: appended to a missing source's error.

    Raises:
        UsageError: one line naming the path.
    """
    for path in sources:
        if not path.endswith(".keras") or not os.path.isfile(path):
            raise UsageError(f"{path}: no such .keras model{hint}")
    if not output.endswith(".keras"):
        raise UsageError(f"{output}: the {made} model must be a .keras file")


class OutputError(SSDISBError, OSError):
    """An output cannot be written where asked; the message names the path."""


def check_writable(folder: str) -> str:
    """Create ``folder`` if needed and prove a file can be written in it, before any work.

    Raises:
        OutputError: it is a file, or it cannot be created or written (one line naming it).
    """
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"{folder}: is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, f".ssd-isb-write-test-{os.getpid()}")
        with open(probe, "w", encoding="utf-8"):
            pass
        os.remove(probe)
    except OSError as err:
        raise OutputError(f"{folder}: cannot write here ({err.strerror or err})") from None
    return folder


RUN_MARK = ".ssd-isb-run"  # claims a run folder (created exclusively)


def run_folder(output: str, exist_ok: bool = False) -> str:
    """Claim the folder a run writes to: ``output`` if it is new or empty (or ``exist_ok``),
    else the first free ``output-2``, ``output-3``, ... A folder is claimed by creating its
    :data:`RUN_MARK` file exclusively, so two runs started together never share one, and the
    number is set off by a dash (``race3`` run twice gives ``race3-2``, never ``race32``).

    Raises:
        OutputError: ``output`` is a file, or no folder can be created there.
    """
    if os.path.exists(output) and not os.path.isdir(output):
        raise OutputError(f"{output}: is a file, not a folder (give --output a folder)")
    base = output.rstrip(os.sep) or output
    if exist_ok:
        check_writable(base)
        return output
    for n in range(1, 100000):
        candidate = base if n == 1 else f"{base}-{n}"
        if os.path.isdir(candidate) and os.listdir(candidate):
            continue  # an earlier run's (or anything else's) folder
        try:
            os.makedirs(candidate, exist_ok=True)
            fd = os.open(os.path.join(candidate, RUN_MARK), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue  # another run claimed it between the look and the claim
        except OSError as err:
            raise OutputError(f"{candidate}: cannot write here ({err.strerror or err})") \
                from None
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return candidate
    raise OutputError(f"{base}: no free run folder name")


def release_run_folder(folder: str) -> None:
    """Remove the claim mark of a run folder that now holds the run's files (they claim it)."""
    mark = os.path.join(folder, RUN_MARK)
    if os.path.exists(mark):
        os.remove(mark)
