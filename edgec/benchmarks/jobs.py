"""One agent run, described once and executed by any executor (local, SSH, adb).

Every executor lays out the same folder on the device: `agent.py` and `runners.py`,
`inputs.npz`, and `bundle/` holding the measured files, and runs `python agent.py …` inside it. The agent's stdout is read
line by line while it runs (progress lines are logged), and its result line is parsed at the end.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgec.benchmarks import agent
from edgec.errors import EdgecError

AGENT_PATH = Path(agent.__file__)
RUNNERS_PATH = AGENT_PATH.with_name("runners.py")
Log = Callable[[str], None]


@dataclass
class AgentJob:
    """What to measure: the bundle files (relative paths), which one is the engine, the inputs."""

    bundle: Path
    files: list[str]  # relative to `bundle`; all are copied and hashed where they are measured
    engine: str
    backend: str
    inputs_npz: Path
    input_names: list[str]
    settings: dict
    label: str = ""
    timeout_s: float = 900.0
    notes: list[str] = field(default_factory=list)

    def agent_args(self, root: str, python: str) -> list[str]:
        """The agent's command line, with paths inside the staged folder `root` ('.' locally)."""
        inside = f"{root}/bundle" if root else str(self.bundle)
        return [
            python, f"{root}/agent.py" if root else str(AGENT_PATH),
            "--engine", f"{inside}/{self.engine}", "--backend", self.backend,
            "--inputs", f"{root}/inputs.npz" if root else str(self.inputs_npz),
            "--input-names", ",".join(self.input_names), "--settings", json.dumps(self.settings),
            "--hash", *[f"{inside}/{f}" for f in self.files],
        ]  # fmt: skip

    def stage(self, folder: Path) -> list[Path]:
        """Lay the device folder out locally (for scp / adb push); returns its top-level entries."""
        shutil.copy2(AGENT_PATH, folder / "agent.py")
        shutil.copy2(RUNNERS_PATH, folder / "runners.py")
        shutil.copy2(self.inputs_npz, folder / "inputs.npz")
        for rel in self.files:
            target = folder / "bundle" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.bundle / rel, target)
        return [folder / "agent.py", folder / "runners.py", folder / "inputs.npz", folder / "bundle"]

    def relative_hashes(self, measured: dict, root: str) -> dict:
        """The agent's {path on device: sha256} back as {bundle-relative path: sha256}."""
        inside = f"{root}/bundle/" if root else f"{self.bundle}/"
        return {path.removeprefix(inside): digest for path, digest in measured.items()}


@dataclass
class AgentOutcome:
    returncode: int
    result: dict | None
    stderr: str
    stdout_tail: str

    def tail(self, lines: int = 8) -> str:
        text = self.stderr.strip() or self.stdout_tail.strip()
        return "\n".join(text.splitlines()[-lines:])


def stream_agent(cmd: list[str], *, timeout_s: float, log: Log, label: str, stdin=None) -> AgentOutcome:
    """Run `cmd` (the agent, possibly behind ssh/adb), logging its progress as it streams."""
    proc = subprocess.Popen(cmd, stdin=stdin or subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()
    err_chunks: list[str] = []

    def pump_stdout() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_stderr() -> None:
        err_chunks.append(proc.stderr.read())

    readers = [threading.Thread(target=f, daemon=True) for f in (pump_stdout, pump_stderr)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout_s
    result, tail = None, []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            proc.wait()
            raise EdgecError(f"benchmark of {label} took longer than {timeout_s:.0f} s; stopped") from None
        if line is None:
            break
        if line.startswith(agent.RESULT_MARKER):
            result = json.loads(line[len(agent.RESULT_MARKER) :])
        elif line.startswith(agent.PROGRESS_MARKER):
            _log_progress(json.loads(line[len(agent.PROGRESS_MARKER) :]), log, label)
        else:
            tail = (tail + [line])[-20:]
    proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    return AgentOutcome(proc.returncode, result, "".join(err_chunks), "".join(tail))


def _log_progress(event: dict, log: Log, label: str) -> None:
    if event.get("stage") == "loaded":
        log(f"{label}: loaded in {event['load_ms']:.1f} ms, first inference {event['first_inference_ms']:.2f} ms")
