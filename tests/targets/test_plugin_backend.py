"""A third-party backend registers through the `edgec.backends` entry-point group: a real
installed distribution (a .dist-info on sys.path) whose builder edgec finds, builds with, and
whose bundle the runtime opens."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from edgec import runtime
from edgec.config import load_config
from edgec.errors import EdgecError
from edgec.pipeline import build
from edgec.targets.registry import backend_names, get_builder

PLUGIN = '''
import shutil
from edgec.targets.base import Builder, BuildResult


class PlainOnnxBuilder(Builder):
    """Ships the graph unchanged; opened by the ONNX Runtime runner."""

    name = "plain-onnx"

    def version(self):
        return "1.0"

    def build(self, model, precision, profile, out_dir):
        shutil.copyfile(model, out_dir / "model.onnx")
        level = str(profile.backend_options.get("level", "basic"))
        return BuildResult(engine="model.onnx", runner="onnxruntime", backend_version="1.0",
                           runtime_options={"graph_optimization_level": level}, notes=["copied"])
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist = site / "edgec_plain_onnx-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: edgec-plain-onnx\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[edgec.backends]\nplain-onnx = edgec_plain_onnx:PlainOnnxBuilder\nbroken = edgec_plain_onnx:Missing\n"
    )
    (site / "edgec_plain_onnx.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    return site


def test_entry_point_backend_builds_a_bundle_the_runtime_opens(plugin, tiny_model, write_config):
    assert "plain-onnx" in backend_names()
    config = write_config(
        f"model: {tiny_model.onnx}\ntargets:\n  - name: my-plugin-target\nbenchmark:\n  enabled: false\n"
        "profiles:\n  - name: my-plugin-target\n    backend: plain-onnx\n    precisions: [fp32]\n"
        "    default_precision: fp32\n    backend_options: {level: extended}\n"
    )
    (result,) = build(load_config(config), config.parent / "out", log=lambda _m: None)
    assert result.manifest["target"]["backend"] == "plain-onnx"
    engine = runtime.load(result.path)
    assert engine.manifest["build"]["runtime_options"] == {"graph_optimization_level": "extended"}
    out = engine.run({"input": tiny_model.test_x[:5]})["logits"]
    assert out.shape == (5, 10) and np.isfinite(out).all()


def test_broken_entry_point_is_named(plugin):
    with pytest.raises(EdgecError, match=r"backend 'broken' \(entry point edgec_plain_onnx:Missing"):
        get_builder("broken")


def test_builtin_sections_are_not_for_plugins():
    from edgec.targets.profiles import TargetProfile

    with pytest.raises(ValueError, match="backend_options is for plugin backends"):
        TargetProfile.model_validate({"name": "x", "backend": "onnxruntime", "precisions": ["fp32"],
                                      "default_precision": "fp32", "backend_options": {"a": 1}})  # fmt: skip
