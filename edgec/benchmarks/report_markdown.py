"""The bench report as Markdown: a table fit for a PR comment or `$GITHUB_STEP_SUMMARY`."""

from __future__ import annotations


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _accuracy(report: dict) -> str:
    quality = report.get("quality") or {}
    precision = (report.get("target") or {}).get("precision")
    value = quality.get("quantized") if precision == "int8" else quality.get("float")
    return "—" if value is None else f"{value:.2f} ({quality.get('metric')})"


def _row(report: dict) -> str:
    s = report["summary"]
    target = report.get("target") or {}
    lo, hi = s["ci95_p50_ms"]
    peak = report.get("peak_rss_bytes")
    cells = [
        target.get("name", "?"), target.get("backend", "?"), target.get("precision", "?"),
        f"{s['p50_ms']:.3f} [{lo:.3f}, {hi:.3f}]", _ms(s["p90_ms"]), _ms(s["p99_ms"]), f"{s['cv']:.1%}",
        f"{s['throughput_per_s']:.0f}", str(s.get("count", len(report["samples_ms"]))),
        _ms(report.get("load_ms")), _ms(report.get("first_inference_ms")),
        "—" if peak is None else f"{peak / (1 << 20):.0f}", _accuracy(report), report["inputs"]["source"],
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def _environment_line(env: dict) -> str:
    backends = ", ".join(f"{k} {v}" for k, v in sorted((env.get("backends") or {}).items()))
    return (
        f"`{env.get('device_name') or env.get('hostname')}`: {env.get('cpu_model')} ({env.get('cpu_count')} cores, "
        f"governor {env.get('governor') or 'n/a'}), {env.get('os')}, Python {env.get('python')}; {backends}"
    )


def render_markdown(report_set: dict) -> str:
    reports = report_set["reports"]
    device = report_set.get("device") or {}
    lines = [
        f"### edgec bench: {len(reports)} target(s) on {device.get('address', 'local')}",
        "",
        "| target | backend | precision | p50 ms [95% CI] | p90 ms | p99 ms | CV | inf/s | samples "
        "| load ms | first ms | peak MiB | accuracy | inputs |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *(_row(r) for r in reports),
        "",
    ]
    seen = set()
    for report in reports:
        env_line = _environment_line(report.get("environment") or {})
        if env_line not in seen:
            seen.add(env_line)
            lines.append(f"- Environment: {env_line}")
    for report in reports:
        name = (report.get("target") or {}).get("name", "?")
        lines += [f"- :warning: **{name}**: {w}" for w in report.get("warnings", [])]
    hashes = ", ".join(f"`{f['path']}` {f['sha256'][:12]}…" for r in reports for f in r["files"])
    lines += [f"- Measured files (sha256): {hashes}", ""]
    return "\n".join(lines)
