"""Intermediate tensors by module path, taken with forward hooks (no model's forward changes)."""

from __future__ import annotations

import difflib

import torch
from torch import nn

from edgec.errors import EdgecError


def find_submodule(model: nn.Module, path: str, where: str) -> nn.Module:
    names = [name for name, _ in model.named_modules() if name]
    if path not in names:
        close = difflib.get_close_matches(path, names, n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; it has {names[:8]}"
        raise EdgecError(f"{where}: {type(model).__name__} has no module '{path}'{hint}")
    return model.get_submodule(path)


class FeatureTap:
    """Records the output of named submodules on every forward pass while attached."""

    def __init__(self, model: nn.Module, paths: list[str], where: str) -> None:
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for path in dict.fromkeys(paths):
            module = find_submodule(model, path, where)
            self._handles.append(module.register_forward_hook(self._recorder(path)))

    def _recorder(self, path: str):
        def record(_module, _inputs, output):
            if isinstance(output, tuple):  # e.g. a transformer block returns (hidden, ...)
                output = output[0]
            self.features[path] = output

        return record

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
