"""Scenario ``throughput``: pull requests per second end to end at zero latency, PostgreSQL and SQLite.

Each run syncs the whole organisation (members, then every repository:
GraphQL pages parsed, pull requests and reviews upserted, checkpoints and
heartbeats written) into a fresh database. PRs/s = pull requests written /
the summary's seconds. PostgreSQL is skipped, and said so, when it does not
answer.
"""

from __future__ import annotations

from bench.databases import POSTGRES, SQLITE
from bench.report import ScenarioResult, Table, Target, median

FULL = {"repos": 10, "prs": (1000, 1000), "members": 60}
QUICK = {"repos": 2, "prs": (400, 400), "members": 20}
FULL_RUNS, QUICK_RUNS = 3, 1
MIN_PRS_PER_SECOND = 1000


def run(ctx) -> ScenarioResult:
    size = QUICK if ctx.quick else FULL
    runs = QUICK_RUNS if ctx.quick else FULL_RUNS
    result = ScenarioResult("throughput", "pull requests per second at zero latency")
    table = Table(
        f"Fresh syncs at 0 ms, median of {runs}",
        [
            "database",
            "PRs",
            "reviews",
            "requests",
            "sync s",
            "PRs per s",
            "reviews per s",
            "command wall s",
            "worker CPU s",
            "emulator CPU s",
            "PRs per s of each run",
        ],
    )
    available, why = ctx.postgres
    backends = [POSTGRES, SQLITE] if available else [SQLITE]
    with ctx.emulator(**size) as emulator:
        command = f"python -m integrations.emulator {emulator.describe()}"
        for kind in backends:
            samples = []
            for n in range(runs):
                ctx.log(f"throughput: {kind}, run {n + 1} of {runs}")
                sync, stats = ctx.fresh_sync(emulator, kind, f"throughput-{kind}-{n + 1}")
                samples.append(
                    {
                        "prs": sync.prs,
                        "reviews": sync.reviews,
                        "requests": stats["total_requests"],
                        "seconds": sync.seconds,
                        "prs_per_s": sync.prs / sync.seconds if sync.seconds else None,
                        "reviews_per_s": sync.reviews / sync.seconds if sync.seconds else None,
                        "wall": sync.wall,
                        "cpu": sync.cpu_s,
                        "emulator_cpu": stats.get("emulator_cpu_s"),
                    }
                )
            row = {key: median([s[key] for s in samples]) for key in samples[0]}
            table.rows.append(
                [
                    kind,
                    int(row["prs"]),
                    int(row["reviews"]),
                    int(row["requests"]),
                    row["seconds"],
                    row["prs_per_s"],
                    row["reviews_per_s"],
                    row["wall"],
                    row["cpu"],
                    row["emulator_cpu"],
                    " / ".join(f"{s['prs_per_s']:.0f}" for s in samples),
                ]
            )
            result.figures[kind] = {"median": row, "runs": samples}
    result.tables.append(table)
    result.notes += [
        f"Organisation: `{command}`, emulator latency 0 ms; every run into a fresh database "
        f"(SQLite: a file in the harness's temporary directory).",
        "PRs per s = pull requests written / sync s (the duration in the summary line, members included). "
        "command wall s: the whole `sync_team` process (Python and Django start-up, repository listing, run).",
        "worker CPU s and emulator CPU s: user + system CPU of each process; they share the machine's cores.",
    ]
    if not available:
        result.notes.append(f"PostgreSQL skipped: it does not answer ({why}).")
        result.figures["postgresql_skipped"] = why
    result.targets.append(
        Target(
            "PRs per s on PostgreSQL",
            result.figures.get(POSTGRES, {}).get("median", {}).get("prs_per_s"),
            ">=",
            MIN_PRS_PER_SECOND,
            skipped="" if available else "PostgreSQL does not answer",
        )
    )
    result.targets.append(
        Target("PRs per s on SQLite", result.figures[SQLITE]["median"]["prs_per_s"], ">=", MIN_PRS_PER_SECOND)
    )
    return result
