"""Bad calibration data through the CLI: one message naming the input and the sample, exit 2,
nothing written under --out."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_cli_smoke import run_cli


def _write(tmp_path, tiny_model, **arrays):
    data = tmp_path / "calib.npz"
    np.savez(data, **arrays)
    config = tmp_path / "edgec.yaml"
    config.write_text(f"""
model: {tiny_model.onnx}
calibration: {{data: {data}, samples: 16}}
targets: [{{name: host-cpu, precision: int8}}]
""")
    return config


def _good(tiny_model, n=20):
    return tiny_model.test_x[:n].copy()


def _nan(tiny_model):
    x = _good(tiny_model)
    x[7, 0, 3, 3] = np.nan
    return {"input": x}


CASES = {
    "wrong input name": (lambda m: {"image": _good(m)}, ["'image'", "'input'", "sample"]),
    "wrong shape": (lambda m: {"input": _good(m)[:, :, :4, :]}, ["input 'input'", "[20, 1, 4, 8]", "sample 0"]),
    "wrong dtype": (lambda m: {"input": _good(m).astype(np.float64)}, ["input 'input'", "float64", "sample 0"]),
    "NaN": (_nan, ["input 'input'", "sample 7", "NaN"]),
    "zero samples": (lambda m: {"input": _good(m)[:0]}, ["input 'input'", "zero samples", "sample 0"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_calibration_data_is_exit_2_naming_input_and_sample(case, tiny_model, tmp_path, capsys):
    make, expected = CASES[case]
    config = _write(tmp_path, tiny_model, **make(tiny_model))
    out = tmp_path / "out"
    for command in ("quantize", "build"):
        code, _, err = run_cli(capsys, command, str(config), "--out", str(out))
        assert code == 2, (command, err)
        flat = " ".join(err.split())  # rich wraps long lines
        for fragment in expected:
            assert fragment in flat, (command, fragment, flat)
        assert "Traceback" not in err
        assert not out.exists(), f"{command} wrote {list(out.rglob('*'))}"


def test_bad_eval_data_is_exit_2_too(tiny_model, tmp_path, capsys):
    bad = tmp_path / "eval.npz"
    x = _good(tiny_model)
    x[3] = np.inf
    np.savez(bad, input=x, labels=np.zeros(20, dtype=np.int64))
    config = tmp_path / "edgec.yaml"
    config.write_text(f"""
model: {tiny_model.onnx}
calibration: {{data: {tiny_model.calibration}}}
quantize: {{eval_data: {bad}}}
targets: [{{name: host-cpu}}]
""")
    code, _, err = run_cli(capsys, "quantize", str(config), "--out", str(tmp_path / "out"))
    assert code == 2 and "sample 3" in err and "input 'input'" in err
    assert not (tmp_path / "out").exists()


def test_two_sources_or_none_is_a_config_error(tiny_model, tmp_path, capsys):
    config = tmp_path / "edgec.yaml"
    config.write_text(f"""
model: {tiny_model.onnx}
calibration: {{data: {tiny_model.calibration}, callable: "mod:make"}}
targets: [{{name: host-cpu}}]
""")
    code, _, err = run_cli(capsys, "quantize", str(config))
    assert code == 2 and "calibration: give exactly one of data, images, text, callable" in " ".join(err.split())
