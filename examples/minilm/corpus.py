"""Offline English text for the MiniLM example: the docstrings of Python's own standard library.

Every Python install ships its standard library as source; its docstrings are real, edited
English prose about software (sentences like "Return the number of items in a container.").
They are read with `ast` (nothing is imported or run), split into sentences, filtered to
sentence-like lines and split train / held-out *by module*, so no held-out sentence comes
from a module the student saw in training.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sysconfig
from pathlib import Path

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return [doc for doc in (ast.get_docstring(n) for n in nodes) if doc]


def _sentences(doc: str) -> list[str]:
    out = []
    for paragraph in re.split(r"\n\s*\n", doc):
        text = " ".join(paragraph.split())
        for sentence in SENTENCE_END.split(text):
            words = sentence.split()
            letters = sum(ch.isalpha() or ch == " " for ch in sentence) / max(1, len(sentence))
            if 6 <= len(words) <= 40 and letters > 0.85 and sentence[0].isupper() and sentence[-1] in ".!?":
                out.append(sentence)
    return out


def stdlib_sentences(max_sentences: int | None = None) -> dict[str, list[str]]:
    """{module path: unique sentences}, in a stable order, from this interpreter's standard library."""
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    by_module: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(part in ("test", "tests", "idle_test", "site-packages") for part in path.relative_to(root).parts):
            continue
        for doc in _docstrings(path):
            for sentence in _sentences(doc):
                if sentence not in seen:
                    seen.add(sentence)
                    by_module.setdefault(rel, []).append(sentence)
    return by_module


def split_by_module(by_module: dict[str, list[str]], held_out_fraction: float = 0.1) -> tuple[list[str], list[str]]:
    """Modules whose name hashes into the held-out share go to held-out (stable across runs)."""
    train, held_out = [], []
    for module, sentences in by_module.items():
        bucket = int(hashlib.sha256(module.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (held_out if bucket < held_out_fraction else train).extend(sentences)
    return train, held_out
