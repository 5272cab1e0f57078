"""Property-based fuzzing (hypothesis) of everything that parses user-supplied bytes.

Each loader must either accept its input or raise EdgecError; any other exception is a crash.
Example counts are bounded so the suite stays fast; docs/reliability.md records them.
"""

from __future__ import annotations

import contextlib
import json
import shutil

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgec.benchmarks.stats import summarize
from edgec.config import Config, load_config, validate_mapping
from edgec.errors import EdgecError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
config_keys = st.sampled_from(["name", "model", "calibration", "quantize", "targets", "benchmark", "samples", "data"])
config_like = st.dictionaries(st.one_of(config_keys, st.text(max_size=8)), json_values, max_size=6)


@FUZZ
@given(data=config_like)
def test_config_validation_never_crashes(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("cfg")
    with contextlib.suppress(EdgecError):  # accepted, or refused with a message: both fine
        validate_mapping(Config, data, "fuzz.yaml", folder)


@FUZZ
@given(blob=st.binary(max_size=2048))
def test_config_bytes_never_crash(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("cfgb") / "edgec.yaml"
    path.write_bytes(blob)
    with pytest.raises(EdgecError):
        load_config(path)  # no valid config can be made of random bytes (model file is required)


@FUZZ
@given(text=st.text(max_size=400))
def test_config_text_never_crashes(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfgt") / "edgec.yaml"
    path.write_text(text)
    with contextlib.suppress(EdgecError):
        load_config(path)


@FUZZ
@given(blob=st.binary(max_size=4096))
def test_onnx_loader_never_crashes(tmp_path_factory, blob):
    from edgec.compile.graph import check_model

    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(blob)
    with pytest.raises(EdgecError):
        check_model(path)


@pytest.fixture(scope="module")
def bundle_template(tmp_path_factory, tiny_model):
    from edgec.config import load_config
    from edgec.pipeline import build
    from tests.robustness.conftest import GOOD_CONFIG, write

    folder = tmp_path_factory.mktemp("fuzz-bundle")
    shutil.copy(tiny_model.onnx, folder / "model.onnx")
    shutil.copy(tiny_model.calibration, folder / "calib.npz")
    shutil.copy(tiny_model.eval, folder / "eval.npz")
    return build(load_config(write(folder, GOOD_CONFIG.replace("int8", "fp32"))), folder / "out", log=lambda _m: None)[
        0
    ].path


def _mutations():
    keys = st.sampled_from(["files", "build", "inputs", "outputs", "schema_version", "model", "target"])
    return st.lists(st.tuples(keys, json_values), min_size=1, max_size=3)


@FUZZ
@given(mutations=_mutations(), drop=st.lists(st.sampled_from(["files", "build", "inputs", "outputs"]), max_size=2))
def test_manifest_parser_never_crashes(tmp_path_factory, bundle_template, mutations, drop):
    import edgec.runtime

    bundle = tmp_path_factory.mktemp("b") / "bundle"
    shutil.copytree(bundle_template, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    for key, value in mutations:
        manifest[key] = value
    for key in drop:
        manifest.pop(key, None)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with contextlib.suppress(EdgecError):
        edgec.runtime.load(bundle)


@FUZZ
@given(blob=st.binary(max_size=1024))
def test_manifest_bytes_never_crash(tmp_path_factory, bundle_template, blob):
    import edgec.runtime

    bundle = tmp_path_factory.mktemp("bb") / "bundle"
    shutil.copytree(bundle_template, bundle)
    (bundle / "manifest.json").write_bytes(blob)
    with pytest.raises(EdgecError):
        edgec.runtime.load(bundle)


samples = st.lists(st.floats(min_value=1e-3, max_value=1e3, allow_nan=False), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(x=samples)
def test_summary_percentiles_are_ordered(x):
    s = summarize(x)
    assert s["min_ms"] <= s["p50_ms"] <= s["p90_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]
    assert s["ci95_p50_ms"][0] <= s["ci95_p50_ms"][1]
    assert s["min_ms"] <= s["ci95_p50_ms"][0] and s["ci95_p50_ms"][1] <= s["max_ms"]
    assert s["cv"] >= 0 and s["count"] == len(x)


@settings(max_examples=100, deadline=None)
@given(x=samples, k=st.floats(min_value=0.01, max_value=100))
def test_summary_scales_with_the_samples(x, k):
    a, b = summarize(x), summarize(np.asarray(x) * k)
    assert b["p50_ms"] == pytest.approx(a["p50_ms"] * k, rel=1e-9)
    assert b["cv"] == pytest.approx(a["cv"], rel=1e-6, abs=1e-12)


def test_yaml_safe_loader_is_what_config_uses():
    # A guard for the fuzz tests above: the loader refuses tags that construct Python objects.
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load("!!python/object/apply:os.system ['true']")
