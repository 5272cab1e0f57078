"""Fixtures and helpers shared by the gate and verify tests: real bundles, real measurements.

Imported by the test modules (not a conftest, so that another branch's conftest in this folder
merges cleanly).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from edgec.artifacts import file_entries
from edgec.benchmarks import harness

# Small but real: enough samples for the statistics (a tiny engine gives thousands in 0.5 s).
FAST_BENCH = {"warmup_runs": 10, "warmup_seconds": 0.2, "min_runs": 200, "min_seconds": 0.5}
# One thread: on a 2-core machine shared with other jobs, a second ORT thread mostly measures
# the neighbours.
AGENT_SETTINGS = {**FAST_BENCH, "runner_options": {"threads": 1}}

CONFIG = """\
name: tiny
model: {model}
calibration:
  data: {calibration}
  samples: 64
quantize:
  eval_data: {eval}
  max_drop: 100
targets:
  - name: host-cpu
    precision: int8
benchmark:
  warmup_runs: 10
  warmup_seconds: 0.2
  min_runs: 200
  min_seconds: 0.5
  threads: 1
"""


@pytest.fixture(scope="session")
def built_output(tiny_model, tmp_path_factory) -> Path:
    """An output folder with one real bundle (`host-cpu`, INT8, benchmarked) built by the pipeline."""
    from edgec.config import load_config
    from edgec.pipeline import build

    folder = tmp_path_factory.mktemp("gate-build")
    config = folder / "edgec.yaml"
    config.write_text(CONFIG.format(model=tiny_model.onnx, calibration=tiny_model.calibration, eval=tiny_model.eval))
    out = folder / "out"
    build(load_config(config), out, log=lambda _msg: None)
    return out


def read_report(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def write_report(path: Path, report: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path


def with_samples(report: dict, samples) -> dict:
    """A copy of a real report carrying other samples (summary recomputed, so it is consistent)."""
    from edgec.benchmarks import stats

    out = copy.deepcopy(report)
    out["samples_ms"] = [float(x) for x in samples]
    out["summary"] = stats.summarize(out["samples_ms"])
    return out


def random_inputs(path: Path, shape=(16, 1, 8, 8)) -> Path:
    np.savez(path, input=np.random.default_rng(0).random(shape).astype(np.float32))
    return path


def measure_interleaved(engines: list[Path], inputs: Path, rounds: int, settings: dict | None = None) -> list[dict]:
    """Measure several engines A B A B ... in fresh processes and pool each one's samples, so
    that drift of the machine (other jobs, frequency) hits every engine alike."""
    settings = settings or AGENT_SETTINGS
    pooled: list[dict | None] = [None] * len(engines)
    for _ in range(rounds):
        for i, engine in enumerate(engines):
            raw = harness.run_local(engine, "onnxruntime", inputs, settings)
            if pooled[i] is None:
                pooled[i] = raw
            else:
                pooled[i]["samples_ms"] += raw["samples_ms"]
    reports = []
    for engine, raw in zip(engines, pooled, strict=True):
        files = file_entries(engine.parent)
        reports.append(harness.make_report(raw, files, {"source": "random", "batch": 1}, settings))
    return reports


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """The real CLI entry point in-process: (exit code, stdout, stderr)."""
    from edgec.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every table a GitHub-flavoured Markdown renderer finds in `text`: rows of cell texts."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables, row = [], None
    for tok in tokens:
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and row is not None:
            row.append(tok.content)
        elif tok.type == "tr_close":
            tables[-1].append(row)
            row = None
    return tables


def junit_schema():
    import xmlschema

    return xmlschema.XMLSchema(str(Path(__file__).parent.parent / "data" / "junit.xsd"))
