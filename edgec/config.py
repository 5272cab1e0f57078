"""The project config (`edgec.yaml`): pydantic models and a loader whose errors name the key.

Every model is `extra="forbid"`, so a typo'd key is an error, not a silently ignored setting.
File paths are resolved against the config file's folder and must exist. No value imports or
runs code: YAML is read with `safe_load` semantics, and anchors/aliases are refused (they are
how YAML bombs multiply).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edgec.benchmarks.gate_config import GatesConfig
from edgec.compile.config import ExportConfig
from edgec.distill.config import DistillConfig
from edgec.errors import EdgecError
from edgec.schema import InputFile, InputFolder, InputPath, Precision, StrictModel, existing_file

__all__ = ["Config", "InputFile", "Precision", "StrictModel", "load_config", "validate_mapping"]

MAX_CONFIG_BYTES = 1 << 20


class ImagePreprocess(StrictModel):
    """How an image file becomes one sample of a graph input (what the app does before inference)."""

    input: str | None = Field(None, description="graph input the images feed (default: the only input)")
    size: tuple[int, int] = Field(description="[height, width] after resizing")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    color: Literal["rgb", "gray"] = "rgb"
    resample: Literal["bilinear", "bicubic", "nearest"] = "bilinear"
    scale: float = Field(1 / 255, description="pixel values are multiplied by this first")
    mean: list[float] = Field([0.0], description="per channel (or one value), subtracted after scaling")
    std: list[float] = Field([1.0], description="per channel (or one value), divided by after the mean")


class CalibrationConfig(StrictModel):
    """Where calibration samples come from, how many are used and how ranges are computed.

    Exactly one source: `data` (.npz/.npy file, or a folder of them keyed by input name),
    `images` (+ `preprocess`), `text` (+ `tokenizer`) or `callable` ("module:attr" or
    "file.py:attr", the one config value that runs user code, and only because the user names it).
    """

    data: InputPath | None = Field(None, description=".npz/.npy file or folder; first axis = sample")
    images: InputFolder | None = Field(None, description="folder of images; sub-folders are class labels")
    preprocess: ImagePreprocess | None = None
    text: InputFile | None = Field(None, description="UTF-8 text file, one sample per non-empty line")
    tokenizer: InputFolder | None = Field(None, description="Hugging Face tokenizer folder (tokenizer.json)")
    max_length: int = Field(128, ge=1, le=65536)
    callable: str | None = Field(None, pattern=r"^[A-Za-z0-9_./-]+(\.py)?:[A-Za-z_][A-Za-z0-9_.]*$")
    samples: int = Field(256, ge=1, le=100_000)
    seed: int = 0
    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    percentile: float = Field(99.999, gt=90, le=100, description="for method: percentile")
    cache: bool = Field(True, description="reuse calibration ranges keyed by model + data + method")

    @model_validator(mode="after")
    def _one_source(self) -> CalibrationConfig:
        given = [k for k in ("data", "images", "text", "callable") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of data, images, text, callable (got {given or 'none'})")
        if self.images is not None and self.preprocess is None:
            raise ValueError("'images' needs a 'preprocess' section (size, layout, mean, std)")
        if self.text is not None and self.tokenizer is None:
            raise ValueError("'text' needs a 'tokenizer' folder")
        return self

    @field_validator("callable")
    @classmethod
    def _resolve_callable_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        # "file.py:attr" is a file next to the config; make it absolute now, like every path.
        if value is None or ".py:" not in value:
            return value
        file, attr = value.rsplit(":", 1)
        path = existing_file(Path(file), info)
        return f"{path}:{attr}"


class QuantizeConfig(StrictModel):
    """How INT8 is made and the accuracy budget it must hold."""

    eval_data: InputPath | None = Field(
        None, description=".npz/.npy (file or folder) with the graph inputs and, for top1, a 'labels' array"
    )
    metric: Literal["top1", "agreement", "cosine"] = "top1"
    max_drop: float = Field(1.0, ge=0, description="points (top1/agreement) or cosine x100")
    per_channel: bool = True
    preset: Literal["auto", "x86-vnni", "arm", "tensorrt"] = Field("auto", description="auto: from the target profile")
    mode: Literal["auto", "static", "dynamic"] = Field(
        "auto", description="auto: dynamic for transformer-style graphs on CPU"
    )
    fallback: bool = Field(True, description="keep the most sensitive layers in float until the budget holds")
    max_float_nodes: int = Field(16, ge=0, description="give up after keeping this many nodes in float")
    exclude: list[str] = Field([], description="node names always kept in float")
    fp16_op_block_list: list[str] = Field([], description="op types kept in fp32 in an FP16 graph")
    tool: Literal["auto", "onnxruntime", "modelopt"] = Field(
        "auto", description="modelopt: nvidia-modelopt for tensorrt targets"
    )
    trt_calibration_table: bool = Field(
        False, description="write a TensorRT 10 calibration table next to the INT8 graph"
    )


def _profile_file(value: Path, info: ValidationInfo) -> Path:
    from edgec.targets.profiles import load_profile_file  # lazy: profiles.py imports this module

    load_profile_file(value)  # a typo'd key is refused now, naming the file and the key path
    return value


def _profile_mapping(value: dict, info: ValidationInfo) -> dict:
    from edgec.targets.profiles import check_profile_mapping

    check_profile_mapping(value)
    return value


PRECISIONS = get_args(Precision)
BUNDLE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a bundle is a folder named after its target


def _candidate(value: str) -> str:
    """'PROFILE/PRECISION'; whether the profile exists and takes that precision is checked when the
    targets are planned (`edgec.targets.plan`), where the config's own profiles are known too."""
    profile, slash, precision = value.partition("/")
    if not slash or not profile or precision not in PRECISIONS:
        raise ValueError(f"{value!r} is not PROFILE/PRECISION, e.g. host-cpu/int8 (precision: {', '.join(PRECISIONS)})")
    return value


_CANDIDATE_LIST = TypeAdapter(list[Annotated[str, AfterValidator(_candidate)]])


class TargetSpec(StrictModel):
    """One target to build: a profile name and, optionally, the precision to build it at; or, with
    `candidates`, a bundle name and the (profile, precision) pairs auto-selection chooses among."""

    name: str = Field(min_length=1)
    precision: Precision | None = None
    profile: Annotated[InputFile, AfterValidator(_profile_file)] | None = Field(
        None, description="a profile YAML file for this target (its name must match)"
    )
    candidates: list[str] | Literal["auto"] | None = Field(
        None, description="PROFILE/PRECISION entries (or 'auto'): build each, measure, keep the fastest within budget"
    )

    @field_validator("candidates", mode="wrap")
    @classmethod
    def _candidate_list(cls, value: Any, _handler) -> list[str] | str | None:
        # Validated here rather than as a union: a union reports every branch's failure, and a
        # wrong entry should read `targets[0].candidates[1]: ...`, nothing else.
        if value is None or value == "auto":
            return value
        if not isinstance(value, list):
            raise ValueError(f"give 'auto' or a list of PROFILE/PRECISION, e.g. [host-cpu/int8, host-cpu/fp32] "
                             f"(got {value!r})")  # fmt: skip
        if not value:
            raise ValueError("the list is empty: name at least one PROFILE/PRECISION, or give 'auto'")
        entries = _CANDIDATE_LIST.validate_python(value)  # errors keep their index: candidates[1]
        for index, entry in enumerate(entries):
            if entry in entries[:index]:
                raise ValueError(f"{entry!r} is listed twice (items {entries.index(entry)} and {index})")
        return entries

    @model_validator(mode="after")
    def _selection_alone(self) -> TargetSpec:
        if self.candidates is None:
            return self
        if self.precision is not None:
            raise ValueError("give either 'precision' or 'candidates' (each candidate names its own precision)")
        if self.profile is not None:
            raise ValueError("'profile' is one profile's file; with 'candidates', define profiles under the "
                             "top-level 'profiles:' and name them as candidates")  # fmt: skip
        if not re.match(BUNDLE_NAME, self.name):
            raise ValueError(f"name {self.name!r} names the bundle's folder: letters, digits, '_', '.', '-' only")
        return self


class BenchmarkConfig(StrictModel):
    """How the measurement loop runs (see BENCHMARKING.md)."""

    enabled: bool = True
    warmup_runs: int = Field(10, ge=0)
    warmup_seconds: float = Field(0.5, ge=0)
    min_runs: int = Field(100, ge=1)
    min_seconds: float = Field(0.5, ge=0, description="per process (see repeats)")
    threads: int | None = Field(None, ge=1)
    repeats: int = Field(
        5,
        ge=1,
        le=20,
        description="fresh agent processes per target, samples pooled; >= 2 puts "
        "process-to-process variation into the confidence intervals",
    )
    drift_pct: float = Field(
        2.0,
        ge=0,
        le=100,
        description="run-to-run drift allowance added to the intervals (+/- %, root-sum-square); "
        "measured on shared machines with perf/bench_repeatability.py; 0 on a quiet, pinned board",
    )
    cpus: list[int] | None = Field(None, min_length=1, description="pin the agent to these CPU ids (taskset)")
    device: str | None = Field(None, description="ssh://… or adb://… to measure on a device; default: here")


class Config(StrictModel):
    name: str = Field("model", pattern=BUNDLE_NAME)
    model: InputFile | None = Field(None, description="the ONNX model to build (not needed with 'distill:')")
    calibration: CalibrationConfig | None = None
    quantize: QuantizeConfig = QuantizeConfig()
    targets: list[TargetSpec] = Field(min_length=1)
    benchmark: BenchmarkConfig = BenchmarkConfig()
    profiles: list[Annotated[dict[str, Any], AfterValidator(_profile_mapping)]] = Field(
        [], description="the user's own device profiles (same keys as a profile YAML)"
    )
    export: ExportConfig | None = Field(None, description="export a PyTorch / Hugging Face model instead of 'model:'")
    gates: GatesConfig | None = None  # budgets for `edgec gate` (edgec/benchmarks/gate_config.py)
    distill: DistillConfig | None = None  # `edgec distill` (edgec/distill/config.py)

    @field_validator("targets")
    @classmethod
    def _selection_names_unique(cls, targets: list[TargetSpec]) -> list[TargetSpec]:
        # A selecting target's name is its bundle folder; a second target of that name would
        # overwrite it.
        for index, spec in enumerate(targets):
            first = next(i for i, other in enumerate(targets) if other.name == spec.name)
            if first != index and (spec.candidates is not None or targets[first].candidates is not None):
                raise ValueError(f"targets[{first}] and targets[{index}] are both named {spec.name!r}; "
                                 "each target writes the bundle folder of its name")  # fmt: skip
        return targets

    @model_validator(mode="after")
    def _has_a_model(self) -> Config:
        if self.model is None and self.export is None and self.distill is None:
            raise ValueError(
                "give 'model:' (an ONNX file), an 'export:' section (a PyTorch or Hugging Face model) "
                "or a 'distill:' section"
            )
        if self.model is not None and self.export is not None:
            raise ValueError("give either 'model:' (an ONNX file) or an 'export:' section, not both")
        return self


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
    msg = msg.removeprefix("Value error, ")
    return msg[:1].lower() + msg[1:]


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
    config = validate_mapping(Config, read_yaml(path), str(path), path.resolve().parent)
    selecting = [t.name for t in config.targets if t.candidates is not None]
    if selecting:  # candidates name profiles, which only now are all known (the config's own too)
        from edgec.targets.plan import plan_targets

        try:
            plan_targets(config, selecting)
        except EdgecError as exc:
            raise EdgecError(f"{path}: {exc.message}", hint=exc.hint) from exc
    return config
