"""Building blocks of every config model (edgec.yaml sections, device profiles).

Kept apart from `edgec.config` so that section models living next to their stage
(`edgec/compile/config.py`, …) and the root config can import them without a cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

Precision = Literal["fp32", "fp16", "int8"]


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo is never silently ignored); values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """A config path, relative to the config file's folder (passed as validation context)."""
    base = Path((info.context or {}).get("base_dir", "."))
    return value if value.is_absolute() else base / value


def existing_file(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if not path.is_file():
        raise ValueError(f"file '{value}' not found (looked for {path.resolve()})")
    return path.resolve()


def existing_path(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if not path.exists():
        raise ValueError(f"path '{value}' not found (looked for {path.resolve()})")
    return path.resolve()


def existing_folder(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if not path.is_dir():
        raise ValueError(f"folder '{value}' not found (looked for {path.resolve()})")
    return path.resolve()


# Paths in a config: resolved against the config file's folder, and they must exist.
InputFile = Annotated[Path, AfterValidator(existing_file)]
InputPath = Annotated[Path, AfterValidator(existing_path)]  # a file or a folder
InputFolder = Annotated[Path, AfterValidator(existing_folder)]
