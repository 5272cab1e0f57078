"""What every engine builder provides. A new backend is one module subclassing `Builder`."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

from edgec.targets.profiles import TargetProfile


@dataclass
class BuildResult:
    engine: str  # path of the main engine file, relative to the bundle folder
    runner: str  # which runner opens it (see edgec.benchmarks.agent.RUNNERS)
    backend_version: str
    runtime_options: dict = field(default_factory=dict)  # what the runner is opened with
    notes: list[str] = field(default_factory=list)


class Builder(abc.ABC):
    """Turns a precision-typed ONNX graph into an engine for one profile."""

    name = ""

    @abc.abstractmethod
    def version(self) -> str:
        """The backend's version, recorded in the manifest and the cache key."""

    @abc.abstractmethod
    def build(self, model: Path, precision: str, profile: TargetProfile, out_dir: Path) -> BuildResult:
        """Write the engine file(s) into `out_dir` (an empty staging folder)."""
