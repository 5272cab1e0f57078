"""Device profiles: YAML data validated by pydantic, shipped by name or added by the user.

A profile says what a device is (hardware), what it may cost (budgets), how to reach it
(connection) and how its engine is built (one typed section per built-in backend). Every model
is strict: a typo'd key is refused with its key path, never silently ignored.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from edgec.artifacts import sha256_json
from edgec.config import Precision, StrictModel, format_validation_error, read_yaml, validate_mapping
from edgec.errors import EdgecError

OptionValue = str | int | float | bool | None
BUILTIN_SECTIONS = ("onnxruntime", "openvino", "tensorrt")
CONNECTION_PATTERN = r"^(ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+(:[0-9]{1,5})?|adb://[A-Za-z0-9._:-]+)$"


class Hardware(StrictModel):
    """What the device is: enough to pick kernels and to tell whether this host can stand in."""

    cpu_arch: Literal["native", "x86_64", "arm64"] = "native"
    cpu_features: list[str] = Field([], description="ISA extensions the engine may rely on, e.g. avx512_vnni")
    gpu: str | None = Field(None, description="GPU name, e.g. 'Orin (Ampere, 1024 cores)'")
    compute_capability: str | None = Field(None, pattern=r"^[0-9]+\.[0-9]+$")
    memory_mb: int | None = Field(None, ge=1, description="RAM of the device")


class Budgets(StrictModel):
    """What the engine may cost on the device; recorded in the manifest for gates to check."""

    memory_mb: int | None = Field(None, ge=1, description="peak memory the app may spend on the model")
    latency_p90_ms: float | None = Field(None, gt=0, description="p90 latency of one inference at batch 1")


class OnnxRuntimeOptions(StrictModel):
    execution_providers: list[str] = Field(["CPUExecutionProvider"], min_length=1)
    # Offline optimization stops at "extended": "all" adds layout transforms tied to the build CPU.
    offline_optimization: Literal["disabled", "basic", "extended"] = "extended"
    runtime_optimization: Literal["disabled", "basic", "extended", "all"] = "all"
    format: Literal["onnx", "ort"] = Field("onnx", description="'ort': ORT format for the mobile runtime")
    ort_optimization_style: Literal["Fixed", "Runtime"] = "Runtime"
    ort_target_platform: Literal["arm", "amd64"] | None = None
    usability_check: bool = Field(False, description="record NNAPI / Core ML / XNNPACK coverage")


class OpenVinoOptions(StrictModel):
    device: str = "CPU"
    performance_hint: Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"] = "LATENCY"
    # None: f16 for fp16 builds, f32 otherwise. Never left to the plugin: on AVX-512 BF16 CPUs its
    # default is bf16, so "fp32" would silently not be fp32.
    inference_precision: Literal["f32", "f16", "bf16"] | None = None
    compress_weights_fp16: bool = False
    export_compiled_blob: bool = Field(False, description="also ship compiled.export_model() as model.blob")


class DynamicDim(StrictModel):
    min: int = Field(ge=1)
    opt: int = Field(ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> DynamicDim:
        if not self.min <= self.opt <= self.max:
            raise ValueError(f"needs min <= opt <= max (got {self.min}, {self.opt}, {self.max})")
        return self


class TensorRtOptions(StrictModel):
    major_version: Literal[10, 11] = Field(description="10: builder flags (JetPack 6); 11: strongly typed")
    workspace_mb: int = Field(1024, ge=16)
    version_compatible: bool = False
    hardware_compatibility: Literal["none", "ampere_plus", "same_compute_capability"] = "none"
    dynamic_dims: dict[str, DynamicDim] = Field({}, description="named dim -> min/opt/max for optimization profiles")
    build_with: Literal["python", "trtexec"] = "python"
    remote_workdir: str = Field("/tmp/edgec-trt-build", pattern=r"^/[A-Za-z0-9._/-]+$")
    remote_python: str = Field("python3", pattern=r"^[A-Za-z0-9._/-]+$")
    trtexec: str = Field("trtexec", pattern=r"^[A-Za-z0-9._/-]+$")


class TargetProfile(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    backend: str = Field(min_length=1, description="engine family: onnxruntime, openvino, tensorrt, or a plugin")
    precisions: list[Precision] = Field(min_length=1)
    default_precision: Precision
    hardware: Hardware = Hardware()
    threads: int | None = Field(None, ge=1)
    budgets: Budgets = Budgets()
    connection: str | None = Field(
        None, pattern=CONNECTION_PATTERN, description="ssh://user@host[:port] or adb://SERIAL"
    )
    onnxruntime: OnnxRuntimeOptions | None = None
    openvino: OpenVinoOptions | None = None
    tensorrt: TensorRtOptions | None = None
    backend_options: dict[str, OptionValue] = Field({}, description="free-form settings for plugin backends only")
    status: Literal["tested", "untested"] = "tested"
    status_note: str = Field("", description="what has and has not been run for this target")

    @model_validator(mode="after")
    def _consistent(self) -> TargetProfile:
        if self.default_precision not in self.precisions:
            raise ValueError(f"default_precision {self.default_precision!r} is not in precisions {self.precisions}")
        for section in BUILTIN_SECTIONS:
            if getattr(self, section) is not None and section != self.backend:
                raise ValueError(f"section '{section}' does not apply to backend '{self.backend}'")
        if self.backend == "tensorrt" and self.tensorrt is None:
            raise ValueError("backend 'tensorrt' needs a 'tensorrt:' section (at least major_version)")
        if self.backend in BUILTIN_SECTIONS and self.backend_options:
            raise ValueError(f"backend_options is for plugin backends; use the '{self.backend}:' section")
        return self

    @property
    def cpu_arch(self) -> str:
        return self.hardware.cpu_arch

    @property
    def ort(self) -> OnnxRuntimeOptions:
        return self.onnxruntime or OnnxRuntimeOptions()

    @property
    def ov(self) -> OpenVinoOptions:
        return self.openvino or OpenVinoOptions()

    def resolve_precision(self, asked: str | None) -> str:
        precision = asked or self.default_precision
        if precision not in self.precisions:
            raise EdgecError(
                f"target {self.name}: precision {precision!r} is not supported "
                f"(supported: {', '.join(self.precisions)})"
            )
        return precision

    @property
    def sha256(self) -> str:
        return sha256_json(self.model_dump(mode="json"))


def load_profile_file(path: str | Path) -> TargetProfile:
    path = Path(path)
    return validate_mapping(TargetProfile, read_yaml(path), str(path), path.resolve().parent)


def check_profile_mapping(data: Any) -> TargetProfile:
    """Validate an inline profile (from edgec.yaml's `profiles:`); ValueError names the key path."""
    if not isinstance(data, dict):
        raise ValueError(f"a profile is a mapping of keys, got {type(data).__name__}")
    try:
        return TargetProfile.model_validate(data)
    except ValidationError as exc:
        raise ValueError(format_validation_error("profile", exc).replace("profile: ", "")) from None


@cache
def shipped_profiles() -> dict[str, TargetProfile]:
    folder = resources.files("edgec.targets") / "profiles"
    profiles = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            profile = load_profile_file(Path(str(entry)))
            profiles[profile.name] = profile
    return profiles


def get_profile(name: str, extra: dict[str, TargetProfile] | None = None) -> TargetProfile:
    """A profile by name: the user's own (`extra`) first, then the shipped ones."""
    known = {**shipped_profiles(), **(extra or {})}
    if name not in known:
        raise EdgecError(f"unknown target {name!r}; known targets: {', '.join(known)} (`edgec targets list`)")
    return known[name]


def looks_like_file(name: str) -> bool:
    return bool(re.search(r"\.(ya?ml)$", name)) or "/" in name


def user_profiles(config) -> dict[str, TargetProfile]:  # noqa: ANN001 - edgec.config.Config (import cycle)
    """The profiles a config adds: its `profiles:` list and its targets' `profile:` files."""
    found: dict[str, TargetProfile] = {}
    for index, data in enumerate(config.profiles):
        profile = TargetProfile.model_validate(data)  # already checked when the config was loaded
        if profile.name in found:
            raise EdgecError(f"profiles[{index}]: profile {profile.name!r} is defined twice")
        found[profile.name] = profile
    for index, spec in enumerate(config.targets):
        if spec.profile is not None:
            profile = load_profile_file(spec.profile)
            if profile.name != spec.name:
                raise EdgecError(
                    f"targets[{index}].profile: {spec.profile} defines profile {profile.name!r}, "
                    f"but the target is named {spec.name!r}"
                )
            found[profile.name] = profile
    return found
