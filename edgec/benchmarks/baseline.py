"""Stored baselines: the reports a branch's gate compares against.

    STORE/<branch>/<target>/benchmark.json     the report, byte for byte
    STORE/<branch>/<target>/manifest.json      the bundle's manifest and engine files, when the
                                               report came from a bundle (for --remeasure)
    STORE/<branch>/baseline.json               which branch, when, from where, which targets

A stored branch folder has the shape of an output folder, so `edgec gate --baseline
STORE/<branch>` reads it like any other. Saving replaces the branch's folder as a whole (staged,
then renamed), so a reader never sees half of an old baseline mixed with half of a new one.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from edgec.artifacts import atomic_write_json, staged_dir
from edgec.benchmarks.gate_inputs import load_side
from edgec.errors import EdgecError
from edgec.manifest import BENCHMARK

DEFAULT_STORE = Path(".edgec-baselines")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def branch_folder(store: Path, branch: str) -> Path:
    """The folder of one branch: the name percent-encoded, so 'feature/x' stays one folder and
    no branch name can reach outside the store."""
    if not branch or branch.strip() != branch or branch in (".", ".."):
        raise EdgecError(f"--branch {branch!r}: not a usable branch name")
    return Path(store) / quote(branch, safe="")


def save_baseline(current: Path, branch: str, store: Path = DEFAULT_STORE) -> Path:
    """Store the current report(s) as `branch`'s baseline; returns the branch folder."""
    measured = load_side(current, "current")
    folder = branch_folder(store, branch)
    for name, target in measured.items():
        if not _TARGET_NAME.match(name):
            raise EdgecError(f"{target.source}: target name {name!r} cannot be a folder name")
        if target.report is None:
            raise EdgecError(f"{target.source}: no benchmark.json to store as a baseline for '{name}'")
    with staged_dir(folder) as tmp:
        for name, target in measured.items():
            if target.bundle_dir is not None:
                # The whole bundle, engines included, so `edgec gate --remeasure` can run it again.
                # Links are copied as links, never followed: nothing outside the bundle is read.
                shutil.copytree(target.bundle_dir, tmp / name, symlinks=True, ignore=shutil.ignore_patterns(".tmp-*"))
                if target.source.is_file() and target.source.name != BENCHMARK:
                    shutil.copyfile(target.source, tmp / name / BENCHMARK)
            else:
                (tmp / name).mkdir()
                report = target.source if target.source.is_file() else target.source / BENCHMARK
                shutil.copyfile(report, tmp / name / BENCHMARK)  # byte for byte: hashes stay checkable
        atomic_write_json(tmp / "baseline.json", {
            "branch": branch,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": str(Path(current).resolve()),
            "targets": sorted(measured),
        })  # fmt: skip
    return folder


def stored_baseline(store: Path, branch: str) -> Path:
    folder = branch_folder(store, branch)
    if not folder.is_dir():
        known = sorted(p.name for p in Path(store).iterdir() if p.is_dir()) if Path(store).is_dir() else []
        hint = f"stored branches: {', '.join(known)}" if known else "save one with `edgec gate --save-baseline`"
        raise EdgecError(f"{folder}: no baseline stored for branch '{branch}'", hint=hint)
    return folder


def describe(folder: Path) -> dict:
    meta = folder / "baseline.json"
    return json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
