"""Scenario ``recovery``: a worker dies mid-sync; how soon the page says so, and how soon the run completes.

Production mode with the product's own processes: a private ``redis-server``
on a free port, daphne, ``manage.py rundramatiq`` workers (the Procfile's
``worker`` line with ``--processes 1 --threads 2``), ``manage.py sync_watcher``
where recovery is measured, a fresh PostgreSQL database of the harness and the
emulator in its own process. A sync is queued with ``manage.py sync_team
bench``; the page is a websocket client on ``/ws/sync/<run>/`` signed in as a
member of the team (``harness.progress_page``). A worker is SIGKILLed, its whole
process tree at once, once the page shows the first page of pull requests
stored. The settings are the defaults scaled down (stall 45 s, heartbeat 5 s,
watch 2 s become 10 s, 1 s, 2 s).

1. death to the page showing "stalled", no watcher (the page's own
   server-side re-derivation); target: at most ``SYNC_STALL_SECONDS`` + 5 s.
2. death to a completed run with automatic recovery: the watcher and a second,
   live worker.
3. the same death without the watcher: Dramatiq's Redis broker hands the dead
   worker's message to the live worker only once the dead worker's heartbeat
   is older than ``heartbeat_timeout`` and a dispatch command happens to run
   the maintenance pass (``maintenance_chance`` per million commands). The
   product passes only ``url`` and ``namespace`` to ``RedisBroker``, so the
   defaults hold: 60,000 ms and 1,000 per million. The rate of dispatch
   commands (EVALSHA on the private Redis) gives the expected wait.

``--quick`` skips the scenario: its point is minutes of waiting.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import redis

from bench import app
from bench.databases import POSTGRES
from bench.emulator import ROOT
from bench.report import ScenarioResult, Table, Target, median
from harness.http_client import Browser
from harness.processes import Background, Daphne, RedisServer
from harness.progress_page import ProgressPage, StatusPoller

SETTINGS = {
    "SYNC_STALL_SECONDS": "10",
    "SYNC_HEARTBEAT_SECONDS": "1",
    "SYNC_WATCH_SECONDS": "2",
    "SYNC_PROGRESS_INTERVAL_SECONDS": "1",
}
STALL = float(SETTINGS["SYNC_STALL_SECONDS"])
SIZE = {"repos": 2, "prs": (400, 400), "members": 20}
LATENCY_MS = 300
STALL_RUNS, RECOVERY_RUNS = 3, 3
REDELIVERY_CAP_S = 20 * 60
# Dramatiq's RedisBroker defaults (dramatiq/brokers/redis.py), which the product keeps.
HEARTBEAT_TIMEOUT_S, MAINTENANCE_PER_MILLION = 60.0, 1000
QUEUES_SNIPPET = """
import dramatiq, django_dramatiq.tasks, integrations.tasks
broker = dramatiq.get_broker()
print(len(broker.get_declared_queues()) + len(broker.get_declared_delay_queues()))
"""
SESSION_SNIPPET = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from integrations.models import Team
user, _ = get_user_model().objects.get_or_create(username="bench-viewer")
Team.objects.get(slug="bench").members.add(user)
session = SessionStore()
session.update({SESSION_KEY: str(user.pk), HASH_SESSION_KEY: user.get_session_auth_hash(),
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend"})
session.create()
print(session.session_key)
"""


def run(ctx) -> ScenarioResult:
    result = ScenarioResult("recovery", "a worker killed mid-sync: the page saying so, and the run completing")
    if ctx.quick:
        table = Table("Not measured", ["measurement", "status"])
        for name in ("death to stalled on the page", "death to completed, automatic recovery", "Dramatiq redelivery"):
            table.rows.append([name, "skipped under --quick (minutes of waiting on purpose)"])
        result.tables.append(table)
        return result
    missing = _missing(ctx)
    if missing:
        result.targets.append(Target("death to stalled on the page (max)", None, "<=", STALL + 5, "s", missing))
        return result
    with ctx.emulator(**SIZE, latency_ms=LATENCY_MS) as emulator, Rig(ctx, emulator) as rig:
        command = f"python -m integrations.emulator {emulator.describe()} --latency-ms {LATENCY_MS}"
        stalls = [rig.death_to_stalled(n) for n in range(STALL_RUNS)]
        recoveries = [rig.death_to_recovered(n) for n in range(RECOVERY_RUNS)]
        redelivery = rig.death_to_redelivered()
    _report(result, stalls, recoveries, redelivery, command)
    return result


def _missing(ctx):
    if not ctx.postgres[0]:
        return f"needs PostgreSQL ({ctx.postgres[1]})"
    if shutil.which("redis-server") is None:
        return "needs redis-server on the PATH"
    return ""


class Rig:
    """The processes on one database and one private Redis; workers and watchers come and go per measurement."""

    def __init__(self, ctx, emulator):
        self.ctx = ctx
        self.workdir = ctx.workdir / "recovery"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(self.workdir).start()
        self.database = ctx.databases.fresh(POSTGRES, emulator.url)
        env = app.environment(self.database, emulator.url, self.workdir)
        env.update(
            REDIS_URL=self.redis.url,
            DRAMATIQ_NAMESPACE="bench-recovery",
            CHANNELS_PREFIX="bench-recovery-asgi",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            **SETTINGS,
        )
        self.env = env
        self.session = self._manage("shell", "-c", SESSION_SNIPPET).strip().splitlines()[-1]
        # A worker polls every declared queue and delay queue; only polls of "sync" may redeliver a sync.
        self.queues = int(self._manage("shell", "-c", QUEUES_SNIPPET).strip().splitlines()[-1])
        self.web = Daphne(env, self.workdir).start()
        self.browser = Browser(self.web.url, self.session)
        self.background = Background(env, self.workdir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.background.stop()
        self.web.stop()
        self.redis.stop()
        self.ctx.databases.drop(self.database)

    def _manage(self, *args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise app.CommandFailed(f"manage.py {args[0]}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def start_sync(self):
        """``sync_team bench --full``: every pull request again, so each measurement kills a long sync."""
        return int(re.search(r"run (\d+) queued", self._manage("sync_team", "bench", "--full"))[1])

    def kill_mid_sync(self, page, run, workers):
        """SIGKILL the worker running ``run`` once a page of pull requests is stored; monotonic and wall times."""
        page.wait_for(lambda s: s.run == run and re.search(r": page \d+ of", s.text), timeout=120)
        busy = next(w for w in workers if w.runs(run))
        busy.kill()
        return time.monotonic(), time.time()

    def death_to_stalled(self, n):
        self.ctx.log(f"recovery: death to stalled, run {n + 1} of {STALL_RUNS}")
        worker = self.background.start_worker()
        run = self.start_sync()
        with ProgressPage(self.web.url, self.session, run) as page:
            died, died_wall = self.kill_mid_sync(page, run, [worker])
            stalled = page.wait_for_state("stalled", run=run, timeout=STALL + 60)
            heartbeat = self.browser.status(run)["heartbeat_at"]
        self.background.stop()
        seen_wall = died_wall + (stalled.at - died)
        return {"stalled": stalled.at - died, "after_heartbeat": seen_wall - _epoch(heartbeat)}

    def death_to_recovered(self, n):
        self.ctx.log(f"recovery: automatic recovery, run {n + 1} of {RECOVERY_RUNS}")
        workers = [self.background.start_worker(), self.background.start_worker()]
        run = self.start_sync()  # first: it supersedes the stalled run the last measurement left
        self.background.start_watcher()
        latest = StatusPoller(self.browser, lambda: None, interval=0.2)  # the team's latest run
        with ProgressPage(self.web.url, self.session, run) as page, latest:
            died, _ = self.kill_mid_sync(page, run, workers)
            resumed = _wait(lambda: latest.first_answer(lambda b: b["run_id"] != run, since=died), "the automatic run")
            new = resumed[1]["run_id"]
            done = _wait(
                lambda: latest.first_answer(lambda b: b["run_id"] == new and b["state"] == "succeeded"), "its end"
            )
            page.wait_for(lambda s: s.state in ("succeeded", "superseded"), timeout=30)
        assert resumed[1]["run_reason"] == "automatic", resumed[1]
        self.background.stop()
        stalled = next((s for s in page.shown if s.run == run and s.state == "stalled"), None)
        return {
            "resumed": resumed[0] - died,
            "completed": done[0] - died,
            "rest": done[0] - resumed[0],
            "page_stalled": None if stalled is None else stalled.at - died,
            "page_followed": any(s.run == new for s in page.shown),
        }

    def death_to_redelivered(self):
        self.ctx.log(f"recovery: Dramatiq's own redelivery, no watcher (up to {REDELIVERY_CAP_S // 60} min)")
        workers = [self.background.start_worker(), self.background.start_worker()]
        run = self.start_sync()
        client = redis.Redis.from_url(self.redis.url)
        status = StatusPoller(self.browser, lambda: run, interval=0.5)
        with ProgressPage(self.web.url, self.session, run) as page, status:
            died, _ = self.kill_mid_sync(page, run, workers)
            claimed = self.browser.status(run)["started_at"]
            calls_before = _dispatches(client)
            try:
                back = _wait(
                    lambda: status.first_answer(lambda b: b["started_at"] != claimed, since=died),
                    "the redelivery",
                    REDELIVERY_CAP_S,
                )
                done = _wait(lambda: status.first_answer(lambda b: b["state"] == "succeeded", since=died), "its end")
            except TimeoutError:
                back = done = None
            waited = time.monotonic() - died
            rate = (_dispatches(client) - calls_before) / waited
        client.close()
        self.background.stop()
        sync_rate = rate / self.queues
        return {
            "redelivered": None if back is None else back[0] - died,
            "completed": None if done is None else done[0] - died,
            "waited": waited,
            "dispatch_rate": rate,
            "queues": self.queues,
            "expected": HEARTBEAT_TIMEOUT_S + 1e6 / MAINTENANCE_PER_MILLION / sync_rate if rate else None,
        }


def _wait(find, what, timeout=300):
    """``(monotonic time, status JSON)`` of the first answer ``find()`` returns; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (found := find()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no status answer showed {what} within {timeout} s")
        time.sleep(0.1)
    return found


def _dispatches(client):
    return client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)


def _epoch(iso):
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _report(result, stalls, recoveries, redelivery, command):
    rows = Table(
        f"Death to the page showing stalled, no watcher ({STALL_RUNS} runs)",
        ["run", "death to stalled s", "last heartbeat to stalled s"],
    )
    for n, s in enumerate(stalls, 1):
        rows.rows.append([n, s["stalled"], s["after_heartbeat"]])
    stalled = [s["stalled"] for s in stalls]
    rows.rows.append(["median", median(stalled), median([s["after_heartbeat"] for s in stalls])])
    rows.rows.append(["max", max(stalled), max(s["after_heartbeat"] for s in stalls)])
    result.tables.append(rows)

    auto = Table(
        f"Death to a completed run, watcher and one live worker ({RECOVERY_RUNS} runs)",
        [
            "run",
            "automatic run started s",
            "completed s",
            "of which syncing the rest s",
            "page showed stalled s",
            "page followed the new run",
        ],
    )
    for n, r in enumerate(recoveries, 1):
        auto.rows.append([n, r["resumed"], r["completed"], r["rest"], r["page_stalled"], r["page_followed"]])
    keys = ("resumed", "completed", "rest")
    auto.rows.append(["median", *(median([r[k] for r in recoveries]) for k in keys), None, None])
    auto.rows.append(["max", *(max(r[k] for r in recoveries) for k in keys), None, None])
    result.tables.append(auto)

    capped = redelivery["redelivered"] is None
    dramatiq = Table(
        "Dramatiq's own redelivery, no watcher, one live worker (1 run)",
        ["redelivered s", "completed s", "dispatch commands per s", "queues polled", "expected redelivery s"],
    )
    dramatiq.rows.append(
        [
            f"> {redelivery['waited']:.0f} (not within the cap)" if capped else redelivery["redelivered"],
            "-" if capped else redelivery["completed"],
            redelivery["dispatch_rate"],
            redelivery["queues"],
            redelivery["expected"],
        ]
    )
    result.tables.append(dramatiq)

    automatic = median([r["completed"] for r in recoveries])
    result.targets.append(Target("death to stalled on the page (max)", max(stalled), "<=", STALL + 5, "s"))
    own = redelivery["completed"] if not capped else redelivery["waited"]
    result.targets.append(Target("death to completed, automatic recovery (median)", automatic, "<=", own, "s"))
    result.notes += [
        f"Settings: {', '.join(f'{k}={v}' for k, v in SETTINGS.items())}; emulator `{command}`; "
        f"the worker line `rundramatiq --processes 1 --threads 2`.",
        "Expected redelivery: the broker heartbeat timeout (60 s) plus, on average, 1,000,000 / 1,000 = 1,000 "
        "dispatch commands on the sync queue until one runs its maintenance pass (maintenance requeues a dead "
        "worker's messages of the queue the command was for): the measured rate of the live worker's dispatch "
        "commands (EVALSHA) divided by the queues it polls. One sample of a long-tailed wait: the expectation "
        "says more than the sample.",
        "The second target's threshold is Dramatiq's own time to a completed run on the same setup"
        + (" (a lower bound: it had not redelivered when the harness stopped waiting)." if capped else "."),
    ]
    result.figures = {"stalled": stalls, "automatic": recoveries, "dramatiq": redelivery}
