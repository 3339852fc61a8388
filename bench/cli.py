"""``python -m bench [--quick] [scenario ...]``: run the scenarios, print a table each and a summary."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import api, latency, live, machine, memory, recovery, shell, threads, throughput
from bench.context import Context
from bench.databases import Databases
from bench.report import ScenarioResult, render_scenario, render_summary

SCENARIOS = {
    "api": api,
    "latency": latency,
    "throughput": throughput,
    "memory": memory,
    "recovery": recovery,
    "threads": threads,
    "shell": shell,
    "live": live,
}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the sync against the local GitHub emulator (see BENCHMARKS.md).",
    )
    parser.add_argument(
        "scenarios", nargs="*", metavar="scenario", help=f"any of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small data, about a minute: proves the harness runs, not the figures"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure to FILE as JSON")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run every sync under cProfile and keep DIR/NN-label.prof (the figures then include its overhead)",
    )
    parser.add_argument(
        "--pg-url",
        help="PostgreSQL server to create bench_<pid>_* databases on "
        "(default: $BENCH_PG_URL or postgres://postgres@127.0.0.1:5432/postgres)",
    )
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    return args


def _terminate(signum, frame):
    raise KeyboardInterrupt  # unwinds through the finally blocks: emulators stopped, databases dropped


def _load() -> float:
    """The 1-minute load average: on a shared 2-core machine, what else competed for the CPUs."""
    return os.getloadavg()[0]


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = list(dict.fromkeys(args.scenarios)) or list(SCENARIOS)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    databases = Databases(workdir, args.pg_url)
    ctx = Context(
        quick=args.quick,
        workdir=workdir,
        databases=databases,
        profile_dir=args.profile,
    )
    results = []
    mode = "quick (small data: not the recorded figures)" if args.quick else "full"
    print(f"# Benchmarks: {', '.join(names)}, {mode}\n", flush=True)
    info = machine.describe(databases.postgres_status())
    try:
        print(machine.render(info) + "\n", flush=True)
        for name in names:
            ctx.log(f"{name}: starting")
            scenario_started, load_before = time.monotonic(), _load()
            try:
                result = SCENARIOS[name].run(ctx)
            except KeyboardInterrupt:
                raise
            except Exception:  # noqa: BLE001 - report it, go on with the next scenario
                result = ScenarioResult(name, "did not finish", error=traceback.format_exc())
            result.seconds = time.monotonic() - scenario_started
            result.load = (load_before, _load())
            results.append(result)
            print(render_scenario(result) + "\n", flush=True)
    finally:
        databases.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - started
    print(render_summary(results))
    print(f"\nTotal: {total:.0f} s ({mode}).")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "mode": "quick" if args.quick else "full",
                    "machine": info,
                    "seconds": round(total, 1),
                    "scenarios": {r.name: r.as_json() for r in results},
                },
                indent=2,
                default=str,
            )
        )
    return 1 if any(r.error for r in results) else 0
