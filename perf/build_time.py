"""The whole demo pipeline's build time, cold (fresh folder) and cached (same folder again),
each in a fresh `python -m edgec demo` process, so imports and start-up count in both.

    PYTHONPATH=. python perf/build_time.py [--out perf-out] [--markdown FILE]

Acceptance: the cached rebuild takes under 10 % of the cold build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from perf import common

LIMIT = 0.10


def timed_demo(out: Path, extra_args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "edgec", "demo", "--out", str(out), *extra_args]
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def cached_stages(stdout: str) -> tuple[int, int]:
    """(stages reused, stages run) as the demo's log reports them."""
    lines = [line for line in stdout.splitlines() if ": cached (" in line or ": done (" in line]
    return sum(": cached (" in line for line in lines), sum(": done (" in line for line in lines)


def run(work: Path, extra_args: list[str]) -> dict:
    folder = work / "build-time"
    shutil.rmtree(folder, ignore_errors=True)
    cold_s, cold_out = timed_demo(folder, extra_args)
    cached_s, cached_out = timed_demo(folder, extra_args)
    return {
        "machine": common.machine(),
        "cold_s": cold_s,
        "cached_s": cached_s,
        "ratio": cached_s / cold_s,
        "cold_stages": cached_stages(cold_out),
        "cached_stages": cached_stages(cached_out),
        "args": extra_args,
    }


def report(result: dict, markdown: bool = False) -> str:
    head = ["build", "seconds", "stages reused / run", "ratio to cold"]
    body = [
        ["cold (fresh folder)", f"{result['cold_s']:.1f}", "{} / {}".format(*result["cold_stages"]), "1.000"],
        ["cached (same folder)", f"{result['cached_s']:.1f}", "{} / {}".format(*result["cached_stages"]),
         f"{result['ratio']:.3f}"],
    ]  # fmt: skip
    verdict = f"cached / cold = {result['ratio']:.3f} (acceptance < {LIMIT:.2f})"
    return common.render(head, body, markdown) + f"\n\n{verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("perf-out"))
    parser.add_argument("--markdown", type=Path)
    args, extra = parser.parse_known_args(argv)
    result = run(args.out, extra)
    print(common.machine_line(result["machine"]))
    print(report(result))
    common.write_result(args.out, "build_time.json", json.dumps(result, indent=2))
    if args.markdown:
        common.write_result(args.markdown.parent, args.markdown.name, report(result, markdown=True))
    return 0 if result["ratio"] < LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
