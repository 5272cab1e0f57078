"""The embedded default end to end, and what a killed run leaves behind."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgec.artifacts import TMP_PREFIX, sha256_file
from edgec.config import BenchmarkConfig
from edgec.demo import DemoSettings, run_demo
from edgec.runtime import verify_files
from edgec.stages import STAGE_FILE

QUICK_BENCH = BenchmarkConfig(warmup_runs=5, warmup_seconds=0.05, min_runs=50, min_seconds=0.2)


@pytest.mark.slow
def test_demo_meets_the_acceptance_numbers(tmp_path):
    result = run_demo(tmp_path, DemoSettings(benchmark=QUICK_BENCH), log=lambda _m: None)
    prov = result.provenance
    assert prov["student_params"] <= prov["teacher_params"] / 4
    teacher_acc = prov["teacher_metric"]["top1"]
    student_acc = result.references["student fp32"]["accuracy"]
    assert student_acc >= 0.97 * teacher_acc
    assert {b.target for b in result.bundles} == {"host-cpu", "host-openvino"}
    for bundle in result.bundles:
        assert bundle.precision == "int8"
        assert bundle.accuracy >= student_acc - 1.0, bundle.target  # the engine as built
        manifest = json.loads((bundle.path / "manifest.json").read_text())
        listed = {f["path"]: f for f in manifest["files"]}
        on_disk = {p.relative_to(bundle.path).as_posix() for p in bundle.path.rglob("*") if p.is_file()}
        assert set(listed) == on_disk - {"manifest.json"}
        for path, entry in listed.items():
            assert sha256_file(bundle.path / path) == entry["sha256"]
            assert (bundle.path / path).stat().st_size == entry["bytes"]
        assert manifest["quality"]["drop"] <= 1.0
        assert manifest["provenance"]["teacher"]["sha256"] == prov["teacher"]["sha256"]
        assert manifest["calibration"]["samples"] == 256
        bench = json.loads((bundle.path / "benchmark.json").read_text())
        assert len(bench["samples_ms"]) >= 50
        assert bench["summary"]["p50_ms"] > 0
    # Distillation and INT8 both pay on this host (measured, not asserted against a clock).
    assert result.references["teacher fp32"]["benchmark"]["summary"]["p50_ms"] > 0


def _demo_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "edgec", "demo", "--out", str(out), "--teacher-epochs", "1",
            "--student-epochs", "1", "--bench-seconds", "0.1"]  # fmt: skip


def assert_nothing_half_written(out: Path) -> None:
    """Every visible bundle is complete and hash-true; every cache entry is complete."""
    if not out.exists():
        return
    for entry in out.iterdir():
        if entry.name.startswith(".") or entry.is_file():
            continue
        manifest = json.loads((entry / "manifest.json").read_text())
        verify_files(entry, manifest)
    cache = out / ".cache"
    if cache.exists():
        for stage in cache.iterdir():
            if not stage.is_dir():
                continue
            for item in stage.iterdir():
                if item.name.startswith(TMP_PREFIX) or item.is_file():
                    continue
                assert (item / STAGE_FILE).is_file(), f"cache entry without {STAGE_FILE}: {item}"


@pytest.mark.slow
def test_killing_the_demo_leaves_nothing_a_later_run_would_trust(tmp_path):
    reference = tmp_path / "reference"
    started = time.monotonic()
    subprocess.run(_demo_cmd(reference), check=True, capture_output=True)
    duration = time.monotonic() - started
    rng = random.Random(0)
    out = tmp_path / "killed"
    for fraction in sorted(rng.uniform(0.15, 0.95) for _ in range(4)):
        proc = subprocess.Popen(_demo_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        time.sleep(duration * fraction)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert_nothing_half_written(out)
    done = subprocess.run(_demo_cmd(out), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert_nothing_half_written(out)
    assert {"host-cpu", "host-openvino"} <= {p.name for p in out.iterdir()}
    assert not [p for p in out.rglob(f"{TMP_PREFIX}*")], "temporaries left after a clean run"
