"""Hostile files: nothing edgec loads can run code, and lying headers are refused by name."""

from __future__ import annotations

import json
import pickle
import shutil
import struct
from pathlib import Path

import pytest

from tests.robustness.conftest import write

NETS = Path(__file__).parents[1] / "compile" / "export_nets.py"

EXPORT_CONFIG = """\
name: mlp
export:
  module: "export_nets:MLP"
  weights: weights.safetensors
  inputs: [{name: x, shape: [4, 16]}]
targets: [{name: host-cpu, precision: fp32}]
benchmark: {enabled: false}
"""


class _Boom:
    """Unpickling this runs `touch MARKER`: proof that a loader executed the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def export_project(tmp_path):
    shutil.copy(NETS, tmp_path / "export_nets.py")
    return tmp_path


def test_pickle_posing_as_a_checkpoint_is_never_unpickled(cli, export_project):
    marker = export_project / "pwned"
    (export_project / "weights.safetensors").write_bytes(pickle.dumps(_Boom(marker)))
    config = write(export_project, EXPORT_CONFIG)
    result = cli("export", config, "--out", export_project / "out")
    result.assert_user_error("weights.safetensors", "not a readable .safetensors file")
    assert not marker.exists()


def test_torch_save_checkpoint_is_refused(cli, export_project):
    import torch

    torch.save({"net.0.weight": torch.zeros(32, 16)}, export_project / "weights.safetensors")
    result = cli("export", write(export_project, EXPORT_CONFIG), "--out", export_project / "out")
    result.assert_user_error("weights.safetensors", "not a readable .safetensors file")


def _safetensors_with_header(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


@pytest.mark.parametrize(
    ("case", "blob"),
    [
        ("offsets-past-end", _safetensors_with_header(
            {"net.0.weight": {"dtype": "F32", "shape": [32, 16], "data_offsets": [0, 2048]}}, b"\0" * 16)),
        ("header-length-lies", struct.pack("<Q", 1 << 40) + b"{}"),
        ("shape-disagrees", _safetensors_with_header(
            {"net.0.weight": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 64]}}, b"\0" * 64)),
        ("not-json", struct.pack("<Q", 8) + b"notjson!"),
    ],
)  # fmt: skip
def test_safetensors_with_a_lying_header(cli, export_project, case, blob):
    (export_project / "weights.safetensors").write_bytes(blob)
    result = cli("export", write(export_project, EXPORT_CONFIG), "--out", export_project / "out")
    result.assert_user_error("weights.safetensors")


def test_npy_with_pickled_objects_never_runs(cli, project):
    import numpy as np

    marker = project / "pwned"
    np.save(project / "calib.npy", np.array([_Boom(marker)], dtype=object), allow_pickle=True)
    text = (
        "name: tiny\nmodel: model.onnx\ncalibration: {data: calib.npy}\n"
        "targets: [{name: host-cpu, precision: int8}]\nbenchmark: {enabled: false}\n"
    )
    result = cli("build", write(project, text), "--out", project / "out")
    result.assert_user_error("calib.npy", "pickled objects")
    assert not marker.exists()
