"""Helpers for the bad-input suite: run the CLI in-process and check the one-message contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgec.cli import main


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def assert_user_error(self, *fragments: str) -> None:
        """Exit 2, no traceback, and the message names the culprit."""
        assert self.code == 2, f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"
        assert "Traceback" not in self.err + self.out
        for fragment in fragments:
            assert fragment in self.err, f"{fragment!r} not in: {self.err}"


@pytest.fixture
def cli(capsys):
    def run(*args: str) -> CliResult:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        out, err = capsys.readouterr()
        return CliResult(code, out, " ".join(err.split()))  # rich wraps long lines: compare unwrapped

    return run


@pytest.fixture
def project(tmp_path, tiny_model):
    """A folder with a valid model, data and config; tests break one thing each."""
    import shutil

    shutil.copy(tiny_model.onnx, tmp_path / "model.onnx")
    shutil.copy(tiny_model.calibration, tmp_path / "calib.npz")
    shutil.copy(tiny_model.eval, tmp_path / "eval.npz")
    return tmp_path


GOOD_CONFIG = """\
name: tiny
model: model.onnx
calibration:
  data: calib.npz
  samples: 64
quantize:
  eval_data: eval.npz
  max_drop: 5.0
targets:
  - name: host-cpu
    precision: int8
benchmark:
  enabled: false
"""


def write(folder: Path, text: str, name: str = "edgec.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def nothing_written(out: Path) -> bool:
    """No bundle appeared (a cache folder of complete stages is allowed)."""
    return not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]
