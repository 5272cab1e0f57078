"""TensorRT builder: everything around the engine build that runs without TensorRT (optimization
profiles, trtexec command lines for 10 and 11, the precision checks on the graph, the bundle
that carries what is needed to build on the device); the engine build itself runs only where
`tensorrt` imports and is skipped here with that reason."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import numpy as np
import onnx
import pytest

from edgec import runtime
from edgec.calibration.dataset import CalibrationSet
from edgec.compile.graph import TensorSpec, load_model
from edgec.compile.quantize import quantize_static_int8
from edgec.config import load_config
from edgec.errors import EdgecError
from edgec.pipeline import build
from edgec.targets import tensorrt_backend as trt_backend
from edgec.targets import tensorrt_build_script as script
from edgec.targets.profiles import DynamicDim, get_profile

INPUT = [TensorSpec("input", "float32", ("batch", 1, 8, 8))]


def test_optimization_profile_from_named_dims():
    dims = {"batch": DynamicDim(min=1, opt=4, max=16)}
    shapes = trt_backend.optimization_profile(INPUT, dims, "gpu")
    assert shapes == {"input": {"min": [1, 1, 8, 8], "opt": [4, 1, 8, 8], "max": [16, 1, 8, 8]}}
    assert trt_backend.optimization_profile([TensorSpec("x", "float32", (1, 3, 4))], {}, "gpu") == {}


def test_optimization_profile_names_the_missing_dim():
    with pytest.raises(EdgecError, match=r"input 'input' axis 0 is dynamic \('batch'\).*tensorrt.dynamic_dims.batch"):
        trt_backend.optimization_profile(INPUT, {}, "gpu")
    with pytest.raises(EdgecError, match="name the dim in the export"):
        trt_backend.optimization_profile([TensorSpec("x", "float32", ("?", 3))], {}, "gpu")


def settings_for(target: str, precision: str) -> dict:
    profile = get_profile(target)
    shapes = trt_backend.optimization_profile(INPUT, profile.tensorrt.dynamic_dims, target)
    return trt_backend.build_settings(profile, precision, shapes)


def test_trtexec_for_tensorrt_10_uses_builder_flags():
    cmd = trt_backend.trtexec_command(settings_for("jetson-orin-nano", "int8"))
    assert cmd[0] == "trtexec" and "--onnx=model.onnx" in cmd and "--saveEngine=model.plan" in cmd
    assert "--int8" in cmd and "--fp16" in cmd
    assert "--minShapes=input:1x1x8x8" in cmd and "--maxShapes=input:8x1x8x8" in cmd
    assert "--timingCacheFile=timing.cache" in cmd and "--memPoolSize=workspace:1024M" in cmd
    assert "--fp16" in trt_backend.trtexec_command(settings_for("jetson-agx-orin", "fp16"))
    assert not {"--fp16", "--int8"} & set(trt_backend.trtexec_command(settings_for("jetson-agx-orin", "fp32")))


def test_trtexec_for_tensorrt_11_is_strongly_typed():
    settings = settings_for("nvidia-gpu", "int8")
    cmd = trt_backend.trtexec_command(settings)
    assert settings["strongly_typed"] is True
    assert not {"--fp16", "--int8", "--best", "--calib"} & {c.split("=")[0] for c in cmd}
    assert "--hardwareCompatibilityLevel=ampere+" in cmd and "--optShapes=input:8x1x8x8" in cmd
    assert script.precision_flags(11, "fp16") == [] and script.precision_flags(10, "int8") == ["INT8", "FP16"]
    settings["version_compatible"] = True
    assert "--versionCompatible" in trt_backend.trtexec_command(settings)


@pytest.fixture(scope="module")
def qdq_graphs(tiny_model, tmp_path_factory):
    """edgec's default INT8 (uint8 activations, for CPUs) and a TensorRT-ready symmetric INT8."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    folder = tmp_path_factory.mktemp("qdq")
    calib = CalibrationSet.from_file(tiny_model.calibration).sample(32, 0)
    cpu = quantize_static_int8(tiny_model.onnx, calib, folder / "cpu.onnx")

    class Reader:
        def __init__(self) -> None:
            self.feeds = iter(calib.feeds())

        def get_next(self):
            return next(self.feeds, None)

    symmetric = folder / "trt.onnx"
    quantize_static(str(tiny_model.onnx), str(symmetric), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                                   "DedicatedQDQPair": True})  # fmt: skip
    return {"cpu": load_model(cpu), "trt": load_model(symmetric), "float": load_model(tiny_model.onnx)}


def test_int8_needs_symmetric_qdq(qdq_graphs):
    trt_backend.check_precision_graph(qdq_graphs["trt"], "int8", 11, "nvidia-gpu")
    trt_backend.check_precision_graph(qdq_graphs["trt"], "int8", 10, "jetson-orin-nano")
    with pytest.raises(EdgecError, match=r"node '.+' \((Quantize|Dequantize)Linear\) has a (uint8|int32) zero point"):
        trt_backend.check_precision_graph(qdq_graphs["cpu"], "int8", 11, "nvidia-gpu")
    with pytest.raises(EdgecError, match="int8 needs a Q/DQ graph"):
        trt_backend.check_precision_graph(qdq_graphs["float"], "int8", 10, "jetson-orin-nano")


def test_fp16_on_tensorrt_11_needs_fp16_in_the_graph(qdq_graphs):
    with pytest.raises(EdgecError, match="strongly typed and this graph has no FP16 tensors"):
        trt_backend.check_precision_graph(qdq_graphs["float"], "fp16", 11, "nvidia-gpu")
    trt_backend.check_precision_graph(qdq_graphs["float"], "fp16", 10, "jetson-orin-nano")  # builder flag path
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(onnx.ModelProto.FromString(qdq_graphs["float"].SerializeToString()),
                                    keep_io_types=True)  # fmt: skip
    trt_backend.check_precision_graph(half, "fp16", 11, "nvidia-gpu")


@pytest.mark.skipif(trt_backend.tensorrt_version() is not None, reason="tensorrt imports here: the engine is built")
def test_bundle_without_tensorrt_carries_the_build_and_says_untested(tiny_model, write_config, tmp_path, capsys):
    config = write_config(
        f"model: {tiny_model.onnx}\ntargets:\n  - name: jetson-orin-nano\n    precision: fp32\n"
        "  - name: nvidia-gpu\n    precision: fp32\nbenchmark:\n  enabled: false\n"
    )
    log: list[str] = []
    results = build(load_config(config), tmp_path / "out", log=log.append)
    assert any("jetson-orin-nano: engine not built: the tensorrt Python package cannot be imported" in m for m in log)
    for result in results:
        bundle = result.path
        manifest = result.manifest
        assert manifest["target"]["status"] == "untested"
        assert manifest["target"]["status_note"].startswith("engine not built")
        assert manifest["build"]["engine_built"] is False and "tensorrt" in manifest["build"]["skipped_reason"]
        names = {f["path"] for f in manifest["files"]}
        assert names == {"model.onnx", "build_engine.py", "build_settings.json", "trtexec_command.txt"}
        settings = json.loads((bundle / "build_settings.json").read_text())
        cmd = shlex.split((bundle / "trtexec_command.txt").read_text())
        assert cmd == trt_backend.trtexec_command(settings)
        with pytest.raises(EdgecError, match="holds no engine"):
            runtime.load(bundle)
    assert json.loads((tmp_path / "out" / "nvidia-gpu" / "build_settings.json").read_text())["major_version"] == 11
    inputs = tmp_path / "x.npz"
    np.savez(inputs, input=tiny_model.test_x[:2])
    from edgec.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(tmp_path / "out" / "nvidia-gpu"), "--input", str(inputs)])
    assert exit_info.value.code == 2 and "holds no engine" in capsys.readouterr().err


def test_shipped_build_script_runs_with_the_standard_library_only(tmp_path):
    """The script copied to boards imports nothing from edgec; without tensorrt it fails loudly."""
    source = open(script.__file__).read()
    assert "import edgec" not in source and "from edgec" not in source
    done = subprocess.run([sys.executable, script.__file__, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "--timing-cache" in done.stdout
    (tmp_path / "s.json").write_text(json.dumps({"major_version": 11, "precision": "fp32", "workspace_mb": 64}))
    done = subprocess.run([sys.executable, script.__file__, "--onnx", "m.onnx", "--plan", "m.plan", "--settings",
                           str(tmp_path / "s.json")], capture_output=True, text=True, check=False)  # fmt: skip
    if trt_backend.tensorrt_version() is None:
        assert done.returncode != 0 and "No module named 'tensorrt'" in done.stderr


def test_engine_build_with_real_tensorrt(tiny_model, tmp_path):
    """Runs only where TensorRT and a GPU are present (never on edgec's CI machines)."""
    pytest.importorskip("tensorrt", reason="tensorrt cannot be imported here: the engine build is not run")
    from edgec.targets.tensorrt_backend import TensorRtBuilder

    builder = TensorRtBuilder()
    builder.state_dir = tmp_path / "state"
    result = builder.build(tiny_model.onnx, "fp32", get_profile("nvidia-gpu"), tmp_path)
    assert result.engine_built and (tmp_path / "model.plan").stat().st_size > 0
    assert (builder.state_dir / "timing.cache").is_file()
