"""Remote benchmarks through a real sshd on loopback: the full path, dropped connections, bad keys."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from tests.test_cli_smoke import run_cli

QUICK = ("--min-runs", "30", "--min-seconds", "0.2")


def _wait_for_agent(server, timeout: float = 60.0) -> list[int]:
    """The sshd session processes, once the agent runs under one of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in server.descendants():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"agent.py" in cmdline and b"--engine" in cmdline:
                return server.children()
        time.sleep(0.05)
    raise AssertionError("the agent never started on the remote side")


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.kill(pid, signal.SIGKILL)


def _wait_empty(folder: Path, timeout: float = 15.0) -> list[str]:
    """The harness's device folders left in the session's TMPDIR (waits for them to go)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and list(folder.glob("edgec-bench.*")):
        time.sleep(0.1)
    return [p.name for p in folder.glob("edgec-bench.*")]


def test_remote_benchmark_over_real_sshd(capsys, sshd, bundles, tmp_path):
    out = tmp_path / "remote.json"
    code, stdout, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--device", sshd.address(),
                                "--json", str(out), "--markdown", str(tmp_path / "r.md"), *QUICK)  # fmt: skip
    assert code == 0, err
    report_set = json.loads(out.read_text())
    assert report_set["device"]["transport"] == "ssh"
    report = report_set["reports"][0]
    env = report["environment"]
    # Set only by the sshd session's SetEnv: these numbers were measured behind the SSH server.
    assert env["device_name"] == "loopback-sshd"
    assert env["python_executable"] == sys.executable
    assert env["backends"]["onnxruntime"]
    assert report["device"] == {**report_set["device"], "attempts": 1}
    assert len(report["samples_ms"]) >= 30 and all(s > 0 for s in report["samples_ms"])
    assert report["summary"]["ci95_p50_ms"][0] <= report["summary"]["p50_ms"] <= report["summary"]["ci95_p50_ms"][1]
    manifest = json.loads((bundles / "host-cpu" / "manifest.json").read_text())
    assert {f["path"]: f["sha256"] for f in report["files"]} == {
        f["path"]: f["sha256"] for f in manifest["files"] if f["path"] != "benchmark.json"
    }
    assert "loopback-sshd" in (tmp_path / "r.md").read_text()
    assert _wait_empty(sshd.remote_tmp) == []  # the device folder is gone


def test_dropped_session_is_retried(capsys, own_sshd, bundles, tmp_path):
    out = tmp_path / "r.json"
    killer = threading.Thread(target=lambda: _kill(_wait_for_agent(own_sshd)))
    killer.start()
    code, stdout, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--device", own_sshd.address(retries="2"),
                                "--json", str(out), "--min-runs", "30", "--min-seconds", "1.5")  # fmt: skip
    killer.join()
    assert code == 0, err
    assert "retrying (1/2)" in stdout
    assert json.loads(out.read_text())["reports"][0]["device"]["attempts"] == 2
    assert _wait_empty(own_sshd.remote_tmp) == []


def test_lost_connection_is_a_clear_error_and_writes_nothing(capsys, own_sshd, bundles, tmp_path):
    out = tmp_path / "r.json"

    def drop() -> None:
        sessions = _wait_for_agent(own_sshd)
        own_sshd.process.terminate()  # the listener first, so the retries find nobody
        own_sshd.process.wait(timeout=10)
        _kill(sessions)

    killer = threading.Thread(target=drop)
    killer.start()
    code, _, err = run_cli(capsys, "bench", str(bundles), "--device", own_sshd.address(retries="1"),
                           "--json", str(out), "--html", str(tmp_path / "r.html"), "--min-seconds", "30")  # fmt: skip
    killer.join()
    assert code == 2
    assert "lost or could not open the SSH connection" in err and "gave up after 2 attempt(s)" in err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "r.html").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
    # The orphaned agent notices on its next progress line and its shell removes the folder.
    assert _wait_empty(own_sshd.remote_tmp) == []


def test_changed_host_key_is_refused(capsys, sshd, bundles, tmp_path):
    address = sshd.address(config=sshd.folder / "ssh_config_changed")
    code, _, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--device", address,
                           "--json", str(tmp_path / "r.json"))  # fmt: skip
    assert code == 2
    assert "CHANGED" in err and "man-in-the-middle" in err and "ssh-keygen -R" in err
    assert not (tmp_path / "r.json").exists()


def test_unknown_host_key_is_refused_not_accepted(capsys, sshd, bundles, tmp_path):
    config = tmp_path / "ssh_config"
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config.write_text(f"Host 127.0.0.1\n  IdentityFile {sshd.folder / 'user_key'}\n  IdentitiesOnly yes\n"
                      f"  UserKnownHostsFile {empty}\n  GlobalKnownHostsFile /dev/null\n"
                      "  StrictHostKeyChecking no\n")  # fmt: skip
    code, _, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--device", sshd.address(config=config))
    assert code == 2
    assert "not in known_hosts" in err
    assert empty.read_text() == ""  # the config's 'StrictHostKeyChecking no' was overridden


def test_unreachable_host_is_a_clear_error(capsys, bundles):
    from tests.benchmarks.conftest import free_port

    address = f"ssh://nobody@127.0.0.1:{free_port()}?retries=0&timeout=3"
    code, _, err = run_cli(capsys, "bench", str(bundles / "host-cpu"), "--device", address)
    assert code == 2
    assert "could not open the SSH connection" in err and "refused" in err.lower()


def test_build_benchmarks_on_the_device_named_in_the_config(capsys, sshd, tiny_model, write_config, tmp_path):
    config = write_config(
        f"model: {tiny_model.onnx}\ntargets: [{{name: host-cpu, precision: fp32}}]\n"
        f"benchmark: {{min_runs: 20, min_seconds: 0.1, warmup_seconds: 0.05, device: '{sshd.address()}'}}\n"
    )
    code, _, err = run_cli(capsys, "build", str(config), "--out", str(tmp_path / "out"))
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "host-cpu" / "benchmark.json").read_text())
    assert report["environment"]["device_name"] == "loopback-sshd" and report["device"]["transport"] == "ssh"
    assert len(report["samples_ms"]) >= 20
