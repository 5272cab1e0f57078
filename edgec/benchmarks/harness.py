"""Runs the measurement agent on an engine and turns its raw samples into benchmark.json.

The agent runs in a fresh process, so load time, first inference and peak memory belong to the
engine alone and not to whatever edgec did before (training, quantizing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edgec.benchmarks import agent, stats
from edgec.config import BenchmarkConfig
from edgec.errors import EdgecError

SCHEMA_VERSION = 1
AGENT_PATH = Path(agent.__file__)


def parse_agent_output(stdout: str, stderr: str, where: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith(agent.RESULT_MARKER):
            return json.loads(line[len(agent.RESULT_MARKER) :])
    tail = "\n".join((stderr or stdout).strip().splitlines()[-8:])
    raise EdgecError(f"benchmark on {where} failed:\n{tail}")


def agent_settings(settings: BenchmarkConfig, runner_options: dict) -> dict:
    loop = settings.model_dump(exclude={"enabled", "threads"})
    options = dict(runner_options)
    if settings.threads:
        options["threads"] = settings.threads
    return {**loop, "runner_options": options}


def run_local(engine: Path, backend: str, inputs_npz: Path, settings: dict, timeout_s: float = 900) -> dict:
    cmd = [
        sys.executable, str(AGENT_PATH), "--engine", str(engine), "--backend", backend,
        "--inputs", str(inputs_npz), "--settings", json.dumps(settings),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EdgecError(f"benchmark of {engine.name} took longer than {timeout_s:.0f} s") from exc
    return parse_agent_output(done.stdout, done.stderr, "this machine")


def make_report(raw: dict, files: list[dict], inputs: dict, settings: dict) -> dict:
    """benchmark.json: raw samples first-class, the summary derived from them."""
    summary = stats.summarize(raw["samples_ms"])
    return {
        "schema_version": SCHEMA_VERSION,
        "files": [{"path": f["path"], "sha256": f["sha256"]} for f in files],
        "environment": raw["environment"],
        "inputs": inputs,
        "settings": settings,
        "samples_ms": raw["samples_ms"],
        "warmup": raw["warmup"],
        "load_ms": raw["load_ms"],
        "first_inference_ms": raw["first_inference_ms"],
        "peak_rss_bytes": raw["peak_rss_bytes"],
        "summary": summary,
        "warnings": stats.warnings_for(summary),
    }
