"""The distillation loop: one step module (student + loss projections), wrapped in DDP under torchrun.

Per epoch: a seed-determined shuffle, global batches split across processes, the teacher's
outputs read from the soft-label cache (the teacher runs live only for losses that need its
inner layers), AdamW with warm-up + cosine decay computed from the global step (so a resumed
run continues the same schedule), a validation metric for early stopping, and a checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from edgec.distill import losses as L
from edgec.distill.cache import call_model, to_device
from edgec.distill.checkpoint import Checkpoints
from edgec.distill.dataset import Samples
from edgec.distill.hf import HfEncoder
from edgec.distill.hooks import FeatureTap
from edgec.distill.parallel import Dist

OUTPUT_LOSSES = ("kd", "mse", "cosine")


class DistillStep(nn.Module):
    """Student forward + every loss term; projections live here so they train (and sync) too."""

    def __init__(self, student: nn.Module, loss_cfgs: list, hint_paths: list[str]) -> None:
        super().__init__()
        self.student = student
        self.loss_cfgs = loss_cfgs
        self.projections = nn.ModuleDict()
        self.tap = FeatureTap(student, hint_paths, "distill.losses (student_layer)") if hint_paths else None
        self.wants_hidden = any(c.kind == "hidden" for c in loss_cfgs)
        self.wants_attention = any(c.kind == "attention" for c in loss_cfgs)

    def student_forward(self, batch):
        if isinstance(self.student, HfEncoder):
            return self.student.run(batch, hidden=self.wants_hidden, attentions=self.wants_attention)
        return call_model(self.student, batch), None, None

    def add_projection(self, name: str, module: nn.Module | None) -> None:
        if module is not None:
            self.projections[name] = module

    def forward(self, batch, teacher_out, labels, teacher_inner: dict) -> tuple[torch.Tensor, list[float]]:
        out, hidden, attention = self.student_forward(batch)
        mask = batch.get("attention_mask") if isinstance(batch, dict) else None
        total, parts = out.new_zeros(()), []
        for i, cfg in enumerate(self.loss_cfgs):
            if cfg.kind == "kd":
                term = L.kd_loss(out, teacher_out, labels, temperature=cfg.temperature, alpha=cfg.alpha)
            elif cfg.kind in ("mse", "cosine"):
                term = L.LOSSES[cfg.kind](out, teacher_out)
            elif cfg.kind == "hint":
                proj = self.projections[str(i)] if str(i) in self.projections else None
                term = L.hint_loss(self.tap.features[cfg.student_layer], teacher_inner[cfg.teacher_layer], proj)
            else:
                term = layer_terms(cfg, i, hidden, attention, teacher_inner, mask, self.projections)
            total = total + cfg.weight * term
            parts.append(float(term.detach()))
        return total, parts


def layer_terms(cfg, i, hidden, attention, teacher_inner, mask, projections) -> torch.Tensor:
    terms = []
    for s_layer, t_layer in cfg.layers:
        if cfg.kind == "hidden":
            proj = projections[str(i)] if str(i) in projections else None
            terms.append(L.hidden_state_loss(hidden[s_layer], teacher_inner["hidden"][t_layer], mask, proj))
        else:
            terms.append(L.attention_loss(attention[s_layer], teacher_inner["attention"][t_layer], mask))
    return torch.stack(terms).mean()


@torch.no_grad()
def teacher_inner(teacher: nn.Module, batch, loss_cfgs, tap: FeatureTap | None) -> dict:
    """The teacher's intermediate tensors for the losses that need them (a live forward)."""
    inner: dict = {}
    if isinstance(teacher, HfEncoder):
        hidden = any(c.kind == "hidden" for c in loss_cfgs)
        attention = any(c.kind == "attention" for c in loss_cfgs)
        inner["output"], inner["hidden"], inner["attention"] = teacher.run(batch, hidden=hidden, attentions=attention)
    else:
        inner["output"] = call_model(teacher, batch)
    if tap is not None:
        inner.update(tap.features)
    return inner


def lr_factor(step: int, total: int, warmup_fraction: float = 0.1) -> float:
    warmup = max(1, int(total * warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    resumed_from: int | None = None


@dataclass
class LoopInputs:
    step: DistillStep
    teacher: nn.Module
    teacher_tap: FeatureTap | None
    train: Samples
    soft: np.ndarray | None  # cached teacher outputs (None: teacher runs live)
    validate: Callable[[nn.Module], float]  # student -> metric
    higher_is_better: bool
    checkpoints: Checkpoints
    group: Dist
    progress: Callable[[int, int, int, int, float], None] = lambda *a: None
    on_epoch_end: Callable[[int, History], None] = lambda *a: None


def _batches(samples: Samples, batch_size: int, epoch: int, seed: int, group: Dist) -> list[np.ndarray]:
    """A seed-and-epoch-determined shuffle. Token data is bucketed by length (sorted within
    windows of 32 batches, then the batches shuffled) so batches pad little."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(samples))
    if samples.tokens:
        lengths = samples.inputs["attention_mask"].sum(1)
        window = batch_size * 32
        order = np.concatenate([w[np.argsort(lengths[w], kind="stable")]
                                for w in np.array_split(order, max(1, -(-len(order) // window)))])  # fmt: skip
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    if samples.tokens:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    if group.active:  # every process must take part in every step
        batches = [b[group.rank :: group.world] for b in batches if len(b) >= group.world]
    return batches


def train(inputs: LoopInputs, training) -> History:
    g, step_module = inputs.group, inputs.step
    model = step_module
    if g.active:
        model = nn.parallel.DistributedDataParallel(step_module, find_unused_parameters=True)
    params = [p for p in step_module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=training.lr, weight_decay=training.weight_decay)
    n_batches = len(_batches(inputs.train, training.batch_size, 0, training.seed, g))
    total_steps = training.epochs * n_batches
    history, start_epoch = History(), 0
    saved = inputs.checkpoints.load(step_module, optimizer)
    if saved is not None:
        history = History(**{k: v for k, v in saved["history"].items()})
        history.resumed_from = start_epoch = saved["epoch"] + 1
    for epoch in range(start_epoch, training.epochs):
        if history.stopped_early:
            break
        torch.manual_seed(training.seed * 1000 + epoch)  # dropout: the same on a resumed run
        model.train()
        inputs.teacher.eval()
        loss_sum = count = 0.0
        batches = _batches(inputs.train, training.batch_size, epoch, training.seed, g)
        for b, index in enumerate(batches):
            for group_ in optimizer.param_groups:
                group_["lr"] = training.lr * lr_factor(epoch * n_batches + b, total_steps)
            batch = to_device(inputs.train.batch(index), g.device)
            labels = inputs.train.label_batch(index)
            labels = None if labels is None else labels.to(g.device)
            inner = {}
            if inputs.soft is None or inputs.teacher_tap is not None or step_module.wants_hidden \
                    or step_module.wants_attention:  # fmt: skip
                inner = teacher_inner(inputs.teacher, batch, step_module.loss_cfgs, inputs.teacher_tap)
            if inputs.soft is not None:
                teacher_out = torch.from_numpy(inputs.soft[index].astype(np.float32)).to(g.device)
            else:
                teacher_out = inner["output"].float()
            loss, _parts = model(batch, teacher_out, labels, inner)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(index)
            count += len(index)
            inputs.progress(epoch, training.epochs, b + 1, len(batches), float(loss.detach()))
        loss_sum, count = g.all_sum([loss_sum, count])
        history.train_loss.append(loss_sum / max(count, 1))
        step_module.eval()
        metric = inputs.validate(step_module.student)
        history.val_metric.append(metric)
        better = history.best_metric is None or (
            metric > history.best_metric if inputs.higher_is_better else metric < history.best_metric
        )
        if better:
            history.best_metric, history.best_epoch, history.bad_epochs = metric, epoch, 0
        else:
            history.bad_epochs += 1
            history.stopped_early = training.patience is not None and history.bad_epochs >= training.patience
        if g.main:
            state = {"history": {k: v for k, v in vars(history).items()}}
            inputs.checkpoints.save(epoch, step_module, optimizer, state, step_module.student if better else None)
        g.barrier()
        inputs.on_epoch_end(epoch, history)
    inputs.checkpoints.load_best(step_module.student)
    step_module.eval()
    return history
