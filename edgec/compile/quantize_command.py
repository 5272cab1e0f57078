"""`edgec quantize CONFIG`: calibration and quantization alone, for every recipe the config's
targets need; writes each graph with a report under `<out>/quantized/<recipe>/`."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgec.artifacts import atomic_write_json, sha256_file, staged_dir, sweep_temporaries
from edgec.compile.graph import io_specs, load_model
from edgec.compile.quantize import is_transformer_graph
from edgec.compile.quantize_stage import Recipe, quantize_stage, recipe_for
from edgec.config import Config
from edgec.errors import EdgecError
from edgec.stages import STAGE_FILE, StageCache

REPORT = "report.json"


@dataclass
class QuantizeResult:
    recipe: Recipe
    targets: list[str]
    path: Path  # folder with the graph and report.json
    report: dict


def quantize(config: Config, out: Path, *, only: list[str] | None = None,
             log: Callable[[str], None] = print) -> list[QuantizeResult]:  # fmt: skip
    """Each target quantized at its configured precision (INT8 where it takes INT8 and none is
    set); targets that build the float graph as it is are skipped. Nothing is written before
    the data has passed its checks."""
    from edgec.pipeline import _load_data, _source_kind
    from edgec.targets.plan import plan_targets

    out = Path(out)
    model_proto = load_model(config.model)
    inputs, _ = io_specs(model_proto)
    plans = plan_targets(config, only)
    calib, evalset = _load_data(config, inputs)
    transformer = is_transformer_graph(model_proto)
    recipes: dict[Recipe, list[str]] = {}
    for plan in plans:
        for profile, precision in plan.candidates:  # an auto-selecting target: each candidate's graph
            if not plan.selecting and config.targets[plan.index].precision is None and "int8" in profile.precisions:
                precision = "int8"
            recipe = recipe_for(config, profile.backend, profile.cpu_arch, precision, transformer)
            name = f"{plan.name}: {profile.name}/{precision}" if plan.selecting else profile.name
            if recipe is not None and name not in recipes.get(recipe, []):
                recipes.setdefault(recipe, []).append(name)
    if not recipes:
        raise EdgecError(f"{config.model.name}: no target in the config is built at int8 or fp16; nothing to quantize")
    if calib is None and any(r.tool != "fp16" for r in recipes):
        raise EdgecError(f"{config.model.name}: INT8 needs a 'calibration:' section with data")
    out.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(out)
    cache = StageCache(out / ".cache", log)
    model_sha = sha256_file(config.model)
    results = []
    for recipe, names in recipes.items():
        stage = quantize_stage(cache, config, config.model, model_sha, recipe, calib, evalset, log)
        report = {
            "model": {"name": config.name, "source_onnx_sha256": model_sha},
            "recipe": recipe.name, "targets": names, "file": stage.info["file"],
            "calibration": None if calib is None else {"samples": len(calib), "sha256": calib.fingerprint(),
                                                       "method": config.calibration.method,
                                                       "source": _source_kind(config)},
            "quality": stage.info["quality"],
            "extra": {k: v for k, v in stage.info.items() if k not in {"quality", "file"}},
        }  # fmt: skip
        final = out / "quantized" / recipe.name
        with staged_dir(final) as tmp:
            for item in stage.path.iterdir():
                if item.name != STAGE_FILE:
                    shutil.copy2(item, tmp / item.name)
            atomic_write_json(tmp / REPORT, report)
        log(f"{recipe.name}: written to {final}")
        results.append(QuantizeResult(recipe, names, final, report))
    return results
