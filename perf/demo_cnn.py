"""The demo's CNN student on this CPU, batch 1, 2 threads: PyTorch eager, ONNX Runtime float,
and edgec's INT8 bundle for each host target (opened with `edgec.runtime.load`), interleaved.

    PYTHONPATH=. python perf/demo_cnn.py [--out perf-out] [--rounds 2000] [--markdown FILE]

The trained student comes from `edgec.demo.run_demo` (benchmarks off), cached under --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from perf import common

REFERENCE = "PyTorch eager fp32"


def demo_bundles(work: Path):
    """Run (or reuse) the demo: bundles for the host targets and the student's weights."""
    from edgec.config import BenchmarkConfig
    from edgec.demo import DemoSettings, run_demo

    quiet = BenchmarkConfig(enabled=False, warmup_runs=1, warmup_seconds=0.0, min_runs=5, min_seconds=0.0)
    return run_demo(work, DemoSettings(benchmark=quiet), log=lambda _m: None)


def student_weights(work: Path, source_sha: str) -> Path:
    """The safetensors of the student whose ONNX the bundles were built from."""
    from edgec.artifacts import sha256_file

    for folder in sorted((work / ".cache" / "demo-train").glob("*")):
        if (folder / "student.onnx").is_file() and sha256_file(folder / "student.onnx") == source_sha:
            return folder / "student.safetensors"
    raise FileNotFoundError(f"no cached student under {work} matches source sha256 {source_sha}")


def engines(work: Path) -> tuple[dict, list[dict], np.ndarray]:
    import torch
    from safetensors.torch import load_file

    from edgec import runtime
    from edgec.demo import STUDENT_WIDTHS
    from edgec.distill.data import digits_splits
    from edgec.distill.models import ConvNet

    result = demo_bundles(work)
    source_sha = result.bundles[0].manifest["model"]["source_onnx_sha256"]
    student = ConvNet(STUDENT_WIDTHS)
    student.load_state_dict(load_file(str(student_weights(work, source_sha))))
    student.eval()
    onnx_path = student_weights(work, source_sha).with_name("student.onnx")
    session = common.ort_session(onnx_path)
    in_name = session.get_inputs()[0].name

    def torch_infer(feed):
        with torch.inference_mode():
            return student(torch.from_numpy(feed[in_name])).numpy()

    variants = {REFERENCE: torch_infer, "ONNX Runtime fp32": lambda feed: session.run(None, feed)[0]}
    for bundle in result.bundles:
        engine = runtime.load(bundle.path)
        out_name = engine.output_names[0]
        variants[f"edgec {bundle.target} {bundle.precision}"] = (lambda e, o: lambda feed: e.run(feed)[o])(
            engine, out_name
        )
    _, test = digits_splits(seed=0, size=16)
    feeds = [{in_name: test.x[i : i + 1]} for i in range(len(test.x))]
    return variants, feeds, test.y


def run(work: Path, rounds: int) -> dict:
    common.pin_threads()
    variants, feeds, labels = engines(work)
    extra = {}
    for name, infer in variants.items():
        logits = np.concatenate([np.asarray(infer(f)).reshape(1, -1) for f in feeds])
        extra[name] = {"top-1 %": float((logits.argmax(1) == labels).mean() * 100)}
    samples = common.interleaved(variants, feeds, rounds=rounds, warmup=20)
    return {"machine": common.machine(), "rows": common.rows_from(samples, extra), "settings": {"rounds": rounds}}


def report(result: dict, markdown: bool = False) -> str:
    return common.table(result["rows"], reference=REFERENCE, extra_columns=("top-1 %",), markdown=markdown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("perf-out"))
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    result = run(args.out / "demo", args.rounds)
    common.publish(args.out, "demo_cnn", result, report, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
