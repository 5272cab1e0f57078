"""TensorRT builder: a plan built where TensorRT runs (here, or on the board over SSH).

The bundle always carries what is needed to build the engine again by hand: the ONNX graph, the
self-contained build script with its settings, and the equivalent `trtexec` command line. When
`tensorrt` cannot be imported here and the profile names no board, the engine build is skipped
with the reason written into the manifest; nothing pretends to be a plan.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx

from edgec.artifacts import atomic_write_json, atomic_write_text
from edgec.compile.graph import TensorSpec, io_specs, load_model
from edgec.errors import EdgecError
from edgec.targets import tensorrt_build_script as script
from edgec.targets.base import Builder, BuildResult
from edgec.targets.profiles import DynamicDim, TargetProfile, TensorRtOptions
from edgec.targets.remote_build import SshTarget, build_remotely

ONNX, PLAN, SETTINGS, SCRIPT, TRTEXEC, LOG, TIMING_CACHE = (
    "model.onnx", "model.plan", "build_settings.json", "build_engine.py", "trtexec_command.txt", "build.log", "timing.cache",
)  # fmt: skip
_HW_LEVELS = {"ampere_plus": "ampere+", "same_compute_capability": "sameComputeCapability"}


def tensorrt_version() -> str | None:
    try:
        import tensorrt as trt
    except ImportError:
        return None
    return trt.__version__


def optimization_profile(inputs: list[TensorSpec], dims: dict[str, DynamicDim], target: str) -> dict:
    """min/opt/max shapes per input from the graph's named dynamic dims; {} for static graphs."""
    shapes: dict[str, dict[str, list[int]]] = {}
    if all(isinstance(d, int) for spec in inputs for d in spec.shape):
        return shapes
    for spec in inputs:
        triple: dict[str, list[int]] = {"min": [], "opt": [], "max": []}
        for axis, dim in enumerate(spec.shape):
            if isinstance(dim, int):
                for key in triple:
                    triple[key].append(dim)
                continue
            if dim == "?" or dim not in dims:
                hint = "name the dim in the export" if dim == "?" else f"set tensorrt.dynamic_dims.{dim}"
                raise EdgecError(
                    f"target {target}: input '{spec.name}' axis {axis} is dynamic ({dim!r}) and the profile "
                    f"gives no min/opt/max for it; {hint}: {{min: 1, opt: 1, max: 8}}"
                )
            for key in triple:
                triple[key].append(getattr(dims[dim], key))
        shapes[spec.name] = triple
    return shapes


def check_precision_graph(model: onnx.ModelProto, precision: str, major: int, target: str) -> None:
    """Precision lives in the graph for explicit quantization (both versions) and for FP16 on
    TensorRT 11; refuse a graph that cannot give the asked precision, naming the node."""
    nodes = list(model.graph.node)
    if precision == "int8":
        qdq = [n for n in nodes if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
        if not qdq:
            raise EdgecError(f"target {target}: int8 needs a Q/DQ graph (explicit quantization); this graph has none")
        inits = {i.name: i for i in model.graph.initializer}
        for node in qdq:
            if len(node.input) < 3 or node.input[2] not in inits:
                continue
            zero_point = onnx.numpy_helper.to_array(inits[node.input[2]])
            if zero_point.dtype != np.int8:
                problem = f"a {zero_point.dtype} zero point (TensorRT takes int8 Q/DQ; int32 is a quantized bias)"
            elif np.any(zero_point != 0):
                problem = "a non-zero zero point (TensorRT takes symmetric quantization only)"
            else:
                continue
            raise EdgecError(
                f"target {target}: node '{node.name}' ({node.op_type}) has {problem}; "
                "quantize with the TensorRT preset (symmetric INT8, zero points 0, no bias quantization)"
            )
    if precision == "fp16" and major >= 11:
        types = {i.data_type for i in model.graph.initializer}
        types |= {a.i for n in nodes if n.op_type == "Cast" for a in n.attribute if a.name == "to"}
        if onnx.TensorProto.FLOAT16 not in types:
            raise EdgecError(
                f"target {target}: TensorRT 11 is strongly typed and this graph has no FP16 tensors, so an "
                "fp16 build would run in fp32; convert the graph to FP16 first (casts in the graph)"
            )


def build_settings(profile: TargetProfile, precision: str, shapes: dict) -> dict:
    options = profile.tensorrt or TensorRtOptions(major_version=11)
    return {
        "target": profile.name, "major_version": options.major_version, "precision": precision,
        "strongly_typed": options.major_version >= 11, "workspace_mb": options.workspace_mb,
        "version_compatible": options.version_compatible, "hardware_compatibility": options.hardware_compatibility,
        "optimization_profile": shapes, "compute_capability": profile.hardware.compute_capability,
    }  # fmt: skip


def trtexec_command(settings: dict, trtexec: str = "trtexec") -> list[str]:
    """The trtexec equivalent of what build_engine.py does with the Python API."""
    cmd = [trtexec, f"--onnx={ONNX}", f"--saveEngine={PLAN}", f"--timingCacheFile={TIMING_CACHE}",
           f"--memPoolSize=workspace:{settings['workspace_mb']}M"]  # fmt: skip
    shapes = settings["optimization_profile"]
    for key, flag in (("min", "--minShapes"), ("opt", "--optShapes"), ("max", "--maxShapes")):
        if shapes:
            cmd.append(f"{flag}=" + ",".join(f"{name}:{'x'.join(map(str, s[key]))}" for name, s in shapes.items()))
    cmd += [f"--{flag.lower()}" for flag in script.precision_flags(settings["major_version"], settings["precision"])]
    if settings["version_compatible"]:
        cmd.append("--versionCompatible")
    if settings["hardware_compatibility"] != "none":
        cmd.append(f"--hardwareCompatibilityLevel={_HW_LEVELS[settings['hardware_compatibility']]}")
    cmd.append("--skipInference")
    return cmd


def python_command(python: str) -> list[str]:
    return [python, SCRIPT, "--onnx", ONNX, "--plan", PLAN, "--settings", SETTINGS, "--timing-cache", TIMING_CACHE]


def _result_from(output: str) -> dict | None:
    for line in reversed(output.splitlines()):
        if line.startswith(script.RESULT_MARKER):
            return json.loads(line[len(script.RESULT_MARKER) :])
    return None


def _refusal(target: str, result: dict | None, output: str) -> EdgecError:
    if result and result.get("errors"):
        lines = [f"  node {e['node']} '{e.get('node_name') or '?'}' ({e.get('node_operator') or '?'}): {e['desc']}"
                 for e in result["errors"]]  # fmt: skip
        return EdgecError(f"target {target}: TensorRT's ONNX parser refused {len(lines)} node(s):\n" + "\n".join(lines))
    tail = "\n".join(output.strip().splitlines()[-10:])
    return EdgecError(f"target {target}: TensorRT engine build failed:\n{tail}")


class TensorRtBuilder(Builder):
    name = "tensorrt"

    def version(self) -> str:
        return tensorrt_version() or "not-importable"

    def build(self, model: Path, precision: str, profile: TargetProfile, out_dir: Path) -> BuildResult:
        options = profile.tensorrt or TensorRtOptions(major_version=11)
        proto = load_model(model)
        check_precision_graph(proto, precision, options.major_version, profile.name)
        inputs, _ = io_specs(proto)
        settings = build_settings(profile, precision, optimization_profile(inputs, options.dynamic_dims, profile.name))
        shutil.copyfile(model, out_dir / ONNX)
        shutil.copyfile(script.__file__, out_dir / SCRIPT)
        atomic_write_json(out_dir / SETTINGS, settings)
        trtexec = trtexec_command(settings, options.trtexec)
        atomic_write_text(out_dir / TRTEXEC, shlex.join(trtexec) + "\n")
        state = self.state_dir or out_dir
        state.mkdir(parents=True, exist_ok=True)
        cache = state / TIMING_CACHE
        if cache.is_file():
            shutil.copyfile(cache, out_dir / TIMING_CACHE)
        details = {"trtexec": TRTEXEC, "settings": SETTINGS, "build_script": SCRIPT, "major_version": options.major_version,
                   "strongly_typed": settings["strongly_typed"], "optimization_profile": settings["optimization_profile"],
                   "build_with": options.build_with}  # fmt: skip
        if profile.connection and profile.connection.startswith("ssh://"):
            where, output, result = self._remote(profile, options, out_dir, trtexec)
        elif tensorrt_version() is not None:
            where, output, result = self._local(out_dir, trtexec if options.build_with == "trtexec" else None)
        else:
            reason = ("the tensorrt Python package cannot be imported here and the profile names no board "
                      "(connection: ssh://user@board) to build on; build_engine.py and trtexec_command.txt "
                      "in this bundle build it on a machine that has TensorRT")  # fmt: skip
            (out_dir / TIMING_CACHE).unlink(missing_ok=True)
            return BuildResult(engine=ONNX, runner="tensorrt", backend_version="not-built",
                               runtime_options={}, notes=[f"engine not built: {reason}"], details=details,
                               engine_built=False, skipped_reason=reason)  # fmt: skip
        atomic_write_text(out_dir / LOG, output)
        if not (out_dir / PLAN).is_file() or (result is not None and not result.get("ok")):
            (out_dir / PLAN).unlink(missing_ok=True)
            raise _refusal(profile.name, result, output)
        if (out_dir / TIMING_CACHE).is_file():  # saved for the next build of this target
            shutil.copyfile(out_dir / TIMING_CACHE, cache)
        version = (result or {}).get("tensorrt") or tensorrt_version() or "unknown"
        details["built_on"] = where
        return BuildResult(engine=PLAN, runner="tensorrt", backend_version=version, runtime_options={},
                           notes=[f"engine built on {where}"], details=details)  # fmt: skip

    def _local(self, out_dir: Path, trtexec: list[str] | None) -> tuple[str, str, dict | None]:
        cmd = trtexec if trtexec else [sys.executable, *python_command("python")[1:]]
        try:
            done = subprocess.run(cmd, cwd=out_dir, capture_output=True, text=True, timeout=3600, check=False)
        except FileNotFoundError as exc:
            raise EdgecError(f"'{cmd[0]}' is not installed on this machine") from exc
        output = done.stdout + done.stderr
        return "this machine", output, _result_from(output)

    def _remote(self, profile: TargetProfile, options: TensorRtOptions, out_dir: Path,
                trtexec: list[str]) -> tuple[str, str, dict | None]:  # fmt: skip
        target = SshTarget.parse(profile.connection or "")
        files = [out_dir / ONNX, out_dir / SCRIPT, out_dir / SETTINGS]
        if (out_dir / TIMING_CACHE).is_file():
            files.append(out_dir / TIMING_CACHE)
        command = trtexec if options.build_with == "trtexec" else python_command(options.remote_python)
        run = build_remotely(target, options.remote_workdir, files, command, [PLAN, TIMING_CACHE], out_dir)
        return f"{target.destination} (over SSH)", run.output, _result_from(run.output)
