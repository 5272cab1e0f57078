"""`edgec gate` on a real bundle: budgets, verdicts, exit codes, JUnit XML, Markdown, baselines."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edgec.benchmarks import gate as gating
from edgec.benchmarks.gate_config import GatesConfig
from edgec.benchmarks.junit import to_junit_xml, to_markdown
from tests.benchmarks.gate_fixtures import (
    junit_schema,
    markdown_tables,
    read_report,
    run_cli,
    with_samples,
    write_report,
)

# The shared fixtures (built_output) live in a plugin module, not a conftest.
pytest_plugins = ["tests.benchmarks.gate_plugin"]


@pytest.fixture
def bundle_copy(built_output, tmp_path):
    """A private copy of the output folder, free to edit."""
    out = tmp_path / "current"
    shutil.copytree(built_output, out)
    return out


def _config(write_config, gates: str):
    return write_config("name: x\n" + gates)


def _cases(junit_path):
    root = ET.parse(junit_path).getroot()
    return {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}


def test_same_build_passes_with_valid_junit_and_markdown(capsys, built_output, tmp_path, write_config):
    config = _config(
        write_config, "gates:\n  targets:\n    host-cpu:\n      max_p90_ms: 1000\n      min_accuracy: 10\n"
    )
    junit, summary = tmp_path / "gate.xml", tmp_path / "summary.md"
    summary.write_text("earlier step output\n")
    code, out, err = run_cli(capsys, "gate", "--baseline", built_output, "--current", built_output,
                             "--config", config, "--junit", junit, "--summary", summary)  # fmt: skip
    assert code == 0, err
    assert "gate passed" in out
    junit_schema().validate(str(junit))
    cases = _cases(junit)
    assert set(cases) == {("edgec.gate.host-cpu", b) for b in ("max_p90_ms", "min_accuracy", "max_slowdown_pct")}
    assert all(len(c) == 1 and c[0].tag == "system-out" for c in cases.values())  # no failure, no skipped
    text = summary.read_text()
    assert text.startswith("earlier step output\n")  # appended, as $GITHUB_STEP_SUMMARY expects
    (table,) = markdown_tables(text)
    assert table[0] == ["Target", "Check", "Baseline", "Current", "Threshold", "Verdict"]
    assert len(table) == 1 + 3 and all(len(row) == 6 for row in table)
    slowdown = next(r for r in table if r[1] == "median latency vs baseline")
    assert slowdown[4] == "≤ +10 % (significant)" and slowdown[5] == "✅ pass"
    assert "(+0.0 %" in slowdown[3]


def test_absolute_budgets_fail_with_numbers(capsys, built_output, tmp_path, write_config):
    config = _config(write_config, (
        "gates:\n  default:\n    max_slowdown_pct: null\n  targets:\n    host-cpu:\n"
        "      max_p50_ms: 0.000001\n      max_peak_memory_mb: 100000\n      max_model_size_mb: 0.0001\n"
        "      min_accuracy: 101\n      min_fidelity: 0.5\n"
    ))  # fmt: skip
    junit, summary = tmp_path / "gate.xml", tmp_path / "summary.md"
    code, _, err = run_cli(capsys, "gate", "--current", built_output / "host-cpu" / "benchmark.json",
                           "--config", config, "--junit", junit, "--summary", summary)  # fmt: skip
    assert code == 1
    assert "3 of 5 gate check(s) failed" in err and "Traceback" not in err
    junit_schema().validate(str(junit))
    cases = _cases(junit)
    failed = {name for (_, name), case in cases.items() if case.find("failure") is not None}
    assert failed == {"max_p50_ms", "max_model_size_mb", "min_accuracy"}
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "5" and root.get("failures") == "3"
    (table,) = markdown_tables(summary.read_text())
    rows = {r[1]: r for r in table[1:]}
    assert rows["p50 latency"][4] == "≤ 1e-06 ms" and rows["p50 latency"][5] == "❌ fail"
    assert rows["model size"][3].endswith(" MB") and rows["model size"][5] == "❌ fail"
    assert rows["peak memory"][5] == "✅ pass"
    assert rows["top-1 agreement with float"][5] == "✅ pass"


def test_accuracy_drop_against_baseline(built_output, bundle_copy):
    manifest_path = bundle_copy / "host-cpu" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["quality"]["quantized"] -= 5.0
    manifest_path.write_text(json.dumps(manifest))
    gates = GatesConfig.model_validate({"default": {"max_accuracy_drop": 1.0}})
    result = gating.run_gate(built_output, bundle_copy, gates)
    (drop,) = [c for c in result.checks if c.budget == "max_accuracy_drop"]
    assert drop.verdict == gating.FAIL and "-5.00 points" in drop.detail
    assert not result.passed


def test_slowdown_speedup_and_noise_on_real_samples(built_output, tmp_path):
    """The real engine's samples, scaled: 30 % slower fails, 30 % faster and a resample pass."""
    report = read_report(built_output / "host-cpu" / "benchmark.json")
    samples = np.asarray(report["samples_ms"])
    rng = np.random.default_rng(1)
    base = write_report(tmp_path / "base" / "benchmark.json", report)
    verdicts = {}
    for label, cur in (("slower", samples * 1.3), ("faster", samples * 0.7), ("noise", rng.permutation(samples))):
        path = write_report(tmp_path / label / "benchmark.json", with_samples(report, cur, summary=False))
        (check,) = gating.run_gate(base, path, GatesConfig()).checks
        verdicts[label] = check.verdict
    assert verdicts == {"slower": gating.FAIL, "faster": gating.PASS, "noise": gating.PASS}


def test_different_environment_is_not_compared_unless_allowed(built_output, tmp_path, write_config):
    report = read_report(built_output / "host-cpu" / "benchmark.json")
    base = write_report(tmp_path / "base" / "benchmark.json", report)
    other = with_samples(report, np.asarray(report["samples_ms"]) * 2, summary=False)
    other["environment"] = {**other["environment"], "cpu_model": "Some Other CPU", "cpu_count": 64}
    cur = write_report(tmp_path / "cur" / "benchmark.json", other)
    gates = GatesConfig.model_validate({"default": {"max_p90_ms": 1000}})
    result = gating.run_gate(base, cur, gates)
    checks = {c.budget: c for c in result.checks}
    assert checks["max_slowdown_pct"].verdict == gating.SKIP
    assert (
        "not comparable" in checks["max_slowdown_pct"].detail and "Some Other CPU" in checks["max_slowdown_pct"].detail
    )
    assert checks["max_p90_ms"].verdict == gating.PASS  # absolute budgets still apply
    assert result.passed and any("cpu_count" in n for n in result.notes)
    allowed = gating.run_gate(base, cur, gates, allow_different_env=True)
    assert {c.budget: c.verdict for c in allowed.checks}["max_slowdown_pct"] == gating.FAIL
    junit = to_junit_xml(result)
    junit_schema().validate(ET.fromstring(junit))
    assert b"<skipped" in junit


def test_target_missing_from_current_fails(built_output, tmp_path):
    fake = tmp_path / "baseline"
    shutil.copytree(built_output, fake)
    shutil.copytree(fake / "host-cpu", fake / "host-openvino")
    manifest = json.loads((fake / "host-openvino" / "manifest.json").read_text())
    manifest["target"]["name"] = "host-openvino"
    (fake / "host-openvino" / "manifest.json").write_text(json.dumps(manifest))
    result = gating.run_gate(fake, built_output, GatesConfig())
    missing = [c for c in result.checks if c.budget == "present"]
    assert [c.target for c in missing] == ["host-openvino"] and missing[0].verdict == gating.FAIL


def test_save_baseline_and_compare_with_branch(capsys, built_output, tmp_path):
    store = tmp_path / "store"
    code, out, err = run_cli(capsys, "gate", "--save-baseline", "--current", built_output,
                             "--branch", "feature/fast", "--store", store)  # fmt: skip
    assert code == 0, err
    folder = store / "feature%2Ffast"
    assert (folder / "host-cpu" / "benchmark.json").read_bytes() == (
        built_output / "host-cpu" / "benchmark.json"
    ).read_bytes()
    assert json.loads((folder / "baseline.json").read_text())["targets"] == ["host-cpu"]
    code, out, err = run_cli(capsys, "gate", "--baseline-branch", "feature/fast", "--store", store,
                             "--current", built_output)  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(capsys, "gate", "--baseline-branch", "main", "--store", store, "--current", built_output)
    assert code == 2 and "no baseline stored for branch 'main'" in err and "feature%2Ffast" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--save-baseline", "--current", "{out}"], "--save-baseline needs --branch"),
        (["--save-baseline", "--current", "{out}", "--branch", ".."], "not a usable branch name"),
        (["--current", "{tmp}/nothing-here"], "current not found"),
        (["--current", "{out}", "--baseline", "{tmp}/bad.json"], "bad.json: key 'samples_ms' is missing"),
        (["--current", "{out}", "--baseline", "{tmp}/broken.json"], "broken.json: baseline report is not valid JSON"),
        (["--current", "{tmp}"], "no bundle (manifest.json or benchmark.json)"),
        (["--current", "{out}", "--baseline", "{out}", "--baseline-branch", "main"], "not both"),
    ],
)
def test_bad_input_is_exit_2(capsys, built_output, tmp_path, args, message):
    (tmp_path / "bad.json").write_text('{"summary": {}}')
    (tmp_path / "broken.json").write_text("{not json")
    argv = [a.format(out=built_output, tmp=tmp_path) for a in args]
    code, _, err = run_cli(capsys, "gate", *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_gates_config_errors_name_the_key(capsys, built_output, write_config):
    config = write_config("gates:\n  targets:\n    host-cpu:\n      max_p90: 5\n      min_fidelity: 2\n")
    code, _, err = run_cli(capsys, "gate", "--current", built_output, "--config", config)
    assert code == 2
    assert "gates.targets.host-cpu.max_p90: unknown key" in err
    assert "gates.targets.host-cpu.min_fidelity: input should be less than or equal to 1" in err


def test_full_config_accepts_gates(tiny_model, write_config):
    from edgec.config import load_config

    path = write_config(
        f"model: {tiny_model.onnx}\ntargets: [{{name: host-cpu}}]\ngates:\n  default:\n    max_p90_ms: 3\n"
    )
    assert load_config(path).gates.budgets_for("host-cpu").max_p90_ms == 3


def test_markdown_cells_escape_pipes():
    check = gating.Check("a|b", "max_p90_ms", "p90 | latency", "—", "1 ms", "≤ 2 ms", gating.FAIL, "x | y\nz")
    text = to_markdown(gating.GateResult([check], ["note | with pipe"]))
    (table,) = markdown_tables(text)
    assert table[1] == ["a|b", "p90 | latency", "—", "1 ms", "≤ 2 ms", "❌ fail"]


def test_remeasure_with_an_engine_that_cannot_run_here_is_exit_2(capsys, built_output, bundle_copy):
    manifest_path = bundle_copy / "host-cpu" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["build"]["runner"] = "tensorrt"
    manifest_path.write_text(json.dumps(manifest))
    code, _, err = run_cli(capsys, "gate", "--baseline", built_output, "--current", bundle_copy, "--remeasure", 2)
    assert code == 2
    assert "cannot open its engine on this machine" in err and "tensorrt" in err and "Traceback" not in err
