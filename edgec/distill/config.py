"""The `distill:` section of `edgec.yaml`.

Code is named only as an explicit `module:attr` string (the user's own factory or class); no
YAML tag constructs objects. Paths resolve against the config file's folder, which is also put
first on `sys.path` while a `module:attr` is imported, so a `models.py` next to the config works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from edgec.schema import InputFile, StrictModel

MODULE_REF = r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$"
Task = Literal["classification", "embedding"]


class TeacherConfig(StrictModel):
    """A PyTorch module with its trained weights, or a Hugging Face model (folder or cached hub id)."""

    module: str | None = Field(None, pattern=MODULE_REF, description="'package.module:attr', a class or factory")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for module")
    weights: InputFile | None = Field(None, description=".safetensors state dict of the teacher")
    hf: str | None = Field(None, min_length=1, description="Hugging Face model folder, or a hub id already cached")
    pooling: Literal["mean", "cls"] = "mean"
    normalize: bool = False
    source: str | None = Field(None, description="where the teacher comes from (hub id, URL), for provenance")
    license: str | None = Field(None, description="declared licence; otherwise read from the model card")

    @model_validator(mode="after")
    def _one_kind(self) -> TeacherConfig:
        if (self.module is None) == (self.hf is None):
            raise ValueError("give exactly one of 'module' (with 'weights') or 'hf'")
        if self.module is not None and self.weights is None:
            raise ValueError("'weights' (a .safetensors file) is required with 'module'")
        if self.hf is not None and (self.weights is not None or self.kwargs):
            raise ValueError("'weights' and 'kwargs' apply to 'module' teachers, not 'hf'")
        return self


class DeriveConfig(StrictModel):
    """A smaller Hugging Face model derived from the teacher's config (DistilBERT-style)."""

    layers: int = Field(ge=1, description="transformer layers of the student")
    teacher_layers: list[int] | None = Field(None, description="teacher layer copied into each student layer")
    hidden_size: int | None = Field(None, ge=8, description="narrower width (layers then start from scratch)")
    intermediate_size: int | None = Field(
        None, ge=8, description="narrower feed-forward: starts from the teacher's most important neurons"
    )
    num_attention_heads: int | None = Field(None, ge=1)
    embedding_rank: int | None = Field(None, ge=8, description="factorise the word embeddings at this rank (SVD)")


class StudentConfig(StrictModel):
    module: str | None = Field(None, pattern=MODULE_REF)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    derive: DeriveConfig | None = None
    weights: InputFile | None = Field(None, description="optional initial weights (.safetensors)")

    @model_validator(mode="after")
    def _one_kind(self) -> StudentConfig:
        if (self.module is None) == (self.derive is None):
            raise ValueError("give exactly one of 'module' or 'derive'")
        return self


class DataConfig(StrictModel):
    """Training data: .npz arrays (input + optional labels) or, for Hugging Face teachers, .txt lines."""

    train: InputFile
    validation: InputFile | None = Field(None, description="held out; else validation_fraction of train")
    test: InputFile | None = Field(None, description="held out for the fidelity report; else validation")
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    input_key: str = "input"
    labels_key: str = "labels"
    max_length: int = Field(128, ge=4, le=4096, description="tokens per text sample")


LossKind = Literal["kd", "mse", "cosine", "hint", "hidden", "attention"]


class LossConfig(StrictModel):
    kind: LossKind
    weight: float = Field(1.0, gt=0)
    temperature: float = Field(4.0, gt=0, description="kd")
    alpha: float = Field(0.7, ge=0, le=1, description="kd: weight of the soft term against hard labels")
    teacher_layer: str | None = Field(None, description="hint: module path in the teacher")
    student_layer: str | None = Field(None, description="hint: module path in the student")
    layers: list[tuple[int, int]] | None = Field(None, description="hidden/attention: [student, teacher] pairs")

    @model_validator(mode="after")
    def _fields_for_kind(self) -> LossConfig:
        if self.kind == "hint" and not (self.teacher_layer and self.student_layer):
            raise ValueError("a 'hint' loss needs 'teacher_layer' and 'student_layer' (module paths)")
        if self.kind != "hint" and (self.teacher_layer or self.student_layer):
            raise ValueError(f"'teacher_layer'/'student_layer' apply to 'hint' losses, not '{self.kind}'")
        if self.layers is not None and self.kind not in ("hidden", "attention"):
            raise ValueError(f"'layers' applies to 'hidden' and 'attention' losses, not '{self.kind}'")
        return self

    def settings(self) -> dict:
        """The settings that matter for this kind (for provenance and cache keys)."""
        keep = {"kind", "weight"} | {
            "kd": {"temperature", "alpha"},
            "hint": {"teacher_layer", "student_layer"},
            "hidden": {"layers"},
            "attention": {"layers"},
        }.get(self.kind, set())
        return self.model_dump(mode="json", include=keep)


class TrainingConfig(StrictModel):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1, description="global batch; split across processes under torchrun")
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    seed: int = 0
    patience: int | None = Field(5, ge=1, description="epochs without improvement before stopping; null = never")
    monitor: Literal["auto", "loss", "accuracy", "agreement", "cosine"] = "auto"
    teacher_cache: bool = Field(True, description="run the teacher once and reuse its outputs (float16 memmap)")


class DistillConfig(StrictModel):
    task: Task = "classification"
    teacher: TeacherConfig
    student: StudentConfig
    data: DataConfig
    losses: list[LossConfig] | None = Field(None, description="default: kd (classification), cosine (embedding)")
    training: TrainingConfig = TrainingConfig()

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    def model_post_init(self, context: Any, /) -> None:
        if isinstance(context, dict) and "base_dir" in context:
            self._base_dir = Path(context["base_dir"]).resolve()

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @model_validator(mode="after")
    def _consistent(self) -> DistillConfig:
        if self.student.derive is not None and self.teacher.hf is None:
            raise ValueError("student 'derive' needs a Hugging Face teacher ('teacher.hf')")
        for loss in self.effective_losses():
            if self.task == "embedding" and loss.kind == "kd":
                raise ValueError("the 'kd' loss is for classification; use 'mse' or 'cosine' for embeddings")
            if loss.kind in ("hidden", "attention") and self.teacher.hf is None:
                raise ValueError(f"a '{loss.kind}' loss needs a Hugging Face teacher; use 'hint' for other modules")
        return self

    def effective_losses(self) -> list[LossConfig]:
        if self.losses:
            return list(self.losses)
        return [LossConfig(kind="kd" if self.task == "classification" else "cosine")]
