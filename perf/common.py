"""Shared by the perf scripts: interleaved timing, fidelity, tables (text and Markdown), machine.

Every script measures its variants in one process run, interleaved (A B C … A B C …) on the
same inputs, so drift on this shared 2-core machine hits every variant alike; ratios are what
the scripts judge, absolute milliseconds are context.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Before torch is imported: OpenMP threads sleep instead of spin-waiting between parallel regions.
# On this shared 2-core machine a spinning OpenMP team competes with every other process's
# threads, and PyTorch eager measured 10x slower (1147 ms vs 114 ms p50 for MiniLM, same load).
# PASSIVE is torch's best case here; on an idle machine spinning can be slightly faster.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from edgec.benchmarks.stats import summarize  # noqa: E402

THREADS = 2
Infer = Callable[[dict], object]


@dataclass
class Row:
    """One variant's line in a table: latency summary plus whatever quality columns apply."""

    name: str
    summary: dict
    extra: dict = field(default_factory=dict)


def interleaved(variants: dict[str, Infer], feeds: Sequence[dict], *, rounds: int, warmup: int = 3,
                min_seconds: float = 0.0) -> dict[str, list[float]]:  # fmt: skip
    """Time each variant once per round, round-robin, cycling through `feeds`; warm-up untimed.

    Runs at least `rounds` rounds and at least `min_seconds` of wall time."""
    if not variants or not feeds:
        raise ValueError("need at least one variant and one feed")
    for infer in variants.values():
        for i in range(warmup):
            infer(feeds[i % len(feeds)])
    samples: dict[str, list[float]] = {name: [] for name in variants}
    clock, began, done = time.perf_counter, time.perf_counter(), 0
    while done < rounds or clock() - began < min_seconds:
        feed = feeds[done % len(feeds)]
        for name, infer in variants.items():
            t0 = clock()
            infer(feed)
            samples[name].append((clock() - t0) * 1e3)
        done += 1
    return samples


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sentence-transformers' mean pooling: average of the token vectors the mask keeps."""
    mask = mask.astype(np.float32)[..., None]
    return (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def rows_from(samples: dict[str, list[float]], extra: dict[str, dict] | None = None) -> list[Row]:
    extra = extra or {}
    return [Row(name, summarize(values), extra.get(name, {})) for name, values in samples.items()]


def table(rows: list[Row], *, reference: str, extra_columns: Sequence[str] = (), markdown: bool = False) -> str:
    """p50/p90 per row, the p50 ratio to `reference`, and the extra columns (fidelity, accuracy)."""
    by_name = {r.name: r for r in rows}
    if reference not in by_name:
        raise ValueError(f"reference {reference!r} is not a row")
    ref = by_name[reference].summary["p50_ms"]
    head = ["variant", "p50 ms", "p90 ms", "cv", f"p50 / {reference}", *extra_columns]
    body = []
    for r in rows:
        s = r.summary
        cells = [r.name, f"{s['p50_ms']:.2f}", f"{s['p90_ms']:.2f}", f"{s['cv']:.0%}", f"{s['p50_ms'] / ref:.3f}"]
        cells += [_fmt(r.extra.get(col)) for col in extra_columns]
        body.append(cells)
    return render(head, body, markdown)


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def render(head: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*c) for c in body])


def machine() -> dict:
    """CPU model, cores, the ISA flags that matter for INT8, and the load when measured."""
    from edgec.benchmarks.agent import environment

    env = environment()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_model": env["cpu_model"],
        "cpu_count": env["cpu_count"],
        "cpu_flags": env["cpu_flags"],
        "os": env["os"],
        "python": platform.python_version(),
        "backends": env["backends"],
        "load_average": [round(x, 2) for x in load] if load else None,
        "threads": THREADS,
    }


def machine_line(info: dict) -> str:
    load = info.get("load_average")
    loaded = f"; load average {load[0]:.1f} on {info['cpu_count']} cores" if load else ""
    return (f"{info['cpu_model']}, {info['cpu_count']} cores, flags {' '.join(info['cpu_flags'])}, "
            f"{info['os']}, Python {info['python']}, {THREADS} threads per engine{loaded}")  # fmt: skip


def pin_threads(threads: int = THREADS) -> None:
    """Same thread count for every engine: torch here, the others through their session options."""
    import torch

    torch.set_num_threads(threads)
    # torch allows this once, before any parallel work; later calls keep the first setting.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def ort_session(path: Path, threads: int = THREADS, level: str = "all"):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # No spin-waiting after a run: in an interleaved comparison a spinning pool would steal the
    # cores from whichever engine runs next (this costs ONNX Runtime a little, never helps it).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ov_compiled(model, threads: int = THREADS):
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
    return ov.Core().compile_model(model, "CPU", config)


def publish(out_dir: Path, name: str, result: dict, report, markdown: Path | None) -> None:
    """Print the table, write `<name>.json` (rows as plain dicts) and, if asked, the Markdown table."""
    import json

    print(machine_line(result["machine"]))
    print(report(result))
    rows = {key: [{"name": r.name, "summary": r.summary, **r.extra} for r in value]
            for key, value in result.items() if key.startswith("rows")}  # fmt: skip
    write_result(out_dir, f"{name}.json", json.dumps({**result, **rows}, indent=2))
    if markdown:
        write_result(markdown.parent, markdown.name, report(result, markdown=True))


def write_result(out_dir: Path, name: str, text: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(text + "\n", encoding="utf-8")
    return path


def git_revision() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None
