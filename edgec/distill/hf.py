"""Hugging Face teachers and the students derived from them (DistilBERT-style).

A teacher is loaded from a local folder (or a hub id already in the local cache: edgec never
downloads) with plain `transformers`, safetensors weights only. The student is the teacher's
architecture with fewer layers (optionally narrower, optionally with a low-rank word
embedding), initialised from the teacher wherever shapes allow: student layer i takes teacher
layer `teacher_layers[i]` (every other layer by default), embeddings and heads are copied, a
narrower feed-forward keeps the teacher's most important neurons, and a factorised embedding
starts from the truncated SVD of the teacher's.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from edgec.artifacts import sha256_file, sha256_json
from edgec.errors import EdgecError

LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers")


class FactorizedEmbedding(nn.Module):
    """vocab x rank lookup followed by a rank -> hidden projection (ALBERT's factorisation)."""

    def __init__(self, vocab_size: int, rank: int, hidden_size: int, padding_idx: int | None = None) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, rank, padding_idx=padding_idx)
        self.project = nn.Linear(rank, hidden_size, bias=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.project(self.embed(input_ids))

    @torch.no_grad()
    def init_from(self, weight: torch.Tensor) -> None:
        """Best rank-r approximation of the teacher's table (Eckart-Young): W ~ (U_r S_r) V_r^T."""
        u, s, vh = torch.linalg.svd(weight.float(), full_matrices=False)
        rank = self.embed.embedding_dim
        self.embed.weight.copy_(u[:, :rank] * s[:rank])
        self.project.weight.copy_(vh[:rank].T)


class HfEncoder(nn.Module):
    """A transformer with a head: mean/CLS-pooled sentence embedding, or classification logits.

    `forward(input_ids, attention_mask, token_type_ids=None)` returns one tensor, so the same
    module trains, exports to ONNX and runs in the fidelity report.
    """

    def __init__(self, model: nn.Module, task: str, pooling: str = "mean", normalize: bool = False,
                 output_dim: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.model, self.task, self.pooling, self.normalize = model, task, pooling, normalize
        # A narrower embedding student maps its vectors to the teacher's width (part of the model).
        hidden = model.config.hidden_size
        self.head = nn.Linear(hidden, output_dim) if output_dim and output_dim != hidden else None

    def run(self, inputs: dict, *, hidden: bool = False, attentions: bool = False):
        out = self.model(**inputs, output_hidden_states=hidden, output_attentions=attentions, return_dict=True)
        if self.task == "classification":
            result = out.logits
        else:
            last = out.last_hidden_state
            if self.pooling == "cls":
                result = last[:, 0]
            else:
                mask = inputs["attention_mask"].unsqueeze(-1).to(last.dtype)
                result = (last * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            if self.head is not None:
                result = self.head(result)
            if self.normalize:
                result = nn.functional.normalize(result, dim=-1)
        return result, out.hidden_states, out.attentions

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.run(inputs)[0]

    def layers(self) -> nn.ModuleList:
        base = getattr(self.model, "base_model", self.model)
        for path in LAYER_PATHS:
            try:
                found = base.get_submodule(path)
            except AttributeError:
                continue
            if isinstance(found, nn.ModuleList):
                return found
        raise EdgecError(f"{type(base).__name__}: no transformer layer list found (looked for {LAYER_PATHS})")


def _auto_class(task: str):
    import transformers

    return transformers.AutoModelForSequenceClassification if task == "classification" else transformers.AutoModel


def resolve_folder(ref: str, base_dir: Path) -> tuple[Path, str]:
    """(local folder, source for provenance) for a folder path or a hub id in the local cache."""
    candidate = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    if candidate.is_dir():
        return candidate.resolve(), str(ref)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(ref, local_files_only=True)), ref
    except Exception as exc:  # noqa: BLE001 - hub raises several types for a missing entry
        raise EdgecError(f"distill.teacher.hf: '{ref}' is neither a folder (looked for {candidate.resolve()}) "
                         f"nor a model in the local Hugging Face cache; edgec never downloads") from exc  # fmt: skip


def weights_sha256(folder: Path) -> str:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise EdgecError(f"{folder}: no .safetensors weights (edgec loads no pickled checkpoints)")
    if len(files) == 1:
        return sha256_file(files[0])
    return sha256_json({f.name: sha256_file(f) for f in files})


def model_card_license(folder: Path) -> str | None:
    """`license:` from the YAML front matter of the model card (README.md), if any."""
    import yaml

    card = folder / "README.md"
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    try:
        front = yaml.safe_load(text[3:end]) if end > 0 else None
    except yaml.YAMLError:
        return None
    value = front.get("license") if isinstance(front, dict) else None
    return str(value) if value else None


def load_teacher(folder: Path, task: str, pooling: str, normalize: bool, eager_attention: bool) -> HfEncoder:
    kwargs = {"attn_implementation": "eager"} if eager_attention else {}
    try:
        model = _auto_class(task).from_pretrained(str(folder), use_safetensors=True, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise EdgecError(f"{folder}: not a loadable Hugging Face model ({type(exc).__name__}: {exc})") from exc
    return HfEncoder(model, task, pooling, normalize).eval()


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError) as exc:
        raise EdgecError(f"{folder}: no usable tokenizer ({type(exc).__name__}: {exc})") from exc


def default_teacher_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """Every other layer for half the depth (DistilBERT), evenly strided in general."""
    step = max(1, teacher_layers // student_layers)
    return [min(i * step, teacher_layers - 1) for i in range(student_layers)]


def derive_spec(teacher: HfEncoder, derive, task: str, eager_attention: bool) -> dict:
    """The student's description (what student.json keeps to rebuild it)."""
    config = copy.deepcopy(teacher.model.config)
    n_teacher = config.num_hidden_layers
    if derive.layers > n_teacher:
        raise EdgecError(f"distill.student.derive.layers: {derive.layers} is more than the teacher's {n_teacher}")
    mapping = derive.teacher_layers or default_teacher_layers(n_teacher, derive.layers)
    if len(mapping) != derive.layers or any(not 0 <= i < n_teacher for i in mapping):
        raise EdgecError(f"distill.student.derive.teacher_layers: {mapping} must list {derive.layers} indices "
                         f"in 0..{n_teacher - 1}")  # fmt: skip
    teacher_width = config.hidden_size
    config.num_hidden_layers = derive.layers
    for key in ("hidden_size", "intermediate_size", "num_attention_heads"):
        if getattr(derive, key) is not None:
            setattr(config, key, getattr(derive, key))
    if config.hidden_size % config.num_attention_heads:
        raise EdgecError(f"distill.student.derive: hidden_size {config.hidden_size} is not divisible by "
                         f"{config.num_attention_heads} attention heads")  # fmt: skip
    return {"kind": "hf", "task": task, "model_type": config.model_type, "config": config.to_diff_dict(),
            "embedding_rank": derive.embedding_rank, "pooling": teacher.pooling, "normalize": teacher.normalize,
            "teacher_layers": mapping, "eager_attention": eager_attention,
            "output_dim": teacher_width if task == "embedding" and config.hidden_size != teacher_width else None}  # fmt: skip


def build_from_spec(spec: dict) -> HfEncoder:
    from transformers import AutoConfig

    settings = {k: v for k, v in spec["config"].items() if k != "model_type"}
    config = AutoConfig.for_model(spec["model_type"], **settings)
    if spec.get("eager_attention"):
        config._attn_implementation = "eager"
    model = _auto_class(spec["task"]).from_config(config)
    if spec.get("embedding_rank"):
        table = model.get_input_embeddings()
        model.set_input_embeddings(
            FactorizedEmbedding(table.num_embeddings, spec["embedding_rank"], config.hidden_size, table.padding_idx)
        )
    return HfEncoder(model, spec["task"], spec["pooling"], spec["normalize"], spec.get("output_dim"))


@torch.no_grad()
def init_from_teacher(student: HfEncoder, teacher: HfEncoder, teacher_layers: list[int]) -> dict:
    """Copy every teacher tensor whose (layer-mapped) name and shape match; returns counts."""
    t_layers = teacher.layers()
    layer_source: dict[int, torch.Tensor] = {}  # student parameter id -> teacher layer parameter
    for i, layer in enumerate(student.layers()):
        t_params = dict(t_layers[teacher_layers[i]].named_parameters())
        for name, param in layer.named_parameters():
            if name in t_params:
                layer_source[id(param)] = t_params[name]
    t_all = dict(teacher.named_parameters())
    copied = total = 0
    for name, param in student.named_parameters():
        total += param.numel()
        source = layer_source.get(id(param), t_all.get(name))
        if source is not None and source.shape == param.shape:
            param.copy_(source)
            copied += param.numel()
    copied += _init_pruned_ffn(student, teacher, teacher_layers)
    embedding = student.model.get_input_embeddings()
    if isinstance(embedding, FactorizedEmbedding):
        table = teacher.model.get_input_embeddings().weight
        if table.shape[1] == embedding.project.out_features:
            embedding.init_from(table)
            copied += sum(p.numel() for p in embedding.parameters())
    return {"params_from_teacher": copied, "params_total": total, "teacher_layers": teacher_layers}


def _ffn_width(model) -> int | None:
    config = model.config
    return getattr(config, "intermediate_size", None) or getattr(config, "hidden_dim", None)


@torch.no_grad()
def _init_pruned_ffn(student: HfEncoder, teacher: HfEncoder, teacher_layers: list[int]) -> int:
    """A narrower feed-forward (derive.intermediate_size) starts from the teacher's most important
    neurons instead of from scratch: neuron j of a teacher layer scores |W_in[j, :]| * |W_out[:, j]|
    (what it can contribute to the layer's output), and the student keeps the top ones, in the
    same order, in every tensor that has the feed-forward width. Returns the values copied."""
    wide, narrow = _ffn_width(teacher.model), _ffn_width(student.model)
    if not wide or not narrow or narrow >= wide:
        return 0
    if getattr(student.model.config, "hidden_size", None) != getattr(teacher.model.config, "hidden_size", None):
        return 0  # a narrower width starts from scratch anyway
    copied = 0
    t_layers = teacher.layers()
    for i, layer in enumerate(student.layers()):
        t_params = dict(t_layers[teacher_layers[i]].named_parameters())
        score = torch.ones(wide)
        for t in t_params.values():  # the up-projection has rows of width `wide`, the down one columns
            if t.dim() == 2 and t.shape[0] == wide:
                score = score * t.norm(dim=1)
            elif t.dim() == 2 and t.shape[1] == wide:
                score = score * t.norm(dim=0)
        keep = torch.sort(torch.topk(score, narrow).indices).values
        for name, param in layer.named_parameters():
            source = t_params.get(name)
            if source is None or source.shape == param.shape or source.dim() != param.dim():
                continue
            picked = source
            for dim, (s_size, t_size) in enumerate(zip(param.shape, source.shape, strict=True)):
                if s_size != t_size:
                    if (s_size, t_size) != (narrow, wide):
                        break
                    picked = picked.index_select(dim, keep)
            else:
                param.copy_(picked)
                copied += param.numel()
    return copied
