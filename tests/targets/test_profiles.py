"""Device profiles: every shipped profile validates and says what the issue asks; typos are
refused with the key path and exit 2; users add profiles in edgec.yaml or by a file."""

from __future__ import annotations

import pytest
import yaml

from edgec.config import load_config
from edgec.errors import EdgecError
from edgec.targets.plan import plan_targets
from edgec.targets.profiles import TargetProfile, get_profile, load_profile_file, shipped_profiles, user_profiles
from edgec.targets.registry import backend_names, get_builder
from tests.test_cli_smoke import run_cli

SHIPPED = ["host-cpu", "host-openvino", "x86-avx2", "x86-avx512-vnni", "openvino-cpu", "rpi4", "rpi5",
           "android-arm64", "ios-coreml", "jetson-orin-nano", "jetson-agx-orin", "nvidia-gpu"]  # fmt: skip


def test_every_named_profile_is_shipped():
    assert sorted(shipped_profiles()) == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_says_what_it_is(name):
    profile = get_profile(name)
    assert profile.backend in backend_names()
    assert profile.default_precision in profile.precisions
    assert profile.hardware.cpu_arch in ("native", "x86_64", "arm64")
    get_builder(profile.backend)  # every built-in backend imports here (TensorRT's builder too)
    if profile.backend == "tensorrt":
        assert profile.tensorrt is not None and profile.hardware.compute_capability
        assert profile.status == "untested" and "TensorRT" in profile.status_note
    if profile.backend == "onnxruntime":
        assert profile.ort.execution_providers[-1] == "CPUExecutionProvider"  # the fallback is always there
    if not name.startswith("host-"):
        assert profile.budgets.memory_mb and profile.budgets.latency_p90_ms and profile.threads or profile.tensorrt


def test_tensorrt_versions_match_the_devices():
    assert get_profile("jetson-orin-nano").tensorrt.major_version == 10
    assert get_profile("jetson-agx-orin").tensorrt.major_version == 10
    assert get_profile("nvidia-gpu").tensorrt.major_version == 11
    assert get_profile("android-arm64").ort.format == "ort" and get_profile("ios-coreml").ort.format == "ort"
    assert "CoreMLExecutionProvider" in get_profile("ios-coreml").ort.execution_providers
    assert get_profile("openvino-cpu").ov.export_compiled_blob


def test_targets_list_shows_every_profile(capsys):
    code, out, _ = run_cli(capsys, "targets", "list")
    assert code == 0
    for name in SHIPPED:
        assert name in out
    assert "tensorrt 10" in out and "tensorrt 11" in out


def test_targets_show_prints_the_profile(capsys):
    code, out, _ = run_cli(capsys, "targets", "show", "jetson-agx-orin")
    assert code == 0
    shown = yaml.safe_load(out.split("profile sha256")[0])
    assert shown["tensorrt"]["major_version"] == 10 and shown["hardware"]["compute_capability"] == "8.7"


def write_profile(tmp_path, text: str):
    path = tmp_path / "board.yaml"
    path.write_text(text)
    return path


BOARD = """name: my-board
backend: onnxruntime
precisions: [fp32, int8]
default_precision: int8
hardware: {cpu_arch: arm64}
connection: ssh://pi@board.local:2222
onnxruntime: {offline_optimization: basic}
"""


def test_profile_file_with_typo_is_refused_with_key_path(tmp_path, capsys):
    path = write_profile(tmp_path, BOARD.replace("offline_optimization", "offline_optimisation"))
    code, _, err = run_cli(capsys, "targets", "show", str(path))
    assert code == 2
    assert "onnxruntime.offline_optimisation: unknown key" in err and str(path) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("hardware: {cpu_arch: arm64}", "hardware: {cpu_arch: arm65}"), "hardware.cpu_arch: 'arm65' is not one of"),
        (("ssh://pi@board.local:2222", "http://board"), "connection: string should match pattern"),
        (("default_precision: int8", "default_precision: fp16"), "default_precision 'fp16' is not in precisions"),
        (("onnxruntime: {offline_optimization: basic}", "tensorrt: {major_version: 10}"),
         "section 'tensorrt' does not apply to backend 'onnxruntime'"),
        (("precisions: [fp32, int8]", "precisions: [fp32, int4]"), "precisions[1]: 'int4' is not one of"),
    ],
)  # fmt: skip
def test_bad_profile_values_name_the_key(tmp_path, change, message):
    path = write_profile(tmp_path, BOARD.replace(*change))
    with pytest.raises(EdgecError) as info:
        load_profile_file(path)
    assert message in str(info.value)


def test_dynamic_dims_must_be_ordered():
    with pytest.raises(ValueError, match="min <= opt <= max"):
        TargetProfile.model_validate({
            "name": "gpu", "backend": "tensorrt", "precisions": ["fp32"], "default_precision": "fp32",
            "tensorrt": {"major_version": 11, "dynamic_dims": {"batch": {"min": 4, "opt": 2, "max": 8}}},
        })  # fmt: skip


def test_inline_profile_typo_in_config_is_exit_2(tiny_model, write_config, capsys):
    inline = "\n".join("    " + line for line in BOARD.replace("backend:", "backnd:").splitlines())
    config = write_config(f"model: {tiny_model.onnx}\ntargets:\n  - name: my-board\nprofiles:\n  -\n{inline}\n")
    code, _, err = run_cli(capsys, "validate", str(config))
    assert code == 2
    assert "profiles[0]" in err and "backnd: unknown key" in err


def test_user_profiles_from_config_and_file(tiny_model, write_config, tmp_path, capsys):
    board_file = write_profile(tmp_path, BOARD)
    inline = "\n".join("    " + line for line in BOARD.replace("my-board", "other-board").splitlines())
    config_path = write_config(
        f"model: {tiny_model.onnx}\ntargets:\n  - name: my-board\n    profile: board.yaml\n"
        f"  - name: other-board\n    precision: fp32\nprofiles:\n  -\n{inline}\n"
    )
    assert board_file.parent == config_path.parent
    config = load_config(config_path)
    assert set(user_profiles(config)) == {"my-board", "other-board"}
    chosen = plan_targets(config, None)
    assert [plan.candidates for plan in chosen] == [((user_profiles(config)["my-board"], "int8"),),
                                                   ((user_profiles(config)["other-board"], "fp32"),)]  # fmt: skip
    assert [plan.name for plan in plan_targets(config, ["other-board"])] == ["other-board"]
    with pytest.raises(EdgecError, match="--target 'rpi5' is not in the config's targets"):
        plan_targets(config, ["rpi5"])
    code, out, _ = run_cli(capsys, "targets", "list", "--config", str(config_path))
    assert code == 0 and "my-board" in out and "other-board" in out


def test_profile_file_must_define_the_named_target(tiny_model, write_config, tmp_path):
    write_profile(tmp_path, BOARD)
    config = load_config(write_config(f"model: {tiny_model.onnx}\ntargets:\n  - name: rpi9\n    profile: board.yaml\n"))
    with pytest.raises(EdgecError, match="defines profile 'my-board', but the target is named 'rpi9'"):
        user_profiles(config)


def test_profile_file_typo_fails_config_load(tiny_model, write_config, tmp_path):
    write_profile(tmp_path, BOARD.replace("precisions:", "precision:"))
    with pytest.raises(EdgecError, match=r"board.yaml: precision: unknown key"):
        load_config(write_config(f"model: {tiny_model.onnx}\ntargets:\n  - name: my-board\n    profile: board.yaml\n"))


def test_local_benchmark_only_on_the_hardware_the_target_names():
    import platform

    from edgec.pipeline import _host_cpu_flags, _why_not_benchmarked_here

    built = {"engine_built": True, "runner": "onnxruntime"}
    assert _why_not_benchmarked_here(get_profile("host-cpu"), built) is None
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert "runs on arm64" in _why_not_benchmarked_here(get_profile("rpi5"), built)
        exotic = get_profile("x86-avx2").model_copy(update={"hardware": get_profile("x86-avx2").hardware.model_copy(
            update={"cpu_features": ["avx2", "no_such_isa"]})})  # fmt: skip
        if _host_cpu_flags() is not None:
            assert "lacks no_such_isa" in _why_not_benchmarked_here(exotic, built)
    assert "no tensorrt runner" in _why_not_benchmarked_here(get_profile("nvidia-gpu"), {**built, "runner": "tensorrt"})
    assert _why_not_benchmarked_here(get_profile("host-cpu"), {**built, "engine_built": False}) == "no engine was built"
