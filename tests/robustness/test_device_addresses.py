"""Device addresses a user can get wrong: malformed, unreachable. (A changed or unknown host key
is tested against a real sshd in tests/benchmarks/test_ssh.py.)"""

from __future__ import annotations

import shutil

import pytest

from tests.robustness.conftest import GOOD_CONFIG, write


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, tiny_model):
    from edgec.config import load_config
    from edgec.pipeline import build

    folder = tmp_path_factory.mktemp("device-bundle")
    shutil.copy(tiny_model.onnx, folder / "model.onnx")
    shutil.copy(tiny_model.calibration, folder / "calib.npz")
    shutil.copy(tiny_model.eval, folder / "eval.npz")
    config = write(folder, GOOD_CONFIG.replace("precision: int8", "precision: fp32"))
    return build(load_config(config), folder / "out", log=lambda _m: None)[0].path


@pytest.mark.parametrize(
    "address",
    ["ftp://board", "ssh://", "ssh://pi@board:99999", "adb://", "board.local", "ssh://pi@board?python=", "ssh://a b"],
)
def test_malformed_device_address(cli, bundle, address, tmp_path):
    report = tmp_path / "report.json"
    result = cli("bench", bundle, "--device", address, "--json", report)
    result.assert_user_error("--device")
    assert not report.exists()


def test_unreachable_host(cli, bundle, tmp_path):
    report = tmp_path / "report.json"
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    result = cli("bench", bundle, "--device", "ssh://nobody@127.0.0.1:1", "--json", report)
    result.assert_user_error("127.0.0.1")
    assert not report.exists()
