"""Scenario ``memory``: the worker's peak RSS syncing ONE repository of growing size.

Each size gets its own emulator (``--repos 1 --prs N..N``) and a fresh
database; ``sync_team`` runs inside a fresh ``bench.maxrss`` wrapper, which
reports the command's ``ru_maxrss`` (``getrusage(RUSAGE_CHILDREN)``). A
repository of 0 pull requests gives the baseline: what Python, Django and
the product's imports cost before any data.
"""

from __future__ import annotations

from bench.report import ScenarioResult, Table, Target

FULL_SIZES, QUICK_SIZES = (0, 5000, 20000, 50000), (0, 500, 2000)
MEMBERS = 60
MAX_PEAK_MB = 200
MAX_GROWTH_PERCENT = 10


def run(ctx) -> ScenarioResult:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    kind = ctx.main_backend
    result = ScenarioResult("memory", "worker peak RSS syncing one repository")
    table = Table(
        "Peak RSS of `sync_team bench --inline`",
        ["PRs", "reviews", "requests", "peak RSS MB", "above baseline MB", "sync s", "worker CPU s"],
    )
    peaks = {}
    baseline = None
    for size in sizes:
        with ctx.emulator(repos=1, prs=(size, size), members=MEMBERS) as emulator:
            ctx.log(f"memory: one repository of {size} pull requests on {kind}")
            sync, stats = ctx.fresh_sync(emulator, kind, f"memory-{size}")
        peak = sync.maxrss_mb
        baseline = peak if size == 0 else baseline
        peaks[size] = peak
        table.rows.append(
            [
                size,
                sync.reviews,
                stats["total_requests"],
                peak,
                peak - baseline if baseline is not None else None,
                sync.seconds,
                sync.cpu_s,
            ]
        )
        result.figures[str(size)] = {
            "prs": sync.prs,
            "reviews": sync.reviews,
            "requests": stats["total_requests"],
            "maxrss_kb": sync.maxrss_kb,
            "seconds": sync.seconds,
            "cpu_s": sync.cpu_s,
        }
    measured = [s for s in sizes if s]
    smallest, largest = measured[0], measured[-1]
    growth = peaks[largest] - peaks[smallest]
    growth_percent = growth * 100 / peaks[smallest]
    result.tables.append(table)
    result.tables.append(
        Table(
            f"Growth from {smallest} to {largest} PRs",
            ["MB", "percent"],
            [[growth, growth_percent]],
        )
    )
    result.figures["growth_mb"] = growth
    result.figures["growth_percent"] = growth_percent
    result.notes += [
        f"Each size: `python -m integrations.emulator --repos 1 --prs N..N --members {MEMBERS}` (seed 1), "
        f"synced into a fresh {kind} database.",
        "peak RSS MB: `ru_maxrss` of the `sync_team` process (MiB), read by `python -m bench.maxrss` "
        "(a fresh wrapper per measurement); the 0-PR row is the baseline (interpreter, Django, imports).",
        f"Flat means the peak grows by at most {MAX_GROWTH_PERCENT}% from {smallest} to {largest} PRs "
        "(the smallest and largest repositories; the 0-PR baseline is not one).",
    ]
    result.targets += [
        Target(f"peak RSS MB at {largest} PRs", peaks[largest], "<=", MAX_PEAK_MB),
        Target(f"peak RSS growth {smallest} to {largest} PRs, percent", growth_percent, "<=", MAX_GROWTH_PERCENT),
    ]
    return result
