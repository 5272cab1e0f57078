"""The example GitHub Actions workflow cannot run here; check what can be: it parses, it has the
shape GitHub expects, and every `edgec` command line in it names a command and options that
exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer
import yaml

from edgec.cli import app

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "github-actions" / "edgec.yml"
DOCS = ROOT / "docs" / "ci.md"


def _workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as True; GitHub reads it as "on".
    data["on"] = data.pop(True, data.get("on"))
    return data


def _edgec_invocations(script: str) -> list[list[str]]:
    """Every `edgec ...` command in a shell script, as argument lists (after `edgec`)."""
    joined = script.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = re.sub(r"\$\{\{[^}]*\}\}", "X", line)  # GitHub expressions are not shell
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i, word in enumerate(words):
            if word == "edgec":
                end = next((j for j in range(i + 1, len(words)) if words[j] in (";", "&&", "||", "|")), len(words))
                found.append(words[i + 1 : end])
    return found


def _commands() -> dict:
    """{'gate': command, 'targets list': command, ...} from the CLI's own command tree."""
    group = typer.main.get_command(app)
    commands = {}
    for name, command in group.commands.items():
        commands[name] = command
        if hasattr(command, "commands"):
            commands.update({f"{name} {sub}": c for sub, c in command.commands.items()})
    return commands


def _check_invocation(args: list[str], commands: dict) -> None:
    assert args, "a bare `edgec` call"
    name = args[0]
    assert name in commands, f"`edgec {name}` is not a command ({', '.join(sorted(commands))})"
    options = {opt for param in commands[name].params for opt in (*param.opts, *param.secondary_opts)}
    for word in args[1:]:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            assert flag in options, f"`edgec {name}` has no option {flag} (has: {', '.join(sorted(options))})"


def test_workflow_parses_with_the_shape_github_expects():
    data = _workflow()
    assert {"pull_request", "push"} <= set(data["on"])
    (job,) = data["jobs"].values()
    assert job["runs-on"] and job["steps"]
    for step in job["steps"]:
        assert ("run" in step) != ("uses" in step), step
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]


def test_workflow_gates_pull_requests_and_posts_the_summary():
    steps = _workflow()["jobs"]["edgec"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert "edgec build" in scripts and "edgec gate" in scripts and "--save-baseline" in scripts
    assert '--summary "$GITHUB_STEP_SUMMARY"' in scripts and "--junit" in scripts
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert "actions/cache/restore" in uses and "actions/cache/save" in uses and "actions/upload-artifact" in uses


def test_workflow_calls_only_commands_and_options_that_exist():
    commands = _commands()
    invocations = [
        args for step in _workflow()["jobs"]["edgec"]["steps"] for args in _edgec_invocations(step.get("run", ""))
    ]
    assert len(invocations) >= 5
    for args in invocations:
        _check_invocation(args, commands)


def test_docs_commands_exist():
    """Every `edgec ...` line in docs/ci.md's code blocks is a real command with real options."""
    commands = _commands()
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(DOCS.read_text())
    blocks = [t.content for t in tokens if t.type == "fence" and t.info.strip() in ("bash", "sh", "console", "")]
    invocations = [args for block in blocks for args in _edgec_invocations(block)]
    assert len(invocations) >= 4
    for args in invocations:
        _check_invocation(args, commands)


def test_the_checker_catches_a_wrong_option():
    try:
        _check_invocation(["gate", "--no-such-flag"], _commands())
    except AssertionError as exc:
        assert "--no-such-flag" in str(exc)
    else:
        raise AssertionError("an unknown option was accepted")
