"""`module:attr` references: the one way a config names code (the user's own class or factory)."""

from __future__ import annotations

import contextlib
import importlib
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

from edgec.errors import EdgecError


@contextmanager
def _on_path(folder: Path | None):
    # The config's folder goes first so a models.py next to edgec.yaml imports like a script's would.
    if folder is None or str(folder) in sys.path:
        yield
        return
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # already gone: the imported code removed it
            sys.path.remove(str(folder))


def resolve_ref(ref: str, where: str, base_dir: Path | None = None) -> Any:
    module_name, _, attr_path = ref.partition(":")
    with _on_path(base_dir):
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise EdgecError(f"{where}: cannot import module '{module_name}' ({type(exc).__name__}: {exc})") from exc
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise EdgecError(f"{where}: module '{module_name}' has no attribute '{attr_path}'")
        target = getattr(target, part)
    return target


def build_module(ref: str, kwargs: dict, where: str, base_dir: Path | None = None) -> nn.Module:
    """Call the class or factory that `ref` names with `kwargs`; it must return an nn.Module."""
    factory = resolve_ref(ref, where, base_dir)
    if not callable(factory):
        raise EdgecError(f"{where}: '{ref}' is a {type(factory).__name__}, not a class or function")
    try:
        module = factory(**kwargs)
    except TypeError as exc:
        raise EdgecError(f"{where}: calling '{ref}' with kwargs {sorted(kwargs)} failed: {exc}") from exc
    if not isinstance(module, nn.Module):
        raise EdgecError(f"{where}: '{ref}' returned a {type(module).__name__}, not a torch.nn.Module")
    return module
