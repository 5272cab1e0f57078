"""Build on the board: copy files over SSH, run a command there, bring the results back.

Uses the system `ssh` and `scp`, so the user's OpenSSH setup (config, keys, agent, jump hosts)
applies. Host-key checking stays on (`StrictHostKeyChecking=yes`): a board whose key is not in
known_hosts is refused, never trusted on first sight. `BatchMode=yes` keeps ssh from prompting.
`EDGEC_SSH_CONFIG` names an ssh_config file to use instead of ~/.ssh/config.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgec.errors import EdgecError

_SSH_URL = re.compile(r"^ssh://(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?$")


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, url: str) -> SshTarget:
        match = _SSH_URL.match(url)
        if not match:
            raise EdgecError(f"connection {url!r}: expected ssh://[user@]host[:port]")
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 0 < port < 65536:
            raise EdgecError(f"connection {url!r}: port {port} is out of range")
        return cls(match["host"], match["user"], port)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def _options(self) -> list[str]:
        options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=15"]
        config = os.environ.get("EDGEC_SSH_CONFIG")
        if config:
            options = ["-F", config, *options]
        return options

    def ssh_command(self, remote_command: str) -> list[str]:
        port = ["-p", str(self.port)] if self.port else []
        return ["ssh", *self._options(), *port, self.destination, remote_command]

    def scp_command(self, sources: list[str], destination: str) -> list[str]:
        port = ["-P", str(self.port)] if self.port else []
        return ["scp", "-q", *self._options(), *port, *sources, destination]


def _run(cmd: list[str], what: str, timeout: float, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EdgecError(f"{what}: no answer within {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise EdgecError(f"{what}: '{cmd[0]}' is not installed on this machine") from exc
    if check and done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise EdgecError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done


@dataclass
class RemoteRun:
    returncode: int
    output: str  # stdout + stderr of the remote command
    fetched: list[str]


def build_remotely(
    target: SshTarget,
    workdir: str,
    files: list[Path],
    command: list[str],
    fetch: list[str],
    local_dir: Path,
    *,
    timeout: float = 3600,
) -> RemoteRun:
    """Copy `files` into a fresh folder under `workdir` on the board, run `command` there (argv,
    relative to that folder), copy back whichever of `fetch` exist, and remove the folder."""
    where = f"ssh {target.destination}"
    made = _run(target.ssh_command(f"mkdir -p {shlex.quote(workdir)} && mktemp -d {shlex.quote(workdir)}/build-XXXXXX"),
                f"{where}: creating a build folder", 60)  # fmt: skip
    remote_dir = made.stdout.strip().splitlines()[-1] if made.stdout.strip() else ""
    if not remote_dir.startswith(workdir):
        raise EdgecError(f"{where}: could not create a build folder under {workdir} (got {remote_dir!r})")
    try:
        _run(target.scp_command([str(f) for f in files], f"{target.destination}:{remote_dir}/"),
             f"{where}: copying {', '.join(f.name for f in files)}", 600)  # fmt: skip
        remote = f"cd {shlex.quote(remote_dir)} && " + " ".join(shlex.quote(part) for part in command)
        done = _run(target.ssh_command(remote), f"{where}: build", timeout, check=False)
        listing = _run(target.ssh_command(f"cd {shlex.quote(remote_dir)} && ls -1"), f"{where}: listing", 60)
        present = set(listing.stdout.split())
        wanted = [name for name in fetch if name in present]
        if wanted:
            sources = [f"{target.destination}:{remote_dir}/{name}" for name in wanted]
            _run(target.scp_command(sources, str(local_dir) + "/"), f"{where}: fetching {', '.join(wanted)}", 600)
        return RemoteRun(done.returncode, done.stdout + done.stderr, wanted)
    finally:
        _run(target.ssh_command(f"rm -rf {shlex.quote(remote_dir)}"), f"{where}: cleaning up", 60, check=False)
