"""The measurement agent: loads one engine, times it, prints the raw samples as JSON.

This file and `runners.py` are self-contained on purpose (standard library, numpy and the
backend only): the same two files run in a subprocess on this machine and are copied to a remote
device, where edgec itself is not installed.

    python agent.py --engine model.onnx --backend onnxruntime --inputs in.npz --settings '{…}'

Progress lines (`EDGEC-PROGRESS {json}`) go to stdout while it runs, so a harness on the other
end of an SSH or adb pipe sees it alive, and an agent whose harness has gone away dies on the
next write (broken pipe) instead of burning the device for minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import socket
import sys
import time

import numpy as np

if __package__:  # imported as part of edgec
    from edgec.benchmarks.runners import RUNNERS, Runner, make_runner
else:  # run as a script (here or on a device): runners.py is copied next to this file
    from runners import RUNNERS, Runner, make_runner

__all__ = ["RUNNERS", "Runner", "environment", "make_runner", "measure", "main"]
RESULT_MARKER = "EDGEC-RESULT "
PROGRESS_MARKER = "EDGEC-PROGRESS "


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
    """Versions from package metadata: importing a backend only to ask costs seconds and, for
    OpenVINO, writes a telemetry session file on the device. Modules already loaded report directly."""
    from importlib import metadata

    versions = {"numpy": np.__version__}
    for name in ("onnxruntime", "openvino", "tensorrt", "torch"):
        module = sys.modules.get(name)
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if module is None:
                continue
        if module is not None:  # the exact build that ran (e.g. OpenVINO's full build string)
            versions[name] = getattr(module, "__version__", None) or module.get_version()
    return versions


def environment() -> dict:
    model, flags = _cpu_model_and_flags()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "hostname": socket.gethostname(),
        # Set by the device's own login environment (e.g. sshd SetEnv), else the hostname.
        "device_name": os.environ.get("EDGEC_DEVICE_NAME") or socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "cpu_model": model,
        "cpu_flags": flags,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "governor": _read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "thermal_zone0_millic": _read_text("/sys/class/thermal/thermal_zone0/temp"),
        "backends": _backend_versions(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
    }


def _peak_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def progress(stage: str, **fields) -> None:
    sys.stdout.write(PROGRESS_MARKER + json.dumps({"stage": stage, **fields}) + "\n")
    sys.stdout.flush()


def measure(runner: Runner, feeds: list[dict], settings: dict) -> dict:
    """BENCHMARKING.md's loop: load and first inference apart, warm-up, then timed samples."""
    clock = time.perf_counter
    start = clock()
    runner.load()
    load_ms = (clock() - start) * 1e3

    start = clock()
    runner.infer(feeds[0])
    first_ms = (clock() - start) * 1e3
    progress("loaded", load_ms=load_ms, first_inference_ms=first_ms)

    warm_runs, warm_s = int(settings.get("warmup_runs", 10)), float(settings.get("warmup_seconds", 0.5))
    count, began = 0, clock()
    while count < warm_runs or clock() - began < warm_s:
        runner.infer(feeds[count % len(feeds)])
        count += 1
    warmup = {"count": count, "seconds": clock() - began}

    min_runs, min_s = int(settings.get("min_runs", 100)), float(settings.get("min_seconds", 2.0))
    max_runs = int(settings.get("max_runs", 1_000_000))
    samples: list[float] = []
    engine: list[float] = []
    timed_by_engine = runner.engine_ms() is not None
    began = next_report = clock()
    while (len(samples) < min_runs or clock() - began < min_s) and len(samples) < max_runs:
        feed = feeds[len(samples) % len(feeds)]
        t0 = clock()
        runner.infer(feed)
        t1 = clock()
        samples.append((t1 - t0) * 1e3)
        if timed_by_engine:
            engine.append(runner.engine_ms())
        if t1 >= next_report:  # outside the timed region; about once a second
            progress("measuring", samples=len(samples))
            next_report = clock() + 1.0
    return {
        "samples_ms": samples,
        "warmup": warmup,
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "peak_rss_bytes": _peak_rss_bytes(),
        "threads": runner.thread_settings(),
        "engine_samples_ms": engine or None,
    }


def load_feeds(npz_path: str, names: list[str] | None = None, limit: int = 64) -> list[dict]:
    """Per-sample feeds (batch 1) from an .npz keyed by input name, first axis = sample."""
    with np.load(npz_path, allow_pickle=False) as data:
        keys = names or [k for k in data.files if k != "labels"]  # edgec data files keep labels beside inputs
        arrays = {name: data[name] for name in keys}
    count = min(len(a) for a in arrays.values())
    return [{name: a[i : i + 1] for name, a in arrays.items()} for i in range(min(count, limit))]


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True)
    parser.add_argument("--backend", required=True, choices=sorted(RUNNERS))
    parser.add_argument("--inputs", required=True, help=".npz keyed by input name")
    parser.add_argument("--input-names", default="", help="comma-separated graph inputs to feed (default: all)")
    parser.add_argument("--settings", default="{}", help="JSON: loop settings and runner options")
    parser.add_argument("--hash", nargs="*", default=[], help="files to sha256 where they are measured")
    parser.add_argument("--result", help="also write the result JSON to this file (for adb pull)")
    args = parser.parse_args(argv)
    settings = json.loads(args.settings)
    if settings.get("cpus"):
        # Before the engine starts its threads, which inherit the affinity. On shared or
        # big.LITTLE machines, where a run lands decides its speed more than anything measured.
        try:
            os.sched_setaffinity(0, {int(c) for c in settings["cpus"]})
        except (OSError, AttributeError) as exc:
            sys.exit(f"cannot pin to CPUs {settings['cpus']} on this device ({exc}); it has {os.cpu_count()} CPUs")
    runner = make_runner(args.backend, args.engine, settings.get("runner_options"))
    names = [n for n in args.input_names.split(",") if n] or None
    result = measure(runner, load_feeds(args.inputs, names), settings)
    result["environment"] = environment()
    result["measured_files"] = {path: sha256_file(path) for path in args.hash}
    line = json.dumps(result)
    if args.result:
        with open(args.result, "w", encoding="utf-8") as handle:
            handle.write(line)
    sys.stdout.write(RESULT_MARKER + line + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
