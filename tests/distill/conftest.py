"""Fixtures for distillation tests: a digits teacher trained once per session, data files, configs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

TEACHER_WIDTHS = [16, 32, 32, 64]
STUDENT_WIDTHS = [8, 14, 16, 32]  # 24.5 % of the teacher's parameters


@dataclass(frozen=True)
class DigitsTeacher:
    folder: Path
    weights: Path
    train: Path  # .npz input + labels
    val: Path
    test: Path
    unlabeled: Path  # .npz input only


@pytest.fixture(scope="session")
def digits_teacher(tmp_path_factory, digits8) -> DigitsTeacher:
    import torch
    from safetensors.torch import save_model

    from edgec.distill.models import ConvNet
    from edgec.distill.trainer import train_supervised

    train, test = digits8
    folder = tmp_path_factory.mktemp("digits-teacher")
    torch.manual_seed(0)
    teacher = ConvNet(tuple(TEACHER_WIDTHS))
    train_supervised(teacher, train.x, train.y, epochs=8, seed=0)
    save_model(teacher, str(folder / "teacher.safetensors"))
    half = len(test.x) // 2
    np.savez(folder / "train.npz", input=train.x, labels=train.y)
    np.savez(folder / "val.npz", input=test.x[:half], labels=test.y[:half])
    np.savez(folder / "test.npz", input=test.x[half:], labels=test.y[half:])
    np.savez(folder / "unlabeled.npz", input=train.x)
    return DigitsTeacher(folder, folder / "teacher.safetensors", folder / "train.npz", folder / "val.npz",
                         folder / "test.npz", folder / "unlabeled.npz")  # fmt: skip


def digits_config(t: DigitsTeacher, *, teacher_module: str = "edgec.distill.models:ConvNet",
                  student: str = "edgec.distill.models:ConvNet", student_widths=None, train: Path | None = None,
                  epochs: int = 6, extra_losses: str = "", training: str = "", name: str = "digits") -> str:  # fmt: skip
    widths = student_widths or STUDENT_WIDTHS
    return f"""
name: {name}
targets: [{{name: host-cpu}}]
distill:
  teacher:
    module: "{teacher_module}"
    kwargs: {{widths: {TEACHER_WIDTHS}}}
    weights: {t.weights}
    license: BSD-3-Clause
  student:
    module: "{student}"
    kwargs: {{widths: {list(widths)}}}
  data:
    train: {train or t.train}
    validation: {t.val}
    test: {t.test}
  losses:
    - {{kind: kd, temperature: 4.0, alpha: 0.7}}
{extra_losses}
  training:
    epochs: {epochs}
    batch_size: 64
    lr: 0.003
    patience: 4
{training}
"""
