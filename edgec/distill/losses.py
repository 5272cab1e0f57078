"""Distillation losses, in a registry so a config can name them.

Each loss takes the student's and the teacher's tensors (and a projection where widths may
differ) and returns a scalar; none of them changes a model's `forward()`: intermediate
tensors come from forward hooks (`edgec.distill.hooks`) or, for transformers, from the
model's own `output_hidden_states` / `output_attentions`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

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


@register("mse")
def mse_embedding_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element of the output vectors."""
    return F.mse_loss(student, teacher)


@register("cosine")
def cosine_embedding_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos(student_i, teacher_i): 0 when every vector points the teacher's way."""
    return (1 - F.cosine_similarity(student.flatten(1), teacher.flatten(1), dim=1, eps=1e-8)).mean()


@register("hint")
def hint_loss(student_feature: torch.Tensor, teacher_feature: torch.Tensor,
              projection: nn.Module | None = None) -> torch.Tensor:  # fmt: skip
    """FitNets (Romero et al., 2015): MSE between an intermediate student tensor, projected to
    the teacher's width when the widths differ, and the teacher's tensor at the chosen layer."""
    projected = student_feature if projection is None else projection(student_feature)
    return F.mse_loss(projected, teacher_feature)


def _masked_mean(per_token: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_token.mean()
    weights = mask.to(per_token.dtype).expand_as(per_token)
    return (per_token * weights).sum() / weights.sum().clamp_min(1)


@register("hidden")
def hidden_state_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, mask: torch.Tensor | None = None,
                      projection: nn.Module | None = None) -> torch.Tensor:  # fmt: skip
    """TinyBERT-style hidden-state matching: per-token MSE [batch, tokens, width], padding
    tokens (mask 0) left out."""
    projected = student_hidden if projection is None else projection(student_hidden)
    per_token = ((projected - teacher_hidden) ** 2).mean(-1)
    return _masked_mean(per_token, mask)


@register("attention")
def attention_loss(student_attention: torch.Tensor, teacher_attention: torch.Tensor,
                   mask: torch.Tensor | None = None, eps: float = 1e-12) -> torch.Tensor:  # fmt: skip
    """MiniLM-style attention transfer: KL(teacher || student) between each head's attention
    distribution of each query token [batch, heads, query, key], averaged over heads and
    real (non-padding) query tokens."""
    t = teacher_attention.clamp_min(eps)
    s = student_attention.clamp_min(eps)
    per_query = (t * (t.log() - s.log())).sum(-1)  # [batch, heads, query]
    return _masked_mean(per_query, None if mask is None else mask[:, None, :])


def make_projection(student_shape: torch.Size, teacher_shape: torch.Size, where: str) -> nn.Module | None:
    """A learned map from the student's width to the teacher's (1x1 conv for [N, C, H, W]
    feature maps, a linear layer on the last axis otherwise); None when the widths agree.

    The projection trains with the student and is dropped afterwards: it is not part of the model.
    """
    from edgec.errors import EdgecError

    if len(student_shape) != len(teacher_shape):
        raise EdgecError(f"{where}: student tensor {list(student_shape)} and teacher tensor "
                         f"{list(teacher_shape)} have different ranks")  # fmt: skip
    channel_axis = 1 if len(student_shape) == 4 else len(student_shape) - 1
    others_s = [d for i, d in enumerate(student_shape) if i not in (0, channel_axis)]
    others_t = [d for i, d in enumerate(teacher_shape) if i not in (0, channel_axis)]
    if others_s != others_t:
        raise EdgecError(f"{where}: student tensor {list(student_shape)} and teacher tensor {list(teacher_shape)} "
                         f"differ beyond the width axis ({channel_axis}); pick layers of matching size")  # fmt: skip
    s_width, t_width = student_shape[channel_axis], teacher_shape[channel_axis]
    if s_width == t_width:
        return None
    if len(student_shape) == 4:
        return nn.Conv2d(s_width, t_width, kernel_size=1, bias=False)
    return nn.Linear(s_width, t_width, bias=False)
