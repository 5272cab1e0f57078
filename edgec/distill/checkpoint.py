"""Resumable training state without pickle: tensors in safetensors, the rest in a small JSON.

Each epoch writes `state-E.safetensors` (student + loss projections), `optim-E.safetensors`
(AdamW moments) and `best.safetensors` when the monitored metric improved, then `resume.json`
last, atomically: a run killed at any point resumes from the last epoch `resume.json` names.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from edgec.artifacts import TMP_PREFIX, atomic_write_json, read_json

RESUME_FILE = "resume.json"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"{index}.{name}"] = torch.as_tensor(value).detach().clone().contiguous().cpu()
    return tensors


def _load_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    state: dict[int, dict] = {}
    for key, value in load_file(str(path)).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})


def _atomic_tensors(path: Path, write) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}")
    write(str(tmp))
    tmp.replace(path)


class Checkpoints:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def save(self, epoch: int, module: nn.Module, optimizer: torch.optim.Optimizer, state: dict,
             best: nn.Module | None) -> None:  # fmt: skip
        self.folder.mkdir(parents=True, exist_ok=True)
        _atomic_tensors(self.folder / f"state-{epoch}.safetensors", lambda p: save_model(module, p))
        _atomic_tensors(
            self.folder / f"optim-{epoch}.safetensors", lambda p: save_file(_optimizer_tensors(optimizer), p)
        )
        if best is not None:
            _atomic_tensors(self.folder / "best.safetensors", lambda p: save_model(best, p))
        atomic_write_json(self.folder / RESUME_FILE, {**state, "epoch": epoch})
        for old in self.folder.glob("*-*.safetensors"):
            if not old.name.endswith(f"-{epoch}.safetensors"):
                old.unlink(missing_ok=True)

    def load(self, module: nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
        """Restore the last complete epoch; None when there is nothing to resume."""
        if not (self.folder / RESUME_FILE).is_file():
            return None
        state = read_json(self.folder / RESUME_FILE, "resume state")
        epoch = state["epoch"]
        load_model(module, str(self.folder / f"state-{epoch}.safetensors"))
        _load_optimizer(optimizer, self.folder / f"optim-{epoch}.safetensors")
        return state

    def load_best(self, module: nn.Module) -> bool:
        path = self.folder / "best.safetensors"
        if not path.is_file():
            return False
        load_model(module, str(path))
        return True
