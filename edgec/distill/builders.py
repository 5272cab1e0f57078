"""Teacher and student from the `distill:` section, and the student rebuilt from its folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgec.artifacts import read_json, sha256_file
from edgec.distill import hf
from edgec.distill.refs import build_module
from edgec.errors import EdgecError


@dataclass
class Models:
    teacher: nn.Module
    teacher_sha: str
    teacher_source: str
    teacher_license: str | None
    student: nn.Module
    spec: dict  # student.json: how to rebuild the student
    init: dict  # what the student started from
    tokenizer: Any | None = None
    hf_folder: Path | None = None


def load_weights(module: nn.Module, path: Path, where: str) -> None:
    from safetensors.torch import load_model

    if path.suffix != ".safetensors":
        raise EdgecError(f"{where}: '{path.name}' is not a .safetensors file (edgec loads no pickled checkpoints)")
    try:
        missing, unexpected = load_model(module, str(path), strict=False)
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a bad file or shape
        raise EdgecError(f"{where}: cannot load {path.name} into {type(module).__name__} ({exc})") from exc
    if missing or unexpected:
        raise EdgecError(f"{where}: {path.name} does not fit {type(module).__name__}: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}")  # fmt: skip


def _module_teacher(t, base_dir: Path) -> tuple[nn.Module, str, str]:
    teacher = build_module(t.module, t.kwargs, "distill.teacher.module", base_dir)
    load_weights(teacher, t.weights, "distill.teacher.weights")
    return teacher.eval(), sha256_file(t.weights), t.source or f"{t.module} with weights {t.weights.name}"


def build_models(cfg, eager_attention: bool = False) -> Models:
    """Teacher (weights loaded, eval mode, frozen) and a fresh student, as the config says."""
    t, s = cfg.teacher, cfg.student
    tokenizer = folder = None
    license_ = t.license
    if t.hf is not None:
        folder, source = hf.resolve_folder(t.hf, cfg.base_dir)
        teacher = hf.load_teacher(folder, cfg.task, t.pooling, t.normalize, eager_attention)
        sha, source = hf.weights_sha256(folder), t.source or source
        tokenizer = hf.load_tokenizer(folder)
        license_ = license_ or hf.model_card_license(folder)
    else:
        teacher, sha, source = _module_teacher(t, cfg.base_dir)
    for param in teacher.parameters():
        param.requires_grad_(False)
    torch.manual_seed(cfg.training.seed)  # the student's initial weights follow the seed
    if s.derive is not None:
        spec = hf.derive_spec(teacher, s.derive, cfg.task, eager_attention)
        student = hf.build_from_spec(spec)
        init = hf.init_from_teacher(student, teacher, spec["teacher_layers"])
    else:
        student = build_module(s.module, s.kwargs, "distill.student.module", cfg.base_dir)
        spec = {"kind": "module", "module": s.module, "kwargs": s.kwargs, "code_dir": str(cfg.base_dir)}
        init = {"params_from_teacher": 0}
    if s.weights is not None:
        load_weights(student, s.weights, "distill.student.weights")
        init = {**init, "weights": s.weights.name, "weights_sha256": sha256_file(s.weights)}
    return Models(teacher, sha, source, license_, student, spec, init, tokenizer, folder)


def rebuild_student(folder: Path) -> tuple[nn.Module, dict]:
    """The student module of a `student/` folder (weights loaded, eval mode) and its provenance."""
    folder = Path(folder)
    spec = read_json(folder / "student.json", "student description")
    provenance = read_json(folder / "provenance.json", "provenance")
    if spec.get("kind") == "hf":
        student = hf.build_from_spec(spec)
    elif spec.get("kind") == "module":
        code_dir = Path(spec["code_dir"]) if spec.get("code_dir") else None
        student = build_module(spec["module"], spec.get("kwargs", {}), f"{folder}/student.json", code_dir)
    else:
        raise EdgecError(f"{folder}/student.json: unknown kind {spec.get('kind')!r}")
    load_weights(student, folder / "student.safetensors", f"{folder}/student.safetensors")
    return student.eval(), provenance


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def check_outputs(teacher: nn.Module, student: nn.Module, batch, where: str) -> tuple[torch.Size, torch.Size]:
    """One small batch through both: a clear error for a forward that fails or shapes that differ."""
    from edgec.distill.cache import call_model

    shapes = []
    for name, model in (("teacher", teacher), ("student", student)):
        try:
            with torch.no_grad():
                shapes.append(call_model(model, batch).shape)
        except EdgecError:
            raise
        except Exception as exc:  # noqa: BLE001 - user code raises anything; name the model and the input
            shape = {k: list(v.shape) for k, v in batch.items()} if isinstance(batch, dict) else list(batch.shape)
            raise EdgecError(f"{where}: the {name} failed on a batch of {shape}: {type(exc).__name__}: {exc}") from exc
    if shapes[0][1:] != shapes[1][1:]:
        raise EdgecError(f"{where}: teacher output {list(shapes[0])} and student output {list(shapes[1])} differ; "
                         f"the student must produce the teacher's output shape (e.g. the same number of classes)")  # fmt: skip
    return shapes[0], shapes[1]
