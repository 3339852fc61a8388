"""Serving the app for a real browser: daphne (and a rundramatiq worker) as subprocesses of the test.

The subprocesses use the test's own database (it must be PostgreSQL: the
test process and the servers write to it at the same time) and the test's
secrets, so a team built in the test is one the server can decrypt.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.db import connection

from tests.services import wait_for

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url():
    """The test database's URL, for processes that must see what the test writes."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def server_env(settings, emulator, tmp_path, **extra):
    """The environment of an app process: embedded mode unless ``extra`` sets REDIS_URL."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(
        DATABASE_URL=database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        FERNET_KEYS=",".join(settings.FERNET_KEYS),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        VAR_DIR=str(tmp_path / "var"),
        GITHUB_API_URL=emulator.url,
        GITHUB_GRAPHQL_URL=f"{emulator.url}/graphql",
        GITHUB_WEB_URL=emulator.url,
        GITHUB_BACKOFF_SECONDS="0.05",
        GITHUB_BACKOFF_MAX_SECONDS="0.2",
        SYNC_HEARTBEAT_SECONDS="0.5",
        LOG_LEVEL="INFO",
    )
    env.update({name: str(value) for name, value in extra.items()})
    return env


class Process:
    """A subprocess logging to a file; ``stop()`` ends it by its pid only."""

    def __init__(self, name, args, env, log_dir):
        self.name = name
        self.args = args
        self.env = env
        self.log_path = Path(log_dir) / f"{name}.log"
        self.popen = None

    def start(self):
        with self.log_path.open("a") as log:
            self.popen = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if not self.alive():
            return
        self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""


class Daphne(Process):
    """``daphne -b 127.0.0.1 -p <port> project.asgi:application``, started once it answers HTTP."""

    def __init__(self, env, log_dir, port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "project.asgi:application"]
        super().__init__(f"daphne-{self.port}", args, env, log_dir)

    def start(self, timeout=30):
        super().start()

        def answers():
            if not self.alive():
                raise AssertionError(f"daphne exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
            try:
                return requests.get(f"{self.url}/accounts/login/", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(answers, timeout=timeout, interval=0.1, message=f"daphne to answer on {self.url}")
        return self


def rundramatiq(env, log_dir):
    args = [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"]
    return Process("rundramatiq", args, env, log_dir).start()


def sign_in(page, base_url, username, password):
    """Log in through the login form; the browser then lands wherever the app sends it."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def wait_until_servers_disconnect(timeout=10.0):
    """Wait (at most ``timeout`` s) for the stopped servers' database sessions to end.

    PostgreSQL ends a dead client's session a moment after the process exits;
    until then the test database cannot be flushed or dropped.
    """
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return True
            time.sleep(0.1)
    return False
