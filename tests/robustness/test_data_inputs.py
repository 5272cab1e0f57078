"""Bad models and calibration data: clear message naming the file / input / sample, exit 2."""

from __future__ import annotations

import numpy as np
import pytest

from tests.robustness.conftest import GOOD_CONFIG, nothing_written, write


def _build(cli, project):
    out = project / "out"
    return cli("build", write(project, GOOD_CONFIG), "--out", out), out


@pytest.mark.parametrize(
    ("case", "mutate"),
    [
        ("truncated", lambda b: b[: len(b) // 2]),
        ("random-bytes", lambda b: np.random.default_rng(0).bytes(4096)),
        ("empty", lambda b: b""),
        ("text", lambda b: b"this is not a model\n"),
    ],
)
def test_corrupt_model(cli, project, case, mutate):
    model = project / "model.onnx"
    model.write_bytes(mutate(model.read_bytes()))
    result, out = _build(cli, project)
    result.assert_user_error("model.onnx")
    assert nothing_written(out)


def test_model_with_unsupported_opset(cli, project):
    import onnx

    model = onnx.load(str(project / "model.onnx"))
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = 99
    onnx.save(model, str(project / "model.onnx"))
    result, out = _build(cli, project)
    result.assert_user_error("model.onnx")
    assert nothing_written(out)


def _calib(project, **arrays):
    np.savez(project / "calib.npz", **arrays)


def _images(n=64, dtype=np.float32):
    return np.random.default_rng(0).random((n, 1, 8, 8)).astype(dtype)


CALIB_CASES = [
    ("wrong-name", {"pixels": _images()}, ["calib.npz", "missing input 'input'", "unknown input 'pixels'"]),
    ("wrong-shape", {"input": np.zeros((64, 1, 9, 9), np.float32)}, ["calib.npz", "input 'input'", "axis 2"]),
    ("wrong-rank", {"input": np.zeros((64, 64), np.float32)}, ["calib.npz", "input 'input'", "dims"]),
    ("wrong-dtype", {"input": _images(dtype=np.float64)}, ["calib.npz", "input 'input'", "float64"]),
    ("int-dtype", {"input": _images().astype(np.int32)}, ["calib.npz", "input 'input'", "int32"]),
    ("zero-samples", {"input": np.zeros((0, 1, 8, 8), np.float32)}, ["calib.npz", "zero samples"]),
]


@pytest.mark.parametrize(("case", "arrays", "fragments"), CALIB_CASES, ids=[c[0] for c in CALIB_CASES])
def test_bad_calibration_arrays(cli, project, case, arrays, fragments):
    _calib(project, **arrays)
    result, out = _build(cli, project)
    result.assert_user_error(*fragments)
    assert nothing_written(out)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_names_input_and_sample(cli, project, bad):
    images = _images()
    images[17, 0, 3, 3] = bad
    _calib(project, input=images)
    result, out = _build(cli, project)
    result.assert_user_error("input 'input', sample 17 contains NaN or Inf")
    assert nothing_written(out)


def test_pickled_calibration_is_refused(cli, project):
    np.savez(project / "calib.npz", input=np.array([{"evil": 1}], dtype=object))
    result, _ = _build(cli, project)
    result.assert_user_error("calib.npz", "pickled objects")


def test_calibration_not_an_npz(cli, project):
    (project / "calib.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    result, _ = _build(cli, project)
    result.assert_user_error("calib.npz", "not a readable")


def test_labels_count_mismatch(cli, project):
    _calib(project, input=_images(64), labels=np.zeros(10, np.int64))
    result, _ = _build(cli, project)
    result.assert_user_error("calib.npz", "10 labels for 64 samples")


def test_eval_data_with_wrong_input(cli, project):
    np.savez(project / "eval.npz", image=_images(), labels=np.zeros(64, np.int64))
    result, _ = _build(cli, project)
    result.assert_user_error("eval.npz", "missing input 'input'")
