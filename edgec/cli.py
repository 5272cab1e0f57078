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
) -> None:
    """Build one bundle per target from CONFIG (stages already done are reused from the cache)."""
    from edgec.config import load_config
    from edgec.pipeline import build as run_build
    from edgec.report import build_table

    results = run_build(load_config(config), out, only=target, log=_log)
    console.print(build_table(results))


@app.command()
def distill(
    config: Annotated[Path, typer.Argument(help="edgec.yaml with a 'distill:' section")],
    out: OutOption = Path("edgec-out"),
) -> None:
    """Distil the student CONFIG describes into OUT/student/ (runs under torchrun for data parallel)."""
    from edgec.config import load_config
    from edgec.distill import run_distill
    from edgec.distill.summary import distill_table

    loaded = load_config(config)
    with _distill_progress() as progress:
        result = run_distill(loaded, out, log=_log, progress=progress)
    if result.path.exists():
        console.print(distill_table(result))
        console.print(f"Student in [bold]{result.path}[/bold]")


def _distill_progress():
    """A rich progress bar (epoch, step, loss) on rank 0; silent on other torchrun ranks."""
    import contextlib
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if os.environ.get("RANK", "0") != "0":
        return contextlib.nullcontext(lambda *a: None)

    @contextlib.contextmanager
    def bar():
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("distill", total=None)

            def update(epoch: int, epochs: int, step: int, steps: int, loss: float) -> None:
                progress.update(task, total=steps, completed=step,
                                description=f"epoch {epoch + 1}/{epochs} loss {loss:.4f}")  # fmt: skip

            yield update

    return bar()


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
