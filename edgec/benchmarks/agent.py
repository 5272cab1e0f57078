"""The measurement agent: loads one engine, times it, prints the raw samples as JSON.

This file is self-contained on purpose (standard library, numpy and the backend only): the same
file runs in a subprocess on this machine and is copied to a remote device, where edgec itself
is not installed. `edgec.runtime` imports its runners, so apps and benchmarks share one way of
opening each engine.

    python agent.py --engine model.onnx --backend onnxruntime --inputs in.npz --settings '{…}'
"""

from __future__ import annotations

import abc
import argparse
import json
import os
import platform
import resource
import socket
import sys
import time

import numpy as np

RESULT_MARKER = "EDGEC-RESULT "


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


class OpenVinoRunner(Runner):
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
        if self.engine_path.endswith(".blob"):
            with open(self.engine_path, "rb") as handle:
                self.compiled = core.import_model(handle.read(), device, config)
        else:
            self.compiled = core.compile_model(self.engine_path, device, config)
        self.request = self.compiled.create_infer_request()
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]

    def _infer(self, feeds: dict) -> dict:
        result = self.request.infer(feeds)
        return {name: np.asarray(result[i]) for i, name in enumerate(self.output_names)}


RUNNERS = {cls.backend: cls for cls in (OnnxRuntimeRunner, OpenVinoRunner)}


def make_runner(backend: str, engine_path: str, options: dict | None = None) -> Runner:
    if backend not in RUNNERS:
        raise ValueError(f"no runner for backend {backend!r} (known: {', '.join(RUNNERS)})")
    return RUNNERS[backend](engine_path, options)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _cpu_model_and_flags() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    info = _read_text("/proc/cpuinfo") or ""
    for line in info.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "Hardware") and model in ("", platform.machine()):
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = value.split()
    wanted = {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "asimd", "asimddp", "neon"}
    return model, sorted(f for f in flags if f in wanted)


def _backend_versions() -> dict:
    versions = {"numpy": np.__version__}
    for name in ("onnxruntime", "openvino", "tensorrt"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", None) or module.get_version()
        except Exception:  # noqa: BLE001 - an absent or broken backend is simply not recorded
            continue
    return versions


def environment() -> dict:
    model, flags = _cpu_model_and_flags()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "hostname": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_model": model,
        "cpu_flags": flags,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "governor": _read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "thermal_zone0_millic": _read_text("/sys/class/thermal/thermal_zone0/temp"),
        "backends": _backend_versions(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
    }


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def measure(runner: Runner, feeds: list[dict], settings: dict) -> dict:
    """BENCHMARKING.md's loop: load and first inference apart, warm-up, then timed samples."""
    clock = time.perf_counter
    start = clock()
    runner.load()
    load_ms = (clock() - start) * 1e3

    start = clock()
    runner.infer(feeds[0])
    first_ms = (clock() - start) * 1e3

    warm_runs, warm_s = int(settings.get("warmup_runs", 10)), float(settings.get("warmup_seconds", 0.5))
    count, began = 0, clock()
    while count < warm_runs or clock() - began < warm_s:
        runner.infer(feeds[count % len(feeds)])
        count += 1
    warmup = {"count": count, "seconds": clock() - began}

    min_runs, min_s = int(settings.get("min_runs", 100)), float(settings.get("min_seconds", 2.0))
    max_runs = int(settings.get("max_runs", 1_000_000))
    samples: list[float] = []
    began = clock()
    while (len(samples) < min_runs or clock() - began < min_s) and len(samples) < max_runs:
        feed = feeds[len(samples) % len(feeds)]
        t0 = clock()
        runner.infer(feed)
        samples.append((clock() - t0) * 1e3)
    return {
        "samples_ms": samples,
        "warmup": warmup,
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "peak_rss_bytes": _peak_rss_bytes(),
    }


def load_feeds(npz_path: str, limit: int = 64) -> list[dict]:
    """Per-sample feeds (batch 1) from an .npz keyed by input name, first axis = sample."""
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    count = min(len(a) for a in arrays.values())
    return [{name: a[i : i + 1] for name, a in arrays.items()} for i in range(min(count, limit))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True)
    parser.add_argument("--backend", required=True, choices=sorted(RUNNERS))
    parser.add_argument("--inputs", required=True, help=".npz keyed by input name")
    parser.add_argument("--settings", default="{}", help="JSON: loop settings and runner options")
    args = parser.parse_args(argv)
    settings = json.loads(args.settings)
    runner = make_runner(args.backend, args.engine, settings.get("runner_options"))
    result = measure(runner, load_feeds(args.inputs), settings)
    result["environment"] = environment()
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
