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
# Piped output (CI logs, `| tee`) gets a fixed width so tables are not squeezed into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

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
def demo(
    out: OutOption = Path("edgec-out"),
    teacher_epochs: Annotated[int, typer.Option(min=1, help="Teacher training epochs.")] = 10,
    student_epochs: Annotated[int, typer.Option(min=1, help="Student distillation epochs.")] = 20,
    bench_seconds: Annotated[float, typer.Option(min=0.0, help="Minimum timed seconds per engine and process.")] = 0.5,
) -> None:
    """Run the embedded default end to end (digits teacher -> student -> INT8 -> two host targets)."""
    from edgec.config import BenchmarkConfig
    from edgec.demo import DemoSettings, run_demo
    from edgec.report import demo_table

    settings = DemoSettings(
        teacher_epochs=teacher_epochs,
        student_epochs=student_epochs,
        benchmark=BenchmarkConfig(min_seconds=bench_seconds),
    )
    result = run_demo(out, settings, log=_log, track=_track)
    console.print(demo_table(result))
    console.print(f"Bundles in [bold]{out}[/bold]: " + ", ".join(b.target for b in result.bundles))


@app.command()
def build(
    config: Annotated[Optional[Path], typer.Argument(help="edgec.yaml (or give --model)")] = None,
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Build only these targets.")] = None,
    out: OutOption = Path("edgec-out"),
    model: Annotated[Optional[Path], typer.Option("--model", help="Bring your own ONNX (instead of CONFIG).")] = None,
    calibration: Annotated[
        Optional[Path], typer.Option("--calibration", help="With --model: .npz, one array per graph input.")
    ] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="With --model: fp32, fp16 or int8.")] = None,
    parity_data: Annotated[
        Optional[Path],
        typer.Option("--parity-data", help="With --model: .npz for the parity check (default: calibration)."),
    ] = None,
    no_bench: Annotated[bool, typer.Option("--no-bench", help="Skip the benchmark stage.")] = False,
) -> None:
    """Build one bundle per target from CONFIG, or from --model FILE.onnx (stages already done are reused)."""
    from edgec.errors import EdgecError
    from edgec.report import build_table

    if model is not None:
        from edgec.compile.export_build import build_onnx, byo_config

        if config is not None:
            raise EdgecError("give either CONFIG or --model FILE.onnx, not both")
        loaded = _maybe_without_bench(byo_config(model, calibration, target or [], precision), no_bench)
        results = build_onnx(loaded, out, parity_data=parity_data, log=_log)
    else:
        from edgec.config import load_config
        from edgec.pipeline import build as run_build

        if config is None:
            raise EdgecError("give CONFIG (edgec.yaml) or --model FILE.onnx --target NAME")
        if calibration or precision or parity_data:
            raise EdgecError("--calibration, --precision and --parity-data go with --model; CONFIG sets them itself")
        results = run_build(_maybe_without_bench(load_config(config), no_bench), out, only=target, log=_log)
    console.print(build_table(results))


def _maybe_without_bench(config, no_bench: bool):
    if not no_bench:
        return config
    return config.model_copy(update={"benchmark": config.benchmark.model_copy(update={"enabled": False})})


@app.command()
def export(config: Annotated[Path, typer.Argument(help="edgec.yaml with an 'export:' section")],
           out: OutOption = Path("edgec-out")) -> None:  # fmt: skip
    """Export the config's PyTorch / Hugging Face model to a checked ONNX graph in OUT/export/."""
    from edgec.artifacts import read_json
    from edgec.compile.export_build import export_command
    from edgec.compile.summary import export_tables
    from edgec.config import load_config

    folder = export_command(load_config(config), out, log=_log)
    for table in export_tables(read_json(folder / "export_report.json")):
        console.print(table)


@app.command()
def inspect(
    model: Annotated[Path, typer.Argument(help="an ONNX file")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarize MODEL.onnx: operators, parameters, FLOPs estimate, inputs and outputs."""
    import json

    from edgec.compile.summary import summarize, summary_table

    info = summarize(model)
    if json_out:
        print(json.dumps(info, indent=2))
    else:
        console.print(summary_table(model.name, info))


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
        Optional[float], typer.Option("--min-seconds", min=0, help="For at least this long per process (default 0.5).")
    ] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="Threads the engine may use.")] = None,
    repeats: Annotated[
        Optional[int],
        typer.Option("--repeats", min=1, max=20, help="Fresh processes per target, samples pooled (default 5)."),
    ] = None,
    cpus: Annotated[Optional[str], typer.Option("--cpus", help="Pin the agent to these CPU ids, e.g. 2,3.")] = None,
    drift_pct: Annotated[
        Optional[float],
        typer.Option(
            "--drift-pct", min=0, max=100, help="Run-to-run drift allowance in the intervals, +/- % (default 2)."
        ),
    ] = None,
) -> None:
    """Measure a bundle here or on a device; print a table and write the requested reports."""
    from edgec.benchmarks.bench import bench as run_bench
    from edgec.benchmarks.bench import write_reports
    from edgec.config import BenchmarkConfig
    from edgec.report import bench_table

    overrides = {"min_runs": min_runs, "min_seconds": min_seconds, "threads": threads, "repeats": repeats,
                 "cpus": _cpu_list(cpus), "drift_pct": drift_pct}  # fmt: skip
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
def quantize(
    config: Annotated[Path, typer.Argument(help="edgec.yaml")],
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Only these targets' recipes.")] = None,
    out: OutOption = Path("edgec-out"),
) -> None:
    """Calibrate and quantize CONFIG's model for its targets; print the quality table."""
    from edgec.compile.quantize_command import quantize as run_quantize
    from edgec.config import load_config
    from edgec.report import quantize_table

    results = run_quantize(load_config(config), out, only=target, log=_log)
    console.print(quantize_table(results))


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
    from edgec.targets.plan import plan_targets

    plans = plan_targets(load_config(config))  # every profile known and every precision supported
    console.print(f"{config}: valid ({len(plans)} target(s): {', '.join(p.describe() for p in plans)})")


@app.command("run")
def run_bundle(
    bundle: Annotated[Path, typer.Argument(help="a bundle folder (edgec-out/TARGET)")],
    input: Annotated[Path, typer.Option("--input", "-i", help=".npz with one array per input name")],
) -> None:
    """Run a bundle once through the app runtime (hashes checked first) and print its outputs' shapes."""
    from edgec.runtime import run_bundle as run

    outputs = run(bundle, input)
    table = Table("output", "dtype", "shape")
    for name, value in outputs.items():
        table.add_row(name, str(value.dtype), "x".join(map(str, value.shape)))
    console.print(table)


ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="edgec.yaml whose own profiles are listed too")
]


def _known_profiles(config: Optional[Path]) -> dict:
    from edgec.config import load_config
    from edgec.targets.profiles import shipped_profiles, user_profiles

    profiles = dict(shipped_profiles())
    if config is not None:
        profiles.update(user_profiles(load_config(config)))
    return profiles


@targets_app.callback(invoke_without_command=True)
def targets_default(ctx: typer.Context) -> None:
    """List the shipped device profiles (same as `edgec targets list`)."""
    if ctx.invoked_subcommand is None:
        targets_list(None)


@targets_app.command("list")
def targets_list(config: ConfigOption = None) -> None:
    """One line per device profile: the shipped ones, plus CONFIG's own with --config."""
    from rich import box

    profiles = _known_profiles(config)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    # Names are what users type: never cut, whatever the terminal width.
    table.add_column("name", no_wrap=True, min_width=max(len(n) for n in profiles))
    for column, width in (("backend", 11), ("precisions", 16), ("hardware", 12), ("status", 8)):
        table.add_column(column, no_wrap=True, min_width=width)
    wide = console.width >= 140  # descriptions only where they fit; `targets show NAME` has them all
    if wide:
        table.add_column("description", overflow="fold")
    for profile in profiles.values():
        precisions = ", ".join(p if p != profile.default_precision else f"[bold]{p}[/bold]" for p in profile.precisions)
        hw = profile.hardware
        arch = hw.cpu_arch + (f" sm{hw.compute_capability}" if hw.compute_capability else "")
        backend = profile.backend + (f" {profile.tensorrt.major_version}" if profile.tensorrt else "")
        row = [profile.name, backend, precisions, arch, profile.status]
        table.add_row(*row, *([escape(profile.description)] if wide else []))
    console.print(table)


@targets_app.command("show")
def targets_show(
    name: Annotated[str, typer.Argument(help="profile name, or a profile .yaml file to check and show")],
    config: ConfigOption = None,
) -> None:
    """Every setting of one device profile, as YAML (a file is validated first: exit 2 on a typo)."""
    import yaml

    from edgec.targets.profiles import get_profile, load_profile_file, looks_like_file

    profile = load_profile_file(name) if looks_like_file(name) else get_profile(name, _known_profiles(config))
    text = yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False, width=1000).rstrip()
    console.print(escape(text), highlight=False, soft_wrap=True)
    console.print(f"[dim]profile sha256: {profile.sha256}[/dim]")


@app.command()
def gate(
    current: Annotated[Path, typer.Option("--current", help="benchmark.json, bundle or output folder of this build.")],
    baseline: Annotated[
        Optional[Path],
        typer.Option("--baseline", help="benchmark.json, bundle, output folder or stored baseline to compare with."),
    ] = None,
    baseline_branch: Annotated[
        Optional[str],
        typer.Option("--baseline-branch", help="Compare with this branch's stored baseline (see --store)."),
    ] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="edgec.yaml with a gates: section.")] = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Write JUnit XML here.")] = None,
    summary: Annotated[
        Optional[Path], typer.Option("--summary", help="Append a Markdown table here (e.g. $GITHUB_STEP_SUMMARY).")
    ] = None,
    allow_different_env: Annotated[
        bool, typer.Option("--allow-different-env", help="Compare latency even across machines or backend versions.")
    ] = False,
    save_baseline: Annotated[
        bool, typer.Option("--save-baseline", help="Store --current as --branch's baseline instead of gating.")
    ] = False,
    branch: Annotated[Optional[str], typer.Option("--branch", help="Branch name for --save-baseline.")] = None,
    store: Annotated[Path, typer.Option("--store", help="Folder of stored baselines.")] = Path(".edgec-baselines"),
    remeasure: Annotated[
        int,
        typer.Option(
            "--remeasure", min=0, help="Re-measure both bundles here, interleaved in this many rounds (0: off)."
        ),
    ] = 0,
) -> None:
    """Check the current build against budgets and a baseline. Exit 0 pass, 1 fail, 2 bad input."""
    from edgec.benchmarks import baseline as baselines
    from edgec.benchmarks import gate as gating
    from edgec.benchmarks import junit as ci_outputs
    from edgec.benchmarks.gate_inputs import load_gates

    if save_baseline:
        if branch is None:
            raise EdgecError("--save-baseline needs --branch NAME")
        folder = baselines.save_baseline(current, branch, store)
        console.print(f"baseline for branch '{branch}' stored in {folder}")
        return
    if baseline is not None and baseline_branch is not None:
        raise EdgecError("give either --baseline or --baseline-branch, not both")
    if baseline_branch is not None:
        baseline = baselines.stored_baseline(store, baseline_branch)
    result = gating.run_gate(
        baseline, current, load_gates(config), allow_different_env=allow_different_env, remeasure_rounds=remeasure
    )
    if junit is not None:
        ci_outputs.write_junit(junit, result)
    if summary is not None:
        ci_outputs.append_summary(summary, result)
    table = Table("target", "check", "baseline", "current", "threshold", "verdict")
    for c in result.checks:
        table.add_row(c.target, c.label, c.baseline, c.current, c.threshold, ci_outputs.VERDICT_MARK[c.verdict])
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    gating.raise_if_failed(result)
    console.print(f"gate passed ({len(result.checks)} checks)")


@app.command()
def verify(
    report: Annotated[Path, typer.Argument(help="benchmark.json to check")],
    bundle: Annotated[
        Optional[Path], typer.Option("--bundle", help="Bundle folder (default: the report's folder).")
    ] = None,
    rerun: Annotated[bool, typer.Option("--rerun/--no-rerun", help="Measure the engine again on this machine.")] = True,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Run-to-run drift allowed beyond the CIs: a factor 1 + TOLERANCE.")
    ] = 0.5,
    inputs: Annotated[
        Optional[Path],
        typer.Option("--inputs", help=".npz inputs for the re-run (default: random of the manifest's shapes)."),
    ] = None,
) -> None:
    """Check a report: file hashes, summary vs samples, and a re-run. Exit 1 if anything differs."""
    from edgec.benchmarks import verify as verifying

    result = verifying.verify_report(report, bundle, rerun_measurement=rerun, tolerance=tolerance, inputs=inputs)
    for finding in result.findings:
        mark = "[green]ok[/green]" if finding.ok else "[bold red]FAIL[/bold red]"
        console.print(f"{mark} {finding.check}: {escape(finding.detail)}", highlight=False)
    verifying.raise_if_failed(result)
    console.print(f"{report}: verified")


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
