"""Runtime for apps: open a bundle, check it is what its manifest says, and run it.

engine = edgec.runtime.load("edgec-out/host-cpu")
outputs = engine.run({"input": image})   # {output name: numpy array}

Every file the manifest lists is hashed before anything is opened; a bundle whose engine was
altered is refused. The runner is the one the benchmark agent uses (ONNX Runtime for .onnx and
.ort, OpenVINO for IR and compiled blobs), opened with the options recorded at build time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgec.artifacts import read_json, resolve_inside, sha256_file
from edgec.benchmarks.agent import RUNNERS, make_runner
from edgec.compile.graph import TensorSpec
from edgec.errors import EdgecError
from edgec.manifest import MANIFEST

_TENSOR_KEYS = {"name": str, "dtype": str, "shape": list}
_SHAPE = {
    "files": (list, {"path": str, "sha256": str}),
    "build": (dict, {"engine": str, "runner": str}),
    "inputs": (list, _TENSOR_KEYS),
    "outputs": (list, _TENSOR_KEYS),
}


def check_manifest(data: object, where: str) -> dict:
    """Type-check the keys a reader relies on before any is used (plain Python: an app on a
    device should not need pydantic). Raises EdgecError naming the key path."""
    if not isinstance(data, dict):
        raise EdgecError(f"{where}: expected a JSON object, got {type(data).__name__}")
    for key, (kind, fields) in _SHAPE.items():
        if key not in data:
            raise EdgecError(f"{where}: {key}: required key is missing")
        value = data[key]
        if not isinstance(value, kind):
            raise EdgecError(f"{where}: {key}: expected a {kind.__name__}, got {type(value).__name__}")
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            label = f"{key}[{index}]" if isinstance(value, list) else key
            if not isinstance(item, dict):
                raise EdgecError(f"{where}: {label}: expected an object, got {type(item).__name__}")
            for field, field_kind in fields.items():
                if not isinstance(item.get(field), field_kind):
                    raise EdgecError(f"{where}: {label}.{field}: expected a {field_kind.__name__}")
    options = data["build"].get("runtime_options", {})
    if not isinstance(options, dict):
        raise EdgecError(f"{where}: build.runtime_options: expected an object")
    return data


def verify_files(bundle: Path, manifest: dict) -> None:
    """Every file the manifest lists exists inside the bundle and has the listed sha256."""
    for entry in manifest.get("files", []):
        path = resolve_inside(bundle, entry["path"], f"{bundle / MANIFEST}")
        if not path.is_file():
            raise EdgecError(f"{bundle}: file '{entry['path']}' listed in the manifest is missing")
        if sha256_file(path) != entry["sha256"]:
            raise EdgecError(
                f"{bundle}: file '{entry['path']}' does not match its manifest hash "
                "(altered or corrupted); rebuild the bundle"
            )


def _runner_options(build: dict) -> tuple[dict, list[str]]:
    """The build's runtime options, with execution providers this ONNX Runtime lacks dropped
    (a phone's NNAPI or Core ML on a desktop): they are reported, and the CPU provider stays."""
    options = dict(build.get("runtime_options") or {})
    dropped: list[str] = []
    if build["runner"] == "onnxruntime" and options.get("providers"):
        import onnxruntime as ort

        available = set(ort.get_available_providers())
        kept = [p for p in options["providers"] if p in available]
        dropped = [p for p in options["providers"] if p not in available]
        options["providers"] = kept or ["CPUExecutionProvider"]
    return options, dropped


class Engine:
    def __init__(self, bundle: Path, manifest: dict) -> None:
        self.bundle = bundle
        self.manifest = manifest
        build = manifest["build"]
        if build.get("engine_built") is False:
            raise EdgecError(f"{bundle}: this bundle holds no engine: {build.get('skipped_reason')}")
        if build["runner"] not in RUNNERS:
            raise EdgecError(
                f"{bundle}: engine '{build['engine']}' needs the {build['runner']} runtime, which edgec.runtime "
                f"does not drive (it runs: {', '.join(RUNNERS)}); see docs/runtime.md for running it with "
                f"{build['runner']}'s own API"
            )
        engine_path = resolve_inside(bundle, build["engine"], f"{bundle / MANIFEST}")
        self.inputs = [TensorSpec(i["name"], i["dtype"], tuple(i["shape"])) for i in manifest["inputs"]]
        self.output_names = [o["name"] for o in manifest["outputs"]]
        options, self.dropped_providers = _runner_options(build)
        self.providers = options.get("providers")
        self._runner = make_runner(build["runner"], str(engine_path), options)
        try:
            self._runner.load()
        except Exception as exc:  # noqa: BLE001 - each backend raises its own types for a bad engine
            raise EdgecError(f"{bundle}: {build['runner']} could not open '{build['engine']}': {exc}") from exc

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = {spec.name for spec in self.inputs}
        if set(feeds) != names:
            raise EdgecError(f"inputs {sorted(feeds)} do not match the bundle's inputs {sorted(names)}")
        for spec in self.inputs:
            array = np.asarray(feeds[spec.name])
            spec.check(array, f"{self.bundle.name}", batched=False)
        return self._runner.infer({k: np.asarray(v) for k, v in feeds.items()})


def load(bundle_dir: str | Path) -> Engine:
    bundle = Path(bundle_dir)
    if not bundle.is_dir():
        raise EdgecError(f"{bundle}: bundle folder not found")
    manifest = check_manifest(read_json(bundle / MANIFEST, "bundle manifest"), str(bundle / MANIFEST))
    verify_files(bundle, manifest)
    return Engine(bundle, manifest)


def read_inputs(npz_path: str | Path) -> dict[str, np.ndarray]:
    """Inputs for `edgec run`: an .npz keyed by input name (no pickled objects)."""
    path = Path(npz_path)
    if not path.is_file():
        raise EdgecError(f"{path}: input file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (ValueError, OSError) as exc:
        raise EdgecError(f"{path}: not a readable .npz of arrays ({exc})") from exc


def run_bundle(bundle_dir: str | Path, npz_path: str | Path) -> dict[str, np.ndarray]:
    """Load a bundle (hash-checked) and run it once on the arrays of an .npz; extra arrays such
    as `labels` are ignored, missing inputs are named."""
    engine = load(bundle_dir)
    arrays = read_inputs(npz_path)
    missing = [spec.name for spec in engine.inputs if spec.name not in arrays]
    if missing:
        raise EdgecError(f"{npz_path}: no array for input(s) {', '.join(missing)} (has: {', '.join(arrays) or 'none'})")
    return engine.run({spec.name: arrays[spec.name] for spec in engine.inputs})
