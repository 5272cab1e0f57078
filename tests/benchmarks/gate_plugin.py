"""The gate and verify tests' shared fixture, loaded with `pytest_plugins` (not a conftest, so
that another branch's conftest in this folder merges cleanly)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
