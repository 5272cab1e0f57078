"""What CI systems read from a gate: JUnit XML and a Markdown summary.

JUnit XML: one `<testsuite>` per target, one `<testcase>` per budget, `<failure>` for a failed
budget and `<skipped>` for one that could not be checked (no baseline, different machines). The
shape is the common one (Jenkins xunit's junit-10.xsd, which GitHub/GitLab test reporters read);
tests validate against `tests/data/junit.xsd`.

Markdown: one table, one row per check, with the baseline, current value, threshold and
verdict, for `$GITHUB_STEP_SUMMARY` or a pull-request comment.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from edgec.artifacts import atomic_write_bytes
from edgec.benchmarks.gate import FAIL, PASS, SKIP, GateResult
from edgec.errors import EdgecError

VERDICT_MARK = {PASS: "✅ pass", FAIL: "❌ fail", SKIP: "⚪ skipped"}


def to_junit_xml(result: GateResult, suite_name: str = "edgec gate") -> bytes:
    targets = list(dict.fromkeys(c.target for c in result.checks))
    root = ET.Element("testsuites", name=suite_name, tests=str(len(result.checks)),
                      failures=str(len(result.failed)), errors="0", time="0")  # fmt: skip
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for target in targets:
        checks = [c for c in result.checks if c.target == target]
        suite = ET.SubElement(
            root, "testsuite", name=f"{suite_name}: {target}", tests=str(len(checks)),
            failures=str(sum(c.verdict == FAIL for c in checks)), errors="0",
            skipped=str(sum(c.verdict == SKIP for c in checks)), time="0", timestamp=stamp,
            hostname=socket.gethostname(),
        )  # fmt: skip
        for check in checks:
            case = ET.SubElement(suite, "testcase", name=check.budget, classname=f"edgec.gate.{target}", time="0")
            if check.verdict == FAIL:
                ET.SubElement(case, "failure", message=check.detail, type="GateFailure").text = check.detail
            elif check.verdict == SKIP:
                ET.SubElement(case, "skipped", message=check.detail)
            numbers = (f"{check.label}: baseline {check.baseline}; current {check.current}; "
                       f"threshold {check.threshold}; verdict {check.verdict}\n{check.detail}")  # fmt: skip
            ET.SubElement(case, "system-out").text = numbers
    if result.notes:
        ET.SubElement(root, "testsuite", name=f"{suite_name}: notes", tests="0", failures="0", errors="0")
        ET.SubElement(root[-1], "system-out").text = "\n".join(result.notes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _cell(text: str) -> str:
    # A pipe would end the cell and a newline the row; both can occur in messages.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(result: GateResult, title: str = "edgec gate") -> str:
    failed, total = len(result.failed), len(result.checks)
    headline = "passed" if result.passed else "failed"
    lines = [
        f"### {title}: {headline} ({failed} of {total} checks failed)" if failed else f"### {title}: {headline}",
        "",
        "| Target | Check | Baseline | Current | Threshold | Verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in result.checks:
        row = (c.target, c.label, c.baseline, c.current, c.threshold, VERDICT_MARK.get(c.verdict, c.verdict))
        lines.append("| " + " | ".join(_cell(x) for x in row) + " |")
    if not result.checks:
        lines.append("| — | no checks configured | — | — | — | — |")
    details = [
        f"- **{_cell(c.target)} / {_cell(c.label)}**: {_cell(c.detail)}" for c in result.checks if c.verdict != PASS
    ]
    details += [f"- {_cell(note)}" for note in result.notes]
    if details:
        lines += ["", *details]
    return "\n".join(lines) + "\n"


def write_junit(path: Path, result: GateResult) -> None:
    atomic_write_bytes(path, to_junit_xml(result))


def append_summary(path: Path, result: GateResult) -> None:
    """Append, as GitHub expects of $GITHUB_STEP_SUMMARY (other steps may have written to it)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(to_markdown(result) + "\n")
    except OSError as exc:
        raise EdgecError(f"{path}: could not write the summary ({exc.strerror or exc})") from exc
