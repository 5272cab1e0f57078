"""Shared fixtures: tiny models trained in the test session on real data (no download)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# Two cores: keep torch from oversubscribing when pytest and a backend both spin threads.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@dataclass(frozen=True)
class TinyModel:
    """A small ConvNet trained briefly on 8x8 digits, exported to ONNX, with its data files."""

    onnx: Path
    calibration: Path  # .npz: input (+ labels)
    eval: Path  # .npz: input + labels
    module: object  # the torch module (eval mode)
    test_x: np.ndarray
    test_y: np.ndarray


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="session")
def digits8():
    from edgec.distill.data import digits_splits

    return digits_splits(seed=0, size=8)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, digits8) -> TinyModel:
    import torch

    from edgec.compile.export import export_onnx
    from edgec.distill.models import ConvNet
    from edgec.distill.trainer import train_supervised

    train, test = digits8
    folder = tmp_path_factory.mktemp("tiny-model")
    torch.manual_seed(0)
    model = ConvNet((8, 16, 16, 32))
    train_supervised(model, train.x, train.y, epochs=4, seed=0)
    onnx_path = export_onnx(model, torch.from_numpy(test.x[:2]), folder / "model.onnx")
    calib = write_npz(folder / "calibration.npz", input=train.x[:200], labels=train.y[:200])
    evaluation = write_npz(folder / "eval.npz", input=test.x, labels=test.y)
    return TinyModel(onnx_path, calib, evaluation, model, test.x, test.y)


@pytest.fixture
def write_config(tmp_path):
    """Write an edgec.yaml (given as text) into a fresh folder and return its path."""

    def write(text: str, name: str = "edgec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
