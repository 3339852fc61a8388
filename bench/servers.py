"""The app as it runs for users: daphne and ``rundramatiq`` subprocesses, Redis keys, signing in.

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
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from bench import app
from bench.emulator import ROOT

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


class ServerError(RuntimeError):
    pass


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisKeys:
    """A prefix of our own on the harness's Redis database; ``cleanup`` deletes exactly its keys."""

    def __init__(self, url: str | None = None):
        self.url = url or redis_url()
        self.prefix = f"bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def env(self) -> dict:
        return {
            "REDIS_URL": self.url,
            "CHANNELS_PREFIX": f"{self.prefix}-asgi",
            "DRAMATIQ_NAMESPACE": f"{self.prefix}-dramatiq",
        }

    def cleanup(self) -> int:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=10)
        try:
            keys = list(client.scan_iter(f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            return len(keys)
        finally:
            client.close()


def server_env(database_url: str, emulator_url: str | None, workdir: Path, redis: RedisKeys | None = None, **extra):
    """The environment of an app process; production mode when ``redis`` is given."""
    env = app.environment(database_url, emulator_url, workdir)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(ALLOWED_HOSTS="127.0.0.1,localhost", SERVE_STATIC="1")
    if emulator_url:
        env["GITHUB_WEB_URL"] = emulator_url
    if redis is not None:
        env.update(redis.env())
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Process:
    """A subprocess logging to a file; ``stop()`` ends it by its pid only."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name, self.args, self.env = name, args, env
        self.log_path = Path(log_dir) / f"{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}.log"
        self.popen: subprocess.Popen | None = None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)

    def log(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the process so far (its children not included)."""
        if not self.alive():
            return None
        try:
            with open(f"/proc/{self.popen.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tree_cpu_seconds(self) -> float | None:
        """User + system CPU of the process and every live descendant (``rundramatiq``'s worker processes)."""
        return tree_cpu_seconds(self.popen.pid) if self.alive() else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class Daphne(Process):
    """``daphne -b 127.0.0.1 -p PORT MODULE:application``, started once ``/accounts/login/`` answers."""

    def __init__(self, env: dict, log_dir: Path, application: str = "project.asgi:application"):
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        args = [sys.executable, "-m", "daphne", "-b", self.host, "-p", str(self.port), application]
        super().__init__("daphne", args, env, log_dir)

    def start(self, timeout: float = 60):
        super().start()
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise ServerError(f"daphne exited with {self.popen.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/accounts/login/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"daphne did not answer on {self.url} in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.1)


class Worker(Process):
    """``manage.py rundramatiq --processes P --threads T`` (production mode)."""

    def __init__(self, env: dict, log_dir: Path, *, processes: int = 1, threads: int = 2):
        self.threads = threads
        args = [
            sys.executable,
            "manage.py",
            "rundramatiq",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ]
        super().__init__(f"rundramatiq-t{threads}", args, env, log_dir)

    def wait_ready(self, redis: RedisKeys, timeout: float = 60) -> float:
        """Wait until a worker process beats in the broker's heartbeats; returns the seconds waited."""
        import redis as redis_lib

        client = redis_lib.Redis.from_url(redis.url, socket_connect_timeout=2, socket_timeout=5)
        started = time.monotonic()
        key = f"{redis.prefix}-dramatiq:__heartbeats__"
        try:
            while client.zcard(key) == 0:
                if not self.alive():
                    raise ServerError(f"rundramatiq exited with {self.popen.returncode}:\n{self.log()}")
                if time.monotonic() - started > timeout:
                    raise ServerError(f"rundramatiq did not beat in {timeout:.0f} s:\n{self.log()}")
                time.sleep(0.1)
        finally:
            client.close()
        return time.monotonic() - started


def tree_cpu_seconds(root: int, name: str = "") -> float:
    """User + system CPU seconds of ``root`` and its live descendants (only those whose command name
    contains ``name``, when given; ``root`` itself is then left out unless it matches)."""
    parents, cpu, names = {}, {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        pid = int(entry)
        parents[pid], cpu[pid], names[pid] = int(fields[1]), int(fields[11]) + int(fields[12]), head.split("(", 1)[1]
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    chosen = [pid for pid in tree if not name or name in names.get(pid, "")]
    return sum(cpu.get(pid, 0) for pid in chosen) / os.sysconf("SC_CLK_TCK")


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
