"""What `edgec gate` compares: the `gates:` budgets, and measured targets read from disk.

A side of a comparison (baseline or current) is any of:
- a `benchmark.json` file (its target named by a `manifest.json` next to it, else its folder);
- a bundle folder (`manifest.json`, usually `benchmark.json`);
- an output folder or a stored baseline: one bundle folder per target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from edgec.artifacts import read_json
from edgec.benchmarks.gate_config import GatesConfig
from edgec.config import read_yaml, validate_mapping
from edgec.errors import EdgecError
from edgec.manifest import BENCHMARK, MANIFEST

MB = 1_000_000  # budgets in MB are SI megabytes (10^6 bytes), like file sizes on disk


class _GatesSection(BaseModel):
    """edgec.yaml read for its `gates:` key alone, so a gate runs where the model file is not."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    gates: GatesConfig | None = None


def load_gates(path: Path | None) -> GatesConfig:
    if path is None:
        return GatesConfig()
    path = Path(path)
    section = validate_mapping(_GatesSection, read_yaml(path), str(path), path.resolve().parent)
    return section.gates or GatesConfig()


@dataclass
class Measured:
    """One target as built and measured: its report and manifest (either may be absent)."""

    name: str
    source: Path
    report: dict | None
    manifest: dict | None

    @property
    def samples(self) -> list[float] | None:
        return None if self.report is None else self.report["samples_ms"]

    @property
    def bundle_dir(self) -> Path | None:
        """The bundle folder, where there is one (a manifest next to the report)."""
        if self.manifest is None:
            return None
        return self.source if self.source.is_dir() else self.source.parent

    @property
    def environment(self) -> dict:
        return (self.report or {}).get("environment") or {}

    def model_bytes(self) -> int | None:
        if self.manifest is None:
            return None
        return sum(int(f.get("bytes", 0)) for f in self.manifest.get("files", []) if f.get("path") != BENCHMARK)

    def quality(self) -> tuple[str, float | None, float | None] | None:
        """(metric, accuracy of this engine, top-1 agreement with float) from the manifest."""
        quality = (self.manifest or {}).get("quality")
        if not quality:
            return None
        accuracy = quality.get("quantized")
        if accuracy is None:
            accuracy = quality.get("float")
        fidelity = (quality.get("fidelity") or {}).get("top1_agreement")
        return quality.get("metric", "?"), accuracy, fidelity


def check_report(report: Any, path: Path) -> dict:
    if not isinstance(report, dict):
        raise EdgecError(f"{path}: expected a benchmark report (a JSON object)")
    samples = report.get("samples_ms")
    if not isinstance(samples, list) or not samples:
        raise EdgecError(f"{path}: key 'samples_ms' is missing or empty; is this a benchmark.json?")
    for i, value in enumerate(samples):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise EdgecError(f"{path}: samples_ms[{i}] is {value!r}; expected a positive number of ms")
    if not isinstance(report.get("environment", {}), dict):
        raise EdgecError(f"{path}: key 'environment' must be an object")
    return report


def _target_name(manifest: dict | None, fallback: str) -> str:
    name = ((manifest or {}).get("target") or {}).get("name")
    return name if isinstance(name, str) and name else fallback


def _read_bundle(folder: Path) -> Measured:
    manifest = read_json(folder / MANIFEST, "bundle manifest") if (folder / MANIFEST).is_file() else None
    report_path = folder / BENCHMARK
    report = check_report(read_json(report_path, "benchmark report"), report_path) if report_path.is_file() else None
    return Measured(_target_name(manifest, folder.name), folder, report, manifest)


def load_side(path: Path, role: str) -> dict[str, Measured]:
    """{target name: Measured} for a report file, a bundle folder or an output folder."""
    path = Path(path)
    if path.is_file():
        report = check_report(read_json(path, f"{role} report"), path)
        sibling = path.parent / MANIFEST
        manifest = read_json(sibling, "bundle manifest") if sibling.is_file() else None
        name = _target_name(manifest, path.parent.name or path.stem)
        return {name: Measured(name, path, report, manifest)}
    if not path.is_dir():
        raise EdgecError(f"{path}: {role} not found (expected a benchmark.json, a bundle or an output folder)")
    if (path / MANIFEST).is_file() or (path / BENCHMARK).is_file():
        bundle = _read_bundle(path)
        return {bundle.name: bundle}
    found: dict[str, Measured] = {}
    for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (child / MANIFEST).is_file() or (child / BENCHMARK).is_file():
            bundle = _read_bundle(child)
            if bundle.name in found:
                raise EdgecError(
                    f"{path}: two bundles claim target '{bundle.name}' ({found[bundle.name].source}, {child})"
                )
            found[bundle.name] = bundle
    if not found:
        raise EdgecError(f"{path}: no bundle (manifest.json or benchmark.json) in this {role} folder")
    return found


def pair_targets(
    baseline: dict[str, Measured], current: dict[str, Measured]
) -> list[tuple[str, Measured | None, Measured | None]]:
    """Match targets by name; two single reports are compared whatever their folders are called."""
    if len(baseline) == 1 and len(current) == 1:
        (b,), (c,) = baseline.values(), current.values()
        if b.manifest is None or c.manifest is None or b.name == c.name:
            return [(c.name, b, c)]
    names = list(current) + [n for n in baseline if n not in current]
    return [(n, baseline.get(n), current.get(n)) for n in names]


ENV_KEYS = ("machine", "cpu_model", "cpu_count")


def environment_differences(baseline: Measured, current: Measured) -> list[str]:
    """Why two measurements are not comparable: machine, CPU, core count, backend versions and
    the runner's thread settings. Hostnames and thermal readings may differ freely."""
    a, b = baseline.environment, current.environment
    diffs = [f"{key}: {a.get(key)!r} -> {b.get(key)!r}" for key in ENV_KEYS if a.get(key) != b.get(key)]
    backends_a, backends_b = a.get("backends") or {}, b.get("backends") or {}
    for name in sorted(set(backends_a) | set(backends_b)):
        if backends_a.get(name) != backends_b.get(name):
            diffs.append(f"backends.{name}: {backends_a.get(name)!r} -> {backends_b.get(name)!r}")
    runner_a = ((baseline.report or {}).get("settings") or {}).get("runner_options")
    runner_b = ((current.report or {}).get("settings") or {}).get("runner_options")
    if runner_a != runner_b:
        diffs.append(f"settings.runner_options: {runner_a!r} -> {runner_b!r}")
    return diffs
