"""Tampered or broken bundles are refused by the app runtime with a message naming the file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import edgec.runtime
from edgec.errors import EdgecError
from tests.robustness.conftest import GOOD_CONFIG, write


@pytest.fixture(scope="module")
def built_bundle(tmp_path_factory, tiny_model):
    from edgec.config import load_config
    from edgec.pipeline import build

    folder = tmp_path_factory.mktemp("bundle-src")
    shutil.copy(tiny_model.onnx, folder / "model.onnx")
    shutil.copy(tiny_model.calibration, folder / "calib.npz")
    shutil.copy(tiny_model.eval, folder / "eval.npz")
    results = build(load_config(write(folder, GOOD_CONFIG)), folder / "out", log=lambda _m: None)
    return results[0].path


@pytest.fixture
def bundle(built_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(built_bundle, copy)
    return copy


def _manifest(bundle):
    return json.loads((bundle / "manifest.json").read_text())


def _save(bundle, manifest):
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_intact_bundle_runs(bundle):
    engine = edgec.runtime.load(bundle)
    out = engine.run({"input": np.zeros((1, 1, 8, 8), np.float32)})
    assert next(iter(out.values())).shape == (1, 10)


def test_edited_engine(bundle):
    engine = bundle / _manifest(bundle)["build"]["engine"]
    data = bytearray(engine.read_bytes())
    data[len(data) // 2] ^= 0xFF
    engine.write_bytes(bytes(data))
    with pytest.raises(EdgecError, match="does not match its manifest hash"):
        edgec.runtime.load(bundle)


def test_missing_engine(bundle):
    (bundle / _manifest(bundle)["build"]["engine"]).unlink()
    with pytest.raises(EdgecError, match="is missing"):
        edgec.runtime.load(bundle)


def test_manifest_not_json(bundle):
    (bundle / "manifest.json").write_text("{ not json")
    with pytest.raises(EdgecError, match="manifest.json: bundle manifest is not valid JSON"):
        edgec.runtime.load(bundle)


def test_manifest_missing(bundle):
    (bundle / "manifest.json").unlink()
    with pytest.raises(EdgecError, match="bundle manifest not found"):
        edgec.runtime.load(bundle)


def test_manifest_without_files_key(bundle):
    manifest = _manifest(bundle)
    del manifest["files"]
    _save(bundle, manifest)
    with pytest.raises(EdgecError, match="files: required key is missing"):
        edgec.runtime.load(bundle)


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd"])
def test_manifest_path_outside_bundle(bundle, path):
    manifest = _manifest(bundle)
    manifest["files"][0]["path"] = path
    _save(bundle, manifest)
    with pytest.raises(EdgecError, match="outside|absolute"):
        edgec.runtime.load(bundle)


def test_engine_path_outside_bundle(bundle):
    manifest = _manifest(bundle)
    manifest["build"]["engine"] = "../model.onnx"
    _save(bundle, manifest)
    with pytest.raises(EdgecError, match="outside"):
        edgec.runtime.load(bundle)


def test_wrong_input_name_at_run(bundle):
    engine = edgec.runtime.load(bundle)
    with pytest.raises(EdgecError, match="do not match the bundle's inputs"):
        engine.run({"image": np.zeros((1, 1, 8, 8), np.float32)})


def test_wrong_input_shape_at_run(bundle):
    engine = edgec.runtime.load(bundle)
    with pytest.raises(EdgecError, match="input 'input' has shape"):
        engine.run({"input": np.zeros((1, 1, 9, 8), np.float32)})


def test_wrong_input_dtype_at_run(bundle):
    engine = edgec.runtime.load(bundle)
    with pytest.raises(EdgecError, match="dtype float64"):
        engine.run({"input": np.zeros((1, 1, 8, 8), np.float64)})


def test_bundle_folder_missing(tmp_path):
    with pytest.raises(EdgecError, match="bundle folder not found"):
        edgec.runtime.load(tmp_path / "nope")
