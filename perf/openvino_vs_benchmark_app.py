"""edgec's measurement against OpenVINO's own `benchmark_app`, on one compiled model, in one run.

    python perf/openvino_vs_benchmark_app.py [--rounds 5] [--seconds 5] [--threads 1] [--cpus 1]

One OpenVINO IR (a ConvNet the size of the demo's teacher, f32, batch 1) is measured alternately
by `benchmark_app` (shipped in the openvino wheel) and by edgec's agent, with the same settings:
latency hint, sync API, the same thread count, f32 inference precision, the same duration, both
pinned to the same CPU(s) (`--cpus`, inherited from this process). The
order flips every round (A B, B A, …) so machine drift hits both. Prints each round and the
ratio of the medians (edgec p50 / benchmark_app median); the acceptance is a ratio within 5 % of 1.

benchmark_app's median is of OpenVINO's own per-request time (`InferRequest.latency`, timed in
C++). edgec records that same figure for every sample (`engine_samples_ms`) next to its headline
wall-clock samples (around the Python call: binding, copies, waking the waiting thread), so both
ratios are printed: the first compares like with like, the second is what an app pays on top.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BENCHMARK_APP = Path(sys.executable).with_name("benchmark_app")
WIDTHS, SIZE = (64, 128, 128, 256), 16


def make_model(folder: Path) -> Path:
    """The demo teacher's architecture with seeded weights (latency does not depend on training)."""
    import openvino as ov
    import torch

    from edgec.compile.export import export_onnx
    from edgec.distill.models import ConvNet

    torch.manual_seed(0)
    model = ConvNet(WIDTHS).eval()
    onnx_path = export_onnx(model, torch.zeros(1, 1, SIZE, SIZE), folder / "model.onnx")
    ov.save_model(ov.convert_model(str(onnx_path)), str(folder / "model.xml"), compress_to_fp16=False)
    # One sample, as benchmark_app fills one input tensor and reuses it (cycling through 16
    # different arrays costs edgec a few % more here: cache effects, not measurement).
    np.savez(folder / "inputs.npz", input=np.random.default_rng(0).standard_normal((1, 1, SIZE, SIZE), np.float32))
    return folder / "model.xml"


def run_benchmark_app(model: Path, seconds: int, threads: int) -> float:
    # benchmark_app refuses -nthreads next to -hint (a UI rule of the tool, not of OpenVINO):
    # the thread count and precision go in through -load_config, exactly as edgec sets them.
    config = model.with_name("benchmark_app_config.json")
    config.write_text(json.dumps({"CPU": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads),
                                          "INFERENCE_PRECISION_HINT": "f32"}}))  # fmt: skip
    cmd = [
        str(BENCHMARK_APP), "-m", str(model), "-d", "CPU", "-hint", "latency", "-api", "sync",
        "-load_config", str(config), "-shape", f"[1,1,{SIZE},{SIZE}]", "-t", str(seconds),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for key in ("INFERENCE_NUM_THREADS", "PERFORMANCE_HINT"):  # what it actually ran with
        if f"{key}: " not in done.stdout:
            raise SystemExit(f"benchmark_app did not report {key}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    match = re.search(r"Median:\s+([0-9.]+) (ms|us)", done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"benchmark_app failed or printed no median:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return float(match.group(1)) / (1000.0 if match.group(2) == "us" else 1.0)


def run_edgec(model: Path, inputs: Path, seconds: float, threads: int) -> dict:
    from edgec.benchmarks import harness, stats

    settings = {
        "warmup_runs": 10, "warmup_seconds": 0.5, "min_runs": 100, "min_seconds": seconds,
        "runner_options": {"performance_hint": "LATENCY", "inference_precision": "f32", "threads": threads},
    }  # fmt: skip
    raw = harness.run_local(model, "openvino", inputs, settings)
    return {"wall": stats.summarize(raw["samples_ms"]), "engine": stats.summarize(raw["engine_samples_ms"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpus", default="1", help="pin both tools to these CPUs (e.g. '1' or '2,3'); '' = no pinning")
    args = parser.parse_args()
    if args.cpus:
        # Both tools are children of this process and inherit its affinity: the same core for both.
        # Unpinned on a shared 2-vCPU VM, either tool's median jumps between two modes ~20 % apart.
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    print(
        f"CPU affinity: {sorted(os.sched_getaffinity(0))}; {args.threads} thread(s); {args.rounds} rounds of {args.seconds} s"
    )
    with tempfile.TemporaryDirectory(prefix="edgec-perf-") as tmp:
        model = make_model(Path(tmp))
        app, wall, engine = [], [], []
        for i in range(args.rounds):
            order = ("benchmark_app", "edgec") if i % 2 == 0 else ("edgec", "benchmark_app")
            for who in order:
                if who == "benchmark_app":
                    app.append(run_benchmark_app(model, args.seconds, args.threads))
                else:
                    summary = run_edgec(model, Path(tmp) / "inputs.npz", args.seconds, args.threads)
                    wall.append(summary["wall"]["p50_ms"])
                    engine.append(summary["engine"]["p50_ms"])
            print(f"round {i + 1}: benchmark_app median {app[-1]:.3f} ms | edgec p50 engine-timed {engine[-1]:.3f} ms, "
                  f"wall clock {wall[-1]:.3f} ms | ratios {engine[-1] / app[-1]:.3f}, {wall[-1] / app[-1]:.3f}")  # fmt: skip
    ref = statistics.median(app)
    print(f"\nmedian over {args.rounds} rounds: benchmark_app {ref:.3f} ms; edgec engine-timed "
          f"{statistics.median(engine):.3f} ms, wall clock {statistics.median(wall):.3f} ms")  # fmt: skip
    for name, values in (("engine-timed (same quantity as benchmark_app)", engine), ("wall clock", wall)):
        ratio = statistics.median(values) / ref
        # Per-round ratios pair runs seconds apart, so slow drift of a shared machine cancels.
        paired = statistics.median(v / a for v, a in zip(values, app, strict=True))
        verdict = "within" if abs(ratio - 1) <= 0.05 else "OUTSIDE"
        print(
            f"edgec {name} / benchmark_app: ratio of medians {ratio:.3f} ({verdict} 5 %), "
            f"median of per-round ratios {paired:.3f}"
        )


if __name__ == "__main__":
    main()
