"""What the benchmark feeds the engine: the user's own samples where given, random otherwise.

Real samples matter (value-dependent kernels, actual sequence lengths); random inputs of the
right shape and dtype are the fallback, and the report's `inputs.source` says which was used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgec.artifacts import atomic_write_bytes, sha256_file
from edgec.calibration.dataset import CalibrationSet
from edgec.compile.graph import TensorSpec
from edgec.errors import EdgecError

MAX_SAMPLES = 64  # distinct feeds cycled through; more only costs copying to the device
RANDOM_SAMPLES = 16


def specs_from_manifest(manifest: dict) -> list[TensorSpec]:
    return [TensorSpec(i["name"], i["dtype"], tuple(i["shape"])) for i in manifest["inputs"]]


def _random_array(spec: TensorSpec, rng: np.random.Generator, where: str) -> np.ndarray:
    first, *rest = spec.shape or (1,)
    if isinstance(first, int) and first != 1:
        raise EdgecError(f"{where}: input '{spec.name}' has a fixed batch of {first}; edgec measures batch 1")
    named = [d for d in rest if not isinstance(d, int)]
    if named:
        raise EdgecError(
            f"{where}: input '{spec.name}' has a named dimension {named[0]!r} (e.g. a sequence length); "
            "random inputs cannot guess it: give real samples with --inputs FILE.npz"
        )
    shape = (RANDOM_SAMPLES, *rest)
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        return rng.integers(0, 10, shape).astype(dtype)  # small ids: valid for any vocabulary
    raise EdgecError(f"{where}: input '{spec.name}' has dtype {dtype}; random inputs cover numbers and bools only")


def prepare_inputs(specs: list[TensorSpec], data: Path | None, out_npz: Path, *, where: str,
                   seed: int = 0) -> dict:  # fmt: skip
    """Write the feeds to `out_npz` (first axis = sample) and return the report's `inputs` block."""
    if data is not None:
        samples = CalibrationSet.from_file(data)
        samples.check(specs)
        samples = samples.sample(min(MAX_SAMPLES, len(samples)), seed)
        atomic_write_bytes(out_npz, samples.to_npz_bytes())
        info = {"source": "user data", "file": Path(data).name, "samples": len(samples)}
    else:
        rng = np.random.default_rng(seed)
        arrays = {spec.name: _random_array(spec, rng, where) for spec in specs}
        atomic_write_bytes(out_npz, CalibrationSet(arrays, None, "random").to_npz_bytes())
        info = {"source": "random", "seed": seed, "samples": RANDOM_SAMPLES,
                "distribution": "standard normal (floats), integers in [0, 10)"}  # fmt: skip
    shapes = {spec.name: [1, *list(spec.shape[1:])] for spec in specs}
    return {**info, "sha256": sha256_file(out_npz), "batch": 1, "shapes": shapes}
