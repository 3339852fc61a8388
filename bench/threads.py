"""Scenario ``threads``: pull requests per second with 1, 2 and 4 worker threads over many repositories.

Production mode: ``manage.py rundramatiq --processes 1 --threads T`` over
Redis (a namespace of the harness) against a fresh PostgreSQL database per
measurement. Once the worker beats in the broker, ``bench.djtasks
start-runs`` tracks the organisation's repositories and calls ``start_sync``
once per repository (one run each, members not included, as
``sync_repo --queue`` does), so up to T runs go at once. The harness polls
the database until every run has an outcome.

PRs/s = pull requests in the database / (last ``finished_at`` - first
``started_at``): the worker's busy span, from the first run it picked up to
the last it finished. Speed-up = PRs/s with T threads / PRs/s with 1.
At 0 ms (as the throughput scenario) threads can only overlap the database
and GitHub round trips of one run with the Python work of another, on a
2-core machine shared with PostgreSQL and the emulator; at 50 ms per request
they also overlap GitHub's latency.
"""

from __future__ import annotations

import time

from bench import servers
from bench.databases import POSTGRES
from bench.report import ScenarioResult, Table, Target, median

FULL = {"repos": 16, "prs": (500, 500), "threads": (1, 2, 4), "runs": 3, "latencies": (0, 50)}
QUICK = {"repos": 4, "prs": (100, 100), "threads": (1, 4), "runs": 1, "latencies": (0,)}
MEMBERS = 20
MIN_PRS_PER_SECOND = 1000  # the throughput scenario's target, here for every thread count at 0 ms


def _one(ctx, emulator, threads: int, label: str) -> dict:
    database_url = ctx.databases.fresh(POSTGRES, emulator.url)
    keys = servers.RedisKeys()
    try:
        env = servers.server_env(database_url, emulator.url, ctx.workdir, keys)
        worker = servers.Worker(env, ctx.workdir, processes=1, threads=threads)
        with worker:
            worker.wait_ready(keys)
            emulator.reset()
            cpu_before, machine = worker.tree_cpu_seconds(), servers.MachineCpu()
            started = servers.djtask(env, "start-runs", "--track")
            runs = started["runs"]
            deadline = time.monotonic() + 1800
            while True:
                rows = servers.pg_rows(
                    database_url,
                    "SELECT count(*) FILTER (WHERE outcome <> ''), count(*) FILTER (WHERE outcome = 'succeeded') "
                    "FROM integrations_syncrun WHERE id = ANY(%s)",
                    (runs,),
                )
                done, succeeded = rows[0]
                if done == len(runs):
                    break
                if not worker.alive():
                    raise servers.ServerError(f"rundramatiq exited:\n{worker.log()}")
                if time.monotonic() > deadline:
                    raise servers.ServerError(f"{label}: {len(runs) - done} runs unfinished after 30 min")
                time.sleep(0.2)
            stats = emulator.stats()
            cpu_after, machine_cpu = worker.tree_cpu_seconds(), machine.percent()
        if succeeded != len(runs):
            raise servers.ServerError(f"{label}: {len(runs) - succeeded} runs did not succeed:\n{worker.log()}")
        span, created, prs, reviews = servers.pg_rows(
            database_url,
            "SELECT extract(epoch FROM max(finished_at) - min(started_at)), "
            "extract(epoch FROM max(finished_at) - min(created_at)), "
            "(SELECT count(*) FROM integrations_pullrequest), (SELECT count(*) FROM integrations_pullrequestreview) "
            "FROM integrations_syncrun WHERE id = ANY(%s)",
            (runs,),
        )[0]
        span, created = float(span), float(created)
        return {
            "threads": threads,
            "runs": len(runs),
            "prs": prs,
            "reviews": reviews,
            "span_s": span,
            "created_to_finished_s": created,
            "prs_per_s": prs / span if span else None,
            "requests": stats["total_requests"],
            "enqueue_s": started["enqueue_s"],
            "worker_cpu_s": None if None in (cpu_before, cpu_after) else cpu_after - cpu_before,
            "machine_cpu_percent": machine_cpu,
        }
    finally:
        keys.cleanup()
        ctx.databases.drop(database_url)


def run(ctx) -> ScenarioResult:
    size = QUICK if ctx.quick else FULL
    result = ScenarioResult("threads", "PRs per second with 1, 2 and 4 worker threads over many repositories")
    available, why = ctx.postgres
    redis_ok, redis_why = servers.redis_status()
    if not (available and redis_ok):
        missing = why if not available else f"Redis at {servers.redis_url()}: {redis_why}"
        result.notes.append(f"Skipped: rundramatiq needs PostgreSQL and Redis ({missing}).")
        result.targets.append(
            Target("PRs per s at 0 ms, the lowest of 1, 2, 4 threads", None, ">=", MIN_PRS_PER_SECOND, skipped=missing)
        )
        return result
    table = Table(
        f"{size['repos']} runs of one repository each, median of {size['runs']}",
        [
            "latency ms",
            "threads",
            "PRs",
            "requests",
            "busy s",
            "PRs per s",
            "speed-up",
            "queued to done s",
            "worker CPU s",
            "machine CPU %",
            "PRs per s of each run",
        ],
    )
    with ctx.emulator(repos=size["repos"], prs=size["prs"], members=MEMBERS) as emulator:
        command = f"python -m integrations.emulator {emulator.describe()}"
        ctx.databases.prepare(POSTGRES, emulator.url)
        for latency in size["latencies"]:
            emulator.set_latency(latency)
            baseline = None
            for threads in size["threads"]:
                samples = []
                for n in range(size["runs"]):
                    label = f"threads: {latency} ms, {threads} threads, run {n + 1} of {size['runs']}"
                    ctx.log(label)
                    samples.append(_one(ctx, emulator, threads, label))
                row = {key: median([s[key] for s in samples]) for key in ("prs", "requests", "span_s", "prs_per_s")}
                row["created_to_finished_s"] = median([s["created_to_finished_s"] for s in samples])
                row["worker_cpu_s"] = median([s["worker_cpu_s"] for s in samples])
                row["machine_cpu_percent"] = median([s["machine_cpu_percent"] for s in samples])
                baseline = row["prs_per_s"] if threads == 1 else baseline
                speedup = row["prs_per_s"] / baseline if baseline else None
                table.rows.append(
                    [
                        latency,
                        threads,
                        int(row["prs"]),
                        int(row["requests"]),
                        row["span_s"],
                        row["prs_per_s"],
                        speedup,
                        row["created_to_finished_s"],
                        row["worker_cpu_s"],
                        row["machine_cpu_percent"],
                        " / ".join(f"{s['prs_per_s']:.0f}" for s in samples),
                    ]
                )
                result.figures[f"{latency}ms/{threads}"] = {"median": row, "speedup": speedup, "runs": samples}
        emulator.set_latency(0)
    result.tables.append(table)
    result.notes += [
        f"Organisation: `{command}`; every measurement on a fresh PostgreSQL database and its own Redis "
        "namespace, `rundramatiq --processes 1 --threads T` started and beating before the runs are queued.",
        f"{size['repos']} runs (`start_sync` per repository, members not included), queued in one go. "
        "busy s = last `finished_at` - first `started_at`; PRs per s = pull requests stored / busy s; "
        "speed-up = PRs per s / the 1-thread PRs per s at the same latency; queued to done s = last "
        "`finished_at` - first `created_at` (includes the queueing of the runs, about 1 s).",
        "requests: the emulator's count for the whole measurement (repository listing for tracking included). "
        "worker CPU s: user + system CPU of `rundramatiq` and its worker process from just before the runs are "
        "queued until the last one finished (one process: its threads share one interpreter lock); machine CPU % "
        "= busy share of both cores over the same time (the worker, PostgreSQL, the emulator, Redis; the harness "
        "polls the database every 0.2 s and starts the `start-runs` process, about 1.5 s of CPU).",
    ]
    at_zero = [result.figures[f"0ms/{t}"]["median"]["prs_per_s"] for t in size["threads"]]
    result.targets.append(
        Target(
            f"PRs per s at 0 ms, the lowest of {', '.join(map(str, size['threads']))} threads",
            min(at_zero),
            ">=",
            MIN_PRS_PER_SECOND,
        )
    )
    return result
