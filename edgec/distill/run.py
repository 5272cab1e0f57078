"""`run_distill`: teacher -> student, as one cached stage, written to `OUT/student/`.

`OUT/student/` holds `student.safetensors` (provenance in its metadata), `student.json` (how to
rebuild the module), `provenance.json`, `fidelity.json`, `training.json` (loss curve, metric per
epoch) and, for Hugging Face students, `tokenizer/`. Under torchrun every process trains; only
rank 0 writes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgec import __version__
from edgec.artifacts import atomic_write_json, read_json, staged_dir, sweep_temporaries
from edgec.distill import fidelity as fid
from edgec.distill.builders import build_models, check_outputs, parameter_count, rebuild_student
from edgec.distill.cache import teacher_outputs
from edgec.distill.checkpoint import Checkpoints
from edgec.distill.dataset import load_splits
from edgec.distill.loop import LoopInputs, train
from edgec.distill.parallel import init_distributed
from edgec.distill.setup import make_step, monitor_for, validator
from edgec.errors import EdgecError
from edgec.stages import StageCache

PROVENANCE_METADATA_KEY = "edgec.provenance"  # same key as the ONNX metadata (edgec.compile.graph)
Progress = Callable[[int, int, int, int, float], None]


@dataclass
class DistillResult:
    path: Path  # OUT/student
    provenance: dict
    fidelity: dict
    training: dict
    cached: bool


def load_student(folder: str | Path) -> tuple[torch.nn.Module, dict]:
    """(student module in eval mode, provenance dict) from a `student/` folder."""
    return rebuild_student(Path(folder))


def _teacher_cache_outputs(cache, models, head, splits, group, live: bool) -> dict[str, np.ndarray | None]:
    """Teacher outputs per split: the training split cached (or None when the teacher runs live)."""
    from edgec.distill.fidelity import outputs_of

    result: dict[str, np.ndarray | None] = {}
    for name in ("train", "validation", "test"):
        samples = getattr(splits, name)
        if name == "test" and splits.test is splits.validation:
            result[name] = result["validation"]
            continue
        if name == "train" and live:
            result[name] = None
            continue
        if live:  # held-out outputs are still computed once, in memory
            result[name] = outputs_of(models.teacher, samples, group.device)
            continue
        if group.main:
            result[name] = teacher_outputs(cache, models.teacher, models.teacher_sha, head, samples, name,
                                           device=group.device)  # fmt: skip
        group.barrier()
        if not group.main:
            result[name] = teacher_outputs(cache, models.teacher, models.teacher_sha, head, samples, name,
                                           device=group.device)  # fmt: skip
    return result


def _metrics(task: str, report: dict) -> tuple[dict | None, dict]:
    if task == "embedding":
        return None, {"mean_cosine_to_teacher": report["mean_cosine"]}
    if "teacher_accuracy" in report:
        return {"top1": report["teacher_accuracy"]}, {"top1": report["student_accuracy"],
                                                      "top1_agreement": report["top1_agreement"]}  # fmt: skip
    return None, {"top1_agreement": report["top1_agreement"]}


def _provenance(cfg, models, splits, losses, history, report) -> dict:
    kd = next((c for c in losses if c.kind == "kd"), None)
    teacher_metric, student_metric = _metrics(cfg.task, report)
    return {
        "teacher": {"source": models.teacher_source, "sha256": models.teacher_sha, "license": models.teacher_license},
        "data_sha256": splits.fingerprint,
        "temperature": kd.temperature if kd else None,
        "alpha": kd.alpha if kd else None,
        "losses": [c.settings() for c in losses],
        "epochs": len(history.train_loss),
        "epochs_planned": cfg.training.epochs,
        "teacher_params": parameter_count(models.teacher),
        "student_params": parameter_count(models.student),
        "teacher_metric": teacher_metric,
        "student_metric": student_metric,
        "student_init": models.init,
        "task": cfg.task,
        "edgec_version": __version__,
    }


def _write_student(tmp: Path, models, provenance: dict, report: dict, training: dict) -> None:
    from safetensors.torch import save_model

    save_model(models.student.cpu(), str(tmp / "student.safetensors"),
               metadata={PROVENANCE_METADATA_KEY: json.dumps(provenance, sort_keys=True)})  # fmt: skip
    atomic_write_json(tmp / "student.json", models.spec)
    atomic_write_json(tmp / "provenance.json", provenance)
    atomic_write_json(tmp / "fidelity.json", report)
    atomic_write_json(tmp / "training.json", training)
    if models.tokenizer is not None:
        models.tokenizer.save_pretrained(str(tmp / "tokenizer"))


def run_distill(config, out_dir: str | Path, log: Callable[[str], None] = print, *,
                progress: Progress | None = None, on_epoch_end=None) -> DistillResult:  # fmt: skip
    """Distil the student `config.distill` describes; reuse the stage when nothing changed."""
    cfg = getattr(config, "distill", config)
    if cfg is None:
        raise EdgecError(f"config '{getattr(config, 'name', '?')}' has no 'distill:' section")
    out = Path(out_dir)
    group = init_distributed()
    say = log if group.main else (lambda _m: None)
    if group.main:
        out.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(out)
    cache = StageCache(out / ".cache", say)
    losses = cfg.effective_losses()
    models = build_models(cfg, eager_attention=any(c.kind == "attention" for c in losses))
    splits = load_splits(cfg.data, cfg.training.seed, models.tokenizer)
    models.teacher.to(group.device)
    models.student.to(group.device)
    from edgec.distill.cache import to_device

    probe = to_device(splits.train.batch(np.arange(min(2, len(splits.train)))), group.device)
    t_shape, _ = check_outputs(models.teacher, models.student, probe, "distill")
    _check_labels(cfg.task, t_shape, splits)
    head = {"task": cfg.task, "pooling": cfg.teacher.pooling, "normalize": cfg.teacher.normalize}
    settings = cfg.model_dump(mode="json", exclude={"teacher": {"weights"}, "student": {"weights"}, "data": True})
    key = {"settings": settings, "teacher": models.teacher_sha, "data": splits.fingerprint, "init": models.init,
           "student": models.spec if models.spec["kind"] == "hf" else {k: v for k, v in models.spec.items()
                                                                       if k != "code_dir"},
           "world": group.world, "torch": torch.__version__}  # fmt: skip
    final = cache.path_for("distill", key)
    cached = (final / "stage.json").is_file()
    checkpoints = out / ".cache" / "distill-checkpoints" / final.name

    def build(tmp: Path | None) -> dict:
        outputs = _teacher_cache_outputs(cache, models, head, splits, group, live=not cfg.training.teacher_cache)
        step, teacher_tap, losses_resolved = make_step(cfg, models, losses, probe)
        monitor, higher = monitor_for(cfg, splits)
        validate = validator(monitor, cfg, step, splits.validation, outputs["validation"], group.device)
        say(f"distilling: {parameter_count(models.student):,} student params vs {parameter_count(models.teacher):,} "
            f"teacher; monitor {monitor}; {group.world} process(es)")  # fmt: skip
        loop = LoopInputs(step, models.teacher, teacher_tap, splits.train, outputs["train"], validate, higher,
                          Checkpoints(checkpoints), group,
                          progress or (lambda *a: None), on_epoch_end or (lambda *a: None))  # fmt: skip
        history = train(loop, cfg.training)
        student_test = fid.outputs_of(models.student, splits.test, group.device)
        report = fid.report(cfg.task, np.asarray(outputs["test"], dtype=np.float32), student_test, splits.test.labels)
        provenance = _provenance(cfg, models, splits, losses_resolved, history, report)
        training = {"train_loss": history.train_loss, "val_metric": history.val_metric, "monitor": monitor,
                    "best_epoch": history.best_epoch, "stopped_early": history.stopped_early,
                    "resumed_from": history.resumed_from, "processes": group.world}  # fmt: skip
        if tmp is not None:
            _write_student(tmp, models, provenance, report, training)
        return {"provenance": provenance, "fidelity": report, "training": training}

    if cached:
        say(f"distill: cached (distill {final.name[:12]})")
    elif group.main:
        cache.run("distill", key, "distill", build)
        shutil.rmtree(checkpoints, ignore_errors=True)  # the finished stage supersedes them
    else:
        build(None)
    group.barrier()
    info = read_json(final / "stage.json")["info"]
    student_dir = out / "student"
    if group.main:
        with staged_dir(student_dir) as tmp:
            for item in final.iterdir():
                if item.name != "stage.json":
                    (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
        _log_summary(say, info)
    group.barrier()
    return DistillResult(student_dir, info["provenance"], info["fidelity"], info["training"], cached)


def _check_labels(task: str, teacher_shape, splits) -> None:
    if task != "classification":
        return
    if len(teacher_shape) != 2:
        raise EdgecError(f"distill.task: classification needs [batch, classes] outputs; the teacher gives "
                         f"{list(teacher_shape)} (use task: embedding for vectors)")  # fmt: skip
    for name in ("train", "validation", "test"):
        labels = getattr(splits, name).labels
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= teacher_shape[1]):
            raise EdgecError(f"distill.data.{name}: labels span {labels.min()}..{labels.max()} but the teacher "
                             f"has {teacher_shape[1]} classes")  # fmt: skip


def _log_summary(say, info: dict) -> None:
    p, f = info["provenance"], info["fidelity"]
    ratio = p["student_params"] / p["teacher_params"] * 100
    line = f"student {p['student_params']:,} params ({ratio:.1f} % of the teacher's), {p['epochs']} epochs; "
    if f["task"] == "embedding":
        line += f"mean cosine to teacher {f['mean_cosine']:.4f}"
    else:
        line += f"top-1 agreement {f['top1_agreement']:.2f} %"
        if "student_accuracy" in f:
            line += f", accuracy {f['student_accuracy']:.2f} % (teacher {f['teacher_accuracy']:.2f} %)"
    say(line)
