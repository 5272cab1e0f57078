"""Build a TensorRT engine from an ONNX graph with the `tensorrt` Python API.

Self-contained on purpose (standard library and `tensorrt` only): edgec runs this file in a
subprocess on this machine, or copies it to the board (a Jetson, a GPU server) and runs it there,
where edgec is not installed. It handles TensorRT 10 and 11:

- TensorRT 11 is strongly typed: no precision flags; INT8 comes from Q/DQ nodes and FP16 from
  casts in the graph. The network is created with STRONGLY_TYPED where the flag still exists
  (deprecated and ignored in 11, where strong typing is always on).
- TensorRT 10 (JetPack 6) takes the builder-flag path: FP16 / INT8 flags over a Q/DQ graph.

    python3 build_engine.py --onnx model.onnx --plan model.plan --settings build_settings.json \
        [--timing-cache timing.cache]

Prints one line `EDGEC-TRT-RESULT {json}`; exit 0 on success, 3 when the ONNX parser refused
nodes (each listed), 4 when the build failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

RESULT_MARKER = "EDGEC-TRT-RESULT "


def network_flags(trt, major: int) -> int:  # noqa: ANN001 - the tensorrt module
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if major >= 11 and flag is not None:
        return 1 << int(flag)
    return 0


def precision_flags(major: int, precision: str) -> list[str]:
    """Builder flags to set: none on TensorRT 11 (removed); FP16 / INT8 (+FP16 for the layers
    left in float) on TensorRT 10."""
    if major >= 11:
        return []
    return {"fp32": [], "fp16": ["FP16"], "int8": ["INT8", "FP16"]}[precision]


def parser_errors(parser) -> list[dict]:  # noqa: ANN001 - tensorrt.OnnxParser
    """One entry per parser error, naming the ONNX node where TensorRT says which."""
    errors = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        entry = {"code": str(error.code()), "desc": error.desc(), "node": error.node()}
        for name in ("node_name", "node_operator"):
            getter = getattr(error, name, None)  # added in TensorRT 8.6
            entry[name] = getter() if getter else None
        errors.append(entry)
    return errors


def configure(trt, builder, network, settings: dict):  # noqa: ANN001 - tensorrt objects
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings["workspace_mb"]) << 20)
    for name in precision_flags(int(settings["major_version"]), settings["precision"]):
        config.set_flag(getattr(trt.BuilderFlag, name))
    if settings.get("version_compatible"):
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    level = settings.get("hardware_compatibility", "none")
    if level != "none":
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, level.upper())
    shapes = settings.get("optimization_profile") or {}
    if shapes:
        profile = builder.create_optimization_profile()
        for name, dims in shapes.items():
            profile.set_shape(name, dims["min"], dims["opt"], dims["max"])
        config.add_optimization_profile(profile)
    return config


def build(onnx_path: str, plan_path: str, settings: dict, timing_cache_path: str | None) -> dict:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt, int(settings["major_version"])))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_path):
        return {"ok": False, "stage": "parse", "errors": parser_errors(parser), "tensorrt": trt.__version__}
    config = configure(trt, builder, network, settings)
    cached = b""
    if timing_cache_path and os.path.isfile(timing_cache_path):
        with open(timing_cache_path, "rb") as handle:
            cached = handle.read()
    cache = config.create_timing_cache(cached)
    config.set_timing_cache(cache, ignore_mismatch=False)
    started = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - started
    if plan is None:
        return {"ok": False, "stage": "build", "errors": [], "tensorrt": trt.__version__}
    with open(plan_path, "wb") as handle:
        handle.write(memoryview(plan))
    if timing_cache_path:
        with open(timing_cache_path, "wb") as handle:
            handle.write(memoryview(config.get_timing_cache().serialize()))
    return {"ok": True, "stage": "done", "build_seconds": seconds, "tensorrt": trt.__version__,
            "timing_cache_reused": bool(cached)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--settings", required=True, help="build_settings.json")
    parser.add_argument("--timing-cache", default=None)
    args = parser.parse_args(argv)
    with open(args.settings, encoding="utf-8") as handle:
        settings = json.load(handle)
    result = build(args.onnx, args.plan, settings, args.timing_cache)
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    if result["ok"]:
        return 0
    return 3 if result["stage"] == "parse" else 4


if __name__ == "__main__":
    sys.exit(main())
