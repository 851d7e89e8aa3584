"""Device memory for TensorRT through cuda-python (preferred) or pycuda."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..utils.errors import SSDISBError


class CudaError(SSDISBError, RuntimeError):
    """No CUDA binding, or a CUDA call failed."""


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
        return cudart
    except ImportError:
        pass
    try:
        from cuda import cudart  # type: ignore  # older cuda-python
        return cudart
    except ImportError:
        return None


def _check(result):
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise CudaError(f"CUDA error {err}")
    return rest[0] if len(rest) == 1 else rest


class DeviceBuffer:
    """A device allocation of ``nbytes`` with host<->device copies on a stream."""

    def __init__(self, nbytes: int, stream=None):
        self.nbytes = int(nbytes)
        self.stream = stream
        self.cudart = _cudart()
        if self.cudart is not None:
            self.ptr = int(_check(self.cudart.cudaMalloc(self.nbytes)))
            self._pycuda = None
        else:
            try:
                import pycuda.autoinit  # noqa: F401
                import pycuda.driver as drv
            except ImportError:
                raise CudaError("TensorRT needs cuda-python or pycuda: "
                                "pip install 'ssd-isb[tensorrt]'") from None
            self._pycuda = drv
            self._alloc = drv.mem_alloc(self.nbytes)
            self.ptr = int(self._alloc)

    def copy_from_host(self, array: np.ndarray) -> int:
        array = np.ascontiguousarray(array)
        if array.nbytes > self.nbytes:
            raise CudaError(f"{array.nbytes} bytes do not fit a {self.nbytes}-byte buffer")
        if self._pycuda is not None:
            self._pycuda.memcpy_htod(self._alloc, array)
        else:
            kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            _check(self.cudart.cudaMemcpy(self.ptr, array.ctypes.data, array.nbytes, kind))
        return self.ptr

    def copy_to_host(self, out: np.ndarray) -> np.ndarray:
        if self._pycuda is not None:
            self._pycuda.memcpy_dtoh(out, self._alloc)
        else:
            kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
            _check(self.cudart.cudaMemcpy(out.ctypes.data, self.ptr, out.nbytes, kind))
        return out

    def free(self) -> None:
        if self._pycuda is None and self.cudart is not None and self.ptr:
            _check(self.cudart.cudaFree(self.ptr))
        self.ptr = 0


def create_stream() -> Optional[int]:
    """A CUDA stream handle (0, the default stream, with pycuda)."""
    cudart = _cudart()
    if cudart is not None:
        return int(_check(cudart.cudaStreamCreate()))
    return 0


def synchronize(stream) -> None:
    cudart = _cudart()
    if cudart is not None:
        _check(cudart.cudaStreamSynchronize(stream))
    else:
        import pycuda.driver as drv

        drv.Context.synchronize()


def gpu_memory_used_mb() -> Optional[float]:
    """Device memory in use (MB), or None without cuda-python."""
    cudart = _cudart()
    if cudart is None:
        return None
    free, total = _check(cudart.cudaMemGetInfo())
    return (total - free) / 2 ** 20
