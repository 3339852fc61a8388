"""Scenario ``api``: GitHub requests of our sync against a plain REST crawl of the same organisation.

One seeded organisation (the emulator's own review distribution: most pull
requests have 0 to 4 reviews, a few up to 30, one per repository 150). Our
sync (``sync_team --inline`` into a fresh database) and then the REST crawl
of ``bench.rest_crawl`` run against it; each one's requests and GraphQL
points are read from the emulator's stats, reset just before it.
"""

from __future__ import annotations

from bench import rest_crawl
from bench.emulator import ORG, TOKEN
from bench.report import ScenarioResult, Table, Target

FULL = {"repos": 20, "prs": (1000, 1000), "members": 60}
QUICK = {"repos": 2, "prs": (100, 100), "members": 60}
THREADS = 4
MAX_PER_THOUSAND = 25
MIN_RATIO = 80


def _per_thousand(requests, prs):
    return requests * 1000 / prs if prs else None


def run(ctx) -> ScenarioResult:
    size = QUICK if ctx.quick else FULL
    result = ScenarioResult("api", "GitHub requests per 1,000 pull requests: our sync against a REST crawl")
    with ctx.emulator(**size) as emulator:
        ctx.log(f"api: our sync of {emulator.describe()} on {ctx.main_backend}")
        sync, ours = ctx.fresh_sync(emulator, ctx.main_backend, "api-sync")
        ctx.log(f"api: REST crawl of the same organisation with {THREADS} threads")
        emulator.reset()
        crawl = rest_crawl.crawl(emulator.url, TOKEN, ORG, threads=THREADS, refill=emulator.reset_rate_limit)
        theirs = emulator.stats()
        command = f"python -m integrations.emulator {emulator.describe()}"

    ours_total, theirs_total = ours["total_requests"], theirs["total_requests"]
    ours_rest = sum(ours["rest"].values())
    theirs_rest = sum(theirs["rest"].values())
    ratio = theirs_total / ours_total if ours_total else None
    ours_k = _per_thousand(ours_total, sync.prs)
    theirs_k = _per_thousand(theirs_total, crawl.pull_requests)
    table = Table(
        "Requests for the same organisation",
        [
            "client",
            "PRs",
            "reviews",
            "REST requests",
            "GraphQL requests",
            "GraphQL points",
            "total requests",
            "requests per 1000 PRs",
            "hours of 5000/h budget",
            "wall s",
        ],
    )
    ours_points = ours["graphql"]["points"]
    table.rows.append(
        [
            "sync_team (ours)",
            sync.prs,
            sync.reviews,
            ours_rest,
            ours["graphql"]["requests"],
            ours_points,
            ours_total,
            ours_k,
            max(ours_rest, ours_points) / rest_crawl.HOURLY_BUDGET,
            sync.wall,
        ]
    )
    table.rows.append(
        [
            "REST crawl",
            crawl.pull_requests,
            crawl.reviews,
            theirs_rest,
            theirs["graphql"]["requests"],
            theirs["graphql"]["points"],
            theirs_total,
            theirs_k,
            theirs_rest / rest_crawl.HOURLY_BUDGET,
            crawl.seconds,
        ]
    )
    result.tables.append(table)
    result.tables.append(
        Table("Ratio", ["REST crawl requests / our requests"], [[ratio]]),
    )
    breakdown = Table("Where the requests go", ["endpoint", "ours", "REST crawl"])
    templates = sorted(set(ours["rest"]) | set(theirs["rest"]))
    for template in templates:
        breakdown.rows.append([f"REST {template}", ours["rest"].get(template, 0), theirs["rest"].get(template, 0)])
    breakdown.rows.append(["GraphQL /graphql", ours["graphql"]["requests"], theirs["graphql"]["requests"]])
    result.tables.append(breakdown)

    same = sync.prs == crawl.pull_requests and sync.reviews == crawl.reviews
    result.notes += [
        f"Organisation: `{command}` (seed, sizes and the emulator's review distribution), "
        f"{crawl.repositories} repositories; our sync stored into {ctx.main_backend}.",
        "Requests are the emulator's counts (`/_emulator/stats`) for `manage.py sync_team bench --inline` "
        "(repository listing included; `connect_github` excluded) and for the whole REST crawl.",
        f"Same data: {'yes' if same else 'NO'} (ours {sync.prs} PRs / {sync.reviews} reviews, "
        f"REST crawl {crawl.pull_requests} PRs / {crawl.reviews} reviews).",
        f"The REST crawl ran {THREADS} threads and refilled the emulator's 5000/h budget {crawl.refills} times "
        "(on GitHub it would wait for the hourly reset instead); hours of budget = requests / 5000 "
        "(ours: the larger of REST requests and GraphQL points, separate budgets).",
    ]
    result.targets += [
        Target("our requests per 1000 PRs", ours_k, "<=", MAX_PER_THOUSAND),
        Target("REST crawl requests / our requests", ratio, ">=", MIN_RATIO, unit="x"),
    ]
    result.figures = {
        "organisation": command,
        "ours": {
            "prs": sync.prs,
            "reviews": sync.reviews,
            "requests": ours_total,
            "rest_requests": ours_rest,
            "graphql_requests": ours["graphql"]["requests"],
            "graphql_points": ours_points,
            "requests_per_1000_prs": ours_k,
            "client_requests": sync.client_requests,
            "sync_seconds": sync.seconds,
            "stats": ours,
        },
        "rest_crawl": {
            "prs": crawl.pull_requests,
            "reviews": crawl.reviews,
            "requests": theirs_total,
            "requests_per_1000_prs": theirs_k,
            "crawler_requests": crawl.requests,
            "seconds": crawl.seconds,
            "stats": theirs,
        },
        "ratio": ratio,
        "same_data": same,
    }
    return result
