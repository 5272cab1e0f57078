"""Wiring before the loop: loss terms resolved against the models, projections sized, the metric chosen."""

from __future__ import annotations

import numpy as np
import torch

from edgec.distill import fidelity as fid
from edgec.distill import losses as L
from edgec.distill.hooks import FeatureTap
from edgec.distill.loop import OUTPUT_LOSSES, DistillStep, teacher_inner
from edgec.errors import EdgecError


def _default_layers(kind: str, models) -> list[tuple[int, int]]:
    """Derived students: each student layer against the teacher layer it was copied from;
    otherwise the last layer against the last."""
    mapping = models.spec.get("teacher_layers")
    if not mapping:
        return [(-1, -1)]
    if kind == "hidden":  # hidden_states[0] is the embedding output, [i + 1] layer i's output
        return [(i + 1, t + 1) for i, t in enumerate(mapping)]
    return list(enumerate(mapping))


def _resolve(losses, models) -> list:
    resolved = []
    for cfg in losses:
        if cfg.kind in ("hidden", "attention") and cfg.layers is None:
            cfg = cfg.model_copy(update={"layers": _default_layers(cfg.kind, models)})
        resolved.append(cfg)
    return resolved


def _pick(seq, index: int, what: str):
    if seq is None:
        raise EdgecError(f"distill.losses: the {what} gives no per-layer outputs (not a Hugging Face encoder?)")
    if not -len(seq) <= index < len(seq):
        raise EdgecError(f"distill.losses: layer {index} is out of range for the {what} ({len(seq)} available)")
    return seq[index]


def make_step(cfg, models, losses, probe) -> tuple[DistillStep, FeatureTap | None, list]:
    resolved = _resolve(losses, models)
    hints = [c for c in resolved if c.kind == "hint"]
    teacher_tap = None
    if hints:
        teacher_tap = FeatureTap(models.teacher, [c.teacher_layer for c in hints], "distill.losses (teacher_layer)")
    step = DistillStep(models.student, resolved, [c.student_layer for c in hints])
    needs_inner = any(c.kind not in OUTPUT_LOSSES for c in resolved)
    if needs_inner:
        with torch.no_grad():
            _out, s_hidden, s_attention = step.student_forward(probe)
            inner = teacher_inner(models.teacher, probe, resolved, teacher_tap)
        for i, c in enumerate(resolved):
            where = f"distill.losses[{i}] ({c.kind})"
            if c.kind == "hint":
                s_feat, t_feat = step.tap.features[c.student_layer], inner[c.teacher_layer]
                step.add_projection(str(i), L.make_projection(s_feat.shape, t_feat.shape, where))
            elif c.kind == "hidden":
                for s_layer, t_layer in c.layers:
                    s_h = _pick(s_hidden, s_layer, "student hidden states")
                    t_h = _pick(inner["hidden"], t_layer, "teacher hidden states")
                    if str(i) not in step.projections:
                        step.add_projection(str(i), L.make_projection(s_h.shape, t_h.shape, where))
            elif c.kind == "attention":
                for s_layer, t_layer in c.layers:
                    s_a = _pick(s_attention, s_layer, "student attentions")
                    t_a = _pick(inner["attention"], t_layer, "teacher attentions")
                    if s_a.shape != t_a.shape:
                        raise EdgecError(f"{where}: student attention {list(s_a.shape)} and teacher attention "
                                         f"{list(t_a.shape)} differ; attention transfer needs the same heads")  # fmt: skip
    step.to(probe["input_ids"].device if isinstance(probe, dict) else probe.device)
    return step, teacher_tap, resolved


def monitor_for(cfg, splits) -> tuple[str, bool]:
    """(metric, higher is better) for early stopping; 'auto' picks by task and labels."""
    monitor = cfg.training.monitor
    if monitor == "auto":
        if cfg.task == "embedding":
            monitor = "cosine"
        else:
            monitor = "accuracy" if splits.validation.labels is not None else "agreement"
    if monitor == "accuracy" and splits.validation.labels is None:
        raise EdgecError("distill.training.monitor: 'accuracy' needs labels in the validation data")
    if monitor in ("accuracy", "agreement") and cfg.task != "classification":
        raise EdgecError(f"distill.training.monitor: '{monitor}' is for classification; use cosine or loss")
    if monitor == "cosine" and cfg.task != "embedding":
        raise EdgecError("distill.training.monitor: 'cosine' is for embedding tasks")
    return monitor, monitor != "loss"


def validator(monitor: str, cfg, step: DistillStep, samples, teacher_out: np.ndarray, device):
    teacher = np.asarray(teacher_out, dtype=np.float32)
    output_losses = [c for c in step.loss_cfgs if c.kind in OUTPUT_LOSSES]
    if monitor == "loss" and not output_losses:
        raise EdgecError("distill.training.monitor: 'loss' needs an output loss (kd, mse or cosine) in distill.losses")

    def validate(student: torch.nn.Module) -> float:
        out = fid.outputs_of(student, samples, device)
        if monitor == "accuracy":
            return float((out.argmax(1) == samples.labels).mean() * 100)
        if monitor == "agreement":
            return float((out.argmax(1) == teacher.argmax(1)).mean() * 100)
        if monitor == "cosine":
            return float(fid.cosines(teacher, out).mean())
        s, t = torch.from_numpy(out), torch.from_numpy(teacher)
        labels = None if samples.labels is None else torch.from_numpy(samples.labels)
        total = 0.0
        for c in output_losses:
            if c.kind == "kd":
                total += c.weight * float(L.kd_loss(s, t, labels, temperature=c.temperature, alpha=c.alpha))
            else:
                total += c.weight * float(L.LOSSES[c.kind](s, t))
        return total

    return validate
