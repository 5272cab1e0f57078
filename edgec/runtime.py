"""Runtime for apps: open a bundle, check it is what its manifest says, and run it.

engine = edgec.runtime.load("edgec-out/host-cpu")
outputs = engine.run({"input": image})   # {output name: numpy array}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgec.artifacts import read_json, resolve_inside, sha256_file
from edgec.benchmarks.agent import make_runner
from edgec.compile.graph import TensorSpec
from edgec.errors import EdgecError
from edgec.manifest import MANIFEST


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


class Engine:
    def __init__(self, bundle: Path, manifest: dict) -> None:
        self.bundle = bundle
        self.manifest = manifest
        build = manifest["build"]
        engine_path = resolve_inside(bundle, build["engine"], f"{bundle / MANIFEST}")
        self.inputs = [TensorSpec(i["name"], i["dtype"], tuple(i["shape"])) for i in manifest["inputs"]]
        self.output_names = [o["name"] for o in manifest["outputs"]]
        self._runner = make_runner(build["runner"], str(engine_path), build.get("runtime_options"))
        self._runner.load()

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
    manifest = read_json(bundle / MANIFEST, "bundle manifest")
    for key in ("files", "build", "inputs", "outputs"):
        if key not in manifest:
            raise EdgecError(f"{bundle / MANIFEST}: key '{key}' is missing")
    verify_files(bundle, manifest)
    return Engine(bundle, manifest)
