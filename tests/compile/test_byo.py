"""Bring your own ONNX through `edgec build --model`: real third-party graphs (silero-vad: dynamic
dims, If, LSTM), external data, and each bad file a user can hand in (exit 2, one message)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.compile.test_export import run_cli


@pytest.fixture(scope="module")
def silero(tmp_path_factory) -> Path:
    """silero-vad's ONNX files: from the installed package, else its wheel from the package index
    (downloaded into a temporary folder, never committed); skipped when neither is possible."""
    with contextlib.suppress(ImportError):  # not installed: fetch the wheel below
        from importlib.resources import files

        data = Path(str(files("silero_vad") / "data"))
        if (data / "silero_vad.onnx").is_file():
            return data
    folder = tmp_path_factory.mktemp("silero")
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "silero-vad==6.2.3",
                               "-d", str(folder)], capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"silero-vad is not installed and could not be downloaded ({exc})")
    wheels = list(folder.glob("silero_vad-*.whl"))
    if done.returncode != 0 or not wheels:
        pytest.skip(f"silero-vad is not installed and pip could not download it: {done.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name in wheel.namelist():
            if name.startswith("silero_vad/data/") and name.endswith(".onnx"):
                (folder / Path(name).name).write_bytes(wheel.read(name))
    return folder


def _audio(count: int, length: int, seed: int = 0) -> np.ndarray:
    """Speech-like test signal: a few tones under noise, 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16000
    tones = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 440.0, 880.0))
    return (0.1 * tones[None] * rng.uniform(0, 1, (count, 1)) + 0.01 * rng.standard_normal((count, length))).astype(
        np.float32
    )  # noqa: E501


def test_silero_with_if_and_lstm_is_checked_built_and_matches(capsys, silero, tmp_path):
    model = silero / "silero_vad.onnx"  # opset 16, nested If, LSTM, dims [?, ?], a scalar 'sr' input
    code, stdout, _ = run_cli(capsys, "inspect", model)
    assert code == 0 and "If" in stdout and "LSTM" in stdout
    # parity data: first axis = sample; 'state' and 'sr' carry a sample axis in front of their own
    data = tmp_path / "parity.npz"
    np.savez(data, input=_audio(3, 512), state=np.zeros((3, 2, 1, 128), np.float32), sr=np.full(3, 16000, np.int64))
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "build", "--model", model, "--parity-data", data, "--target", "host-cpu",
                                "--precision", "fp32", "--out", out)  # fmt: skip
    assert code == 0, err
    manifest = json.loads((out / "host-cpu" / "manifest.json").read_text())
    assert [i["name"] for i in manifest["inputs"]] == ["input", "state", "sr"]
    prepared = next((out / ".cache" / "prepare").iterdir())
    report = json.loads((prepared / "export_report.json").read_text())
    assert (
        report["parity"]["batches"] == 3 + 4
    )  # 3 real samples, 4 noise variants and set(report["parity"]["outputs"]) == {"output", "stateN"}
    assert report["summary"]["control_flow"] == ["If"] and report["summary"]["operators"]["LSTM"] >= 1
    engine = out / "host-cpu" / manifest["build"]["engine"]
    original = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    built = ort.InferenceSession(str(engine), providers=["CPUExecutionProvider"])
    for batch, length in ((1, 512), (3, 512)):  # dynamic batch (the 16 kHz model takes 512-sample chunks)
        feeds = {"input": _audio(batch, length, seed=batch), "state": np.zeros((2, batch, 128), np.float32),
                 "sr": np.array(16000, np.int64)}  # fmt: skip
        for want, got in zip(original.run(None, feeds), built.run(None, feeds), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-5)


def test_silero_sequence_model_builds_end_to_end_with_calibration(capsys, silero, tmp_path):
    model = silero / "silero_vad_16k_sequence.onnx"  # LSTM, dynamic sequence_length, 3 inputs, 3 outputs
    calib = tmp_path / "calib.npz"
    np.savez(calib, input=_audio(16, 576), h=np.zeros((16, 1, 128), np.float32), c=np.zeros((16, 1, 128), np.float32))
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "build", "--model", model, "--calibration", calib, "--target", "host-cpu",
                                "--precision", "fp32", "--out", out)  # fmt: skip
    assert code == 0, err
    manifest = json.loads((out / "host-cpu" / "manifest.json").read_text())
    assert manifest["inputs"][0] == {"name": "input", "dtype": "float32", "shape": ["sequence_length", 576]}
    bench = json.loads((out / "host-cpu" / "benchmark.json").read_text())
    assert bench["summary"]["p50_ms"] > 0
    code, stdout, _ = run_cli(capsys, "build", "--model", model, "--calibration", calib, "--target", "host-cpu",
                              "--precision", "fp32", "--out", out)  # fmt: skip
    assert code == 0 and "cached" in stdout


def _tiny_graph(domain: str = "", opset: int = 17) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")  # raw_data: can move to external data
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
             helper.make_node("Relu" if not domain else "FancyRelu", ["h"], ["y"], name="act", domain=domain)]  # fmt: skip
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    # IR 10: what ONNX Runtime 1.31 reads (onnx 1.23 would stamp 14)
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], [w]), opset_imports=opsets, ir_version=10)


def _calib(folder: Path) -> Path:
    path = folder / "calib.npz"
    np.savez(path, x=np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))
    return path


def _build(capsys, model: Path, folder: Path, *extra: str) -> tuple[int, str]:
    precision = () if "--precision" in extra else ("--precision", "fp32")
    code, _, err = run_cli(capsys, "build", "--model", model, "--target", "host-cpu", "--out", folder / "out", *precision,
                           *extra)  # fmt: skip
    return code, err


def test_external_data_inside_the_folder_builds(capsys, tmp_path):
    model = tmp_path / "ext.onnx"
    onnx.save_model(_tiny_graph(), str(model), save_as_external_data=True, location="ext.onnx.data", size_threshold=0)
    assert onnx.load(str(model), load_external_data=False).graph.initializer[0].data_location == TensorProto.EXTERNAL
    code, err = _build(capsys, model, tmp_path, "--parity-data", str(_calib(tmp_path)))  # no benchmark: fp32
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "host-cpu" / "manifest.json").read_text())
    assert manifest["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}]


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin", "/etc/passwd"])
def test_external_data_outside_the_folder_is_refused(capsys, tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 64)
    proto = _tiny_graph()
    onnx.save_model(proto, str(folder / "m.onnx"), save_as_external_data=True, location="m.data", size_threshold=0)
    proto = onnx.load(str(folder / "m.onnx"), load_external_data=False)
    for entry in proto.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    (folder / "m.onnx").write_bytes(proto.SerializeToString())
    code, err = _build(capsys, folder / "m.onnx", tmp_path)
    assert code == 2 and "initializer 'w'" in err and location in err
    assert "outside" in err or "absolute" in err
    assert not (tmp_path / "out" / "host-cpu").exists()


def test_truncated_external_data_is_refused(capsys, tmp_path):
    model = tmp_path / "t.onnx"
    onnx.save_model(_tiny_graph(), str(model), save_as_external_data=True, location="t.data", size_threshold=0)
    (tmp_path / "t.data").write_bytes((tmp_path / "t.data").read_bytes()[:10])
    code, err = _build(capsys, model, tmp_path)
    assert code == 2 and "past the end of the file" in err


def test_corrupt_and_truncated_onnx_files_are_exit_2(capsys, tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07this is not protobuf\xff\xfe" * 20)
    whole = tmp_path / "whole.onnx"
    onnx.save_model(_tiny_graph(), str(whole))
    truncated = tmp_path / "truncated.onnx"
    data = whole.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for path in (corrupt, truncated, empty):
        code, err = _build(capsys, path, tmp_path)
        assert code == 2 and str(path.name) in err and "corrupt or truncated" in err, err
        assert "Traceback" not in err
        code, _, err = run_cli(capsys, "inspect", path)
        assert code == 2 and "corrupt or truncated" in err


def test_unknown_custom_op_domain_is_exit_2(capsys, tmp_path):
    model = tmp_path / "custom.onnx"
    onnx.save_model(_tiny_graph(domain="com.acme.vision"), str(model))
    code, err = _build(capsys, model, tmp_path)
    assert code == 2
    assert "node 'act'" in err and "FancyRelu" in err and "com.acme.vision" in err and "hint:" in err


def test_opset_below_13_is_exit_2(capsys, tmp_path):
    model = tmp_path / "old.onnx"
    onnx.save_model(_tiny_graph(opset=11), str(model))
    code, err = _build(capsys, model, tmp_path)
    assert code == 2 and "opset 11" in err and "13 or newer" in err


def test_model_and_config_together_or_neither_is_exit_2(capsys, tmp_path):
    model = tmp_path / "m.onnx"
    onnx.save_model(_tiny_graph(), str(model))
    code, _, err = run_cli(capsys, "build", str(tmp_path / "edgec.yaml"), "--model", model, "--target", "host-cpu")
    assert code == 2 and "not both" in err
    code, _, err = run_cli(capsys, "build")
    assert code == 2 and "--model" in err
    code, _, err = run_cli(capsys, "build", "--model", model)
    assert code == 2 and "--target" in err


def test_byo_int8_on_the_tiny_model(capsys, tmp_path, tiny_model):
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "build", "--model", tiny_model.onnx, "--calibration", tiny_model.calibration,
                                "--target", "host-cpu", "--out", out)  # fmt: skip
    assert code == 0, err
    manifest = json.loads((out / "host-cpu" / "manifest.json").read_text())
    assert manifest["target"]["precision"] == "int8" and manifest["calibration"]["samples"] > 0


def test_inspect_json_summary(capsys, tmp_path):
    model = tmp_path / "m.onnx"
    onnx.save_model(_tiny_graph(), str(model))
    code, stdout, _ = run_cli(capsys, "inspect", model, "--json")
    info = json.loads(stdout)
    assert code == 0 and info["operators"] == {"MatMul": 1, "Relu": 1} and info["parameters"] == 16
    assert info["flops"] == 2 * 4 * 4 and info["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}]


def test_bad_precision_for_byo_names_the_key(capsys, tmp_path):
    model = tmp_path / "m.onnx"
    onnx.save_model(_tiny_graph(), str(model))
    code, err = _build(capsys, model, tmp_path, "--precision", "int4")
    assert code == 2 and "targets[0].precision: 'int4' is not one of" in err
