"""Calibration caches (ranges computed once, reused) and the TensorRT 10 calibration table."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from edgec.calibration.dataset import CalibrationSet
from edgec.calibration.tables import (
    parse_trt_calibration_table,
    read_ort_ranges,
    trt_calibration_table,
    trt_version_number,
)
from edgec.errors import EdgecError


def test_table_text_format_matches_tensorrt():
    text = trt_calibration_table({"input": (-0.5, 1.27), "conv/out": (0.0, 12.7)}, "10.3.0")
    lines = text.splitlines()
    assert lines[0] == "TRT-100300-EntropyCalibration2"
    # scale = amax / 127, written as the hex of its big-endian float32 bits
    assert lines[1] == "conv/out: " + struct.pack(">f", 0.1).hex()
    assert lines[2] == "input: " + struct.pack(">f", 0.01).hex()
    header, scales = parse_trt_calibration_table(text)
    assert header == lines[0] and scales["input"] == pytest.approx(0.01)


def test_version_numbers():
    assert trt_version_number("10.3.0") == 100300
    assert trt_version_number("8.6.1") == 8601
    with pytest.raises(EdgecError):
        trt_version_number("ten")


def test_ranges_are_computed_once_and_reused_across_presets_and_runs(tiny_model, tmp_path):
    """The stage cache keys ranges by prepared model + samples + settings; a second run (another
    preset, a changed budget) reads them instead of running calibration again."""
    from edgec.config import load_config
    from edgec.pipeline import build

    def config(preset: str, max_drop: float):
        path = tmp_path / f"{preset}-{max_drop}.yaml"
        path.write_text(f"""
model: {tiny_model.onnx}
calibration: {{data: {tiny_model.calibration}, samples: 64}}
quantize: {{eval_data: {tiny_model.eval}, max_drop: {max_drop}, preset: {preset}, trt_calibration_table: true}}
targets: [{{name: host-cpu, precision: int8}}]
benchmark: {{enabled: false}}
""")
        return load_config(path)

    logs: list[str] = []
    build(config("x86-vnni", 1.0), tmp_path / "out", log=logs.append)
    cached = list((tmp_path / "out" / ".cache" / "calibration").glob("*.json"))
    assert len(cached) == 1 and any("calibration ranges: computing" in m for m in logs)
    stamp = cached[0].stat().st_mtime_ns
    logs.clear()
    build(config("tensorrt", 2.0), tmp_path / "out", log=logs.append)
    assert any("calibration ranges: cached" in m for m in logs)
    assert cached[0].stat().st_mtime_ns == stamp
    # The table next to the INT8 graph covers the graph input with the calibration data's range.
    tables = list((tmp_path / "out" / ".cache" / "quantize").glob("*/calibration.cache"))
    assert len(tables) == 2
    header, scales = parse_trt_calibration_table(tables[0].read_text())
    assert header.startswith("TRT-") and header.endswith("-EntropyCalibration2")
    data = CalibrationSet.from_file(tiny_model.calibration).sample(64, 0)
    amax = float(np.abs(data.arrays["input"]).max())
    assert scales["input"] == pytest.approx(amax / 127, rel=1e-5)
    assert read_ort_ranges(cached[0])["input"][1] == pytest.approx(amax, rel=1e-5)
