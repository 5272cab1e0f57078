"""Benchmarks on a remote device over SSH, with the system's OpenSSH client.

The user's own OpenSSH setup applies (~/.ssh/config or `?config=FILE`, keys, ssh-agent, jump
hosts, ControlMaster). Host keys are always checked: `StrictHostKeyChecking=yes` is passed on the
command line, which overrides any weaker setting in a config file, so an unknown or changed
host key stops the run. `BatchMode=yes`: no password prompt can hang a CI job.

One attempt: make a temporary folder on the device, scp the agent, inputs and bundle files
into it, run the agent there with the device's Python (its progress streams back), then remove
the folder (the remote shell also removes it on exit, so a dropped connection leaves nothing
once the agent notices). A dropped connection is retried a bounded number of times, then
reported; nothing is written locally until a run has fully succeeded.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from edgec.benchmarks.devices import DeviceAddress
from edgec.benchmarks.jobs import AgentJob, Log, stream_agent
from edgec.errors import EdgecError

SSH_FAILED = 255  # ssh's own exit status; anything else is the remote command's
_REMOTE_DIR = re.compile(r"^/[A-Za-z0-9_./-]+$")


class ConnectionLost(Exception):
    """ssh exited 255 for a reason a retry may fix (refused, timed out, reset)."""


class SshExecutor:
    def __init__(self, address: DeviceAddress) -> None:
        self.address = address
        if shutil.which("ssh") is None or shutil.which("scp") is None:
            raise EdgecError("ssh/scp not found on PATH; install the OpenSSH client to benchmark over SSH")
        self.destination = f"{address.user}@{address.host}" if address.user else address.host

    def _options(self, port_flag: str) -> list[str]:
        opts = [
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"ConnectTimeout={self.address.connect_timeout}",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
        ]  # fmt: skip
        if "config" in self.address.options:
            opts = ["-F", self.address.options["config"], *opts]
        if self.address.port:
            opts += [port_flag, str(self.address.port)]
        return opts

    def ssh(self, remote_command: str) -> list[str]:
        return ["ssh", *self._options("-p"), "--", self.destination, remote_command]

    def scp(self, local: list[Path], remote_dir: str) -> list[str]:
        return ["scp", "-q", "-r", *self._options("-P"), "--", *map(str, local), f"{self.destination}:{remote_dir}/"]

    def _check(self, done_rc: int, stderr: str, step: str) -> None:
        """Turn ssh's failures into one clear message; raise ConnectionLost when a retry may help."""
        if done_rc != SSH_FAILED:
            return
        where = self.address.text
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
            raise EdgecError(
                f"{where}: the host key of {self.address.host} has CHANGED since it was recorded in known_hosts; "
                "refusing to connect (this can be a man-in-the-middle). If the device was reinstalled, check "
                f"its new key and remove the old one with `ssh-keygen -R {self.address.host}`"
            )
        if "Host key verification failed" in stderr or "host key is known" in stderr:
            raise EdgecError(
                f"{where}: the host key of {self.address.host} is not in known_hosts; host keys are always "
                "checked: verify the device's key and add it (connect once with `ssh`, or `ssh-keyscan` + check)"
            )
        if "Permission denied" in stderr:
            raise EdgecError(f"{where}: login refused ({_last_line(stderr)}); check the user, key and ssh-agent")
        if "Could not resolve hostname" in stderr:
            raise EdgecError(f"{where}: unknown host ({_last_line(stderr)})")
        raise ConnectionLost(f"{step}: {_last_line(stderr) or 'connection closed'}")

    def _simple(self, remote_command: str, step: str, timeout: float = 120) -> str:
        try:
            done = subprocess.run(
                self.ssh(remote_command), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ConnectionLost(f"{step}: no answer within {timeout:.0f} s") from exc
        self._check(done.returncode, done.stderr, step)
        if done.returncode != 0:
            raise EdgecError(f"{self.address.text}: {step} failed: {_last_line(done.stderr)}")
        return done.stdout

    def _attempt(self, job: AgentJob, log: Log) -> dict:
        made = self._simple('mktemp -d "${TMPDIR:-/tmp}/edgec-bench.XXXXXXXX"', "connecting").strip()
        if not _REMOTE_DIR.match(made):
            raise EdgecError(f"{self.address.text}: unexpected answer from mktemp: {made!r}")
        try:
            with tempfile.TemporaryDirectory(prefix="edgec-stage-") as stage:
                entries = job.stage(Path(stage))
                done = subprocess.run(self.scp(entries, made), capture_output=True, text=True,
                                      timeout=job.timeout_s, check=False)  # fmt: skip
                self._check(done.returncode, done.stderr, "copying the bundle")
                if done.returncode != 0:
                    raise EdgecError(f"{self.address.text}: copying the bundle failed: {_last_line(done.stderr)}")
            log(f"{job.label}: copied to {self.address.host}:{made}")
            args = " ".join(shlex.quote(a) for a in job.agent_args(made, self.address.python))
            q = shlex.quote(made)
            # The trap removes the folder however the agent ends, even when our connection is gone.
            script = f"trap 'cd /; rm -rf {q}' EXIT HUP INT TERM; cd {q} && {args}"
            outcome = stream_agent(self.ssh(f"sh -c {shlex.quote(script)}"), timeout_s=job.timeout_s, log=log,
                                   label=f"{job.label} on {self.address.host}")  # fmt: skip
            self._check(outcome.returncode, outcome.stderr, "running the agent")
            if outcome.returncode == 127:
                raise EdgecError(f"{self.address.text}: the device's Python {self.address.python!r} was not found; "
                                 "name it with ?python=/path/to/python in the address")  # fmt: skip
            if outcome.returncode != 0 or outcome.result is None:
                raise EdgecError(f"benchmark of {job.label} on {self.address.text} failed:\n{outcome.tail()}")
            outcome.result["measured_files"] = job.relative_hashes(outcome.result["measured_files"], made)
            return outcome.result
        finally:
            self._cleanup(made, log)

    def _cleanup(self, remote_dir: str, log: Log) -> None:
        try:
            self._simple(f"rm -rf {shlex.quote(remote_dir)}", "cleaning up", timeout=30)
        except (ConnectionLost, EdgecError):
            log(f"{self.address.host}: could not remove {remote_dir} now; the device's shell removes it on exit")

    def run(self, job: AgentJob, log: Log) -> dict:
        attempts = self.address.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                result = self._attempt(job, log)
                result["connection"] = {"attempts": attempt}
                return result
            except ConnectionLost as exc:
                if attempt == attempts:
                    raise EdgecError(
                        f"{self.address.text}: lost or could not open the SSH connection ({exc}); "
                        f"gave up after {attempts} attempt(s); no report was written"
                    ) from exc
                log(f"{self.address.host}: {exc}; retrying ({attempt}/{attempts - 1})")
                time.sleep(min(2.0 * attempt, 10.0))
        raise AssertionError("unreachable")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
