"""Build a TensorRT engine from an ONNX file, and run one (TensorRT 8.6 to 10).

Shaped after NVIDIA's ``samples/python/efficientdet``: explicit batch network, ONNX parser,
``set_memory_pool_limit``, a timing cache, fp32/fp16/int8 (entropy calibrator with a cache),
``build_serialized_network``, every input and output logged with its shape. Uses only the
name-based tensor API (``num_io_tensors``, ``set_tensor_address``, ``execute_async_v3``), which
both 8.6 and 10 have.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, List, Optional

import numpy as np

from ..utils.errors import SSDISBError

log = logging.getLogger("ssd_isb.tensorrt")


class TensorRTError(SSDISBError, RuntimeError):
    """TensorRT is missing, cannot parse or build the model, or an engine cannot run."""

PRECISIONS = ("fp32", "fp16", "int8")


def _trt():
    try:
        import tensorrt as trt
    except ImportError:
        raise TensorRTError("TensorRT is not installed (pip install 'ssd-isb[tensorrt]' on a "
                           "machine with NVIDIA's packages, e.g. a Jetson with JetPack)") from None
    return trt


class EngineBuilder:
    """Parses an ONNX model into a TensorRT network and builds a serialized engine.

    Args:
        workspace_mb: builder workspace memory pool limit.
        verbose: TensorRT's verbose log.
    """

    def __init__(self, workspace_mb: int = 1024, verbose: bool = False):
        trt = _trt()
        self.trt = trt
        self.logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.INFO)
        trt.init_libnvinfer_plugins(self.logger, namespace="")
        self.builder = trt.Builder(self.logger)
        self.config = self.builder.create_builder_config()
        self.config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
        self.network = None
        self.parser = None

    def create_network(self, onnx_path: str) -> List[str]:
        """Parse the ONNX file; return the I/O description lines (also logged)."""
        trt = self.trt
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TRT 8.x
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        self.network = self.builder.create_network(flags)
        self.parser = trt.OnnxParser(self.network, self.logger)
        with open(onnx_path, "rb") as fh:
            if not self.parser.parse(fh.read()):
                errors = [str(self.parser.get_error(i)) for i in range(self.parser.num_errors)]
                raise TensorRTError(f"{onnx_path}: TensorRT cannot parse it: "
                                   + "; ".join(errors[:3]))
        lines = []
        for i in range(self.network.num_inputs):
            t = self.network.get_input(i)
            lines.append(f"input  {t.name}: {list(t.shape)} {t.dtype}")
        for i in range(self.network.num_outputs):
            t = self.network.get_output(i)
            lines.append(f"output {t.name}: {list(t.shape)} {t.dtype}")
        for line in lines:
            log.info("%s", line)
        return lines

    def input_shapes(self) -> Dict[str, list]:
        """Every network input's shape (-1 where it is dynamic)."""
        return {self.network.get_input(i).name: list(self.network.get_input(i).shape)
                for i in range(self.network.num_inputs)}

    def add_profile(self, shapes: Dict[str, tuple]) -> None:
        """One optimization profile: (min, opt, max) shape per dynamic input (the branch
        stage's number of crops)."""
        profile = self.builder.create_optimization_profile()
        for name, (lo, opt, hi) in shapes.items():
            profile.set_shape(name, lo, opt, hi)
            log.info("profile %s: min %s opt %s max %s", name, list(lo), list(opt), list(hi))
        self.config.add_optimization_profile(profile)

    def build(self, engine_path: str, precision: str = "fp16", calibrator=None,
              timing_cache: Optional[str] = None) -> str:
        """Build and write ``engine_path``; int8 needs ``calibrator``."""
        trt = self.trt
        if precision not in PRECISIONS:
            raise TensorRTError(f"precision must be one of {PRECISIONS}, got {precision}")
        if precision in ("fp16", "int8"):
            if not self.builder.platform_has_fast_fp16:
                log.warning("this GPU has no fast fp16; building anyway")
            self.config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8":
            if calibrator is None:
                raise TensorRTError("int8 needs calibration images or a calibration cache")
            self.config.set_flag(trt.BuilderFlag.INT8)
            self.config.int8_calibrator = calibrator
        cache = None
        if timing_cache:
            data = b""
            if os.path.exists(timing_cache):
                with open(timing_cache, "rb") as fh:
                    data = fh.read()
            cache = self.config.create_timing_cache(data)
            self.config.set_timing_cache(cache, ignore_mismatch=False)
        serialized = self.builder.build_serialized_network(self.network, self.config)
        if serialized is None:
            raise TensorRTError("TensorRT failed to build the engine (see its log above)")
        tmp = engine_path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(serialized)
        os.replace(tmp, engine_path)
        if timing_cache and cache is not None:
            with open(timing_cache, "wb") as fh:
                fh.write(memoryview(self.config.get_timing_cache().serialize()))
        log.info("wrote %s (%.1f MB)", engine_path, os.path.getsize(engine_path) / 1e6)
        return engine_path


class EngineRunner:
    """Deserialize an engine and run it on host arrays.

    Inputs with a dynamic first dimension (the branch stage) get device buffers for their
    profile's maximum; each call sets the shapes it feeds, and an input left out of a call is
    set to the profile minimum and not copied (its outputs are not read back).
    """

    def __init__(self, engine_path: str):
        from .cuda import create_stream

        trt = _trt()
        self.trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        trt.init_libnvinfer_plugins(self.logger, namespace="")
        with open(engine_path, "rb") as fh, trt.Runtime(self.logger) as runtime:
            self.engine = runtime.deserialize_cuda_engine(fh.read())
        if self.engine is None:
            raise TensorRTError(f"{engine_path}: cannot deserialize (built with another "
                               f"TensorRT version or GPU? engines are not portable)")
        self.context = self.engine.create_execution_context()
        self.stream = create_stream()
        self.inputs: Dict[str, tuple] = {}
        self.outputs: Dict[str, tuple] = {}
        self.minimum: Dict[str, tuple] = {}  # dynamic inputs: the profile's minimum shape
        self.buffers: Dict[str, object] = {}  # name -> cuda.DeviceBuffer
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        for name in names:  # inputs first: dynamic outputs are sized from their maxima
            if self.engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
                continue
            shape = tuple(self.engine.get_tensor_shape(name))
            if min(shape) < 0:
                lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
                self.minimum[name], shape = tuple(lo), tuple(hi)
                self.context.set_input_shape(name, shape)
            self.inputs[name] = (shape, self._allocate(name, shape, trt))
        for name in names:
            if name not in self.inputs:
                shape = tuple(self.context.get_tensor_shape(name))
                self.outputs[name] = (shape, self._allocate(name, shape, trt))

    def _allocate(self, name: str, shape, trt) -> np.dtype:
        from .cuda import DeviceBuffer

        dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
        buf = DeviceBuffer(int(np.prod(shape)) * dtype.itemsize, self.stream)
        self.buffers[name] = buf
        self.context.set_tensor_address(name, buf.ptr)
        return dtype

    def run(self, feeds: Dict[str, np.ndarray], outputs=None) -> Dict[str, np.ndarray]:
        """Copy ``feeds`` in, execute, copy ``outputs`` (default: all) back."""
        from .cuda import synchronize

        for name, (shape, dtype) in self.inputs.items():
            if name in self.minimum:
                value = feeds.get(name)
                self.context.set_input_shape(name, self.minimum[name] if value is None
                                             else tuple(value.shape))
                if value is not None:
                    self.buffers[name].copy_from_host(np.asarray(value, dtype))
            else:
                self.buffers[name].copy_from_host(np.asarray(feeds[name], dtype).reshape(shape))
        if not self.context.execute_async_v3(self.stream):
            raise TensorRTError("TensorRT execution failed")
        synchronize(self.stream)
        out = {}
        for name in outputs or self.outputs:
            dtype = self.outputs[name][1]
            shape = tuple(self.context.get_tensor_shape(name))
            out[name] = self.buffers[name].copy_to_host(np.empty(shape, dtype))
        return out
