"""The teacher soft-label cache: the teacher runs once over a data split, never per epoch.

Its outputs (logits or embeddings) are written float16 into an `.npy` as they come, then read
back memory-mapped, so neither the teacher nor a large dataset's outputs need to sit in memory
across epochs. The entry is a `StageCache` folder keyed by the teacher's weights sha256, the
data's fingerprint and the output head, so a later run with the same teacher and data (same
output folder) reuses it too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgec.distill.dataset import Samples
from edgec.errors import EdgecError
from edgec.stages import StageCache

FLOAT16_MAX = float(np.finfo(np.float16).max)


def call_model(model: torch.nn.Module, batch) -> torch.Tensor:
    """Run a model the way the trainer does: token dicts as keywords, a tensor positionally."""
    out = model(**batch) if isinstance(batch, dict) else model(batch)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise EdgecError(
            f"{type(model).__name__} returned {type(out).__name__}; a distilled model must return a tensor"
        )
    return out


def to_device(batch, device: torch.device):
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    return batch.to(device)


@torch.no_grad()
def _write_outputs(teacher: torch.nn.Module, samples: Samples, path: Path, batch_size: int, device) -> list[int]:
    teacher.eval()
    table = None
    order = samples.by_length()
    for start in range(0, len(samples), batch_size):
        index = np.sort(order[start : start + batch_size])
        out = call_model(teacher, to_device(samples.batch(index), device)).float().cpu().numpy()
        if not np.isfinite(out).all() or np.abs(out).max() > FLOAT16_MAX:
            raise EdgecError(f"teacher outputs for samples {index[0]}..{index[-1]} are not finite or exceed float16 "
                             f"range ({FLOAT16_MAX:g}); scale the teacher's outputs")  # fmt: skip
        if table is None:
            table = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(len(samples), *out.shape[1:]))
        table[index] = out.astype(np.float16)
    table.flush()
    shape = list(table.shape)
    del table
    return shape


def teacher_outputs(cache: StageCache, teacher: torch.nn.Module, teacher_sha: str, head: dict, samples: Samples,
                    split: str, *, batch_size: int = 256, device=torch.device("cpu")) -> np.ndarray:  # fmt: skip
    """Float16 teacher outputs for every sample of `samples`, memory-mapped read-only."""
    key = {"teacher": teacher_sha, "data": samples.fingerprint(), "head": head, "torch": torch.__version__}

    def build(tmp: Path) -> dict:
        return {"shape": _write_outputs(teacher, samples, tmp / "outputs.npy", batch_size, device), "split": split}

    result = cache.run("soft-labels", key, f"teacher outputs ({split}, {len(samples)} samples)", build)
    return np.load(result.path / "outputs.npy", mmap_mode="r", allow_pickle=False)
