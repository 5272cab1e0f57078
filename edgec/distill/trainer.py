"""Training loops: supervised (the demo's teacher) and distillation from cached soft labels."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgec.distill.losses import kd_loss

Track = Callable[[Iterable, str], Iterable]


def _no_progress(iterable: Iterable, _description: str) -> Iterable:
    return iterable


def _epochs(model: nn.Module, x: np.ndarray, epochs: int, batch_size: int, lr: float, seed: int,
            step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], track: Track, label: str) -> list[float]:  # fmt: skip
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xs = torch.from_numpy(x)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    history = []
    model.train()
    for _epoch in track(range(epochs), label):
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            loss = step(model(xs[index]), index)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        history.append(total / len(x))
    model.eval()
    return history


def train_supervised(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int = 12, batch_size: int = 64,
                     lr: float = 3e-3, seed: int = 0, track: Track = _no_progress) -> list[float]:  # fmt: skip
    labels = torch.from_numpy(y)
    return _epochs(model, x, epochs, batch_size, lr, seed,
                   lambda logits, idx: F.cross_entropy(logits, labels[idx]), track, "train teacher")  # fmt: skip


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits for every sample (the soft-label cache is this, computed once per run)."""
    model.eval()
    return np.concatenate(
        [model(torch.from_numpy(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    )


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(1) == y).mean() * 100)


def distill(student: nn.Module, x: np.ndarray, teacher_logits: np.ndarray, y: np.ndarray | None, *,
            temperature: float = 4.0, alpha: float = 0.7, epochs: int = 20, batch_size: int = 64,
            lr: float = 3e-3, seed: int = 0, track: Track = _no_progress) -> list[float]:  # fmt: skip
    """Train `student` on the teacher's soft labels (precomputed: the teacher never runs here)."""
    soft = torch.from_numpy(teacher_logits.astype(np.float32))
    labels = None if y is None else torch.from_numpy(y)

    def step(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, soft[idx], None if labels is None else labels[idx], temperature=temperature, alpha=alpha)

    return _epochs(student, x, epochs, batch_size, lr, seed, step, track, "distill student")
