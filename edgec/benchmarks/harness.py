"""Runs the measurement agent on an engine and turns its raw samples into benchmark.json.

The agent runs in a fresh process, so load time, first inference and peak memory belong to the
engine alone and not to whatever edgec did before (training, quantizing). Where it runs is the
executor's business: this machine (`LocalExecutor`), a device over SSH (`SshExecutor`) or adb
(`AdbExecutor`); all three run the same agent file on the same staged inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from edgec.benchmarks import agent, stats
from edgec.benchmarks.devices import LOCAL, DeviceAddress
from edgec.benchmarks.jobs import AGENT_PATH, AgentJob, Log, stream_agent
from edgec.config import BenchmarkConfig
from edgec.errors import EdgecError

# 2: confidence intervals include process-to-process variation (stats.percentile_ci), `ci_method`
SCHEMA_VERSION = 2
__all__ = ["AGENT_PATH", "SCHEMA_VERSION", "LocalExecutor", "make_executor", "make_report", "pool_runs", "run_local"]


def parse_agent_output(stdout: str, stderr: str, where: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith(agent.RESULT_MARKER):
            return json.loads(line[len(agent.RESULT_MARKER) :])
    tail = "\n".join((stderr or stdout).strip().splitlines()[-8:])
    raise EdgecError(f"benchmark on {where} failed:\n{tail}")


def agent_settings(settings: BenchmarkConfig, runner_options: dict) -> dict:
    loop = settings.model_dump(exclude={"enabled", "threads", "device"})
    options = dict(runner_options)
    if settings.threads:
        options["threads"] = settings.threads
    return {**loop, "runner_options": options}


def run_local(engine: Path, backend: str, inputs_npz: Path, settings: dict, timeout_s: float = 900) -> dict:
    """One engine file measured on this machine (used for references that are not bundles)."""
    cmd = [
        sys.executable, str(AGENT_PATH), "--engine", str(engine), "--backend", backend,
        "--inputs", str(inputs_npz), "--settings", json.dumps(settings), "--hash", str(engine),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EdgecError(f"benchmark of {engine.name} took longer than {timeout_s:.0f} s") from exc
    return parse_agent_output(done.stdout, done.stderr, "this machine")


class LocalExecutor:
    """The agent in a subprocess of this machine's Python, reading the bundle in place."""

    address = LOCAL

    def run(self, job: AgentJob, log: Log) -> dict:
        outcome = stream_agent(job.agent_args("", sys.executable), timeout_s=job.timeout_s, log=log, label=job.label)
        if outcome.returncode != 0 or outcome.result is None:
            raise EdgecError(f"benchmark of {job.label} on this machine failed:\n{outcome.tail()}")
        outcome.result["measured_files"] = job.relative_hashes(outcome.result["measured_files"], "")
        return outcome.result


def make_executor(address: DeviceAddress):
    if address.transport == "ssh":
        from edgec.benchmarks.ssh_executor import SshExecutor

        return SshExecutor(address)
    if address.transport == "adb":
        from edgec.benchmarks.adb_executor import AdbExecutor

        return AdbExecutor(address)
    return LocalExecutor()


def run_repeated(executor, job: AgentJob, repeats: int, log: Log) -> dict:
    """`repeats` fresh agent processes, one after the other; their samples pooled in order."""
    return pool_runs([executor.run(job, log) for _ in range(max(1, repeats))], job.label)


def pool_runs(raws: list[dict], label: str) -> dict:
    """Several agent runs of one engine as one raw result: samples pooled in order, run lengths kept."""
    if len(raws) == 1:
        return raws[0]
    merged = dict(raws[0])  # load, first inference, environment: of the first run; all in `runs`
    merged["samples_ms"] = [s for raw in raws for s in raw["samples_ms"]]
    merged["run_lengths"] = [len(raw["samples_ms"]) for raw in raws]
    merged["peak_rss_bytes"] = max((raw["peak_rss_bytes"] or 0) for raw in raws) or None
    engine = [raw.get("engine_samples_ms") for raw in raws]
    merged["engine_samples_ms"] = [s for e in engine for s in e] if all(engine) else None
    merged["runs"] = [{"samples": len(r["samples_ms"]), "p50_ms": float(np.percentile(r["samples_ms"], 50)),
                       "load_ms": r["load_ms"], "first_inference_ms": r["first_inference_ms"]} for r in raws]  # fmt: skip
    for raw in raws[1:]:
        if raw["measured_files"] != raws[0]["measured_files"]:
            raise EdgecError(f"{label}: the measured files changed between repeats")
    return merged


def make_report(raw: dict, files: list[dict], inputs: dict, settings: dict) -> dict:
    """benchmark.json: raw samples first-class, the summary derived from them."""
    run_lengths = raw.get("run_lengths")
    summary = stats.summarize(raw["samples_ms"], run_lengths, float(settings.get("drift_pct") or 0.0))
    return {
        "schema_version": SCHEMA_VERSION,
        "files": [{"path": f["path"], "sha256": f["sha256"]} for f in files],
        "environment": raw["environment"],
        "inputs": inputs,
        "settings": settings,
        "threads": raw.get("threads"),
        "samples_ms": raw["samples_ms"],
        "warmup": raw["warmup"],
        "load_ms": raw["load_ms"],
        "first_inference_ms": raw["first_inference_ms"],
        "peak_rss_bytes": raw["peak_rss_bytes"],
        "run_lengths": run_lengths,  # samples per agent process, in order (null: one process)
        "runs": raw.get("runs"),
        "summary": summary,
        "warnings": stats.warnings_for(summary),
        # The backend's own timing of the same inferences, where it reports one (OpenVINO): the
        # figure its own tools print; `samples_ms` (wall clock around the call) stays the headline.
        "engine_samples_ms": raw.get("engine_samples_ms"),
        "engine_summary": stats.summarize(raw["engine_samples_ms"]) if raw.get("engine_samples_ms") else None,
    }
