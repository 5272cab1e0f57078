"""Device profiles: YAML data validated by pydantic, shipped by name or added by the user."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edgec.artifacts import sha256_json
from edgec.config import Precision, StrictModel, read_yaml, validate_mapping
from edgec.errors import EdgecError

OptionValue = str | int | float | bool | None


class TargetProfile(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    backend: str = Field(min_length=1, description="engine family: onnxruntime, openvino, …")
    precisions: list[Precision] = Field(min_length=1)
    default_precision: Precision
    cpu_arch: str | None = Field(None, description="x86_64, arm64, … or 'native' for this host")
    threads: int | None = Field(None, ge=1)
    connection: str | None = Field(None, description="ssh://user@host[:port] or adb://SERIAL")
    backend_options: dict[str, OptionValue] = {}
    status: Literal["tested", "untested"] = "tested"

    @model_validator(mode="after")
    def _default_is_supported(self) -> TargetProfile:
        if self.default_precision not in self.precisions:
            raise ValueError(f"default_precision {self.default_precision!r} is not in precisions {self.precisions}")
        return self

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


@cache
def shipped_profiles() -> dict[str, TargetProfile]:
    folder = resources.files("edgec.targets") / "profiles"
    profiles = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            profile = load_profile_file(Path(str(entry)))
            profiles[profile.name] = profile
    return profiles


def get_profile(name: str) -> TargetProfile:
    profiles = shipped_profiles()
    if name not in profiles:
        raise EdgecError(
            f"unknown target {name!r}; shipped targets: {', '.join(profiles)} (`edgec targets list` shows them)"
        )
    return profiles[name]
