"""Bad command lines: usage errors exit 2 with a message, never a traceback."""

from __future__ import annotations

from tests.robustness.conftest import GOOD_CONFIG, write


def test_unknown_option(cli):
    result = cli("build", "--frobnicate")
    assert result.code == 2 and "Traceback" not in result.err


def test_missing_config_argument(cli):
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err


def test_target_not_in_config(cli, project):
    config = write(project, GOOD_CONFIG)
    cli("build", config, "--target", "rpi5", "--out", project / "out").assert_user_error("--target 'rpi5'")


def test_out_is_an_existing_file(cli, project):
    config = write(project, GOOD_CONFIG)
    (project / "afile").write_text("x")
    cli("build", config, "--out", project / "afile").assert_user_error("afile")


def test_demo_rejects_zero_epochs(cli, tmp_path):
    result = cli("demo", "--out", tmp_path / "o", "--teacher-epochs", "0")
    assert result.code == 2 and "Traceback" not in result.err
