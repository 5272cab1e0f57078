"""Benchmarks on an Android device over adb (written against platform-tools' adb; no phone here).

Pushes the agent, inputs and bundle files to `/data/local/tmp/edgec-bench-<id>/`, runs the agent
with the device's Python (`adb://SERIAL?python=/data/local/tmp/python3/bin/python3`, e.g. a
Python built for Android or Termux's, with numpy and onnxruntime installed for it), streams its
progress, pulls the result file, and removes the folder. adb ≥ 24 passes the remote exit status
through `adb shell` (shell protocol v2), which this relies on.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from edgec.benchmarks.devices import DeviceAddress
from edgec.benchmarks.jobs import AgentJob, Log, stream_agent
from edgec.errors import EdgecError

DEVICE_ROOT = "/data/local/tmp"


class AdbExecutor:
    def __init__(self, address: DeviceAddress, adb: str | None = None) -> None:
        self.address = address
        self.adb = adb or os.environ.get("ADB") or shutil.which("adb")
        if not self.adb:
            raise EdgecError(
                f"{address.text}: `adb` not found on PATH (or $ADB); install Android platform-tools to benchmark on a phone"
            )
        self.remote_dir = f"{DEVICE_ROOT}/edgec-bench-{uuid.uuid4().hex[:12]}"

    def command(self, *args: str) -> list[str]:
        return [self.adb, "-s", self.address.serial, *args]

    def shell(self, script: str) -> list[str]:
        return self.command("shell", script)

    def _run(self, args: list[str], step: str, timeout: float = 300) -> str:
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise EdgecError(f"{self.address.text}: {step} got no answer within {timeout:.0f} s") from exc
        if done.returncode != 0:
            detail = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise EdgecError(f"{self.address.text}: {step} failed: {detail[-1] if detail else done.returncode}")
        return done.stdout

    def check_device(self) -> None:
        state = self._run(self.command("get-state"), "looking for the device", timeout=30).strip()
        if state != "device":
            raise EdgecError(f"{self.address.text}: device {self.address.serial!r} is {state!r}, not ready")

    def run(self, job: AgentJob, log: Log) -> dict:
        self.check_device()
        remote = self.remote_dir
        self._run(self.shell(f"mkdir -p {shlex.quote(remote)}"), "making the device folder")
        try:
            with tempfile.TemporaryDirectory(prefix="edgec-stage-") as stage:
                for entry in job.stage(Path(stage)):
                    self._run(self.command("push", str(entry), f"{remote}/"), f"pushing {entry.name}", job.timeout_s)
            log(f"{job.label}: pushed to {self.address.serial}:{remote}")
            args = job.agent_args(remote, self.address.python) + ["--result", f"{remote}/result.json"]
            script = f"cd {shlex.quote(remote)} && " + " ".join(shlex.quote(a) for a in args)
            outcome = stream_agent(self.shell(script), timeout_s=job.timeout_s, log=log,
                                   label=f"{job.label} on {self.address.serial}")  # fmt: skip
            if outcome.returncode != 0:
                raise EdgecError(f"benchmark of {job.label} on {self.address.text} failed:\n{outcome.tail()}")
            with tempfile.TemporaryDirectory(prefix="edgec-pull-") as pulled:
                self._run(self.command("pull", f"{remote}/result.json", pulled), "pulling the result")
                result = json.loads((Path(pulled) / "result.json").read_text(encoding="utf-8"))
            result["measured_files"] = job.relative_hashes(result["measured_files"], remote)
            return result
        finally:
            try:
                self._run(self.shell(f"rm -rf {shlex.quote(remote)}"), "cleaning up", timeout=60)
            except EdgecError:
                log(f"{self.address.serial}: could not remove {remote}; remove it with `adb shell rm -rf {remote}`")
