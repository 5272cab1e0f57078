"""Remote build over SSH against a real sshd on loopback: files go over, the command runs there,
results come back, the remote folder is removed, unknown host keys are refused, and a TensorRT
build on a board without TensorRT fails with the board's own error."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgec.config import load_config
from edgec.errors import EdgecError
from edgec.pipeline import build
from edgec.targets.remote_build import SshTarget, build_remotely

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
# scp speaks SFTP since OpenSSH 9: the board needs the sftp subsystem, as distribution sshds have.
SFTP_SERVER = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server",
                                "/usr/lib/ssh/sftp-server") if os.path.exists(p)), None)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A real sshd on 127.0.0.1 with its own host key, a client key and an ssh_config naming it."""
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None or SFTP_SERVER is None:
        pytest.skip("OpenSSH server not installed (.ci/run installs it)")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation folder, as its service makes it
    home = tmp_path_factory.mktemp("board")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    os.chmod(home / "authorized_keys", 0o600)
    port = _free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nStrictModes no\nUsePAM no\n"
        f"PidFile {home / 'sshd.pid'}\nPermitRootLogin prohibit-password\nSubsystem sftp {SFTP_SERVER}\n"
    )
    host_key = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (home / "empty_known_hosts").write_text("")
    user = getpass.getuser()
    common = f"  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {home / 'client_key'}\n" \
             "  IdentitiesOnly yes\n  GlobalKnownHostsFile /dev/null\n"  # fmt: skip
    (home / "ssh_config").write_text(
        f"Host test-board\n{common}  UserKnownHostsFile {home / 'known_hosts'}\n"
        f"Host stranger-board\n{common}  UserKnownHostsFile {home / 'empty_known_hosts'}\n"
    )
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(home / "sshd_config")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if server.poll() is not None:
            pytest.skip(f"sshd could not start: {server.stderr.read().decode()[-300:]}")
        time.sleep(0.1)
    yield {"home": home, "config": home / "ssh_config", "workdir": str(home / "remote-work")}
    server.terminate()
    server.wait(timeout=10)


def test_files_go_over_and_results_come_back(board, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEC_SSH_CONFIG", str(board["config"]))
    source = tmp_path / "model.onnx"
    source.write_bytes(os.urandom(4096))
    back = tmp_path / "back"
    back.mkdir()
    run = build_remotely(SshTarget.parse("ssh://test-board"), board["workdir"], [source],
                         ["cp", "model.onnx", "model.plan"], ["model.plan", "timing.cache"], back)  # fmt: skip
    assert run.returncode == 0 and run.fetched == ["model.plan"]  # no timing cache was written there
    assert (back / "model.plan").read_bytes() == source.read_bytes()
    assert os.listdir(board["workdir"]) == []  # the build folder on the board was removed


def test_unknown_host_key_is_refused(board, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEC_SSH_CONFIG", str(board["config"]))
    with pytest.raises(EdgecError, match="Host key verification failed"):
        build_remotely(SshTarget.parse("ssh://stranger-board"), board["workdir"], [], ["true"], [], tmp_path)


def test_bad_connection_urls_are_refused():
    assert SshTarget.parse("ssh://pi@board.local:2222") == SshTarget("board.local", "pi", 2222)
    for url in ("ssh://pi@board;rm -rf /", "ssh://board:99999", "http://board"):
        with pytest.raises(EdgecError, match="connection"):
            SshTarget.parse(url)


def test_tensorrt_build_on_a_board_without_tensorrt_reports_its_error(board, tiny_model, write_config, monkeypatch):
    monkeypatch.setenv("EDGEC_SSH_CONFIG", str(board["config"]))
    profile = (
        "name: my-jetson\nbackend: tensorrt\nprecisions: [fp32, fp16]\ndefault_precision: fp32\n"
        "hardware: {cpu_arch: arm64, compute_capability: '8.7'}\nconnection: ssh://test-board\n"
        f"tensorrt: {{major_version: 10, remote_python: {sys.executable}, remote_workdir: {board['workdir']},\n"
        "  dynamic_dims: {batch: {min: 1, opt: 1, max: 4}}}\nstatus: untested\n"
    )
    config = write_config(f"model: {tiny_model.onnx}\ntargets:\n  - name: my-jetson\n    profile: jetson.yaml\n"
                          "benchmark:\n  enabled: false\n")  # fmt: skip
    (config.parent / "jetson.yaml").write_text(profile)
    with pytest.raises(EdgecError, match=r"(?s)my-jetson: TensorRT engine build failed:.*No module named 'tensorrt'"):
        build(load_config(config), Path(config.parent / "out"), log=lambda _m: None)
    assert os.listdir(board["workdir"]) == []
    assert not (config.parent / "out" / "my-jetson").exists()  # nothing half-written
