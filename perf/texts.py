"""Real English text available offline: sentences from the docstrings of Python's standard
library (parsed with `ast`, nothing imported), split deterministically into disjoint parts.

No dataset is downloaded. Docstrings are technical prose, which suits a sentence-embedding model
used on documentation and code search; they are not a general-domain benchmark.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sysconfig
from functools import cache
from pathlib import Path

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"[A-Za-z]+")


def _docstrings(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                docs.append(doc)
    return docs


def _clean(sentence: str) -> str | None:
    text = " ".join(sentence.split())
    words = text.split()
    if not 6 <= len(words) <= 60:
        return None
    letters = sum(len(w) for w in _WORD.findall(text))
    if letters < 0.7 * len(text.replace(" ", "")):  # mostly code or tables, not prose
        return None
    return text


@cache
def stdlib_sentences(root: str | None = None) -> tuple[str, ...]:
    """Every distinct prose sentence of the stdlib's docstrings, in a stable order."""
    base = Path(root or sysconfig.get_paths()["stdlib"])
    seen: dict[str, None] = {}
    for path in sorted(base.rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts or "tests" in path.parts:
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for doc in _docstrings(source):
            for paragraph in doc.split("\n\n"):
                for sentence in _SENTENCE_END.split(paragraph):
                    cleaned = _clean(sentence)
                    if cleaned:
                        seen.setdefault(cleaned)
    return tuple(seen)


def split(part: str, limit: int | None = None) -> list[str]:
    """Disjoint parts chosen by a hash of each sentence: 'train' 80 %, 'calib' 10 %, 'heldout' 10 %.

    Ordered by that hash, so the first `limit` sentences are a stable pseudo-random sample."""
    if part not in ("train", "calib", "heldout"):
        raise ValueError(f"part {part!r} is not one of train, calib, heldout")
    keyed = []
    for sentence in stdlib_sentences():
        digest = hashlib.sha256(sentence.encode()).digest()
        bucket = digest[0] * 10 // 256
        name = "heldout" if bucket == 0 else "calib" if bucket == 1 else "train"
        if name == part:
            keyed.append((digest, sentence))
    keyed.sort()
    chosen = [s for _, s in keyed]
    return chosen[:limit] if limit else chosen
