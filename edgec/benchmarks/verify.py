"""`edgec verify REPORT.json`: is this benchmark report what it says it is?

Three checks, each of which a doctored report fails:
1. **files**: every file the report (and the bundle's manifest) lists exists inside the bundle
   with the listed sha256 — a swapped or edited engine is caught;
2. **summary**: the summary recomputes from the raw samples (`stats.summarize`) — an edited
   p50, or an edited sample, is caught;
3. **re-run**: the engine is measured again on this machine with the report's settings, and the
   reported p50 must be reproduced: each p50 must lie inside the other's 95 % interval widened by
   a factor `1 + tolerance` (default 0.5: [lo / 1.5, hi x 1.5]). The re-run is one process, so
   its interval covers that run's noise only; whole runs drift by more on a shared machine
   (other jobs on a sibling hyperthread, frequency scaling): on the 2-core CI machine shared by
   several jobs, two runs of the same engine differed by up to 47 %. The margin
   keeps an honest report from failing there and still catches a number halved or doubled; on a
   quiet, pinned machine use `--tolerance 0.05`. A report whose samples were all scaled together
   and whose summary was recomputed to match is caught only here, so only beyond that margin.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.artifacts import read_json, resolve_inside, sha256_file
from edgec.benchmarks import harness, stats
from edgec.benchmarks.gate_inputs import check_report
from edgec.benchmarks.interleave import random_feeds
from edgec.errors import EdgecError, GateFailure
from edgec.manifest import MANIFEST

DEFAULT_TOLERANCE = 0.5
REQUIRED_SUMMARY_KEYS = ("p50_ms", "p90_ms", "mean_ms", "ci95_p50_ms")
_RTOL = 1e-9  # recomputation is deterministic (seeded bootstrap); this only absorbs float printing


@dataclass(frozen=True)
class Finding:
    check: str  # files | summary | rerun | environment
    ok: bool
    detail: str


@dataclass
class VerifyResult:
    report: Path
    bundle: Path
    findings: list[Finding] = field(default_factory=list)
    rerun_summary: dict | None = None

    @property
    def passed(self) -> bool:
        return all(f.ok for f in self.findings)

    def __bool__(self) -> bool:
        return self.passed


def check_files(bundle: Path, entries: list, what: str) -> list[Finding]:
    findings = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or "sha256" not in entry:
            raise EdgecError(f"{what}: files[{i}] must be an object with 'path' and 'sha256'")
        path = resolve_inside(bundle, entry["path"], what)
        if not path.is_file():
            findings.append(Finding("files", False, f"{entry['path']}: listed in {what} but missing from {bundle}"))
        elif sha256_file(path) != entry["sha256"]:
            findings.append(
                Finding("files", False, f"{entry['path']}: sha256 differs from {what} (altered or swapped)")
            )
    if not findings:
        findings.append(Finding("files", True, f"{len(entries)} file(s) listed in {what} match their sha256"))
    return findings


def _close(a, b) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=_RTOL, abs_tol=1e-12)
    return a == b


def check_summary(report: dict) -> Finding:
    reported = report.get("summary")
    if not isinstance(reported, dict):
        return Finding("summary", False, "the report has no summary block")
    # Reports pooled from several processes (`--repeats`) carry their run lengths: the bootstrap
    # resamples within each run, so the same lengths must be given to reproduce the summary.
    if report.get("schema_version") != harness.SCHEMA_VERSION:
        return Finding("summary", False, f"report schema {report.get('schema_version')!r} is not this edgec's "
                       f"{harness.SCHEMA_VERSION}: its intervals were computed another way; measure again with edgec bench")  # fmt: skip
    recomputed = stats.summarize(report["samples_ms"], report.get("run_lengths"), _drift(reported))
    # Keys a later edgec adds to the summary are not held against an older report; the core
    # ones must be there.
    wrong = [k for k in REQUIRED_SUMMARY_KEYS if k not in reported]
    wrong += [k for k, v in recomputed.items() if k in reported and not _close(reported[k], v)]
    if wrong:
        shown = ", ".join(f"{k}: reported {reported.get(k)!r}, samples give {recomputed.get(k)!r}" for k in wrong[:4])
        more = f" (and {len(wrong) - 4} more)" if len(wrong) > 4 else ""
        return Finding("summary", False, f"summary does not match the samples: {shown}{more}")
    return Finding("summary", True, f"summary recomputes from the {len(report['samples_ms'])} samples")


def reproduced(reported: dict, rerun: dict, tolerance: float) -> bool:
    """Is each p50 inside the other's 95 % interval widened by a factor 1 + tolerance?

    Points against intervals, not overlapping intervals: a report measured on a noisy machine
    has a wide interval, and overlap alone would let a forged, much faster p50 through."""
    f = 1.0 + tolerance

    def inside(p50: float, ci: list[float]) -> bool:
        return ci[0] / f <= p50 <= ci[1] * f

    return inside(rerun["p50_ms"], reported["ci95_p50_ms"]) and inside(reported["p50_ms"], rerun["ci95_p50_ms"])


def _random_inputs(manifest: dict, path: Path) -> Path:
    feeds = random_feeds(manifest)
    np.savez(path, **{name: np.concatenate([f[name] for f in feeds]) for name in feeds[0]})
    return path


def rerun(report: dict, bundle: Path, tolerance: float, inputs: Path | None) -> tuple[Finding, dict]:
    manifest_path = bundle / MANIFEST
    if not manifest_path.is_file():
        raise EdgecError(f"{bundle}: no {MANIFEST} to say which engine to run; pass --bundle or --no-rerun")
    manifest = read_json(manifest_path, "bundle manifest")
    build = manifest.get("build") or {}
    if "engine" not in build or "runner" not in build:
        raise EdgecError(f"{manifest_path}: key 'build.engine' or 'build.runner' is missing")
    engine = resolve_inside(bundle, build["engine"], str(manifest_path))
    with tempfile.TemporaryDirectory(prefix="edgec-verify-") as tmp:
        feeds = Path(inputs) if inputs is not None else _random_inputs(manifest, Path(tmp) / "inputs.npz")
        if not feeds.is_file():
            raise EdgecError(f"{feeds}: inputs file not found")
        raw = harness.run_local(engine, build["runner"], feeds, report.get("settings") or {})
    again = stats.summarize(raw["samples_ms"], drift_pct=_drift(report.get("summary") or {}))
    old = report["summary"]
    ok = reproduced(old, again, tolerance)
    detail = (
        f"p50 reported {old['p50_ms']:.4g} ms (95 % CI {old['ci95_p50_ms'][0]:.4g}-{old['ci95_p50_ms'][1]:.4g}), "
        f"re-run {again['p50_ms']:.4g} ms (95 % CI {again['ci95_p50_ms'][0]:.4g}-{again['ci95_p50_ms'][1]:.4g}), "
        f"{len(raw['samples_ms'])} samples; allowed drift x{1 + tolerance:g}: "
        + ("reproduced" if ok else "NOT reproduced")
    )
    return Finding("rerun", ok, detail), {**again, "environment": raw.get("environment", {})}


def verify_report(report_path: Path, bundle: Path | None = None, *, rerun_measurement: bool = True,
                  tolerance: float = DEFAULT_TOLERANCE, inputs: Path | None = None) -> VerifyResult:  # fmt: skip
    report_path = Path(report_path)
    report = check_report(read_json(report_path, "benchmark report"), report_path)
    bundle = Path(bundle) if bundle is not None else report_path.parent
    if not bundle.is_dir():
        raise EdgecError(f"{bundle}: bundle folder not found")
    if not 0 <= tolerance <= 10:
        raise EdgecError(f"--tolerance {tolerance}: must be between 0 and 10")
    result = VerifyResult(report_path, bundle)
    files = report.get("files")
    if not isinstance(files, list) or not files:
        result.findings.append(Finding("files", False, "the report lists no files: its numbers point at no artifact"))
    else:
        result.findings += check_files(bundle, files, str(report_path))
    if (bundle / MANIFEST).is_file():
        manifest = read_json(bundle / MANIFEST, "bundle manifest")
        result.findings += check_files(bundle, manifest.get("files") or [], str(bundle / MANIFEST))
    result.findings.append(check_summary(report))
    if rerun_measurement and not _has_p50(report.get("summary")):
        result.findings.append(Finding("rerun", False, "not re-run: the summary has no usable p50_ms / ci95_p50_ms"))
    elif rerun_measurement:
        finding, again = rerun(report, bundle, tolerance, inputs)
        result.findings.append(finding)
        result.rerun_summary = again
        diffs = _env_diffs(report.get("environment") or {}, again["environment"])
        if diffs:
            result.findings.append(Finding("environment", True, "measured elsewhere: " + "; ".join(diffs) +
                                           " (a re-run here is not expected to match)"))  # fmt: skip
    return result


def _drift(summary: dict) -> float:
    value = summary.get("drift_pct", 0.0)
    return float(value) if isinstance(value, (int, float)) and 0 <= value <= 100 else 0.0


def _has_p50(summary) -> bool:
    if not isinstance(summary, dict):
        return False
    ci, p50 = summary.get("ci95_p50_ms"), summary.get("p50_ms")
    numbers = [p50, *ci] if isinstance(ci, list) and len(ci) == 2 else []
    return bool(numbers) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in numbers)


def _env_diffs(a: dict, b: dict) -> list[str]:
    keys = ("machine", "cpu_model", "cpu_count")
    diffs = [f"{k}: {a.get(k)!r} here {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]
    ba, bb = a.get("backends") or {}, b.get("backends") or {}
    diffs += [
        f"backends.{k}: {ba.get(k)!r} here {bb.get(k)!r}" for k in sorted(set(ba) | set(bb)) if ba.get(k) != bb.get(k)
    ]
    return diffs


def raise_if_failed(result: VerifyResult) -> None:
    bad = [f for f in result.findings if not f.ok]
    if bad:
        raise GateFailure(f"{result.report}: verification failed:\n  " + "\n  ".join(f.detail for f in bad))
