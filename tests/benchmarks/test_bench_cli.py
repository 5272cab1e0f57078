"""`edgec bench` on this machine: real engines, every report format, and the bad-input paths."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgec.benchmarks.bench import load_reports
from edgec.benchmarks.stats import summarize
from tests.test_cli_smoke import run_cli

QUICK = ("--min-runs", "40", "--min-seconds", "0.2")
BENCHMARK_KEYS = {
    "schema_version", "files", "environment", "inputs", "samples_ms", "warmup", "load_ms",
    "first_inference_ms", "peak_rss_bytes", "summary",
}  # fmt: skip
SUMMARY_KEYS = {
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "cv",
    "ci95_p50_ms", "ci95_p90_ms", "throughput_per_s",
}  # fmt: skip


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, bundles):
    """One local `edgec bench` over both bundles, every report written."""
    import contextlib
    import io

    from edgec.cli import main

    folder = tmp_path_factory.mktemp("local-run")
    paths = {k: folder / f"report.{k}" for k in ("json", "md", "html")}
    with contextlib.redirect_stdout(io.StringIO()) as out, pytest.raises(SystemExit) as done:
        main(["bench", str(bundles), "--json", str(paths["json"]), "--markdown", str(paths["md"]),
              "--html", str(paths["html"]), *QUICK])  # fmt: skip
        raise SystemExit(0)
    assert done.value.code == 0
    return paths, out.getvalue()


def test_local_report_has_the_contract_keys(local_run, bundles):
    paths, stdout = local_run
    data = json.loads(paths["json"].read_text())
    assert data["kind"] == "edgec-bench" and data["schema_version"] == 2
    assert [r["target"]["name"] for r in data["reports"]] == ["host-cpu", "host-openvino"]
    for report in data["reports"]:
        assert BENCHMARK_KEYS <= set(report) and SUMMARY_KEYS <= set(report["summary"])
        assert len(report["samples_ms"]) >= 40 and report["summary"]["count"] == len(report["samples_ms"])
        assert report["warmup"]["count"] >= 10 and report["load_ms"] > 0 and report["first_inference_ms"] > 0
        assert report["peak_rss_bytes"] > 10 << 20
        assert report["inputs"]["source"] == "random" and report["inputs"]["shapes"] == {"input": [1, 1, 8, 8]}
        assert report["environment"]["cpu_count"] >= 1 and report["threads"]["requested"] is None
        lo, hi = report["summary"]["ci95_p50_ms"]
        assert lo <= report["summary"]["p50_ms"] <= hi
    assert data["reports"][1]["threads"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert data["reports"][0]["quality"]["metric"] == "top1"
    assert load_reports(paths["json"]) == data["reports"]
    assert "host-openvino" in stdout


def test_markdown_is_a_table_with_every_target(local_run):
    text = local_run[0]["md"].read_text()
    rows = [line for line in text.splitlines() if line.startswith("| host-")]
    assert len(rows) == 2 and all(row.count("|") == 15 for row in rows)
    assert "Environment:" in text and "sha256" in text


def test_html_is_self_contained(local_run):
    text = local_run[0]["html"].read_text()
    assert text.count("<svg") == 2 and "<script" not in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text


def test_user_inputs_are_used_and_named(capsys, bundles, tiny_model, tmp_path):
    out = tmp_path / "r.json"
    code, _, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--inputs", str(tiny_model.eval),
                           "--json", str(out), "--threads", "1", "--repeats", "2", *QUICK)  # fmt: skip
    assert code == 0, err
    report = json.loads(out.read_text())["reports"][0]
    assert report["inputs"]["source"] == "user data" and report["inputs"]["file"] == "eval.npz"
    assert report["inputs"]["samples"] == 64
    assert report["threads"] == {"requested": 1, "intra_op": 1}
    # Two fresh processes, samples pooled in order; the interval accounts for both.
    assert len(report["runs"]) == 2 and sum(report["run_lengths"]) == len(report["samples_ms"])
    assert report["summary"] == summarize(report["samples_ms"], report["run_lengths"], report["summary"]["drift_pct"])


def test_build_benchmarks_as_its_last_stage_and_can_skip_it(capsys, tiny_model, write_config, tmp_path):
    config = write_config(
        f"model: {tiny_model.onnx}\ntargets: [{{name: host-cpu, precision: fp32}}]\n"
        "benchmark: {min_runs: 20, min_seconds: 0.1, warmup_seconds: 0.05}\n"
    )
    code, _, err = run_cli(capsys, "build", str(config), "--out", str(tmp_path / "a"))
    assert code == 0, err
    report = json.loads((tmp_path / "a" / "host-cpu" / "benchmark.json").read_text())
    assert BENCHMARK_KEYS <= set(report) and report["inputs"]["source"] == "random"  # no calibration data given
    assert report["target"]["name"] == "host-cpu" and len(report["samples_ms"]) >= 20
    code, _, err = run_cli(capsys, "build", str(config), "--out", str(tmp_path / "b"), "--no-bench")
    assert code == 0, err
    assert not (tmp_path / "b" / "host-cpu" / "benchmark.json").exists()


def test_bundle_with_a_missing_file_is_exit_2(capsys, bundles, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bundles / "host-openvino", broken)
    (broken / "model.bin").unlink()
    code, _, err = run_cli(capsys, "bench", str(broken), "--json", str(tmp_path / "r.json"))
    assert code == 2 and "model.bin" in err and "missing" in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()


def test_altered_engine_is_exit_2(capsys, bundles, tmp_path):
    altered = tmp_path / "altered"
    shutil.copytree(bundles / "host-cpu", altered)
    with open(altered / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    code, _, err = run_cli(capsys, "bench", str(altered))
    assert code == 2 and "model.onnx" in err and "does not match its manifest hash" in err


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("ftp://host", "unknown kind of address"),
        ("ssh://", "host '' is not a valid name"),
        ("ssh://user@host:99999", "is not a number from 1 to 65535"),
        ("ssh://-oProxyCommand=x", "is not a valid name"),
        ("ssh://host?pyhton=/x", "unknown option 'pyhton'"),
        ("ssh://user:secret@host", "passwords do not go in the address"),
        ("adb://", "serial '' is not a valid name"),
    ],
)
def test_wrong_device_address_is_exit_2(capsys, bundles, address, expected):
    code, _, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--device", address)
    assert code == 2 and expected in err and "Traceback" not in err


def test_not_a_bundle_and_wrong_inputs_are_exit_2(capsys, bundles, tmp_path):
    code, _, err = run_cli(capsys, "bench", str(tmp_path))
    assert code == 2 and "no manifest.json" in err
    code, _, err = run_cli(capsys, "bench", str(tmp_path / "nowhere"))
    assert code == 2 and "bundle folder not found" in err
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, pixels=np.zeros((4, 1, 8, 8), np.float32))
    code, _, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--inputs", str(wrong))
    assert code == 2 and "missing input 'input'" in err and "wrong.npz" in err
