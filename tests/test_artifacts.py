"""Atomic writes, staged folders and path confinement."""

from __future__ import annotations

import hashlib

import pytest

from edgec.artifacts import (
    TMP_PREFIX,
    atomic_write_bytes,
    file_entries,
    resolve_inside,
    staged_dir,
    sweep_temporaries,
)
from edgec.errors import EdgecError


def test_atomic_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "a" / "file.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_staged_dir_appears_only_on_success(tmp_path):
    final = tmp_path / "bundle"
    with pytest.raises(RuntimeError), staged_dir(final) as tmp:
        (tmp / "engine.onnx").write_bytes(b"half")
        raise RuntimeError("killed mid-build")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []
    with staged_dir(final) as tmp:
        (tmp / "engine.onnx").write_bytes(b"whole")
    assert (final / "engine.onnx").read_bytes() == b"whole"


def test_staged_dir_without_replace_keeps_the_first_complete_copy(tmp_path):
    final = tmp_path / "entry"
    with staged_dir(final, replace=False) as tmp:
        (tmp / "x").write_text("first")
    with staged_dir(final, replace=False) as tmp:
        (tmp / "x").write_text("second")
    assert (final / "x").read_text() == "first"


def test_file_entries_hash_every_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"bb")
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "manifest.json").write_text("{}")
    entries = file_entries(tmp_path, exclude=("manifest.json",))
    assert [e["path"] for e in entries] == ["a.txt", "sub/b.bin"]
    assert entries[1]["sha256"] == hashlib.sha256(b"bb").hexdigest()
    assert entries[1]["bytes"] == 2


@pytest.mark.parametrize("bad", ["../outside", "/etc/passwd", "sub/../../x"])
def test_resolve_inside_refuses_escapes(tmp_path, bad):
    with pytest.raises(EdgecError, match="outside|absolute"):
        resolve_inside(tmp_path, bad, "manifest.json")


def test_sweep_removes_leftovers_of_killed_runs(tmp_path):
    (tmp_path / f"{TMP_PREFIX}bundle-123").mkdir()
    (tmp_path / f"{TMP_PREFIX}file").write_text("half")
    (tmp_path / "keep").write_text("whole")
    sweep_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]
