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
    details: dict = field(default_factory=dict)  # backend-specific facts for the manifest's `build`
    engine_built: bool = True  # False: the bundle carries what is needed to build it elsewhere
    skipped_reason: str | None = None  # why the engine was not built, when it was not


class Builder(abc.ABC):
    """Turns a precision-typed ONNX graph into an engine for one profile."""

    name = ""
    # A folder that outlives one build (the pipeline sets it per target): caches that make the
    # next build faster without changing its result, such as TensorRT's timing cache.
    state_dir: Path | None = None

    @abc.abstractmethod
    def version(self) -> str:
        """The backend's version, recorded in the manifest and the cache key."""

    @abc.abstractmethod
    def build(self, model: Path, precision: str, profile: TargetProfile, out_dir: Path) -> BuildResult:
        """Write the engine file(s) into `out_dir` (an empty staging folder)."""
