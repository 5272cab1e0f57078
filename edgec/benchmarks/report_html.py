"""The bench report as one self-contained HTML page: tables and inline SVG plots, no scripts,
no CDN, no network. Plots: the latency distribution of every target (histogram of the raw
samples with p50/p90 marked) and accuracy against p50 latency across targets and precisions."""

from __future__ import annotations

import html
import json

import numpy as np

from edgec.benchmarks.report_markdown import _accuracy

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
WIDTH, PANEL_H, PAD_L, PAD_R, PAD_T, PAD_B = 720, 150, 60, 20, 28, 34
BINS = 40


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    step = 10 ** np.floor(np.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = np.ceil(lo / step) * step
    return [float(v) for v in np.arange(first, hi + step * 1e-9, step)]


def _label(report: dict) -> str:
    target = report.get("target") or {}
    return f"{target.get('name', '?')} · {target.get('precision', '?')}"


def latency_svg(reports: list[dict]) -> str:
    """One histogram panel per target, each on its own millisecond axis."""
    plot_w = WIDTH - PAD_L - PAD_R
    height = PAD_T + len(reports) * PANEL_H + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
             f'aria-label="latency distribution per target" font-family="sans-serif" font-size="12">',
             f'<text x="{PAD_L}" y="18" font-size="14" font-weight="bold">Latency distribution (ms) of every '
             f'timed sample; p50 solid, p90 dashed</text>']  # fmt: skip
    for i, report in enumerate(reports):
        samples = np.asarray(report["samples_ms"], dtype=np.float64)
        p50, p90 = np.percentile(samples, [50, 90])
        # Tails on shared machines run to 100x the median; show the body, pile the tail in the last bin.
        lo = float(samples.min())
        hi = float(min(np.percentile(samples, 99.5), max(p90 + 3 * (p90 - p50), p50 * 1.2)))
        hi = hi if hi > lo else lo + 1e-3
        x = lambda v, lo=lo, hi=hi: PAD_L + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w  # noqa: E731
        edges = np.linspace(lo, hi, BINS + 1)
        color = PALETTE[i % len(PALETTE)]
        top = PAD_T + i * PANEL_H + 8
        base = top + PANEL_H - 30
        counts, _ = np.histogram(np.clip(samples, lo, hi), bins=edges)
        scale = (base - top - 14) / max(int(counts.max()), 1)
        for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
            if count:
                h = count * scale
                parts.append(f'<rect x="{x(left):.1f}" y="{base - h:.1f}" width="{max(x(right) - x(left) - 1, 1):.1f}" '
                             f'height="{h:.1f}" fill="{color}"/>')  # fmt: skip
        s = report["summary"]
        for key, dash in (("p50_ms", ""), ("p90_ms", ' stroke-dasharray="4 3"')):
            parts.append(f'<line x1="{x(s[key]):.1f}" x2="{x(s[key]):.1f}" y1="{top}" y2="{base}" '
                         f'stroke="#222" stroke-width="1.5"{dash}/>')  # fmt: skip
        parts.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{base}" y2="{base}" stroke="#555"/>')
        parts.append(f'<text x="{WIDTH - PAD_R}" y="{top + 10}" text-anchor="end"><tspan font-weight="bold" '
                     f'fill="{color}">{_esc(_label(report))}</tspan>  p50 {s["p50_ms"]:.3f} · p90 {s["p90_ms"]:.3f}'
                     f' · n={len(samples)}</text>')  # fmt: skip
        for tick in _ticks(lo, hi):
            parts.append(f'<text x="{x(tick):.1f}" y="{base + 14}" text-anchor="middle" fill="#444">{tick:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _accuracy_value(report: dict) -> float | None:
    text = _accuracy(report)
    return None if text == "—" else float(text.split()[0])


def accuracy_svg(reports: list[dict]) -> str:
    """Accuracy (the quality metric of each bundle) against p50 latency with its 95% CI."""
    height = 320
    points = [(r, _accuracy_value(r)) for r in reports]
    known = [(i, r, a) for i, (r, a) in enumerate(points) if a is not None]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
             f'aria-label="accuracy against latency" font-family="sans-serif" font-size="12">',
             f'<text x="{PAD_L}" y="18" font-size="14" font-weight="bold">Accuracy against p50 latency '
             f'(bars: 95% CI of p50)</text>']  # fmt: skip
    if not known:
        parts.append(f'<text x="{PAD_L}" y="60">No accuracy recorded in these bundles (built without eval or '
                     f'calibration data).</text></svg>')  # fmt: skip
        return "".join(parts)
    xs = [v for _, r, _ in known for v in r["summary"]["ci95_p50_ms"]]
    ys = [a for _, _, a in known]
    x_lo, x_hi = min(xs) * 0.9, max(xs) * 1.1
    y_lo, y_hi = min(ys) - 2, max(ys) + 2
    top, base, plot_w = 34, height - PAD_B, WIDTH - PAD_L - PAD_R
    x = lambda v: PAD_L + (v - x_lo) / (x_hi - x_lo) * plot_w  # noqa: E731
    y = lambda v: base - (v - y_lo) / (y_hi - y_lo) * (base - top)  # noqa: E731
    parts.append(f'<rect x="{PAD_L}" y="{top}" width="{plot_w}" height="{base - top}" fill="none" stroke="#555"/>')
    for tick in _ticks(x_lo, x_hi):
        parts.append(f'<text x="{x(tick):.1f}" y="{base + 14}" text-anchor="middle" fill="#444">{tick:g}</text>')
    for tick in _ticks(y_lo, y_hi):
        parts.append(f'<text x="{PAD_L - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#444">{tick:g}</text>')
    parts.append(f'<text x="{PAD_L + plot_w / 2}" y="{height - 4}" text-anchor="middle">p50 latency (ms)</text>')
    for i, report, acc in known:
        color = PALETTE[i % len(PALETTE)]
        lo, hi = report["summary"]["ci95_p50_ms"]
        px, py = x(report["summary"]["p50_ms"]), y(acc)
        parts.append(f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{py:.1f}" y2="{py:.1f}" stroke="{color}" '
                     f'stroke-width="3"/><circle cx="{px:.1f}" cy="{py:.1f}" r="9" fill="{color}"/>'
                     f'<text x="{px + (12 if px < WIDTH * 0.6 else -12):.1f}" y="{py - 10:.1f}" '
                     f'text-anchor="{"start" if px < WIDTH * 0.6 else "end"}">{_esc(_label(report))}: {acc:.2f}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _table(reports: list[dict]) -> str:
    head = ["target", "backend", "p50 ms [95% CI]", "p90", "p99", "CV", "inf/s", "n", "load ms", "first ms",
            "accuracy", "inputs"]  # fmt: skip
    rows = []
    for r in reports:
        s, t = r["summary"], r.get("target") or {}
        cells = [_label(r), f"{t.get('backend')} {str(t.get('backend_version') or '').split('-')[0]}",
                 f"{s['p50_ms']:.3f} [{s['ci95_p50_ms'][0]:.3f}, {s['ci95_p50_ms'][1]:.3f}]", f"{s['p90_ms']:.3f}",
                 f"{s['p99_ms']:.3f}", f"{s['cv']:.1%}", f"{s['throughput_per_s']:.0f}", len(r["samples_ms"]),
                 f"{r['load_ms']:.1f}", f"{r['first_inference_ms']:.2f}", _accuracy(r), r["inputs"]["source"]]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"


def render_html(report_set: dict) -> str:
    reports = report_set["reports"]
    device = (report_set.get("device") or {}).get("address", "local")
    warnings = [f"{_label(r)}: {w}" for r in reports for w in r.get("warnings", [])]
    envs = {json.dumps(r.get("environment"), sort_keys=True) for r in reports}
    files = [f"{_label(r)}: {f['path']} sha256 {f['sha256']}" for r in reports for f in r["files"]]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>edgec bench: {len(reports)} target(s) on {_esc(device)}</title>",
        "<style>body{font-family:sans-serif;margin:24px;color:#111;background:#fff}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}th{background:#f2f2f2}"
        "pre{background:#f7f7f7;padding:8px;font-size:11px;overflow:auto}.warn{color:#a60}</style></head><body>",
        f"<h1>edgec bench</h1><p>{len(reports)} target(s), measured on <b>{_esc(device)}</b>, "
        f"{_esc(report_set.get('created_at', ''))}, edgec {_esc(report_set.get('edgec_version', ''))}.</p>",
        _table(reports),
        *(f'<p class="warn">&#9888; {_esc(w)}</p>' for w in warnings),
        "<h2>Latency</h2>", latency_svg(reports),
        "<h2>Accuracy against latency</h2>", accuracy_svg(reports),
        "<h2>Environment</h2>", *(f"<pre>{_esc(json.dumps(json.loads(e), indent=1))}</pre>" for e in sorted(envs)),
        "<h2>Measured files</h2><pre>" + _esc("\n".join(files)) + "</pre>",
        "</body></html>", ""])  # fmt: skip
