"""The timing harness (ssd_isb.measure.timing): models alternated in blocks, and no BLAS worker
left spinning on a core between timed runs."""

import time

import numpy as np
import pytest

from ssd_isb.measure.timing import one_blas_thread, time_interleaved


def _cpu_while_asleep(seconds: float = 0.3) -> float:
    """CPU seconds this process burns while its only working thread sleeps."""
    start = time.process_time()
    time.sleep(seconds)
    return time.process_time() - start


def _product():
    # The shape of a YOLO-seg mask decode: coefficients times flattened prototypes.
    a = np.random.default_rng(0).random((64, 32), dtype=np.float32)
    b = np.random.default_rng(1).random((32, 160 * 160), dtype=np.float32)
    return a @ b


def test_blas_is_held_to_one_thread_and_leaves_no_spinning_worker():
    from threadpoolctl import threadpool_info

    if not any(i.get("user_api") == "blas" for i in threadpool_info()):
        pytest.skip("numpy has no BLAS thread pool here")
    with one_blas_thread():
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
        _product()  # the first product of a process starts OpenBLAS's workers: not timed
        _cpu_while_asleep()
        _product()
        busy = _cpu_while_asleep()
    # One idle process: a spinning OpenBLAS worker would burn ~0.1 s of the 0.3 s here.
    assert busy < 0.05, busy


class _Product:
    """A segmenter-shaped callable whose only work is a BLAS product (as a peer's decode)."""

    last_timings = {}

    def __call__(self, frame):
        from threadpoolctl import threadpool_info

        self.threads = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        _product()
        self.last_timings = {s: 1.0 for s in ("preprocess", "inference", "postprocess",
                                              "total")}
        return []


def test_time_interleaved_runs_every_model_with_one_blas_thread():
    seg = _Product()
    out = time_interleaved([seg], [np.zeros((4, 4, 3), np.uint8)], runs=3)
    assert out[0]["detections_per_image"] == 0
    assert set(seg.threads) <= {1}
