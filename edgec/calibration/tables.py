"""Calibration ranges as files other tools read: TensorRT 10's calibration table.

TensorRT 10 (JetPack 6) can still build INT8 the implicit way, from a calibration cache instead
of Q/DQ nodes: one header line `TRT-<version>-EntropyCalibration2`, then one line per tensor,
`name: <scale as the hex of its big-endian float32 bits>`, scale = max(|lowest|, |highest|) / 127.
TensorRT refuses a table whose header names another version or algorithm, so the version is
the one of the TensorRT that will read it. TensorRT 11 has no implicit path: use the Q/DQ graph.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from edgec.artifacts import atomic_write_text
from edgec.errors import EdgecError

DEFAULT_TRT_VERSION = "10.3.0"  # JetPack 6.x


def trt_version_number(version: str) -> int:
    """'10.3.0' -> 100300 (TensorRT 10's NV_TENSORRT_VERSION: major*10000 + minor*100 + patch)."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)*", version)
    if not match:
        raise EdgecError(f"TensorRT version {version!r} is not like '10.3.0'")
    major, minor, patch = int(match[1]), int(match[2]), int(match[3] or 0)
    if major < 10:
        return major * 1000 + minor * 100 + patch  # TensorRT 8.x: 8.6.1 -> 8601
    return major * 10000 + minor * 100 + patch


def scale_hex(amax: float) -> str:
    return struct.pack(">f", max(float(amax), 1e-12) / 127.0).hex()


def trt_calibration_table(ranges: dict[str, tuple[float, float]], trt_version: str = DEFAULT_TRT_VERSION) -> str:
    """The table's text from {tensor name: (lowest, highest)}; names sorted for a stable file."""
    lines = [f"TRT-{trt_version_number(trt_version)}-EntropyCalibration2"]
    for name in sorted(ranges):
        lowest, highest = ranges[name]
        lines.append(f"{name}: {scale_hex(max(abs(float(lowest)), abs(float(highest))))}")
    return "\n".join(lines) + "\n"


def read_ort_ranges(path: Path) -> dict[str, tuple[float, float]]:
    """{tensor: (lowest, highest)} from ONNX Runtime's calibration cache (JSON TensorsData)."""
    import numpy as np
    from onnxruntime.quantization.calibrate import load_tensors_data

    data = load_tensors_data(path)
    ranges = {}
    for name, value in data.items():
        lowest, highest = value.range_value
        ranges[name] = (float(np.min(lowest)), float(np.max(highest)))
    return ranges


def write_trt_calibration_table(ranges_json: Path, out_path: Path, trt_version: str = DEFAULT_TRT_VERSION) -> Path:
    return atomic_write_text(out_path, trt_calibration_table(read_ort_ranges(ranges_json), trt_version))


def parse_trt_calibration_table(text: str) -> tuple[str, dict[str, float]]:
    """(header, {tensor: scale}); the inverse of `trt_calibration_table`, used by tests and `verify`."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not re.fullmatch(r"TRT-\d+-\w+", lines[0]):
        raise EdgecError("not a TensorRT calibration table (first line should be TRT-<version>-<algorithm>)")
    scales = {}
    for line in lines[1:]:
        name, _, value = line.rpartition(": ")
        scales[name] = struct.unpack(">f", bytes.fromhex(value))[0]
    return lines[0], scales
