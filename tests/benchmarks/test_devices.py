"""Device addresses, the ssh/adb command lines, and the adb paths that run without a phone."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from edgec.benchmarks.adb_executor import AdbExecutor
from edgec.benchmarks.devices import parse_device
from edgec.benchmarks.ssh_executor import SshExecutor
from edgec.errors import EdgecError
from tests.test_cli_smoke import run_cli


def test_ssh_address_parts():
    address = parse_device("ssh://pi@rpi5.local:2222?python=/opt/venv/bin/python&retries=3&timeout=5")
    assert (address.transport, address.user, address.host, address.port) == ("ssh", "pi", "rpi5.local", 2222)
    assert address.python == "/opt/venv/bin/python" and address.retries == 3 and address.connect_timeout == 5
    alias = parse_device("ssh://jetson")  # a Host alias from the user's ~/.ssh/config
    assert (alias.user, alias.host, alias.port, alias.python, alias.retries) == (None, "jetson", None, "python3", 2)
    assert parse_device(None).transport == "local" and parse_device("local").transport == "local"


def test_adb_address_parts():
    address = parse_device("adb://R58M123ABC?python=/data/local/tmp/py/bin/python3")
    assert (address.transport, address.serial, address.python) == (
        "adb",
        "R58M123ABC",
        "/data/local/tmp/py/bin/python3",
    )
    assert parse_device("adb://192.168.1.7:5555").serial == "192.168.1.7:5555"  # adb over TCP
    with pytest.raises(EdgecError, match="config= is an ssh option"):
        parse_device("adb://X?config=/y")


@pytest.mark.parametrize("bad", ["ssh://h?retries=-1", "ssh://h?retries=x", "ssh://h?python=", "ssh://h/path",
                                 "ssh://h:0", "adb://-s"])  # fmt: skip
def test_bad_addresses(bad):
    with pytest.raises(EdgecError, match="--device"):
        parse_device(bad)


def test_ssh_command_keeps_host_key_checking_on():
    executor = SshExecutor(parse_device("ssh://pi@board:2222?config=/home/u/.ssh/lab_config"))
    cmd = executor.ssh("true")
    assert cmd[:3] == ["ssh", "-F", "/home/u/.ssh/lab_config"]
    joined = " ".join(cmd)
    assert "-o StrictHostKeyChecking=yes" in joined and "-o BatchMode=yes" in joined and "-p 2222" in joined
    assert cmd[-3:] == ["--", "pi@board", "true"]
    scp = executor.scp([], "/tmp/x")
    assert "-P 2222" in " ".join(scp) and scp[-1] == "pi@board:/tmp/x/" and "StrictHostKeyChecking=yes" in scp


def test_adb_commands_target_the_serial(tmp_path):
    executor = AdbExecutor(parse_device("adb://R58M123ABC"), adb="/opt/platform-tools/adb")
    assert executor.command("push", "a", "b") == ["/opt/platform-tools/adb", "-s", "R58M123ABC", "push", "a", "b"]
    assert executor.shell("ls")[-2:] == ["shell", "ls"]
    assert executor.remote_dir.startswith("/data/local/tmp/edgec-bench-")


def test_missing_adb_is_exit_2(capsys, monkeypatch, bundles, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no adb anywhere
    monkeypatch.delenv("ADB", raising=False)
    code, _, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--device", "adb://R58M123ABC")
    assert code == 2 and "`adb` not found" in err and "platform-tools" in err


@pytest.mark.skipif(shutil.which("adb") is None, reason="adb is not installed (`.ci/run` installs it)")
def test_no_phone_attached_is_exit_2(capsys, monkeypatch, bundles):
    with socket.socket() as sock:  # a private adb server port: leave any real adb server alone
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
    try:
        code, _, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--device", "adb://R58M123ABC")
    finally:
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30, check=False)
    assert code == 2 and "adb://R58M123ABC" in err and "not found" in err and "Traceback" not in err
