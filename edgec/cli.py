"""The `edgec` command: a thin layer over the Python API.

Exit codes: 0 success, 1 a gate or verification failed, 2 bad input or usage (one message, no
traceback). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import track as rich_track
from rich.table import Table

from edgec import __version__
from edgec.errors import EdgecError, GateFailure

app = typer.Typer(
    help="edgec: distill, export, quantize, build, benchmark and ship models for edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
targets_app = typer.Typer(help="List and show device profiles.", no_args_is_help=False)
app.add_typer(targets_app, name="targets")
console = Console()
err_console = Console(stderr=True)

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output folder for bundles and the stage cache.")]


def _log(message: str) -> None:
    console.print(f"[dim]•[/dim] {escape(message)}", highlight=False)


def _track(iterable, description: str):
    return rich_track(iterable, description=description, console=console, transient=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"edgec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = None,
) -> None:
    """edgec: one config, one engine per target device, numbers you can check."""


@app.command()
def demo(out: OutOption = Path("edgec-out")) -> None:
    """Run the embedded default end to end (digits teacher -> student -> INT8 -> two host targets)."""
    from edgec.demo import run_demo
    from edgec.report import demo_table

    result = run_demo(out, log=_log, track=_track)
    console.print(demo_table(result))
    console.print(f"Bundles in [bold]{out}[/bold]: " + ", ".join(b.target for b in result.bundles))


@app.command()
def build(
    config: Annotated[Path, typer.Argument(help="edgec.yaml")],
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Build only these targets.")] = None,
    out: OutOption = Path("edgec-out"),
    no_bench: Annotated[bool, typer.Option("--no-bench", help="Skip the benchmark stage.")] = False,
) -> None:
    """Build one bundle per target from CONFIG (stages already done are reused from the cache)."""
    from edgec.config import load_config
    from edgec.pipeline import build as run_build
    from edgec.report import build_table

    loaded = load_config(config)
    if no_bench:
        loaded = loaded.model_copy(update={"benchmark": loaded.benchmark.model_copy(update={"enabled": False})})
    results = run_build(loaded, out, only=target, log=_log)
    console.print(build_table(results))


@app.command()
def bench(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder, or an output folder holding several.")],
    device: Annotated[
        Optional[str], typer.Option("--device", "-d", help="ssh://[user@]host[:port][?python=PATH] or adb://SERIAL")
    ] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the JSON report here.")] = None,
    markdown_out: Annotated[Optional[Path], typer.Option("--markdown", help="Write a Markdown summary here.")] = None,
    html_out: Annotated[Optional[Path], typer.Option("--html", help="Write an HTML page with plots here.")] = None,
    inputs: Annotated[
        Optional[Path], typer.Option("--inputs", help=".npz of real samples (default: random of the right shape)")
    ] = None,
    min_runs: Annotated[Optional[int], typer.Option("--min-runs", min=1, help="At least this many samples.")] = None,
    min_seconds: Annotated[
        Optional[float], typer.Option("--min-seconds", min=0, help="For at least this long.")
    ] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="Threads the engine may use.")] = None,
    repeats: Annotated[
        Optional[int], typer.Option("--repeats", min=1, max=20, help="Fresh processes per target, samples pooled.")
    ] = None,
    cpus: Annotated[Optional[str], typer.Option("--cpus", help="Pin the agent to these CPU ids, e.g. 2,3.")] = None,
) -> None:
    """Measure a bundle here or on a device; print a table and write the requested reports."""
    from edgec.benchmarks.bench import bench as run_bench
    from edgec.benchmarks.bench import write_reports
    from edgec.config import BenchmarkConfig
    from edgec.report import bench_table

    overrides = {"min_runs": min_runs, "min_seconds": min_seconds, "threads": threads, "repeats": repeats,
                 "cpus": _cpu_list(cpus)}  # fmt: skip
    settings = BenchmarkConfig(**{k: v for k, v in overrides.items() if v is not None})
    report_set = run_bench(bundle, device=device, data=inputs, settings=settings, log=_log)
    console.print(bench_table(report_set))
    for report in report_set["reports"]:
        for warning in report["warnings"]:
            console.print(f"[yellow]warning:[/yellow] {escape(report['target']['name'])}: {escape(warning)}")
    for path in write_reports(report_set, json_path=json_out, markdown_path=markdown_out, html_path=html_out):
        console.print(f"wrote {path}")


def _cpu_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(p.isdigit() for p in parts):
        raise EdgecError(f"--cpus {text!r}: expected CPU ids separated by commas, e.g. 2,3")
    return [int(p) for p in parts]


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="edgec.yaml")]) -> None:
    """Check CONFIG: keys, types, files and target names. Exit 2 with every problem listed."""
    from edgec.config import load_config
    from edgec.targets.profiles import get_profile

    loaded = load_config(config)
    for spec in loaded.targets:
        get_profile(spec.name).resolve_precision(spec.precision)
    console.print(f"{config}: valid ({len(loaded.targets)} target(s): {', '.join(t.name for t in loaded.targets)})")


@targets_app.callback(invoke_without_command=True)
def targets_default(ctx: typer.Context) -> None:
    """List the shipped device profiles (same as `edgec targets list`)."""
    if ctx.invoked_subcommand is None:
        targets_list()


@targets_app.command("list")
def targets_list() -> None:
    """One line per shipped device profile."""
    from edgec.targets.profiles import shipped_profiles

    table = Table("name", "backend", "precisions (default)", "status", "description")
    for profile in shipped_profiles().values():
        precisions = ", ".join(p if p != profile.default_precision else f"[bold]{p}[/bold]" for p in profile.precisions)
        table.add_row(profile.name, profile.backend, precisions, profile.status, profile.description)
    console.print(table)


@targets_app.command("show")
def targets_show(name: Annotated[str, typer.Argument(help="profile name")]) -> None:
    """Every setting of one device profile, as YAML."""
    import yaml

    from edgec.targets.profiles import get_profile

    profile = get_profile(name)
    console.print(yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False).rstrip())
    console.print(f"[dim]profile sha256: {profile.sha256}[/dim]")


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="edgec")
    except EdgecError as exc:
        err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except GateFailure as exc:
        err_console.print(f"[bold red]failed:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
