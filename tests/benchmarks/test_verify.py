"""`edgec verify` on a real bundle: a fresh report passes; doctored copies fail with exit 1."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgec.benchmarks.verify import reproduced, verify_report
from tests.benchmarks.gate_fixtures import (
    read_report,
    run_cli,
    with_samples,
    write_report,
)

# The shared fixtures (built_output) live in a plugin module, not a conftest.
pytest_plugins = ["tests.benchmarks.gate_plugin"]


@pytest.fixture
def bundle(built_output, tmp_path):
    folder = tmp_path / "host-cpu"
    shutil.copytree(built_output / "host-cpu", folder)
    return folder


def test_fresh_report_verifies(capsys, built_output):
    code, out, err = run_cli(capsys, "verify", built_output / "host-cpu" / "benchmark.json")
    assert code == 0, out + err
    assert "ok files" in out and "ok summary" in out and "ok rerun" in out and "reproduced" in out


def test_edited_p50_fails(capsys, built_output, tmp_path):
    report = read_report(built_output / "host-cpu" / "benchmark.json")
    report["summary"]["p50_ms"] *= 0.8
    copy = write_report(tmp_path / "report.json", report)
    code, out, err = run_cli(capsys, "verify", copy, "--bundle", built_output / "host-cpu")
    assert code == 1
    assert "summary does not match the samples: p50_ms" in out + err and "Traceback" not in err


def test_edited_sample_fails(capsys, bundle):
    path = bundle / "benchmark.json"
    report = read_report(path)
    report["samples_ms"][0] *= 0.5
    write_report(path, report)
    code, out, err = run_cli(capsys, "verify", path, "--no-rerun")
    assert code == 1
    text = out + err
    assert "summary does not match the samples" in text
    # Edited in place, the report no longer matches the manifest's hash of it either.
    assert "benchmark.json: sha256 differs" in text


def test_swapped_engine_fails(capsys, bundle, tiny_model):
    engine = json.loads((bundle / "manifest.json").read_text())["build"]["engine"]
    shutil.copyfile(tiny_model.onnx, bundle / engine)  # the float model, in place of the INT8 engine
    code, out, err = run_cli(capsys, "verify", bundle / "benchmark.json", "--no-rerun")
    assert code == 1
    assert f"{engine}: sha256 differs" in out + err and "altered or swapped" in out + err


def test_consistently_forged_samples_are_caught_by_the_rerun(bundle, tmp_path):
    """Every sample scaled by 0.4 and the summary recomputed: the hashes of the engine and the
    summary hold, so only measuring again shows the engine is not that fast."""
    report = read_report(bundle / "benchmark.json")
    forged = write_report(tmp_path / "forged.json", with_samples(report, np.asarray(report["samples_ms"]) * 0.4))
    result = verify_report(forged, bundle)
    verdicts = {f.check: f.ok for f in result.findings}
    assert verdicts["summary"] and verdicts["files"]
    assert not verdicts["rerun"] and not result.passed


def test_reproduced_band():
    reported = {"p50_ms": 1.0, "ci95_p50_ms": [0.98, 1.02]}
    assert reproduced(reported, {"p50_ms": 1.4, "ci95_p50_ms": [1.38, 1.42]}, 0.5)
    assert not reproduced(reported, {"p50_ms": 1.6, "ci95_p50_ms": [1.58, 1.62]}, 0.5)
    assert not reproduced(reported, {"p50_ms": 0.6, "ci95_p50_ms": [0.6, 0.64]}, 0.5)
    assert not reproduced(reported, {"p50_ms": 1.1, "ci95_p50_ms": [1.08, 1.12]}, 0.05)


def test_path_outside_bundle_is_refused(capsys, bundle):
    report = read_report(bundle / "benchmark.json")
    report["files"][0]["path"] = "../../etc/passwd"
    path = write_report(bundle / "evil.json", report)
    code, _, err = run_cli(capsys, "verify", path, "--no-rerun")
    assert code == 2
    assert "points outside" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "benchmark report is not valid JSON"),
        ('{"samples_ms": []}', "key 'samples_ms' is missing or empty"),
        ('{"samples_ms": [1.0, "x"]}', "samples_ms[1] is 'x'"),
    ],
)
def test_bad_report_is_exit_2(capsys, tmp_path, content, message):
    path = tmp_path / "benchmark.json"
    path.write_text(content)
    code, _, err = run_cli(capsys, "verify", path)
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_report_and_bundle_are_exit_2(capsys, built_output, tmp_path):
    code, _, err = run_cli(capsys, "verify", tmp_path / "nope.json")
    assert code == 2 and "nope.json: benchmark report not found" in err
    code, _, err = run_cli(capsys, "verify", built_output / "host-cpu" / "benchmark.json", "--bundle", tmp_path / "x")
    assert code == 2 and "bundle folder not found" in err
