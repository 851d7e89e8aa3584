"""Which machines train together: ``TF_CONFIG`` checked before TensorFlow starts (TF-free).

TensorFlow's multi-worker training reads the cluster from the ``TF_CONFIG`` environment
variable, a JSON object::

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

(a ``"chief"`` list is allowed too). Worker 0, or the chief when there is one, writes the
checkpoints, the TensorBoard logs and the final model; the others write to temporary folders
that are removed. TensorFlow itself reports a bad ``TF_CONFIG`` only when the first collective
times out, minutes later; here each fault is one line before any training.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import Dict, List, Optional

from ..utils.errors import SSDISBError

STRATEGIES = ("auto", "default", "mirrored", "multi-worker")


class ClusterError(SSDISBError, ValueError):
    """``TF_CONFIG`` or ``--strategy`` cannot work; one line saying what is wrong."""


@dataclass
class Cluster:
    """The parsed ``TF_CONFIG``: this task and its peers.

    Attributes:
        workers: every task's ``host:port``, chief first (the order TensorFlow ranks them).
        task_type, task_index: this process.
        index: this process' rank among ``workers`` (0 = the one that writes).
    """

    workers: List[str]
    task_type: str
    task_index: int
    index: int

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @property
    def size(self) -> int:
        return len(self.workers)

    @property
    def address(self) -> str:
        return self.workers[self.index]


def parse_tf_config(text: Optional[str] = None, check_port: bool = True) -> Cluster:
    """Check ``TF_CONFIG`` (default: the environment's) and return the cluster.

    Args:
        text: the JSON; None reads ``os.environ["TF_CONFIG"]``.
        check_port: this task's own port must be free to listen on (it is taken by another
            process otherwise, and TensorFlow would fail later and less clearly).

    Raises:
        ClusterError: not JSON, no ``cluster`` / ``task``, a task not in the cluster, an
            address without a port, a repeated address, or this task's port in use.
    """
    text = os.environ.get("TF_CONFIG", "") if text is None else text
    if not text.strip():
        raise ClusterError("TF_CONFIG is not set (multi-worker training needs it: see README "
                           "'Training on several machines')")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ClusterError(f"TF_CONFIG: not valid JSON ({err.msg} at character {err.pos})") \
            from None
    if not isinstance(data, dict):
        raise ClusterError("TF_CONFIG: must be a JSON object with 'cluster' and 'task'")
    cluster, task = data.get("cluster"), data.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ClusterError("TF_CONFIG: no 'cluster' (e.g. {\"worker\": [\"host1:12345\", "
                           "\"host2:12345\"]})")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ClusterError("TF_CONFIG: no 'task' with 'type' and 'index' (e.g. {\"type\": "
                           "\"worker\", \"index\": 0})")
    unknown = set(cluster) - {"chief", "worker"}
    if unknown:
        raise ClusterError(f"TF_CONFIG: cluster job {sorted(unknown)[0]!r} is not used here "
                           "(only 'chief' and 'worker')")
    jobs: Dict[str, List[str]] = {}
    for job in ("chief", "worker"):
        addresses = cluster.get(job, [])
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise ClusterError(f"TF_CONFIG: cluster.{job} must be a list of 'host:port' strings")
        for a in addresses:
            host, _, port = a.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ClusterError(f"TF_CONFIG: cluster.{job} address {a!r} is not host:port")
        jobs[job] = addresses
    if len(jobs["chief"]) > 1:
        raise ClusterError("TF_CONFIG: at most one chief")
    workers = jobs["chief"] + jobs["worker"]
    if not workers:
        raise ClusterError("TF_CONFIG: the cluster lists no worker")
    if len(set(workers)) != len(workers):
        raise ClusterError("TF_CONFIG: an address appears twice in the cluster")
    kind, index = task["type"], task["index"]
    if kind not in ("chief", "worker") or not jobs[kind]:
        raise ClusterError(f"TF_CONFIG: task type {kind!r} is not a job of the cluster")
    if not isinstance(index, int) or not 0 <= index < len(jobs[kind]):
        raise ClusterError(f"TF_CONFIG: task index {index!r} is not in cluster.{kind} "
                           f"(0..{len(jobs[kind]) - 1})")
    rank = index if kind == "chief" else len(jobs["chief"]) + index
    out = Cluster(workers=workers, task_type=kind, task_index=index, index=rank)
    if check_port:
        _check_free(out.address)
    return out


def _check_free(address: str) -> None:
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("" if host in ("localhost", "0.0.0.0") else host, int(port)))
        except OSError as err:
            if err.errno in (98, 48):  # EADDRINUSE (Linux, macOS)
                raise ClusterError(f"TF_CONFIG: this task's address {address} is in use by "
                                   "another process") from None
            if err.errno in (99, 49):  # EADDRNOTAVAIL: the host is another machine's name
                raise ClusterError(f"TF_CONFIG: this task's address {address} is not an "
                                   "address of this machine") from None
            raise ClusterError(f"TF_CONFIG: cannot listen on {address} ({err.strerror})") \
                from None


def resolve_strategy(name: Optional[str]) -> str:
    """``--strategy`` (default "auto") -> the strategy to build: "multi-worker" when
    ``TF_CONFIG`` is set, else "mirrored" (several GPUs) or "default" decided by TensorFlow."""
    name = name or "auto"
    if name not in STRATEGIES:
        raise ClusterError(f"--strategy {name}: not one of {', '.join(STRATEGIES)}")
    if name == "auto":
        return "multi-worker" if os.environ.get("TF_CONFIG", "").strip() else "auto"
    return name
