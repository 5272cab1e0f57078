"""Content-addressed stage cache.

A stage's output folder is named by the full sha256 of everything that decides its content
(input hashes, settings, tool versions). It is assembled under a temporary name and renamed into
place, so a folder that exists is complete; a stage whose folder exists is not redone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgec import __version__
from edgec.artifacts import atomic_write_json, read_json, sha256_json, staged_dir, sweep_temporaries

STAGE_FILE = "stage.json"


@dataclass
class StageResult:
    name: str
    path: Path
    cached: bool
    info: dict


class StageCache:
    def __init__(self, root: Path, log: Callable[[str], None] = lambda _msg: None) -> None:
        self.root = Path(root)
        self.log = log

    def path_for(self, stage: str, key: dict) -> Path:
        """Where `run(stage, key, ...)` keeps (or will keep) its output; complete once it holds stage.json."""
        return self.root / stage / sha256_json({"stage": stage, "edgec": __version__, **key})

    def run(self, stage: str, key: dict, label: str, build: Callable[[Path], dict]) -> StageResult:
        """Return the cached output of `stage` for `key`, or build it with `build(tmp_dir)`.

        `build` fills the folder and returns a JSON-able info dict, kept in stage.json.
        """
        full_key = {"stage": stage, "edgec": __version__, **key}
        digest = sha256_json(full_key)
        final = self.root / stage / digest
        if (final / STAGE_FILE).is_file():
            self.log(f"{label}: cached ({stage} {digest[:12]})")
            return StageResult(stage, final, True, read_json(final / STAGE_FILE)["info"])
        sweep_temporaries(final.parent)
        with staged_dir(final, replace=False) as tmp:
            info = build(tmp)
            atomic_write_json(tmp / STAGE_FILE, {"key": full_key, "sha256": digest, "info": info})
        self.log(f"{label}: done ({stage} {digest[:12]})")
        return StageResult(stage, final, False, read_json(final / STAGE_FILE)["info"])
