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


@pytest.fixture(scope="session")
def outlier_model(tmp_path_factory, digits8):
    """A 3-layer MLP on the digits, then one hidden unit of the second layer scaled x1000 and the
    next layer's weights on it /1000: the function is unchanged (ReLU is positively homogeneous),
    but that activation's range is now 1000x the others, so a per-tensor INT8 scale for it wipes
    out every other unit. Only the layers around that activation are sensitive."""
    import torch
    from torch import nn

    from edgec.compile.export import export_onnx

    train, test = digits8
    x = torch.from_numpy(train.x.reshape(len(train.x), -1))
    y = torch.from_numpy(train.y)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(120):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        hidden = model[3](model[2](model[1](model[0](x))))
        k = int(hidden.mean(0).argmax())  # an active unit, so its range really grows
        model[2].weight[k] *= 1000
        model[2].bias[k] *= 1000
        model[4].weight[:, k] /= 1000
    folder = tmp_path_factory.mktemp("outlier")
    test_x = test.x.reshape(len(test.x), -1)
    export_onnx(model, torch.from_numpy(test_x[:2]), folder / "model.onnx")
    np.savez(folder / "calibration.npz", input=x.numpy()[:200], labels=train.y[:200])
    np.savez(folder / "eval.npz", input=test_x, labels=test.y)
    return folder
