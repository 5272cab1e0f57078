"""The gate's statistical acceptance test, with real ONNX Runtime engines on this machine.

- An unchanged model measured twice passes, in every one of 5 trials (no false alarm).
- A build made slower — the same network with more channels, measured 1.3-1.4x slower here
  (the test checks it is at least 15 % slower) — fails at the default 10 % threshold.

Baseline and current are measured interleaved in one process (`edgec gate --remeasure`), the
way BENCHMARKING.md asks comparisons to be made: this machine's 2 cores are shared with other
jobs, and separate runs of one engine were seen to differ by up to 47 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgec.benchmarks import gate as gating
from edgec.benchmarks.gate_config import GatesConfig
from edgec.benchmarks.gate_inputs import load_side
from tests.benchmarks.gate_fixtures import junit_schema, markdown_tables, run_cli

ROUNDS = 10
TRIALS = 5
BUILD = """\
name: {name}
model: {model}
calibration:
  data: {calibration}
  samples: 16
targets:
  - name: host-cpu
    precision: fp32
benchmark:
  warmup_runs: 10
  warmup_seconds: 0.2
  min_runs: 200
  min_seconds: 0.5
  threads: 1
"""
# The tiny model is ConvNet((8, 16, 16, 32)); these are the same family, wider.
# (MLAS kernels step at multiples of 8/16 channels, so "slower" is measured, not assumed.)
SLOWER = {"wider": (8, 20, 20, 32)}


def _bundle(folder: Path, name: str, model: Path, calibration: Path) -> Path:
    from edgec.config import load_config
    from edgec.pipeline import build

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "edgec.yaml"
    config.write_text(BUILD.format(name=name, model=model, calibration=calibration))
    (result,) = build(load_config(config), folder / "out", log=lambda _msg: None)
    return result.path


@pytest.fixture(scope="module")
def bundles(tiny_model, tmp_path_factory) -> dict[str, Path]:
    import torch

    from edgec.compile.export import export_onnx
    from edgec.distill.models import ConvNet

    root = tmp_path_factory.mktemp("acceptance")
    made = {"tiny": _bundle(root / "tiny", "tiny", tiny_model.onnx, tiny_model.calibration)}
    for name, widths in SLOWER.items():
        torch.manual_seed(0)
        onnx = export_onnx(ConvNet(widths).eval(), torch.from_numpy(tiny_model.test_x[:2]), root / f"{name}.onnx")
        made[name] = _bundle(root / name, name, onnx, tiny_model.calibration)
    return made


def _gate(baseline: Path, current: Path) -> tuple[gating.GateResult, float]:
    """The gate with both bundles re-measured interleaved; also returns the measured ratio."""
    base, cur = load_side(baseline, "baseline"), load_side(current, "current")
    result = gating.evaluate(base, cur, GatesConfig(), remeasure_rounds=ROUNDS)
    ratio = np.median(cur["host-cpu"].samples) / np.median(base["host-cpu"].samples)
    return result, float(ratio)


def test_unchanged_model_never_fails(bundles):
    ratios = []
    for _ in range(TRIALS):
        result, ratio = _gate(bundles["tiny"], bundles["tiny"])
        ratios.append(ratio)
        (check,) = [c for c in result.checks if c.budget == "max_slowdown_pct"]
        assert check.verdict == gating.PASS, f"false alarm: {check.detail}"
        assert any("interleaved" in note for note in result.notes)
    # Interleaving keeps an A/A ratio near 1 on a busy machine, but not at 1: two sessions of
    # one engine in one process still differed by up to ~6 % here (memory layout, timing of
    # neighbours), with p-values far below 0.001 at these sample counts. A bare significance
    # test would alarm; the threshold on the ratio's confidence bound is what keeps it quiet.
    print("A/A median ratios:", [round(r, 4) for r in ratios])
    assert max(abs(r - 1) for r in ratios) < 0.10, ratios


@pytest.mark.parametrize("name", sorted(SLOWER))
def test_slower_build_fails(bundles, name):
    result, ratio = _gate(bundles["tiny"], bundles[name])
    print(f"{name}: measured {ratio:.3f}x")
    assert ratio >= 1.15, f"{name} was meant to be at least 15 % slower, measured {ratio:.3f}x"
    (check,) = [c for c in result.checks if c.budget == "max_slowdown_pct"]
    assert check.verdict == gating.FAIL, check.detail
    assert "over the threshold and significant" in check.detail


def test_ci_flow_stored_baseline_remeasured(capsys, bundles, tmp_path):
    """The example workflow's path: main stores its bundle; a pull request re-measures both."""
    store, junit, summary = tmp_path / "store", tmp_path / "gate.xml", tmp_path / "summary.md"
    code, _, err = run_cli(capsys, "gate", "--save-baseline", "--current", bundles["tiny"].parent,
                           "--branch", "main", "--store", store)  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(capsys, "gate", "--baseline-branch", "main", "--store", store,
                             "--current", bundles["wider"].parent, "--remeasure", ROUNDS,
                             "--junit", junit, "--summary", summary)  # fmt: skip
    assert code == 1, out + err
    assert "median latency vs baseline" in err and "Traceback" not in err
    junit_schema().validate(str(junit))
    (table,) = markdown_tables(summary.read_text())
    (row,) = [r for r in table if r[1] == "median latency vs baseline"]
    assert row[5] == "❌ fail" and row[4] == "≤ +10 % (significant)"
