"""Faults: SIGKILL at random points, a full disk, two builds racing on one output folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.robustness.conftest import GOOD_CONFIG, write
from tests.test_demo import assert_nothing_half_written

BENCH_CONFIG = GOOD_CONFIG.replace(
    "benchmark:\n  enabled: false\n",
    "benchmark:\n  warmup_runs: 2\n  warmup_seconds: 0.0\n  min_runs: 30\n  min_seconds: 0.1\n",
)
KILL_TRIALS = 20


def _cmd(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "edgec", "build", str(config), "--out", str(out)]


def _snapshot(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.relative_to(out).as_posix().startswith(".")
    }


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_only_complete_outputs(project):
    config = write(project, BENCH_CONFIG)
    timing = project / "timing"
    started = time.monotonic()
    subprocess.run(_cmd(config, timing), check=True, capture_output=True)
    duration = time.monotonic() - started

    rng = random.Random(1234)
    out = project / "out"
    for trial in range(KILL_TRIALS):
        if trial % 5 == 0:  # new calibration data now and then: stages downstream of it are redone
            images = np.random.default_rng(trial).random((64, 1, 8, 8)).astype(np.float32)
            np.savez(project / "calib.npz", input=images)
        proc = subprocess.Popen(_cmd(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        time.sleep(rng.uniform(0.05, 1.0) * duration)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert_nothing_half_written(out)

    done = subprocess.run(_cmd(config, out), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert_nothing_half_written(out)
    assert (out / "host-cpu" / "manifest.json").is_file()
    again = subprocess.run(_cmd(config, out), capture_output=True, text=True, check=True)
    stages = [line for line in again.stdout.splitlines() if ": done (" in line or ": cached (" in line]
    assert stages and all(": cached (" in line for line in stages), again.stdout


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_gives_a_clear_error_and_keeps_previous_outputs(cli, project, small_disk):
    config = write(project, GOOD_CONFIG)
    out = small_disk / "out"
    assert cli("build", config, "--out", out).code == 0
    before = _snapshot(out)
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:
        with contextlib.suppress(OSError):  # the point: write until the filesystem is full
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
    images = np.random.default_rng(7).random((64, 1, 8, 8)).astype(np.float32)
    np.savez(project / "calib.npz", input=images)  # new data: calibration onward must be redone
    result = cli("build", config, "--out", out)
    result.assert_user_error("No space left on device")
    filler.unlink()
    assert _snapshot(out) == before
    manifest = json.loads((out / "host-cpu" / "manifest.json").read_text())
    from edgec.runtime import verify_files

    verify_files(out / "host-cpu", manifest)


@pytest.mark.slow
def test_two_builds_racing_on_one_output_folder(project):
    config = write(project, BENCH_CONFIG)
    out = project / "out"
    procs = [subprocess.Popen(_cmd(config, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    results = [p.communicate() + (p.returncode,) for p in procs]
    for _stdout, stderr, code in results:
        assert code == 0, stderr
    assert_nothing_half_written(out)
    assert any("cached" in stdout for stdout, _, _ in results), "the second build should reuse the first's stages"
