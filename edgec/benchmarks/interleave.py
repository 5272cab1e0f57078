"""Measure two (or more) bundles on this machine, interleaved: A B B A A B ... in one process.

On a shared CI runner, whole runs drift by tens of percent (another job on the sibling
hyperthread, frequency scaling); two runs minutes apart can differ by more than the regression
a gate looks for. Interleaving short blocks of the engines in one process makes that drift hit
both alike, so the ratio stays honest (BENCHMARKING.md). The order alternates (ABBA), so neither
engine always runs right after the other. `edgec gate --remeasure` uses this on the baseline's
and the current build's bundles; peak memory and load time still come from the reports.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgec.artifacts import read_json, resolve_inside
from edgec.benchmarks import agent
from edgec.errors import EdgecError
from edgec.manifest import MANIFEST

DEFAULT_ROUNDS = 10


def random_feeds(manifest: dict, count: int = 16, seed: int = 0) -> list[dict]:
    """Batch-1 feeds of the manifest's input shapes and dtypes (named dims -> 1), seeded. The
    latency of the engines edgec builds does not depend on the input values."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for spec in manifest.get("inputs", []):
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in spec["shape"]]
        dtype = np.dtype(spec["dtype"])
        values = rng.random([count, *shape[1:]]) if shape else rng.random(count)
        arrays[spec["name"]] = values.astype(dtype) if dtype.kind == "f" else (values * 8).astype(dtype)
    if not arrays:
        raise EdgecError("the bundle manifest lists no inputs; give inputs explicitly")
    return [{name: a[i : i + 1] for name, a in arrays.items()} for i in range(count)]


def open_bundle(bundle: Path, settings: dict) -> tuple[agent.Runner, dict]:
    manifest_path = Path(bundle) / MANIFEST
    manifest = read_json(manifest_path, "bundle manifest")
    build = manifest.get("build") or {}
    if "engine" not in build or "runner" not in build:
        raise EdgecError(f"{manifest_path}: key 'build.engine' or 'build.runner' is missing")
    engine = resolve_inside(bundle, build["engine"], str(manifest_path))
    options = {**(build.get("runtime_options") or {}), **(settings.get("runner_options") or {})}
    try:
        runner = agent.make_runner(build["runner"], str(engine), options)
        runner.load()
    except Exception as exc:  # a backend missing here (TensorRT on a CPU runner) is the user's setup
        raise EdgecError(f"{bundle}: cannot open its engine on this machine to re-measure it: {exc}") from exc
    return runner, manifest


def measure_interleaved(bundles: list[Path], settings: dict, rounds: int = DEFAULT_ROUNDS) -> list[dict]:
    """Raw results (`samples_ms`, `environment`) per bundle, measured in alternating blocks.

    Each bundle gets at least `min_runs` samples and `min_seconds` of timed work in total, as in
    a normal run, spread over `rounds` blocks; warm-up is done for every engine before any block.
    """
    opened = [open_bundle(b, settings) for b in bundles]
    runners = [runner for runner, _ in opened]
    feeds = [random_feeds(manifest) for _, manifest in opened]
    clock = time.perf_counter
    for runner, feed in zip(runners, feeds, strict=True):
        began, count = clock(), 0
        while count < int(settings.get("warmup_runs", 10)) or clock() - began < float(
            settings.get("warmup_seconds", 0.5)
        ):
            runner.infer(feed[count % len(feed)])
            count += 1
    block_runs = max(1, -(-int(settings.get("min_runs", 100)) // rounds))
    block_seconds = float(settings.get("min_seconds", 2.0)) / rounds
    samples: list[list[float]] = [[] for _ in runners]
    for round_index in range(rounds):
        order = range(len(runners)) if round_index % 2 == 0 else reversed(range(len(runners)))
        for i in order:
            runner, feed, out = runners[i], feeds[i], samples[i]
            began, count = clock(), 0
            while count < block_runs or clock() - began < block_seconds:
                t0 = clock()
                runner.infer(feed[count % len(feed)])
                out.append((clock() - t0) * 1e3)
                count += 1
    env = agent.environment()
    return [{"samples_ms": s, "environment": env, "interleaved_rounds": rounds} for s in samples]
