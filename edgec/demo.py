"""`edgec demo`: the embedded default, end to end, on real data, with no download.

Teacher CNN trained on scikit-learn's digits -> student distilled from its soft labels ->
ONNX -> INT8 calibrated on training images -> host-cpu (ONNX Runtime) and host-openvino
(OpenVINO) bundles, each benchmarked. Teacher and float student are measured the same way as
references, so the table shows what distillation and INT8 each bought.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.artifacts import atomic_write_bytes, sha256_bytes, sha256_file, sha256_json
from edgec.config import BenchmarkConfig, CalibrationConfig, Config, QuantizeConfig, TargetSpec
from edgec.pipeline import BundleResult, Log, build
from edgec.stages import StageCache

TEACHER_WIDTHS = (64, 128, 128, 256)
STUDENT_WIDTHS = (32, 60, 64, 128)  # 24.5 % of the teacher's parameters
TEMPERATURE, ALPHA = 4.0, 0.7


@dataclass
class DemoSettings:
    teacher_epochs: int = 10
    student_epochs: int = 20
    seed: int = 0
    image_size: int = 16
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    targets: tuple[str, ...] = ("host-cpu", "host-openvino")


@dataclass
class DemoResult:
    bundles: list[BundleResult]
    references: dict[str, dict]  # "teacher fp32" / "student fp32" -> {accuracy, benchmark, bytes}
    provenance: dict


def _save_npz(path: Path, **arrays: np.ndarray) -> Path:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())


def _train_and_export(cache: StageCache, s: DemoSettings, train, test, track) -> tuple[Path, Path, dict]:
    """Teacher, soft labels, student and both ONNX graphs, as one cached stage."""
    import torch

    from edgec.compile.export import export_onnx, parity
    from edgec.distill import trainer
    from edgec.distill.models import ConvNet, parameter_count

    key = {"data": sha256_json([_array_sha(a) for a in (train.x, train.y, test.x, test.y)]),
           "teacher": TEACHER_WIDTHS, "student": STUDENT_WIDTHS, "t": TEMPERATURE, "alpha": ALPHA,
           "epochs": [s.teacher_epochs, s.student_epochs], "seed": s.seed, "torch": torch.__version__}  # fmt: skip

    def run(tmp: Path) -> dict:
        torch.manual_seed(s.seed)
        teacher = ConvNet(TEACHER_WIDTHS)
        trainer.train_supervised(teacher, train.x, train.y, epochs=s.teacher_epochs, seed=s.seed, track=track)
        soft = trainer.predict(teacher, train.x)  # the soft-label cache: the teacher runs once
        student = ConvNet(STUDENT_WIDTHS)
        trainer.distill(student, train.x, soft, train.y, temperature=TEMPERATURE, alpha=ALPHA,
                        epochs=s.student_epochs, seed=s.seed, track=track)  # fmt: skip
        from safetensors.torch import save_file

        save_file(teacher.state_dict(), str(tmp / "teacher.safetensors"))
        save_file(student.state_dict(), str(tmp / "student.safetensors"))
        provenance = {
            "teacher": {"source": f"edgec demo: ConvNet{TEACHER_WIDTHS} trained on sklearn digits",
                        "sha256": sha256_file(tmp / "teacher.safetensors"), "license": "BSD-3-Clause (data: sklearn digits)"},
            "data_sha256": key["data"], "temperature": TEMPERATURE, "alpha": ALPHA, "epochs": s.student_epochs,
            "teacher_params": parameter_count(teacher), "student_params": parameter_count(student),
            "teacher_metric": {"top1": trainer.accuracy(trainer.predict(teacher, test.x), test.y)},
            "student_metric": {"top1": trainer.accuracy(trainer.predict(student, test.x), test.y)},
        }  # fmt: skip
        example = torch.from_numpy(test.x[:1])
        export_onnx(teacher, example, tmp / "teacher.onnx")
        export_onnx(student, example, tmp / "student.onnx", metadata=provenance)
        checks = {
            name: parity(m, tmp / f"{name}.onnx", test.x[:64])
            for name, m in (("teacher", teacher), ("student", student))
        }
        return {"provenance": provenance, "parity": checks}

    result = cache.run("demo-train", key, "train teacher, distill student, export", run)
    return result.path / "teacher.onnx", result.path / "student.onnx", result.info


def _array_sha(array: np.ndarray) -> str:
    return sha256_bytes(np.ascontiguousarray(array).tobytes())


def _reference_benchmark(cache: StageCache, name: str, model: Path, inputs_npz: Path, bench) -> dict:
    """The float teacher/student in ONNX Runtime, measured by the same agent as the bundles."""
    from edgec.benchmarks import harness
    from edgec.benchmarks.agent import environment

    settings = harness.agent_settings(bench, {"graph_optimization_level": "all"})
    files = [{"path": model.name, "sha256": sha256_file(model), "bytes": model.stat().st_size}]
    host = environment()
    key = {"files": files, "settings": settings, "inputs": sha256_file(inputs_npz),
           "host": [host["hostname"], host["cpu_model"], host["cpu_count"]]}  # fmt: skip

    def measure(_tmp: Path) -> dict:
        raw = harness.run_local(model, "onnxruntime", inputs_npz, settings)
        return harness.make_report(raw, files, {"source": "training images", "batch": 1}, settings)

    return cache.run("benchmark", key, f"{name} (reference, onnxruntime): benchmark", measure).info


def run_demo(out: Path, settings: DemoSettings | None = None, *, log: Log = print,
             track=lambda it, _d: it) -> DemoResult:  # fmt: skip
    from edgec import runtime
    from edgec.compile.quality import run_onnx, score
    from edgec.distill.data import digits_splits

    s = settings or DemoSettings()
    out = Path(out)
    cache = StageCache(out / ".cache", log)
    train, test = digits_splits(seed=s.seed, size=s.image_size)
    teacher_onnx, student_onnx, info = _train_and_export(cache, s, train, test, track)
    data_dir = out / ".cache" / "demo-data"
    calib = _save_npz(data_dir / "calibration.npz", input=train.x, labels=train.y)
    evaluation = _save_npz(data_dir / "eval.npz", input=test.x, labels=test.y)
    config = Config(
        name="digits-student", model=student_onnx,
        calibration=CalibrationConfig(data=calib, samples=256, seed=s.seed),
        quantize=QuantizeConfig(eval_data=evaluation, metric="top1", max_drop=1.0),
        targets=[TargetSpec(name=t, precision="int8") for t in s.targets], benchmark=s.benchmark,
    )  # fmt: skip
    bundles = build(config, out, log=log)
    references = {}
    from edgec.calibration.dataset import CalibrationSet

    evalset = CalibrationSet.from_file(evaluation)
    for bundle in bundles:  # accuracy of each engine as built, run through the app runtime
        engine = runtime.load(bundle.path)
        first = engine.output_names[0]
        logits = np.concatenate([engine.run(feed)[first] for feed in evalset.feeds()])
        bundle.accuracy = score(logits, "top1", evalset.labels, None)
    inputs_npz = _save_npz(data_dir / "bench-inputs.npz", input=train.x[:64])
    for name, path in (("teacher fp32", teacher_onnx), ("student fp32", student_onnx)):
        report = _reference_benchmark(cache, name, path, inputs_npz, s.benchmark)
        top1 = score(run_onnx(path, evalset), "top1", evalset.labels, None)
        references[name] = {"accuracy": top1, "benchmark": report, "bytes": path.stat().st_size}
    summary = {"references": {k: {"accuracy": v["accuracy"], "p50_ms": v["benchmark"]["summary"]["p50_ms"]}
                              for k, v in references.items()}, "parity": info["parity"]}  # fmt: skip
    atomic_write_bytes(out / "demo-summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    return DemoResult(bundles, references, info["provenance"])
