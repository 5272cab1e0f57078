"""The CLI's contract: --version, help, targets, exit codes for bad input."""

from __future__ import annotations

import subprocess
import sys

from edgec import __version__
from edgec.cli import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """The real CLI entry point in-process: (exit code, stdout, stderr). Shared by the suites."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and __version__ in out


def test_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "edgec", "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and __version__ in done.stdout


def test_targets_list_shows_host_targets(capsys):
    code, out, _ = run_cli(capsys, "targets", "list")
    assert code == 0
    assert "host-cpu" in out and "host-openvino" in out


def test_targets_show_unknown_is_exit_2(capsys):
    code, _, err = run_cli(capsys, "targets", "show", "no-such-board")
    assert code == 2
    assert "unknown target 'no-such-board'" in err
    assert "Traceback" not in err


def test_unknown_command_is_usage_error(capsys):
    code, _, _ = run_cli(capsys, "frobnicate")
    assert code == 2
