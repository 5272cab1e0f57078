"""edgec.yaml: every error names the file and the key path; exit 2; no traceback."""

from __future__ import annotations

import pytest

from edgec.config import key_path, load_config
from edgec.errors import EdgecError
from tests.test_cli_smoke import run_cli

GOOD = """
name: digits
model: model.onnx
calibration:
  data: calib.npz
  samples: 64
targets:
  - name: host-cpu
    precision: int8
"""


@pytest.fixture
def project(tmp_path, write_config):
    (tmp_path / "model.onnx").write_bytes(b"placeholder: validate does not open the model")
    (tmp_path / "calib.npz").write_bytes(b"placeholder")
    return write_config


def test_key_path_formatting():
    assert key_path(("targets", 1, "precision")) == "targets[1].precision"
    assert key_path(()) == "(top level)"


def test_good_config_loads_and_resolves_paths(project, tmp_path):
    config = load_config(project(GOOD))
    assert config.model == (tmp_path / "model.onnx").resolve()
    assert config.calibration.samples == 64
    assert config.targets[0].precision == "int8"


def test_typo_wrong_type_and_missing_file_are_all_reported(project, capsys):
    text = GOOD.replace("samples: 64", "samples: lots").replace("calib.npz", "nope.npz")
    text = text.replace("name: digits", "name: digits\ntargts: []")
    path = project(text)
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert "Traceback" not in err
    assert f"{path}: targts: unknown key" in err
    assert f"{path}: calibration.samples: input should be a valid integer" in err
    assert "calibration.data: path 'nope.npz' not found" in err


def test_literal_error_names_the_allowed_values(project, capsys):
    path = project(GOOD.replace("precision: int8", "precision: int4"))
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert "targets[0].precision: 'int4' is not one of 'fp32', 'fp16' or 'int8'" in err


def test_unknown_target_is_reported_by_validate(project, capsys):
    code, _, err = run_cli(capsys, "validate", str(project(GOOD.replace("host-cpu", "host-cpux"))))
    assert code == 2 and "unknown target 'host-cpux'" in err


def test_valid_config_passes_validate(project, capsys):
    code, out, _ = run_cli(capsys, "validate", str(project(GOOD)))
    assert code == 0 and "valid" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "config is empty"),
        ("- a\n- b\n", "expected a mapping"),
        ("name: [unclosed\n", "invalid YAML"),
        ("a: &x [1]\nb: *x\n", "anchors and aliases are not allowed"),
        ("model: !!python/object/apply:os.system ['true']\n", "invalid YAML"),
    ],
)
def test_malformed_yaml_is_a_clear_error(write_config, text, message):
    with pytest.raises(EdgecError, match=message):
        load_config(write_config(text))


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "validate", str(tmp_path / "absent.yaml"))
    assert code == 2 and "config file not found" in err
