"""Runners: one engine opened by one backend, behind one interface (`load`, `infer`).

Shared by the measurement agent (and copied with it to devices, so: standard library, numpy
and the backend only) and by `edgec.runtime`, so apps and benchmarks open engines the same way.
Each backend writes `_load` and `_infer`; heavy SDKs are imported inside them, lazily.
"""

from __future__ import annotations

import abc

import numpy as np


class Runner(abc.ABC):
    """One engine, opened by one backend. Subclasses write `_load` and `_infer` only."""

    backend = ""

    def __init__(self, engine_path: str, options: dict | None = None) -> None:
        self.engine_path = engine_path
        self.options = dict(options or {})
        self._loaded = False

    def load(self) -> None:
        self._load()
        self._loaded = True

    def infer(self, feeds: dict) -> dict:
        if not self._loaded:
            self.load()
        return self._infer(feeds)

    def thread_settings(self) -> dict:
        """The threads the engine actually runs with, as far as the backend says."""
        return {"requested": self.options.get("threads")}

    def engine_ms(self) -> float | None:
        """The last inference as the engine itself timed it, where the backend reports that."""
        return None

    @abc.abstractmethod
    def _load(self) -> None:
        """Open the engine."""

    @abc.abstractmethod
    def _infer(self, feeds: dict) -> dict:
        """Run once: {input name: array} -> {output name: array}."""


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def _load(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        levels = {
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        opts.graph_optimization_level = levels[self.options.get("graph_optimization_level", "all")]
        if self.options.get("threads"):
            opts.intra_op_num_threads = int(self.options["threads"])
            opts.inter_op_num_threads = 1
        for key, value in (self.options.get("session_config") or {}).items():
            opts.add_session_config_entry(str(key), str(value))  # e.g. replay an .ort model's saved optimizations
        providers = self.options.get("providers") or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(self.engine_path, opts, providers=providers)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def _infer(self, feeds: dict) -> dict:
        values = self.session.run(self.output_names, feeds)
        return dict(zip(self.output_names, values, strict=True))

    def thread_settings(self) -> dict:
        # 0 means "ONNX Runtime picks": one thread per physical core.
        return {"requested": self.options.get("threads"), "intra_op": int(self.options.get("threads") or 0)}


def fit_to_bucket(feeds: dict, sizes: list[int], mask_name: str = "attention_mask") -> tuple[int, dict]:
    """(bucket, feeds cut or zero-padded along axis 1 to it): the smallest of `sizes` that holds
    the longest row's real tokens. Input that is not right-padded (left padding, holes in the
    mask) keeps every position, since cutting the end would drop real tokens."""
    mask = np.asarray(feeds[mask_name])
    real = int(mask.sum(axis=1).max())
    if mask[:, real:].any():
        real = mask.shape[1]
    size = next((b for b in sorted(sizes) if b >= max(real, 1)), None)
    if size is None:
        raise ValueError(f"{real} tokens is more than the largest sequence bucket ({max(sizes)})")
    shaped = {}
    for name, array in feeds.items():
        array = np.asarray(array)
        cut = array[:, :size] if array.shape[1] >= size else np.pad(array, ((0, 0), (0, size - array.shape[1])))
        shaped[name] = np.ascontiguousarray(cut)
    return size, shaped


class OpenVinoRunner(Runner):
    """Options: threads, performance_hint, inference_precision, device, and sequence_buckets
    (`{"sizes": [16, 32, 64, 128], "mask": "attention_mask"}`) for text encoders saved with a
    dynamic sequence axis: one compiled model per bucket, each input cut to the smallest bucket
    that holds its real (unmasked) tokens. Attention costs the square of the padded length and
    real sentences are far shorter than the maximum, so this is the largest single saving for
    text on a CPU (docs/performance.md)."""

    backend = "openvino"

    def _load(self) -> None:
        import openvino as ov

        core = ov.Core()
        config = {
            "PERFORMANCE_HINT": self.options.get("performance_hint", "LATENCY"),
            # On AVX-512 BF16 CPUs OpenVINO silently runs bf16 unless told otherwise.
            "INFERENCE_PRECISION_HINT": self.options.get("inference_precision", "f32"),
        }
        if self.options.get("threads"):
            config["INFERENCE_NUM_THREADS"] = int(self.options["threads"])
        device = self.options.get("device", "CPU")
        buckets = self.options.get("sequence_buckets")
        self.buckets: dict[int, object] = {}
        if buckets:
            if self.engine_path.endswith(".blob"):
                raise ValueError("sequence_buckets need an OpenVINO IR (.xml), not a compiled .blob")
            self.bucket_sizes = sorted(int(size) for size in buckets["sizes"])
            self.mask_name = buckets.get("mask", "attention_mask")
            model = core.read_model(self.engine_path)
            # Outputs with a dynamic axis 1 follow the sequence (per-token states); pooled ones do not.
            self.per_token = {o.get_any_name() for o in model.outputs
                              if o.get_partial_shape().rank.get_length() >= 2 and o.get_partial_shape()[1].is_dynamic}  # fmt: skip
            for size in self.bucket_sizes:
                shaped = model.clone()
                shaped.reshape({p.get_any_name(): [p.get_partial_shape()[0], size] for p in shaped.inputs})
                self.buckets[size] = core.compile_model(shaped, device, config).create_infer_request()
            self.compiled = self.buckets[self.bucket_sizes[-1]].get_compiled_model()
        elif self.engine_path.endswith(".blob"):
            with open(self.engine_path, "rb") as handle:
                self.compiled = core.import_model(handle.read(), device, config)
        else:
            self.compiled = core.compile_model(self.engine_path, device, config)
        self.request = self.buckets[self.bucket_sizes[-1]] if self.buckets else self.compiled.create_infer_request()
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]

    def _infer(self, feeds: dict) -> dict:
        if self.buckets:
            return self._infer_bucketed(feeds)
        # Zero-copy in (the arrays outlive this synchronous call); outputs are views of the
        # request's own buffers, which the next call overwrites, so they are copied out (np.array).
        # Measured on this machine: ~7 % less per-call overhead than the copying default.
        result = self.request.infer(feeds, share_inputs=True, share_outputs=True)
        return {name: np.array(result[i]) for i, name in enumerate(self.output_names)}

    def _infer_bucketed(self, feeds: dict) -> dict:
        seq = np.asarray(feeds[self.mask_name]).shape[1]
        size, shaped = fit_to_bucket(feeds, self.bucket_sizes, self.mask_name)
        self.request = self.buckets[size]
        result = self.request.infer(shaped, share_inputs=True, share_outputs=True)
        out = {}
        for i, name in enumerate(self.output_names):
            value = np.array(result[i])
            # Per-token outputs come back at the caller's length: zeros where the input was cut
            # (padding positions, which any masked pooling ignores).
            if name in self.per_token and size != seq:
                widths = [(0, 0)] * value.ndim
                widths[1] = (0, max(seq - size, 0))
                value = np.pad(value, widths)[:, :seq]
            out[name] = value
        return out

    def engine_ms(self) -> float | None:
        # OpenVINO's own per-request time (what benchmark_app reports): without the Python call,
        # the input/output copies and the wake-up of the waiting thread that the wall clock holds.
        return float(self.request.latency)

    def thread_settings(self) -> dict:
        props = {}
        for key in ("INFERENCE_NUM_THREADS", "PERFORMANCE_HINT", "INFERENCE_PRECISION_HINT", "NUM_STREAMS"):
            try:
                value = self.compiled.get_property(key)
            except Exception:  # noqa: BLE001 - a property this plugin does not report
                continue
            # ov.Type -> "f32", enums (PerformanceMode.LATENCY) -> "LATENCY", numbers stay numbers
            if hasattr(value, "to_string"):
                value = value.to_string()
            elif hasattr(value, "name"):
                value = value.name
            props[key] = value if isinstance(value, (int, float)) else str(value)
        return {"requested": self.options.get("threads"), **props}


class TorchRunner(Runner):
    """PyTorch eager, the reference the engines are compared against.

    The engine is a `.pt2` (torch.export) file, or a `.safetensors` state dict plus the
    `factory` option: a `module:attr` the user names explicitly (no other config imports code).
    """

    backend = "torch"

    def _load(self) -> None:
        import importlib

        import torch

        if self.options.get("threads"):
            torch.set_num_threads(int(self.options["threads"]))
        if self.engine_path.endswith(".pt2"):
            self.module = torch.export.load(self.engine_path).module()
        else:
            factory = self.options.get("factory")
            if not factory or ":" not in factory:
                raise ValueError("the torch runner needs a .pt2 file, or a .safetensors file and factory='module:attr'")
            module_name, _, attr = factory.partition(":")
            self.module = getattr(importlib.import_module(module_name), attr)(**self.options.get("kwargs", {}))
            from safetensors.torch import load_file

            self.module.load_state_dict(load_file(self.engine_path))
            self.module.eval()
        self.torch = torch

    def _infer(self, feeds: dict) -> dict:
        args = [self.torch.from_numpy(np.ascontiguousarray(a)) for a in feeds.values()]
        with self.torch.inference_mode():
            out = self.module(*args)
        out = out if isinstance(out, (tuple, list)) else (out,)
        names = self.options.get("output_names") or [f"output_{i}" if i else "output" for i in range(len(out))]
        return {name: t.numpy() for name, t in zip(names, out, strict=True)}

    def thread_settings(self) -> dict:
        return {"requested": self.options.get("threads"), "torch_num_threads": self.torch.get_num_threads()}


class _CudaRuntime:
    """The few libcudart calls TensorRT needs, through ctypes (no pycuda / cuda-python needed)."""

    H2D, D2H = 1, 2

    def __init__(self) -> None:
        import ctypes
        import ctypes.util

        self.ctypes = ctypes
        self.lib = ctypes.CDLL(ctypes.util.find_library("cudart") or "libcudart.so")
        self.stream = ctypes.c_void_p()
        self._check(self.lib.cudaStreamCreate(ctypes.byref(self.stream)), "cudaStreamCreate")

    def _check(self, status: int, call: str) -> None:
        if status != 0:
            raise RuntimeError(f"CUDA {call} failed with error {status}")

    def malloc(self, nbytes: int) -> int:
        ptr = self.ctypes.c_void_p()
        self._check(self.lib.cudaMalloc(self.ctypes.byref(ptr), self.ctypes.c_size_t(max(nbytes, 1))), "cudaMalloc")
        return int(ptr.value)

    def copy(self, dst: int, src: int, nbytes: int, kind: int) -> None:
        c = self.ctypes
        status = self.lib.cudaMemcpyAsync(c.c_void_p(dst), c.c_void_p(src), c.c_size_t(nbytes), kind, self.stream)
        self._check(status, "cudaMemcpyAsync")

    def synchronize(self) -> None:
        self._check(self.lib.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")


class TensorRtRunner(Runner):
    """A serialized TensorRT engine (.plan), built on the device it runs on (TensorRT 10/11 API).

    Times include the host<->device copies: what an app calling it from numpy sees.
    """

    backend = "tensorrt"

    def _load(self) -> None:
        import tensorrt as trt

        self.trt = trt
        self.cuda = _CudaRuntime()
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with open(self.engine_path, "rb") as handle:
            self.engine = runtime.deserialize_cuda_engine(handle.read())
        if self.engine is None:
            raise RuntimeError(f"{self.engine_path}: TensorRT could not deserialize the engine (other GPU or version?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if n not in self.input_names]
        self.buffers: dict[str, tuple[int, int]] = {}

    def _device_buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self.buffers.get(name, (0, -1))
        if size < nbytes:
            if ptr:
                self.cuda.lib.cudaFree(self.cuda.ctypes.c_void_p(ptr))
            ptr = self.cuda.malloc(nbytes)
            self.buffers[name] = (ptr, nbytes)
        return ptr

    def _infer(self, feeds: dict) -> dict:
        for name in self.input_names:
            array = np.ascontiguousarray(feeds[name])
            self.context.set_input_shape(name, array.shape)
            ptr = self._device_buffer(name, array.nbytes)
            self.cuda.copy(ptr, array.ctypes.data, array.nbytes, self.cuda.H2D)
            self.context.set_tensor_address(name, ptr)
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            outputs[name] = np.empty(shape, dtype=self.trt.nptype(self.engine.get_tensor_dtype(name)))
            self.context.set_tensor_address(name, self._device_buffer(name, outputs[name].nbytes))
        if not self.context.execute_async_v3(self.cuda.stream.value or 0):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        for name, array in outputs.items():
            self.cuda.copy(array.ctypes.data, self.buffers[name][0], array.nbytes, self.cuda.D2H)
        self.cuda.synchronize()
        return outputs


RUNNERS = {cls.backend: cls for cls in (OnnxRuntimeRunner, OpenVinoRunner, TorchRunner, TensorRtRunner)}


def make_runner(backend: str, engine_path: str, options: dict | None = None) -> Runner:
    if backend not in RUNNERS:
        raise ValueError(f"no runner for backend {backend!r} (known: {', '.join(RUNNERS)})")
    return RUNNERS[backend](engine_path, options)
