"""The demo model's float vs INT8 ONNX on this host, measured side by side in one run.

Not a test: a measurement. Both graphs are opened in this process with the same session options
(single-thread by default, so the two do not fight for cores), then timed interleaved in rounds
(A B A B …) so machine drift hits both alike; per round, the median of a burst of inferences is
kept. Prints p50s, the ratio float/INT8 with a bootstrap 95 % interval, and writes the raw
samples as JSON when --json is given.

    python perf/int8_vs_float.py [--out edgec-perf] [--rounds 40] [--burst 50] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def demo_graphs(out: Path) -> tuple[Path, Path, np.ndarray]:
    """The demo's float student and its INT8 graph (built by the demo's own stages, cached)."""
    from edgec.config import BenchmarkConfig
    from edgec.demo import DemoSettings, run_demo

    settings = DemoSettings(benchmark=BenchmarkConfig(enabled=False), targets=("host-cpu",))
    result = run_demo(out, settings, log=lambda m: print("  " + m))
    bundle = result.bundles[0]
    float_onnx = next((out / ".cache" / "demo-train").glob("*/student.onnx"))
    int8_onnx = bundle.path / bundle.manifest["build"]["engine"]
    from edgec.distill.data import digits_splits

    _, test = digits_splits(seed=0, size=16)
    return float_onnx, int8_onnx, test.x


def session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def burst_ms(sess, feed: dict, count: int) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def bootstrap_ratio(a: np.ndarray, b: np.ndarray, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    ratios = [np.median(rng.choice(a, len(a))) / np.median(rng.choice(b, len(b))) for _ in range(draws)]
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("edgec-perf"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print("building the demo model (cached after the first run) ...")
    float_onnx, int8_onnx, x = demo_graphs(args.out)
    feed = {"input": x[: args.batch]}
    sessions = {"float": session(float_onnx, args.threads), "int8": session(int8_onnx, args.threads)}
    for sess in sessions.values():  # warm-up, untimed
        burst_ms(sess, feed, 3 * args.burst)
    samples: dict[str, list[float]] = {"float": [], "int8": []}
    for round_index in range(args.rounds):
        order = ("float", "int8") if round_index % 2 == 0 else ("int8", "float")  # A B, then B A
        for name in order:
            samples[name].append(burst_ms(sessions[name], feed, args.burst))
    f, q = np.array(samples["float"]), np.array(samples["int8"])
    ratio = float(np.median(f) / np.median(q))
    lo, hi = bootstrap_ratio(f, q)
    print(f"float: {float_onnx} ({float_onnx.stat().st_size} bytes)")
    print(f"int8:  {int8_onnx} ({int8_onnx.stat().st_size} bytes)")
    print(f"threads {args.threads}, batch {args.batch}, {args.rounds} interleaved rounds x {args.burst} runs")
    print(f"p50 float {np.median(f):.4f} ms   p50 int8 {np.median(q):.4f} ms")
    print(f"speed-up float/int8: {ratio:.2f}x  (bootstrap 95% CI {lo:.2f}-{hi:.2f})")
    if args.json:
        from edgec.benchmarks.agent import environment

        args.json.write_text(json.dumps({"float_ms": samples["float"], "int8_ms": samples["int8"], "ratio": ratio,
                                         "ci95": [lo, hi], "environment": environment()}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
