"""Fixtures for the benchmark tests: real bundles built from the tiny model, and a real sshd.

The sshd runs on a free loopback port with a throwaway host key and user key in a tmp folder;
the client side gets its own ssh config (`-F`) and known_hosts, so nothing of this machine's
SSH setup is used or changed. The "device" is this machine; the agent runs with this venv's
Python (`?python=` in the address).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

FAST = "benchmark: {enabled: false}\n"


def sshd_binary() -> str | None:
    found = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    return os.path.abspath(found) if found else None  # sshd re-execs itself: needs an absolute path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def bundles(tmp_path_factory, tiny_model) -> Path:
    """An output folder with two real bundles (ONNX Runtime int8, OpenVINO fp32), not yet measured."""
    from edgec.config import load_config
    from edgec.pipeline import build

    folder = tmp_path_factory.mktemp("bundles")
    config = folder / "edgec.yaml"
    config.write_text(
        f"name: tiny\nmodel: {tiny_model.onnx}\ncalibration: {{data: {tiny_model.calibration}, samples: 64}}\n"
        f"quantize: {{eval_data: {tiny_model.eval}, max_drop: 10}}\n"
        "targets: [{name: host-cpu, precision: int8}, {name: host-openvino, precision: fp32}]\n" + FAST
    )
    build(load_config(config), folder / "out", log=lambda _m: None)
    return folder / "out"


@dataclass
class Sshd:
    folder: Path
    port: int
    process: subprocess.Popen
    config: Path  # client config (-F) with the right known_hosts
    remote_tmp: Path  # TMPDIR of the sessions: where the harness makes its device folder
    user: str

    def address(self, *, config: Path | None = None, **options: str) -> str:
        opts = {"python": sys.executable, "config": str(config or self.config), **options}
        query = "&".join(f"{k}={v}" for k, v in opts.items())
        return f"ssh://{self.user}@127.0.0.1:{self.port}?{query}"

    def children(self, pid: int | None = None) -> list[int]:
        """Processes whose parent is `pid` (default: the listener): the sshd sessions."""
        parent, found = pid or self.process.pid, []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
        return found

    def descendants(self) -> list[int]:
        todo, seen = [self.process.pid], []
        while todo:
            for child in self.children(todo.pop()):
                seen.append(child)
                todo.append(child)
        return seen

    def stop(self) -> None:
        for pid in self.descendants():
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def start_sshd(folder: Path) -> Sshd:
    binary = sshd_binary()
    if binary is None:
        pytest.skip("sshd is not installed (`.ci/run` installs openssh-server)")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "other_host_key", "user_key"):
        _keygen(folder / name)
    shutil.copy(folder / "user_key.pub", folder / "authorized_keys")
    remote_tmp = folder / "remote-tmp"
    remote_tmp.mkdir()
    port = free_port()
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # Debian's privilege-separation folder
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\nPidFile none\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
        f"SetEnv EDGEC_DEVICE_NAME=loopback-sshd TMPDIR={remote_tmp}\n"
    )
    host_pub = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    other = (folder / "other_host_key.pub").read_text().split()
    (folder / "known_hosts_changed").write_text(f"[127.0.0.1]:{port} {other[0]} {other[1]}\n")
    for name, known in (("ssh_config", "known_hosts"), ("ssh_config_changed", "known_hosts_changed")):
        (folder / name).write_text(
            f"Host 127.0.0.1\n  IdentityFile {folder / 'user_key'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {folder / known}\n  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n"
        )
    process = subprocess.Popen([binary, "-D", "-e", "-f", str(folder / "sshd_config")],
                               stdout=subprocess.DEVNULL, stderr=open(folder / "sshd.log", "wb"))  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sshd exited: {(folder / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return Sshd(folder, port, process, folder / "ssh_config", remote_tmp, getpass.getuser())


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def own_sshd(tmp_path):
    """An sshd this test alone may kill."""
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()
