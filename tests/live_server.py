"""The app served by its own processes (``harness.processes``) on the test database.

The subprocesses use the test's own database (it must be PostgreSQL: the
test process and the servers write to it at the same time) and the test's
secrets, so a team built in the test is one the server can decrypt.
"""

import os
import time
import uuid
from pathlib import Path

import redis
from django.db import connection

from harness.environment import server_env as app_server_env
from harness.processes import Background, Daphne
from harness.redis_keys import RedisKeys

# Test-sized timings of every test's processes (defaults: backoff 1 s up to 30 s, heartbeat 5 s).
TIMINGS = {
    "GITHUB_BACKOFF_SECONDS": "0.05",
    "GITHUB_BACKOFF_MAX_SECONDS": "0.2",
    "SYNC_HEARTBEAT_SECONDS": "0.5",
}


def database_url():
    """The test database's URL, for processes that must see what the test writes."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def server_env(settings, emulator_url, log_dir, redis=None, **extra):
    """The environment of an app process: embedded mode unless ``redis`` (``RedisKeys``) is given."""
    base = {
        name: value
        for name, value in os.environ.items()
        if name not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    base.update(
        DATABASE_URL=database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        FERNET_KEYS=",".join(settings.FERNET_KEYS),
        VAR_DIR=str(Path(log_dir) / "var"),
        LOG_LEVEL="INFO",
    )
    return app_server_env(base, emulator_url=emulator_url, redis=redis, **{**TIMINGS, **extra})


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


class LiveApp:
    """daphne, workers and watchers on the test database; production mode when given ``redis_url``.

    In production mode the processes' Redis keys are under a prefix of their own (``keys``).
    ``stop()``, or the end of a ``with`` block, ends every process (the workers killed: see
    ``Background``), waits for their database sessions to end and deletes their Redis keys.
    """

    def __init__(self, settings, emulator_url, log_dir, redis_url=None, *, prefix="test", **extra):
        self.log_dir = Path(log_dir)
        self.keys = RedisKeys(redis_url, f"{prefix}-{uuid.uuid4().hex[:12]}") if redis_url else None
        self.env = server_env(settings, emulator_url, log_dir, self.keys, **extra)
        self.background = Background(self.env, self.log_dir)
        self.webs = []

    @property
    def web(self):
        """The daphne started last."""
        return self.webs[-1] if self.webs else None

    def start_web(self, port=None):
        """A daphne, on ``port`` or a free one, once it answers."""
        self.webs.append(Daphne(self.env, self.log_dir, port=port))
        return self.webs[-1].start()

    def start_worker(self, name="worker", wait=True, **options):
        """A new worker process; ``wait=False`` returns before it is ready (``wait_ready()``)."""
        return self.background.start_worker(name, wait, **options)

    def start_watcher(self, *extra):
        return self.background.start_watcher(*extra)

    def start_supervised(self):
        """``supervisord`` with ``deploy/supervisord.conf`` (``harness.processes.Supervisor``): its own daphne
        (at its ``url``), worker and watcher, once the daphne answers. Killed with the workers."""
        return self.background.start_supervised()

    def stop_workers(self):
        """Kill the workers and supervisors, stop the watchers (daphne stays): a test leaves nothing running."""
        self.background.stop()

    def stop(self):
        self.stop_workers()
        for web in reversed(self.webs):
            web.stop()
        wait_until_servers_disconnect()
        if self.keys is not None:
            try:
                self.keys.cleanup()
            except redis.RedisError:
                pass  # a private Redis already stopped

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
