"""Tables printed by the CLI (rich), built from the same results the API returns."""

from __future__ import annotations

from rich.table import Table


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 1024:.0f} KiB" if num_bytes < 1 << 20 else f"{num_bytes / (1 << 20):.1f} MiB"


def _bundle_bytes(manifest: dict) -> int:
    engine = manifest["build"]["engine"]
    stem = engine.rsplit(".", 1)[0]
    return sum(f["bytes"] for f in manifest["files"] if f["path"].rsplit(".", 1)[0] == stem)


def _ms(report: dict | None, key: str) -> str:
    return "—" if report is None else f"{report['summary'][key]:.3f}"


def build_table(results) -> Table:
    table = Table("target", "precision", "metric", "float", "quantized", "p50 ms", "p90 ms", "engine size")
    for r in results:
        quality = r.manifest.get("quality") or {}
        fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
        chosen = (r.manifest.get("selection") or {}).get("chosen")  # auto-selected: say which profile won
        target = f"{r.target} = {chosen['target']}" if chosen else r.target
        table.add_row(target, r.precision, quality.get("metric", "—"), fmt(quality.get("float")),
                      fmt(quality.get("quantized")), _ms(r.benchmark, "p50_ms"), _ms(r.benchmark, "p90_ms"),
                      _size(_bundle_bytes(r.manifest)))  # fmt: skip
    return table


def demo_table(result) -> Table:
    """One row per measured variant: the teacher, the float student, and the INT8 student on each
    target; top-1 of each on the held-out digits, latency, engine size, speed-up over the teacher."""
    prov = result.provenance
    teacher_p50 = result.references["teacher fp32"]["benchmark"]["summary"]["p50_ms"]
    table = Table(
        "model", "target", "prec", "top-1 %", "p50 ms", "p90 ms", "size", "x teacher",
        title=f"edgec demo: digits; student {prov['student_params']:,} params "
              f"= {prov['student_params'] / prov['teacher_params']:.1%} of teacher",
    )  # fmt: skip

    def row(model: str, target: str, precision: str, accuracy, bench: dict | None, size: int) -> None:
        speedup = "—" if bench is None else f"{teacher_p50 / bench['summary']['p50_ms']:.2f}"
        acc = "—" if accuracy is None else f"{accuracy:.2f}"
        table.add_row(model, target, precision, acc, _ms(bench, "p50_ms"), _ms(bench, "p90_ms"), _size(size), speedup)

    for name, ref in result.references.items():
        row(f"{name.split()[0]} (ref)", "onnxruntime", "fp32", ref["accuracy"], ref["benchmark"], ref["bytes"])
    for bundle in result.bundles:
        row("student", bundle.target, bundle.precision, bundle.accuracy, bundle.benchmark,
            _bundle_bytes(bundle.manifest))  # fmt: skip
    return table


def bench_table(report_set: dict) -> Table:
    """`edgec bench`: one row per measured target."""
    device = report_set["device"]["address"]
    table = Table("target", "precision", "p50 ms [95% CI]", "p90 ms", "p99 ms", "CV", "inf/s", "n", "inputs",
                  title=f"edgec bench on {device}")  # fmt: skip
    for r in report_set["reports"]:
        s = r["summary"]
        lo, hi = s["ci95_p50_ms"]
        table.add_row(r["target"]["name"], r["target"]["precision"], f"{s['p50_ms']:.3f} [{lo:.3f}, {hi:.3f}]",
                      f"{s['p90_ms']:.3f}", f"{s['p99_ms']:.3f}", f"{s['cv']:.1%}", f"{s['throughput_per_s']:.0f}",
                      str(s["count"]), r["inputs"]["source"])  # fmt: skip
    return table


def quantize_table(results) -> Table:
    """One row per quantization recipe: the budget's metric before/after and what stayed float."""
    table = Table("recipe", "targets", "metric", "float", "quantized", "drop", "budget", "kept in float")
    for r in results:
        q = r.report["quality"]
        kept = ", ".join(q["kept_in_float"]) or "—"
        table.add_row(r.recipe.name, ", ".join(r.targets), q["metric"], f"{q['float']:.2f}", f"{q['quantized']:.2f}",
                      f"{q['drop']:.2f}", f"{q['max_drop']:.2f}", kept)  # fmt: skip
    return table
