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


SELECTING = GOOD.replace(
    "  - name: host-cpu\n    precision: int8\n", "  - name: host\n    candidates: [host-cpu/int8, host-cpu/fp32]\n"
)


def test_selecting_target_is_valid_and_described(project, capsys):
    code, out, err = run_cli(capsys, "validate", str(project(SELECTING)))
    assert code == 0, err
    assert "host (auto-selects among host-cpu/int8, host-cpu/fp32)" in " ".join(out.split())
    code, out, err = run_cli(
        capsys, "validate", str(project(SELECTING.replace("[host-cpu/int8, host-cpu/fp32]", "auto")))
    )
    assert code == 0 and "host-cpu/fp32" in out, err


def test_candidates_may_name_the_configs_own_profiles(project, capsys):
    board = "profiles:\n  - {name: my-host, backend: onnxruntime, precisions: [fp32], default_precision: fp32}\n"
    path = project(SELECTING.replace("host-cpu/fp32]", "my-host/fp32]") + board)
    code, out, err = run_cli(capsys, "validate", str(path))
    assert code == 0 and "my-host/fp32" in out, err


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ("[]", "targets[0].candidates: the list is empty"),
        ("everything", "targets[0].candidates: give 'auto' or a list of PROFILE/PRECISION"),
        ("[host-cpu]", "targets[0].candidates[0]: 'host-cpu' is not PROFILE/PRECISION, e.g. host-cpu/int8"),
        ("[host-cpu/int8, host-cpu/int4]", "targets[0].candidates[1]: 'host-cpu/int4' is not PROFILE/PRECISION"),
        ("[host-cpu/int8, 3]", "targets[0].candidates[1]: input should be a valid string"),
        ("[host-cpu/int8, host-cpu/int8]", "targets[0].candidates: 'host-cpu/int8' is listed twice (items 0 and 1)"),
        ("[host-cpu/int8, nope/int8]", "targets[0].candidates[1]: unknown target 'nope'"),
        (
            "[host-cpu/int8, host-cpu/fp16]",
            "targets[0].candidates[1]: target host-cpu: precision 'fp16' is not supported",
        ),
    ],
)
def test_bad_candidates_name_the_key(project, capsys, candidates, message):
    path = project(SELECTING.replace("[host-cpu/int8, host-cpu/fp32]", candidates))
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 2 and "Traceback" not in err
    assert f"{path}: {message}" in " ".join(err.split())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    precision: int8\n", "targets[0]: give either 'precision' or 'candidates'"),
        ("    profile: board.yaml\n", "targets[0]: 'profile' is one profile's file; with 'candidates'"),
        ("  - name: host\n    precision: int8\n", "targets: targets[0] and targets[1] are both named 'host'"),
    ],
)
def test_candidates_with_what_makes_no_sense_beside_them(project, tmp_path, capsys, extra, message):
    (tmp_path / "board.yaml").write_text(
        "name: host\nbackend: onnxruntime\nprecisions: [fp32]\ndefault_precision: fp32\n"
    )
    path = project(SELECTING.replace("host-cpu/fp32]\n", "host-cpu/fp32]\n" + extra))
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 2 and f"{path}: {message}" in " ".join(err.split())


def test_a_selecting_targets_name_is_a_safe_folder_name(project, capsys):
    code, _, err = run_cli(capsys, "validate", str(project(SELECTING.replace("name: host\n", "name: ../host\n"))))
    assert code == 2 and "targets[0]: name '../host' names the bundle's folder" in " ".join(err.split())
