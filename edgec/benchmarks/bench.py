"""`edgec bench`: measure one bundle, or every bundle under an output folder, here or on a device.

The bundle is checked against its manifest first (a missing or altered file stops the run), the
inputs are prepared once per bundle, the agent runs wherever the device address says, and the
hashes the agent computed where it ran must equal the manifest's: the numbers always point at
the exact files that were shipped. The result is one report set (`kind: edgec-bench`) holding a
benchmark.json-style report per target; nothing is written by this module.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from edgec import __version__
from edgec.artifacts import read_json
from edgec.benchmarks import harness
from edgec.benchmarks.bench_inputs import prepare_inputs, specs_from_manifest
from edgec.benchmarks.devices import parse_device
from edgec.benchmarks.jobs import AgentJob, Log
from edgec.config import BenchmarkConfig
from edgec.errors import EdgecError
from edgec.manifest import BENCHMARK, MANIFEST

REPORT_KIND = "edgec-bench"


def find_bundles(path: Path) -> list[Path]:
    """`path` itself when it is a bundle, else its sub-folders that are."""
    path = Path(path)
    if not path.is_dir():
        raise EdgecError(f"{path}: bundle folder not found")
    if (path / MANIFEST).is_file():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_dir() and (p / MANIFEST).is_file())
    if not found:
        raise EdgecError(f"{path}: no {MANIFEST} here or in its sub-folders; is this an edgec bundle?")
    return found


def _checked_manifest(bundle: Path) -> dict:
    from edgec.runtime import verify_files

    data = read_json(bundle / MANIFEST, "bundle manifest")
    for key in ("files", "build", "inputs", "target"):
        if key not in data:
            raise EdgecError(f"{bundle / MANIFEST}: key '{key}' is missing")
    verify_files(bundle, data)
    return data


def target_block(manifest: dict) -> dict:
    target = manifest["target"]
    keys = ("name", "backend", "backend_version", "precision")
    return {k: target.get(k) for k in keys}


def bench_bundle(bundle: Path, executor, settings: BenchmarkConfig, *, data: Path | None, work: Path,
                 log: Log) -> dict:  # fmt: skip
    manifest = _checked_manifest(bundle)
    files = [f for f in manifest["files"] if f["path"] != BENCHMARK]
    specs = specs_from_manifest(manifest)
    inputs_npz = work / f"{bundle.name}-inputs.npz"
    inputs = prepare_inputs(specs, data, inputs_npz, where=f"{bundle / MANIFEST}")
    build = manifest["build"]
    agent_settings = harness.agent_settings(settings, build.get("runtime_options") or {})
    job = AgentJob(bundle=bundle, files=[f["path"] for f in files], engine=build["engine"], backend=build["runner"],
                   inputs_npz=inputs_npz, input_names=[s.name for s in specs], settings=agent_settings,
                   label=bundle.name)  # fmt: skip
    raw = harness.run_repeated(executor, job, settings.repeats, log)
    expected = {f["path"]: f["sha256"] for f in files}
    if raw["measured_files"] != expected:
        wrong = sorted(p for p in expected if raw["measured_files"].get(p) != expected[p])
        raise EdgecError(f"{bundle}: the device measured different bytes than the manifest lists ({', '.join(wrong)})")
    report = harness.make_report(raw, files, inputs, agent_settings)
    report["target"] = target_block(manifest)
    report["quality"] = manifest.get("quality")
    report["device"] = {**executor.address.describe(), **raw.get("connection", {})}
    return report


def bench(path: str | Path, *, device: str | None = None, data: str | Path | None = None,
          settings: BenchmarkConfig | None = None, log: Log = print) -> dict:  # fmt: skip
    """Measure every bundle at `path` and return the report set (see docs/benchmarking.md)."""
    address = parse_device(device)  # a wrong address fails before any work
    bundles = find_bundles(Path(path))
    data_path = Path(data) if data is not None else None
    if data_path is not None and not data_path.is_file():
        raise EdgecError(f"--inputs {data_path}: file not found")
    settings = settings or BenchmarkConfig()
    executor = harness.make_executor(address)
    reports = []
    with tempfile.TemporaryDirectory(prefix="edgec-bench-") as work:
        for bundle in bundles:
            reports.append(bench_bundle(bundle, executor, settings, data=data_path, work=Path(work), log=log))
            log(f"{bundle.name}: p50 {reports[-1]['summary']['p50_ms']:.3f} ms")
    return {
        "schema_version": harness.SCHEMA_VERSION,
        "kind": REPORT_KIND,
        "edgec_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": address.describe(),
        "reports": reports,
    }


def load_reports(path: str | Path) -> list[dict]:
    """Per-target reports from a report set, a single benchmark.json, or a bundle/output folder."""
    path = Path(path)
    if path.is_dir():
        found = [b / BENCHMARK for b in find_bundles(path) if (b / BENCHMARK).is_file()]
        if not found:
            raise EdgecError(f"{path}: no {BENCHMARK} in its bundle(s); run `edgec build` with benchmarking on")
        return [read_json(p, "benchmark report") for p in found]
    data = read_json(path, "benchmark report")
    if not isinstance(data, dict):
        raise EdgecError(f"{path}: expected a JSON object")
    if data.get("kind") == REPORT_KIND:
        return list(data.get("reports", []))
    if "samples_ms" in data and "summary" in data:
        return [data]
    raise EdgecError(f"{path}: neither an edgec bench report nor a benchmark.json")


def write_reports(report_set: dict, *, json_path: Path | None = None, markdown_path: Path | None = None,
                  html_path: Path | None = None) -> list[Path]:  # fmt: skip
    """Write the requested report files, each atomically, only after every measurement succeeded."""
    from edgec.artifacts import atomic_write_json, atomic_write_text
    from edgec.benchmarks.report_html import render_html
    from edgec.benchmarks.report_markdown import render_markdown

    rendered = []
    if json_path is not None:
        rendered.append((Path(json_path), None))
    if markdown_path is not None:
        rendered.append((Path(markdown_path), render_markdown(report_set)))
    if html_path is not None:
        rendered.append((Path(html_path), render_html(report_set)))
    written = []
    for path, text in rendered:  # everything is rendered before the first file is written
        written.append(atomic_write_json(path, report_set) if text is None else atomic_write_text(path, text))
    return written
