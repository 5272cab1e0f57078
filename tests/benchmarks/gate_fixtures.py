"""Helpers shared by the gate and verify tests (the fixtures are in `gate_plugin.py`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tests.test_cli_smoke import run_cli  # noqa: F401 - re-exported to the gate and verify tests


def read_report(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def write_report(path: Path, report: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path


def with_samples(report: dict, samples, *, summary: bool = True) -> dict:
    """A copy of a real report carrying other samples, its summary recomputed to match (the gate
    reads only the samples, so its tests may skip the slow bootstrap)."""
    from edgec.benchmarks import stats

    out = copy.deepcopy(report)
    out["samples_ms"] = [float(x) for x in samples]
    if sum(out.get("run_lengths") or []) != len(out["samples_ms"]):
        out["run_lengths"] = None  # other samples than the processes measured: one pool
    out["summary"] = stats.summarize(out["samples_ms"], out["run_lengths"]) if summary else None
    return out


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every table a GitHub-flavoured Markdown renderer finds in `text`: rows of cell texts."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables, row = [], None
    for tok in tokens:
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and row is not None:
            row.append(tok.content)
        elif tok.type == "tr_close":
            tables[-1].append(row)
            row = None
    return tables


def junit_schema():
    import xmlschema

    return xmlschema.XMLSchema(str(Path(__file__).parent.parent / "data" / "junit.xsd"))
