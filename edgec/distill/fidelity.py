"""How closely the student follows the teacher on held-out data.

Classification: top-1 agreement, mean KL(teacher || student), expected calibration error of
both, and per-class accuracy gaps when labels are given. Embeddings: cosine similarity of each
sample's vectors (mean, min, 5th percentile).
"""

from __future__ import annotations

import numpy as np
import torch

from edgec.distill.cache import call_model, to_device
from edgec.distill.dataset import Samples


@torch.no_grad()
def outputs_of(model: torch.nn.Module, samples: Samples, device, batch_size: int = 256) -> np.ndarray:
    model.eval()
    order = samples.by_length()
    result = None
    for start in range(0, len(samples), batch_size):
        index = np.sort(order[start : start + batch_size])
        out = call_model(model, to_device(samples.batch(index), device)).float().cpu().numpy()
        if result is None:
            result = np.empty((len(samples), *out.shape[1:]), dtype=np.float32)
        result[index] = out
    return result


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Sum over confidence bins of |accuracy - confidence| weighted by the bin's share (Guo et al. 2017)."""
    confidence, predicted = probs.max(1), probs.argmax(1)
    correct = (predicted == labels).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def mean_kl(teacher_logits: np.ndarray, student_logits: np.ndarray) -> float:
    p, q = _softmax(teacher_logits.astype(np.float64)), _softmax(student_logits.astype(np.float64))
    return float((p * (np.log(p + 1e-12) - np.log(q + 1e-12))).sum(1).mean())


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def classification_report(teacher: np.ndarray, student: np.ndarray, labels: np.ndarray | None) -> dict:
    report = {
        "samples": int(len(student)),
        "top1_agreement": float((teacher.argmax(1) == student.argmax(1)).mean() * 100),
        "mean_kl": mean_kl(teacher, student),
    }
    if labels is None:
        return report
    t_pred, s_pred = teacher.argmax(1), student.argmax(1)
    per_class = {}
    for c in np.unique(labels):
        mine = labels == c
        t_acc, s_acc = float((t_pred[mine] == c).mean() * 100), float((s_pred[mine] == c).mean() * 100)
        per_class[str(int(c))] = {"samples": int(mine.sum()), "teacher": t_acc, "student": s_acc, "gap": t_acc - s_acc}
    report.update({
        "teacher_accuracy": float((t_pred == labels).mean() * 100),
        "student_accuracy": float((s_pred == labels).mean() * 100),
        "teacher_ece": expected_calibration_error(_softmax(teacher), labels),
        "student_ece": expected_calibration_error(_softmax(student), labels),
        "per_class": per_class,
        "max_class_gap": max(v["gap"] for v in per_class.values()),
    })  # fmt: skip
    return report


def embedding_report(teacher: np.ndarray, student: np.ndarray) -> dict:
    cos = cosines(teacher, student)
    return {"samples": int(len(cos)), "mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()),
            "p5_cosine": float(np.percentile(cos, 5))}  # fmt: skip


def report(task: str, teacher: np.ndarray, student: np.ndarray, labels: np.ndarray | None) -> dict:
    body = (
        classification_report(teacher, student, labels)
        if task == "classification"
        else embedding_report(teacher, student)
    )
    return {"task": task, **body}
