"""Distillation data: arrays from .npz, or text lines tokenized with the teacher's tokenizer.

A `Samples` holds named input arrays (first axis = sample) and optional labels; `batch(index)`
returns what the model takes: one tensor for a plain module, a dict of token tensors (trimmed
to the longest sequence in the batch) for a transformer. Labels are optional throughout:
unlabeled data distils from soft labels alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgec.artifacts import sha256_bytes, sha256_json
from edgec.errors import EdgecError

TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class Samples:
    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None
    tokens: bool  # True: transformer inputs (dict); False: one tensor under "input"

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def subset(self, index: np.ndarray) -> Samples:
        labels = None if self.labels is None else self.labels[index]
        return Samples({k: v[index] for k, v in self.inputs.items()}, labels, self.tokens)

    def batch(self, index) -> torch.Tensor | dict[str, torch.Tensor]:
        if not self.tokens:
            return torch.from_numpy(np.ascontiguousarray(self.inputs["input"][index]))
        mask = self.inputs["attention_mask"][index]
        length = max(1, int(mask.sum(1).max()))
        return {k: torch.from_numpy(np.ascontiguousarray(v[index][:, :length])) for k, v in self.inputs.items()}

    def by_length(self) -> np.ndarray:
        """Sample indices, shortest sequence first (so a batch pads little); plain order for tensors."""
        if not self.tokens:
            return np.arange(len(self))
        return np.argsort(self.inputs["attention_mask"].sum(1), kind="stable")

    def label_batch(self, index) -> torch.Tensor | None:
        return None if self.labels is None else torch.from_numpy(self.labels[index])

    def fingerprint(self) -> str:
        parts = {k: sha256_bytes(np.ascontiguousarray(v).tobytes()) + str(v.dtype) + str(v.shape)
                 for k, v in sorted(self.inputs.items())}  # fmt: skip
        if self.labels is not None:
            parts["labels"] = sha256_bytes(np.ascontiguousarray(self.labels).tobytes())
        return sha256_json(parts)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise EdgecError(f"{path}: not a readable .npz ({exc})") from exc


def _labels(arrays: dict, key: str, n: int, path: Path) -> np.ndarray | None:
    if key not in arrays:
        return None
    labels = arrays[key]
    if labels.ndim != 1 or len(labels) != n or not np.issubdtype(labels.dtype, np.integer):
        raise EdgecError(f"{path}: '{key}' must be integer class ids, one per sample "
                         f"(got {labels.dtype} {list(labels.shape)} for {n} samples)")  # fmt: skip
    return labels.astype(np.int64)


def load_samples(path: Path, data_cfg, tokenizer=None) -> Samples:
    """Read one data file; `tokenizer` is given for Hugging Face teachers."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if tokenizer is None:
            raise EdgecError(f"{path}: text data needs a Hugging Face teacher (its tokenizer); give an .npz")
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise EdgecError(f"{path}: no non-empty lines")
        encoded = tokenizer(lines, truncation=True, max_length=data_cfg.max_length, padding="longest",
                            return_tensors="np")  # fmt: skip
        inputs = {k: np.asarray(encoded[k], dtype=np.int64) for k in TOKEN_KEYS if k in encoded}
        return Samples(inputs, None, True)
    if suffix != ".npz":
        raise EdgecError(f"{path}: unsupported data file type '{suffix}' (use .npz, or .txt for text)")
    arrays = _read_npz(path)
    if tokenizer is not None:
        if "input_ids" not in arrays:
            raise EdgecError(f"{path}: a Hugging Face teacher needs 'input_ids' (has {sorted(arrays)})")
        ids = arrays["input_ids"].astype(np.int64)
        inputs = {"input_ids": ids, "attention_mask": arrays.get("attention_mask", np.ones_like(ids)).astype(np.int64)}
        if "token_type_ids" in arrays:
            inputs["token_type_ids"] = arrays["token_type_ids"].astype(np.int64)
        return Samples(inputs, _labels(arrays, data_cfg.labels_key, len(ids), path), True)
    key = data_cfg.input_key
    if key not in arrays:
        raise EdgecError(f"{path}: no array '{key}' (distill.data.input_key); it has {sorted(arrays)}")
    x = arrays[key]
    if x.ndim < 2 or len(x) == 0:
        raise EdgecError(f"{path}: '{key}' must be [samples, ...] with at least one sample (got {list(x.shape)})")
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return Samples({"input": x}, _labels(arrays, data_cfg.labels_key, len(x), path), False)


@dataclass
class Splits:
    train: Samples
    validation: Samples
    test: Samples
    fingerprint: str


def load_splits(data_cfg, seed: int, tokenizer=None) -> Splits:
    train = load_samples(data_cfg.train, data_cfg, tokenizer)
    if data_cfg.validation is not None:
        validation = load_samples(data_cfg.validation, data_cfg, tokenizer)
    else:
        if len(train) < 4:
            raise EdgecError(f"{data_cfg.train}: {len(train)} samples is too few to hold some out for validation")
        order = np.random.default_rng(seed).permutation(len(train))
        n_val = max(1, round(len(train) * data_cfg.validation_fraction))
        validation, train = train.subset(np.sort(order[:n_val])), train.subset(np.sort(order[n_val:]))
    test = load_samples(data_cfg.test, data_cfg, tokenizer) if data_cfg.test is not None else validation
    for name, split in (("validation", validation), ("test", test)):
        if set(split.inputs) != set(train.inputs):
            raise EdgecError(f"distill.data.{name}: inputs {sorted(split.inputs)} differ from train's "
                             f"{sorted(train.inputs)}")  # fmt: skip
    fingerprint = sha256_json({"train": train.fingerprint(), "validation": validation.fingerprint(),
                               "test": test.fingerprint()})  # fmt: skip
    return Splits(train, validation, test, fingerprint)
