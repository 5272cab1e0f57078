"""The quantize stage: the precision-typed graph one target family needs, held to the budget.

One recipe per target family, so targets that want the same graph share one cached stage:
- `onnxruntime` static QDQ (preset x86-vnni / arm / tensorrt) or dynamic INT8 (transformer-style
  graphs on CPU), with the layer-wise fallback of `sensitivity.py`;
- `nncf`: OpenVINO IR for `openvino` targets (accuracy control when there is eval data);
- `modelopt`: NVIDIA ModelOpt Q/DQ + FP16 for TensorRT, when asked for and installed;
- `fp16`: casts in the graph, for FP16 targets that read ONNX.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from edgec.calibration.dataset import CalibrationSet
from edgec.calibration.tables import DEFAULT_TRT_VERSION, write_trt_calibration_table
from edgec.compile import quality
from edgec.compile import quantize as ortq
from edgec.compile.graph import load_model
from edgec.compile.sensitivity import BudgetError, BudgetResult, Judge, quantize_within_budget
from edgec.config import Config
from edgec.errors import EdgecError
from edgec.stages import StageCache, StageResult

Log = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    tool: str  # onnxruntime | nncf | modelopt | fp16
    preset: str | None = None
    mode: str | None = None  # static | dynamic (onnxruntime)

    @property
    def name(self) -> str:
        return "-".join(p for p in (self.tool, self.preset, self.mode) if p)


def recipe_for(config: Config, backend: str, cpu_arch: str | None, precision: str, transformer: bool) -> Recipe | None:
    """What graph a target at `precision` is built from; None: the float graph as it is."""
    q = config.quantize
    if precision == "fp16":
        return None if backend == "openvino" else Recipe("fp16")  # OpenVINO compresses weights itself
    if precision != "int8":
        return None
    if backend == "openvino":
        return Recipe("nncf", mode="transformer" if transformer else None)
    preset = ortq.preset_for(backend, cpu_arch, q.preset)
    if preset == "tensorrt" and (q.tool == "modelopt"):
        return Recipe("modelopt", "tensorrt")
    mode = q.mode
    if mode == "auto":
        # TensorRT reads only static Q/DQ; CPU kernels do best with dynamic INT8 on attention graphs.
        mode = "dynamic" if transformer and preset != "tensorrt" else "static"
    if mode == "dynamic" and preset == "tensorrt":
        raise EdgecError("quantize.mode 'dynamic' cannot feed TensorRT (it reads static Q/DQ only); use static")
    return Recipe("onnxruntime", preset, mode)


def make_judge(model: Path, metric: str, data: CalibrationSet) -> Judge:
    if metric == "top1" and data.labels is None:
        metric = "agreement"  # no labels: fidelity to the float model is what can be measured
    return Judge(metric, quality.run_onnx(model, data), data.labels)


def quantize_stage(cache: StageCache, config: Config, model: Path, model_sha: str, recipe: Recipe,
                   calib: CalibrationSet | None, evalset: CalibrationSet | None, log: Log = print) -> StageResult:  # fmt: skip
    """Build (or reuse) the graph of `recipe`; info holds the quality block and every step tried."""
    import onnxruntime as ort

    q, c = config.quantize, config.calibration
    if recipe.tool != "fp16" and calib is None:
        raise EdgecError(f"{model.name}: INT8 targets need a 'calibration:' section with data")
    judge_data = evalset or calib
    if judge_data is None:
        raise EdgecError(
            f"{model.name}: FP16 targets need eval data (quantize.eval_data) or calibration data to check quality"
        )
    key = {
        "model": model_sha, "recipe": asdict(recipe), "calibration": None if calib is None else calib.fingerprint(),
        "method": c.method if c else None, "percentile": c.percentile if c else None, "judge": judge_data.fingerprint(),
        "quantize": q.model_dump(mode="json", exclude={"eval_data"}), "ort": ort.__version__, "tools": _tool_versions(recipe),
    }  # fmt: skip

    def build(tmp: Path) -> dict:
        judge = make_judge(model, q.metric, judge_data)
        with tempfile.TemporaryDirectory(prefix="edgec-quantize-") as work:
            work = Path(work)
            if recipe.tool == "nncf":
                result, extra = _nncf(model, calib, judge, judge_data, config, tmp)
            else:
                result, extra = _onnx_recipe(cache, model, recipe, calib, judge, judge_data, config, work, log)
                target = tmp / ("model.fp16.onnx" if recipe.tool == "fp16" else "model.int8.onnx")
                shutil.copyfile(result.path, target)
                result.path = target
                ranges = extra.pop("ranges", None)
                if q.trt_calibration_table and ranges is not None:
                    write_trt_calibration_table(ranges, tmp / "calibration.cache", DEFAULT_TRT_VERSION)
                    extra["trt_calibration_table"] = {
                        "file": "calibration.cache",
                        "tensorrt_version": DEFAULT_TRT_VERSION,
                    }
        if result.drop > q.max_drop:  # fallback off (or a tool that holds the budget itself) and still over
            raise BudgetError(judge.metric, judge.float_score, q.max_drop, result.steps, result.steps[-1])
        return {"file": result.path.name, "recipe": recipe.name, **asdict(recipe), **extra,
                "quality": _quality(result, judge, q.max_drop, calib, c)}  # fmt: skip

    return cache.run("quantize", key, f"quantize {recipe.name}", build)


def _tool_versions(recipe: Recipe) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    names = {"nncf": ("nncf", "openvino"), "modelopt": ("nvidia-modelopt",)}.get(recipe.tool, ())
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _quality(result: BudgetResult, judge: Judge, max_drop: float, calib, c) -> dict:
    return {
        "metric": judge.metric, "float": judge.float_score, "quantized": result.quantized, "drop": result.drop,
        "max_drop": max_drop, "fidelity": result.fidelity, "kept_in_float": result.kept_in_float,
        "steps": result.steps, "sensitivity": result.sensitivity,
        "calibration_sha256": None if calib is None else calib.fingerprint(),
        "calibration_method": None if c is None else c.method,
    }  # fmt: skip


def _onnx_recipe(cache, model, recipe, calib, judge, judge_data, config, work: Path, log) -> tuple[BudgetResult, dict]:
    q, c = config.quantize, config.calibration
    evaluate = lambda path: quality.run_onnx(path, judge_data)  # noqa: E731
    extra: dict = {}
    if recipe.tool == "fp16":
        out = _fp16(model, work / "model.fp16.onnx", q.fp16_op_block_list)
        outputs = evaluate(out)
        score = judge.score(outputs)
        step = {
            "kept_in_float": [],
            "quantized": score,
            "drop": judge.float_score - score,
            "cosine": judge.cosine(outputs),
        }
        return BudgetResult(
            out, score, judge.float_score - score, quality.fidelity(outputs, judge.reference), [], [step]
        ), extra
    if recipe.tool == "modelopt":
        from edgec.compile.quantize_modelopt import quantize_modelopt

        def quantize(kept, path):
            return quantize_modelopt(model, calib, path, method=c.method, nodes_to_exclude=kept)

        candidates = ortq.quantized_nodes
    else:
        prepared = ortq.prepare(model, work / "prepared.onnx")
        if recipe.mode == "dynamic":

            def quantize(kept, path):
                return ortq.quantize_dynamic_int8(prepared, path, per_channel=q.per_channel, nodes_to_exclude=kept,
                                                  prepared=True)  # fmt: skip

            candidates = ortq.dynamic_node_origins
        else:
            # Ranges are computed once and reused by every trial; shared across stages when cached.
            if c.cache:
                ranges = ortq.ranges_cache_path(cache.root / "calibration", prepared, calib, c.method, c.percentile)
                log(f"calibration ranges: {'cached' if ranges.is_file() else 'computing'} ({ranges.stem[:12]})")
            else:
                ranges = work / "ranges.json"

            def quantize(kept, path):
                return ortq.quantize_static_int8(prepared, calib, path, method=c.method, per_channel=q.per_channel,
                                                 nodes_to_exclude=kept, preset=recipe.preset, percentile=c.percentile,
                                                 ranges_path=ranges, prepared=True)  # fmt: skip

            candidates = ortq.quantized_nodes
            extra["ranges"] = ranges
    result = quantize_within_budget(
        quantize, evaluate, judge, candidates, work, max_drop=q.max_drop, always_float=q.exclude,
        max_float_nodes=q.max_float_nodes, fallback=q.fallback, log=log,
    )  # fmt: skip
    return result, extra


def _fp16(model: Path, out: Path, block: list[str]) -> Path:
    from edgec.compile.fp16 import convert_fp16

    return convert_fp16(model, out, op_block_list=block)


def _nncf(model, calib, judge: Judge, judge_data, config, tmp: Path) -> tuple[BudgetResult, dict]:
    from edgec.compile.quantize_openvino import quantize_openvino, run_openvino

    q = config.quantize
    transformer = ortq.is_transformer_graph(load_model(model))
    with_control = config.quantize.eval_data is not None
    info = quantize_openvino(model, calib, tmp, transformer=transformer, judge=judge if with_control else None,
                             judge_data=judge_data, max_drop=q.max_drop, ignored=q.exclude)  # fmt: skip
    outputs = run_openvino(tmp / info["file"], judge_data)
    score = judge.score(outputs)
    step = {"kept_in_float": info["kept_in_float"], "quantized": score, "drop": judge.float_score - score,
            "cosine": judge.cosine(outputs), "why": info["algorithm"]}  # fmt: skip
    result = BudgetResult(tmp / info["file"], score, judge.float_score - score,
                          quality.fidelity(outputs, judge.reference), info["kept_in_float"], [step])  # fmt: skip
    return result, {"algorithm": info["algorithm"], "nncf_model_type": info["model_type"]}
