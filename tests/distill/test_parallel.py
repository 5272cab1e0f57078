"""Two CPU processes under torchrun (gloo) give the loss curve of one process, with no change to the config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from edgec.config import load_config
from edgec.distill import run_distill
from tests.distill.conftest import digits_config

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_data_parallel_matches_one_process(tmp_path, digits_teacher):
    config = tmp_path / "edgec.yaml"
    config.write_text(digits_config(digits_teacher, epochs=4))
    single = run_distill(load_config(config), tmp_path / "one", log=lambda _m: None)

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "edgec", "distill", str(config), "--out", str(tmp_path / "two")]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    two = json.loads((tmp_path / "two" / "student" / "training.json").read_text())
    one = single.training
    assert two["processes"] == 2 and one["processes"] == 1
    a, b = np.array(one["train_loss"]), np.array(two["train_loss"])
    assert len(a) == len(b) == 4
    # Same global batch, same schedule: the curves fall together, epoch by epoch, within 15 %.
    assert np.all(np.diff(a) < 0) and np.all(np.diff(b) < 0)
    assert np.allclose(a, b, rtol=0.15), (a, b)
    assert np.corrcoef(a, b)[0, 1] > 0.99
    fidelity = json.loads((tmp_path / "two" / "student" / "fidelity.json").read_text())
    assert abs(fidelity["student_accuracy"] - single.fidelity["student_accuracy"]) < 5
