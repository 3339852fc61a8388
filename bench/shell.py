"""Scenario ``shell``: the repos page shell renders at once and never waits on GitHub.

``GET /onboarding/repos/`` for a signed-in member of a connected team, with
the emulator answering every API request after 2 s: the page must not call
GitHub (the list is fetched afterwards by htmx from ``/onboarding/repos/fetch/``).

- **in-process**: Django's test ``Client`` in one process (``bench.djtasks
  shell-timings``: ``force_login``, then the GETs, each timed with
  ``perf_counter`` around ``client.get``): the server's own time, no network,
  no ASGI server; once with the database connection kept (the test Client's
  way) and once with a new connection per request (production's default
  ``CONN_MAX_AGE=0``).
- **over HTTP**: the same GETs to daphne (production mode when Redis
  answers, embedded otherwise), signed in through ``/accounts/login/``, on
  one kept-alive connection (``requests.Session``); the time is the client's
  round trip, so it includes daphne and the loopback.

The emulator's request counter is reset before each series and read after
it: it must stay 0. One ``GET /onboarding/repos/fetch/`` afterwards shows what
a page that waited on GitHub would cost (at least the 2 s latency).
"""

from __future__ import annotations

import time

from bench import servers
from bench.databases import POSTGRES
from bench.report import ScenarioResult, Table, Target
from bench.stats import percentile

FULL = {"requests": 200, "warmup": 10}
QUICK = {"requests": 20, "warmup": 3}
LATENCY_MS = 2000
MAX_MS = 30
EMULATOR = {"repos": 12, "prs": (10, 10), "members": 10}


def _row(path: str, times: list[float], github: int) -> list:
    return [
        path,
        len(times),
        percentile(times, 50),
        percentile(times, 95),
        percentile(times, 99),
        max(times),
        github,
    ]


def run(ctx) -> ScenarioResult:
    size = QUICK if ctx.quick else FULL
    kind = ctx.main_backend
    redis_ok, _ = servers.redis_status()
    result = ScenarioResult("shell", "server time of the repos page shell, with GitHub 2 s away")
    table = Table(
        f"GET /onboarding/repos/ with the emulator at {LATENCY_MS} ms per request",
        ["measured", "requests", "median ms", "p95 ms", "p99 ms", "max ms", "GitHub requests"],
    )
    with ctx.emulator(**EMULATOR) as emulator:
        database_url = ctx.databases.fresh(kind, emulator.url)
        keys = servers.RedisKeys() if redis_ok and kind == POSTGRES else None
        try:
            env = servers.server_env(database_url, emulator.url, ctx.workdir)
            member = servers.djtask(env, "member", "--no-track")
            emulator.set_latency(LATENCY_MS)

            in_process_github = 0
            for fresh, label in ((False, "kept"), (True, "new per request")):
                ctx.log(f"shell: {size['requests']} GETs through the test Client, database connection {label}")
                emulator.reset()
                timings = servers.djtask(
                    env,
                    *("shell-timings", "--count", size["requests"], "--warmup", size["warmup"]),
                    *(("--fresh-connection",) if fresh else ()),
                    timeout=300,
                )
                github = emulator.stats()["total_requests"]
                in_process_github += github
                if timings["statuses"] != [200] or not (timings["has_trigger"] and timings["has_indicator"]):
                    raise servers.ServerError(f"the shell did not render as expected: {timings}")
                table.rows.append(_row(f"in-process, database connection {label}", timings["ms"], github))

            mode = "production (Redis)" if keys else "embedded"
            http_env = servers.server_env(database_url, emulator.url, ctx.workdir, keys)
            daphne = servers.Daphne(http_env, ctx.workdir)
            try:
                daphne.start()
                session = servers.sign_in(daphne.url, member["username"], member["password"])
                ctx.log(f"shell: {size['requests']} GETs over HTTP to daphne ({mode})")
                for _ in range(size["warmup"]):
                    session.get(f"{daphne.url}/onboarding/repos/", timeout=30).raise_for_status()
                emulator.reset()
                times = []
                for _ in range(size["requests"]):
                    started = time.perf_counter()
                    response = session.get(f"{daphne.url}/onboarding/repos/", timeout=30, allow_redirects=False)
                    times.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        raise servers.ServerError(f"GET /onboarding/repos/ answered {response.status_code}")
                http_github = emulator.stats()["total_requests"]
                table.rows.append(_row(f"over HTTP to daphne, {mode}", times, http_github))

                # What waiting on GitHub would cost: the list itself.
                emulator.reset()
                started = time.perf_counter()
                fetched = session.get(f"{daphne.url}/onboarding/repos/fetch/", timeout=120)
                fetch_ms = (time.perf_counter() - started) * 1000
                fetch_github = emulator.stats()["total_requests"]
                listed = fetched.text.count('name="repository"')
            finally:
                daphne.stop()
        finally:
            emulator.set_latency(0)
            if keys is not None:
                keys.cleanup()
            ctx.databases.drop(database_url)
    fetch_row = ["for comparison: GET /onboarding/repos/fetch/ over HTTP", 1, fetch_ms, None, None, None, fetch_github]
    table.rows.append(fetch_row)
    result.tables.append(table)
    kept, in_process, http = table.rows[0], table.rows[1], table.rows[2]
    result.figures = {
        "in_process_connection_kept": {"median": kept[2], "p95": kept[3], "p99": kept[4], "max": kept[5]},
        "in_process": {
            "median": in_process[2],
            "p95": in_process[3],
            "p99": in_process[4],
            "max": in_process[5],
            "github_requests": in_process_github,
            "queries": timings["queries"],
            "bytes": timings["bytes"],
        },
        "http": {
            "median": http[2],
            "p95": http[3],
            "p99": http[4],
            "max": http[5],
            "github_requests": http_github,
            "mode": mode,
        },
        "fetch": {"ms": fetch_ms, "github_requests": fetch_github, "repositories_listed": listed},
        "database": kind,
    }
    result.notes += [
        f"Team `bench` connected to the emulator's organisation (`{emulator.describe()}`), a signed-in member; "
        f"database: {kind}, DEBUG off. {size['warmup']} warm-up requests before each series, not counted.",
        "in-process: `django.test.Client` (`force_login`), time of `client.get` (middleware, session, the view, "
        f"the template): the server's own time. The page makes {timings['queries']} database queries and is "
        f"{timings['bytes']} bytes. The test Client keeps its database connection; the second row closes it "
        "before each request, so each one connects to PostgreSQL first, as every request does under daphne "
        "with the default `CONN_MAX_AGE=0`.",
        f"over HTTP: `requests.Session` to daphne ({mode}), one kept-alive connection; the client's round trip.",
        "GitHub requests: the emulator's count (`/_emulator/stats`) for the whole series. The fetch row is the "
        f"list the shell loads afterwards ({listed} repositories): what a shell that waited on GitHub would cost.",
    ]
    result.targets += [
        Target("shell server time p95 ms, in-process, new connection per request", in_process[3], "<=", MAX_MS),
        Target("shell median ms over HTTP to daphne", http[2], "<=", MAX_MS),
        Target("GitHub requests during the shell requests", in_process_github + http_github, "<=", 0),
    ]
    return result
