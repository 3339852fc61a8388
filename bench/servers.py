"""The app as it runs for users: daphne and ``rundramatiq`` subprocesses, Redis keys, signing in.

The processes are ``harness.processes``'s, given the harness's timeouts here.

Production mode: ``REDIS_URL`` (a Redis database of the harness, with its
own ``CHANNELS_PREFIX`` and ``DRAMATIQ_NAMESPACE``; only those keys are ever
deleted), ``DATABASE_URL`` (a fresh PostgreSQL database of the harness),
``SECRET_KEY``, ``FERNET_KEYS``, ``ALLOWED_HOSTS``. Embedded mode: the same
without ``REDIS_URL``. ``SERVE_STATIC=1`` in both, so the progress page's
scripts load in a browser (daphne has no proxy in front of it here, as in the
browser tests).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from bench import app
from bench.emulator import ROOT
from harness import environment, processes, redis_keys
from harness.proc import tree_cpu_seconds  # noqa: F401  (bench.live measures the browser with it)
from harness.processes import ServerError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL


def redis_status(url: str | None = None) -> tuple[bool, str]:
    import redis

    try:
        client = redis.Redis.from_url(url or redis_url(), socket_connect_timeout=2, socket_timeout=2)
        version = client.info("server")["redis_version"]
        client.close()
        return True, f"Redis {version}"
    except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
        return False, f"{type(exc).__name__}: {exc}"


class RedisKeys(redis_keys.RedisKeys):
    """A prefix of our own on the harness's Redis database; ``cleanup`` deletes exactly its keys."""

    def __init__(self, url: str | None = None):
        super().__init__(url or redis_url(), f"bench-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def server_env(database_url: str, emulator_url: str | None, workdir: Path, redis: RedisKeys | None = None, **extra):
    """The environment of an app process; production mode when ``redis`` is given."""
    base = app.environment(database_url, emulator_url, workdir)
    return environment.server_env(base, emulator_url=emulator_url, redis=redis, **{"SERVE_STATIC": "1", **extra})


class _Timings:
    """The harness's patience: longer to stop than the tests', its logs quoted by their end."""

    STOP_TIMEOUT = 20
    KILL_TIMEOUT = 10
    LOG_CHARS = 3000


class Daphne(_Timings, processes.Daphne):
    """``daphne`` serving ``project.asgi`` (or ``application=``), given a minute to answer."""

    START_TIMEOUT = 60


class Worker(_Timings, processes.Worker):
    """``manage.py rundramatiq --processes P --threads T`` (production mode; ``wait_ready(keys)``)."""


def djtask(env: dict, *args, timeout: float = 600):
    """``python -m bench.djtasks ARGS`` in ``env``; the JSON object it prints last."""
    process = subprocess.run(
        [sys.executable, "-m", "bench.djtasks", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if process.returncode != 0:
        raise ServerError(
            f"bench.djtasks {' '.join(map(str, args))} exited with {process.returncode}:\n"
            f"{process.stdout[-2000:]}\n{process.stderr[-4000:]}"
        )
    lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise ServerError(f"bench.djtasks {args[0]} printed no result:\n{process.stdout[-2000:]}")
    return json.loads(lines[-1])


def djtask_popen(env: dict, *args, log_dir: Path) -> tuple[subprocess.Popen, Path]:
    """``python -m bench.djtasks ARGS`` started in the background; (process, its stdout file)."""
    out = Path(log_dir) / f"djtask-{args[0]}-{uuid.uuid4().hex[:8]}.out"
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.djtasks", *map(str, args)],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return process, out


def last_json(path: Path):
    lines = [line for line in path.read_text().splitlines() if line.startswith("{")]
    if not lines:
        raise ServerError(f"{path.name} printed no result:\n{path.read_text()[-3000:]}")
    return json.loads(lines[-1])


def pg_rows(database_url: str, sql: str, params=()) -> list[tuple]:
    """Rows of one query on a harness database (polling a run without starting Django)."""
    import psycopg

    from bench.databases import _libpq

    with psycopg.connect(_libpq(database_url), autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def sign_in(base_url: str, username: str, password: str) -> requests.Session:
    """Log in through ``/accounts/login/`` as a browser does; the session holds the ``sessionid`` cookie."""
    session = requests.Session()
    page = session.get(f"{base_url}/accounts/login/", timeout=10)
    page.raise_for_status()
    found = CSRF_INPUT.search(page.text)
    if found is None:
        raise ServerError("no CSRF token on the login page")
    response = session.post(
        f"{base_url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": found.group(1)},
        headers={"Referer": f"{base_url}/accounts/login/"},
        timeout=10,
        allow_redirects=False,
    )
    if response.status_code != 302 or "sessionid" not in session.cookies:
        raise ServerError(f"login as {username} failed: HTTP {response.status_code}")
    return session


class MachineCpu:
    """Busy share of all the machine's CPUs between ``start()`` and ``percent()`` (Linux /proc/stat)."""

    def __init__(self):
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                values = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values) - idle, sum(values)

    def percent(self) -> float | None:
        end = self._read()
        if self._start is None or end is None or end[1] == self._start[1]:
            return None
        return 100 * (end[0] - self._start[0]) / (end[1] - self._start[1])
