"""The project config (`edgec.yaml`): pydantic models and a loader whose errors name the key.

Every model is `extra="forbid"`, so a typo'd key is an error, not a silently ignored setting.
File paths are resolved against the config file's folder and must exist. No value imports or
runs code: YAML is read with `safe_load` semantics, and anchors/aliases are refused (they are
how YAML bombs multiply).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from edgec.errors import EdgecError

MAX_CONFIG_BYTES = 1 << 20
Precision = Literal["fp32", "fp16", "int8"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    base = Path((info.context or {}).get("base_dir", "."))
    path = value if value.is_absolute() else base / value
    if not path.is_file():
        raise ValueError(f"file '{value}' not found (looked for {path.resolve()})")
    return path.resolve()


InputFile = Annotated[Path, AfterValidator(_existing_file)]


class CalibrationConfig(StrictModel):
    """Where calibration samples come from and how many are used."""

    data: InputFile = Field(description=".npz with one array per graph input, first axis = sample")
    samples: int = Field(256, ge=1, le=100_000)
    seed: int = 0
    method: Literal["minmax", "entropy", "percentile"] = "minmax"


class QuantizeConfig(StrictModel):
    """The accuracy budget that INT8 must hold."""

    eval_data: InputFile | None = Field(None, description=".npz with the graph inputs and, for top1, a 'labels' array")
    metric: Literal["top1", "agreement", "cosine"] = "top1"
    max_drop: float = Field(1.0, ge=0, description="points (top1/agreement) or cosine x100")
    per_channel: bool = True


class TargetSpec(StrictModel):
    """One target to build: a profile name and, optionally, the precision to build it at."""

    name: str = Field(min_length=1)
    precision: Precision | None = None


class BenchmarkConfig(StrictModel):
    """How the measurement loop runs (see BENCHMARKING.md)."""

    enabled: bool = True
    warmup_runs: int = Field(10, ge=0)
    warmup_seconds: float = Field(0.5, ge=0)
    min_runs: int = Field(100, ge=1)
    min_seconds: float = Field(2.0, ge=0)
    threads: int | None = Field(None, ge=1)


class Config(StrictModel):
    name: str = Field("model", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    model: InputFile | None = Field(None, description="the ONNX model to build (not needed with 'distill:')")
    calibration: CalibrationConfig | None = None
    quantize: QuantizeConfig = QuantizeConfig()
    targets: list[TargetSpec] = Field(min_length=1)
    benchmark: BenchmarkConfig = BenchmarkConfig()
    distill: DistillConfig | None = None

    @model_validator(mode="after")
    def _model_or_distill(self) -> Config:
        if self.model is None and self.distill is None:
            raise ValueError("'model' is required unless a 'distill:' section is given")
        return self


from edgec.distill.config import DistillConfig  # noqa: E402 - it builds on the models above

Config.model_rebuild()


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (the YAML-bomb vector)."""

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases are not allowed in edgec.yaml", event.start_mark
            )
        return super().compose_node(parent, index)


def read_yaml(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise EdgecError(f"{path}: config file not found") from exc
    if path.is_dir():
        raise EdgecError(f"{path}: is a folder, expected a YAML config file")
    if size > MAX_CONFIG_BYTES:
        raise EdgecError(f"{path}: config is {size} bytes; the limit is {MAX_CONFIG_BYTES}")
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - safe loader subclass
    except UnicodeDecodeError as exc:
        raise EdgecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise EdgecError(f"{path}: {where}invalid YAML: {problem}") from exc


def key_path(loc: tuple) -> str:
    """('targets', 1, 'precision') -> 'targets[1].precision'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _describe(error: dict) -> str:
    kind, msg, value = error["type"], error["msg"], error.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{value!r} is not one of {expected}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{msg.lower()} (got {value!r})"
    return msg.removeprefix("Value error, ")


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: {key_path(err['loc'])}: {_describe(err)}" for err in exc.errors()]
    return "\n".join(lines)


def validate_mapping(model: type[StrictModel], data: Any, source: str, base_dir: Path):
    if data is None:
        raise EdgecError(f"{source}: config is empty")
    if not isinstance(data, dict):
        raise EdgecError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise EdgecError(format_validation_error(source, exc)) from exc


def load_config(path: str | Path) -> Config:
    path = Path(path)
    return validate_mapping(Config, read_yaml(path), str(path), path.resolve().parent)
