"""Distillation losses, in a registry so a config can name them."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES: dict[str, Callable[..., torch.Tensor]] = {}


def register(name: str):
    def wrap(fn):
        LOSSES[name] = fn
        return fn

    return wrap


@register("kd")
def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    temperature: float = 4.0,
    alpha: float = 0.7,
) -> torch.Tensor:
    """Hinton et al. (2015): alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(labels).

    The T^2 factor keeps the soft term's gradients on the same scale as the hard term's as T
    changes. Without labels (unlabeled data) the loss is the soft term alone.
    """
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=-1),
        F.log_softmax(teacher_logits / t, dim=-1),
        reduction="batchmean",
        log_target=True,
    ) * (t * t)
    if labels is None:
        return soft
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)
