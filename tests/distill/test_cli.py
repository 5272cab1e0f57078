"""`edgec distill CONFIG` through the CLI: a run that works, and exit 2 for each input a user can get wrong."""

from __future__ import annotations

import pytest

from tests.distill.conftest import digits_config
from tests.test_cli_smoke import run_cli


def _config(tmp_path, text: str):
    path = tmp_path / "edgec.yaml"
    path.write_text(text)
    return path


def test_distill_command_writes_the_student(capsys, tmp_path, digits_teacher):
    config = _config(tmp_path, digits_config(digits_teacher, epochs=1))
    code, out, err = run_cli(capsys, "distill", str(config), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "top-1 agreement" in out and "parameters" in out
    assert (tmp_path / "out" / "student" / "student.safetensors").is_file()


@pytest.mark.parametrize(
    ("student", "message"),
    [
        ("tests.distill.no_such_module:Net", "cannot import module 'tests.distill.no_such_module'"),
        ("tests.distill.zoo:NoSuchNet", "module 'tests.distill.zoo' has no attribute 'NoSuchNet'"),
        ("tests.distill.zoo:NOT_A_FACTORY", "is a int, not a class or function"),
    ],
)
def test_wrong_module_path_is_exit_2(capsys, tmp_path, digits_teacher, student, message):
    config = _config(tmp_path, digits_config(digits_teacher, student=student))
    code, _, err = run_cli(capsys, "distill", str(config), "--out", str(tmp_path / "out"))
    assert code == 2 and message in err and "distill.student.module" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "student").exists()


def test_malformed_module_reference_is_a_config_error(capsys, tmp_path, digits_teacher):
    config = _config(tmp_path, digits_config(digits_teacher, student="os.system('x')"))
    code, _, err = run_cli(capsys, "distill", str(config))
    assert code == 2 and "distill.student.module" in err and "should match pattern" in err


def test_teacher_student_output_mismatch_is_exit_2(capsys, tmp_path, digits_teacher):
    text = digits_config(digits_teacher, student="tests.distill.zoo:small_convnet")
    text = text.replace("kwargs: {widths: [8, 14, 16, 32]}", "kwargs: {widths: [8, 14, 16, 32], num_classes: 7}")
    config = _config(tmp_path, text)
    code, _, err = run_cli(capsys, "distill", str(config), "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert "teacher output [2, 10] and student output [2, 7] differ" in err
    assert "Traceback" not in err


def test_missing_data_file_is_exit_2(capsys, tmp_path, digits_teacher):
    config = _config(tmp_path, digits_config(digits_teacher, train=tmp_path / "missing.npz"))
    code, _, err = run_cli(capsys, "distill", str(config))
    assert code == 2
    assert "distill.data.train" in err and "missing.npz' not found" in err


def test_wrong_hint_layer_is_exit_2(capsys, tmp_path, digits_teacher):
    extra = "    - {kind: hint, teacher_layer: features.99, student_layer: features.9}"
    config = _config(tmp_path, digits_config(digits_teacher, extra_losses=extra))
    code, _, err = run_cli(capsys, "distill", str(config), "--out", str(tmp_path / "out"))
    assert code == 2 and "has no module 'features.99'" in err


def test_yaml_tags_that_run_code_are_refused(capsys, tmp_path, digits_teacher):
    text = digits_config(digits_teacher).replace('module: "edgec.distill.models:ConvNet"\n    kwargs: {widths: [8',
                                                 'module: !!python/name:os.system\n    kwargs: {widths: [8', 1)  # fmt: skip
    config = _config(tmp_path, text)
    code, _, err = run_cli(capsys, "distill", str(config))
    assert code == 2 and "invalid YAML" in err


def test_config_without_model_or_distill_is_exit_2(capsys, tmp_path):
    config = _config(tmp_path, "name: x\ntargets: [{name: host-cpu}]\n")
    code, _, err = run_cli(capsys, "distill", str(config))
    assert code == 2 and "give 'model:' (an ONNX file), an 'export:' section" in err and "'distill:' section" in err
