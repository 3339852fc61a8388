"""Scenario ``latency``: how much the sync adds to GitHub's own latency.

A fixed organisation is synced into a fresh database at several emulator
latencies (``POST /_emulator/config``). The floor of a run is what its
requests cost in latency alone, one after the other: requests x latency.
The ratio is the run's duration (the summary's seconds) over that floor;
1.00 would mean the sync costs nothing but the wait for GitHub. The
emulator's latency is GitHub's time to answer, its own work included, so the
floor is exactly what the requests cost in waiting.

The requests of a run are the emulator's count for the command minus the
repository listing (``/orgs/{org}/repos``), which ``sync_team`` does before
the run starts and which the summary's seconds therefore do not cover.
"""

from __future__ import annotations

from bench.report import ScenarioResult, Table, Target, median

FULL = {"repos": 4, "prs": (500, 500), "members": 60}
QUICK = {"repos": 1, "prs": (200, 200), "members": 20}
FULL_LATENCIES, QUICK_LATENCIES = (0, 50, 100, 200), (0, 100)
FULL_RUNS, QUICK_RUNS = 3, 1
TARGET_LATENCY, MAX_RATIO = 100, 1.15
REPO_LISTING = "/orgs/{org}/repos"


def run(ctx) -> ScenarioResult:
    size = QUICK if ctx.quick else FULL
    latencies = QUICK_LATENCIES if ctx.quick else FULL_LATENCIES
    runs = QUICK_RUNS if ctx.quick else FULL_RUNS
    kind = ctx.main_backend
    result = ScenarioResult("latency", "sync duration against the latency floor (requests x latency)")
    table = Table(
        f"Fresh syncs, median of {runs}",
        [
            "latency ms",
            "requests in run",
            "floor s",
            "sync s",
            "ratio",
            "own ms per request",
            "worker CPU s",
            "emulator CPU s",
            "sync s of each run",
        ],
    )
    ratio_at_target = None
    with ctx.emulator(**size) as emulator:
        command = f"python -m integrations.emulator {emulator.describe()}"
        ctx.databases.prepare(kind, emulator.url)  # the template's connect_github, without latency
        for latency in latencies:
            samples = []
            for n in range(runs):
                ctx.log(f"latency: {latency} ms, run {n + 1} of {runs}")
                emulator.set_latency(latency)
                sync, stats = ctx.fresh_sync(emulator, kind, f"latency-{latency}ms-{n + 1}")
                requests = stats["total_requests"] - stats["rest"].get(REPO_LISTING, 0)
                floor = requests * latency / 1000
                samples.append(
                    {
                        "requests": requests,
                        "client_requests": sync.client_requests,
                        "floor": floor,
                        "seconds": sync.seconds,
                        "ratio": sync.seconds / floor if floor else None,
                        "own_ms": (sync.seconds - floor) * 1000 / requests if requests else None,
                        "cpu": sync.cpu_s,
                        "emulator_cpu": stats.get("emulator_cpu_s"),
                    }
                )
            row = {key: median([s[key] for s in samples]) for key in samples[0]}
            table.rows.append(
                [
                    latency,
                    int(row["requests"]),
                    row["floor"],
                    row["seconds"],
                    row["ratio"],
                    row["own_ms"],
                    row["cpu"],
                    row["emulator_cpu"],
                    " / ".join(f"{s['seconds']:.2f}" for s in samples),
                ]
            )
            result.figures[f"{latency}ms"] = {"median": row, "runs": samples}
            if latency == TARGET_LATENCY:
                ratio_at_target = row["ratio"]
            if any(s["requests"] != s["client_requests"] for s in samples):
                result.notes.append(
                    f"At {latency} ms the emulator counted a different number of requests in the run than the "
                    "client reported; the floor uses the emulator's."
                )
    result.tables.append(table)
    result.notes += [
        f"Organisation: `{command}`, synced into a fresh {kind} database for every run; "
        "`sync s` is the duration in the command's summary line (`run N: succeeded in S s`).",
        "ratio = sync s / floor s; own ms per request = (sync s - floor s) / requests: what the worker "
        "adds to each request beyond GitHub's time to answer. The emulator's latency is that time to answer: "
        "each answer leaves `latency` ms after its request arrived, the emulator's own work included "
        "(at 0 ms, that work alone: about 11 ms per 100-PR page).",
        "worker CPU s: user + system CPU of the whole `sync_team` process, Python and Django start-up "
        "included; emulator CPU s: the emulator process's CPU during the command.",
    ]
    if TARGET_LATENCY in latencies:
        result.targets.append(Target(f"sync s / floor s at {TARGET_LATENCY} ms", ratio_at_target, "<=", MAX_RATIO))
    return result
