"""Artifacts on disk: atomic writes, hashes, staged folders and the bundle manifest.

Every file edgec writes goes through here. A file is written to a temporary name in the same
folder, fsynced and renamed over its final name, so a reader sees either the old file or the
whole new one, never a half. Folders (a cache entry, a bundle) are assembled under a hidden
temporary name and renamed into place as a last step, so a killed run leaves only hidden
`.tmp-*` folders that no later run trusts (they are swept on the next run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgec.errors import EdgecError

TMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_json(value: Any) -> str:
    """Hash of a JSON-able value, independent of key order (used for cache keys)."""
    return sha256_bytes(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once the folder holding it is synced.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_failed(path: Path, exc: OSError) -> EdgecError:
    return EdgecError(f"{path}: could not write ({exc.strerror or exc})")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _write_failed(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, value: Any) -> Path:
    return atomic_write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EdgecError(f"{path}: {what} not found") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgecError(f"{path}: {what} is not valid JSON ({exc})") from exc


def sweep_temporaries(folder: str | os.PathLike) -> None:
    """Remove `.tmp-*` leftovers of killed runs directly inside `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name.startswith(TMP_PREFIX):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Build a folder under a hidden temporary name; rename it to `final` only on success.

    With `replace=True` an existing `final` is swapped out (old copy removed after the rename);
    with `replace=False` an existing `final` written by a concurrent run wins and ours is dropped,
    which is safe because cache folders are content-addressed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{final.name}-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        if final.exists():
            if not replace:
                shutil.rmtree(tmp, ignore_errors=True)
                return
            old = final.parent / f"{TMP_PREFIX}{final.name}-old-{uuid.uuid4().hex}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(final.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_failed(final, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def file_entries(folder: str | os.PathLike, *, exclude: tuple[str, ...] = ()) -> list[dict]:
    """`[{path, sha256, bytes}]` for every file under `folder`, sorted, paths relative."""
    folder = Path(folder)
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in exclude:
            continue
        entries.append({"path": rel, "sha256": sha256_file(path), "bytes": path.stat().st_size})
    return entries


def resolve_inside(folder: str | os.PathLike, relative: str, what: str) -> Path:
    """Join a path taken from a manifest or report, refusing anything that leaves `folder`."""
    root = Path(folder).resolve()
    if os.path.isabs(relative):
        raise EdgecError(f"{what}: path {relative!r} is absolute; bundle paths must be relative")
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise EdgecError(f"{what}: path {relative!r} points outside {root}")
    return candidate


def prepare_output_folder(out: str | os.PathLike) -> Path:
    """Create the output folder, or say clearly why it cannot be one."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EdgecError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgecError(f"--out {out}: cannot create the output folder ({exc.strerror or exc})") from exc
    return out


_HELD_LOCKS: dict[Path, int] = {}


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, on_wait=None) -> Iterator[None]:
    """Advisory lock on `folder/.lock` so two edgec processes never write one output folder at
    once; the second waits for the first (on_wait is told once when it has to wait). Re-entrant
    within a process: a stage that calls `build` again does not wait for itself."""
    import fcntl

    key = Path(folder).resolve()
    if _HELD_LOCKS.get(key):
        _HELD_LOCKS[key] += 1
        try:
            yield
        finally:
            _HELD_LOCKS[key] -= 1
        return
    with open(key / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait(f"waiting for another edgec process using {folder}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        _HELD_LOCKS[key] = 1
        try:
            yield
        finally:
            _HELD_LOCKS.pop(key, None)
            fcntl.flock(handle, fcntl.LOCK_UN)
