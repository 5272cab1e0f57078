"""Bad configs: each gets one clear message naming the file and key, exit 2, nothing written."""

from __future__ import annotations

import pytest

from tests.robustness.conftest import GOOD_CONFIG, nothing_written, write

BILLION_LAUGHS = "a: &a ['lol','lol']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"

CASES = [
    ("unknown-top-key", GOOD_CONFIG + "optimise: true\n", ["optimise: unknown key"]),
    ("unknown-nested-key", GOOD_CONFIG.replace("samples: 64", "sampels: 64"), ["calibration.sampels: unknown key"]),
    ("wrong-type", GOOD_CONFIG.replace("samples: 64", "samples: lots"), ["calibration.samples", "integer"]),
    (
        "negative",
        GOOD_CONFIG.replace("samples: 64", "samples: -3"),
        ["calibration.samples", "greater than or equal to 1"],
    ),
    ("missing-model", GOOD_CONFIG.replace("model.onnx", "absent.onnx"), ["model: file 'absent.onnx' not found"]),
    (
        "missing-calib",
        GOOD_CONFIG.replace("calib.npz", "absent.npz"),
        ["calibration.data: path 'absent.npz' not found"],
    ),
    ("empty", "", ["config is empty"]),
    ("comments-only", "# nothing here\n", ["config is empty"]),
    ("top-level-list", "- host-cpu\n", ["expected a mapping"]),
    ("syntax", "name: [unclosed\n", ["invalid YAML", "line"]),
    ("yaml-bomb", BILLION_LAUGHS, ["anchors and aliases are not allowed"]),
    ("python-tag", "model: !!python/object/apply:os.system ['touch /tmp/pwned']\n", ["invalid YAML"]),
    ("no-targets", GOOD_CONFIG.split("targets:")[0] + "targets: []\n", ["targets: list should have at least 1 item"]),
    (
        "bad-precision",
        GOOD_CONFIG.replace("precision: int8", "precision: int4"),
        ["targets[0].precision: 'int4' is not one of"],
    ),
    ("bad-name", GOOD_CONFIG.replace("name: tiny", "name: ../evil"), ["name: string should match pattern"]),
    ("max-drop-type", GOOD_CONFIG.replace("max_drop: 5.0", "max_drop: [1]"), ["quantize.max_drop"]),
    ("metric-literal", GOOD_CONFIG.replace("max_drop: 5.0", "metric: f1"), ["quantize.metric: 'f1' is not one of"]),
    ("bench-type", GOOD_CONFIG.replace("enabled: false", "enabled: sometimes"), ["benchmark.enabled"]),
    (
        "candidates-unknown-profile",
        GOOD_CONFIG.replace("precision: int8", "candidates: [host-cpu/int8, host-gpu/int8]"),
        ["targets[0].candidates[1]: unknown target 'host-gpu'"],
    ),
    (
        "candidates-unsupported-precision",
        GOOD_CONFIG.replace("precision: int8", "candidates: [host-cpu/fp16]"),
        ["targets[0].candidates[0]: target host-cpu: precision 'fp16' is not supported"],
    ),
    (
        "candidates-and-precision",
        GOOD_CONFIG.replace("precision: int8", "precision: int8\n    candidates: auto"),
        ["targets[0]: give either 'precision' or 'candidates'"],
    ),
    (
        "candidates-empty",
        GOOD_CONFIG.replace("precision: int8", "candidates: []"),
        ["targets[0].candidates: the list is empty"],
    ),
]


@pytest.mark.parametrize(("case", "text", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_config(cli, project, case, text, fragments):
    config = write(project, text)
    out = project / "out"
    result = cli("build", config, "--out", out)
    result.assert_user_error(str(config), *fragments)
    assert nothing_written(out)


def test_unknown_target_name(cli, project):
    config = write(project, GOOD_CONFIG.replace("host-cpu", "host-gpu"))
    cli("build", config, "--out", project / "out").assert_user_error("unknown target 'host-gpu'")


def test_precision_the_profile_does_not_support(cli, project):
    config = write(project, GOOD_CONFIG.replace("precision: int8", "precision: fp16"))
    cli("build", config, "--out", project / "out").assert_user_error("host-cpu", "precision 'fp16' is not supported")


def test_config_too_large(cli, project):
    config = write(project, GOOD_CONFIG + "#" * (1 << 20) + "\n")
    cli("validate", config).assert_user_error("the limit is")


def test_config_not_utf8(cli, project):
    config = project / "edgec.yaml"
    config.write_bytes(b"name: \xff\xfe\n")
    cli("validate", config).assert_user_error("not UTF-8")


def test_config_is_a_folder(cli, project):
    (project / "cfg.yaml").mkdir()
    cli("validate", project / "cfg.yaml").assert_user_error("is a folder")


def test_python_tag_never_runs(cli, project, tmp_path):
    marker = tmp_path / "pwned"
    config = write(project, f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    cli("validate", config).assert_user_error("invalid YAML")
    assert not marker.exists()
